//! Property-based isolation: generated worlds checked against the reference model.
//!
//! Hand-written scenarios test what someone thought of; this module searches. proptest
//! generates worlds of tenants, users, memberships and shared resources ([`generate`]);
//! each world is loaded by the owner in a transaction that is never committed, probed as
//! every principal in every context ([`compare`]), and compared with what
//! [`crate::model`] predicts. A disagreement is shrunk to a small world and written
//! out as a scenario file ([`counterexample`]). Runs are reproducible: the seed is
//! fixed unless the caller asks for fresh ones.

mod bound;
mod compare;
mod counterexample;
mod generate;
mod observe;
mod probe;
mod sequence;
mod space;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::catalog::Command;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::harness::{Harness, Template};
use crate::model::{Object, Role, Shape, World};
use crate::profile::Sql;
use crate::scenario::Scenario;
use crate::schema::Schema;

pub use compare::{Coverage, Mismatch, Probe};
pub use observe::{
    cell_verdict, diff as diff_observed, grants, merge_observed, outcomes, Change,
    Key as MatrixKey, Observed,
};
pub use space::{
    gaps as coverage_gaps, possible_pairs, required_cells, Actor as CoverageActor, Cell,
    ContextKind, Gaps, RowKind, WriteOp, OTHER_ACTORS,
};

/// The seed `check` uses unless told otherwise, so that a CI gate gives the same
/// verdict on the same code.
pub const DEFAULT_SEED: u64 = 0x5eed_0f7e_2a27;
/// How long a failure is shrunk unless told otherwise: the verdict is known when the
/// first failure is, so a red gate should not wait a minute for a smaller world.
pub const DEFAULT_SHRINK_TIME: Duration = Duration::from_secs(5);

/// What a property run tells its caller while it runs.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// This many cases are done.
    Done(u64),
    /// The first disagreement, found before any shrinking: the verdict is known. The
    /// labels name the world's roles and objects.
    Failed(&'a Mismatch, &'a World, &'a Labels),
}

/// How many worlds `check` generates from its fixed seed.
pub const CHECK_WORLDS: u32 = 16;
/// How many sequences `check` generates from its fixed seed.
pub const CHECK_SEQUENCES: u32 = 4;
/// How many connections `check` spreads them over (the server's two cores are busy).
pub const CHECK_CONNECTIONS: usize = 2;

/// How many worlds to try, from which seed, on how many connections.
#[derive(Debug, Clone)]
pub struct PropertyConfig {
    pub cases: u32,
    pub seed: u64,
    pub connections: usize,
    /// Where proptest keeps the seeds of failures, to try them first next time.
    pub persistence: Option<&'static str>,
    /// How long a failure may be shrunk before the smallest world found so far is kept;
    /// zero keeps the first failing world as it is.
    pub shrink_time: Duration,
    /// Probe every world and keep what was observed, disagreements or not (the access
    /// matrix): nothing fails and nothing is shrunk.
    pub observe_only: bool,
}

impl PropertyConfig {
    /// proptest's bound on shrinking steps: `at_most`, or none at all when shrinking is
    /// off (proptest reads a zero time as no limit).
    fn shrink_iters(&self, at_most: u32) -> u32 {
        if self.shrink_time.is_zero() {
            0
        } else {
            at_most
        }
    }

    /// What `rls-harness check` runs: [`CHECK_WORLDS`] worlds from the fixed seed on
    /// [`CHECK_CONNECTIONS`] connections.
    pub fn check() -> PropertyConfig {
        PropertyConfig {
            cases: CHECK_WORLDS,
            seed: DEFAULT_SEED,
            connections: CHECK_CONNECTIONS,
            persistence: None,
            shrink_time: DEFAULT_SHRINK_TIME,
            observe_only: false,
        }
    }

    /// `PROPTEST_CASES` (else `default_cases`), `RLS_HARNESS_SEED` (else the fixed
    /// seed) and `RLS_HARNESS_CONNECTIONS` (else 1).
    pub fn from_env(default_cases: u32) -> Result<PropertyConfig> {
        let number = |name: &str| -> Result<Option<u64>> {
            match std::env::var(name).ok().filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(text) => text.parse().map(Some).map_err(|_| Error::Config {
                    name: name.into(),
                    message: format!("\"{text}\" is not a whole number"),
                }),
            }
        };
        Ok(PropertyConfig {
            cases: number("PROPTEST_CASES")?.map_or(default_cases, |n| n as u32),
            seed: number("RLS_HARNESS_SEED")?.unwrap_or(DEFAULT_SEED),
            connections: number("RLS_HARNESS_CONNECTIONS")?.map_or(1, |n| n.max(1) as usize),
            persistence: None,
            shrink_time: DEFAULT_SHRINK_TIME,
            observe_only: false,
        })
    }
}

/// The smallest failing world found, and the scenario that reproduces it.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The first disagreement, which the scenario reproduces.
    pub mismatch: Mismatch,
    /// Every disagreement in the shrunk world.
    pub mismatches: Vec<Mismatch>,
    pub world: World,
    pub seed: u64,
    /// The scenario whose last step fails as the database did.
    pub scenario: Scenario,
    /// What the file says first: how it was found and shrunk.
    pub comment: String,
    /// Where the scenario was written, if it could be.
    pub path: Option<PathBuf>,
    /// Shrinking reached its time limit: the world may not be the smallest.
    pub cut_short: bool,
    /// The table the failing probe acted on and how, for blame: `None` when it acted
    /// on no table (a function call, the context).
    pub target: Option<(String, Command)>,
}

impl Counterexample {
    fn new(
        (mismatch, mismatches): (Mismatch, Vec<Mismatch>),
        world: World,
        seed: u64,
        scenario: Scenario,
        sql: &Sql,
        how: &str,
    ) -> Counterexample {
        Counterexample {
            target: counterexample::target(sql.profile(), &mismatch.probe),
            comment: format!(
                "Found by rls-harness {how} (seed {seed}), shrunk to a small case.\n\
                 Each step expects what the access model says; it fails until the database agrees."
            ),
            mismatch,
            mismatches,
            world,
            seed,
            scenario,
            path: None,
            cut_short: false,
        }
    }

    /// Notes in the scenario file that shrinking stopped at its time limit.
    fn mark_cut_short(&mut self, limit: Duration) {
        self.cut_short = true;
        self.comment = format!(
            "Shrinking stopped after {} s (--shrink-time): a smaller case may fail too.\n{}",
            limit.as_secs(),
            self.comment
        );
    }

    /// The scenario file's text.
    pub fn file(&self) -> String {
        crate::scenario::write(&self.scenario, &self.comment)
    }

    /// Which policy admitted the failure, replaying the scenario without each (see
    /// [`crate::blame`]); `None` when the failing probe acted on no table.
    pub async fn blame(
        &self,
        harness: &Harness,
        template: &Template,
        schema: &Schema,
    ) -> Result<Option<crate::blame::Blame>> {
        let Some((table, command)) = &self.target else {
            return Ok(None);
        };
        crate::blame::blame(harness, template, schema, &self.scenario, (table, *command)).await
    }
}

/// How a run's reports name what the model leaves nameless: the tenancy's shape, and
/// the profile's names of its objects and roles.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    pub shape: Arc<Shape>,
    objects: BTreeMap<Object, String>,
    roles: Vec<String>,
}

impl Labels {
    pub fn of(sql: &Sql, shape: &Arc<Shape>) -> Labels {
        let profile = sql.profile();
        let mut objects: Vec<Object> = shape.write_objects();
        objects.extend([Object::Audit, Object::SharedView, Object::SetContext]);
        objects.extend(shape.tables().map(Object::Lists));
        Labels {
            shape: shape.clone(),
            objects: objects.into_iter().map(|o| (o, profile.label(o))).collect(),
            roles: shape
                .roles()
                .map(|r| sql.profile().role_name(r).to_owned())
                .collect(),
        }
    }

    /// The object's name without schema.
    pub fn object(&self, object: Object) -> &str {
        self.objects.get(&object).map_or("", String::as_str)
    }

    pub fn role(&self, role: Role) -> &str {
        self.roles.get(role.0 as usize).map_or("", String::as_str)
    }
}

/// What a property run did.
#[derive(Debug, Clone)]
pub struct PropertyReport {
    /// How the report names objects and roles.
    pub labels: Labels,
    pub seed: u64,
    pub worlds: u64,
    pub checks: u64,
    /// The queries the probes sent (sessions' settings and checks included), and how
    /// many of them went as prepared statements, as PostgREST sends its own.
    pub statements: u64,
    pub prepared: u64,
    pub duration: Duration,
    pub failure: Option<Counterexample>,
    /// How many write probes ran in each cell of the operation space.
    pub coverage: Coverage,
    /// Where an object the model does not name allows less than its class: reported,
    /// never failed.
    pub stricter: BTreeSet<String>,
    /// Probes per object the model does not name.
    pub objects: BTreeMap<String, u64>,
    /// What the probes observed in every cell of the access matrix.
    pub observed: Observed,
}

/// Loads `world` in an open transaction, probes it as `selection` and `budget` say, and
/// rolls everything back.
async fn check_world(
    owner: &Connection,
    schema: &Schema,
    sql: &Sql,
    world: &World,
    selection: compare::Selection,
    budget: bound::Budget,
) -> Result<compare::WorldRun> {
    let seeded = &schema.seeded;
    // The trigger writes an audit row for every resource the owner loads.
    let world = sequence::loaded(world.clone(), seeded);
    owner.batch("begin").await?;
    let outcome = async {
        owner.batch(&sql.load(&world, seeded)).await?;
        let world = crate::profile::with_personal(owner, sql.profile(), world).await?;
        let population =
            crate::subject::populate(owner, &schema.subjects, schema.tenants_table(), &world)
                .await?;
        compare::check_world(owner, schema, sql, &world, &population, selection, budget).await
    }
    .await;
    owner.batch("rollback").await?;
    outcome
}

/// Checks `config.cases` generated worlds against the model; `progress` hears of each.
pub async fn check_worlds(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
    config: &PropertyConfig,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<PropertyReport> {
    let started = Instant::now();
    let stride = bound::stride_for(schema.subjects.tables.len(), config.cases);
    let sql = schema.sql_for("the generated worlds")?;
    let labels = &sql.labels();
    let report_labels = &Labels::of(sql, &schema.seeded.shape);
    let failed_at: Mutex<Option<Instant>> = Mutex::new(None);
    let workers = config.connections.max(1);
    let mut databases = Vec::new();
    for _ in 0..workers {
        databases.push(harness.database(template).await?);
    }
    let worlds = AtomicU64::new(0);
    let checks = AtomicU64::new(0);
    let (statements, prepared) = (AtomicU64::new(0), AtomicU64::new(0));
    let coverage: Mutex<Coverage> = Mutex::new(Coverage::new());
    let observed: Mutex<Observed> = Mutex::default();
    let subject_coverage: Mutex<(BTreeSet<String>, BTreeMap<String, u64>)> = Mutex::default();
    let failure: Mutex<Option<Counterexample>> = Mutex::new(None);
    let per_worker = config.cases.div_ceil(workers as u32);
    let outcome: Result<()> = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let runs: Vec<_> = databases
                .iter()
                .enumerate()
                .map(|(index, database)| {
                    let (worlds, checks, failure, coverage, subject_coverage, failed_at) = (
                        &worlds,
                        &checks,
                        &failure,
                        &coverage,
                        &subject_coverage,
                        &failed_at,
                    );
                    let (observed, statements, prepared) = (&observed, &statements, &prepared);
                    scope.spawn(move || -> Result<()> {
                        let runtime = worker_runtime()?;
                        let owner = runtime.block_on(database.owner())?;
                        let seed = config.seed.wrapping_add(index as u64);
                        let proptest_config = Config {
                            cases: per_worker,
                            failure_persistence: config.persistence.map(|path| {
                                Box::new(proptest::test_runner::FileFailurePersistence::Direct(
                                    path,
                                )) as _
                            }),
                            max_shrink_iters: config.shrink_iters(512),
                            // The shrink's time limit is kept below, not by proptest,
                            // whose own limit prints advice about its environment
                            // variables to stderr; the report says that it was cut.
                            max_shrink_time: 0,
                            ..Config::default()
                        };
                        let mut runner = TestRunner::new_with_rng(proptest_config, rng(seed));
                        let harness_error: Mutex<Option<Error>> = Mutex::new(None);
                        // After the first failure, proptest calls back only to shrink it.
                        let focus = std::cell::Cell::new(None);
                        let explored = std::cell::Cell::new(0_u64);
                        // The last world that failed every probe, with its disagreements:
                        // when shrinking is off or finds nothing smaller, it is the
                        // counterexample, and need not be probed again.
                        let last_full_failure: std::cell::RefCell<
                            Option<(World, Vec<compare::Mismatch>)>,
                        > = Default::default();
                        let result = runner.run(&generate::spec(&schema.seeded.shape), |spec| {
                            if focus.get().is_none() && another_failed(failed_at) {
                                return Ok(());
                            }
                            // Past the shrink's time, every simpler world counts as
                            // passing: proptest keeps the smallest failing one found.
                            if focus.get().is_some() && shrink_was_cut(config, failed_at) {
                                return Ok(());
                            }
                            let world = spec.world(&schema.seeded, labels);
                            let selection = focus
                                .get()
                                .map_or(compare::Selection::EveryCell, compare::Selection::Like);
                            // While exploring, the subject tables' probes take turns across
                            // this worker's worlds; a shrink probes every one of them.
                            let budget = match focus.get() {
                                None => {
                                    let turn = explored.get();
                                    explored.set(turn + 1);
                                    bound::Budget::taking_turns(turn, stride)
                                }
                                Some(_) => bound::Budget::default(),
                            };
                            match runtime.block_on(check_world(
                                &owner, schema, sql, &world, selection, budget,
                            )) {
                                Ok(run) => {
                                    checks.fetch_add(run.checks, Ordering::Relaxed);
                                    merge(&mut coverage.lock().expect("coverage"), &run.coverage);
                                    observe::merge_observed(
                                        &mut observed.lock().expect("observations"),
                                        &run.observed,
                                    );
                                    let mut subjects = subject_coverage.lock().expect("coverage");
                                    subjects.0.extend(run.stricter.iter().cloned());
                                    for (object, count) in &run.objects {
                                        *subjects.1.entry(object.clone()).or_default() += count;
                                    }
                                    drop(subjects);
                                    progress(Progress::Done(
                                        worlds.fetch_add(1, Ordering::Relaxed) + 1,
                                    ));
                                    match run.mismatches.first() {
                                        None => Ok(()),
                                        Some(_) if config.observe_only => Ok(()),
                                        Some(first) => {
                                            if focus.get().is_none() {
                                                focus.set(Some(compare::Focus::of(first)));
                                                *last_full_failure.borrow_mut() =
                                                    Some((world.clone(), run.mismatches.clone()));
                                            }
                                            announce(
                                                failed_at,
                                                progress,
                                                (first, &world),
                                                report_labels,
                                            );
                                            Err(TestCaseError::fail(format!(
                                                "{} ({})",
                                                first.invariant, first.sql
                                            )))
                                        }
                                    }
                                }
                                Err(error) => {
                                    *harness_error.lock().expect("error slot") = Some(error);
                                    Err(TestCaseError::fail("the harness failed"))
                                }
                            }
                        });
                        if let Some(error) = harness_error.lock().expect("error slot").take() {
                            return Err(error);
                        }
                        if let Err(TestError::Fail(_, spec)) = result {
                            let world = spec.world(&schema.seeded, labels);
                            // Every disagreement of the final world: known when it is the
                            // first failure, else every probe again.
                            let mismatches = match last_full_failure.take() {
                                Some((failed, mismatches)) if failed == world => mismatches,
                                _ => {
                                    runtime
                                        .block_on(check_world(
                                            &owner,
                                            schema,
                                            sql,
                                            &world,
                                            compare::Selection::EveryCell,
                                            bound::Budget::default(),
                                        ))?
                                        .mismatches
                                }
                            };
                            if let Some(first) = mismatches.first() {
                                let scenario = counterexample::scenario(schema, sql, &world, first);
                                let mut slot = failure.lock().expect("failure slot");
                                if slot.is_none() {
                                    *slot = Some(Counterexample::new(
                                        (first.clone(), mismatches.clone()),
                                        world,
                                        seed,
                                        scenario,
                                        sql,
                                        "property testing",
                                    ));
                                }
                            }
                        }
                        let (sent, executed) = owner.statements().sent();
                        statements.fetch_add(sent, Ordering::Relaxed);
                        prepared.fetch_add(executed, Ordering::Relaxed);
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
    for database in databases {
        database.close().await?;
    }
    outcome?;
    let (stricter, objects) = subject_coverage.into_inner().expect("coverage");
    let mut failure = failure.into_inner().expect("failure slot");
    if let Some(found) = &mut failure {
        if shrink_was_cut(config, &failed_at) {
            found.mark_cut_short(config.shrink_time);
        }
        found.path = write_counterexample(found, "").ok();
    }
    Ok(PropertyReport {
        labels: report_labels.clone(),
        seed: config.seed,
        worlds: worlds.into_inner(),
        checks: checks.into_inner(),
        statements: statements.into_inner(),
        prepared: prepared.into_inner(),
        duration: started.elapsed(),
        failure,
        coverage: coverage.into_inner().expect("coverage"),
        stricter,
        objects,
        observed: observed.into_inner().expect("observations"),
    })
}

/// A runtime of a worker thread's own, on which the worker's connections do their
/// I/O: the thread that waits for a pipeline's answers also reads them. On the shared
/// runtime each answer woke a thread of it and that thread woke the worker, and those
/// wake-ups were two fifths of the client's CPU.
fn worker_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            Error::backend(
                "property",
                format!("cannot start a worker's runtime: {error}"),
            )
        })
}

/// Tells the caller of the first failure of a run, once, and notes when it was found.
fn announce(
    failed_at: &Mutex<Option<Instant>>,
    progress: &(dyn Fn(Progress<'_>) + Sync),
    (first, world): (&Mismatch, &World),
    labels: &Labels,
) {
    let mut slot = failed_at.lock().expect("failure clock");
    if slot.is_none() {
        *slot = Some(Instant::now());
        drop(slot);
        progress(Progress::Failed(first, world, labels));
    }
}

/// Whether a worker has found a failure. The others then stop generating: the verdict
/// is known, and the shrinking of that failure needs the server more than further
/// cases do.
fn another_failed(failed_at: &Mutex<Option<Instant>>) -> bool {
    failed_at.lock().expect("failure clock").is_some()
}

/// Whether shrinking ran until its time limit.
fn shrink_was_cut(config: &PropertyConfig, failed_at: &Mutex<Option<Instant>>) -> bool {
    !config.shrink_time.is_zero()
        && failed_at
            .lock()
            .expect("failure clock")
            .is_some_and(|at| at.elapsed() >= config.shrink_time)
}

/// Adds the counts of `more` to `into`.
fn merge(into: &mut Coverage, more: &Coverage) {
    for (cell, count) in more {
        *into.entry(*cell).or_default() += count;
    }
}

/// Checks `config.cases` generated sequences of committed requests against the model
/// (see `sequence.rs`); `progress` hears of each sequence. The report counts sequences
/// as `worlds`, and steps, probes and audit reads as `checks`.
pub async fn check_sequences(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
    config: &PropertyConfig,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<PropertyReport> {
    sequence::check(harness, template, schema, config, progress).await
}

fn rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(
            &seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(i as u64)
                .to_le_bytes(),
        );
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Writes the counterexample under `target/rls-harness/counterexamples/`, its name
/// starting with `prefix` (which says what kind of run found it); a run beside this one
/// that found a different counterexample under the same name keeps its file, and this
/// one gets the process id in its name.
fn write_counterexample(found: &Counterexample, prefix: &str) -> std::io::Result<PathBuf> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let path = target
        .join("rls-harness")
        .join("counterexamples")
        .join(format!(
            "{prefix}{}-seed-{}.toml",
            found.mismatch.invariant, found.seed
        ));
    Ok(crate::output::write(&path, &found.file())?.path)
}
