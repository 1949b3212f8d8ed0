//! A `check` run from the migrated template to its record, in order: the survey (whose
//! config mistakes and uncheckable objects stop the run before any probe), the schema,
//! the scenario files (four at a time, each on its own clone), the property runs
//! (after the scenarios: proptest blocks its thread), blame for a property failure,
//! and the record, which is the run's only result.

use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::StreamExt;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::harness::{Harness, Template};
use crate::lint::{survey, Survey};
use crate::property::{check_sequences, check_worlds, Progress, PropertyConfig};
use crate::record::{PropertyRun, Record, Run, ScenarioFailure};
use crate::scenario::{self, ScenarioError, ScenarioReport};
use crate::schema::Schema;
use crate::snapshot;

/// How many scenarios run at once, each on its own clone of the template.
const PARALLEL_SCENARIOS: usize = 4;

/// What a `check` run does.
pub struct Check<'a> {
    pub config: &'a Config,
    /// The folder scenario names (and snapshot names) are relative to.
    pub scenarios: &'a Path,
    /// The scenario files to run.
    pub files: &'a [PathBuf],
    /// Only `files` run: no lints or properties.
    pub focused: bool,
    pub snapshots: &'a snapshot::Store,
    /// The generated worlds and sequences (no cases: none).
    pub worlds: PropertyConfig,
    pub sequences: PropertyConfig,
    /// When the run started, for its total time.
    pub started: Instant,
    /// Hears of each scenario file as soon as it has run, so that its verdict can be
    /// shown while the rest go on.
    pub on_scenario: &'a (dyn Fn(&ScenarioReport) + Sync),
}

/// The survey of a template, or the config's mistakes that only the catalog shows,
/// which stop the run before any probe. An object the probes cannot check is a finding
/// of the survey: it fails the gate by name, and every other object is still probed.
pub fn survey_of<'t>(template: &'t Template, config: &Config) -> Result<Survey<'t>> {
    let survey = survey(&template.catalog, config);
    if !survey.config_errors.is_empty() {
        return Err(Error::Files(survey.config_errors.clone()));
    }
    Ok(survey)
}

/// Runs every check of `check` on `template`; `progress` hears of the property runs.
pub async fn check(
    harness: &Harness,
    template: &Template,
    check: &Check<'_>,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Record> {
    let mut survey = survey_of(template, check.config)?;
    let schema = Schema::read(harness, template, check.config).await?;
    // Tables no fixture row could be made for in the seeded world are known only now.
    survey.findings.extend(
        schema
            .unprobed
            .iter()
            .cloned()
            .map(crate::lint::unprobed_finding),
    );
    let clock = Instant::now();
    let (scenarios, malformed, errored) = scenarios(harness, template, &schema, check).await?;
    let mut properties = Vec::new();
    let mut not_run = Vec::new();
    let wanted = [
        ("worlds", check.worlds.cases > 0),
        ("sequences", check.sequences.cases > 0),
    ];
    for (unit, wanted) in wanted {
        // Without a profile there is no tenancy to generate worlds of: the run says so
        // as a check that could not run, never by leaving the properties out.
        match (wanted, schema.profile()) {
            (false, _) => {}
            (true, None) => {
                let what = format!("the generated {unit}");
                not_run.push((unit, schema.sql_for(&what).err()))
            }
            (true, Some(_)) if unit == "worlds" => {
                let report =
                    check_worlds(harness, template, &schema, &check.worlds, progress).await?;
                properties.push((unit, report));
            }
            (true, Some(_)) => {
                let report =
                    check_sequences(harness, template, &schema, &check.sequences, progress).await?;
                properties.push((unit, report));
            }
        }
    }
    let mut runs = Vec::new();
    for (unit, report) in properties {
        let blame = match &report.failure {
            Some(found) => found.blame(harness, template, &schema).await?,
            None => None,
        };
        runs.push(PropertyRun {
            unit,
            report,
            blame,
        });
    }
    let run = Run {
        backend: harness.backend().to_string(),
        notes: harness.notes(),
        timings: harness.timings,
        template,
        survey: (!check.focused).then_some(&survey),
        scenarios: &scenarios,
        malformed: &malformed,
        errored: &errored,
        properties: &runs,
        not_run: &not_run
            .into_iter()
            .map(|(unit, error)| (unit, error.map(|e| e.to_string()).unwrap_or_default()))
            .collect::<Vec<_>>(),
        checks_time: clock.elapsed(),
        total_time: check.started.elapsed(),
    };
    Ok(run.record())
}

/// The scenarios' reports, the files that did not read, and the scenarios that could
/// not run (with the whole located error): one bad file hides no other verdict.
async fn scenarios(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
    check: &Check<'_>,
) -> Result<(
    Vec<ScenarioReport>,
    Vec<ScenarioError>,
    Vec<ScenarioFailure>,
)> {
    let mut malformed = Vec::new();
    let mut loaded = Vec::new();
    let seeded = schema.seeded_tenants();
    for file in check.files {
        match scenario::load(check.scenarios, file, schema.profile(), &seeded) {
            Ok(scenario) => loaded.push(scenario),
            Err(error) => malformed.push(error),
        }
    }
    let outcomes: Vec<_> = futures_util::stream::iter(&loaded)
        .map(|scenario| async move {
            let report = scenario::run(harness, template, schema, scenario, check.snapshots);
            let report = report.await;
            if let Ok(report) = &report {
                (check.on_scenario)(report);
            }
            (scenario, report)
        })
        .buffer_unordered(PARALLEL_SCENARIOS)
        .collect()
        .await;
    let mut reports = Vec::new();
    let mut errored = Vec::new();
    for (scenario, outcome) in outcomes {
        match outcome {
            Ok(report) => reports.push(report),
            // A scenario whose fixtures or users fail is that scenario's error; a
            // server that went away is everyone's, and stops the run.
            Err(error @ Error::Config { .. }) => errored.push(ScenarioFailure {
                path: scenario.path.clone(),
                message: error.to_string(),
            }),
            Err(other) => return Err(other),
        }
    }
    reports.sort_by(|a, b| a.scenario.path.cmp(&b.scenario.path));
    errored.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((reports, malformed, errored))
}
