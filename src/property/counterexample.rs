//! Counterexamples as scenarios: the shrunk world and the probe that went wrong, built
//! in the reviewers' own form ([`Scenario`]), so that blame replays it as it is and
//! `scenario::write` writes it as a file that can be run, read and kept.
//!
//! The step expects what the model predicts, so the file fails until the database is
//! fixed, and then guards the fix as a regression.

use super::compare::{context_value, Mismatch, Probe};
use crate::actor::Claims;
use crate::catalog::Command;
use crate::model::{Id, Object, Op, Outcome, Principal, World};
use crate::profile::Sql;
use crate::scenario::{Control, Expectation, Scenario, Step, TenantSpec, UserSpec, Who};
use crate::schema::Schema;

/// How a counterexample's user is named: its world name, `nosub` for claims without one.
fn who(world: &World, principal: &Principal) -> Who {
    match principal {
        Principal::Anon => Who::Anon,
        Principal::ServiceRole => Who::ServiceRole,
        Principal::Owner => Who::Owner,
        Principal::NoSub => Who::User(NOSUB.into()),
        Principal::User(id) => Who::User(
            world
                .user(*id)
                .map_or_else(|| id.to_string(), |u| u.name.clone()),
        ),
    }
}

/// The user a counterexample declares for claims without `sub`.
const NOSUB: &str = "nosub";

/// A world's tenant or user by its placeholder, for expected rows.
fn placeholder(world: &World, id: Id) -> String {
    if let Some(tenant) = world.tenant(id) {
        return format!("${{tenant.{}}}", tenant.slug);
    }
    if let Some(user) = world.user(id) {
        return format!("${{user.{}}}", user.name);
    }
    id.to_string()
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

fn rows(values: Vec<String>, ordered: bool) -> Expectation {
    Expectation::Rows {
        rows: values.into_iter().map(|v| vec![v]).collect(),
        ordered,
    }
}

fn of_outcome(outcome: &Outcome) -> Expectation {
    match outcome {
        Outcome::Done(n) => Expectation::Affected(*n),
        Outcome::Denied(denial) => Expectation::Denied(*denial),
        Outcome::SqlState(code) => Expectation::SqlState(vec![(*code).to_owned()]),
    }
}

/// The SQL and the expectation of the step that reproduces `mismatch`.
fn probe(sql: &Sql, world: &World, mismatch: &Mismatch) -> (String, Expectation) {
    let principal = &mismatch.who;
    let context = &mismatch.context;
    let read = |object| sql.replay_read(object, "");
    match &mismatch.probe {
        Probe::Read(Object::Tenants) => {
            let mut slugs: Vec<String> = world
                .readable_tenants(principal)
                .iter()
                .filter_map(|id| world.tenant(*id).map(|t| t.slug.clone()))
                .collect();
            slugs.sort();
            (read(Object::Tenants), rows(slugs, true))
        }
        Probe::Read(Object::Memberships) => {
            let pairs = world
                .readable_memberships(principal)
                .iter()
                .map(|(user, tenant)| vec![placeholder(world, *user), placeholder(world, *tenant)])
                .collect();
            (
                read(Object::Memberships),
                Expectation::Rows {
                    rows: pairs,
                    ordered: false,
                },
            )
        }
        Probe::Read(Object::PlatformAdmins) => {
            let admins = world
                .readable_admins(principal)
                .iter()
                .map(|id| placeholder(world, *id))
                .collect();
            (read(Object::PlatformAdmins), rows(admins, false))
        }
        Probe::Read(Object::Audit) => (
            read(Object::Audit),
            Expectation::Count(world.readable_audit(principal).len() as u64),
        ),
        Probe::Read(Object::SharedView) => match world.shared_view(principal) {
            Ok(seen) if sql.view_by_name() => (
                read(Object::SharedView),
                rows(names_of(world, seen.iter().map(|(_, id)| *id)), true),
            ),
            Ok(seen) => {
                let mut ids: Vec<String> = seen.iter().map(|(_, id)| id.to_string()).collect();
                ids.sort();
                (read(Object::SharedView), rows(ids, true))
            }
            Err(outcome) => (read(Object::SharedView), of_outcome(&outcome)),
        },
        Probe::Read(object) => {
            let readable = match object {
                Object::Resource(table) => world.readable(principal, context, *table),
                _ => Default::default(),
            };
            (read(*object), rows(names_of(world, readable), true))
        }
        Probe::Accessible(table, tenant) => {
            let call = sql.replay_read(Object::Lists(*table), &crate::profile::uuid(*tenant));
            match world.accessible(principal, *table, *tenant) {
                Ok(ids) => (call, rows(names_of(world, ids), true)),
                Err(outcome) => (call, of_outcome(&outcome)),
            }
        }
        Probe::Subject {
            replay,
            expectation,
            ..
        } => (replay.clone(), expectation.clone()),
        Probe::SetContext(tenant) => (
            sql.set_context(*tenant),
            match world.set_context(principal, *tenant) {
                Outcome::Done(_) => Expectation::Count(1),
                other => of_outcome(&other),
            },
        ),
        Probe::Write(op) => {
            let expect = match world.outcome(principal, context, op) {
                Outcome::Done(_) if op.is_call() => Expectation::Count(1),
                other => of_outcome(&other),
            };
            (sql.op(world, op), expect)
        }
    }
}

/// The table the probe acted on (`schema.name`) and the command it sent, where blame can
/// look for the policy that let it through; `None` for a function call.
pub fn target(profile: &crate::profile::Profile, probe: &Probe) -> Option<(String, Command)> {
    let name = |object: Object| profile.name(object);
    Some(match probe {
        Probe::Read(object) => (name(*object), Command::Select),
        Probe::Write(op) => match op {
            Op::Insert(row) => (name(Object::Resource(row.table)), Command::Insert),
            Op::Update { new, .. } => (name(Object::Resource(new.table)), Command::Update),
            Op::Delete { table, .. } => (name(Object::Resource(*table)), Command::Delete),
            Op::AddMember { .. } => (name(Object::Memberships), Command::Insert),
            Op::SetRole { .. } => (name(Object::Memberships), Command::Update),
            Op::RemoveMember { .. } => (name(Object::Memberships), Command::Delete),
            Op::AddAdmin { .. } => (name(Object::PlatformAdmins), Command::Insert),
            Op::RemoveAdmin { .. } => (name(Object::PlatformAdmins), Command::Delete),
            Op::InsertTenant { .. } => (name(Object::Tenants), Command::Insert),
            Op::RenameTenant { .. } => (name(Object::Tenants), Command::Update),
            Op::DeleteTenant { .. } => (name(Object::Tenants), Command::Delete),
            Op::GrantAdmin { .. } | Op::Assign { .. } => return None,
        },
        Probe::Subject { object, action, .. } => {
            let command = match action.split_whitespace().next() {
                Some("insert") => Command::Insert,
                Some("update" | "move") => Command::Update,
                Some("delete") => Command::Delete,
                _ => Command::Select,
            };
            (object.clone(), command)
        }
        Probe::Accessible(..) | Probe::SetContext(_) => return None,
    })
}

/// The scenario that reproduces `mismatch` in `world`.
pub fn scenario(schema: &Schema, sql: &Sql, world: &World, mismatch: &Mismatch) -> Scenario {
    let mut scenario = base(
        schema,
        sql,
        world,
        mismatch,
        mismatch.who == Principal::NoSub,
    );
    scenario.steps.push(probe_step(sql, world, mismatch));
    scenario
}

/// The description, the invariant, and the world: fixtures, tenants and users.
fn base(schema: &Schema, sql: &Sql, world: &World, mismatch: &Mismatch, nosub: bool) -> Scenario {
    let (seeded, subjects) = (&schema.seeded, &schema.subjects);
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
    let (enter, leave) = crate::subject::as_writer(world);
    let statements = subjects
        .tables
        .iter()
        .flat_map(|table| crate::subject::fill(table, schema.tenants_table(), world));
    for statement in std::iter::once(enter).chain(statements).chain([leave]) {
        if !statement.is_empty() {
            fixtures.push_str(&statement);
            fixtures.push_str(";\n");
        }
    }
    for view in subjects.views.iter().filter(|v| v.materialized) {
        fixtures.push_str(&format!(
            "refresh materialized view {};\n",
            crate::connection::qualified_ident(&view.name)
        ));
    }
    // A personal tenant is the schema's to make when its user signs up: the file names
    // it (its reads show it) but does not declare it, nor its owner's membership.
    let owner_column = sql.profile().tenants.primary_owner.as_ref();
    let tenants = world
        .tenants
        .iter()
        .map(|tenant| TenantSpec {
            slug: tenant.slug.clone(),
            id: tenant.id,
            declared: (!tenant.personal && !seeded.tenants.contains(tenant)).then(|| {
                owner_column
                    .zip(tenant.primary_owner)
                    .map(|(column, owner)| (column.name.clone(), owner.to_string()))
                    .into_iter()
                    .collect()
            }),
            line: 1,
        })
        .collect();
    let personal: Vec<crate::model::Id> = world
        .tenants
        .iter()
        .filter(|t| t.personal)
        .map(|t| t.id)
        .collect();
    let mut users: Vec<UserSpec> = world
        .users
        .iter()
        .map(|user| {
            let email = format!("{}@example.test", user.name);
            UserSpec {
                name: user.name.clone(),
                id: user.id,
                claims: Claims::for_user(user.id, &email),
                email,
                memberships: user
                    .memberships
                    .iter()
                    .filter(|(tenant, _)| !personal.contains(tenant))
                    .map(|(tenant, role)| (*tenant, sql.profile().role_name(*role).to_owned()))
                    .collect(),
                admin: user.admin,
                line: 1,
            }
        })
        .collect();
    if nosub {
        let id = crate::model::user_id(NOSUB);
        let email = format!("{NOSUB}@example.test");
        let mut claims = Claims::for_user(id, &email);
        claims.0.remove("sub");
        users.push(UserSpec {
            name: NOSUB.into(),
            id,
            email,
            memberships: Vec::new(),
            admin: false,
            claims,
            line: 1,
        });
    }
    // In the order a file's users read back: by name.
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Scenario {
        path: Default::default(),
        name: format!("counterexample-{}", mismatch.invariant),
        description: format!(
            "counterexample: {} as {}",
            mismatch.invariant,
            crate::scenario::label(&who(world, &mismatch.who))
        ),
        invariant: Some(mismatch.invariant),
        tenants,
        users,
        fixtures: (!fixtures.trim().is_empty()).then_some(fixtures),
        fixtures_line: 1,
        migrated_to: None,
        steps: Vec::new(),
    }
}

/// A step of the scenario: `sql` as `who` in `context`, expecting `expect`. A context
/// that names a world's tenant is its slug; any other value travels as the header
/// itself (a tenant that does not exist, or no uuid at all).
fn step(
    world: &World,
    (who_, context): (&Principal, Option<String>),
    header: Option<&str>,
    name: String,
    (sql, expect): (String, Expectation),
) -> Step {
    let tenant = context
        .as_deref()
        .and_then(|value| value.parse::<Id>().ok())
        .and_then(|id| world.tenant(id));
    let (context, headers) = match (tenant, context, header) {
        (Some(tenant), _, _) => (Some((tenant.slug.clone(), tenant.id)), Vec::new()),
        (None, Some(value), Some(header)) => (None, vec![(header.to_owned(), value)]),
        _ => (None, Vec::new()),
    };
    let control = match &expect {
        // A replayed probe of an object beyond the model shows, through the owner, that
        // the rows it must not reach exist.
        Expectation::Nothing => Some(Control::Owner),
        other if other.is_negative() => Some(Control::ServiceRole),
        _ => None,
    };
    Step {
        line: 0,
        name,
        who: who(world, who_),
        context,
        sql,
        apply: None,
        expect,
        invariant: None,
        control,
        headers,
        transaction: false,
    }
}

/// The step that asks again what `mismatch` asked, in `world`.
fn probe_step(sql: &Sql, world: &World, mismatch: &Mismatch) -> Step {
    step(
        world,
        (&mismatch.who, context_value(&mismatch.context)),
        sql.profile()
            .context
            .as_ref()
            .map(|c| c.header.name.as_str()),
        format!("the database said {}", mismatch.actual),
        probe(sql, world, mismatch),
    )
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

/// The scenario that replays a sequence from `initial`: every step committed with the
/// outcome the model predicts, then what `ending` says went wrong.
pub fn sequence_scenario(
    schema: &Schema,
    sql: &Sql,
    initial: &World,
    replays: &[Replay],
    ending: Ending<'_>,
    mismatch: &Mismatch,
) -> Scenario {
    let nosub =
        mismatch.who == Principal::NoSub || replays.iter().any(|s| s.who == Principal::NoSub);
    // Sequences run without rows in the objects the model does not name.
    let without_subjects = Schema {
        subjects: Default::default(),
        ..schema.clone()
    };
    let mut scenario = base(&without_subjects, sql, initial, mismatch, nosub);
    let header = sql
        .profile()
        .context
        .as_ref()
        .map(|c| c.header.name.as_str());
    for (n, replay) in replays.iter().enumerate() {
        let expect = match replay.expected {
            Outcome::Done(_) if replay.call => Expectation::Count(1),
            other => of_outcome(&other),
        };
        let mut replayed = step(
            initial,
            (&replay.who, replay.header.clone()),
            header,
            format!("step {}", n + 1),
            (replay.sql.clone(), expect),
        );
        if replayed.control.is_some() {
            replayed.control = Some(Control::Waived("a step of a replayed sequence".into()));
        }
        scenario.steps.push(replayed);
    }
    match ending {
        Ending::Step => {}
        Ending::Probe(world) => scenario.steps.push(probe_step(sql, world, mismatch)),
        Ending::Audit(world) => {
            let offset = schema.seeded.audit.len();
            let trail = world.audit[offset..]
                .iter()
                .map(|row| {
                    let id = |id: Option<Id>| {
                        id.map_or_else(|| "NULL".into(), |id| placeholder(world, id))
                    };
                    vec![
                        sql.audit_table(row.table).to_owned(),
                        row.resource.to_string(),
                        row.action.name().to_owned(),
                        id(row.actor),
                        id(row.tenant),
                    ]
                })
                .collect::<Vec<_>>();
            let empty = trail.is_empty();
            let mut audit = step(
                world,
                (&Principal::Owner, None),
                None,
                "one audit row per sharing change, naming its actor".into(),
                (
                    sql.replay_audit(offset),
                    Expectation::Rows {
                        rows: trail,
                        ordered: true,
                    },
                ),
            );
            if empty {
                audit.control = Some(Control::Waived("the owner reads the whole trail".into()));
            }
            scenario.steps.push(audit);
        }
    }
    scenario
}

#[cfg(test)]
#[path = "counterexample_tests.rs"]
mod tests;
