//! Generated sequences of committed requests against the reference model: the correct
//! migrations agree with it step by step, and audit-trail mutants, which no snapshot
//! world can show (the owner writes every row of a snapshot), are caught by name.

use rls_harness::{check_sequences, default_migrations_dir, PropertyConfig, Verdict};

use crate::support::{explain, vital};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_sequences_agree_with_the_access_model() {
    let (harness, template) = vital().await;
    let config = PropertyConfig::from_env(8).unwrap();
    let schema = crate::support::schema(&template).await;
    let report = check_sequences(harness, &template, &schema, &config, &|_| {})
        .await
        .unwrap();
    assert!(report.failure.is_none(), "{}", explain(&report));
    assert!(report.worlds >= u64::from(config.cases), "{report:?}");
    assert!(
        report.checks > report.worlds * 200,
        "every step re-probes the world: {report:?}"
    );
}

/// The audit trigger of the shipped migration 3, rewritten by `mutate`.
fn audit_trigger_mutant(mutate: &dyn Fn(&str) -> String) -> String {
    let path = default_migrations_dir().join("20251026000003_update_rls_policies.sql");
    let source = std::fs::read_to_string(path).unwrap();
    let start = source
        .find("create or replace function public.audit_resource_sharing()")
        .expect("migration 3 defines the audit trigger");
    let end = start + source[start..].find("\n$$;").expect("its body ends") + "\n$$;".len();
    let function = &source[start..end];
    let mutant = mutate(function);
    assert_ne!(mutant, function, "the mutation applies to the trigger");
    mutant
}

/// A trigger that compares only three of the four sharing columns: a change of
/// `shared_with` alone leaves no audit row.
fn skips_shared_with(function: &str) -> String {
    function
        .replace(
            "(old.tenant_id, old.is_shared, old.sharing_mode, old.shared_with)",
            "(old.tenant_id, old.is_shared, old.sharing_mode)",
        )
        .replace(
            "(new.tenant_id, new.is_shared, new.sharing_mode, new.shared_with)",
            "(new.tenant_id, new.is_shared, new.sharing_mode)",
        )
}

/// A trigger that reads the actor from the per-claim setting older PostgREST versions
/// set: current PostgREST sets only `request.jwt.claims`, so every actor is NULL.
fn legacy_actor(function: &str) -> String {
    function.replace(
        "v_actor := auth.uid();",
        "v_actor := nullif(current_setting('request.jwt.claim.sub', true), '')::uuid;",
    )
}

#[rstest::rstest]
#[case::shared_with_changes_unaudited("shared_with", skips_shared_with)]
#[case::actor_always_null("legacy_actor", legacy_actor)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_mutant_is_caught_as_audit_trail(
    #[case] name: &str,
    #[case] mutate: fn(&str) -> String,
) {
    let (harness, _) = vital().await;
    let file = format!("20991231000099_audit_{name}.sql");
    let migrations = crate::support::migrations_with(&[(&file, &audit_trigger_mutant(&mutate))]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    // The replay is under test here, not the shrink: a second of it (a dozen shorter
    // sequences, each on a fresh clone) cuts the steps to the few that matter.
    let config = PropertyConfig {
        shrink_time: std::time::Duration::from_secs(1),
        ..PropertyConfig::from_env(32).unwrap()
    };
    let schema = crate::support::schema(&template).await;
    let report = check_sequences(harness, &template, &schema, &config, &|_| {})
        .await
        .unwrap();
    let found = report.failure.as_ref().unwrap_or_else(|| {
        panic!(
            "the {name} mutant went unnoticed in {} sequences",
            report.worlds
        )
    });
    assert_eq!(
        found.mismatch.invariant,
        "audit-trail",
        "{}",
        explain(&report)
    );
    assert!(
        found.file().contains("[[step]]") && found.file().contains("resource_sharing_audit"),
        "the counterexample replays the steps and reads the trail:\n{}",
        found.file()
    );
    assert!(
        found.path.as_ref().is_some_and(|path| path.exists()),
        "the counterexample is written out"
    );
    // The scenario replays the sequence: on the mutant only its last step fails, and
    // on the shipped migrations it passes, so it can be kept as a regression.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counterexample.toml");
    std::fs::write(&path, found.file()).unwrap();
    let on_mutant = crate::support::run_file(&template, &schema, dir.path(), &path)
        .await
        .unwrap();
    let passed: Vec<bool> = on_mutant
        .steps
        .iter()
        .map(|step| matches!(step.verdict, Verdict::Passed))
        .collect();
    let last = passed.len() - 1;
    assert!(
        !passed[last] && passed[..last].iter().all(|p| *p),
        "{passed:?}\n{}",
        found.file()
    );
    let (_, shipped) = vital().await;
    let shipped_schema = crate::support::schema(&shipped).await;
    let on_shipped = crate::support::run_file(&shipped, &shipped_schema, dir.path(), &path)
        .await
        .unwrap();
    assert!(
        on_shipped.passed(),
        "{:?}\n{}",
        on_shipped.steps,
        found.file()
    );
}
