//! Which policy let it through: a failure is blamed on the policy that admits it, at
//! its `CREATE POLICY` line, and the record (JSON, SARIF, annotations) points there.

use std::time::Duration;

use rls_harness::{check_worlds, PropertyConfig};

use crate::support::{migrations_with, schema, vital};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_permissive_policy_is_blamed_at_its_line() {
    let (harness, _) = vital().await;
    let file = "20991231000099_legacy_policy.sql";
    let sql = std::fs::read_to_string("tests/mutants/06_legacy_policy_left_in_place.sql").unwrap();
    let migrations = migrations_with(&[(file, &sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let schema = schema(&template).await;
    let config = PropertyConfig {
        shrink_time: Duration::ZERO,
        ..PropertyConfig::from_env(32).unwrap()
    };
    let report = check_worlds(harness, &template, &schema, &config, &|_| {})
        .await
        .unwrap();
    let found = report
        .failure
        .as_ref()
        .expect("the leftover policy is caught");
    let blamed = found
        .blame(harness, &template, &schema)
        .await
        .unwrap()
        .expect("a failure on agents is blamed");
    assert_eq!(blamed.table, "public.agents");
    let [(policy, at)] = &blamed.admitted_by[..] else {
        panic!("one policy admits it: {blamed:?}");
    };
    assert_eq!(policy, "Enable read access for all users");
    let at = at.as_ref().expect("the policy's line");
    assert!(at.file.ends_with(file) && at.line == 4, "{at}");
    assert!(blamed
        .others
        .contains(&"agents_select_with_sharing".to_owned()));
    assert!(
        blamed.to_string().starts_with(&format!(
            "admitted by `Enable read access for all users` ({at}); `agents_select_with_sharing` refuses it"
        )),
        "{blamed}"
    );
}

/// The same, end to end: the terminal says which policy, and the JSON record, the
/// SARIF result and the annotation all point at its line.
#[test]
fn check_puts_the_blame_on_the_policy_line_in_every_output() {
    let file = "20991231000099_legacy_policy.sql";
    let sql = std::fs::read_to_string("tests/mutants/06_legacy_policy_left_in_place.sql").unwrap();
    let migrations = migrations_with(&[(file, &sql)]);
    let out = tempfile::tempdir().unwrap();
    let (json, sarif, junit) = (
        out.path().join("r.json"),
        out.path().join("r.sarif"),
        out.path().join("r.xml"),
    );
    let output = crate::support::cli(&[
        "check",
        "--migrations",
        migrations.path().to_str().unwrap(),
        "--sequence-cases",
        "0",
        "--shrink-time",
        "0",
        "--json",
        json.to_str().unwrap(),
        "--sarif",
        sarif.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ])
    .env("GITHUB_ACTIONS", "true")
    .env_remove("GITHUB_STEP_SUMMARY")
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let policy_file = migrations.path().join(file);
    let at = format!("{}:4", policy_file.display());
    assert!(
        stdout.contains(&format!(
            "admitted by `Enable read access for all users` ({at})"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("::error file={},line=4,", policy_file.display())),
        "{stdout}"
    );
    crate::support::assert_code_scanning_accepts(&sarif);
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let property = record["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["kind"] == "property" && item["outcome"] == "failed")
        .expect("the failing property run");
    assert_eq!(property["location"]["line"], 4);
    // The record also holds what the worlds' probes observed: the matrix's cells.
    assert!(record["observations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|cell| cell["object"] == "agents"
            && cell["principal"] == "anon"
            && cell["outcomes"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("sees"))));
    let report =
        quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap())
            .unwrap();
    let failing = report
        .test_suites
        .iter()
        .filter(|suite| suite.name.as_str() == "properties")
        .flat_map(|suite| &suite.test_cases)
        .find(|case| !matches!(case.status, quick_junit::TestCaseStatus::Success { .. }))
        .expect("the failing property run is a failing test case");
    assert_eq!(failing.extra.get("line").map(|l| l.as_str()), Some("4"));
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert!(log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(
            |result| result["locations"][0]["physicalLocation"]["region"]["startLine"] == 4
                && result["message"]["text"]
                    .as_str()
                    .is_some_and(|text| text.contains("Enable read access for all users"))
        ));
}

/// A shrink cut short by `--shrink-time` is said once, in the harness's words (the
/// counterexample names the flag); proptest's own advice about its environment
/// variables, which `check` does not read, stays out of stderr.
#[test]
fn a_shrink_cut_short_is_reported_in_the_harness_s_words_only() {
    let file = "20991231000099_members_delete.sql";
    let sql = std::fs::read_to_string("tests/mutants/09_members_delete.sql").unwrap();
    let migrations = migrations_with(&[(file, &sql)]);
    let output = crate::support::cli(&[
        "check",
        "--migrations",
        migrations.path().to_str().unwrap(),
        "--sequence-cases",
        "0",
        "--shrink-time",
        "1",
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("proptest:"), "{stderr}");
    let counterexample = stdout
        .lines()
        .find_map(|line| {
            line.split_whitespace()
                .find(|word| word.ends_with(".toml") && word.contains("counterexamples/"))
        })
        .expect("the counterexample's path");
    let text = std::fs::read_to_string(counterexample).unwrap();
    assert!(
        text.contains("Shrinking stopped after 1 s (--shrink-time)"),
        "{text}"
    );
}
