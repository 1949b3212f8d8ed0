//! Counterexamples as scenario files: the shrunk world and the probe that went wrong,
//! written in the reviewers' own format so that it can be run, read and kept.
//!
//! The step expects what the model predicts, so the file fails until the database is
//! fixed, and then guards the fix as a regression.

use std::fmt::Write;

use super::compare::{context_value, Mismatch, Probe};
use crate::model::{Id, Object, Outcome, Principal, World};
use crate::profile::Sql;
use crate::schema::Schema;

fn placeholder(world: &World, id: Id) -> String {
    if let Some(tenant) = world.tenants.iter().find(|t| t.id == id) {
        return format!("${{tenant.{}}}", tenant.slug);
    }
    if let Some(user) = world.user(id) {
        return format!("${{user.{}}}", user.name);
    }
    format!("'{id}'::uuid")
}

/// Replaces the ids of the world's tenants and users in generated SQL by placeholders.
fn with_placeholders(world: &World, sql: &str) -> String {
    let mut out = sql.to_owned();
    for tenant in &world.tenants {
        out = out.replace(
            &format!("'{}'::uuid", tenant.id),
            &format!("${{tenant.{}}}", tenant.slug),
        );
    }
    for user in &world.users {
        out = out.replace(
            &format!("'{}'::uuid", user.id),
            &format!("${{user.{}}}", user.name),
        );
    }
    out
}

fn who(world: &World, principal: &Principal) -> String {
    match principal {
        Principal::Anon => "anon".into(),
        Principal::ServiceRole => "service_role".into(),
        Principal::Owner => "owner".into(),
        Principal::NoSub => "nosub".into(),
        Principal::User(id) => world
            .user(*id)
            .map_or_else(|| id.to_string(), |u| u.name.clone()),
    }
}

fn names_of(world: &World, ids: impl IntoIterator<Item = Id>) -> Vec<String> {
    let mut names: Vec<String> = ids
        .into_iter()
        .map(|id| {
            world
                .resources
                .iter()
                .find(|r| r.id == id)
                .map_or_else(|| id.to_string(), |r| r.name.clone())
        })
        .collect();
    names.sort();
    names
}

fn rows_of(values: &[String]) -> String {
    let rows: Vec<String> = values
        .iter()
        .map(|v| format!("[{}]", quote_toml(v)))
        .collect();
    format!("rows = [{}]", rows.join(", "))
}

fn quote_toml(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn outcome_expectation(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done(n) => format!("affected = {n}"),
        Outcome::Denied(denial) => format!("denied = \"{}\"", format!("{denial:?}").to_lowercase()),
        Outcome::SqlState(code) => format!("sqlstate = \"{code}\""),
    }
}

/// The SQL and the expectation of the step that reproduces `mismatch`.
fn step(sql: &Sql, world: &World, mismatch: &Mismatch) -> (String, String) {
    let principal = &mismatch.who;
    let context = &mismatch.context;
    match &mismatch.probe {
        Probe::Read(Object::Tenants) => {
            let mut slugs: Vec<String> = world
                .readable_tenants(principal)
                .iter()
                .filter_map(|id| world.tenant(*id).map(|t| t.slug.clone()))
                .collect();
            slugs.sort();
            (sql.replay_read(Object::Tenants, ""), rows_of(&slugs))
        }
        Probe::Read(Object::Memberships) => {
            let rows: Vec<String> = world
                .readable_memberships(principal)
                .iter()
                .map(|(user, tenant)| {
                    format!(
                        "[{}, {}]",
                        quote_toml(&placeholder(world, *user)),
                        quote_toml(&placeholder(world, *tenant))
                    )
                })
                .collect();
            (
                sql.replay_read(Object::Memberships, ""),
                format!("rows = [{}]\nunordered = true", rows.join(", "))
                    .replace("'::uuid", "")
                    .replace('\'', ""),
            )
        }
        Probe::Read(Object::PlatformAdmins) => {
            let rows: Vec<String> = world
                .readable_admins(principal)
                .iter()
                .map(|id| format!("[{}]", quote_toml(&placeholder(world, *id))))
                .collect();
            (
                sql.replay_read(Object::PlatformAdmins, ""),
                format!("rows = [{}]\nunordered = true", rows.join(", "))
                    .replace("'::uuid", "")
                    .replace('\'', ""),
            )
        }
        Probe::Read(Object::Audit) => (
            sql.replay_read(Object::Audit, ""),
            format!("count = {}", world.readable_audit(principal).len()),
        ),
        Probe::Read(Object::SharedView) => {
            let read = sql.replay_read(Object::SharedView, "");
            match world.shared_view(principal) {
                Ok(rows) if sql.view_by_name() => (
                    read,
                    rows_of(&names_of(world, rows.iter().map(|(_, id)| *id))),
                ),
                Ok(rows) => {
                    let mut ids: Vec<String> = rows.iter().map(|(_, id)| id.to_string()).collect();
                    ids.sort();
                    (read, rows_of(&ids))
                }
                Err(outcome) => (read, outcome_expectation(&outcome)),
            }
        }
        Probe::Read(object) => {
            let readable = match object {
                Object::Resource(table) => world.readable(principal, context, *table),
                _ => Default::default(),
            };
            (
                sql.replay_read(*object, ""),
                rows_of(&names_of(world, readable)),
            )
        }
        Probe::Accessible(table, tenant) => {
            let sql = sql.replay_read(Object::Lists(*table), &placeholder(world, *tenant));
            match world.accessible(principal, *table, *tenant) {
                Ok(ids) => (sql, rows_of(&names_of(world, ids))),
                Err(outcome) => (sql, outcome_expectation(&outcome)),
            }
        }
        Probe::Subject {
            replay,
            expectation,
            ..
        } => (with_placeholders(world, replay), (*expectation).to_owned()),
        Probe::SetContext(tenant) => (
            with_placeholders(world, &sql.set_context(*tenant)),
            match world.set_context(principal, *tenant) {
                Outcome::Done(_) => "count = 1".into(),
                other => outcome_expectation(&other),
            },
        ),
        Probe::Write(op) => {
            let expectation = match world.outcome(principal, context, op) {
                Outcome::Done(_) if op.is_call() => "count = 1".into(),
                other => outcome_expectation(&other),
            };
            (with_placeholders(world, &sql.op(world, op)), expectation)
        }
    }
}

/// The scenario file that reproduces `mismatch` in `world`.
pub fn scenario(
    schema: &Schema,
    sql: &Sql,
    world: &World,
    mismatch: &Mismatch,
    seed: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Found by rls-harness property testing (seed {seed}), shrunk to a small world."
    );
    let _ = writeln!(
        out,
        "# The step expects what the access model says; it fails until the database agrees."
    );
    preamble(
        &mut out,
        sql,
        schema,
        world,
        mismatch,
        mismatch.who == Principal::NoSub,
    );
    probe_step(&mut out, schema, sql, world, mismatch);
    out
}

/// The description, the invariant, and the world: fixtures, tenants and users.
fn preamble(
    out: &mut String,
    sql: &Sql,
    schema: &Schema,
    world: &World,
    mismatch: &Mismatch,
    nosub: bool,
) {
    let _ = writeln!(
        out,
        "description = {}",
        quote_toml(&format!(
            "counterexample: {} as {}",
            mismatch.invariant,
            who(world, &mismatch.who)
        ))
    );
    let _ = writeln!(out, "invariant = \"{}\"", mismatch.invariant);
    let (seeded, subjects, tenants) = (&schema.seeded, &schema.subjects, schema.tenants_table());
    let mut fixtures = sql.load(
        &World {
            users: Vec::new(),
            tenants: seeded.tenants.clone(),
            ..world.clone()
        },
        seeded,
    );
    // The objects the model does not name get their rows as in the generated world:
    // the same set-based inserts, from the tenants, users and resources above.
    for table in &subjects.tables {
        for statement in crate::subject::fill(table, tenants, world) {
            fixtures.push_str(&statement);
            fixtures.push_str(";\n");
        }
    }
    for view in subjects.views.iter().filter(|v| v.materialized) {
        fixtures.push_str(&format!(
            "refresh materialized view {};\n",
            crate::subject::sql_name(&view.name)
        ));
    }
    let fixtures = with_placeholders(world, &fixtures);
    if !fixtures.trim().is_empty() {
        let _ = writeln!(out, "fixtures = \"\"\"\n{}\"\"\"", fixtures);
    }
    for tenant in world.tenants.iter().filter(|t| !seeded.tenants.contains(t)) {
        let _ = writeln!(out, "\n[tenants.{}]", tenant.slug);
    }
    for user in &world.users {
        let _ = writeln!(out, "\n[users.{}]", user.name);
        let memberships: Vec<String> = user
            .memberships
            .iter()
            .filter_map(|(tenant, role)| {
                world
                    .tenants
                    .iter()
                    .find(|t| t.id == *tenant)
                    .map(|t| format!("{} = \"{}\"", t.slug, sql.role(*role)))
            })
            .collect();
        let _ = writeln!(out, "tenants = {{ {} }}", memberships.join(", "));
        if user.admin {
            let _ = writeln!(out, "admin = true");
        }
    }
    if nosub {
        let _ = writeln!(out, "\n[users.nosub]\nwithout_claims = [\"sub\"]");
    }
}

/// The line of a step that sends the context header `value`: `context = "slug"` for a
/// tenant the file can name, else the header itself (a tenant that does not exist,
/// or a value that is no uuid).
fn context_line(world: &World, header: Option<&str>, value: &str) -> String {
    let header = header.unwrap_or_default();
    match value.parse::<Id>().ok().and_then(|id| world.tenant(id)) {
        Some(tenant) => format!("context = \"{}\"", tenant.slug),
        None => format!("headers = {{ {header} = {} }}", quote_toml(value)),
    }
}

/// The step that asks again what `mismatch` asked, in `world`.
fn probe_step(out: &mut String, schema: &Schema, render: &Sql, world: &World, mismatch: &Mismatch) {
    let (sql, expectation) = step(render, world, mismatch);
    let _ = writeln!(out, "\n[[step]]");
    let _ = writeln!(
        out,
        "name = {}",
        quote_toml(&format!("the database said {}", mismatch.actual))
    );
    let _ = writeln!(out, "as = \"{}\"", who(world, &mismatch.who));
    if let Some(value) = context_value(&mismatch.context) {
        let _ = writeln!(
            out,
            "{}",
            context_line(world, schema.api.context_header(), &value)
        );
    }
    let _ = writeln!(out, "sql = \"\"\"\n{sql}\n\"\"\"");
    let _ = writeln!(out, "{expectation}");
}

/// A step of a sequence counterexample, as the scenario replays it.
#[derive(Debug, Clone)]
pub struct Replay {
    pub who: Principal,
    /// The value of the request's context header, if it sends one.
    pub header: Option<String>,
    /// The request's SQL, a forged context included.
    pub sql: String,
    /// What the access model says, which the replay expects.
    pub expected: Outcome,
    /// A function call answers with one row, whatever it did.
    pub call: bool,
}

/// What a sequence counterexample checks after its steps.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    /// Nothing: the last step is the request the database answered wrongly.
    Step,
    /// A probe of the world the steps left (the model's), which the database failed.
    Probe(&'a World),
    /// The audit trail the steps left (the model's), read by the owner.
    Audit(&'a World),
}

/// The scenario file that replays a sequence from `initial`: every step committed
/// with the outcome the model predicts, then what `ending` says went wrong.
pub fn sequence_scenario(
    schema: &Schema,
    render: &Sql,
    initial: &World,
    steps: &[Replay],
    ending: Ending<'_>,
    mismatch: &Mismatch,
    seed: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Found by rls-harness stateful property testing (seed {seed}), shrunk to a short"
    );
    let _ = writeln!(
        out,
        "# sequence. Each step expects what the access model says; it fails until the database agrees."
    );
    let nosub = mismatch.who == Principal::NoSub || steps.iter().any(|s| s.who == Principal::NoSub);
    // Sequences run without rows in the objects the model does not name.
    let without_subjects = Schema {
        subjects: Default::default(),
        ..schema.clone()
    };
    preamble(
        &mut out,
        render,
        &without_subjects,
        initial,
        mismatch,
        nosub,
    );
    for (n, replay) in steps.iter().enumerate() {
        let _ = writeln!(out, "\n[[step]]");
        let _ = writeln!(out, "name = \"step {}\"", n + 1);
        let _ = writeln!(out, "as = \"{}\"", who(initial, &replay.who));
        if let Some(value) = &replay.header {
            let line = context_line(initial, schema.api.context_header(), value);
            let _ = writeln!(out, "{line}");
        }
        let sql = with_placeholders(initial, &replay.sql);
        let _ = writeln!(out, "sql = \"\"\"\n{sql}\n\"\"\"");
        let _ = writeln!(
            out,
            "{}",
            match replay.expected {
                Outcome::Done(_) if replay.call => "count = 1".into(),
                other => outcome_expectation(&other),
            }
        );
        if matches!(replay.expected, Outcome::Done(0) | Outcome::Denied(_)) {
            let _ = writeln!(out, "no_control = \"a step of a replayed sequence\"");
        }
    }
    match ending {
        Ending::Step => {}
        Ending::Probe(world) => probe_step(&mut out, schema, render, world, mismatch),
        Ending::Audit(world) => {
            let offset = schema.seeded.audit.len();
            let rows: Vec<String> = world.audit[offset..]
                .iter()
                .map(|row| {
                    let id = |id: Option<Id>| {
                        id.map_or_else(|| "NULL".into(), |id| placeholder(world, id))
                            .replace("'::uuid", "")
                            .replace('\'', "")
                    };
                    format!(
                        "  [{}, {}, {}, {}, {}],",
                        quote_toml(render.audit_table(row.table)),
                        quote_toml(&row.resource.to_string()),
                        quote_toml(row.action.name()),
                        quote_toml(&id(row.actor)),
                        quote_toml(&id(row.tenant))
                    )
                })
                .collect();
            let _ = writeln!(out, "\n[[step]]");
            let _ = writeln!(
                out,
                "name = \"one audit row per sharing change, naming its actor\""
            );
            let _ = writeln!(out, "as = \"owner\"");
            let _ = writeln!(out, "sql = \"\"\"\n{}\n\"\"\"", render.replay_audit(offset));
            let _ = writeln!(out, "rows = [\n{}\n]", rows.join("\n"));
            if rows.is_empty() {
                let _ = writeln!(out, "no_control = \"the owner reads the whole trail\"");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::{ADMIN, AGENTS, DH as DH_STARTUP_TENANT};
    use crate::model::{user_id, Context, Kind, Mode, Op, Resource, User};

    /// Sequence scenarios load as they are, whatever they end with: contexts that
    /// name a tenant, a tenant that does not exist, a forged one, a sub-less session.
    #[test]
    fn sequence_scenarios_are_valid_scenario_files() {
        let mut world = crate::model::fixture::seeded();
        world.users.push(User {
            id: user_id("u0"),
            name: "u0".into(),
            memberships: [(DH_STARTUP_TENANT, ADMIN)].into(),
            admin: false,
        });
        let insert = Op::Insert(Resource {
            table: AGENTS,
            id: Id::from_u128(7),
            tenant: Some(DH_STARTUP_TENANT),
            name: "a".into(),
            mode: Mode::Selective,
            shared_with: vec![],
            kind: Kind::Custom,
        });
        let u0 = Principal::User(user_id("u0"));
        let schema = Schema::vital(crate::model::fixture::seeded());
        let sql = schema.sql.clone().unwrap();
        let replay = |who, header: Option<Id>, sql: String, expected| Replay {
            who,
            header: header.map(|id| id.to_string()),
            sql,
            expected,
            call: false,
        };
        let steps = [
            replay(
                u0,
                Some(DH_STARTUP_TENANT),
                sql.op(&world, &insert),
                Outcome::Done(1),
            ),
            replay(
                Principal::NoSub,
                None,
                sql.op(&world, &insert),
                Outcome::Denied(crate::model::Denial::Policy),
            ),
            replay(
                u0,
                Some(Id::from_u128(9)),
                sql.op(&world, &insert),
                Outcome::Done(0),
            ),
        ];
        let mut after = world.clone();
        after.apply(&u0, &Context::Tenant(DH_STARTUP_TENANT), &insert);
        let mismatch = Mismatch {
            invariant: crate::rule::Invariant::AuditTrail,
            who: u0,
            context: Context::Empty,
            probe: Probe::Read(Object::Audit),
            sql: sql.read_audit(),
            expected: "1 row".into(),
            actual: "0 rows".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        for (ending, count) in [
            (Ending::Step, 3),
            (Ending::Probe(&after), 4),
            (Ending::Audit(&after), 4),
        ] {
            let text = sequence_scenario(&schema, &sql, &world, &steps, ending, &mismatch, 1);
            let path = dir.path().join("sequence.toml");
            std::fs::write(&path, &text).unwrap();
            let scenario = crate::scenario::load(
                dir.path(),
                &path,
                schema.profile(),
                &schema.seeded_tenants(),
            )
            .unwrap_or_else(|error| panic!("{error}\n{text}"));
            assert_eq!(scenario.steps.len(), count, "{text}");
            // A context naming a tenant the file knows is its slug; one naming no
            // tenant at all is sent as the header it is.
            assert_eq!(
                scenario.steps[0].context.as_ref().unwrap().0,
                "digital-health-startup"
            );
            assert_eq!(
                scenario.steps[2].headers,
                [("x-tenant-id".to_owned(), Id::from_u128(9).to_string())]
            );
        }
    }
}
