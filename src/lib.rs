//! rls-harness proves that PostgreSQL row-level security keeps Supabase tenants apart.
//!
//! It brings up a disposable PostgreSQL ([`Harness`]), makes it look like Supabase,
//! applies migrations into a template, and checks isolation by acting as each
//! principal ([`Actor`]) on clones of that template. See `ARCHITECTURE.md` for the map.

mod actor;
mod backend;
mod blame;
mod catalog;
mod class;
mod config;
mod connection;
mod error;
mod fingerprint;
mod harness;
mod lint;
mod located;
mod migrate;
mod model;
mod origin;
mod output;
pub mod pipeline;
mod profile;
mod property;
pub mod record;
pub mod report;

mod rule;
mod scenario;
mod schema;
mod script;
mod snapshot;
mod subject;
mod supabase;

pub use actor::{Actor, Claims, Denial, Failure, Finish, Identity, Outcome, Rows};
pub use actor::{Api, Method, Request};
pub use backend::{BackendKind, BackendOptions, DEFAULT_IMAGE};
pub use blame::{blame, Blame};
pub use catalog::{
    ApiRole, Argument, Catalog, Check, Column, Command, ForeignKey, Function, Object, Policy,
    Privilege, Relation, RelationKind, View,
};
pub use class::{Class, Classes, Classified, Source as ClassSource};
pub use config::{Config, Grants, DEFAULT_FILE as DEFAULT_CONFIG};
pub use connection::{Connection, Endpoint, Notice};
pub use error::{Error, Result};
pub use fingerprint::{difference as fingerprint_difference, fingerprint};
pub use harness::{default_migrations_dir, Database, Harness, Lease, StartTimings, Template};
pub use lint::{survey, Finding, Survey};
pub use located::FileError;
pub use migrate::{
    discover as discover_migrations, ignored as ignored_migrations, Applied, Applying, Migration,
};
pub use model::{
    invariant_of_op, invariant_of_read, tenant_id, user_id, AuditAction, AuditRow, Context, Id,
    Kind, Mode, Object as ModelObject, Op, Outcome as ModelOutcome, Principal, Resource, Role,
    Table, Tenant, User, World,
};
pub use origin::{History, Location, ObjectKind, Origins};
pub use output::mark_run_start;
pub use profile::{Profile, Sql as ProfileSql};
pub use property::{
    check_sequences, check_worlds, coverage_gaps, diff_observed, required_cells, Cell, Change,
    ContextKind, Counterexample, Coverage, CoverageActor, Gaps, Labels, MatrixKey, Mismatch,
    Observed, Probe, Progress, PropertyConfig, PropertyReport, RowKind, WriteOp, CHECK_CONNECTIONS,
    CHECK_SEQUENCES, CHECK_WORLDS, DEFAULT_SEED, DEFAULT_SHRINK_TIME,
};
pub use rule::{Invariant, Level, Lint};
pub use scenario::{
    discover as discover_scenarios, load as load_scenario, run as run_scenario,
    validate as validate_scenario, Expectation, Scenario, ScenarioError, ScenarioReport,
    StepReport, Verdict,
};
pub use schema::Schema;
pub use snapshot::{
    compare as compare_snapshot, pending as pending_snapshots, Comparison, Judgement, Pending,
    Store as SnapshotStore,
};

pub use record::{PropertyRun, Record};
pub use report::Verbosity;

/// A scenario's result for a person: one line per step, and for each step that did not
/// pass where it is, who acted, the SQL and expected against actual.
pub fn render_scenario(report: &ScenarioReport) -> String {
    let items = record::scenario_items(report);
    report::scenario_steps(&items.iter().collect::<Vec<_>>())
}
