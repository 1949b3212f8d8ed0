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

use super::super::compare::context_value;
use super::super::generate::GHOST_TENANT;
use super::super::space::{self, Cell};
use crate::model::World;
use crate::model::{self, Context, Id, Op, Outcome, Principal};
use crate::profile::Sql;
use crate::rule::Invariant;

/// The tenant context a step runs in, sent in the request's context header.
#[derive(Debug, Clone, Copy)]
pub enum ContextSpec {
    Empty,
    /// One of the principal's tenants.
    Own {
        pick: usize,
    },
    /// A tenant the principal does not belong to (or none at all): a forged header.
    Foreign {
        pick: usize,
    },
    /// A header that is no uuid.
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

/// A resolved step, ready to run.
#[derive(Debug, Clone)]
pub struct Step {
    pub who: Principal,
    /// The context the request's header carries.
    pub context: Context,
    pub op: Op,
    /// The cell of the operation space the step covers.
    pub cell: Cell,
}

impl StepSpec {
    /// The request this seed stands for as the `n`-th step, in `world` as it is now;
    /// `labels` name the resource tables in the rows it inserts.
    pub fn resolve(&self, world: &World, n: usize, labels: &[String]) -> Step {
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
        let context = match self.context {
            // Without a tenant context in the schema every step sends none.
            _ if !world.shape.context => Context::Empty,
            ContextSpec::Empty => Context::Empty,
            ContextSpec::Own { pick } | ContextSpec::Foreign { pick } => {
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
                Context::Tenant(list[pick % list.len()])
            }
            ContextSpec::Malformed => Context::Malformed,
        };
        // Salted by the step's number, so that rows earlier steps inserted never
        // collide with this step's.
        let candidates = space::candidates(world, &who, &context, n + 1, labels);
        let chosen = &candidates[self.op % candidates.len()];
        Step {
            who,
            context,
            op: chosen.op.clone(),
            cell: chosen.cell,
        }
    }
}

impl Step {
    /// The value of the context header, if the request sends one.
    pub fn header(&self) -> Option<String> {
        context_value(&self.context)
    }

    /// The request's SQL in `world` (as it is before the step).
    pub fn sql(&self, sql: &Sql, world: &World) -> String {
        sql.op(world, &self.op)
    }

    /// What the model predicts.
    pub fn expected(&self, world: &World) -> Outcome {
        world.outcome(&self.who, &self.context, &self.op)
    }

    /// The invariant a wrong answer to this step breaks.
    pub fn invariant(&self, world: &World) -> Invariant {
        model::invariant_of_write(world, &self.who, &self.context, &self.op)
    }
}
