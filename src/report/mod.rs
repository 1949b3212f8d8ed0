//! The one module that turns results into text for people; everything else returns
//! data. Reports are plain aligned text, readable in a terminal and in CI logs.

use std::fmt::Write;
use std::time::Duration;

use crate::catalog::Object;
use crate::class::{Class, Classified};
use crate::harness::{Harness, Template};
use crate::lint::Survey;
use crate::model::{Context, Principal, World};
use crate::property::{
    coverage_gaps, possible_pairs, required_cells, ContextKind, Coverage, Labels, Mismatch,
    PropertyReport, OTHER_ACTORS,
};
use crate::rule::Level;
use crate::scenario::{ScenarioError, ScenarioReport, StepReport, Verdict};

pub mod ci;
pub mod matrix;

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

/// Everything `rls-harness check` has to say about one run.
pub struct CheckReport<'a> {
    pub harness: &'a Harness,
    pub template: &'a Template,
    /// The classes and lints of the migrated catalog; `None` when the run is focused
    /// on some scenario files.
    pub survey: Option<&'a Survey<'a>>,
    pub scenarios: &'a [ScenarioReport],
    pub malformed: &'a [ScenarioError],
    /// Scenarios that could not run (their fixtures or users failed), with the whole
    /// located error; every other check still ran.
    pub errored: &'a [(std::path::PathBuf, String)],
    /// Property runs by name (`worlds`, `sequences`).
    pub properties: &'a [(&'static str, PropertyReport)],
    /// The scenarios and the properties.
    pub checks_time: Duration,
    pub total_time: Duration,
    pub verbosity: Verbosity,
}

impl CheckReport<'_> {
    fn steps(&self) -> impl Iterator<Item = &StepReport> {
        self.scenarios.iter().flat_map(|scenario| &scenario.steps)
    }

    /// Whether every check and every scenario step passed, and every file was readable.
    pub fn passed(&self) -> bool {
        self.steps().all(|step| step.verdict == Verdict::Passed)
            && self.malformed.is_empty()
            && self.errored.is_empty()
            && self.survey.is_none_or(Survey::passed)
            && self
                .properties
                .iter()
                .all(|(_, property)| property.failure.is_none())
    }

    /// The summary, as printed by `rls-harness check`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let harness = self.harness;
        let quiet = self.verbosity == Verbosity::Quiet;
        let verbose = self.verbosity == Verbosity::Verbose;
        if !quiet {
            let _ = writeln!(out, "rls-harness check, {} backend", harness.backend());
            for note in harness.notes() {
                let _ = writeln!(out, "  {note}");
            }
            out.push_str(&self.render_migrations(verbose));
        }

        if let Some(survey) = self.survey {
            if !quiet || !survey.passed() {
                out.push_str(&render_survey(survey, self.scenarios));
            }
        }

        let failing = |scenario: &&ScenarioReport| {
            !scenario
                .steps
                .iter()
                .all(|step| step.verdict == Verdict::Passed)
        };
        let shown = if quiet {
            self.scenarios.iter().filter(failing).count()
        } else {
            self.scenarios.len()
        };
        if shown > 0 || !self.malformed.is_empty() || !self.errored.is_empty() {
            let _ = writeln!(out, "\nscenarios");
            for error in self.malformed {
                let _ = writeln!(out, "  FAIL {error}");
            }
            for (path, error) in self.errored {
                let _ = writeln!(out, "  FAIL {}: could not run: {error}", path.display());
            }
            for scenario in self.scenarios {
                let passed = !failing(&scenario);
                if passed && quiet {
                    continue;
                }
                if verbose {
                    for line in render_steps(scenario).lines() {
                        let _ = writeln!(out, "  {line}");
                    }
                } else if passed {
                    let _ = writeln!(
                        out,
                        "  ok   {} ({} steps, {})",
                        scenario.scenario.path.display(),
                        scenario.steps.len(),
                        millis(scenario.duration)
                    );
                } else {
                    for line in render_scenario(scenario).lines() {
                        let _ = writeln!(out, "  {line}");
                    }
                }
            }
        }

        let properties_failed = self.properties.iter().any(|(_, p)| p.failure.is_some());
        if !self.properties.is_empty() && (!quiet || properties_failed) {
            let _ = writeln!(out, "\nproperties");
            let mut coverage = Coverage::new();
            let mut labels = &Labels::default();
            for (unit, property) in self.properties {
                labels = &property.labels;
                if !quiet || property.failure.is_some() {
                    out.push_str(&render_property(property, unit));
                }
                for (cell, count) in &property.coverage {
                    *coverage.entry(*cell).or_default() += count;
                }
            }
            if !quiet {
                out.push_str(&render_coverage(&coverage, labels));
                for (_, property) in self.properties {
                    out.push_str(&render_subjects(property));
                }
            }
        }
        if !quiet {
            out.push_str(&self.render_phases());
        }
        out.push_str(&self.render_totals());
        out
    }

    fn render_migrations(&self, verbose: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\nmigrations");
        for applied in &self.template.applied {
            // IF [NOT] EXISTS chatter ("..., skipping") is the server's, not the migration's.
            let notices: Vec<_> = applied
                .notices
                .iter()
                .filter(|n| !n.message.ends_with(", skipping"))
                .collect();
            let folded = match notices.len() {
                0 => String::new(),
                _ if verbose => String::new(),
                1 => "  (1 notice; -v shows it)".to_owned(),
                n => format!("  ({n} notices; -v shows them)"),
            };
            let _ = writeln!(
                out,
                "  ok {:<52} {:>9}{folded}",
                applied.migration.file_name(),
                millis(applied.duration)
            );
            if verbose {
                for notice in notices {
                    let _ = writeln!(out, "       {} {}", notice.severity, notice.message);
                }
            }
        }
        out
    }

    fn render_phases(&self) -> String {
        let mut out = String::new();
        let timings = self.harness.timings;
        let phases = [
            ("backend start", timings.backend),
            ("supabase shim", timings.shim),
            ("migrations", self.template.migrate_time),
            ("checks", self.checks_time),
            ("total", self.total_time),
        ];
        let _ = writeln!(out, "\nphases");
        for (phase, time) in phases {
            let _ = writeln!(out, "  {phase:<14} {:>9}", millis(time));
        }
        out
    }

    /// The closing line: every check counted once, by verdict and by kind, so that the
    /// numbers add up.
    fn render_totals(&self) -> String {
        let (mut passed, mut failed, mut unreliable, mut refused) = (0, 0, 0, 0);
        for step in self.steps() {
            match step.verdict {
                Verdict::Passed => passed += 1,
                Verdict::Unreliable(_) => unreliable += 1,
                Verdict::Refused(_) => refused += 1,
                Verdict::Failed { .. } => failed += 1,
            }
        }
        for (_, property) in self.properties {
            if property.failure.is_none() {
                passed += 1;
            } else {
                failed += 1;
            }
        }
        failed += self.malformed.len() + self.errored.len();
        let total = passed + failed + unreliable + refused;
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut kinds = vec![format!(
            "{} of {}",
            plural(self.steps().count(), "step", "steps"),
            plural(self.scenarios.len(), "scenario file", "scenario files")
        )];
        if !self.malformed.is_empty() {
            kinds.push(plural(
                self.malformed.len(),
                "malformed file",
                "malformed files",
            ));
        }
        if !self.errored.is_empty() {
            kinds.push(format!(
                "{} that could not run",
                plural(self.errored.len(), "scenario file", "scenario files")
            ));
        }
        let runs: Vec<String> = self
            .properties
            .iter()
            .map(|(unit, property)| format!("{} {unit}", property.worlds))
            .collect();
        kinds.push(format!(
            "{}{}",
            plural(self.properties.len(), "property run", "property runs"),
            if runs.is_empty() {
                String::new()
            } else {
                format!(" ({})", runs.join(", "))
            }
        ));
        let lints = self
            .survey
            .map(|survey| survey.findings.iter().filter(|f| f.fails()).count());
        let lints = match lints {
            None => "lints not run (focused)".to_owned(),
            Some(n) => plural(n, "failing lint", "failing lints"),
        };
        let (verdict, exit) = if self.passed() {
            ("ok", 0)
        } else {
            ("FAILED", 1)
        };
        format!(
            "\n{verdict}: {total} checks, {passed} passed, {failed} failed, {unreliable} unreliable, \
             {refused} refused ({}); {lints}; {}; exit {exit}\n",
            kinds.join(", "),
            plural(self.template.applied.len(), "migration", "migrations")
        )
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Every step of a scenario with who ran it, what it expected, its control and what it
/// got (`check -v`); a step that did not pass also shows its SQL and the difference.
fn render_steps(report: &ScenarioReport) -> String {
    let mut out = String::new();
    let failures = render_scenario(report);
    let mut failures = failures.lines().peekable();
    for step in &report.steps {
        // render_scenario writes one status line per step, then that step's details.
        if let Some(status) = failures.next() {
            let _ = writeln!(out, "{status}");
        }
        let _ = writeln!(out, "     as:       {}", step.who);
        let _ = writeln!(out, "     expects:  {}", step.expected);
        if let Some(control) = &step.control {
            let _ = writeln!(out, "     control:  {control}");
        }
        let _ = writeln!(out, "     got:      {}", step.outcome);
        while let Some(detail) = failures.next_if(|line| line.starts_with("     ")) {
            if !detail.trim_start().starts_with("as:") {
                let _ = writeln!(out, "{detail}");
            }
        }
    }
    out
}

/// A scenario's result: one line per step, and for each step that did not pass, where
/// it is, who acted, the SQL, and expected against actual.
pub fn render_scenario(report: &ScenarioReport) -> String {
    let mut out = String::new();
    let path = report.scenario.path.display();
    for step in &report.steps {
        let (status, explanation) = match &step.verdict {
            Verdict::Passed => ("ok  ", None),
            Verdict::Failed {
                expected,
                actual,
                note,
            } => {
                let mut text = expected_actual(expected, actual);
                if let Some(note) = note {
                    text.push_str(&format!("\n{note}"));
                }
                ("FAIL", Some(text))
            }
            Verdict::Unreliable(why) => ("UNRELIABLE", Some(why.clone())),
            Verdict::Refused(why) => ("REFUSED", Some(why.clone())),
        };
        let _ = writeln!(out, "{status} {path}:{}: {}", step.line, step.name);
        if let Some(explanation) = explanation {
            if let Some(invariant) = &step.invariant {
                let _ = writeln!(out, "     invariant: {invariant}");
            }
            let _ = writeln!(out, "     as:  {}", step.who);
            let _ = writeln!(out, "     sql: {}", indent(step.sql.trim(), "          "));
            let _ = writeln!(out, "     {}", indent(&explanation, "     "));
        }
    }
    out
}

/// A property run: its figures, and for a failure the mismatch and where its
/// counterexample scenario was written.
pub fn render_property(report: &PropertyReport, unit: &str) -> String {
    let mut out = String::new();
    let seconds = report.duration.as_secs_f64().max(f64::EPSILON);
    let status = if report.failure.is_none() {
        "ok  "
    } else {
        "FAIL"
    };
    let _ = writeln!(
        out,
        "  {status} {} {unit}, {} checks in {:.1} s ({:.1} {unit}/s, {:.0} checks/s), seed {}",
        report.worlds,
        report.checks,
        seconds,
        report.worlds as f64 / seconds,
        report.checks as f64 / seconds,
        report.seed
    );
    if let Some(found) = &report.failure {
        let mismatch = &found.mismatch;
        let _ = writeln!(out, "       invariant: {}", mismatch.invariant);
        let _ = writeln!(
            out,
            "       as:  {}",
            describe_principal(
                &report.labels,
                &found.world,
                &mismatch.who,
                &mismatch.context
            )
        );
        let _ = writeln!(out, "       sql: {}", mismatch.sql);
        let _ = writeln!(out, "       expected {}", mismatch.expected);
        let _ = writeln!(out, "       got      {}", mismatch.actual);
        if let Some(blame) = &report.blame {
            let _ = writeln!(out, "       {blame}");
        }
        let _ = writeln!(
            out,
            "       shrunk to {} tenants, {} users, {} resources; {} mismatches in that world",
            found.world.tenants.len(),
            found.world.users.len(),
            found.world.resources.len(),
            found.mismatches.len()
        );
        match &found.path {
            Some(path) => {
                let _ = writeln!(out, "       counterexample: {}", path.display());
                let _ = writeln!(
                    out,
                    "       keep it as a regression: mkdir -p scenarios/regressions && mv {} scenarios/regressions/",
                    path.display()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "       counterexample (could not be written):\n{}",
                    indent(&found.scenario, "         ")
                );
            }
        }
    }
    out
}

/// A principal of a generated world, named as its counterexample file names it: `u0,
/// admin of t1, member of t2, in context t1`.
fn describe_principal(
    labels: &Labels,
    world: &World,
    who: &Principal,
    context: &Context,
) -> String {
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

/// The first failure of a property run, printed as soon as it is found, before any
/// shrinking: the verdict is known, the smallest world comes later.
pub fn render_first_failure(
    mismatch: &Mismatch,
    world: &World,
    labels: &Labels,
    shrink: Duration,
) -> String {
    let mut out = format!(
        "first failure: {}\n  as:  {}\n  sql: {}\n  expected {}\n  got      {}\n",
        mismatch.invariant,
        describe_principal(labels, world, &mismatch.who, &mismatch.context),
        mismatch.sql,
        mismatch.expected,
        mismatch.actual
    );
    if !shrink.is_zero() {
        let _ = writeln!(
            out,
            "  shrinking it for up to {} s (--shrink-time)",
            shrink.as_secs()
        );
    }
    out
}

/// The objects the model does not name, as the property run probed them: how many
/// probes each got, and where one allows less than its class (reported, not failed).
pub fn render_subjects(report: &PropertyReport) -> String {
    let mut out = String::new();
    if report.objects.is_empty() && report.stricter.is_empty() {
        return out;
    }
    let _ = writeln!(out, "  objects beyond the model, probed by class:");
    for (object, probes) in &report.objects {
        let _ = writeln!(out, "    {object:<50} {probes} probes");
    }
    if !report.stricter.is_empty() {
        let _ = writeln!(out, "  stricter than the class allows (not a failure):");
        for note in &report.stricter {
            let _ = writeln!(out, "    {note}");
        }
    }
    out
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

/// The write coverage of property runs: for plain users, one line per object and
/// operation, one column per kind of row, and in each the probes per context (none /
/// the row's own tenant / another of the user's tenants / forged), `-` where that
/// context cannot occur; then the cells no probe reached, by name, and for the other
/// principals how many object-operation pairs they tried.
pub fn render_coverage(coverage: &Coverage, labels: &Labels) -> String {
    let mut out = String::new();
    let shape = &labels.shape;
    let required = required_cells(shape);
    let gaps = coverage_gaps(shape, coverage);
    let count = |cell: &crate::property::Cell| coverage.get(cell).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "  write coverage: {} of {} cells probed as plain users ({} probes); per cell: none/own/out-of-context/forged",
        required.len() - gaps.cells.len(),
        required.len(),
        coverage.values().sum::<u64>()
    );
    for object in shape.write_objects() {
        let cells: Vec<_> = required.iter().filter(|c| c.object == object).collect();
        let object = labels.object(object);
        let mut kinds: Vec<_> = cells.iter().map(|c| c.kind).collect();
        kinds.sort();
        kinds.dedup();
        let _ = write!(out, "    {object:<26}");
        for kind in &kinds {
            let _ = write!(out, " {:<12}", kind.name());
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        let mut ops: Vec<_> = cells.iter().map(|c| c.op).collect();
        ops.sort();
        ops.dedup();
        for op in ops {
            let _ = write!(out, "      {:<24}", op.name());
            for kind in &kinds {
                let applies = cells.iter().any(|c| c.op == op && c.kind == *kind);
                let text = if applies {
                    let per_context: Vec<String> = ContextKind::ALL
                        .iter()
                        .map(|context| {
                            cells
                                .iter()
                                .find(|c| c.op == op && c.kind == *kind && c.context == *context)
                                .map_or_else(|| "-".to_owned(), |cell| count(cell).to_string())
                        })
                        .collect();
                    per_context.join("/")
                } else {
                    String::new()
                };
                let _ = write!(out, " {text:<12}");
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
        }
    }
    if !gaps.cells.is_empty() {
        let _ = writeln!(out, "  EMPTY cells (no world reached them):");
        for cell in &gaps.cells {
            let _ = writeln!(
                out,
                "    {} {} {} row, context {}",
                labels.object(cell.object),
                cell.op.name(),
                cell.kind.name(),
                cell.context.name()
            );
        }
    }
    let mut line = Vec::new();
    for actor in OTHER_ACTORS {
        if actor == crate::property::CoverageActor::PlatformAdmin && !shape.admins {
            continue;
        }
        let possible = possible_pairs(shape, actor).len();
        let missing: Vec<String> = gaps
            .pairs
            .iter()
            .filter(|(a, _, _)| *a == actor)
            .map(|(_, object, op)| format!("{} {}", labels.object(*object), op.name()))
            .collect();
        let mut text = format!("{} {}/{possible}", actor.name(), possible - missing.len());
        if !missing.is_empty() {
            text.push_str(&format!(" (EMPTY: {})", missing.join(", ")));
        }
        line.push(text);
    }
    let _ = writeln!(out, "  object × operation pairs tried: {}", line.join(", "));
    out
}

/// The objects the API roles reach, each with its class and what checks it, then the
/// lint findings, each with its migration line and remedy. `scenarios` are searched
/// for the objects they name.
pub fn render_survey(survey: &Survey<'_>, scenarios: &[ScenarioReport]) -> String {
    let mut out = String::new();
    let classes = &survey.classes;
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for classified in &classes.classified {
        *counts.entry(classified.class.name()).or_default() += 1;
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(class, n)| format!("{n} {class}"))
        .collect();
    let _ = writeln!(
        out,
        "\nobjects the API roles reach ({}; {} unclassified)",
        summary.join(", "),
        classes.unclassified.len()
    );
    let width = classes
        .classified
        .iter()
        .map(|c| c.object.qualified().chars().count())
        .chain(
            classes
                .unclassified
                .iter()
                .map(|o| o.qualified().chars().count()),
        )
        .max()
        .unwrap_or(0);
    for classified in &classes.classified {
        let name = classified.object.qualified();
        let mentioned = scenarios
            .iter()
            .filter(|s| {
                s.steps
                    .iter()
                    .any(|step| mentions(&step.sql, &classified.object))
            })
            .count();
        let _ = writeln!(
            out,
            "  {:<17} {name:<width$}  {} ({})",
            classified.object.kind(),
            classified.class,
            classified.source.name(),
        );
        let _ = writeln!(
            out,
            "  {:<17} {:<width$}  checked by {}",
            "",
            "",
            covered_by(classified, mentioned)
        );
    }
    for object in &classes.unclassified {
        let _ = writeln!(
            out,
            "  {:<17} {:<width$}  UNCLASSIFIED: fits no class and is declared nowhere",
            object.kind(),
            object.qualified()
        );
    }

    let _ = writeln!(out, "\nlints");
    if survey.findings.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for finding in &survey.findings {
        let status = match (finding.level, &finding.allowed) {
            (_, Some(_)) => "allowed",
            (Level::Error, None) => "ERROR",
            (Level::Warn, None) => "warn",
            (Level::Info, None) => "info",
        };
        let place = finding
            .location
            .as_ref()
            .map_or_else(|| "(not made by a migration)".to_owned(), |l| l.to_string());
        let _ = writeln!(
            out,
            "  {status:<7} {} {}: {}",
            finding.lint, place, finding.message
        );
        match &finding.allowed {
            Some(reason) => {
                let _ = writeln!(out, "          allowed in the config: {reason}");
            }
            None => {
                let _ = writeln!(out, "          {}", finding.lint.remedy());
            }
        }
    }
    out
}

/// Whether `sql` names `object` (its name as a word, with or without its schema).
fn mentions(sql: &str, object: &crate::catalog::Object<'_>) -> bool {
    let name = match object {
        crate::catalog::Object::Relation(r) => r.name.as_str(),
        crate::catalog::Object::Function(f) => f.name.as_str(),
    };
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
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
