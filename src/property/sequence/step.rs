//! The steps of a generated sequence: the seeds proptest generates (see `strategy`),
//! and how a seed becomes one concrete request against the world as it stands when the
//! step runs, with what the model predicts of it.
//!
//! A seed holds no id, only indices. Each index is resolved modulo what exists at that
//! moment: the principals and tenants of the current world, and the writes the
//! operation space ([`space::candidates`]) offers that principal in that context, which
//! are derived from the world as the earlier steps left it. So a step can reach a kind
//! of row that only an earlier step created, and every shrink (a step removed, an index
//! lowered, a smaller world) still resolves to a valid request.

use super::super::compare::MALFORMED_CONTEXT;
use super::super::generate::GHOST_TENANT;
use super::super::render::Sql;
use super::super::space::{self, Cell};
use crate::model::World;
use crate::model::{self, Context, Id, Op, Outcome, Principal};
use crate::rule::Invariant;

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

/// A step before it meets a world: who (by index), in what context, doing what.
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub who: usize,
    pub context: ContextSpec,
    /// Which of the writes the operation space offers this principal in this context,
    /// modulo their number.
    pub op: usize,
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
    /// The cell of the operation space the step covers.
    pub cell: Cell,
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
        let context = match setting {
            Setting::None => Context::Empty,
            Setting::Call(tenant) => Context::Tenant(tenant),
            Setting::Forged(context) => context,
        };
        // Salted by the step's number, so that rows earlier steps inserted never
        // collide with this step's.
        let candidates = space::candidates(world, &who, &context, n + 1);
        let chosen = &candidates[self.op % candidates.len()];
        Step {
            who,
            setting,
            op: chosen.op.clone(),
            cell: chosen.cell,
        }
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

    /// The request's SQL in `world` (as it is before the step); a forged context is
    /// set by the request itself.
    pub fn sql(&self, sql: &Sql, world: &World) -> String {
        let forged = match self.setting {
            Setting::Forged(Context::Tenant(tenant)) => Some(tenant.to_string()),
            Setting::Forged(Context::Malformed) => Some(MALFORMED_CONTEXT.to_owned()),
            _ => None,
        };
        let prefix = forged.map_or_else(String::new, |value| {
            format!("{};\n", sql.forge_context(&value))
        });
        format!("{prefix}{}", sql.op(world, &self.op))
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
    pub fn invariant(&self, world: &World, at_context: bool) -> Invariant {
        if at_context {
            return model::invariant_of_read("set_tenant_context", &self.who);
        }
        model::invariant_of_write(world, &self.who, &self.context(), &self.op)
    }
}
