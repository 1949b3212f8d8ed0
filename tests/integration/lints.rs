//! The gate's reading of the catalog: each lint has a mutant it catches by name, at the
//! mutant's own line; benign migrations stay green in every part of `check`; the
//! shipped migrations pass with every exposed object classed.

use std::path::{Path, PathBuf};

use rls_harness::{
    check_worlds, discover_scenarios, survey, Class, Expectation, Object, PropertyConfig, Schema,
    Template,
};

use futures_util::StreamExt;

use crate::support::{config_with, explain, migrations_with, template_with, vital};

#[tokio::test]
async fn the_shipped_migrations_pass_with_every_exposed_object_classed() {
    let (_, template) = vital().await;
    let (_dir, config) = config_with("");
    let survey = survey(&template.catalog, &config);
    assert!(
        survey.classes.unclassified.is_empty(),
        "{:?}",
        survey.classes.unclassified
    );
    assert!(survey.passed(), "{:#?}", survey.findings);
    let classed: Vec<String> = survey
        .classes
        .classified
        .iter()
        .map(|c| format!("{} {}", c.object.qualified(), c.class.name()))
        .collect();
    for expected in [
        "public.agents resource",
        "public.workflows resource",
        "public.user_tenants modelled",
        "public.mv_platform_shared_resources derived",
        "public.is_platform_admin() public",
        "public.get_accessible_tools(uuid) modelled",
    ] {
        assert!(
            classed.iter().any(|c| c == expected),
            "{expected}: {classed:#?}"
        );
    }
    // The deliberate owner's-rights view is allowed, with the config's reason.
    let allowed = survey
        .findings
        .iter()
        .find(|f| f.lint == rls_harness::Lint::OwnerRightsView)
        .unwrap();
    assert!(allowed
        .allowed
        .as_deref()
        .is_some_and(|r| r.contains("global rows")));
}

/// Each file in `tests/mutants/lints/` names in its first line the lint it must trip
/// and the object: the finding must be there, at a line of that file, and an error
/// must fail the gate.
#[rstest::rstest]
#[tokio::test]
async fn a_lint_mutant_is_caught_by_name(#[files("tests/mutants/lints/*.sql")] mutant: PathBuf) {
    let sql = std::fs::read_to_string(&mutant).unwrap();
    let header = sql
        .lines()
        .find_map(|line| line.strip_prefix("-- lint: "))
        .expect("a lint mutant names its lint and object");
    let (lint, object) = header.split_once(' ').expect("lint and object");
    let file = format!(
        "20991231000099_{}",
        mutant.file_name().unwrap().to_string_lossy()
    );
    let (_dir, template) = template_with(&file, &sql).await;
    let (_config_dir, config) = config_with("");
    let survey = survey(&template.catalog, &config);
    let finding = survey
        .findings
        .iter()
        .find(|f| f.lint.name() == lint && f.object == object)
        .unwrap_or_else(|| panic!("{lint} on {object} went unnoticed: {:#?}", survey.findings));
    let location = finding.location.as_ref().expect("the finding names a line");
    assert!(
        location.file.ends_with(&file) && location.line > 1,
        "{lint} points at {location}, not at the mutant"
    );
    let fails = finding.level == rls_harness::Level::Error;
    assert_eq!(!survey.passed(), fails, "{:#?}", survey.findings);
}

/// Every scenario of the library, run against `template`, four at a time: the failing
/// ones, rendered.
async fn scenario_failures(template: &Template, schema: &Schema) -> Vec<String> {
    let files = discover_scenarios(Path::new("scenarios")).unwrap();
    let reports: Vec<_> = futures_util::stream::iter(&files)
        .map(|file| async move {
            crate::support::run_file(template, schema, Path::new("scenarios"), file)
                .await
                .unwrap()
        })
        .buffer_unordered(4)
        .collect()
        .await;
    // A benign migration may change what a snapshot shows (a listing of every policy
    // grows by the new table's): snapshot steps are judged by the shipped migrations'
    // own tests, the other steps here.
    reports
        .iter()
        .filter(|report| {
            report
                .scenario
                .steps
                .iter()
                .zip(&report.steps)
                .any(|(step, got)| {
                    !matches!(step.expect, Expectation::Snapshot(_))
                        && got.verdict != rls_harness::Verdict::Passed
                })
        })
        .map(rls_harness::render_scenario)
        .collect()
}

/// A benign migration, as its own file after the shipped ones, and its config lines.
fn benign_migration(benign: &Path, number: usize) -> (String, String, String) {
    let sql = std::fs::read_to_string(benign).unwrap();
    let extra = std::fs::read_to_string(benign.with_extension("toml")).unwrap_or_default();
    let file = format!(
        "209912310{number:05}_{}",
        benign.file_name().unwrap().to_string_lossy()
    );
    (file, sql, extra)
}

/// Changes a team makes every week, done right: the catalog's reading stays green on
/// each of them alone, every object classed. A new exposed function comes with its one
/// line of config, the `.toml` next to it.
#[rstest::rstest]
#[tokio::test]
async fn a_benign_migration_stays_green(#[files("tests/benign/*.sql")] benign: PathBuf) {
    let (file, sql, extra) = benign_migration(&benign, 99);
    let (_dir, template) = template_with(&file, &sql).await;
    let (_config_dir, config) = config_with(&extra);
    let survey = survey(&template.catalog, &config);
    assert!(
        survey.passed(),
        "{}: {:#?}",
        benign.display(),
        survey.findings
    );
    assert!(survey.classes.unclassified.is_empty());
    assert!(
        !survey
            .findings
            .iter()
            .any(|f| f.lint.name() == "unprobed-object"),
        "{:?}",
        survey.findings
    );
}

/// All benign migrations together, as a week of pull requests would leave the schema:
/// the whole gate stays green, lints, scenarios and properties alike, and green means
/// checked: every object the model does not name got probes of its own. (Run once on
/// all of them rather than once per file: the probes of each object are the same.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_benign_migrations_together_stay_green() {
    let mut files = std::fs::read_dir("tests/benign")
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect::<Vec<_>>();
    files.sort();
    let benign: Vec<(String, String, String)> = files
        .iter()
        .enumerate()
        .map(|(number, path)| benign_migration(path, number + 1))
        .collect();
    let extra: String = benign.iter().map(|(_, _, extra)| extra.as_str()).collect();
    let added: Vec<(&str, &str)> = benign
        .iter()
        .map(|(file, sql, _)| (file.as_str(), sql.as_str()))
        .collect();
    let (harness, _) = vital().await;
    let migrations = migrations_with(&added);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let (_config_dir, config) = config_with(&extra);
    let survey = survey(&template.catalog, &config);
    assert!(survey.passed(), "{:#?}", survey.findings);
    let schema = Schema::read(harness, &template, &config).await.unwrap();
    let failures = scenario_failures(&template, &schema).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let report = check_worlds(
        harness,
        &template,
        &schema,
        &PropertyConfig::from_env(4).unwrap(),
        &|_| {},
    )
    .await
    .unwrap();
    assert!(report.failure.is_none(), "{}", explain(&report));
    for classified in survey.classes.classified.iter().filter(|c| !c.exact) {
        let declared_function = matches!(classified.object, Object::Function(_))
            && matches!(classified.class, Class::Public { .. });
        let name = classified.object.qualified();
        assert!(
            declared_function || report.objects.get(&name).is_some_and(|n| *n > 0),
            "{name} was not probed: {:?}",
            report.objects
        );
    }
}

/// The scenarios and properties judge the contract, not VITAL's implementation of it:
/// an implementation stricter where the access model sets an upper bound (a pre-request
/// function that refuses a foreign tenant header, a shared view granted to nobody)
/// passes every shipped scenario step and every generated world and sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stricter_implementation_of_the_contract_stays_green() {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/stricter")
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let stricter: Vec<(String, String)> = files
        .iter()
        .map(|path| {
            let name = format!(
                "2099123100009{}",
                path.file_name().unwrap().to_string_lossy()
            );
            (name, std::fs::read_to_string(path).unwrap())
        })
        .collect();
    let added: Vec<(&str, &str)> = stricter
        .iter()
        .map(|(file, sql)| (file.as_str(), sql.as_str()))
        .collect();
    let (harness, _) = vital().await;
    let migrations = migrations_with(&added);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let (_config_dir, config) = config_with("");
    let schema = Schema::read(harness, &template, &config).await.unwrap();
    let failures = scenario_failures(&template, &schema).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let worlds = PropertyConfig::from_env(8).unwrap();
    let report = check_worlds(harness, &template, &schema, &worlds, &|_| {})
        .await
        .unwrap();
    assert!(report.failure.is_none(), "{}", explain(&report));
    let sequences = PropertyConfig::from_env(4).unwrap();
    let report = rls_harness::check_sequences(harness, &template, &schema, &sequences, &|_| {})
        .await
        .unwrap();
    assert!(report.failure.is_none(), "{}", explain(&report));
}

/// A migration that renames a column the profile names breaks the harness's reading,
/// not a policy: `check` says so before any probe, at the profile's line, and exits 2.
#[tokio::test]
async fn a_column_the_profile_names_is_a_config_error_before_any_probe() {
    let rename =
        "alter table public.resource_sharing_audit rename column table_name to source_table;";
    let (_dir, template) = template_with("20991231000099_rename.sql", rename).await;
    let (_c, config) = config_with("");
    let survey = survey(&template.catalog, &config);
    let shipped = std::fs::read_to_string("rls-harness.toml").unwrap();
    let line = 1 + shipped
        .lines()
        .position(|l| l.starts_with("resource_table = \"table_name\""))
        .unwrap();
    let [error] = survey.config_errors.as_slice() else {
        panic!("one config error expected: {:?}", survey.config_errors);
    };
    assert_eq!((error.line, error.column), (line, 18), "{error}");
    assert!(
        error
            .message
            .starts_with("public.resource_sharing_audit: unknown column \"table_name\""),
        "{error}"
    );
    assert!(!survey.passed());

    let migrations = migrations_with(&[("20991231000099_rename.sql", rename)]);
    let output =
        crate::support::cli(&["lint", "--migrations", migrations.path().to_str().unwrap()])
            .output()
            .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("public.resource_sharing_audit: unknown column \"table_name\""),
        "{stderr}"
    );
}

/// `rls-harness lint` acts as nobody: it prints every exposed object with its class and
/// every finding with its line, and fails on an unclassified object with the line to add.
#[test]
fn lint_prints_classes_and_findings_and_fails_on_an_unclassified_object() {
    let shipped = crate::support::cli(&["lint"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&shipped.stdout);
    assert!(shipped.status.success(), "{stdout}");
    assert!(stdout.contains("public.workflows"), "{stdout}");
    assert!(
        stdout.contains(
            "allowed owner-rights-view migrations/20251026000003_update_rls_policies.sql:154"
        ),
        "{stdout}"
    );

    let sql = std::fs::read_to_string("tests/mutants/lints/unclassified_object.sql").unwrap();
    let migrations = migrations_with(&[("20991231000099_notes.sql", &sql)]);
    let output =
        crate::support::cli(&["lint", "--migrations", migrations.path().to_str().unwrap()])
            .output()
            .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("UNCLASSIFIED"), "{stdout}");
    assert!(
        stdout.contains("[objects.\"public.notes\"] class = "),
        "{stdout}"
    );
}

/// `rls-harness lint` of the shipped migrations and `sql` as one more, on a backend of
/// its own (these migrations change roles, which are the cluster's, never on the server
/// the other tests share): its output and the added file's path.
fn lint_alone_with(name: &str, sql: &str) -> (std::process::Output, PathBuf) {
    let migrations = migrations_with(&[(name, sql)]);
    let output = crate::support::cli_own_backend(&[
        "lint",
        "--migrations",
        migrations.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    (output, migrations.path().join(name))
}

/// A migration that lifts an API role past row security is a lint at the statement
/// that did it.
#[test]
fn a_migration_that_widens_an_api_role_is_named_at_its_statement() {
    let sql = "-- the API roles, widened\n\
               grant service_role to authenticated;\n\
               alter role anon set row_security = off;\n";
    let (output, file) = lint_alone_with("20991231000099_widen.sql", sql);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for (line, what) in [
        (
            2,
            "role authenticated is a member of service_role, which bypasses row security",
        ),
        (3, "role anon has row_security = off"),
    ] {
        assert!(
            stdout.contains(&format!(
                "api-role-widened {}:{line}: {what}",
                file.display()
            )),
            "{stdout}"
        );
    }
}

/// A migration that takes an API role from the login that migrates leaves the harness
/// unable to act as anyone: the run stops at that statement, saying so, rather than at
/// the first probe with a bare "permission denied".
#[test]
fn a_migration_that_takes_an_api_role_from_the_owner_stops_at_its_statement() {
    let sql = "-- tidy up\nrevoke authenticated from postgres;\n";
    let (output, file) = lint_alone_with("20991231000099_revoke.sql", sql);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:2:1: 42501: the migrations took authenticated from postgres",
            file.display()
        )),
        "{stderr}"
    );
}

/// `lint` writes the reports `check` does: its record as JSON on stdout with `-` (the
/// text report then on stderr) and SARIF that code scanning accepts, each finding at
/// the statement that made it.
#[test]
fn lint_writes_json_to_stdout_and_sarif_code_scanning_accepts() {
    // A table of this database only: a role's change would reach every test on the
    // shared server.
    let file = "20991231000099_open_notes.sql";
    let sql = "-- notes anyone may read\n\
               create table public.open_notes (id int primary key, body text);\n\
               grant select on public.open_notes to anon;\n";
    let migrations = migrations_with(&[(file, sql)]);
    let out = tempfile::tempdir().unwrap();
    let sarif = out.path().join("lint.sarif");
    let output = crate::support::cli(&[
        "lint",
        "--migrations",
        migrations.path().to_str().unwrap(),
        "--json",
        "-",
        "--sarif",
        sarif.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rls-harness lint"), "{stderr}");
    let record: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("stdout is the JSON record alone ({error})"));
    assert_eq!(record["passed"], false);
    let open = record["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["rule"] == "rls-disabled")
        .expect("the finding");
    assert_eq!(open["location"]["line"], 2, "{open}");
    crate::support::assert_code_scanning_accepts(&sarif);
}
