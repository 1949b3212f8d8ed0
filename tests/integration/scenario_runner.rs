//! The scenario runner itself: located errors for malformed files, diffs for wrong
//! expectations, unreliable denials, refused steps, snapshots under CI, and a weakened
//! policy that the scenario library must catch.

use std::path::Path;

use rls_harness::{discover_scenarios, load_scenario, render_scenario, ScenarioReport, Verdict};
use rstest::rstest;

/// The tenants the shipped migrations seed, as scenario files name them.
fn seeded() -> Vec<(String, uuid::Uuid)> {
    vec![
        ("digital-health-startup".into(), crate::support::DH),
        ("vital-platform".into(), crate::support::PLATFORM),
    ]
}

use crate::support::{cli, harness, migrations_with, run_file, vital};

const MALFORMED: &str = "tests/fixtures/malformed";
const RUNNER: &str = "tests/fixtures/runner";

#[rstest]
#[case::unknown_key("unknown_key")]
#[case::unknown_user("unknown_user")]
#[case::unknown_tenant("unknown_tenant")]
#[case::unknown_placeholder("unknown_placeholder")]
#[case::no_expectation("no_expectation")]
#[case::two_expectations("two_expectations")]
#[case::unknown_denial("unknown_denial")]
#[case::misplaced_fixtures("misplaced_fixtures")]
#[case::unknown_invariant("unknown_invariant")]
#[case::bare_42501("bare_42501")]
#[case::toml_syntax("toml_syntax")]
#[case::unknown_role("unknown_role")]
#[case::fixtures_commit("fixtures_commit")]
#[case::migration_as_a_user("migration_as_a_user")]
#[case::migration_expects_rows("migration_expects_rows")]
#[case::control_context_of_service_role("control_context_of_service_role")]
#[case::two_statements("two_statements")]
#[case::unknown_preference("unknown_preference")]
#[case::upsert_without_on_conflict("upsert_without_on_conflict")]
fn a_malformed_file_is_an_error_with_file_line_and_column(#[case] name: &str) {
    let path = Path::new(MALFORMED).join(format!("{name}.toml"));
    let error = load_scenario(
        Path::new(MALFORMED),
        &path,
        crate::support::profile().as_ref(),
        &seeded(),
    )
    .unwrap_err();
    insta::assert_snapshot!(format!("malformed_{name}"), error.to_string());
}

async fn run_fixture(name: &str) -> ScenarioReport {
    let (_, template) = vital().await;
    let schema = crate::support::schema(&template).await;
    run_file(
        &template,
        &schema,
        Path::new(RUNNER),
        &Path::new(RUNNER).join(name),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_wrong_expectation_fails_with_a_diff_of_rows() {
    let report = run_fixture("wrong_expectation.toml").await;
    assert!(
        matches!(report.steps[0].verdict, Verdict::Failed { .. }),
        "{:?}",
        report.steps[0].verdict
    );
    insta::assert_snapshot!("wrong_expectation", render_scenario(&report));
}

#[tokio::test]
async fn a_denial_that_nobody_could_pass_is_unreliable_not_passed() {
    let report = run_fixture("vacuous.toml").await;
    let verdicts: Vec<&Verdict> = report.steps.iter().map(|step| &step.verdict).collect();
    assert!(
        matches!(verdicts[0], Verdict::Unreliable(_)),
        "{verdicts:?}"
    );
    assert!(
        matches!(verdicts[1], Verdict::Unreliable(_)),
        "{verdicts:?}"
    );
    assert_eq!(
        verdicts[2],
        &Verdict::Passed,
        "a waiver with a reason is honoured"
    );
    assert_eq!(
        verdicts[3],
        &Verdict::Passed,
        "a denial next to a working control passes"
    );
    insta::assert_snapshot!("vacuous", render_scenario(&report));
}

#[tokio::test]
async fn a_step_that_leaves_its_role_is_refused() {
    let report = run_fixture("role_switch.toml").await;
    match &report.steps[0].verdict {
        Verdict::Refused(why) => assert!(
            why.contains("current_user is service_role, not anon"),
            "{why}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_changed_snapshot_fails_check_under_ci_and_can_be_written_for_review() {
    let snapshots = tempfile::tempdir().unwrap();
    std::fs::copy(
        "tests/fixtures/snapshots/snapshot__agents.snap",
        snapshots.path().join("snapshot__agents.snap"),
    )
    .unwrap();
    let scenario = format!("{RUNNER}/snapshot.toml");
    let args = [
        "check",
        &scenario,
        "--property-cases",
        "0",
        "--sequence-cases",
        "0",
        "--scenarios",
        RUNNER,
        "--snapshots",
        snapshots.path().to_str().unwrap(),
    ];
    let output = cli(&args).env("CI", "true").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL tests/fixtures/runner/snapshot.toml:7: the member's agents"),
        "{stdout}"
    );
    assert!(stdout.contains("+ Dr. Priya Raman | global"), "{stdout}");
    assert!(!snapshots.path().join("snapshot__agents.snap.new").exists());

    let output = cli(&[&args[..], &["--write-pending"]].concat())
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let pending =
        std::fs::read_to_string(snapshots.path().join("snapshot__agents.snap.new")).unwrap();
    assert!(pending.contains("Dr. Priya Raman"), "{pending}");
}

/// Two runs in one folder at once, with different results for one snapshot: the first
/// to write keeps `<name>.snap.new`, the other's result goes beside it under its process
/// id, and the reviewer is shown both.
#[test]
fn concurrent_runs_keep_both_pending_results() {
    let snapshots = tempfile::tempdir().unwrap();
    let renamed = migrations_with(&[(
        "99_rename.sql",
        "update agents set name = 'Dr. Renamed' where name = 'Dr. Priya Raman';",
    )]);
    let scenario = format!("{RUNNER}/snapshot.toml");
    let run = |migrations: &str| {
        cli(&[
            "check",
            &scenario,
            "--scenarios",
            RUNNER,
            "--migrations",
            migrations,
            "--snapshots",
            snapshots.path().to_str().unwrap(),
        ])
        .env_remove("CI")
        .env_remove("TF_BUILD")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
    };
    let runs = [run("migrations"), run(renamed.path().to_str().unwrap())];
    for mut child in runs {
        assert_eq!(
            child.wait().unwrap().code(),
            Some(1),
            "a new snapshot fails"
        );
    }
    let mut pending: Vec<String> = std::fs::read_dir(snapshots.path())
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    pending.sort();
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert!(
        pending.iter().any(|p| p.contains("Dr. Renamed")),
        "{pending:?}"
    );
    assert!(
        pending.iter().any(|p| p.contains("Dr. Priya Raman")),
        "{pending:?}"
    );
    let show = cli(&[
        "snapshots",
        "--snapshots",
        snapshots.path().to_str().unwrap(),
        "show",
    ])
    .output()
    .unwrap();
    let listed = String::from_utf8_lossy(&show.stdout);
    assert!(listed.contains("2 pending"), "{listed}");
}

/// A reviewer with only the binary: outside CI, `check` writes the new result for
/// review, `snapshots accept` makes it the snapshot (a file insta reads back), and a
/// pending file insta wrote is reviewed by the same commands.
#[test]
fn a_reviewer_accepts_and_rejects_snapshots_with_the_binary_alone() {
    let snapshots = tempfile::tempdir().unwrap();
    let dir = snapshots.path().to_str().unwrap();
    let stored = snapshots.path().join("snapshot__agents.snap");
    std::fs::copy("tests/fixtures/snapshots/snapshot__agents.snap", &stored).unwrap();
    let scenario = format!("{RUNNER}/snapshot.toml");
    let check = [
        "check",
        &scenario,
        "--scenarios",
        RUNNER,
        "--snapshots",
        dir,
    ];
    let output = cli(&check).env_remove("CI").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("rls-harness snapshots review"), "{stdout}");

    let show = cli(&["snapshots", "--snapshots", dir, "show"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&show.stdout);
    assert_eq!(show.status.code(), Some(1), "pending snapshots: {listed}");
    assert!(
        listed.contains("(changed)") && listed.contains("+ Dr. Priya Raman | global"),
        "{listed}"
    );

    let accept = cli(&["snapshots", "--snapshots", dir, "accept", "--all"])
        .output()
        .unwrap();
    assert!(
        accept.status.success(),
        "{}",
        String::from_utf8_lossy(&accept.stderr)
    );
    let snapshot = insta::Snapshot::from_file(&stored).unwrap();
    assert_eq!(
        snapshot.metadata().description(),
        Some("tests/fixtures/runner/snapshot.toml:7: the member's agents")
    );
    assert_eq!(snapshot.metadata().input_file(), Some(scenario.as_str()));
    let output = cli(&check).env_remove("CI").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // insta's own pending file (with its assertion_line) goes through the same review.
    let pending = snapshots.path().join("snapshot__agents.snap.new");
    std::fs::write(
        &pending,
        "---\nsource: tests/scenarios.rs\nassertion_line: 59\ndescription: \"x\"\n---\n changed\n",
    )
    .unwrap();
    let mut review = cli(&["snapshots", "--snapshots", dir, "review"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    review
        .stdin
        .take()
        .unwrap()
        .write_all(b"maybe\nr\n")
        .unwrap();
    let output = review.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("+ changed") && stdout.contains("0 accepted, 1 rejected, 0 left pending"),
        "{stdout}"
    );
    assert!(!pending.exists());
    assert!(insta::Snapshot::from_file(&stored).is_ok());
}

/// With the dashboard's permissive read policy put back, the library must fail, and
/// say which invariants broke.
#[tokio::test]
async fn a_permissive_agents_policy_makes_the_scenario_library_fail() {
    let harness = harness().await;
    let weakened = migrations_with(&[(
        "20991231000099_weaken_agents_read.sql",
        "drop policy agents_select_with_sharing on public.agents;\n\
         create policy agents_select_with_sharing on public.agents for select to authenticated using (true);",
    )]);
    let template = harness.template_from_dir(weakened.path()).await.unwrap();
    let mut broken_invariants = Vec::new();
    let mut failing = Vec::new();
    let schema = crate::support::schema(&template).await;
    for file in discover_scenarios(Path::new("scenarios")).unwrap() {
        let report = run_file(&template, &schema, Path::new("scenarios"), &file)
            .await
            .unwrap();
        let failed: Vec<_> = report
            .steps
            .iter()
            .filter(|step| matches!(step.verdict, Verdict::Failed { .. }))
            .collect();
        if !failed.is_empty() {
            failing.push(file.display().to_string());
            broken_invariants.extend(failed.iter().filter_map(|step| step.invariant));
        }
    }
    assert!(
        failing.len() >= 3,
        "only {failing:?} noticed the permissive policy"
    );
    assert!(
        broken_invariants.contains(&rls_harness::Invariant::PrivateHiding),
        "{broken_invariants:?}"
    );
    assert!(
        broken_invariants.contains(&rls_harness::Invariant::SelectiveSharing),
        "{broken_invariants:?}"
    );
}

#[tokio::test]
async fn a_failing_fixture_names_the_file_and_line_and_leaves_nothing() {
    let (harness, template) = vital().await;
    let path = Path::new(RUNNER).join("broken_fixture.toml");
    let schema = crate::support::schema(&template).await;
    let error = run_file(&template, &schema, Path::new(RUNNER), &path)
        .await
        .unwrap_err()
        .to_string();
    // The failing statement's own line, and the server's whole message.
    assert_eq!(
        error,
        "tests/fixtures/runner/broken_fixture.toml:5: fixtures: 42P01: relation \"agentz\" does not exist"
    );
    // The scenario's transaction was rolled back: the next lease sees the template.
    let lease = harness.lease(&template).await.unwrap();
    let owner = lease.owner().await.unwrap();
    let left: i64 = owner
        .query_one("select count(*) from agents where name = 'ok'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

/// A tenant the schema refuses is an error at the line that declares it.
#[tokio::test]
async fn a_refused_tenant_names_the_line_that_declares_it() {
    let (_, template) = vital().await;
    let path = Path::new(RUNNER).join("broken_tenant.toml");
    let schema = crate::support::schema(&template).await;
    let error = run_file(&template, &schema, Path::new(RUNNER), &path)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("tests/fixtures/runner/broken_tenant.toml:5: users and tenants: 23514:"),
        "{error}"
    );
}

/// `check -v` says which steps send what no client of the API can (several statements
/// in one transaction), and not of a read that merely opens with a parenthesis.
#[test]
fn verbose_steps_say_which_requests_the_api_cannot_send() {
    let output = cli(&[
        "check",
        "-v",
        "scenarios/visibility/derived-containment.toml",
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "not reachable through the API: several statements in one transaction: PostgREST \
             runs one statement per request"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("PostgREST sends no ``"), "{stdout}");
}

/// A run that stops before its verdict (exit 2) still writes every report it was asked
/// for, with the error at its line: a CI job's upload steps find their files, code
/// scanning accepts the log, and the pull request shows the failing statement. Paths
/// are named from `--root`.
#[test]
fn a_run_stopped_by_a_migration_still_writes_every_report_at_the_failing_line() {
    let file = "20991231000099_broken,v1.sql";
    let sql = "-- a typo in a type\nselect 1;\ncreate table public.x (id int primary key, y no_such_type);\n";
    let migrations = migrations_with(&[(file, sql)]);
    let root = migrations.path().parent().unwrap();
    let folder = migrations.path().file_name().unwrap().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (junit, json, sarif, summary) = (
        out.path().join("r.xml"),
        out.path().join("r.json"),
        out.path().join("r.sarif"),
        out.path().join("summary.md"),
    );
    let output = cli(&[
        "check",
        "--migrations",
        migrations.path().to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--sarif",
        sarif.to_str().unwrap(),
    ])
    .env("GITHUB_ACTIONS", "true")
    .env("GITHUB_STEP_SUMMARY", &summary)
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    let relative = format!("{folder}/{file}");
    // A workflow command's property escapes the comma.
    assert!(
        stdout.contains(&format!(
            "::error file={folder}/20991231000099_broken%2Cv1.sql,line=3,title=rls-harness migration::"
        )),
        "{stdout}"
    );

    crate::support::assert_code_scanning_accepts(&sarif);
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let run = &log["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "migration");
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        format!("{folder}/20991231000099_broken%2Cv1.sql")
    );
    assert_eq!(location["region"]["startLine"], 3);
    assert!(result["message"]["text"]
        .as_str()
        .unwrap()
        .contains("42704"));

    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(record["passed"], false);
    assert!(record["stopped"].as_str().unwrap().contains("42704"));
    assert_eq!(record["items"][0]["location"]["line"], 3);

    let report =
        quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap())
            .unwrap();
    let case = &report.test_suites[0].test_cases[0];
    assert_eq!(
        case.extra.get("file").map(|f| f.as_str()),
        Some(relative.as_str())
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with("## rls-harness check: STOPPED"),
        "{summary}"
    );
}

/// The gate speaks CI: a run with a failing step and a scenario whose fixtures fail
/// reports both (the broken file hides no other verdict), writes JUnit a parser reads
/// back with the failing case and its line, a JSON record, annotations on the lines,
/// and a job summary.
#[test]
fn a_failing_run_reports_every_file_in_junit_json_annotations_and_a_summary() {
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("report.xml");
    let json = out.path().join("record.json");
    let summary = out.path().join("summary.md");
    let sarif = out.path().join("report.sarif");
    let wrong = format!("{RUNNER}/wrong_expectation.toml");
    let broken = format!("{RUNNER}/broken_fixture.toml");
    let output = cli(&[
        "check",
        &wrong,
        &broken,
        "--scenarios",
        RUNNER,
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--sarif",
        sarif.to_str().unwrap(),
    ])
    .env("GITHUB_ACTIONS", "true")
    .env("GITHUB_STEP_SUMMARY", &summary)
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("FAIL {broken}: could not run: {broken}:")),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("exit 1"), "{stdout}");

    let report =
        quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap())
            .unwrap();
    let failing: Vec<_> = report
        .test_suites
        .iter()
        .flat_map(|suite| &suite.test_cases)
        .filter(|case| !matches!(case.status, quick_junit::TestCaseStatus::Success { .. }))
        .collect();
    let wrong_step = failing
        .iter()
        .find(|case| case.name.as_str() == "the member lists the platform agents")
        .expect("the failing step is a failing test case");
    assert_eq!(
        (
            wrong_step.extra.get("file").map(|f| f.as_str()),
            wrong_step.extra.get("line").map(|l| l.as_str())
        ),
        (Some(wrong.as_str()), Some("7"))
    );
    assert!(failing.iter().any(|case| matches!(
        case.status,
        quick_junit::TestCaseStatus::NonSuccess {
            kind: quick_junit::NonSuccessKind::Error,
            ..
        }
    )));

    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(record["passed"], false);
    let items = record["items"].as_array().unwrap();
    assert!(items
        .iter()
        .any(|item| item["kind"] == "scenario" && item["outcome"] == "error"));

    assert!(
        stdout.contains(&format!(
            "::error file={wrong},line=7,title=rls-harness step"
        )),
        "{stdout}"
    );
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|result| {
        result["ruleId"] == "global-visibility"
            && result["locations"][0]["physicalLocation"]["region"]["startLine"] == 7
    }));
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with("## rls-harness check: FAILED")
            && summary.contains(&format!("`{wrong}:7`")),
        "{summary}"
    );
}

/// Before any server starts, every mistake of a file is found, not only the first:
/// a step with a mistake is set aside and the others checked.
#[test]
fn every_mistake_of_a_file_is_reported_before_any_server_starts() {
    let path = Path::new(MALFORMED).join("three_steps_two_mistakes.toml");
    let errors: Vec<String> = rls_harness::validate_scenario(
        Path::new(MALFORMED),
        &path,
        crate::support::profile().as_ref(),
    )
    .unwrap_err()
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        errors,
        [
            format!(
                "{}:7:6: unknown user \"dnaa\", did you mean \"dana\"?",
                path.display()
            ),
            format!(
                "{}:19:10: unknown denial \"polcy\", did you mean \"policy\"?",
                path.display()
            ),
        ]
    );
}

/// A run that would check nothing has proven nothing: `check` of a folder without
/// scenario files, or of a folder named like one, exits 2 and says so, before any
/// server starts.
#[test]
fn check_of_nothing_exits_2_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("x.toml")).unwrap();
    for target in [dir.path().to_owned(), dir.path().join("x.toml")] {
        let output = crate::support::cli(&["check", target.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("no scenario files (*.toml)") && stderr.contains("nothing to check"),
            "{stderr}"
        );
    }
}

/// supabase-js's `.insert(...).select()` asks for the written row back: a table whose
/// INSERT policy admits a writer but whose SELECT policy hides the new row takes the
/// minimal insert and refuses the one that returns it, as PostgREST does.
#[tokio::test]
async fn a_write_that_returns_its_rows_needs_the_select_policy_too() {
    let (_dir, template) =
        crate::support::template_with("20991231000097_dropbox.sql", crate::support::DROPBOX).await;
    let schema = crate::support::schema(&template).await;
    let scenarios = tempfile::tempdir().unwrap();
    let file = scenarios.path().join("dropbox.toml");
    std::fs::write(
        &file,
        r#"invariant = "write-isolation"

[users.dana]
tenants = { digital-health-startup = "admin" }

[[step]]
name = "the minimal insert is admitted"
as = "dana"
sql = "insert into dropbox (tenant_id, body) values (${tenant.digital-health-startup}, 'a')"
affected = 1

[[step]]
name = "the insert that reads its row back is refused"
as = "dana"
sql = "insert into dropbox (tenant_id, body) values (${tenant.digital-health-startup}, 'b')"
prefer = "return=representation"
denied = "policy"
no_control = "nobody but a platform admin reads the box"
"#,
    )
    .unwrap();
    let report = run_file(&template, &schema, scenarios.path(), &file)
        .await
        .unwrap();
    let verdicts: Vec<&Verdict> = report.steps.iter().map(|step| &step.verdict).collect();
    assert_eq!(verdicts, [&Verdict::Passed, &Verdict::Passed]);
    assert!(
        report.steps[1].sql.ends_with(" returning *"),
        "{}",
        report.steps[1].sql
    );
}

/// `check` reports each scenario file as soon as it has run: its line is on stdout
/// while the survey and the generated worlds are still to come.
#[test]
fn check_streams_each_scenario_file_while_the_run_goes_on() {
    use std::io::BufRead;
    let scenarios = tempfile::tempdir().unwrap();
    std::fs::copy(
        "scenarios/attacks/cross-tenant-insert.toml",
        scenarios.path().join("cross-tenant-insert.toml"),
    )
    .unwrap();
    let mut child = crate::support::cli(&[
        "check",
        "--scenarios",
        scenarios.path().to_str().unwrap(),
        // The survey and four worlds still take the better part of a second after the
        // scenario's line.
        "--property-cases",
        "4",
        "--sequence-cases",
        "0",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = stdout.lines().map(Result::unwrap);
    let before: Vec<String> = lines
        .by_ref()
        .take_while(|line| !line.contains("cross-tenant-insert.toml"))
        .collect();
    // Everything that needs the whole run (the survey, the properties, the closing
    // line) comes after it.
    assert!(
        before.last().is_some_and(|line| line == "scenarios")
            && !before
                .iter()
                .any(|line| line.starts_with("objects the API roles reach")),
        "the scenario's line waited for the survey: {before:?}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the scenario's line came only when the run was over"
    );
    let rest: Vec<String> = lines.collect();
    assert!(
        rest.iter().any(|line| line == "properties"),
        "the properties follow: {rest:?}"
    );
    assert!(child.wait().unwrap().success());
}
