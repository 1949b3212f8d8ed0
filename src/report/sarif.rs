//! SARIF 2.1.0 for code scanning, as GitHub ingests it: every failing check and lint
//! finding is a result at a line of the repository, under a rule with its full
//! description, help and `security-severity`; each result carries a fingerprint that
//! stays the same from run to run, and a finding the config allows is a suppressed
//! result rather than an open warning.

use std::path::Path;

use serde_json::{json, Value};

use super::root::Root;
use crate::record::{Item, Outcome, Record};
use crate::rule::{Invariant, Level, Lint};

/// The log of `record`, its paths named from `root`; a result the record holds no line
/// for is placed at line 1 of `fallback` (the config file), since code scanning drops a
/// result without a location.
pub fn sarif(record: &Record, root: &Root, fallback: &Path) -> String {
    let mut rules: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for item in record
        .items
        .iter()
        .filter(|item| item.outcome != Outcome::Passed)
    {
        let rule = rule_id(item);
        let rule_index = match rules.iter().position(|known| *known == rule) {
            Some(index) => index,
            None => {
                rules.push(rule.clone());
                rules.len() - 1
            }
        };
        let (file, line) = match &item.location {
            Some(place) => (place.file.as_path(), place.line.max(1)),
            None => (fallback, 1),
        };
        let uri = root.uri(file);
        let mut artifact = json!({ "uri": uri });
        if !uri.starts_with("file://") {
            artifact["uriBaseId"] = json!("%SRCROOT%");
        }
        let mut result = json!({
            "ruleId": rule,
            "ruleIndex": rule_index,
            "level": level(item),
            "message": { "text": super::ci::description(item) },
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": artifact,
                    "region": { "startLine": line },
                }
            }],
            "partialFingerprints": { "rlsHarness/v1": fingerprint(item, &rule, &uri) },
        });
        if let Some(reason) = item.lint.as_ref().and_then(|lint| lint.allowed.as_ref()) {
            result["suppressions"] = json!([{
                "kind": "external",
                "status": "accepted",
                "justification": format!("allowed by rls-harness.toml: {reason}"),
            }]);
        }
        results.push(result);
    }
    let mut driver = json!({
        "name": "rls-harness",
        "version": env!("CARGO_PKG_VERSION"),
        "rules": rules.iter().map(|id| descriptor(id)).collect::<Vec<_>>(),
    });
    // Where the tool is documented, once the package names it: a made-up address
    // would be worse than the validator's warning about a missing one.
    if let Some(uri) = [env!("CARGO_PKG_HOMEPAGE"), env!("CARGO_PKG_REPOSITORY")]
        .into_iter()
        .find(|uri| !uri.is_empty())
    {
        driver["informationUri"] = json!(uri);
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver },
            "originalUriBaseIds": { "%SRCROOT%": { "uri": root.base_uri() } },
            "invocations": [{ "executionSuccessful": record.completed() }],
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default()
}

/// The rule a result is reported under: its invariant or lint, else its kind of check.
fn rule_id(item: &Item) -> String {
    item.rule
        .clone()
        .unwrap_or_else(|| super::ci::kebab_kind(item.kind))
}

fn level(item: &Item) -> &'static str {
    match item.outcome {
        Outcome::Warning => match item.lint.as_ref().map(|lint| lint.level.as_str()) {
            Some("info") => "note",
            _ => "warning",
        },
        _ => "error",
    }
}

/// What identifies a result from run to run: its rule, file and check, with the
/// numbers (world counts, seeds, lines) taken out of the check's name.
fn fingerprint(item: &Item, rule: &str, uri: &str) -> String {
    let name: String = item.name.chars().filter(|c| !c.is_ascii_digit()).collect();
    let key = format!(
        "{rule}\n{uri}\n{}\n{name}",
        super::ci::kebab_kind(item.kind)
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes())
        .simple()
        .to_string()
}

/// A rule's metadata: what it means, what to do about a result, how grave one is.
fn descriptor(id: &str) -> Value {
    let (short, full, help, severity, level, tag) = if let Ok(invariant) = id.parse::<Invariant>() {
        (
            format!("access-model invariant {invariant}"),
            invariant.statement().to_owned(),
            format!(
                "{} A result names the request that broke it and what the model expected; \
                 where the run could blame it, it stands at the policy or statement that \
                 admitted the request. The counterexample scenario it names replays it: \
                 keep it under scenarios/regressions once fixed.",
                invariant.statement()
            ),
            invariant.severity(),
            "error",
            "access-model",
        )
    } else if let Ok(lint) = id.parse::<Lint>() {
        let level = match lint.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "note",
        };
        (
            format!("catalog lint {lint}"),
            lint.finding().to_owned(),
            format!(
                "{} To fix it: {}. A finding that is intended may be allowed in \
                 rls-harness.toml with its reason ([allow] \"{lint}\"), which reports it \
                 as suppressed.",
                lint.finding(),
                lint.remedy()
            ),
            lint.severity(),
            level,
            "lint",
        )
    } else {
        let (short, full, help) = kind_text(id);
        (short, full, help, 7.0, "error", "check")
    };
    json!({
        "id": id,
        "name": pascal(id),
        "shortDescription": { "text": short },
        "fullDescription": { "text": full },
        "help": { "text": help, "markdown": help },
        "defaultConfiguration": { "level": level },
        "properties": {
            "tags": ["security", "row-level-security", tag],
            "precision": "high",
            "problem.severity": if level == "note" { "recommendation" } else { level },
            "security-severity": format!("{severity:.1}"),
        },
    })
}

/// The texts of a rule that is a kind of check (or a scenario's own rule name).
fn kind_text(id: &str) -> (String, String, String) {
    let (short, full, help) = match id {
        "migration" => (
            "a migration failed to apply",
            "A migration failed to apply: nothing after it was checked.",
            "The result stands at the statement that failed, with its SQLSTATE; fix it and run again.",
        ),
        "step" => (
            "a scenario step failed",
            "A scenario step did not get what its file says it must.",
            "The result stands at the step; its text shows who sent what, what was expected and what came back.",
        ),
        "scenario" => (
            "a scenario file could not run",
            "A scenario file could not run: its fixtures or users failed, or it is malformed.",
            "The result stands at the line that failed, with the server's error.",
        ),
        "property" => (
            "a property run failed",
            "A property run found a request whose answer disagrees with the access model.",
            "The result names the request and the counterexample scenario that replays it.",
        ),
        "run" => (
            "the run could not complete",
            "The run stopped before it reached a verdict: a configuration, input or server error.",
            "The result's text says what stopped the run and what to do instead.",
        ),
        other => {
            return (
                format!("scenario rule {other}"),
                format!("Scenario steps that a reviewer filed under {other}."),
                format!("A step filed under {other} did not get what its file says it must; the result stands at the step."),
            )
        }
    };
    (short.to_owned(), full.to_owned(), help.to_owned())
}

/// `write-isolation` as `WriteIsolation`, SARIF's convention for a rule's name.
fn pascal(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_check_and_rule_has_its_own_texts() {
        for kind in ["migration", "step", "scenario", "property", "run"] {
            assert!(!kind_text(kind).0.starts_with("scenario rule"), "{kind}");
        }
        for id in Invariant::names().into_iter().chain(Lint::names()) {
            let rule = descriptor(id);
            assert!(
                rule["fullDescription"]["text"]
                    .as_str()
                    .unwrap()
                    .ends_with('.'),
                "{id}"
            );
            assert!(rule["help"]["text"].as_str().unwrap().len() > 40, "{id}");
        }
        assert_eq!(pascal("write-isolation"), "WriteIsolation");
    }
}
