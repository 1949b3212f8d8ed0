//! Probing a loaded world as every principal, in every context, and comparing each
//! answer with the model.
//!
//! Everything runs inside the owner's open transaction: each principal gets a
//! savepoint in which it assumes its role and claims (verified, as for any actor) and
//! its tenant context, and each probe a nested savepoint rolled back before the next,
//! so probes never see each other's writes and nothing is ever committed.

use std::collections::{BTreeMap, BTreeSet};

use super::space::{self, Actor, Candidate, Cell};
use crate::actor::Identity;
use crate::connection::Connection;
use crate::error::Result;
use crate::model::{Context, Id, Object, Op, Principal, Table, World};
use crate::profile::Sql;
use crate::rule::Invariant;
use crate::schema::Schema;
use crate::subject::{Population, Subjects};

/// The value a malformed context holds.
pub const MALFORMED_CONTEXT: &str = "not-a-tenant";

/// What was asked when the database and the model disagreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `select` from a table or view the model predicts.
    Read(Object),
    Write(Op),
    Accessible(Table, Id),
    SetContext(Id),
    /// An object the model does not name: what was done to it, and the statement and
    /// scenario expectation (nothing read or written, one row, one row written) that
    /// replay it.
    Subject {
        object: String,
        action: String,
        replay: String,
        expectation: crate::scenario::Expectation,
    },
}

/// A disagreement between the database and the model.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub invariant: Invariant,
    pub who: Principal,
    pub context: Context,
    pub probe: Probe,
    pub sql: String,
    pub expected: String,
    pub actual: String,
}

/// A model principal as its requests present it: a world's user by its name, with
/// Studio's claims; a session without `sub`, with the same claims but that one.
pub fn identity(world: &World, who: &Principal) -> Identity {
    let name = match who {
        Principal::User(id) => world
            .user(*id)
            .map_or_else(|| id.to_string(), |user| user.name.clone()),
        Principal::NoSub => "no-sub".to_owned(),
        _ => String::new(),
    };
    Identity::of(*who, &name, &format!("{name}@example.test"))
}

/// The value the context header carries for a context.
pub fn context_value(context: &Context) -> Option<String> {
    match context {
        Context::Empty => None,
        Context::Tenant(id) => Some(id.to_string()),
        Context::Malformed => Some(MALFORMED_CONTEXT.into()),
    }
}

/// The principals of a world, each with the contexts to try (none but the empty one
/// where the tenancy has no context).
pub fn principals(world: &World) -> Vec<(Principal, Vec<Context>)> {
    let tenants: Vec<Context> = world
        .tenants
        .iter()
        .map(|t| Context::Tenant(t.id))
        .collect();
    let contexts = if world.shape.context {
        let mut all = vec![Context::Empty, Context::Malformed];
        all.extend(tenants);
        all
    } else {
        vec![Context::Empty]
    };
    let mut everyone = vec![Principal::Anon, Principal::NoSub, Principal::ServiceRole];
    everyone.extend(world.users.iter().map(|user| Principal::User(user.id)));
    everyone
        .into_iter()
        .map(|who| (who, contexts.clone()))
        .collect()
}

/// Probes the world loaded in `connection`'s open transaction as every principal and
/// context; returns how many checks ran, the cells of the write probes, and every
/// disagreement. All probes of the world travel in one pipeline (see
/// [`super::probe::plan_pair`]).
pub async fn check_world(
    connection: &Connection,
    schema: &Schema,
    sql: &Sql,
    world: &World,
    population: &Population,
    selection: Selection,
    mut budget: super::bound::Budget,
) -> Result<WorldRun> {
    let everyone = principals(world);
    let writes = select_writes(world, &everyone, selection, &sql.labels());
    let no_subjects = Subjects::default();
    let subjects = match selection {
        Selection::EveryCell | Selection::Like(Focus::Subjects) => (&schema.subjects, population),
        Selection::Reads | Selection::Like(_) => (&no_subjects, population),
    };
    let mut pairs = Vec::new();
    for ((who, contexts), mut writes) in everyone.into_iter().zip(writes) {
        let identity = identity(world, &who);
        for (context, writes) in contexts.into_iter().zip(writes.drain(..)) {
            pairs.push(super::probe::plan_pair(
                &schema.api,
                sql,
                world,
                subjects,
                &mut budget,
                (who, identity.clone()),
                context,
                writes,
            )?);
        }
    }
    let statements: Vec<crate::actor::Message> = pairs
        .iter()
        .flat_map(|pair| pair.statements.iter().cloned())
        .collect();
    let mut answers = crate::actor::send_pipelined(connection, &statements)
        .await?
        .into_iter();
    let mut run = WorldRun::default();
    let mut calls = Vec::new();
    for pair in pairs {
        let count = pair.statements.len();
        for cell in pair.cells() {
            *run.coverage.entry(cell).or_default() += 1;
        }
        let judged = pair.judge(answers.by_ref().take(count).collect())?;
        run.checks += judged.checks;
        run.mismatches.extend(judged.mismatches);
        run.stricter.extend(judged.stricter);
        super::observe::merge(&mut run.observed, judged.observed);
        for (object, count) in judged.objects {
            *run.objects.entry(object).or_default() += count;
        }
        calls.extend(judged.calls);
    }
    run.checks += calls.len() as u64;
    run.mismatches.extend(
        super::bound::judge_writes_through_functions(
            connection,
            &schema.api,
            sql,
            world,
            subjects,
            &calls,
        )
        .await?,
    );
    Ok(run)
}

/// What probing one world found.
#[derive(Debug, Default)]
pub struct WorldRun {
    pub checks: u64,
    /// How many write probes ran in each cell of the operation space.
    pub coverage: Coverage,
    pub mismatches: Vec<Mismatch>,
    /// Where an object the model does not name allows less than its class.
    pub stricter: BTreeSet<String>,
    /// Probes per object the model does not name.
    pub objects: BTreeMap<String, u64>,
    /// What the probes observed, cell by cell (the access matrix).
    pub observed: super::observe::Observed,
}

/// Write probes per cell of the operation space.
pub type Coverage = BTreeMap<Cell, u64>;

/// How many write probes a world gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Plain users, whose rights depend on the kind of row and the context, get one
    /// probe per cell of the operation space the world reaches; everyone else
    /// (platform admins, anon, claims without `sub`, service_role), whose rights depend
    /// on neither, one per object and operation.
    EveryCell,
    /// None: the re-probes after each step of a sequence read only. The steps are the
    /// writes there, drawn from the same operation space; the snapshot worlds probe
    /// every cell of it, in states of every shape.
    Reads,
    /// What shrinking a failure needs: the reads, and the writes (or the objects the
    /// model does not name) like the failing probe. A smaller world is kept only if it
    /// still fails, so skipping the other probes cannot hide anything; it makes each
    /// shrinking step several times cheaper and keeps the shrink on the same fault.
    Like(Focus),
}

/// The kind of probe a failure was found by (see [`Selection::Like`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// A read, a function call or the context: no write probe is needed.
    Reads,
    /// A write: the writes of the same statement kind on the same table.
    Writes(OpKind),
    /// An object the model does not name: its probes, without the model's writes.
    Subjects,
}

/// A write's statement kind and table, whatever its rows and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpKind {
    statement: std::mem::Discriminant<Op>,
    table: Option<Table>,
}

impl OpKind {
    fn of(op: &Op) -> OpKind {
        let table = match op {
            Op::Insert(resource) => Some(resource.table),
            Op::Update { new, .. } => Some(new.table),
            Op::Delete { table, .. } => Some(*table),
            _ => None,
        };
        OpKind {
            statement: std::mem::discriminant(op),
            table,
        }
    }
}

impl Focus {
    /// The kind of probe that found `mismatch`.
    pub fn of(mismatch: &Mismatch) -> Focus {
        match &mismatch.probe {
            Probe::Write(op) => Focus::Writes(OpKind::of(op)),
            Probe::Subject { .. } => Focus::Subjects,
            Probe::Read(_) | Probe::Accessible(..) | Probe::SetContext(_) => Focus::Reads,
        }
    }
}

/// The write probes of a world, by principal and context (in the order of
/// [`principals`]), as `selection` says.
fn select_writes(
    world: &World,
    everyone: &[(Principal, Vec<Context>)],
    selection: Selection,
    labels: &[String],
) -> Vec<Vec<Vec<Candidate>>> {
    let mut taken = BTreeSet::new();
    let wanted = |op: &Op| match selection {
        Selection::EveryCell => true,
        Selection::Like(Focus::Writes(kind)) => OpKind::of(op) == kind,
        Selection::Reads | Selection::Like(_) => false,
    };
    if matches!(
        selection,
        Selection::Reads | Selection::Like(Focus::Reads | Focus::Subjects)
    ) {
        return everyone
            .iter()
            .map(|(_, contexts)| contexts.iter().map(|_| Vec::new()).collect())
            .collect();
    }
    everyone
        .iter()
        .map(|(who, contexts)| {
            contexts
                .iter()
                .map(|context| {
                    space::candidates(world, who, context, 0, labels)
                        .into_iter()
                        .filter(|candidate| wanted(&candidate.op))
                        .filter(|candidate| {
                            let cell = candidate.cell;
                            let detail =
                                (cell.actor == Actor::User).then_some((cell.kind, cell.context));
                            let key = (cell.actor, cell.object, cell.op, detail);
                            taken.insert(key)
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::*;

    fn selected(world: &World, selection: Selection) -> Vec<Op> {
        select_writes(world, &principals(world), selection, &labels())
            .into_iter()
            .flatten()
            .flatten()
            .map(|candidate| candidate.op)
            .collect()
    }

    /// Shrinking a failed delete of an agent asks only deletes of agents, in every cell
    /// where one is asked when nothing failed; a failed read asks no write at all.
    #[test]
    fn shrinking_asks_only_the_writes_like_the_failing_one() {
        let world = world();
        let every = selected(&world, Selection::EveryCell);
        let delete = Op::Delete {
            table: AGENTS,
            id: SEED_AGENT,
        };
        let kind = OpKind::of(&delete);
        let like: Vec<Op> = every
            .iter()
            .filter(|op| OpKind::of(op) == kind)
            .cloned()
            .collect();
        assert!(!like.is_empty() && like.len() < every.len());
        assert_eq!(selected(&world, Selection::Like(Focus::Writes(kind))), like);
        assert!(selected(&world, Selection::Like(Focus::Reads)).is_empty());
        assert!(selected(&world, Selection::Like(Focus::Subjects)).is_empty());
    }
}
