//! Probing a loaded world as every principal, in every context, and comparing each
//! answer with the model.
//!
//! Everything runs inside the owner's open transaction: each principal gets a
//! savepoint in which it assumes its role and claims (verified, as for any actor) and
//! its tenant context, and each probe a nested savepoint rolled back before the next,
//! so probes never see each other's writes and nothing is ever committed.

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::actor::{self, Claims};
use crate::connection::Connection;
use crate::error::Result;
use crate::model::{self, Context, Id, Op, Principal, Table, World};

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

/// Probes the world loaded in `connection`'s open transaction as every principal and
/// context; returns how many checks ran and every disagreement. All probes of the
/// world travel in one pipeline (see [`super::probe::plan_pair`]).
pub async fn check_world(connection: &Connection, world: &World) -> Result<(u64, Vec<Mismatch>)> {
    let mut pairs = Vec::new();
    for (who, contexts) in principals(world) {
        let principal = actor_principal(world, &who);
        let own = own_context(world, &who);
        for context in contexts {
            let writes_here = context == Context::Empty || Some(context) == own;
            pairs.push(super::probe::plan_pair(
                world,
                who,
                principal.clone(),
                context,
                writes_here,
            ));
        }
    }
    let statements: Vec<String> = pairs
        .iter()
        .flat_map(|pair| pair.statements.iter().cloned())
        .collect();
    let mut answers = super::probe::send(connection, &statements)
        .await?
        .into_iter();
    let (mut checks, mut mismatches) = (0, Vec::new());
    for pair in pairs {
        let count = pair.statements.len();
        let (found_checks, found) = pair.judge(answers.by_ref().take(count).collect())?;
        checks += found_checks;
        mismatches.extend(found);
    }
    Ok((checks, mismatches))
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
