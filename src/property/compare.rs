//! Probing a loaded world as every principal, in every context, and comparing each
//! answer with the model.
//!
//! Everything runs inside the owner's open transaction: each principal gets a
//! savepoint in which it assumes its role and claims (verified, as for any actor) and
//! its tenant context, and each probe a nested savepoint rolled back before the next,
//! so probes never see each other's writes and nothing is ever committed.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::render;
use crate::actor::{self, Claims, Failure, Rows};
use crate::connection::{quote_literal, Connection};
use crate::error::Result;
use crate::model::{self, Context, Id, Op, Outcome, Principal, Table, World};

/// The value a malformed context holds.
pub const MALFORMED_CONTEXT: &str = "not-a-tenant";

/// What was asked when the database and the model disagreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `select` from a table or view, by its name.
    Read(&'static str),
    Write(Op),
    Accessible(Table, Id),
    SetContext(Id),
}

/// A disagreement between the database and the model.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub invariant: &'static str,
    pub who: Principal,
    pub context: Context,
    pub probe: Probe,
    pub sql: String,
    pub expected: String,
    pub actual: String,
}

/// The actor that stands for a model principal.
pub fn actor_principal(world: &World, who: &Principal) -> actor::Principal {
    match who {
        Principal::Anon => actor::Principal::Anon,
        Principal::ServiceRole => actor::Principal::ServiceRole,
        Principal::NoSub => {
            let mut claims = Claims::for_user(Uuid::nil(), "no-sub@example.test");
            claims.0.remove("sub");
            actor::Principal::Authenticated {
                name: "without sub".into(),
                claims,
            }
        }
        Principal::User(id) => {
            let name = world
                .user(*id)
                .map_or_else(|| id.to_string(), |user| user.name.clone());
            actor::Principal::user(&name, *id, &format!("{name}@example.test"))
        }
    }
}

/// The value of `app.current_tenant_id` for a context.
pub fn context_value(context: &Context) -> Option<String> {
    match context {
        Context::Empty => None,
        Context::Tenant(id) => Some(id.to_string()),
        Context::Malformed => Some(MALFORMED_CONTEXT.into()),
    }
}

/// The principals of a world, each with the contexts to try.
pub fn principals(world: &World) -> Vec<(Principal, Vec<Context>)> {
    let tenants: Vec<Context> = world
        .tenants
        .iter()
        .map(|t| Context::Tenant(t.id))
        .collect();
    let mut everyone = vec![Principal::Anon, Principal::NoSub, Principal::ServiceRole];
    everyone.extend(world.users.iter().map(|user| Principal::User(user.id)));
    everyone
        .into_iter()
        .map(|who| {
            let mut contexts = vec![Context::Empty, Context::Malformed];
            contexts.extend(tenants.iter().copied());
            (who, contexts)
        })
        .collect()
}

/// The writes to try as `who`: into its own and a foreign tenant, publishing, moving,
/// deleting, joining, promoting, granting.
pub fn writes(world: &World, who: &Principal) -> Vec<Op> {
    let uid = who.uid();
    let me = uid.unwrap_or_else(|| world.users.first().map_or(Uuid::nil(), |u| u.id));
    let mine: BTreeSet<Id> = uid
        .and_then(|id| world.user(id))
        .map(|user| user.memberships.keys().copied().collect())
        .unwrap_or_default();
    // Where the principal writes, if anywhere: the probes that matter most (moving,
    // publishing) only mean something in a tenant it may write.
    let writes_in = uid.and_then(|id| world.user(id)).and_then(|user| {
        user.memberships
            .iter()
            .find(|(_, role)| role.is_writer())
            .map(|(tenant, _)| *tenant)
    });
    let own = writes_in
        .or_else(|| mine.iter().next().copied())
        .unwrap_or(crate::plan::PLATFORM_TENANT);
    let foreign = world
        .tenants
        .iter()
        .map(|t| t.id)
        .find(|t| !mine.contains(t))
        .unwrap_or(own);
    let template = |tenant: Id, mode: model::Mode, n: u128| model::Resource {
        table: Table::Agents,
        id: Uuid::from_u128(0x9e0b_0000_0000_4000_8000_0000_0000_0000 + n),
        tenant: Some(tenant),
        name: format!("probe-{n}"),
        mode,
        shared_with: Vec::new(),
        kind: model::Kind::Custom,
    };
    let mut ops = vec![
        Op::Insert(template(own, model::Mode::Private, 1)),
        Op::Insert(template(foreign, model::Mode::Private, 2)),
        Op::Insert(template(own, model::Mode::Global, 3)),
        Op::AddMember {
            user: me,
            tenant: foreign,
            role: model::Role::Member,
        },
        Op::SetRole {
            user: me,
            tenant: own,
            role: model::Role::Owner,
        },
        Op::GrantAdmin { user: me },
        Op::InsertUserRole { user: me },
        Op::AssignDh {
            user: me,
            role: "admin".into(),
        },
    ];
    // A tenant the principal reads but may not write: PostgreSQL also checks an
    // updated row against the read policy, so this is where a move that the WITH
    // CHECK should refuse would succeed.
    let read_only = uid.and_then(|id| world.user(id)).and_then(|user| {
        user.memberships
            .iter()
            .find(|(_, role)| !role.is_writer())
            .map(|(tenant, _)| *tenant)
    });
    // A row the principal may move at all: its own, custom, not global (a global row
    // fails WITH CHECK whatever the tenant).
    let movable = |r: &&model::Resource| {
        r.tenant == Some(own) && r.kind == model::Kind::Custom && r.mode != model::Mode::Global
    };
    if let Some(row) = world.resources.iter().find(movable) {
        ops.push(Op::Update {
            id: row.id,
            new: model::Resource {
                tenant: Some(foreign),
                ..row.clone()
            },
        });
        if let Some(read_only) = read_only {
            ops.push(Op::Update {
                id: row.id,
                new: model::Resource {
                    tenant: Some(read_only),
                    ..row.clone()
                },
            });
        }
        ops.push(Op::Update {
            id: row.id,
            new: model::Resource {
                mode: model::Mode::Global,
                ..row.clone()
            },
        });
    }
    if let Some(row) = world.resources.iter().find(|r| r.tenant == Some(foreign)) {
        ops.push(Op::Update {
            id: row.id,
            new: model::Resource {
                name: format!("{}-renamed", row.name),
                ..row.clone()
            },
        });
        ops.push(Op::Delete {
            table: row.table,
            id: row.id,
        });
    }
    if let Some(row) = world
        .resources
        .iter()
        .find(|r| r.mode == model::Mode::Global)
    {
        ops.push(Op::Delete {
            table: row.table,
            id: row.id,
        });
    }
    ops
}

fn observed(result: &std::result::Result<Rows, Failure>) -> String {
    match result {
        Ok(rows) => Outcome::Done(rows.affected).to_string(),
        Err(failure) => match failure.denial() {
            Some(denial) => Outcome::Denied(denial).to_string(),
            None => failure.sqlstate.clone(),
        },
    }
}

/// Runs probes in nested savepoints of the principal's savepoint.
struct Prober<'a> {
    connection: &'a Connection,
    open: bool,
    checks: u64,
}

impl Prober<'_> {
    async fn run(&mut self, sql: &str) -> Result<std::result::Result<Rows, Failure>> {
        let reset = if self.open {
            "rollback to savepoint probe; "
        } else {
            "savepoint probe; "
        };
        self.open = true;
        self.checks += 1;
        actor::statement(self.connection, &format!("{reset}{sql}")).await
    }

    async fn close(&mut self) -> Result<()> {
        if std::mem::take(&mut self.open) {
            self.connection.batch("rollback to savepoint probe").await?;
        }
        Ok(())
    }
}

fn ids(rows: &Rows, column: usize) -> BTreeSet<Id> {
    rows.rows
        .iter()
        .filter_map(|row| row.get(column).cloned().flatten())
        .filter_map(|text| Uuid::parse_str(&text).ok())
        .collect()
}

fn describe_ids(world: &World, ids: &BTreeSet<Id>) -> String {
    let names: Vec<String> = ids
        .iter()
        .map(|id| {
            world
                .resources
                .iter()
                .find(|r| r.id == *id)
                .map(|r| r.name.clone())
                .or_else(|| {
                    world
                        .tenants
                        .iter()
                        .find(|t| t.id == *id)
                        .map(|t| t.slug.clone())
                })
                .or_else(|| world.user(*id).map(|u| u.name.clone()))
                .unwrap_or_else(|| id.to_string())
        })
        .collect();
    format!("{{{}}}", names.join(", "))
}

/// Probes the world loaded in `connection`'s open transaction as every principal and
/// context; returns how many checks ran and every disagreement.
pub async fn check_world(connection: &Connection, world: &World) -> Result<(u64, Vec<Mismatch>)> {
    let mut mismatches = Vec::new();
    let mut checks = 0;
    for (who, contexts) in principals(world) {
        let principal = actor_principal(world, &who);
        for context in contexts {
            connection.batch("savepoint principal").await?;
            actor::assume(connection, &principal).await?;
            if let Some(value) = context_value(&context) {
                connection
                    .batch(&format!(
                        "select set_config('app.current_tenant_id', {}, true)",
                        quote_literal(&value)
                    ))
                    .await?;
            }
            let mut prober = Prober {
                connection,
                open: false,
                checks: 0,
            };
            let found = probe_principal(&mut prober, world, &who, &context).await?;
            prober.close().await?;
            actor::verify(connection, &principal).await?;
            connection.batch("rollback to savepoint principal").await?;
            checks += prober.checks;
            mismatches.extend(found.into_iter().map(
                |(probe, sql, invariant, expected, actual)| Mismatch {
                    invariant,
                    who,
                    context,
                    probe,
                    sql,
                    expected,
                    actual,
                },
            ));
        }
    }
    Ok((checks, mismatches))
}

type Found = (Probe, String, &'static str, String, String);

async fn probe_principal(
    prober: &mut Prober<'_>,
    world: &World,
    who: &Principal,
    context: &Context,
) -> Result<Vec<Found>> {
    let mut found: Vec<Found> = Vec::new();

    // Resources, in this context.
    match prober.run(render::READ_RESOURCES).await? {
        Ok(rows) => {
            for table in Table::ALL {
                let actual: BTreeSet<Id> = rows
                    .rows
                    .iter()
                    .filter(|row| row.first().cloned().flatten().as_deref() == Some(table.name()))
                    .filter_map(|row| row.get(1).cloned().flatten())
                    .filter_map(|id| Uuid::parse_str(&id).ok())
                    .collect();
                let expected = world.readable(who, context, table);
                if actual != expected {
                    let differing = actual
                        .symmetric_difference(&expected)
                        .next()
                        .copied()
                        .unwrap_or_default();
                    found.push((
                        Probe::Read(table.name()),
                        format!("select * from {}", table.name()),
                        world.invariant_of_row(who, context, table, differing),
                        describe_ids(world, &expected),
                        describe_ids(world, &actual),
                    ));
                }
            }
        }
        Err(failure) => found.push((
            Probe::Read("agents"),
            render::READ_RESOURCES.into(),
            model::invariant_of_read("agents", who),
            "rows".into(),
            observed(&Err(failure)),
        )),
    }

    // Tenancy tables ignore the context: the same answer in every one.
    let tenancy: [(&'static str, &str, BTreeSet<Id>); 3] = [
        ("tenants", render::READ_TENANTS, world.readable_tenants(who)),
        (
            "user_roles",
            render::READ_ADMINS,
            world.readable_admins(who),
        ),
        (
            "user_tenants",
            render::READ_MEMBERSHIPS,
            world
                .readable_memberships(who)
                .into_iter()
                .map(|(user, tenant)| pair_id(user, tenant))
                .collect(),
        ),
    ];
    for (table, sql, expected) in tenancy {
        let result = prober.run(sql).await?;
        let actual = match &result {
            Ok(rows) if table == "user_tenants" => rows
                .rows
                .iter()
                .filter_map(|row| {
                    let user = Uuid::parse_str(row.first()?.as_deref()?).ok()?;
                    let tenant = Uuid::parse_str(row.get(1)?.as_deref()?).ok()?;
                    Some(pair_id(user, tenant))
                })
                .collect(),
            Ok(rows) => ids(rows, 0),
            Err(_) => BTreeSet::new(),
        };
        if result.is_err() || actual != expected {
            found.push((
                Probe::Read(table),
                sql.into(),
                model::invariant_of_read(table, who),
                describe_ids(world, &expected),
                if result.is_err() {
                    observed(&result)
                } else {
                    describe_ids(world, &actual)
                },
            ));
        }
    }

    if *context == Context::Empty {
        probe_derived(prober, world, who, &mut found).await?;
    }
    if matches!(context, Context::Empty) || own_context(world, who) == Some(*context) {
        for op in writes(world, who) {
            let sql = render::op(&op);
            let result = prober.run(&sql).await?;
            let expected = world.outcome(who, context, &op);
            let actual = observed(&result);
            if normalise(&expected.to_string(), &op) != normalise(&actual, &op) {
                found.push((
                    Probe::Write(op.clone()),
                    sql,
                    model::invariant_of_op(&op, who, world),
                    expected.to_string(),
                    actual,
                ));
            }
        }
    }
    Ok(found)
}

/// A function call answers with one row whatever it does; only success matters.
fn normalise(outcome: &str, op: &Op) -> String {
    match op {
        Op::GrantAdmin { .. } | Op::AssignDh { .. } if outcome.starts_with("done") => "done".into(),
        _ => outcome.to_owned(),
    }
}

/// The context of the tenant the write probes treat as the principal's own.
fn own_context(world: &World, who: &Principal) -> Option<Context> {
    let user = world.user(who.uid()?)?;
    let writer = user
        .memberships
        .iter()
        .find(|(_, role)| role.is_writer())
        .map(|(tenant, _)| *tenant);
    writer
        .or_else(|| user.memberships.keys().next().copied())
        .map(Context::Tenant)
}

/// A stable id standing for a `(user, tenant)` membership, to compare sets of pairs.
fn pair_id(user: Id, tenant: Id) -> Id {
    Uuid::new_v5(&user, tenant.as_bytes())
}

/// The view, the audit trail and the functions, which take no context.
async fn probe_derived(
    prober: &mut Prober<'_>,
    world: &World,
    who: &Principal,
    found: &mut Vec<Found>,
) -> Result<()> {
    let result = prober.run(render::READ_SHARED_VIEW).await?;
    let expected = world.shared_view(who);
    let (expected_text, actual_text) = match (&expected, &result) {
        (Ok(rows), Ok(actual)) => {
            let expected: BTreeSet<Id> = rows.iter().map(|(_, id)| *id).collect();
            (
                describe_ids(world, &expected),
                describe_ids(world, &ids(actual, 1)),
            )
        }
        (Ok(rows), Err(_)) => (
            describe_ids(world, &rows.iter().map(|(_, id)| *id).collect()),
            observed(&result),
        ),
        (Err(outcome), _) => (outcome.to_string(), observed(&result)),
    };
    if expected_text != actual_text && !(expected.is_err() && actual_text == expected_text) {
        found.push((
            Probe::Read("mv_platform_shared_resources"),
            render::READ_SHARED_VIEW.into(),
            model::invariant_of_read("mv_platform_shared_resources", who),
            expected_text,
            actual_text,
        ));
    }

    let result = prober.run(render::READ_AUDIT).await?;
    let expected: Vec<String> = world.readable_audit(who).iter().map(audit_line).collect();
    let actual: Vec<String> = match &result {
        Ok(rows) => rows
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| v.clone().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect(),
        Err(_) => vec![observed(&result)],
    };
    if expected != actual {
        found.push((
            Probe::Read("resource_sharing_audit"),
            render::READ_AUDIT.into(),
            "audit-trail",
            format!("{} rows", expected.len()),
            format!("{} rows", actual.len()),
        ));
    }

    let mut targets: Vec<Id> = world.tenants.iter().map(|t| t.id).collect();
    targets.push(super::generate::GHOST_TENANT);
    for tenant in &targets {
        let sql = render::set_context(*tenant);
        let result = prober.run(&sql).await?;
        let expected = world.set_context(who, *tenant);
        if normalise_call(&expected.to_string()) != normalise_call(&observed(&result)) {
            found.push((
                Probe::SetContext(*tenant),
                sql,
                model::invariant_of_read("set_tenant_context", who),
                expected.to_string(),
                observed(&result),
            ));
        }
        for table in Table::ALL {
            let sql = render::accessible(table, *tenant);
            let result = prober.run(&sql).await?;
            let (expected, actual) = match (world.accessible(who, table, *tenant), &result) {
                (Ok(expected), Ok(rows)) => (
                    describe_ids(world, &expected),
                    describe_ids(world, &ids(rows, 0)),
                ),
                (Ok(expected), Err(_)) => (describe_ids(world, &expected), observed(&result)),
                (Err(outcome), _) => (outcome.to_string(), observed(&result)),
            };
            if expected != actual {
                found.push((
                    Probe::Accessible(table, *tenant),
                    sql,
                    world.invariant_of_accessible(who, *tenant),
                    expected,
                    actual,
                ));
            }
        }
    }
    Ok(())
}

fn normalise_call(outcome: &str) -> &str {
    if outcome.starts_with("done") {
        "done"
    } else {
        outcome
    }
}

fn audit_line(row: &model::AuditRow) -> String {
    format!(
        "{} {} {} {} {}",
        row.table.name(),
        row.resource,
        row.action.name(),
        row.actor.map(|id| id.to_string()).unwrap_or_default(),
        row.tenant.map(|id| id.to_string()).unwrap_or_default()
    )
}
