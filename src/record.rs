//! One record of a `check` run, as plain data for other tools: every check once, with its
//! kind, verdict, rule (invariant or lint) and the line a person can open. The JSON,
//! JUnit and GitHub Actions outputs are rendered from it, so they always agree.
//!
//! The JSON form is stable: fields are only ever added. Its shape is documented in
//! README.md ("Use it in CI").

use std::path::PathBuf;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::property::{Mismatch, Probe, PropertyReport};
use crate::report::CheckReport;
use crate::scenario::Verdict;

/// The record's format version, raised only when a field changes meaning.
pub const RECORD_VERSION: u32 = 1;

/// Everything a `check` run found.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub version: u32,
    /// Whether the gate passed: exit code 0.
    pub passed: bool,
    pub backend: String,
    pub items: Vec<Item>,
    /// What the property worlds' probes observed, agreeing with the model or not: the
    /// access matrix's cells (`rls-harness matrix` renders them).
    pub observations: Vec<Observation>,
}

/// One cell of the access matrix: what a class of principal got when it tried an
/// operation on a kind of row in a kind of context.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub object: String,
    pub operation: String,
    pub row: String,
    pub context: String,
    pub principal: String,
    pub outcomes: Vec<String>,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Migration,
    Step,
    Scenario,
    Lint,
    Property,
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

impl CheckReport<'_> {
    /// The run as one record.
    pub fn record(&self) -> Record {
        let mut items = Vec::new();
        for applied in &self.template.applied {
            items.push(item(
                Kind::Migration,
                "migrations",
                applied.migration.file_name(),
                Outcome::Passed,
                Some(Place {
                    file: applied.migration.path.clone(),
                    line: 1,
                }),
            ));
        }
        if let Some(survey) = self.survey {
            for finding in &survey.findings {
                let outcome = if finding.fails() {
                    Outcome::Failed
                } else {
                    Outcome::Warning
                };
                let mut lint = item(
                    Kind::Lint,
                    "lints",
                    format!("{} {}", finding.lint.name(), finding.object),
                    outcome,
                    finding.location.as_ref().map(|at| Place {
                        file: at.file.clone(),
                        line: at.line,
                    }),
                );
                lint.rule = Some(finding.lint.name().to_owned());
                lint.message = Some(finding.message.clone());
                lint.detail = finding
                    .allowed
                    .as_ref()
                    .map(|reason| format!("allowed by rls-harness.toml: {reason}"));
                items.push(lint);
            }
        }
        for error in self.malformed {
            let text = error.to_string();
            let mut broken = item(
                Kind::Scenario,
                error_path(&text),
                "the file".to_owned(),
                Outcome::Error,
                error_place(&text),
            );
            broken.message = Some(text);
            items.push(broken);
        }
        for (path, error) in self.errored {
            let mut broken = item(
                Kind::Scenario,
                path.display().to_string(),
                "the scenario could not run".to_owned(),
                Outcome::Error,
                error_place(error).or(Some(Place {
                    file: path.clone(),
                    line: 1,
                })),
            );
            broken.message = Some(error.clone());
            items.push(broken);
        }
        for scenario in self.scenarios {
            let path = scenario.scenario.path.clone();
            for step in &scenario.steps {
                let (outcome, detail) = match &step.verdict {
                    Verdict::Passed => (Outcome::Passed, None),
                    Verdict::Failed {
                        expected,
                        actual,
                        note,
                    } => {
                        let mut text = format!("expected:\n{expected}\nactual:\n{actual}");
                        if let Some(note) = note {
                            text.push_str(&format!("\n{note}"));
                        }
                        (Outcome::Failed, Some(text))
                    }
                    Verdict::Unreliable(why) => (Outcome::Unreliable, Some(why.clone())),
                    Verdict::Refused(why) => (Outcome::Refused, Some(why.clone())),
                };
                let mut entry = item(
                    Kind::Step,
                    path.display().to_string(),
                    step.name.clone(),
                    outcome,
                    Some(Place {
                        file: path.clone(),
                        line: step.line,
                    }),
                );
                entry.rule = step.invariant.map(|i| i.name().to_owned());
                if outcome.fails() {
                    entry.message = Some(format!(
                        "{} as {}: expected {}, got {}",
                        step.name, step.who, step.expected, step.outcome
                    ));
                    entry.detail = detail.map(|d| format!("sql: {}\n{d}", step.sql.trim()));
                }
                items.push(entry);
            }
        }
        for (unit, property) in self.properties {
            items.push(property_item(unit, property, &self.template.catalog));
        }
        let mut observed = crate::property::Observed::new();
        for (_, property) in self.properties {
            crate::property::merge_observed(&mut observed, &property.observed);
        }
        let observations = observed
            .into_iter()
            .map(|(key, outcomes)| Observation {
                object: key.object,
                operation: key.op.to_owned(),
                row: key.kind.to_owned(),
                context: key.context.name().to_owned(),
                principal: key.actor.name().to_owned(),
                outcomes: outcomes.into_iter().map(str::to_owned).collect(),
            })
            .collect();
        Record {
            version: RECORD_VERSION,
            passed: self.passed(),
            backend: self.harness.backend().to_string(),
            items,
            observations,
        }
    }
}

fn item(
    kind: Kind,
    group: impl Into<String>,
    name: impl Into<String>,
    outcome: Outcome,
    location: Option<Place>,
) -> Item {
    Item {
        kind,
        group: group.into(),
        name: name.into(),
        outcome,
        rule: None,
        location,
        message: None,
        detail: None,
    }
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

fn error_path(text: &str) -> String {
    error_place(text).map_or_else(
        || "scenarios".to_owned(),
        |place| place.file.display().to_string(),
    )
}

/// A property run: its failure located at the statement that created the object the
/// failing probe acted on (so a pull request shows it on that line), else at the
/// counterexample file.
fn property_item(unit: &str, property: &PropertyReport, catalog: &Catalog) -> Item {
    let name = format!("{} {unit} from seed {}", property.worlds, property.seed);
    let Some(found) = &property.failure else {
        return item(Kind::Property, "properties", name, Outcome::Passed, None);
    };
    let mismatch = &found.mismatch;
    let blamed = property.blame.as_ref().and_then(|blame| {
        blame.location().map(|at| Place {
            file: at.file.clone(),
            line: at.line,
        })
    });
    let location = blamed
        .or_else(|| object_origin(mismatch, catalog))
        .or_else(|| {
            found.path.as_ref().map(|path| Place {
                file: path.clone(),
                line: 1,
            })
        });
    let mut entry = item(
        Kind::Property,
        "properties",
        name,
        Outcome::Failed,
        location,
    );
    entry.rule = Some(mismatch.invariant.name().to_owned());
    entry.message = Some(match &property.blame {
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
    if let Some(blame) = &property.blame {
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
        .filter(|relation| mentions(&sql, &relation.name))
        .max_by_key(|relation| relation.name.len())
        .and_then(|relation| origin(&relation.history))
}

/// Whether `sql` names `name` as a whole word.
fn mentions(sql: &str, name: &str) -> bool {
    sql.match_indices(name).any(|(at, _)| {
        let before = sql[..at].chars().next_back();
        let after = sql[at + name.len()..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        boundary(before) && boundary(after)
    })
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

    #[test]
    fn warnings_pass_and_errors_fail() {
        assert!(!Outcome::Warning.fails() && !Outcome::Passed.fails());
        assert!(Outcome::Error.fails() && Outcome::Unreliable.fails());
    }
}
