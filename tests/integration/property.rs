//! Generated worlds against the reference model: the correct migrations agree with it,
//! the fixed seed of `check` reaches every cell of the operation space, and every
//! mutant (the files in `tests/mutants/` and the policies generated below) is caught,
//! with the invariant it breaks.

use std::time::Duration;

use rls_harness::{check_worlds, coverage_gaps, Probe, PropertyConfig, PropertyReport, Template};

use crate::support::{explain, vital};

/// `check`'s own run: the fixed seed and the number of worlds a CI gate sees. It must
/// agree with the model, and probe every cell of the write coverage table, so that a
/// green gate means that every kind of write was asked in every kind of context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_seed_agrees_with_the_model_and_reaches_every_cell() {
    let (harness, template) = vital().await;
    let mut config = PropertyConfig::check();
    config.persistence = Some("tests/property.proptest-regressions");
    let schema = crate::support::schema(&template).await;
    let report = check_worlds(harness, &template, &schema, &config, &|_| {})
        .await
        .unwrap();
    assert!(report.failure.is_none(), "{}", explain(&report));
    assert!(report.worlds >= u64::from(config.cases), "{report:?}");
    // The probes go as PostgREST sends its statements: prepared, once a session has
    // seen their shape (each worker's first world sends most of them as text).
    assert!(
        report.prepared * 100 >= report.statements * 95,
        "{} of {} statements went prepared",
        report.prepared,
        report.statements
    );
    let gaps = coverage_gaps(&report.labels.shape, &report.coverage);
    assert!(
        gaps.is_empty(),
        "{}",
        rls_harness::report::coverage(&rls_harness::record::coverage(&[&report]))
    );
}

/// Runs the worlds against `template` until the first mismatch, without shrinking: a
/// mutant needs to be killed and named, not minimised (the deep shrink has a test of
/// its own).
async fn hunt(template: &Template) -> PropertyReport {
    let (harness, _) = vital().await;
    let config = PropertyConfig {
        shrink_time: Duration::ZERO,
        ..PropertyConfig::from_env(32).unwrap()
    };
    let schema = crate::support::schema(template).await;
    check_worlds(harness, template, &schema, &config, &|_| {})
        .await
        .unwrap()
}

/// Asserts that `report` found a mismatch named by one of `expected`.
fn caught(report: &PropertyReport, what: &str, expected: &[&str]) {
    let found = report
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("{what} went unnoticed in {} worlds", report.worlds));
    let named: Vec<&str> = found
        .mismatches
        .iter()
        .map(|m| m.invariant.name())
        .collect();
    assert!(
        named.iter().any(|invariant| expected.contains(invariant)),
        "{what}: expected one of {expected:?}, the shrunk world broke {named:?}\n{}",
        explain(report)
    );
    assert!(
        found.path.as_ref().is_some_and(|path| path.exists()),
        "the counterexample is written out"
    );
}

/// Each mutant breaks one rule; the properties must notice, naming one of the
/// invariants the file's header lists.
#[rstest::rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutant_is_caught_with_the_invariant_it_breaks(
    #[files("tests/mutants/*.sql")] mutant: std::path::PathBuf,
) {
    let sql = std::fs::read_to_string(&mutant).unwrap();
    let expected: Vec<&str> = sql
        .lines()
        .find_map(|line| line.strip_prefix("-- invariant:"))
        .expect("a mutant names the invariants it breaks")
        .split_whitespace()
        .collect();
    let object = sql
        .lines()
        .find_map(|line| line.strip_prefix("-- object:"))
        .map(str::trim);
    let (harness, _) = vital().await;
    let name = format!(
        "20991231000099_{}",
        mutant.file_name().unwrap().to_string_lossy()
    );
    let migrations = crate::support::migrations_with(&[(&name, &sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let report = hunt(&template).await;
    caught(&report, &mutant.display().to_string(), &expected);
    // A mutant that adds an object is caught on that object, by name.
    if let Some(object) = object {
        let found = report.failure.as_ref().unwrap();
        assert!(
            found.mismatches.iter().any(|m| matches!(
                &m.probe,
                Probe::Subject { object: named, .. } if named.contains(object)
            )),
            "{}: no finding names {object}\n{}",
            mutant.display(),
            explain(&report)
        );
    }
}

/// The policy of `table` for `command`, with `from` replaced by `to` in its `USING`
/// and `WITH CHECK`, as an `ALTER POLICY` read from the shipped template.
async fn policy_mutant(table: &str, command: &str, from: &str, to: &str) -> String {
    let (harness, template) = vital().await;
    let database = harness.database(&template).await.unwrap();
    let owner = database.owner().await.unwrap();
    let rows = owner
        .query(
            "select policyname::text, qual, with_check from pg_policies \
             where schemaname = 'public' and tablename = $1 and cmd = upper($2)",
            &[&table, &command],
        )
        .await
        .unwrap();
    drop(owner);
    database.close().await.unwrap();
    assert_eq!(rows.len(), 1, "one {command} policy on {table}");
    let (name, using, check): (String, Option<String>, Option<String>) =
        (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    let mutate = |text: &Option<String>, clause: &str| match text {
        Some(text) => {
            assert!(
                text.contains(from),
                "{name}: {clause} does not call {from}: {text}"
            );
            format!(" {clause} ({})", text.replace(from, to))
        }
        None => String::new(),
    };
    format!(
        "-- {name}, with {from} in place of {to}\nalter policy {name} on public.{table}{}{};\n",
        mutate(&using, "using"),
        mutate(&check, "with check")
    )
}

/// A resource table's write policy that decides on every tenant the user writes in,
/// ignoring the tenant context (`W(u)` for `E(u) ∩ W(u)`): a writer of two tenants
/// whose context is one of them must not touch the other's rows.
#[rstest::rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_policy_that_ignores_the_context_is_caught(
    #[values("agents", "tools", "prompts", "workflows")] table: &str,
    #[values("insert", "update", "delete")] command: &str,
) {
    let sql = policy_mutant(
        table,
        command,
        "user_effective_writer_tenant_ids",
        "user_writer_tenant_ids",
    )
    .await;
    let (harness, _) = vital().await;
    let name = format!("20991231000099_{table}_{command}_ignores_context.sql");
    let migrations = crate::support::migrations_with(&[(&name, &sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let what = format!("{table} {command} ignoring the context");
    caught(
        &hunt(&template).await,
        &what,
        &["context-forgery", "write-isolation"],
    );
}

/// The tenancy tables ignore the context by design (a user lists and manages its
/// tenants whatever the context): a membership policy that heeds it (`E(u) ∩ W(u)` for
/// `W(u)`) takes away what the model grants, and is caught too.
#[rstest::rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_policy_that_heeds_the_context_is_caught(
    #[values("insert", "update", "delete")] command: &str,
) {
    let sql = policy_mutant(
        "user_tenants",
        command,
        "user_writer_tenant_ids",
        "user_effective_writer_tenant_ids",
    )
    .await;
    let (harness, _) = vital().await;
    let name = format!("20991231000099_user_tenants_{command}_heeds_context.sql");
    let migrations = crate::support::migrations_with(&[(&name, &sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let what = format!("user_tenants {command} heeding the context");
    caught(
        &hunt(&template).await,
        &what,
        &["write-isolation", "no-escalation"],
    );
}

/// The one place where shrinking is the thing under test: a mutant's counterexample
/// shrinks to a small world, and its scenario file fails on the mutant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counterexample_shrinks_to_a_small_world_that_fails_as_a_scenario() {
    let (harness, _) = vital().await;
    let sql = std::fs::read_to_string("tests/mutants/09_members_delete.sql").unwrap();
    let migrations =
        crate::support::migrations_with(&[("20991231000099_members_delete.sql", &sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let config = PropertyConfig {
        shrink_time: Duration::from_secs(120),
        ..PropertyConfig::from_env(32).unwrap()
    };
    let schema = crate::support::schema(&template).await;
    let report = check_worlds(harness, &template, &schema, &config, &|_| {})
        .await
        .unwrap();
    caught(
        &report,
        "members delete",
        &["write-isolation", "context-forgery"],
    );
    let found = report.failure.as_ref().unwrap();
    assert!(
        found.world.users.len() <= 2 && found.world.resources.len() <= 12,
        "shrinking keeps the world small: {} users, {} resources\n{}",
        found.world.users.len(),
        found.world.resources.len(),
        found.file()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counterexample.toml");
    std::fs::write(&path, found.file()).unwrap();
    let run = crate::support::run_file(&template, &schema, dir.path(), &path)
        .await
        .unwrap();
    assert!(
        !run.passed(),
        "the counterexample fails on the mutant:\n{}",
        found.file()
    );
}
