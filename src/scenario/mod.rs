//! Scenario files: one attack or rule per TOML file, written by security reviewers.
//!
//! This module reads a file into a checked [`Scenario`]: users, tenants, fixtures and
//! steps, with every name resolved and every placeholder expanded. Anything wrong is a
//! [`ScenarioError`] that names the file, line and column, and suggests the name that
//! was probably meant. The grammar is documented in `scenarios/README.md`; running a
//! scenario is `run`'s job.

mod load;
mod run;
mod step;
mod write;

use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::actor::{Claims, Denial};
use crate::rule::Invariant;

pub use load::{discover, load, validate};
pub use run::{run, ScenarioReport, StepReport, Verdict};
pub use write::write;

/// A scenario file that could not be read, located in its file.
pub type ScenarioError = crate::located::FileError;

/// A tenant the scenario declares or the seed migration made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    pub slug: String,
    pub id: Uuid,
    /// The columns the file gives a tenant it declares (`name = "North Clinic"`);
    /// `None` for the seeded tenants, which the migrations create.
    pub declared: Option<Vec<(String, String)>>,
    /// Where the file declares it (1 for a tenant it does not declare).
    pub line: usize,
}

/// A user of the scenario, with a row in `auth.users`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSpec {
    pub name: String,
    pub id: Uuid,
    pub email: String,
    pub memberships: Vec<(Uuid, String)>,
    pub admin: bool,
    pub claims: Claims,
    /// Where the file declares it (1 for a user of a generated scenario).
    pub line: usize,
}

/// Who runs a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Anon,
    ServiceRole,
    Owner,
    User(String),
}

/// How reports name who runs a step: `anon`, `user mo`.
pub(crate) fn label(who: &Who) -> String {
    match who {
        Who::Anon => "anon".into(),
        Who::ServiceRole => "service_role".into(),
        Who::Owner => "owner".into(),
        Who::User(name) => format!("user {name}"),
    }
}

/// What a step expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// Exactly these rows, in this order unless `ordered` is false. Values are
    /// PostgreSQL's text output, with ids of named users and tenants as placeholders.
    Rows {
        rows: Vec<Vec<String>>,
        ordered: bool,
    },
    /// This many rows returned.
    Count(u64),
    /// This many rows inserted, updated or deleted.
    Affected(u64),
    /// SQLSTATE 42501 of this kind.
    Denied(Denial),
    /// SQLSTATE 42501 of any kind: where the access model names only the code, a
    /// missing grant refuses as well as a guard or a policy.
    Refused,
    /// Another SQLSTATE, or one of several where the contract allows each (the
    /// stricter of two correct implementations refuses where the other fails later).
    SqlState(Vec<String>),
    /// A NOTICE (or WARNING) containing this text.
    Notice(String),
    /// The result, rendered as a table, matches `snapshots/<name>.snap`.
    Snapshot(String),
    /// No row read or written, or a denial of any kind: what the access model means
    /// by "sees nothing" or "may not", without choosing how the database says it.
    Nothing,
}

impl Expectation {
    /// Whether the expectation is of nothing: no rows, no write, a denial. Such a step
    /// passes vacuously when the query returns nothing for anyone, so it needs a control.
    pub fn is_negative(&self) -> bool {
        match self {
            Expectation::Rows { rows, .. } => rows.is_empty(),
            Expectation::Count(0)
            | Expectation::Affected(0)
            | Expectation::Denied(_)
            | Expectation::Refused
            | Expectation::Nothing => true,
            _ => false,
        }
    }
}

/// How a negative step proves that its query could have returned something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Run the same SQL as service_role (which bypasses RLS), rolled back.
    ServiceRole,
    /// Run the same SQL as the owner (the migration role, which owns the tables and
    /// bypasses RLS), rolled back: for tables no API role may reach without a policy.
    Owner,
    /// Run the same SQL as this user, rolled back: the positive control.
    User {
        name: String,
        context: Option<(String, Uuid)>,
    },
    /// No control, for the stated reason.
    Waived(String),
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    pub name: String,
    pub who: Who,
    pub context: Option<(String, Uuid)>,
    /// The step's SQL with placeholders expanded; empty for a migration step.
    pub sql: String,
    /// A migration the owner applies as the step, by version or file name.
    pub apply: Option<String>,
    pub expect: Expectation,
    pub invariant: Option<Invariant>,
    /// Set for negative expectations only.
    pub control: Option<Control>,
    /// Headers the request sends besides the context (`x-tenant-id` forged, malformed,
    /// or any other a policy might read), names in lower case.
    pub headers: Vec<(String, String)>,
    /// Several statements in one transaction: a service-side flow that no API client
    /// can send, run all the same and reported as such.
    pub transaction: bool,
}

/// A checked scenario, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub path: PathBuf,
    /// The file's path below the scenarios folder, without `.toml`: its test name.
    pub name: String,
    pub description: String,
    pub invariant: Option<Invariant>,
    pub tenants: Vec<TenantSpec>,
    pub users: Vec<UserSpec>,
    /// Owner SQL run before the steps, placeholders expanded.
    pub fixtures: Option<String>,
    /// The line where `fixtures` starts, for errors the fixtures raise.
    pub fixtures_line: usize,
    /// The migration the scenario starts from (version or file name), with its line:
    /// the migrations after it are not applied, unless its steps apply them.
    pub migrated_to: Option<(String, usize)>,
    pub steps: Vec<Step>,
}

/// Writes the ids of named users and tenants in expanded SQL back as the placeholders
/// the file used, so that a report shows the step as the reviewer wrote it.
pub(crate) fn unexpand(sql: &str, names: &[(Uuid, String)]) -> String {
    names.iter().fold(sql.to_owned(), |sql, (id, token)| {
        sql.replace(&format!("'{id}'::uuid"), token)
            .replace(&id.to_string(), token)
    })
}

impl Scenario {
    /// The ids the scenario knows by name, as the placeholders that stand for them.
    pub fn names(&self) -> Vec<(Uuid, String)> {
        let tenants = self
            .tenants
            .iter()
            .map(|t| (t.id, format!("${{tenant.{}}}", t.slug)));
        let users = self
            .users
            .iter()
            .map(|u| (u.id, format!("${{user.{}}}", u.name)));
        tenants.chain(users).collect()
    }

    /// The snapshot file name of a step's snapshot.
    pub fn snapshot_name(&self, snapshot: &str) -> String {
        format!("{}__{snapshot}", self.name.replace('/', "__"))
    }
}

pub use crate::model::tenant_id;

/// The path of `file` relative to `root`, for test names and reports.
pub fn relative_name(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    let text = relative
        .with_extension("")
        .to_string_lossy()
        .replace('\\', "/");
    text.trim_start_matches("./").to_owned()
}
