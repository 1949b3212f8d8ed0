//! The steps of a generated sequence: the seeds proptest generates (see `strategy`),
//! and how a seed becomes one concrete request against the world as it stands when the
//! step runs, with what the model predicts of it.
//!
//! A seed holds no id, only indices and preferences. Each index is resolved modulo
//! what exists at that moment (the principals, tenants, resources and memberships of
//! the current world), so every shrink (a step removed, an index lowered, a smaller
//! world) still resolves to a valid request: shrinking never produces a sequence that
//! names a row an earlier step no longer creates.

use uuid::Uuid;

use super::super::compare::MALFORMED_CONTEXT;
use super::super::generate::GHOST_TENANT;
use super::super::render;
use crate::connection::quote_literal;
use crate::model::World;
use crate::model::{self, Context, Id, Kind, Mode, Op, Outcome, Principal, Resource, Role, Table};

/// One of a list, by index. `near` prefers what concerns the acting principal (its
/// tenants, the resources of its tenants, itself), so that many steps are writes it
/// may make rather than refusals.
#[derive(Debug, Clone, Copy)]
pub struct Pick {
    pub index: usize,
    pub near: bool,
}

/// The tenant context a step runs in.
#[derive(Debug, Clone, Copy)]
pub enum ContextSpec {
    Empty,
    /// One of the principal's tenants, through `set_tenant_context` or forged.
    Own {
        pick: usize,
        forged: bool,
    },
    /// A tenant the principal does not belong to (or none at all), either way.
    Foreign {
        pick: usize,
        forged: bool,
    },
    /// A setting that is no uuid, always forged (the function takes a uuid).
    Malformed,
}

/// The write a step attempts.
#[derive(Debug, Clone)]
pub enum OpSpec {
    Create {
        table: Table,
        tenant: Pick,
        mode: Mode,
        shared_with: Vec<usize>,
        platform: bool,
    },
    Share {
        resource: Pick,
        mode: Mode,
        shared_with: Vec<usize>,
    },
    Move {
        resource: Pick,
        tenant: Pick,
    },
    /// An update that changes no sharing column, and so must leave no audit row.
    Rename {
        resource: Pick,
    },
    Delete {
        resource: Pick,
    },
    AddMember {
        user: Pick,
        tenant: Pick,
        role: Role,
    },
    RemoveMember {
        membership: Pick,
    },
    SetRole {
        membership: Pick,
        role: Role,
    },
    AssignDh {
        user: Pick,
        admin: bool,
    },
    GrantAdmin {
        user: Pick,
        direct: bool,
    },
}

/// A step before it meets a world: who (by index), in what context, doing what.
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub who: usize,
    pub context: ContextSpec,
    pub op: OpSpec,
}

/// How the step's tenant context reaches the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    None,
    /// `set_tenant_context`, which `Actor::run` calls first and which may refuse.
    Call(Id),
    /// `set_config('app.current_tenant_id', ...)` at the head of the step's SQL.
    Forged(Context),
}

/// A resolved step, ready to run.
#[derive(Debug, Clone)]
pub struct Step {
    pub who: Principal,
    pub setting: Setting,
    pub op: Op,
}

fn choose<T: Clone>(pick: Pick, near: &[T], all: &[T]) -> Option<T> {
    let list = if pick.near && !near.is_empty() {
        near
    } else {
        all
    };
    (!list.is_empty()).then(|| list[pick.index % list.len()].clone())
}

/// The id a step's insert gives its row: fresh, and stable for one sequence.
fn created_id(step: usize) -> Id {
    const NAMESPACE: Uuid = Uuid::from_u128(0x5e90_e11c_e000_4000_8000_0000_0000_0001);
    Uuid::new_v5(&NAMESPACE, format!("step:{step}").as_bytes())
}

impl StepSpec {
    /// The request this seed stands for as the `n`-th step, in `world` as it is now.
    pub fn resolve(&self, world: &World, n: usize) -> Step {
        let users = world.users.len();
        let who = match self.who % (users + 3) {
            i if i < users => Principal::User(world.users[i].id),
            i if i == users => Principal::ServiceRole,
            i if i == users + 1 => Principal::Anon,
            _ => Principal::NoSub,
        };
        let rights = world.rights(&who);
        let tenants: Vec<Id> = world.tenants.iter().map(|t| t.id).collect();
        let member: Vec<Id> = rights.member.iter().copied().collect();
        let writer: Vec<Id> = rights.writer.iter().copied().collect();
        let setting = match self.context {
            ContextSpec::Empty => Setting::None,
            ContextSpec::Own { pick, forged } | ContextSpec::Foreign { pick, forged } => {
                let list: Vec<Id> = match self.context {
                    ContextSpec::Own { .. } if !member.is_empty() => member.clone(),
                    ContextSpec::Own { .. } => tenants.clone(),
                    _ => tenants
                        .iter()
                        .copied()
                        .filter(|t| !member.contains(t))
                        .chain([GHOST_TENANT])
                        .collect(),
                };
                let tenant = list[pick % list.len()];
                if forged {
                    Setting::Forged(Context::Tenant(tenant))
                } else {
                    Setting::Call(tenant)
                }
            }
            ContextSpec::Malformed => Setting::Forged(Context::Malformed),
        };
        let all_users: Vec<Id> = world.users.iter().map(|u| u.id).collect();
        let me: Vec<Id> = who.uid().into_iter().collect();
        let user = |pick: Pick| choose(pick, &me, &all_users).unwrap_or(Uuid::nil());
        let tenant = |pick: Pick, near: &[Id]| choose(pick, near, &tenants).unwrap_or(GHOST_TENANT);
        let resources: Vec<&Resource> = world.resources.iter().collect();
        let nearby: Vec<&Resource> = resources
            .iter()
            .copied()
            .filter(|r| r.tenant.is_some_and(|t| member.contains(&t)))
            .collect();
        // Steps may delete every row; then they name one that does not exist (0 rows).
        let resource = |pick: Pick| match choose(pick, &nearby, &resources) {
            Some(row) => row.clone(),
            None => Resource {
                table: Table::Agents,
                id: created_id(n),
                tenant: tenants.first().copied(),
                name: format!("missing-step{n}"),
                mode: Mode::Private,
                shared_with: Vec::new(),
                kind: Kind::Custom,
            },
        };
        let rows: Vec<(Id, Id)> = world.membership_rows().map(|(u, t, _)| (u, t)).collect();
        let writable: Vec<(Id, Id)> = rows
            .iter()
            .copied()
            .filter(|(_, t)| writer.contains(t))
            .collect();
        let membership = |pick: Pick| {
            choose(pick, &writable, &rows).unwrap_or_else(|| (user(pick), tenant(pick, &[])))
        };
        let shared = |indices: &[usize]| {
            let mut ids: Vec<Id> = indices
                .iter()
                .map(|&i| {
                    tenants
                        .get(i % (tenants.len() + 1))
                        .copied()
                        .unwrap_or(GHOST_TENANT)
                })
                .collect();
            ids.dedup();
            ids
        };
        let update = |old: Resource, new: Resource| Op::Update { id: old.id, new };
        let op = match &self.op {
            OpSpec::Create {
                table,
                tenant: at,
                mode,
                shared_with,
                platform,
            } => Op::Insert(Resource {
                table: *table,
                id: created_id(n),
                tenant: Some(tenant(*at, &member)),
                name: format!("{}-step{n}", table.name()),
                mode: *mode,
                shared_with: shared(shared_with),
                kind: if *platform {
                    Kind::Platform
                } else {
                    Kind::Custom
                },
            }),
            OpSpec::Share {
                resource: at,
                mode,
                shared_with,
            } => {
                let old = resource(*at);
                let new = Resource {
                    mode: *mode,
                    shared_with: shared(shared_with),
                    ..old.clone()
                };
                update(old, new)
            }
            OpSpec::Move {
                resource: at,
                tenant: to,
            } => {
                let old = resource(*at);
                let new = Resource {
                    tenant: Some(tenant(*to, &member)),
                    ..old.clone()
                };
                update(old, new)
            }
            OpSpec::Rename { resource: at } => {
                let old = resource(*at);
                let new = Resource {
                    name: format!("renamed-step{n}"),
                    ..old.clone()
                };
                update(old, new)
            }
            OpSpec::Delete { resource: at } => {
                let old = resource(*at);
                Op::Delete {
                    table: old.table,
                    id: old.id,
                }
            }
            OpSpec::AddMember {
                user: who,
                tenant: at,
                role,
            } => Op::AddMember {
                user: user(*who),
                tenant: tenant(*at, &writer),
                role: *role,
            },
            OpSpec::RemoveMember { membership: at } => {
                let (user, tenant) = membership(*at);
                Op::RemoveMember { user, tenant }
            }
            OpSpec::SetRole {
                membership: at,
                role,
            } => {
                let (user, tenant) = membership(*at);
                Op::SetRole {
                    user,
                    tenant,
                    role: *role,
                }
            }
            OpSpec::AssignDh { user: who, admin } => Op::AssignDh {
                user: user(*who),
                role: if *admin { "admin" } else { "member" }.into(),
            },
            OpSpec::GrantAdmin {
                user: who,
                direct: true,
            } => Op::InsertUserRole { user: user(*who) },
            OpSpec::GrantAdmin {
                user: who,
                direct: false,
            } => Op::GrantAdmin { user: user(*who) },
        };
        Step { who, setting, op }
    }
}

impl Step {
    /// The value of `app.current_tenant_id` when the write runs.
    pub fn context(&self) -> Context {
        match self.setting {
            Setting::None => Context::Empty,
            Setting::Call(tenant) => Context::Tenant(tenant),
            Setting::Forged(context) => context,
        }
    }

    /// The tenant `Actor::run` passes to `set_tenant_context`.
    pub fn called(&self) -> Option<Id> {
        match self.setting {
            Setting::Call(tenant) => Some(tenant),
            _ => None,
        }
    }

    /// The request's SQL; a forged context is set by the request itself.
    pub fn sql(&self) -> String {
        let forged = match self.setting {
            Setting::Forged(Context::Tenant(tenant)) => Some(tenant.to_string()),
            Setting::Forged(Context::Malformed) => Some(MALFORMED_CONTEXT.to_owned()),
            _ => None,
        };
        let prefix = forged.map_or_else(String::new, |value| {
            format!(
                "select set_config('app.current_tenant_id', {}, true);\n",
                quote_literal(&value)
            )
        });
        format!("{prefix}{}", render::op(&self.op))
    }

    /// What the model predicts, and whether it is `set_tenant_context` that refuses
    /// (then the write never runs).
    pub fn expected(&self, world: &World) -> (Outcome, bool) {
        if let Some(tenant) = self.called() {
            let set = world.set_context(&self.who, tenant);
            if !matches!(set, Outcome::Done(_)) {
                return (set, true);
            }
        }
        (world.outcome(&self.who, &self.context(), &self.op), false)
    }

    /// The invariant a wrong answer to this step breaks. A resource write by a plain
    /// user under a context naming none of its tenants is `context-forgery`, as for
    /// reads: the context is what the step tried to abuse.
    pub fn invariant(&self, world: &World, at_context: bool) -> &'static str {
        if at_context {
            return model::invariant_of_read("set_tenant_context", &self.who);
        }
        let rights = world.rights(&self.who);
        let forged = match self.context() {
            Context::Empty => false,
            Context::Tenant(tenant) => !rights.member.contains(&tenant),
            Context::Malformed => true,
        };
        let resource = matches!(
            self.op,
            Op::Insert(_) | Op::Update { .. } | Op::Delete { .. }
        );
        if forged && resource && rights.uid.is_some() && !rights.platform_admin {
            "context-forgery"
        } else {
            model::invariant_of_op(&self.op, &self.who, world)
        }
    }
}
