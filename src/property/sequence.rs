//! Stateful properties: generated sequences of committed requests, checked step by step
//! against the reference model.
//!
//! The snapshot properties load a world and probe it without ever committing, so they
//! cannot see what only a history shows: a trigger that forgets a change, an audit row
//! that names the wrong actor, a state that one request leaves for the next. Here each
//! sequence gets a fresh clone of the template; the owner loads a generated world and
//! commits it; then each step (a principal, a tenant context and a write built from
//! the world as it stands, see [`step`]) runs as a PostgREST-style request and commits.
//! The model predicts each outcome and follows the successful ones with
//! [`World::apply`]. After each step every principal's view is probed again (in an
//! owner transaction that is rolled back), and the audit trail, read by the owner, must
//! be the model's row for row. proptest shrinks the world and the steps together.

mod audit;
mod step;
mod strategy;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::compare::{self, Mismatch, Probe};
use super::counterexample::{self, Ending, Replay};
use super::generate::Spec;
use super::{Counterexample, Coverage, Progress, PropertyConfig, PropertyReport};
use crate::actor::{Actor, Finish};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::harness::{Database, Harness, Template};
use crate::model::{Principal, World};
use crate::profile::Sql;
use crate::schema::Schema;
pub(super) use audit::loaded;
use step::StepSpec;

/// Where a sequence and the model parted, with the model's world at that point.
enum Failed {
    Step,
    Probe(World),
    Audit(World),
}

/// What a sequence checks after each step that changed the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recheck {
    /// Every principal's reads, then the audit trail.
    Full,
    /// The audit trail only: shrinking a sequence whose trail went wrong.
    AuditOnly,
    /// Nothing: shrinking a sequence whose step went wrong, which the step itself shows.
    Nothing,
}

impl Recheck {
    /// What shrinking a sequence that failed as `failed` needs to see. A shorter
    /// sequence is kept only if it still fails, so checking less cannot hide anything;
    /// the final sequence is run with [`Recheck::Full`] again.
    fn for_shrinking(failed: &Failed) -> Recheck {
        match failed {
            Failed::Step => Recheck::Nothing,
            Failed::Audit(_) => Recheck::AuditOnly,
            Failed::Probe(_) => Recheck::Full,
        }
    }
}

/// What one sequence did.
#[derive(Default)]
struct Run {
    checks: u64,
    steps: u64,
    /// The queries the owner's pipelines sent, and how many of them as `EXECUTE`.
    sent: (u64, u64),
    /// The steps run, up to the first disagreement, with what the model expected.
    replays: Vec<Replay>,
    /// The principal and context of each step, and the model's audit length after it.
    acted: Vec<audit::Acted>,
    /// The cells of the steps and of the probes after them.
    coverage: Coverage,
    failure: Option<(Failed, Vec<Mismatch>)>,
}

/// Runs one sequence on its own clone of `template`, which is dropped afterwards.
async fn run(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
    sql: &Sql,
    (spec, seeds): (&Spec, &[StepSpec]),
    recheck: Recheck,
) -> Result<Run> {
    let database = harness.database(template).await?;
    let outcome = match database.owner().await {
        Ok(owner) => {
            let outcome = run_on(&database, &owner, schema, sql, spec, seeds, recheck).await;
            outcome.map(|run| Run {
                sent: owner.statements().sent(),
                ..run
            })
        }
        Err(error) => Err(error),
    };
    let closed = database.close().await;
    let run = outcome?;
    closed.map(|()| run)
}

async fn run_on(
    database: &Database<'_>,
    owner: &Connection,
    schema: &Schema,
    sql: &Sql,
    spec: &Spec,
    seeds: &[StepSpec],
    what: Recheck,
) -> Result<Run> {
    let seeded = &schema.seeded;
    let labels = sql.labels();
    let world = audit::loaded(spec.world(seeded, &labels), seeded);
    // One implicit transaction, committed: the steps start from a stored world.
    owner.batch(&sql.load(&world, seeded)).await?;
    let mut world = crate::profile::with_personal(owner, sql.profile(), world).await?;
    let mut run = Run::default();
    // The loaded world is not probed on its own: the snapshot properties do exactly
    // that, and a difference already there shows after the first step all the same.
    let mut checked = false;
    let mut actors: Vec<(Principal, Actor)> = Vec::new();
    for (n, seed) in seeds.iter().enumerate() {
        let step = seed.resolve(&world, n, &labels);
        let expected = step.expected(&world);
        // One session per principal for the whole sequence, as a client keeps its own.
        let at = match actors.iter().position(|(who, _)| *who == step.who) {
            Some(at) => at,
            None => {
                let identity = compare::identity(&world, &step.who);
                actors.push((step.who, database.actor(identity, &schema.api).await?));
                actors.len() - 1
            }
        };
        let actor = &actors[at].1;
        let text = step.sql(sql, &world);
        let header = step.header();
        let request = actor.request(&text, header.as_deref());
        let outcome = actor.send(&request, Finish::Commit).await?;
        run.steps += 1;
        *run.coverage.entry(step.cell).or_default() += 1;
        let call = step.op.is_call();
        run.replays.push(Replay {
            who: step.who,
            header,
            sql: text.clone(),
            expected,
            call,
        });
        let actual = super::probe::observed(&outcome.result);
        let refusals = &sql.profile().refusals;
        // A forged or malformed context must grant nothing: refusing a write that the
        // model says changes nothing keeps the contract (and the world the same).
        let refused_in_forged_context = step.context.is_forged_for(&world.rights(&step.who))
            && matches!(
                expected,
                crate::model::Outcome::Done(0) | crate::model::Outcome::Denied(_)
            )
            && matches!(&outcome.result, Err(failure) if failure.refused(refusals));
        if !refused_in_forged_context
            && !super::probe::write_satisfies(&step.who, &expected, &outcome.result, call, refusals)
        {
            let mismatch = Mismatch {
                invariant: step.invariant(&world),
                who: step.who,
                context: step.context,
                probe: Probe::Write(step.op.clone()),
                sql: text,
                expected: expected.to_string(),
                actual,
            };
            run.failure = Some((Failed::Step, vec![mismatch]));
            return Ok(run);
        }
        world.apply(&step.who, &step.context, &step.op);
        run.acted.push((step.who, step.context, world.audit.len()));
        // A request that failed was rolled back: the state the last check saw stands.
        if (outcome.result.is_err() && checked) || what == Recheck::Nothing {
            continue;
        }
        checked = true;
        if recheck(owner, schema, sql, &world, &mut run, what).await? {
            return Ok(run);
        }
    }
    Ok(run)
}

/// Probes every principal's view of the committed state, then compares the audit trail;
/// records the first failure and says whether there was one.
async fn recheck(
    owner: &Connection,
    schema: &Schema,
    sql: &Sql,
    world: &World,
    run: &mut Run,
    what: Recheck,
) -> Result<bool> {
    let mut found = Vec::new();
    if what == Recheck::Full {
        owner.batch("begin").await?;
        let checked = compare::check_world(
            owner,
            schema,
            sql,
            world,
            &crate::subject::Population::default(),
            compare::Selection::Reads,
            super::bound::Budget::default(),
        )
        .await;
        owner.batch("rollback").await?;
        let checked = checked?;
        found = checked.mismatches;
        run.checks += checked.checks;
        super::merge(&mut run.coverage, &checked.coverage);
    }
    let audit = if world.shape.audit {
        run.checks += 1;
        audit::mismatch(owner, sql, world, &run.acted).await?
    } else {
        None
    };
    // A visibility difference is the graver finding; a trail that differs is best shown
    // as the owner's full read, which names every row's actor.
    run.failure = match audit {
        _ if found.iter().any(|m| m.invariant != "audit-trail") => {
            Some((Failed::Probe(world.clone()), found))
        }
        Some(audit) => {
            found.insert(0, audit);
            Some((Failed::Audit(world.clone()), found))
        }
        None if !found.is_empty() => Some((Failed::Probe(world.clone()), found)),
        None => None,
    };
    Ok(run.failure.is_some())
}

/// Checks `config.cases` generated sequences; `progress` hears of each one finished.
pub async fn check(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
    config: &PropertyConfig,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<PropertyReport> {
    let started = Instant::now();
    let sql = schema.sql_for("the generated sequences")?;
    let labels = sql.labels();
    let shape = &schema.seeded.shape;
    let report_labels = &super::Labels::of(sql, shape);
    let workers = config.connections.max(1);
    let per_worker = config.cases.div_ceil(workers as u32);
    let (done_count, checks) = (AtomicU64::new(0), AtomicU64::new(0));
    let (statements, prepared) = (AtomicU64::new(0), AtomicU64::new(0));
    let coverage: Mutex<Coverage> = Mutex::new(Coverage::new());
    let failure: Mutex<Option<Counterexample>> = Mutex::new(None);
    let failed_at: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    let outcome: Result<()> = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..workers)
                .map(|index| {
                    let (done_count, checks, failure, coverage, failed_at) =
                        (&done_count, &checks, &failure, &coverage, &failed_at);
                    let (labels, statements, prepared) = (&labels, &statements, &prepared);
                    scope.spawn(move || -> Result<()> {
                        let runtime = super::worker_runtime()?;
                        let seed = config.seed.wrapping_add(index as u64);
                        // Each case costs a database and a dozen full probes: shrink less.
                        let proptest_config = Config {
                            cases: per_worker,
                            max_shrink_iters: config.shrink_iters(64),
                            // Kept below, as for worlds (see `check_worlds`).
                            max_shrink_time: 0,
                            failure_persistence: None,
                            ..Config::default()
                        };
                        let mut runner =
                            TestRunner::new_with_rng(proptest_config, super::rng(seed));
                        let harness_error: Mutex<Option<Error>> = Mutex::new(None);
                        // After the first failure, proptest calls back only to shrink it,
                        // with what that failure needs checked.
                        let shrinking: std::cell::Cell<Option<Recheck>> = Default::default();
                        let result = runner.run(&strategy::sequences(shape), |(spec, seeds)| {
                            if shrinking.get().is_none() && super::another_failed(failed_at) {
                                return Ok(());
                            }
                            if shrinking.get().is_some() && super::shrink_was_cut(config, failed_at)
                            {
                                return Ok(());
                            }
                            let mut slot = harness_error.lock().expect("error slot");
                            if slot.is_some() {
                                return Err(TestCaseError::fail("the harness failed"));
                            }
                            let what = shrinking.get().unwrap_or(Recheck::Full);
                            match runtime.block_on(run(
                                harness,
                                template,
                                schema,
                                sql,
                                (&spec, &seeds),
                                what,
                            )) {
                                Ok(done) => {
                                    checks.fetch_add(done.checks + done.steps, Ordering::Relaxed);
                                    statements.fetch_add(done.sent.0, Ordering::Relaxed);
                                    prepared.fetch_add(done.sent.1, Ordering::Relaxed);
                                    super::merge(
                                        &mut coverage.lock().expect("coverage"),
                                        &done.coverage,
                                    );
                                    progress(Progress::Done(
                                        done_count.fetch_add(1, Ordering::Relaxed) + 1,
                                    ));
                                    match done.failure {
                                        None => Ok(()),
                                        Some((failed, found)) => {
                                            if shrinking.get().is_none() {
                                                shrinking
                                                    .set(Some(Recheck::for_shrinking(&failed)));
                                            }
                                            let world = spec.world(&schema.seeded, labels);
                                            super::announce(
                                                failed_at,
                                                progress,
                                                (&found[0], &world),
                                                report_labels,
                                            );
                                            Err(TestCaseError::fail(format!(
                                                "{} ({})",
                                                found[0].invariant, found[0].sql
                                            )))
                                        }
                                    }
                                }
                                Err(error) => {
                                    *slot = Some(error);
                                    Err(TestCaseError::fail("the harness failed"))
                                }
                            }
                        });
                        if let Some(error) = harness_error.lock().expect("error slot").take() {
                            return Err(error);
                        }
                        if let Err(TestError::Fail(_, (spec, seeds))) = result {
                            let done = runtime.block_on(run(
                                harness,
                                template,
                                schema,
                                sql,
                                (&spec, &seeds),
                                Recheck::Full,
                            ))?;
                            if let Some(found) = counterexample_of(schema, sql, &spec, done, seed) {
                                failure.lock().expect("failure slot").get_or_insert(found);
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            runs.into_iter().try_for_each(|run| {
                run.join()
                    .unwrap_or_else(|_| Err(Error::backend("property", "a worker panicked")))
            })
        })
    });
    outcome?;
    let mut failure = failure.into_inner().expect("failure slot");
    if let Some(found) = &mut failure {
        if super::shrink_was_cut(config, &failed_at) {
            found.mark_cut_short(config.shrink_time);
        }
        found.path = super::write_counterexample(found, "sequence-").ok();
    }
    Ok(PropertyReport {
        labels: report_labels.clone(),
        seed: config.seed,
        worlds: done_count.into_inner(),
        checks: checks.into_inner(),
        statements: statements.into_inner(),
        prepared: prepared.into_inner(),
        duration: started.elapsed(),
        failure,
        coverage: coverage.into_inner().expect("coverage"),
        stricter: Default::default(),
        objects: Default::default(),
        // Sequences re-probe reads only; the matrix comes from the world runs.
        observed: Default::default(),
    })
}

/// The shrunk sequence as a counterexample: its first world and a scenario that
/// replays its steps up to the disagreement.
fn counterexample_of(
    schema: &Schema,
    sql: &Sql,
    spec: &Spec,
    done: Run,
    seed: u64,
) -> Option<Counterexample> {
    let (failed, mismatches) = done.failure?;
    let world = spec.world(&schema.seeded, &sql.labels());
    let ending = match &failed {
        Failed::Step => Ending::Step,
        Failed::Probe(after) => Ending::Probe(after),
        Failed::Audit(after) => Ending::Audit(after),
    };
    let first = mismatches.first()?.clone();
    let scenario =
        counterexample::sequence_scenario(schema, sql, &world, &done.replays, ending, &first);
    Some(Counterexample::new(
        (first, mismatches),
        world,
        seed,
        scenario,
        sql,
        "stateful property testing",
    ))
}
