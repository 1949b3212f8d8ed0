//! One record of a `check` run, the run's only result: every check once, with its kind,
//! verdict, rule (invariant or lint) and the line a person can open, and what a person
//! reads beside the checks (migrations and their notices, the survey of exposed
//! objects, the property runs' figures, coverage and failures, the phases' times). The
//! terminal report, JSON, JUnit, SARIF and GitHub Actions outputs are all formatters of
//! it (`crate::report`), so they always agree; the verdict and the totals are computed
//! once, here, when the record is built (`build`).
//!
//! The JSON form is stable: fields are only ever added. Its shape is documented in
//! README.md ("Use it in CI").

use std::path::PathBuf;

use serde::Serialize;

mod build;
mod property;

pub use build::{head, scenario_items, scenario_record, survey, Run, ScenarioFailure};
pub use property::{
    coverage, first_failure, property_record, CoverageObject, CoverageOp, CoverageRecord,
    FailureRecord, OtherActor, PropertyRecord, PropertyRun,
};

/// The record's format version, raised only when a field changes meaning.
pub const RECORD_VERSION: u32 = 2;

/// Everything a `check` run found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Record {
    pub version: u32,
    /// Whether the gate passed: exit code 0.
    pub passed: bool,
    pub backend: String,
    /// What the backend says about itself (which server, why it was picked).
    pub notes: Vec<String>,
    pub items: Vec<Item>,
    /// Every check counted once, by verdict and by kind.
    pub totals: Totals,
    pub migrations: Vec<MigrationRecord>,
    /// The scenario files that ran, each with its steps' count and time; their steps
    /// are items.
    pub scenarios: Vec<ScenarioRecord>,
    /// The exposed objects and their classes; `None` when the run was focused on some
    /// scenario files. Lint findings are items.
    pub survey: Option<SurveyRecord>,
    pub properties: Vec<PropertyRecord>,
    /// The write coverage of the property runs together; `None` without one.
    pub coverage: Option<CoverageRecord>,
    /// How long each phase took.
    pub phases: Vec<Phase>,
    /// What the property worlds' probes observed, agreeing with the model or not: the
    /// access matrix's cells (`rls-harness matrix` renders them).
    pub observations: Vec<Observation>,
    /// Why the run stopped before a verdict (exit 2); `None` when it reached one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// One cell of the access matrix: what a class of principal got when it tried an
/// operation on a kind of row in a kind of context.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Observation {
    pub object: String,
    pub operation: String,
    pub row: String,
    pub context: String,
    /// The principal as a reviewer names it: a plain user by its role in the row's
    /// tenant (`outsider` without one), else `platform admin`, `anon`, `claims without
    /// sub`, or `user` for objects beyond the model.
    pub principal: String,
    /// Where the principal's row goes in the matrix: roles from the fewest rights up.
    #[serde(skip)]
    pub rank: u8,
    /// Judged against the class of an object the model does not name.
    pub beyond_model: bool,
    pub outcomes: Vec<String>,
    /// How the cell stands against the model (`as the model says`, `wider than the
    /// model`, `narrower than the model`, `stricter than its class`): the furthest any
    /// of its outcomes departs. `None` in a diff, which compares outcomes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

/// A cell of the access matrix that a migration change altered.
#[derive(Debug, Clone, Serialize)]
pub struct CellChange {
    /// The cell (its `outcomes` empty): object, operation, row, context, principal.
    pub cell: Observation,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// Whether the head grants what the base did not.
    pub widens: bool,
}

/// Whether an observed outcome grants something (a write allowed, a row seen): what a
/// widening is made of.
pub fn grants(outcome: &str) -> bool {
    crate::property::grants(outcome)
}

/// The matrix of what property runs observed, as the record keeps it.
pub fn observed(observed: &crate::property::Observed) -> Vec<Observation> {
    property::observations(observed)
}

/// The cells that changed between two observed matrices, widenings first.
pub fn changes(
    base: &crate::property::Observed,
    head: &crate::property::Observed,
) -> Vec<CellChange> {
    crate::property::diff_observed(base, head)
        .into_iter()
        .map(|change| CellChange {
            widens: change.widens(),
            cell: Observation {
                object: change.key.object.clone(),
                operation: change.key.op.to_owned(),
                row: change.key.kind.to_owned(),
                context: change.key.context.name().to_owned(),
                principal: change.key.who.name.clone(),
                rank: change.key.who.rank,
                beyond_model: change.key.beyond_model,
                outcomes: Vec::new(),
                verdict: None,
            },
            before: change.before.iter().map(|o| (*o).to_owned()).collect(),
            after: change.after.iter().map(|o| (*o).to_owned()).collect(),
        })
        .collect()
}

/// One check: a migration applied, a scenario step, a scenario file that could not run,
/// a lint finding, or a property run.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub kind: Kind,
    /// What groups it: `migrations`, `lints`, `properties`, or the scenario's path.
    pub group: String,
    pub name: String,
    pub outcome: Outcome,
    /// The invariant or lint it checks, when it has one.
    pub rule: Option<String>,
    /// The line to open: the migration statement, the scenario step, or for a property
    /// failure the statement that created the object it probed.
    pub location: Option<Place>,
    /// A one-line title of what went wrong; `None` when it passed.
    pub message: Option<String>,
    /// The whole explanation: SQL, expected and actual, where the counterexample is.
    pub detail: Option<String>,
    /// How long it took, where it was timed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// For a scenario step: who sent it, what it expected and got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<StepDetail>,
    /// The tables a failing check is about: those a failing step's SQL reads or
    /// writes, or the table whose policy a property failure was blamed on. A root
    /// cause gathers the failing steps on its table (`report::ci`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// For a lint finding: its level, object and remedy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lint: Option<LintDetail>,
}

impl Item {
    /// An item with nothing but its kind, place in the report and outcome; the builders
    /// add the rest.
    pub(crate) fn new(
        kind: Kind,
        group: impl Into<String>,
        name: impl Into<String>,
        outcome: Outcome,
    ) -> Item {
        Item {
            kind,
            group: group.into(),
            name: name.into(),
            outcome,
            rule: None,
            location: None,
            message: None,
            detail: None,
            duration_ms: None,
            step: None,
            lint: None,
            tables: Vec::new(),
        }
    }
}

/// What a scenario step did, in words.
#[derive(Debug, Clone, Serialize)]
pub struct StepDetail {
    /// Who acted, with the tenant context: `user mo @ digital-health-startup`.
    pub who: String,
    /// The step's SQL as the file writes it.
    pub sql: String,
    pub expects: String,
    /// Who re-ran it as its positive control, or why nobody did.
    pub control: Option<String>,
    pub got: String,
    /// For a step that did not pass: expected and actual as text (tables for rows),
    /// and what to do about it, or why it was unreliable or refused.
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub note: Option<String>,
    /// Why no client of the API can send the step's request, if none can: what it
    /// proves holds for SQL the API never runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<String>,
}

/// A lint finding's own words.
#[derive(Debug, Clone, Serialize)]
pub struct LintDetail {
    /// `error`, `warn` or `info`.
    pub level: String,
    pub object: String,
    /// What to do about it; `None` when the config allows it.
    pub remedy: Option<String>,
    /// Why the config allows it, if it does.
    pub allowed: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Migration,
    Step,
    Scenario,
    Lint,
    Property,
    /// The run itself, when it stopped before a verdict (exit 2).
    Run,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    /// A negative step whose control got nothing either.
    Unreliable,
    /// A step the harness refused to run (it would have bypassed RLS).
    Refused,
    /// The check could not run (a malformed file, a failing fixture).
    Error,
    /// A lint finding below error level, or allowed by the config.
    Warning,
}

impl Outcome {
    /// Whether it fails the gate.
    pub fn fails(self) -> bool {
        !matches!(self, Outcome::Passed | Outcome::Warning)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Every check counted once: by verdict (which add up to `checks`), and by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub checks: usize,
    pub passed: usize,
    pub failed: usize,
    pub unreliable: usize,
    pub refused: usize,
    pub steps: usize,
    pub scenario_files: usize,
    pub malformed_files: usize,
    /// Scenario files that could not run (their fixtures or users failed).
    pub errored_files: usize,
    /// `(unit, cases)` of each property run: `("worlds", 16)`.
    pub property_runs: Vec<(String, u64)>,
    /// Lint findings that fail the gate; `None` when the lints did not run (focused).
    pub failing_lints: Option<usize>,
    pub migrations: usize,
}

/// A migration file as it applied.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationRecord {
    pub file: String,
    pub duration_ms: f64,
    /// Its NOTICEs and WARNINGs, `(severity, message)`.
    pub notices: Vec<(String, String)>,
}

/// A scenario file that ran.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioRecord {
    pub path: PathBuf,
    pub steps: usize,
    pub duration_ms: f64,
}

/// The objects the API roles reach, as the survey classed them.
#[derive(Debug, Clone, Serialize)]
pub struct SurveyRecord {
    pub objects: Vec<ObjectRecord>,
}

/// An exposed object, its class and what checks it.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectRecord {
    /// `table`, `view`, `function`, ...
    pub kind: String,
    pub name: String,
    /// `None` for an object that fits no class and is declared nowhere.
    pub class: Option<String>,
    /// How the class was found: recognised, declared, named by the profile.
    pub source: Option<String>,
    pub checked_by: String,
}

/// One phase of the run and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub duration_ms: f64,
}

impl Totals {
    /// The totals of `items`, with the other counts the caller knows.
    fn of(items: &[Item]) -> Totals {
        let mut totals = Totals::default();
        for item in items {
            let counted = match item.kind {
                Kind::Step => {
                    totals.steps += 1;
                    true
                }
                Kind::Scenario | Kind::Property => true,
                Kind::Migration | Kind::Lint | Kind::Run => false,
            };
            if !counted {
                continue;
            }
            totals.checks += 1;
            match item.outcome {
                Outcome::Passed | Outcome::Warning => totals.passed += 1,
                Outcome::Unreliable => totals.unreliable += 1,
                Outcome::Refused => totals.refused += 1,
                Outcome::Failed | Outcome::Error => totals.failed += 1,
            }
        }
        totals
    }
}

impl Record {
    /// Whether every check passed and no lint fails: computed once, from the items.
    fn verdict(items: &[Item]) -> bool {
        items.iter().all(|item| !item.outcome.fails())
    }

    /// The exit code the verdict means: 2 when the run stopped before one.
    pub fn exit_code(&self) -> u8 {
        if self.stopped.is_some() {
            2
        } else {
            u8::from(!self.passed)
        }
    }

    /// The record of a `lint` run: the survey of the exposed objects and the lint
    /// findings, whose verdict is the run's.
    pub fn lint(backend: &str, survey: SurveyRecord, findings: Vec<Item>) -> Record {
        let mut totals = Totals::of(&findings);
        totals.failing_lints = Some(findings.iter().filter(|i| i.outcome.fails()).count());
        Record {
            version: RECORD_VERSION,
            passed: Record::verdict(&findings),
            backend: backend.to_owned(),
            totals,
            items: findings,
            survey: Some(survey),
            ..Record::default()
        }
    }

    /// Whether the run reached a verdict.
    pub fn completed(&self) -> bool {
        self.stopped.is_none()
    }

    /// The record of a run that `error` stopped before a verdict, so that every report
    /// a CI job asked for still says why, at the error's file and line where it has
    /// one: the failing migration statement, or each mistake of a malformed file.
    pub fn stopped(backend: &str, error: &crate::Error) -> Record {
        let mut items = Vec::new();
        match error {
            crate::Error::Migration { file, line, .. } => {
                let mut item = Item::new(
                    Kind::Migration,
                    "migrations",
                    file.display().to_string(),
                    Outcome::Error,
                );
                item.location = Some(Place {
                    file: file.clone(),
                    line: *line,
                });
                item.message = Some(error.to_string());
                items.push(item);
            }
            crate::Error::Files(errors) => {
                for located in errors {
                    let group = located.file.display().to_string();
                    let mut item = Item::new(Kind::Scenario, group.clone(), group, Outcome::Error);
                    item.location = Some(Place {
                        file: located.file.clone(),
                        line: located.line,
                    });
                    item.message = Some(located.to_string());
                    items.push(item);
                }
            }
            _ => {}
        }
        if items.is_empty() {
            let mut item = Item::new(Kind::Run, "run", "the run", Outcome::Error);
            item.message = Some(error.to_string());
            items.push(item);
        }
        Record {
            version: RECORD_VERSION,
            passed: false,
            backend: backend.to_owned(),
            totals: Totals::of(&items),
            items,
            stopped: Some(error.to_string()),
            ..Record::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: Kind, outcome: Outcome) -> Item {
        Item::new(kind, "", "", outcome)
    }

    /// A stopped run's record fails with exit 2 and places each mistake of a file at
    /// its line, or, for an error without a place, holds one item for the run.
    #[test]
    fn a_stopped_run_is_recorded_at_its_errors_lines() {
        let mistakes = crate::Error::Files(vec![crate::located::FileError {
            file: "rls-harness.toml".into(),
            line: 4,
            column: 1,
            message: "unknown key \"grnats\"".into(),
        }]);
        let record = Record::stopped("none", &mistakes);
        assert_eq!((record.passed, record.exit_code()), (false, 2));
        assert_eq!(
            record.items[0].location,
            Some(Place {
                file: "rls-harness.toml".into(),
                line: 4
            })
        );
        let no_server = Record::stopped("none", &crate::Error::NoBackend("no docker".into()));
        assert_eq!(no_server.items.len(), 1);
        assert_eq!(
            (no_server.items[0].kind, no_server.items[0].location.clone()),
            (Kind::Run, None)
        );
        assert!(no_server.stopped.unwrap().contains("no docker"));
    }

    #[test]
    fn warnings_pass_and_errors_fail() {
        assert!(!Outcome::Warning.fails() && !Outcome::Passed.fails());
        assert!(Outcome::Error.fails() && Outcome::Unreliable.fails());
    }

    /// Every check is counted once, by one verdict; migrations and lints are not
    /// checks of their own, but a failing lint fails the gate.
    #[test]
    fn totals_add_up_and_the_verdict_follows_every_item() {
        let items = vec![
            item(Kind::Migration, Outcome::Passed),
            item(Kind::Step, Outcome::Passed),
            item(Kind::Step, Outcome::Unreliable),
            item(Kind::Step, Outcome::Refused),
            item(Kind::Scenario, Outcome::Error),
            item(Kind::Property, Outcome::Failed),
            item(Kind::Lint, Outcome::Warning),
        ];
        let totals = Totals::of(&items);
        assert_eq!(
            (totals.checks, totals.passed, totals.failed),
            (5, 1, 2),
            "{totals:?}"
        );
        assert_eq!((totals.unreliable, totals.refused, totals.steps), (1, 1, 3));
        assert_eq!(
            totals.checks,
            totals.passed + totals.failed + totals.unreliable + totals.refused
        );
        assert!(!Record::verdict(&items));
        let lint = [item(Kind::Lint, Outcome::Failed)];
        assert!(!Record::verdict(&lint) && Totals::of(&lint).checks == 0);
        assert!(Record::verdict(&[item(Kind::Lint, Outcome::Warning)]));
    }
}
