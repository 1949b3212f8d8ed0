//! A run's parts made into its record: each migration, lint finding, scenario file and
//! step, and property run becomes one item, in that order; the survey's objects, the
//! phases and the matrix's observations come along; the totals and the verdict are
//! counted once from the items.

use std::path::PathBuf;
use std::time::Duration;

use super::{
    property_record, Item, Kind, LintDetail, MigrationRecord, ObjectRecord, Observation, Outcome,
    Phase, Place, PropertyRun, Record, ScenarioRecord, StepDetail, SurveyRecord, Totals,
    RECORD_VERSION,
};
use crate::catalog::Object;
use crate::class::{Class, Classified};
use crate::harness::{StartTimings, Template};
use crate::lint::{Finding, Survey};
use crate::rule::Level;
use crate::scenario::{ScenarioError, ScenarioReport, StepReport, Verdict};

/// A scenario file that could not run (its fixtures or users failed), with the whole
/// located error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioFailure {
    pub path: PathBuf,
    pub message: String,
}

/// Everything a `check` run did, as its parts came.
pub struct Run<'a> {
    pub backend: String,
    pub notes: Vec<String>,
    pub timings: StartTimings,
    pub template: &'a Template,
    /// `None` when the run was focused on some scenario files.
    pub survey: Option<&'a Survey<'a>>,
    pub scenarios: &'a [ScenarioReport],
    pub malformed: &'a [ScenarioError],
    pub errored: &'a [ScenarioFailure],
    pub properties: &'a [PropertyRun],
    /// Property runs that could not run, and why.
    pub not_run: &'a [(&'static str, String)],
    /// The scenarios and the properties.
    pub checks_time: Duration,
    pub total_time: Duration,
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

impl Run<'_> {
    /// The run as one record.
    pub fn record(&self) -> Record {
        let mut items = Vec::new();
        for applied in &self.template.applied {
            let mut migration = Item::new(
                Kind::Migration,
                "migrations",
                applied.migration.file_name(),
                Outcome::Passed,
            );
            migration.location = Some(Place {
                file: applied.migration.path.clone(),
                line: 1,
            });
            migration.duration_ms = Some(ms(applied.duration));
            items.push(migration);
        }
        if let Some(survey) = self.survey {
            items.extend(survey.findings.iter().map(lint_item));
        }
        for error in self.malformed {
            let mut broken = Item::new(
                Kind::Scenario,
                error.file.display().to_string(),
                "the file",
                Outcome::Error,
            );
            broken.location = Some(Place {
                file: error.file.clone(),
                line: error.line,
            });
            broken.message = Some(error.to_string());
            items.push(broken);
        }
        for failure in self.errored {
            let mut broken = Item::new(
                Kind::Scenario,
                failure.path.display().to_string(),
                "the scenario could not run",
                Outcome::Error,
            );
            broken.location = error_place(&failure.message).or(Some(Place {
                file: failure.path.clone(),
                line: 1,
            }));
            broken.message = Some(failure.message.clone());
            items.push(broken);
        }
        for scenario in self.scenarios {
            for step in &scenario.steps {
                items.push(step_item(&scenario.scenario.path, step));
            }
        }
        let catalog = &self.template.catalog;
        for run in self.properties {
            items.push(super::property::property_item(run, catalog));
        }
        for (unit, why) in self.not_run {
            let mut broken = Item::new(Kind::Property, "properties", *unit, Outcome::Error);
            broken.message = Some(why.clone());
            items.push(broken);
        }
        let mut totals = Totals::of(&items);
        totals.scenario_files = self.scenarios.len();
        totals.malformed_files = self.malformed.len();
        totals.errored_files = self.errored.len();
        totals.property_runs = self
            .properties
            .iter()
            .map(|run| (run.unit.to_owned(), run.report.worlds))
            .collect();
        totals.failing_lints = self
            .survey
            .map(|survey| survey.findings.iter().filter(|f| f.fails()).count());
        totals.migrations = self.template.applied.len();
        Record {
            version: RECORD_VERSION,
            passed: Record::verdict(&items),
            backend: self.backend.clone(),
            notes: self.notes.clone(),
            totals,
            migrations: self.migrations(),
            scenarios: self.scenarios.iter().map(scenario_record).collect(),
            survey: self
                .survey
                .map(|survey| survey_record(survey, self.scenarios)),
            properties: self.properties.iter().map(property_record).collect(),
            coverage: (!self.properties.is_empty()).then(|| {
                let reports: Vec<_> = self.properties.iter().map(|run| &run.report).collect();
                super::coverage(&reports)
            }),
            phases: [
                ("backend start", self.timings.backend),
                ("supabase shim", self.timings.shim),
                ("migrations", self.template.migrate_time),
                ("checks", self.checks_time),
                ("total", self.total_time),
            ]
            .into_iter()
            .map(|(name, duration)| Phase {
                name: name.into(),
                duration_ms: ms(duration),
            })
            .collect(),
            observations: observations(self.properties),
            stopped: None,
            items,
        }
    }

    fn migrations(&self) -> Vec<MigrationRecord> {
        migration_records(self.template)
    }
}

/// What the record keeps of each applied migration.
fn migration_records(template: &Template) -> Vec<MigrationRecord> {
    {
        template
            .applied
            .iter()
            .map(|applied| MigrationRecord {
                file: applied.migration.file_name(),
                duration_ms: ms(applied.duration),
                // IF [NOT] EXISTS chatter ("..., skipping") is the server's, not the
                // migration's.
                notices: applied
                    .notices
                    .iter()
                    .filter(|n| !n.message.ends_with(", skipping"))
                    .map(|n| (n.severity.clone(), n.message.clone()))
                    .collect(),
            })
            .collect()
    }
}

fn lint_item(finding: &Finding) -> Item {
    let outcome = if finding.fails() {
        Outcome::Failed
    } else {
        Outcome::Warning
    };
    let mut lint = Item::new(
        Kind::Lint,
        "lints",
        format!("{} {}", finding.lint.name(), finding.object),
        outcome,
    );
    lint.location = finding.location.as_ref().map(|at| Place {
        file: at.file.clone(),
        line: at.line,
    });
    lint.rule = Some(finding.lint.name().to_owned());
    lint.message = Some(finding.message.clone());
    lint.detail = finding
        .allowed
        .as_ref()
        .map(|reason| format!("allowed by rls-harness.toml: {reason}"));
    lint.lint = Some(LintDetail {
        level: match finding.level {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
        }
        .into(),
        object: finding.object.clone(),
        remedy: finding
            .allowed
            .is_none()
            .then(|| finding.lint.remedy().to_owned()),
        allowed: finding.allowed.clone(),
    });
    lint
}

fn step_item(path: &std::path::Path, step: &StepReport) -> Item {
    let (outcome, expected, actual, note) = match &step.verdict {
        Verdict::Passed => (Outcome::Passed, None, None, None),
        Verdict::Failed {
            expected,
            actual,
            note,
        } => (
            Outcome::Failed,
            Some(expected.clone()),
            Some(actual.clone()),
            note.clone(),
        ),
        Verdict::Unreliable(why) => (Outcome::Unreliable, None, None, Some(why.clone())),
        Verdict::Refused(why) => (Outcome::Refused, None, None, Some(why.clone())),
    };
    let mut entry = Item::new(
        Kind::Step,
        path.display().to_string(),
        step.name.clone(),
        outcome,
    );
    entry.location = Some(Place {
        file: path.to_owned(),
        line: step.line,
    });
    entry.rule = step.invariant.map(|i| i.name().to_owned());
    if outcome.fails() {
        entry.message = Some(format!(
            "{} as {}: expected {}, got {}",
            step.name, step.who, step.expected, step.outcome
        ));
        let mut detail = match (&expected, &actual) {
            (Some(expected), Some(actual)) => format!("expected:\n{expected}\nactual:\n{actual}"),
            _ => String::new(),
        };
        if let Some(note) = &note {
            if !detail.is_empty() {
                detail.push('\n');
            }
            detail.push_str(note);
        }
        entry.detail = Some(format!("sql: {}\n{detail}", step.sql.trim()));
        entry.tables = crate::script::relations(&step.sql);
    }
    entry.step = Some(StepDetail {
        who: step.who.clone(),
        sql: step.sql.clone(),
        expects: step.expected.clone(),
        control: step.control.clone(),
        got: step.outcome.clone(),
        expected,
        actual,
        note,
        unreachable: step.unreachable.clone(),
    });
    entry
}

/// A located error's text starts with `file:line:column: `.
fn error_place(text: &str) -> Option<Place> {
    let mut parts = text.splitn(3, ':');
    let file = parts.next()?;
    let line = parts.next()?.trim().parse().ok()?;
    Some(Place {
        file: PathBuf::from(file),
        line,
    })
}

/// The classed and unclassified objects, each with what checks it (`scenarios` are
/// searched for the objects they name).
fn survey_record(survey: &Survey<'_>, scenarios: &[ScenarioReport]) -> SurveyRecord {
    let classes = &survey.classes;
    let mut objects: Vec<ObjectRecord> = classes
        .classified
        .iter()
        .map(|classified| {
            let mentioned = scenarios
                .iter()
                .filter(|s| {
                    s.steps
                        .iter()
                        .any(|step| names_object(&step.sql, &classified.object))
                })
                .count();
            ObjectRecord {
                kind: classified.object.kind().to_owned(),
                name: classified.object.qualified(),
                class: Some(classified.class.to_string()),
                source: Some(classified.source.name().to_owned()),
                checked_by: covered_by(classified, mentioned),
            }
        })
        .collect();
    objects.extend(classes.unclassified.iter().map(|object| ObjectRecord {
        kind: object.kind().to_owned(),
        name: object.qualified(),
        class: None,
        source: None,
        checked_by: String::new(),
    }));
    SurveyRecord { objects }
}

/// Whether `sql` names `object` (its name as a word, with or without its schema).
fn names_object(sql: &str, object: &Object<'_>) -> bool {
    let name = match object {
        Object::Relation(r) => r.name.as_str(),
        Object::Function(f) => f.name.as_str(),
    };
    mentions(sql, name)
}

/// Whether `sql` names `name` as a whole word.
pub(super) fn mentions(sql: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    sql.match_indices(name).any(|(at, _)| {
        let before = sql[..at].chars().next_back();
        let after = sql[at + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

/// What checks an object: the properties for what the model predicts, scenarios that
/// name it, the lints for everything; and, said plainly, when no probe acts on it.
fn covered_by(classified: &Classified<'_>, scenarios: usize) -> String {
    let mut checks = Vec::new();
    match (&classified.class, classified.exact) {
        (Class::Resource, true) => {
            checks.push("properties (every read, every write cell, every context)".to_owned())
        }
        (_, true) => checks.push("properties (the access model's exact rules)".to_owned()),
        (Class::Resource, false) => checks
            .push("class-bound probes (the resource rules exactly, as every principal)".to_owned()),
        (Class::Derived, false) => checks.push(match classified.object {
            Object::Function(_) => "containment probes (every row returned, called with the \
                                    caller's, another and unknown ids)"
                .to_owned(),
            Object::Relation(_) => {
                "containment probes (every row shown must be readable from its base)".to_owned()
            }
        }),
        (Class::Invoker, false) => checks.push(
            "call probes (it runs with the caller's rights: called with the caller's, \
             another's and hidden ids, it names only rows the caller reads)"
                .to_owned(),
        ),
        (Class::Public { .. }, false) if matches!(classified.object, Object::Function(_)) => {
            checks.push("declared: answers for its caller only (not probed)".to_owned())
        }
        (_, false) => checks.push(
            "class-bound probes (reads and writes of every principal in every context)".to_owned(),
        ),
    }
    if scenarios > 0 {
        checks.push(format!(
            "{scenarios} scenario{}",
            if scenarios == 1 { "" } else { "s" }
        ));
    }
    checks.push("lints".to_owned());
    checks.join(", ")
}

/// The access matrix's cells, over every property run.
fn observations(properties: &[PropertyRun]) -> Vec<Observation> {
    let mut observed = crate::property::Observed::new();
    for run in properties {
        crate::property::merge_observed(&mut observed, &run.report.observed);
    }
    super::property::observations(&observed)
}

/// A survey alone, for `rls-harness lint`: the objects, and the findings as items.
pub fn survey(survey: &Survey<'_>) -> (SurveyRecord, Vec<Item>) {
    (
        survey_record(survey, &[]),
        survey.findings.iter().map(lint_item).collect(),
    )
}

/// What the record keeps of one scenario file that ran.
pub fn scenario_record(report: &ScenarioReport) -> ScenarioRecord {
    ScenarioRecord {
        path: report.scenario.path.clone(),
        steps: report.steps.len(),
        duration_ms: ms(report.duration),
    }
}

/// The start of a record, known once the migrations are applied: the backend, its
/// notes and the migrations, for a report that streams ([`crate::report::head`]).
pub fn head(backend: &str, notes: Vec<String>, template: &Template) -> Record {
    Record {
        version: RECORD_VERSION,
        backend: backend.to_owned(),
        notes,
        migrations: migration_records(template),
        ..Record::default()
    }
}

/// The items of one scenario's steps, for a report of that scenario alone.
pub fn scenario_items(report: &ScenarioReport) -> Vec<Item> {
    report
        .steps
        .iter()
        .map(|step| step_item(&report.scenario.path, step))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn located_errors_give_their_file_and_line() {
        assert_eq!(
            error_place("scenarios/x.toml:12:5: unknown user \"dana\""),
            Some(Place {
                file: "scenarios/x.toml".into(),
                line: 12
            })
        );
        assert_eq!(error_place("no place here"), None);
    }

    #[test]
    fn names_are_found_as_whole_words() {
        assert!(mentions("select * from public.agents where x", "agents"));
        assert!(!mentions("select * from agents_view", "agents"));
        assert!(!mentions("select * from my_agents", "agents"));
    }
}
