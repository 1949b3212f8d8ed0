//! Generated worlds against the reference model: the correct migrations agree with it,
//! and every mutant in `tests/mutants/` is caught, with the invariant it breaks.

use rls_harness::{check_worlds, PropertyConfig};

use crate::support::{explain, vital};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_worlds_agree_with_the_access_model() {
    let (harness, template) = vital().await;
    let mut config = PropertyConfig::from_env(24).unwrap();
    config.persistence = Some("tests/property.proptest-regressions");
    let report = check_worlds(harness, &template, &config, &|_| {})
        .await
        .unwrap();
    assert!(report.failure.is_none(), "{}", explain(&report));
    assert!(report.worlds >= u64::from(config.cases), "{report:?}");
    assert!(
        report.checks > report.worlds * 50,
        "each world is probed many ways: {report:?}"
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
    let (harness, _) = vital().await;
    let name = format!(
        "20251026000099_{}",
        mutant.file_name().unwrap().to_string_lossy()
    );
    let migrations = crate::support::migrations_with(&[(&name, &sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let config = PropertyConfig::from_env(32).unwrap();
    let report = check_worlds(harness, &template, &config, &|_| {})
        .await
        .unwrap();
    let found = report.failure.as_ref().unwrap_or_else(|| {
        panic!(
            "{} went unnoticed in {} worlds",
            mutant.display(),
            report.worlds
        )
    });
    let named: Vec<&str> = found.mismatches.iter().map(|m| m.invariant).collect();
    assert!(
        named.iter().any(|invariant| expected.contains(invariant)),
        "{}: expected one of {expected:?}, the shrunk world broke {named:?}\n{}",
        mutant.display(),
        explain(&report)
    );
    assert!(
        found.path.as_ref().is_some_and(|path| path.exists()),
        "the counterexample is written out"
    );
    assert!(
        found.world.users.len() <= 3 && found.world.resources.len() <= 16,
        "shrinking keeps the world small: {:?}",
        found.world
    );
}
