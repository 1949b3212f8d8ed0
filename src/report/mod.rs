//! The one module that turns results into text for people; everything else returns
//! data. Every report here is a formatter of the run's record (`crate::record`), as
//! JUnit, SARIF and JSON are (`ci`), so they never disagree: the terminal report at
//! three verbosities (`-q`, default, `-v`), in pieces that stream as the run goes (the
//! migrations, each scenario file, then the survey and the rest), the survey
//! (`survey`), property runs (`property`) and the access matrix (`matrix`). Reports are
//! plain aligned text, readable in a terminal and in CI logs.

use std::fmt::Write;

use crate::record::{Item, Kind, Outcome, Record, ScenarioRecord};

pub mod ci;
pub mod matrix;
mod property;
mod root;
mod sarif;
mod survey;

pub use property::{coverage, first_failure, run as property, subjects};
pub use root::Root;
pub use survey::survey;

/// How much `rls-harness check` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Failures and the closing line only.
    Quiet,
    /// Every file and check one line each, migration NOTICEs counted, failures in full.
    #[default]
    Normal,
    /// Also every NOTICE and every step with its principal, expectation, control and
    /// outcome.
    Verbose,
}

/// What is known once the migrations are applied: the backend, its notes and each
/// migration file (nothing under `-q`).
pub fn head(record: &Record, verbosity: Verbosity) -> String {
    let mut out = String::new();
    if verbosity != Verbosity::Quiet {
        let _ = writeln!(out, "rls-harness check, {} backend", record.backend);
        for note in &record.notes {
            let _ = writeln!(out, "  {note}");
        }
        out.push_str(&migrations(record, verbosity == Verbosity::Verbose));
    }
    out
}

/// One scenario file as soon as it has run, for a report that streams: its lines as
/// [`check`] shows them, under `-q` only when a step did not pass.
pub fn scenario_file(scenario: &ScenarioRecord, steps: &[Item], verbosity: Verbosity) -> String {
    let steps: Vec<&Item> = steps.iter().collect();
    let passed = steps.iter().all(|i| i.outcome == Outcome::Passed);
    if verbosity == Verbosity::Quiet && passed {
        return String::new();
    }
    entries(&file_lines(scenario, &steps, verbosity))
}

/// The survey, where the run made one (under `-q` only when a lint fails).
pub fn survey_section(record: &Record, verbosity: Verbosity) -> String {
    match &record.survey {
        Some(surveyed) if verbosity != Verbosity::Quiet || !survey::passed(&record.items) => {
            survey(surveyed, &record.items)
        }
        _ => String::new(),
    }
}

/// The end of a run: the scenario files that could not read or run, the properties,
/// the phases and the closing line.
pub fn rest(record: &Record, verbosity: Verbosity) -> String {
    let quiet = verbosity == Verbosity::Quiet;
    let mut out = broken_files(record);
    let not_run: Vec<&Item> = record
        .items
        .iter()
        .filter(|i| i.kind == Kind::Property && i.outcome == Outcome::Error)
        .collect();
    let failed = record.properties.iter().any(|p| p.failure.is_some()) || !not_run.is_empty();
    if (!record.properties.is_empty() || !not_run.is_empty()) && (!quiet || failed) {
        let _ = writeln!(out, "\nproperties");
        for item in not_run {
            let message = item.message.as_deref().unwrap_or_default();
            let _ = writeln!(out, "  FAIL {}: could not run: {message}", item.name);
        }
        for run in &record.properties {
            if !quiet || run.failure.is_some() {
                out.push_str(&property(run));
            }
        }
        if !quiet {
            if let Some(table) = &record.coverage {
                out.push_str(&coverage(table));
            }
            for run in &record.properties {
                out.push_str(&subjects(run));
            }
        }
    }
    if !quiet {
        let _ = writeln!(out, "\nphases");
        for phase in &record.phases {
            let _ = writeln!(out, "  {:<14} {:>9}", phase.name, millis(phase.duration_ms));
        }
    }
    out.push_str(&totals(record));
    out
}

/// Every line of `text` two spaces in, as the sections list their entries.
fn entries(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

fn millis(ms: f64) -> String {
    format!("{ms:.1} ms")
}

fn migrations(record: &Record, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nmigrations");
    for migration in &record.migrations {
        let folded = match migration.notices.len() {
            0 => String::new(),
            _ if verbose => String::new(),
            1 => "  (1 notice; -v shows it)".to_owned(),
            n => format!("  ({n} notices; -v shows them)"),
        };
        let _ = writeln!(
            out,
            "  ok {:<52} {:>9}{folded}",
            migration.file,
            millis(migration.duration_ms)
        );
        if verbose {
            for (severity, message) in &migration.notices {
                let _ = writeln!(out, "       {severity} {message}");
            }
        }
    }
    out
}

/// The scenario files that did not read or could not run.
fn broken_files(record: &Record) -> String {
    let mut out = String::new();
    for item in record.items.iter().filter(|i| i.kind == Kind::Scenario) {
        if out.is_empty() {
            let _ = writeln!(out, "\nscenario files that did not run");
        }
        let message = item.message.as_deref().unwrap_or_default();
        if item.name == "the file" {
            let _ = writeln!(out, "  FAIL {message}");
        } else {
            let _ = writeln!(out, "  FAIL {}: could not run: {message}", item.group);
        }
    }
    out
}

/// One scenario file's lines, unindented.
fn file_lines(scenario: &ScenarioRecord, steps: &[&Item], verbosity: Verbosity) -> String {
    let passed = steps.iter().all(|i| i.outcome == Outcome::Passed);
    if verbosity == Verbosity::Verbose {
        verbose_steps(steps)
    } else if passed {
        format!(
            "ok   {} ({} steps, {})\n",
            scenario.path.display(),
            scenario.steps,
            millis(scenario.duration_ms)
        )
    } else {
        scenario_steps(steps)
    }
}

/// A scenario's steps: one line per step, and for each step that did not pass, where it
/// is, who acted, the SQL, and expected against actual.
pub fn scenario_steps(steps: &[&Item]) -> String {
    let mut out = String::new();
    for item in steps {
        out.push_str(&status_line(item));
        out.push_str(&explanation(item));
    }
    out
}

fn status_line(item: &Item) -> String {
    let status = match item.outcome {
        Outcome::Passed | Outcome::Warning => "ok  ",
        Outcome::Failed | Outcome::Error => "FAIL",
        Outcome::Unreliable => "UNRELIABLE",
        Outcome::Refused => "REFUSED",
    };
    let line = item.location.as_ref().map_or(0, |p| p.line);
    format!("{status} {}:{line}: {}\n", item.group, item.name)
}

/// Why a step did not pass: its invariant, who, the SQL, and expected against actual
/// (a diff for tables), or why it was unreliable or refused. Empty for a passing step.
fn explanation(item: &Item) -> String {
    let mut out = String::new();
    let Some(step) = item.step.as_ref().filter(|_| item.outcome.fails()) else {
        return out;
    };
    let mut text = match (&step.expected, &step.actual) {
        (Some(expected), Some(actual)) => expected_actual(expected, actual),
        _ => String::new(),
    };
    if let Some(note) = &step.note {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(note);
    }
    if let Some(invariant) = &item.rule {
        let _ = writeln!(out, "     invariant: {invariant}");
    }
    let _ = writeln!(out, "     as:  {}", step.who);
    let _ = writeln!(out, "     sql: {}", indent(step.sql.trim(), "          "));
    if let Some(why) = &step.unreachable {
        let _ = writeln!(out, "     not reachable through the API: {why}");
    }
    let _ = writeln!(out, "     {}", indent(&text, "     "));
    out
}

/// Every step with who ran it, what it expected, its control and what it got (`check
/// -v`); a step that did not pass also shows its SQL and the difference.
fn verbose_steps(steps: &[&Item]) -> String {
    let mut out = String::new();
    for item in steps {
        out.push_str(&status_line(item));
        let Some(step) = &item.step else { continue };
        let _ = writeln!(out, "     as:       {}", step.who);
        let _ = writeln!(out, "     expects:  {}", step.expects);
        if let Some(control) = &step.control {
            let _ = writeln!(out, "     control:  {control}");
        }
        let _ = writeln!(out, "     got:      {}", step.got);
        if let Some(why) = &step.unreachable {
            let _ = writeln!(out, "     not reachable through the API: {why}");
        }
        for line in explanation(item).lines() {
            let line_start = line.trim_start();
            if !line_start.starts_with("as:") && !line_start.starts_with("not reachable") {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

/// The closing line: every check counted once, by verdict and by kind, so that the
/// numbers add up, and the exit code.
fn totals(record: &Record) -> String {
    let t = &record.totals;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut kinds = vec![format!(
        "{} of {}",
        plural(t.steps, "step", "steps"),
        plural(t.scenario_files, "scenario file", "scenario files")
    )];
    if t.malformed_files > 0 {
        kinds.push(plural(
            t.malformed_files,
            "malformed file",
            "malformed files",
        ));
    }
    if t.errored_files > 0 {
        kinds.push(format!(
            "{} that could not run",
            plural(t.errored_files, "scenario file", "scenario files")
        ));
    }
    let runs: Vec<String> = t
        .property_runs
        .iter()
        .map(|(unit, cases)| format!("{cases} {unit}"))
        .collect();
    kinds.push(format!(
        "{}{}",
        plural(runs.len(), "property run", "property runs"),
        if runs.is_empty() {
            String::new()
        } else {
            format!(" ({})", runs.join(", "))
        }
    ));
    let lints = match t.failing_lints {
        None => "lints not run (focused)".to_owned(),
        Some(n) => plural(n, "failing lint", "failing lints"),
    };
    let verdict = if record.passed { "ok" } else { "FAILED" };
    format!(
        "\n{verdict}: {} checks, {} passed, {} failed, {} unreliable, {} refused ({}); {lints}; {}; exit {}\n",
        t.checks,
        t.passed,
        t.failed,
        t.unreliable,
        t.refused,
        kinds.join(", "),
        plural(t.migrations, "migration", "migrations"),
        record.exit_code()
    )
}

fn expected_actual(expected: &str, actual: &str) -> String {
    if !expected.contains('\n') && !actual.contains('\n') {
        return format!("expected {expected}, got {actual}");
    }
    format!(
        "--- expected\n+++ actual\n{}",
        crate::snapshot::diff(expected, actual)
    )
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .collect::<Vec<_>>()
        .join(&format!("\n{prefix}"))
}
