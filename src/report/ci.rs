//! The run's record in the forms CI systems read: JUnit XML for test dashboards,
//! SARIF 2.1.0 for code scanning, GitHub Actions workflow commands that annotate the
//! pull request's lines, and a markdown summary for the job's page.

use std::fmt::Write;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

pub use super::sarif::sarif;
use super::Root;
use crate::record::{Item, Kind, Outcome, Record};

/// JUnit XML: one test suite per group (migrations, plan, lints, each scenario file,
/// properties), one test case per check, a failure with its text and its `file:line`.
pub fn junit(record: &Record, root: &Root) -> String {
    let mut report = Report::new("rls-harness");
    let mut suites: Vec<TestSuite> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in &record.items {
        let index = match suites.iter().position(|s| s.name.as_str() == item.group) {
            Some(index) => index,
            None => {
                suites.push(TestSuite::new(item.group.as_str()));
                suites.len() - 1
            }
        };
        let status = match item.outcome {
            Outcome::Passed | Outcome::Warning => TestCaseStatus::success(),
            outcome => {
                let kind = if outcome == Outcome::Error {
                    NonSuccessKind::Error
                } else {
                    NonSuccessKind::Failure
                };
                let mut status = TestCaseStatus::non_success(kind);
                status.set_type(kebab(outcome));
                status.set_message(title(item));
                status.set_description(description(item));
                status
            }
        };
        // A dashboard keys a case's history on its class and name, so two steps a file
        // names alike are told apart by their lines.
        let classname = format!("{}.{}", kebab_kind(item.kind), item.group);
        let mut name = item.name.clone();
        if !seen.insert((classname.clone(), name.clone())) {
            if let Some(place) = &item.location {
                name = format!("{name} (line {})", place.line);
            }
            let mut n = 2;
            while !seen.insert((classname.clone(), name.clone())) {
                name = format!("{} ({n})", item.name);
                n += 1;
            }
        }
        let mut case = TestCase::new(name.as_str(), status);
        if let Some(ms) = item.duration_ms {
            case.set_time(std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0));
        }
        case.set_classname(classname);
        if let Some(place) = &item.location {
            case.extra
                .insert("file".into(), root.relative(&place.file).into());
            case.extra
                .insert("line".into(), place.line.to_string().into());
        }
        suites[index].add_test_case(case);
    }
    report.add_test_suites(suites);
    report
        .to_string()
        .unwrap_or_else(|error| format!("<!-- cannot write JUnit XML: {error} -->"))
}

/// GitHub Actions workflow commands, ordered for a person (GitHub shows the first ten
/// of a step): one annotation per root cause first (a migration that failed, a lint
/// error, a property failure at the policy or statement it was blamed on, a file that
/// could not run), the findings at one line together, and with a blamed policy the
/// failing scenario steps on its table folded in; then the other failing steps, one
/// annotation per file; then lint warnings.
pub fn annotations(record: &Record, root: &Root) -> String {
    let mut out = String::new();
    let failing = |item: &&Item| item.outcome.fails();
    let mut causes: Vec<Cause> = Vec::new();
    for item in record
        .items
        .iter()
        .filter(failing)
        .filter(|item| item.kind != Kind::Step)
    {
        let at = item.location.as_ref().map(|p| (&p.file, p.line));
        match causes
            .iter_mut()
            .find(|cause| at.is_some() && cause.at() == at)
        {
            Some(cause) => cause.items.push(item),
            None => causes.push(Cause {
                items: vec![item],
                steps: Vec::new(),
            }),
        }
    }
    let mut files: Vec<(&str, Vec<&Item>)> = Vec::new();
    for step in record
        .items
        .iter()
        .filter(failing)
        .filter(|item| item.kind == Kind::Step)
    {
        if let Some(cause) = causes.iter_mut().find(|cause| cause.explains(step)) {
            cause.steps.push(step);
            continue;
        }
        match files.iter_mut().find(|(group, _)| *group == step.group) {
            Some((_, steps)) => steps.push(step),
            None => files.push((&step.group, vec![step])),
        }
    }
    for cause in &causes {
        cause.annotate(&mut out, root);
    }
    for (group, steps) in files {
        let [step] = steps.as_slice() else {
            let lines: Vec<String> = steps
                .iter()
                .map(|step| {
                    let line = step.location.as_ref().map_or(0, |place| place.line);
                    format!("line {line}: {}", title(step))
                })
                .collect();
            let title = format!("rls-harness step: {} failing steps in {group}", steps.len());
            annotate(&mut out, "error", steps[0], root, &title, &lines.join("\n"));
            continue;
        };
        annotate(
            &mut out,
            "error",
            step,
            root,
            &title_of_kind(step),
            &description(step),
        );
    }
    for item in record
        .items
        .iter()
        .filter(|item| item.outcome == Outcome::Warning)
    {
        annotate(
            &mut out,
            "warning",
            item,
            root,
            &title_of_kind(item),
            &description(item),
        );
    }
    out
}

/// The failing checks at one line, and the failing steps on the table of a policy
/// blamed there.
struct Cause<'r> {
    /// A property failure first: its title names the policy.
    items: Vec<&'r Item>,
    steps: Vec<&'r Item>,
}

impl Cause<'_> {
    fn at(&self) -> Option<(&std::path::PathBuf, usize)> {
        let place = self.items[0].location.as_ref()?;
        Some((&place.file, place.line))
    }

    /// Whether `step` fails on a table whose policy this cause blames.
    fn explains(&self, step: &Item) -> bool {
        self.items
            .iter()
            .flat_map(|item| &item.tables)
            .any(|table| step.tables.contains(table))
    }

    fn annotate(&self, out: &mut String, root: &Root) {
        let mut items = self.items.clone();
        items.sort_by_key(|item| item.kind != Kind::Property);
        let first = items[0];
        let mut heading = title_of_kind(first);
        if items.len() > 1 {
            heading.push_str(&format!(" (and {} more at this line)", items.len() - 1));
        }
        let mut text: Vec<String> = items.iter().map(|item| description(item)).collect();
        if !self.steps.is_empty() {
            let tables: Vec<&str> = items
                .iter()
                .flat_map(|item| &item.tables)
                .map(String::as_str)
                .collect();
            let mut folded = format!(
                "{} failing scenario step{} on {}, the table blamed here:",
                self.steps.len(),
                if self.steps.len() == 1 { "" } else { "s" },
                tables.join(", ")
            );
            for step in &self.steps {
                let place = step.location.as_ref().map_or_else(String::new, |place| {
                    format!("{}:{}: ", root.relative(&place.file), place.line)
                });
                folded.push_str(&format!("\n{place}{}", title(step)));
            }
            text.push(folded);
        }
        annotate(out, "error", first, root, &heading, &text.join("\n\n"));
    }
}

/// One workflow command at `item`'s line.
fn annotate(out: &mut String, level: &str, item: &Item, root: &Root, title: &str, text: &str) {
    let mut properties = Vec::new();
    if let Some(place) = &item.location {
        properties.push(format!("file={}", property(&root.relative(&place.file))));
        properties.push(format!("line={}", place.line));
    }
    properties.push(format!("title={}", property(title)));
    let _ = writeln!(out, "::{level} {}::{}", properties.join(","), data(text));
}

/// The job summary: the verdict, the counts, and every failure with its line.
pub fn summary(record: &Record, root: &Root, command: &str) -> String {
    let mut out = String::new();
    let failing: Vec<&Item> = record
        .items
        .iter()
        .filter(|item| item.outcome.fails())
        .collect();
    let verdict = match (&record.stopped, record.passed) {
        (Some(_), _) => "STOPPED before a verdict (exit 2)",
        (None, true) => "passed",
        (None, false) => "FAILED",
    };
    let _ = writeln!(out, "## rls-harness {command}: {verdict}\n");
    let count = |kind: Kind| record.items.iter().filter(|i| i.kind == kind).count();
    let _ = writeln!(
        out,
        "{} checks ({} failing): {} migrations, {} scenario steps, {} lint findings, {} property runs; {} backend.\n",
        record.items.len(),
        failing.len(),
        count(Kind::Migration),
        count(Kind::Step),
        count(Kind::Lint),
        count(Kind::Property),
        record.backend
    );
    let causes: Vec<&&Item> = failing
        .iter()
        .filter(|item| item.kind != Kind::Step)
        .collect();
    if !causes.is_empty() {
        let _ = writeln!(out, "**Start here:**\n");
        for item in causes {
            let place = item.location.as_ref().map_or_else(String::new, |place| {
                format!(" at `{}:{}`", root.relative(&place.file), place.line)
            });
            let rule = item
                .rule
                .as_deref()
                .map_or_else(String::new, |rule| format!(" ({rule})"));
            let _ = writeln!(out, "- {}{rule}{place}", cell(&title(item)));
        }
        let _ = writeln!(out);
    }
    if !failing.is_empty() {
        let _ = writeln!(out, "| outcome | check | rule | where |\n|---|---|---|---|");
        for item in failing {
            let place = item.location.as_ref().map_or_else(String::new, |place| {
                format!("`{}:{}`", root.relative(&place.file), place.line)
            });
            let _ = writeln!(
                out,
                "| {} | {} | {} | {place} |",
                kebab(item.outcome),
                cell(&title(item)),
                item.rule.as_deref().unwrap_or(""),
            );
        }
    }
    out
}

fn title(item: &Item) -> String {
    item.message.clone().unwrap_or_else(|| item.name.clone())
}

/// The annotation's title: the rule, else what kind of check it is.
fn title_of_kind(item: &Item) -> String {
    match &item.rule {
        Some(rule) => format!("rls-harness {}: {rule}", kebab_kind(item.kind)),
        None => format!("rls-harness {}", kebab_kind(item.kind)),
    }
}

pub(super) fn description(item: &Item) -> String {
    let mut text = title(item);
    if let Some(detail) = &item.detail {
        text.push('\n');
        text.push_str(detail);
    }
    text
}

fn kebab(outcome: Outcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(super) fn kebab_kind(kind: Kind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A markdown table cell: one line, no pipes.
fn cell(text: &str) -> String {
    text.lines().next().unwrap_or_default().replace('|', "\\|")
}

/// Escapes a workflow command's message, as GitHub's toolkit does.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value, as GitHub's toolkit does.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Place;
    use std::path::Path;

    fn root() -> Root {
        Root::fixed("/repo", "/repo")
    }

    fn record() -> Record {
        let failing = Item {
            kind: Kind::Step,
            group: "scenarios/a.toml".into(),
            name: "mo reads".into(),
            outcome: Outcome::Failed,
            rule: Some("tenant-isolation".into()),
            location: Some(Place {
                file: "scenarios/a.toml".into(),
                line: 7,
            }),
            message: Some("mo reads: expected 0 rows, got 1 row".into()),
            detail: Some("sql: select 1\n100% wrong, really".into()),
            duration_ms: None,
            step: None,
            lint: None,
            tables: vec!["public.tools".into()],
        };
        let passing = Item {
            outcome: Outcome::Passed,
            message: None,
            detail: None,
            name: "olga reads".into(),
            ..failing.clone()
        };
        Record {
            version: 1,
            passed: false,
            backend: "local".into(),
            items: vec![passing, failing],
            ..Record::default()
        }
    }

    #[test]
    fn junit_reads_back_with_the_failure_and_its_line() {
        let xml = junit(&record(), &root());
        let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        let suite = &report.test_suites[0];
        assert_eq!(suite.name.as_str(), "scenarios/a.toml");
        assert_eq!(suite.test_cases.len(), 2);
        let failed = &suite.test_cases[1];
        assert!(matches!(
            failed.status,
            TestCaseStatus::NonSuccess {
                kind: NonSuccessKind::Failure,
                ..
            }
        ));
        assert_eq!(
            failed.extra.get("line").map(|l| l.as_str()),
            Some("7"),
            "{xml}"
        );
    }

    #[test]
    fn junit_cases_have_times_and_names_unique_in_their_class() {
        let mut record = record();
        for item in &mut record.items {
            item.name = "mo reads".into();
            item.duration_ms = Some(1500.0);
        }
        let xml = junit(&record, &root());
        let report = quick_junit::Report::deserialize_from_str(&xml).unwrap();
        let cases = &report.test_suites[0].test_cases;
        let names: Vec<&str> = cases.iter().map(|case| case.name.as_str()).collect();
        assert_eq!(names, ["mo reads", "mo reads (line 7)"]);
        assert_eq!(cases[0].time, Some(std::time::Duration::from_millis(1500)));
    }

    #[test]
    fn annotations_escape_newlines_and_percent_signs() {
        assert_eq!(
            annotations(&record(), &root()),
            "::error file=scenarios/a.toml,line=7,title=rls-harness step%3A tenant-isolation::\
             mo reads: expected 0 rows, got 1 row%0Asql: select 1%0A100%25 wrong, really\n"
        );
    }

    #[test]
    fn sarif_has_the_required_fields_rules_and_locations() {
        let log: serde_json::Value =
            serde_json::from_str(&sarif(&record(), &root(), Path::new("rls-harness.toml")))
                .unwrap();
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "rls-harness");
        assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "tenant-isolation");
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "passed checks are no results");
        assert_eq!(results[0]["ruleId"], "tenant-isolation");
        assert_eq!(results[0]["level"], "error");
        assert!(results[0]["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("mo reads"));
        let location = &results[0]["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "scenarios/a.toml");
        assert_eq!(location["region"]["startLine"], 7);
    }

    #[test]
    fn annotations_put_root_causes_first_and_fold_a_file_s_failing_steps() {
        let mut record = record();
        let step = record.items[1].clone();
        let second = Item {
            location: Some(Place {
                file: "scenarios/a.toml".into(),
                line: 12,
            }),
            message: Some("olga writes: expected a refusal".into()),
            ..step.clone()
        };
        let policy = Item {
            kind: Kind::Property,
            group: "properties".into(),
            name: "generated worlds against the access model".into(),
            rule: Some("private-hiding".into()),
            location: Some(Place {
                file: "migrations/3.sql".into(),
                line: 40,
            }),
            message: Some("anon reads a private agent".into()),
            detail: None,
            // Not blamed on a table: nothing gathers the steps.
            tables: Vec::new(),
            ..step.clone()
        };
        record.items = vec![step, second, policy];
        let lines: Vec<String> = annotations(&record, &root())
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("::error file=migrations/3.sql,line=40,"),
            "{lines:?}"
        );
        assert_eq!(
            lines[1],
            "::error file=scenarios/a.toml,line=7,title=rls-harness step%3A 2 failing steps in \
             scenarios/a.toml::line 7: mo reads: expected 0 rows, got 1 row%0Aline 12: olga \
             writes: expected a refusal"
        );
        let summary = summary(&record, &root(), "check");
        assert!(
            summary.contains(
                "**Start here:**\n\n- anon reads a private agent (private-hiding) at `migrations/3.sql:40`"
            ),
            "{summary}"
        );
    }

    #[test]
    fn a_blamed_policy_gathers_its_line_s_findings_and_the_failing_steps_on_its_table() {
        let mut record = record();
        let step = record.items[1].clone();
        let on_agents = Item {
            location: Some(Place {
                file: "scenarios/b.toml".into(),
                line: 9,
            }),
            group: "scenarios/b.toml".into(),
            message: Some("anon reads no agent".into()),
            tables: vec!["public.agents".into()],
            ..step.clone()
        };
        let at_policy = Place {
            file: "migrations/3.sql".into(),
            line: 4,
        };
        let lint = Item {
            kind: Kind::Lint,
            group: "lints".into(),
            name: "permissive-true-policy".into(),
            location: Some(at_policy.clone()),
            message: Some("policy p admits every row".into()),
            detail: None,
            tables: Vec::new(),
            ..step.clone()
        };
        let property = Item {
            kind: Kind::Property,
            group: "properties".into(),
            name: "generated worlds against the access model".into(),
            rule: Some("anon-denied".into()),
            location: Some(at_policy),
            message: Some("anon-denied: admitted by `p`".into()),
            detail: None,
            tables: vec!["public.agents".into()],
            ..step.clone()
        };
        record.items = vec![step, on_agents, lint, property];
        let text = annotations(&record, &root());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with(
                "::error file=migrations/3.sql,line=4,title=rls-harness property%3A anon-denied \
                 (and 1 more at this line)::anon-denied: admitted by `p`"
            ),
            "the policy's finding leads: {lines:?}"
        );
        assert!(
            lines[0].contains("policy p admits every row")
                && lines[0].ends_with(
                    "1 failing scenario step on public.agents, the table blamed here:\
                     %0Ascenarios/b.toml:9: anon reads no agent"
                ),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("::error file=scenarios/a.toml,line=7,"),
            "a step on another table keeps its own annotation: {lines:?}"
        );
    }

    #[test]
    fn the_summary_lists_failures_with_their_lines() {
        let summary = summary(&record(), &root(), "check");
        assert!(
            summary.starts_with("## rls-harness check: FAILED"),
            "{summary}"
        );
        assert!(
            summary.contains("| failed | mo reads: expected 0 rows, got 1 row | tenant-isolation | `scenarios/a.toml:7` |"),
            "{summary}"
        );
    }
}
