//! The probes one principal faces in one context, and how each answer is judged
//! against the model.
//!
//! Probes are planned first and then sent together: tokio-postgres pipelines
//! requests issued at once, and in the simple protocol an error ends only its own
//! query message, so each probe (prefixed by a rollback to the shared savepoint)
//! stands alone while the whole set costs about one round trip.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::bound;
use super::compare::{context_value, Mismatch, Probe};
use super::generate::GHOST_TENANT;
use super::observe::{self, Key, Seen, Who};
use super::space::{Candidate, Cell};
use crate::actor::{self, Api, Failure, Identity, Request, Rows};
use crate::error::Result;
use crate::model::{self, Context, Id, Object, Op, Outcome, Principal, Table, World};
use crate::profile::Sql;
use crate::rule::Invariant;
use crate::subject::{Population, Subjects};

/// What a probe asks, with what is needed to judge its answer.
enum Ask {
    /// Every row of a resource table.
    Resources(Table),
    /// Every row of a tenancy table: tenants, memberships or platform admins.
    Tenancy(Object),
    SharedView,
    Audit,
    SetContext(Id),
    Accessible(Table, Id),
    Write(Op),
}

/// The probes for `who` in `context`, the writes among them chosen by the caller.
fn plan(sql: &Sql, world: &World, context: &Context, writes: &[Candidate]) -> Vec<(Ask, String)> {
    let shape = &world.shape;
    let mut asks: Vec<(Ask, String)> = shape
        .tables()
        .map(|table| (Ask::Resources(table), sql.read_resources(table)))
        .collect();
    // The tenancy tables ignore the context: the same answer in every one.
    asks.push((Ask::Tenancy(Object::Tenants), sql.read_tenants()));
    if shape.admins {
        asks.push((Ask::Tenancy(Object::PlatformAdmins), sql.read_admins()));
    }
    asks.push((Ask::Tenancy(Object::Memberships), sql.read_memberships()));
    if *context == Context::Empty {
        // The view, the audit trail and the functions take no context.
        if shape.shared_view {
            asks.push((Ask::SharedView, sql.read_shared_view()));
        }
        if shape.audit {
            asks.push((Ask::Audit, sql.read_audit()));
        }
        let targets = world
            .tenants
            .iter()
            .map(|t| t.id)
            .chain(std::iter::once(GHOST_TENANT));
        for tenant in targets {
            if shape.context {
                asks.push((Ask::SetContext(tenant), sql.set_context(tenant)));
            }
            if shape.lists {
                for table in shape.tables() {
                    asks.push((
                        Ask::Accessible(table, tenant),
                        sql.accessible(table, tenant),
                    ));
                }
            }
        }
    }
    for candidate in writes {
        asks.push((
            Ask::Write(candidate.op.clone()),
            sql.op(world, &candidate.op),
        ));
    }
    asks
}

/// The probes of one principal in one context, as statements ready to send.
pub struct Pair<'w> {
    sql: &'w Sql,
    world: &'w World,
    /// The objects the model does not name, and the world's rows of them.
    subjects: (&'w Subjects, &'w Population),
    /// The probes of those objects, sent after the model's own.
    subject_asks: Vec<(bound::Ask, String)>,
    who: Principal,
    /// The principal's identity as its requests make it: role, claims, the context
    /// header.
    entry: Request,
    /// Every probe, the model's and the subjects', as a request of its own.
    requests: Vec<Request>,
    context: Context,
    asks: Vec<(Ask, String)>,
    cells: Vec<Cell>,
    /// The messages of the pipeline that sends the requests (see
    /// [`actor::Pipeline`]).
    pub statements: Vec<actor::Message>,
}

/// Plans the probes of `who` (acting as `principal`) in `context`.
///
/// Everything for the pair can travel in one pipelined round trip, and the pairs of a
/// world one after another in the same pipeline: each pair starts with a savepoint
/// and ends by rolling back to it, each probe stands alone in a rolled-back savepoint
/// of its own, and no answer is judged unless both session checks show the
/// principal's role, with its claims and without any bypass of row security.
#[allow(clippy::too_many_arguments)]
pub fn plan_pair<'w>(
    api: &Api,
    sql: &'w Sql,
    world: &'w World,
    subjects: (&'w Subjects, &'w Population),
    budget: &mut bound::Budget,
    (who, identity): (Principal, Identity),
    context: Context,
    writes: Vec<Candidate>,
) -> Result<Pair<'w>> {
    let asks = plan(sql, world, &context, &writes);
    let subject_asks = bound::plan(
        &bound::Judge::new(
            Some(sql.profile()),
            subjects.0,
            subjects.1,
            world,
            who,
            context,
        ),
        budget,
    );
    let cells = writes.iter().map(|candidate| candidate.cell).collect();
    let header = context_value(&context);
    let request = |text: &str| {
        let request = Request::new(api, identity.clone(), text);
        match &header {
            Some(value) => request.in_context(api, value),
            None => request,
        }
    };
    let entry = request("select 1");
    let requests: Vec<Request> = asks
        .iter()
        .map(|(_, text)| text)
        .chain(subject_asks.iter().map(|(_, text)| text))
        .map(|text| request(text))
        .collect();
    let statements = actor::Pipeline::new(&entry, requests.iter().collect())?.statements(api);
    Ok(Pair {
        sql,
        world,
        subjects,
        subject_asks,
        who,
        entry,
        requests,
        context,
        asks,
        cells,
        statements,
    })
}

impl Pair<'_> {
    /// The cells of the operation space its write probes cover.
    pub fn cells(&self) -> impl Iterator<Item = Cell> + '_ {
        self.cells.iter().copied()
    }

    /// Judges the answers to [`Pair::statements`], in order: the number of checks,
    /// every disagreement with the model or a class bound, and where an object allows
    /// less than its class.
    pub fn judge(self, answers: Vec<std::result::Result<Rows, Failure>>) -> Result<Judged> {
        let mut answers =
            actor::Pipeline::new(&self.entry, self.requests.iter().collect())?.judge(answers)?;
        let checks = self.asks.len() as u64 + self.subject_asks.len() as u64;
        let subject_answers = answers.split_off(self.asks.len());
        // Calls of functions that write as their owner and answered: made again by the
        // owner, who reads what they wrote (see `bound::judge_writes_through_functions`).
        let calls = self
            .subject_asks
            .iter()
            .zip(&subject_answers)
            .zip(&self.requests[self.asks.len()..])
            .filter_map(|(((ask, _), answer), request)| match ask {
                bound::Ask::Guarded {
                    name,
                    object,
                    writes: true,
                } if answer.is_ok() => Some(bound::Call {
                    who: self.who,
                    context: self.context,
                    name: name.clone(),
                    object: object.clone(),
                    request: request.clone(),
                }),
                _ => None,
            })
            .collect();
        let mut objects = BTreeMap::new();
        for (ask, _) in &self.subject_asks {
            if let Some(object) = ask.object(self.subjects.0) {
                *objects.entry(object).or_default() += 1;
            }
        }
        let verdicts = bound::judge(
            &bound::Judge::new(
                Some(self.sql.profile()),
                self.subjects.0,
                self.subjects.1,
                self.world,
                self.who,
                self.context,
            ),
            self.subject_asks,
            subject_answers,
        );
        let mut found = verdicts.mismatches;
        let mut observed = verdicts.observed;
        // Rows of the objects the model does not name may point at the rows a write
        // removes or moves: a foreign key then refuses a write the model allows. That is
        // referential integrity, which the model does not speak of, not access.
        let fixture_rows = self.subjects.1.tables.iter().any(|rows| !rows.is_empty());
        // The write probes come last, one per cell, in order.
        let mut cells = self.cells.iter().peekable();
        let profile = self.sql.profile();
        let labels = self.sql.labels();
        for ((ask, sql), answer) in self.asks.into_iter().zip(answers) {
            if let Ask::Resources(table) = &ask {
                observed.extend(observe::reads(
                    self.world,
                    (&self.who, &self.context),
                    *table,
                    &answer,
                    (profile, &labels),
                ));
            }
            let kept_by_a_foreign_key = fixture_rows
                && matches!(ask, Ask::Write(_))
                && matches!(&answer, Err(failure) if failure.sqlstate == "23503");
            let verdict = if kept_by_a_foreign_key {
                None
            } else {
                judge(
                    self.sql,
                    self.world,
                    &self.who,
                    &self.context,
                    &ask,
                    &answer,
                )
            };
            if let (Ask::Write(op), Some(cell)) = (&ask, cells.peek()) {
                // The write probes come one per cell, in order.
                let who = Who::of(self.world, &self.who, self.world.tenant_of(op), profile);
                let key = Key::of(**cell, profile.label(cell.object), who);
                let outcome = observe::write_outcome(&answer, op.is_call());
                observed.push((
                    key,
                    (
                        outcome,
                        observe::Verdict::judged(outcome, verdict.is_some()),
                    ),
                ));
                cells.next();
            }
            if let Some((probe, invariant, expected, actual)) = verdict {
                found.push(Mismatch {
                    invariant,
                    who: self.who,
                    context: self.context,
                    probe,
                    sql,
                    expected,
                    actual,
                });
            }
        }
        Ok(Judged {
            checks,
            mismatches: found,
            stricter: verdicts.stricter,
            objects,
            observed,
            calls,
        })
    }
}

/// What one pair's answers showed.
pub struct Judged {
    pub checks: u64,
    pub mismatches: Vec<Mismatch>,
    pub stricter: BTreeSet<String>,
    /// Probes per object the model does not name.
    pub objects: BTreeMap<String, u64>,
    /// What every resource read and write probe got, agreeing with the model or not.
    pub observed: Vec<(Key, Seen)>,
    /// The successful calls of functions that write as their owner.
    pub calls: Vec<bound::Call>,
}

type Verdict = Option<(Probe, Invariant, String, String)>;

/// Compares one answer with the model; `None` when they agree.
fn judge(
    sql: &Sql,
    world: &World,
    who: &Principal,
    context: &Context,
    ask: &Ask,
    answer: &std::result::Result<Rows, Failure>,
) -> Verdict {
    let refusals = &sql.profile().refusals;
    // A forged or malformed context must grant nothing, and refusing the whole request
    // grants nothing: a pre-request function stricter than the model's (one that
    // rejects a tenant the caller may not name) keeps the contract.
    // (The answer first: the caller's rights are worked out only for a refusal.)
    if denied(answer, refusals) && context.is_forged_for(&world.rights(who)) {
        return None;
    }
    match ask {
        Ask::Resources(table) => {
            let expected = world.readable(who, context, *table);
            let object = Object::Resource(*table);
            if expected.is_empty() && denied(answer, refusals) {
                return None;
            }
            let Ok(rows) = answer else {
                return Some((
                    Probe::Read(object),
                    model::invariant_of_read(object, who),
                    describe_ids(world, &expected),
                    observed(answer),
                ));
            };
            let actual = ids(rows, 0);
            (actual != expected).then(|| {
                let differing = actual
                    .symmetric_difference(&expected)
                    .next()
                    .copied()
                    .unwrap_or_default();
                (
                    Probe::Read(object),
                    world.invariant_of_row(who, context, *table, differing),
                    describe_ids(world, &expected),
                    describe_ids(world, &actual),
                )
            })
        }
        Ask::Tenancy(table) => {
            let expected: BTreeSet<Id> = match *table {
                Object::Tenants => world.readable_tenants(who),
                Object::PlatformAdmins => world.readable_admins(who),
                _ => world
                    .readable_memberships(who)
                    .into_iter()
                    .map(|(user, tenant)| pair_id(user, tenant))
                    .collect(),
            };
            if expected.is_empty() && denied(answer, refusals) {
                return None;
            }
            let actual = match answer {
                Ok(rows) if *table == Object::Memberships => rows
                    .rows
                    .iter()
                    .filter_map(|row| {
                        let user = Uuid::parse_str(row.first()?.as_deref()?).ok()?;
                        let tenant = Uuid::parse_str(row.get(1)?.as_deref()?).ok()?;
                        Some(pair_id(user, tenant))
                    })
                    .collect(),
                Ok(rows) => ids(rows, 0),
                Err(_) => {
                    return Some((
                        Probe::Read(*table),
                        model::invariant_of_read(*table, who),
                        describe_ids(world, &expected),
                        observed(answer),
                    ))
                }
            };
            (actual != expected).then(|| {
                (
                    Probe::Read(*table),
                    model::invariant_of_read(*table, who),
                    describe_ids(world, &expected),
                    describe_ids(world, &actual),
                )
            })
        }
        // The view's rule is containment, an upper bound: a refusal or an empty answer
        // shows nothing the base tables hide (an implementation may not grant the view
        // at all). An answer with rows must be the model's: a view that misses the
        // world's new global rows is one its writes no longer refresh.
        Ask::SharedView => {
            match (world.shared_view(who), answer) {
                (Ok(_), _) if denied(answer, refusals) => return None,
                (Ok(_), Ok(actual)) if actual.rows.is_empty() => return None,
                (Err(outcome), _) if satisfies(&outcome, answer, false, refusals) => return None,
                _ => {}
            }
            let (expected, actual) = match (world.shared_view(who), answer) {
                (Ok(rows), Ok(actual)) => (
                    describe_ids(world, &rows.iter().map(|(_, id)| *id).collect()),
                    describe_ids(world, &ids(actual, 1)),
                ),
                (Ok(rows), Err(_)) => (
                    describe_ids(world, &rows.iter().map(|(_, id)| *id).collect()),
                    observed(answer),
                ),
                (Err(outcome), _) => (outcome.to_string(), observed(answer)),
            };
            (expected != actual).then(|| {
                (
                    Probe::Read(Object::SharedView),
                    model::invariant_of_read(Object::SharedView, who),
                    expected,
                    actual,
                )
            })
        }
        Ask::Audit => {
            let expected: Vec<String> = world
                .readable_audit(who)
                .iter()
                .map(|row| sql.audit_line(row))
                .collect();
            if expected.is_empty() && denied(answer, refusals) {
                return None;
            }
            let actual: Vec<String> = match answer {
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
                Err(_) => vec![observed(answer)],
            };
            (expected != actual).then(|| {
                let first = expected
                    .iter()
                    .zip(&actual)
                    .position(|(e, a)| e != a)
                    .unwrap_or(expected.len().min(actual.len()));
                (
                    Probe::Read(Object::Audit),
                    Invariant::AuditTrail,
                    format!(
                        "{} rows; row {first}: {}",
                        expected.len(),
                        expected.get(first).map_or("none", String::as_str)
                    ),
                    format!(
                        "{} rows; row {first}: {}",
                        actual.len(),
                        actual.get(first).map_or("none", String::as_str)
                    ),
                )
            })
        }
        Ask::SetContext(tenant) => {
            let outcome = world.set_context(who, *tenant);
            let expected = outcome.to_string();
            let actual = observed(answer);
            (!satisfies(&outcome, answer, true, refusals)).then(|| {
                (
                    Probe::SetContext(*tenant),
                    model::invariant_of_read(Object::SetContext, who),
                    expected,
                    actual,
                )
            })
        }
        Ask::Accessible(table, tenant) => {
            match (world.accessible(who, *table, *tenant), answer) {
                (Ok(ids), _) if ids.is_empty() && denied(answer, refusals) => return None,
                (Err(outcome), _) if satisfies(&outcome, answer, false, refusals) => return None,
                _ => {}
            }
            let (expected, actual) = match (world.accessible(who, *table, *tenant), answer) {
                (Ok(expected), Ok(rows)) => (
                    describe_ids(world, &expected),
                    describe_ids(world, &ids(rows, 0)),
                ),
                (Ok(expected), Err(_)) => (describe_ids(world, &expected), observed(answer)),
                (Err(outcome), _) => (outcome.to_string(), observed(answer)),
            };
            (expected != actual).then(|| {
                (
                    Probe::Accessible(*table, *tenant),
                    world.invariant_of_accessible(who, *tenant),
                    expected,
                    actual,
                )
            })
        }
        Ask::Write(op) => {
            let outcome = world.outcome(who, context, op);
            let expected = outcome.to_string();
            let actual = observed(answer);
            // A function call answers with one row whatever it does: only success counts.
            (!write_satisfies(who, &outcome, answer, op.is_call(), refusals)).then(|| {
                (
                    Probe::Write(op.clone()),
                    model::invariant_of_write(world, who, context, op),
                    expected,
                    actual,
                )
            })
        }
    }
}

/// Whether the database's answer keeps the access model's contract where the model
/// predicts `expected`. The contract names a refusal, not which check raises it: a
/// missing EXECUTE grant is as good a refusal as a guard's, a missing table grant as a
/// `WITH CHECK`, and a guard may raise any of the profile's `refusals` codes. A row
/// hidden by `USING` (`done, 0 rows`) and a refusal stay apart, since a `WITH CHECK`
/// or a trigger that refuses has seen the row; only a missing grant, which sees no row
/// at all, keeps a contract of "touches nothing". Counts and other SQLSTATEs stay exact. A
/// function call answers with one row whatever it did, so for a `call` any success is
/// success.
pub(super) fn satisfies(
    expected: &Outcome,
    answer: &std::result::Result<Rows, Failure>,
    call: bool,
    refusals: &[String],
) -> bool {
    match (expected, answer) {
        (Outcome::Done(n), Ok(rows)) => call || rows.affected == *n,
        (Outcome::Done(0), Err(failure)) => {
            !call && failure.denial() == Some(model::Denial::Privilege)
        }
        (Outcome::Denied(_), Err(failure)) => failure.refused(refusals),
        (Outcome::SqlState(code), Err(failure)) => failure.sqlstate == *code,
        _ => false,
    }
}

/// [`satisfies`] for a write by `who`. A caller with no identity (anon, claims without
/// `sub`) may do nothing at all: where the model refuses its write, any error keeps the
/// contract, whichever check of the schema stops it (a policy, or a NOT NULL owner
/// column that defaults to `auth.uid()`).
pub(super) fn write_satisfies(
    who: &Principal,
    expected: &Outcome,
    answer: &std::result::Result<Rows, Failure>,
    call: bool,
    refusals: &[String],
) -> bool {
    let anonymous = matches!(who, Principal::Anon | Principal::NoSub);
    satisfies(expected, answer, call, refusals)
        || (anonymous && matches!(expected, Outcome::Denied(_)) && answer.is_err())
}

/// Whether the answer is a refusal, which reads nothing: where the model says a read
/// sees no row, a refusal keeps the contract as well as an empty result.
fn denied(answer: &std::result::Result<Rows, Failure>, refusals: &[String]) -> bool {
    matches!(answer, Err(failure) if failure.refused(refusals))
}

/// An answer as the model writes outcomes, for reports.
pub(super) fn observed(result: &std::result::Result<Rows, Failure>) -> String {
    match result {
        Ok(rows) => Outcome::Done(rows.affected).to_string(),
        Err(failure) => match failure.denial() {
            Some(denial) => Outcome::Denied(denial).to_string(),
            None => failure.sqlstate.clone(),
        },
    }
}

fn ids(rows: &Rows, column: usize) -> BTreeSet<Id> {
    rows.rows
        .iter()
        .filter_map(|row| row.get(column).cloned().flatten())
        .filter_map(|text| Uuid::parse_str(&text).ok())
        .collect()
}

/// A stable id standing for a `(user, tenant)` membership, to compare sets of pairs.
fn pair_id(user: Id, tenant: Id) -> Id {
    Uuid::new_v5(&user, tenant.as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Denial;

    fn refused(sqlstate: &str, routine: &str) -> std::result::Result<Rows, Failure> {
        Err(Failure {
            sqlstate: sqlstate.into(),
            message: "refused".into(),
            routine: routine.into(),
            while_setting_context: false,
        })
    }

    fn done(affected: u64) -> std::result::Result<Rows, Failure> {
        Ok(Rows {
            affected,
            ..Rows::default()
        })
    }

    #[test]
    fn any_42501_keeps_a_contract_that_says_42501() {
        let guard = Outcome::Denied(Denial::Guard);
        // EXECUTE not granted: a privilege denial where the model expects the guard's.
        let codes = &["42501".to_owned()];
        assert!(satisfies(
            &guard,
            &refused("42501", "aclcheck_error"),
            true,
            codes
        ));
        assert!(satisfies(&guard, &refused("42501", ""), true, codes));
        assert!(!satisfies(&guard, &done(1), true, codes));
        assert!(!satisfies(&guard, &refused("22023", ""), true, codes));
        assert!(!satisfies(&guard, &refused("P0001", ""), true, codes));
    }

    /// A guard that raises (`P0001`) refuses where the profile says it may.
    #[test]
    fn a_profile_refusal_code_is_a_refusal() {
        let codes = &["42501".to_owned(), "P0001".to_owned()];
        let guard = Outcome::Denied(Denial::Guard);
        assert!(satisfies(&guard, &refused("P0001", ""), true, codes));
        assert!(denied(&refused("P0001", ""), codes));
        assert!(!denied(&refused("P0002", ""), codes));
    }

    #[test]
    fn a_refusal_and_a_row_hidden_by_using_stay_apart() {
        let codes = &["42501".to_owned(), "P0001".to_owned()];
        let hidden = Outcome::Done(0);
        assert!(satisfies(&hidden, &done(0), false, codes));
        // A WITH CHECK or a trigger that refuses has seen the row USING should hide.
        assert!(!satisfies(
            &hidden,
            &refused("42501", "ExecWithCheckOptions"),
            false,
            codes
        ));
        assert!(!satisfies(&hidden, &refused("P0001", ""), false, codes));
        // No grant on the table: no row is seen, and none is touched.
        assert!(satisfies(
            &hidden,
            &refused("42501", "aclcheck_error"),
            false,
            codes
        ));
        assert!(!satisfies(
            &Outcome::Denied(Denial::Policy),
            &done(0),
            false,
            codes
        ));
        assert!(!satisfies(&Outcome::Done(2), &done(1), false, codes));
        // A function call answers with one row whatever it did.
        assert!(satisfies(&Outcome::Done(1), &done(3), true, codes));
    }

    #[test]
    fn a_refusal_reads_nothing() {
        let codes = &["42501".to_owned()];
        assert!(denied(&refused("42501", "aclcheck_error"), codes));
        assert!(!denied(&refused("22P02", ""), codes));
        assert!(!denied(&done(0), codes));
    }
}
