//! The plan's verification steps are scenario files (`scenarios/plan/`): phase 2 applies
//! the plan's migrations one by one as steps, checking each where it ran; phase 3 and
//! the success criteria act as the users the plan means. These tests show the files can
//! fail, and that a migration step says where a migration broke.

use std::path::Path;

use rls_harness::{ScenarioReport, Template, Verdict};

use crate::support::{harness, migrations_with, run_file, schema, shipped_migrations};

async fn run(template: &Template, file: &Path) -> ScenarioReport {
    let schema = schema(template).await;
    run_file(template, &schema, file.parent().unwrap(), file)
        .await
        .unwrap()
}

fn failed(report: &ScenarioReport) -> Vec<&str> {
    report
        .steps
        .iter()
        .filter(|step| step.verdict != Verdict::Passed)
        .map(|step| step.name.as_str())
        .collect()
}

/// A first migration that already seeds a tenant: phase 2 notices it right after that
/// migration, and only there.
#[tokio::test]
async fn phase_two_notices_a_migration_that_does_more_than_the_plan_says() {
    let dir = tempfile::tempdir().unwrap();
    for migration in shipped_migrations() {
        let mut sql = migration.sql.clone();
        if migration.version == "20251026000001" {
            sql.push_str(
                "\ninsert into public.tenants (slug, name) values ('early', 'Early') \
                 on conflict do nothing;\n",
            );
        }
        std::fs::write(dir.path().join(migration.file_name()), sql).unwrap();
    }
    let template = harness().await.template_from_dir(dir.path()).await.unwrap();
    let report = run(
        &template,
        Path::new("scenarios/plan/phase2-migration-by-migration.toml"),
    )
    .await;
    assert_eq!(
        failed(&report),
        [
            "after migration 1: tenants is empty",
            "after migration 4: the 2 seed tenants, with the plan's type and tier"
        ]
    );
}

/// A migration applied before the one it builds on fails as a step, with the migration's
/// file, line and SQLSTATE, and the scenario's other steps still run.
#[tokio::test]
async fn a_migration_step_that_fails_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out-of-order.toml");
    std::fs::write(
        &file,
        r#"
description = "migration 2 before migration 1"
migrated_to = "20251025000000"

[[step]]
name = "migration 2 needs the tenants table"
apply = "20251026000002"
sqlstate = "42P01"

[[step]]
name = "and leaves nothing behind"
as = "owner"
sql = "select count(*) from information_schema.columns where table_name = 'agents' and column_name = 'tenant_id'"
rows = [["0"]]
"#,
    )
    .unwrap();
    let (_, template) = crate::support::vital().await;
    let report = run(&template, &file).await;
    assert!(failed(&report).is_empty(), "{report:#?}");
    let outcome = &report.steps[0].outcome;
    assert!(
        outcome.contains("error 42P01")
            && outcome.contains("20251026000002_add_tenant_columns_to_resources.sql:"),
        "{outcome}"
    );
}

/// The success criterion can fail: with the dashboard's permissive policy put back, a
/// member sees another tenant's private agent, in the plan's own file.
#[tokio::test]
async fn a_permissive_policy_makes_the_plans_isolation_criterion_fail() {
    let weakened = migrations_with(&[(
        "20991231000099_weaken.sql",
        "create policy \"Enable read access for all users\" on public.agents for select using (true);",
    )]);
    let template = harness()
        .await
        .template_from_dir(weakened.path())
        .await
        .unwrap();
    let report = run(
        &template,
        Path::new("scenarios/plan/success-tenant-isolation.toml"),
    )
    .await;
    let failed = failed(&report);
    assert!(
        failed.contains(&"a DH member does not, in the DH context")
            && failed.contains(&"nor without a context"),
        "{failed:?}"
    );
}

/// A migration step may not apply a migration the scenario's schema already holds:
/// without `migrated_to` every migration is applied, and the file would run twice.
#[tokio::test]
async fn a_migration_step_refuses_a_migration_already_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (_, template) = crate::support::vital().await;
    let schema = schema(&template).await;
    let cases = [
        (
            "description = \"twice\"\n",
            "20251026000001",
            "is already applied: say migrated_to",
        ),
        (
            "migrated_to = \"20251026000002\"\n",
            "20251026000001",
            "the scenario starts after migrated_to = \"20251026000002\"",
        ),
    ];
    for (top, version, expected) in cases {
        let file = dir.path().join("twice.toml");
        std::fs::write(
            &file,
            format!("{top}[[step]]\nname = \"again\"\napply = \"{version}\"\nnotice = \"x\"\n"),
        )
        .unwrap();
        let error = run_file(&template, &schema, dir.path(), &file)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("twice.toml:2: apply") && error.contains(expected),
            "{error}"
        );
    }
}
