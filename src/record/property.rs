//! Property runs as the record keeps them: the run's figures, its failure in words
//! (with the principal described, the policy blamed and where the counterexample is),
//! the write coverage as a table of counts per cell, the probes per object beyond the
//! model, and the access matrix's observations.

use serde::Serialize;

use super::{Item, Kind, Observation, Outcome, Place};
use crate::blame::Blame;
use crate::catalog::Catalog;
use crate::model::{Context, Principal, World};
use crate::property::{
    coverage_gaps, possible_pairs, required_cells, ContextKind, CoverageActor, Labels, Mismatch,
    Observed, Probe, PropertyReport, OTHER_ACTORS,
};

/// A property run: which kind, what it did, and for a failure the policy that admitted
/// it.
#[derive(Debug, Clone)]
pub struct PropertyRun {
    /// `worlds` or `sequences`.
    pub unit: &'static str,
    pub report: PropertyReport,
    pub blame: Option<Blame>,
}

/// A property run in words and figures.
#[derive(Debug, Clone, Serialize)]
pub struct PropertyRecord {
    pub unit: String,
    pub cases: u64,
    pub checks: u64,
    /// The queries the probes sent, and how many of them as prepared statements.
    pub statements: u64,
    pub prepared: u64,
    pub seconds: f64,
    pub seed: u64,
    pub failure: Option<FailureRecord>,
    /// Probes per object beyond the model.
    pub objects: Vec<(String, u64)>,
    /// Where such an object allows less than its class (reported, never failed).
    pub stricter: Vec<String>,
}

/// A disagreement between the database and the model, in words.
#[derive(Debug, Clone, Serialize)]
pub struct FailureRecord {
    pub invariant: String,
    /// The principal, its roles and context: `u0, admin of t1, in context t1`.
    pub who: String,
    pub sql: String,
    pub expected: String,
    pub got: String,
    /// Which policy admitted it, in words.
    pub blame: Option<String>,
    /// The shrunk world: tenants, users, resources; and how many disagreements it has.
    pub world: (usize, usize, usize),
    pub mismatches: usize,
    /// Where the counterexample was written, or its text when it could not be.
    pub counterexample: Option<std::path::PathBuf>,
    pub scenario: Option<String>,
}

/// The write coverage of plain users, object by object: per operation and kind of
/// row, the probes per context (none/own/out-of-context/forged, `-` where that context
/// cannot occur); the cells no probe reached; the pairs the other principals tried.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoverageRecord {
    pub required: usize,
    pub reached: usize,
    pub probes: u64,
    pub objects: Vec<CoverageObject>,
    /// The cells no world reached, each in words.
    pub empty: Vec<String>,
    pub others: Vec<OtherActor>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverageObject {
    pub name: String,
    pub kinds: Vec<String>,
    pub ops: Vec<CoverageOp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverageOp {
    pub name: String,
    /// Per kind of row, `a/b/c/d` probes per context, or `None` where the kind does not
    /// apply.
    pub cells: Vec<Option<String>>,
}

/// How many object-operation pairs a class of principal tried of those it could.
#[derive(Debug, Clone, Serialize)]
pub struct OtherActor {
    pub name: String,
    pub tried: usize,
    pub possible: usize,
    pub missing: Vec<String>,
}

/// The record of one property run.
pub fn property_record(run: &PropertyRun) -> PropertyRecord {
    let report = &run.report;
    PropertyRecord {
        unit: run.unit.to_owned(),
        cases: report.worlds,
        checks: report.checks,
        statements: report.statements,
        prepared: report.prepared,
        seconds: report.duration.as_secs_f64(),
        seed: report.seed,
        failure: report.failure.as_ref().map(|found| {
            let mut failure = first_failure(&found.mismatch, &found.world, &report.labels);
            failure.blame = run.blame.as_ref().map(ToString::to_string);
            failure.world = (
                found.world.tenants.len(),
                found.world.users.len(),
                found.world.resources.len(),
            );
            failure.mismatches = found.mismatches.len();
            failure.counterexample = found.path.clone();
            failure.scenario = found.path.is_none().then(|| found.file());
            failure
        }),
        objects: report
            .objects
            .iter()
            .map(|(o, n)| (o.clone(), *n))
            .collect(),
        stricter: report.stricter.iter().cloned().collect(),
    }
}

/// A disagreement found in `world`, before any shrinking: the verdict is known, the
/// smallest world comes later.
pub fn first_failure(mismatch: &Mismatch, world: &World, labels: &Labels) -> FailureRecord {
    FailureRecord {
        invariant: mismatch.invariant.to_string(),
        who: describe(labels, world, &mismatch.who, &mismatch.context),
        sql: mismatch.sql.clone(),
        expected: mismatch.expected.clone(),
        got: mismatch.actual.clone(),
        blame: None,
        world: (
            world.tenants.len(),
            world.users.len(),
            world.resources.len(),
        ),
        mismatches: 1,
        counterexample: None,
        scenario: None,
    }
}

/// A principal of a generated world, named as its counterexample file names it: `u0,
/// admin of t1, member of t2, in context t1`.
fn describe(labels: &Labels, world: &World, who: &Principal, context: &Context) -> String {
    let slug = |id: &uuid::Uuid| {
        world
            .tenant(*id)
            .map_or_else(|| id.to_string(), |t| t.slug.clone())
    };
    let mut text = match who {
        Principal::User(id) => match world.user(*id) {
            Some(user) => {
                let mut roles: Vec<String> = user
                    .memberships
                    .iter()
                    .map(|(tenant, role)| format!("{} of {}", labels.role(*role), slug(tenant)))
                    .collect();
                if user.admin {
                    roles.insert(0, "platform admin".into());
                }
                if roles.is_empty() {
                    roles.push("in no tenant".into());
                }
                format!("{}, {}", user.name, roles.join(", "))
            }
            None => format!("user {id} (no row in auth.users)"),
        },
        Principal::NoSub => "nosub (claims without sub)".into(),
        other => other.to_string(),
    };
    text.push_str(&match context {
        Context::Empty => ", no context".to_owned(),
        Context::Malformed => ", a malformed context header".to_owned(),
        Context::Tenant(tenant) => format!(", in context {}", slug(tenant)),
    });
    text
}

/// The write coverage of property runs, their counts added up.
pub fn coverage(reports: &[&PropertyReport]) -> CoverageRecord {
    let Some(last) = reports.last() else {
        return CoverageRecord::default();
    };
    let mut coverage = crate::property::Coverage::new();
    for report in reports {
        for (cell, count) in &report.coverage {
            *coverage.entry(*cell).or_default() += count;
        }
    }
    let (coverage, labels) = (&coverage, &last.labels);
    let shape = &labels.shape;
    let required = required_cells(shape);
    let gaps = coverage_gaps(shape, coverage);
    let count = |cell: &crate::property::Cell| coverage.get(cell).copied().unwrap_or(0);
    let objects = shape
        .write_objects()
        .into_iter()
        .map(|object| {
            let cells: Vec<_> = required.iter().filter(|c| c.object == object).collect();
            let mut kinds: Vec<_> = cells.iter().map(|c| c.kind).collect();
            kinds.sort();
            kinds.dedup();
            let mut ops: Vec<_> = cells.iter().map(|c| c.op).collect();
            ops.sort();
            ops.dedup();
            CoverageObject {
                name: labels.object(object).to_owned(),
                kinds: kinds.iter().map(|k| k.name().to_owned()).collect(),
                ops: ops
                    .into_iter()
                    .map(|op| CoverageOp {
                        name: op.name().to_owned(),
                        cells: kinds
                            .iter()
                            .map(|kind| {
                                let applies = cells.iter().any(|c| c.op == op && c.kind == *kind);
                                applies.then(|| {
                                    ContextKind::ALL
                                        .iter()
                                        .map(|context| {
                                            cells
                                                .iter()
                                                .find(|c| {
                                                    c.op == op
                                                        && c.kind == *kind
                                                        && c.context == *context
                                                })
                                                .map_or_else(
                                                    || "-".to_owned(),
                                                    |cell| count(cell).to_string(),
                                                )
                                        })
                                        .collect::<Vec<_>>()
                                        .join("/")
                                })
                            })
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    let others = OTHER_ACTORS
        .iter()
        .filter(|actor| **actor != CoverageActor::PlatformAdmin || shape.admins)
        .map(|actor| {
            let possible = possible_pairs(shape, *actor).len();
            let missing: Vec<String> = gaps
                .pairs
                .iter()
                .filter(|(a, _, _)| a == actor)
                .map(|(_, object, op)| format!("{} {}", labels.object(*object), op.name()))
                .collect();
            OtherActor {
                name: actor.name().to_owned(),
                tried: possible - missing.len(),
                possible,
                missing,
            }
        })
        .collect();
    CoverageRecord {
        required: required.len(),
        reached: required.len() - gaps.cells.len(),
        probes: coverage.values().sum(),
        objects,
        empty: gaps
            .cells
            .iter()
            .map(|cell| {
                format!(
                    "{} {} {} row, context {}",
                    labels.object(cell.object),
                    cell.op.name(),
                    cell.kind.name(),
                    cell.context.name()
                )
            })
            .collect(),
        others,
    }
}

/// The access matrix's cells as the record keeps them.
pub(super) fn observations(observed: &Observed) -> Vec<Observation> {
    observed
        .iter()
        .map(|(key, seen)| Observation {
            object: key.object.clone(),
            operation: key.op.to_owned(),
            row: key.kind.to_owned(),
            context: key.context.name().to_owned(),
            principal: key.who.name.clone(),
            rank: key.who.rank,
            beyond_model: key.beyond_model,
            outcomes: crate::property::outcomes(seen)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            verdict: Some(crate::property::cell_verdict(seen).name().to_owned()),
        })
        .collect()
}

/// A property run as one check: its failure located at the policy that admitted it,
/// else at the statement that created the object the failing probe acted on (so a pull
/// request shows it on that line), else at the counterexample file.
pub(super) fn property_item(run: &PropertyRun, catalog: &Catalog) -> Item {
    let (unit, property) = (run.unit, &run.report);
    // Named by what it checks alone, so that a dashboard's history follows it from run
    // to run (how many worlds ran, and the seed, are in the record's `properties`).
    let name = format!("generated {unit} against the access model");
    let mut entry = Item::new(Kind::Property, "properties", name, Outcome::Passed);
    entry.duration_ms = Some(property.duration.as_secs_f64() * 1000.0);
    let Some(found) = &property.failure else {
        return entry;
    };
    let mismatch = &found.mismatch;
    let blamed = run.blame.as_ref().and_then(|blame| {
        blame.location().map(|at| Place {
            file: at.file.clone(),
            line: at.line,
        })
    });
    entry.outcome = Outcome::Failed;
    if let (Some(blame), Some(_)) = (&run.blame, &blamed) {
        entry.tables = vec![blame.table.clone()];
    }
    entry.location = blamed
        .or_else(|| object_origin(mismatch, catalog))
        .or_else(|| {
            found.path.as_ref().map(|path| Place {
                file: path.clone(),
                line: 1,
            })
        });
    entry.rule = Some(mismatch.invariant.name().to_owned());
    entry.message = Some(match &run.blame {
        Some(blame) => format!("{}: {blame}", mismatch.invariant),
        None => format!(
            "{}: {} expected {}, got {}",
            mismatch.invariant,
            mismatch.sql.lines().next().unwrap_or_default(),
            mismatch.expected,
            mismatch.actual
        ),
    });
    let mut detail = format!(
        "sql: {}\nexpected {}\ngot      {}",
        mismatch.sql, mismatch.expected, mismatch.actual
    );
    if let Some(blame) = &run.blame {
        detail.push_str(&format!("\n{blame}"));
    }
    if let Some(path) = &found.path {
        detail.push_str(&format!("\ncounterexample: {}", path.display()));
    }
    entry.detail = Some(detail);
    entry
}

/// Where the object a mismatch acted on was created: named by the probe, or the
/// longest relation name its SQL mentions.
fn object_origin(mismatch: &Mismatch, catalog: &Catalog) -> Option<Place> {
    let origin = |history: &crate::origin::History| {
        history.origin().map(|at| Place {
            file: at.file.clone(),
            line: at.line,
        })
    };
    if let Probe::Subject { object, .. } = &mismatch.probe {
        if let Some(relation) = catalog.relation(object) {
            return origin(&relation.history);
        }
        let function = object.split('(').next().unwrap_or(object);
        if let Some(found) = catalog
            .functions
            .iter()
            .find(|f| format!("{}.{}", f.schema, f.name) == function)
        {
            return origin(&found.history);
        }
    }
    let sql = mismatch.sql.to_ascii_lowercase();
    catalog
        .relations
        .iter()
        .filter(|relation| super::build::mentions(&sql, &relation.name))
        .max_by_key(|relation| relation.name.len())
        .and_then(|relation| origin(&relation.history))
}
