//! The plan's verification steps, each acted out by the principal the plan means.

use rls_harness::{plan_checks, plan_phase_two};

use crate::support::{harness, migrations_with, schema, shipped_migrations, vital};

#[tokio::test]
async fn phase_two_checks_pass_right_after_each_migration() {
    let harness = harness().await;
    let checks = plan_phase_two(harness, &shipped_migrations())
        .await
        .unwrap();
    let failed: Vec<_> = checks.iter().filter(|c| !c.passed).collect();
    assert!(failed.is_empty(), "failed: {failed:#?}");
    // A completion NOTICE plus the plan's queries for each of the four migrations.
    assert_eq!(checks.len(), 16, "{checks:#?}");
    assert!(checks.iter().all(|c| c.actor == "owner"));
}

#[tokio::test]
async fn phase_three_and_the_success_criteria_hold_for_the_right_principals() {
    let (harness, template) = vital().await;
    let checks = plan_checks(harness, &template, &schema(&template).await)
        .await
        .unwrap();
    let failed: Vec<_> = checks.iter().filter(|c| !c.passed).collect();
    assert!(failed.is_empty(), "failed: {failed:#?}");
    let actors: Vec<&str> = checks.iter().map(|c| c.actor.as_str()).collect();
    assert!(
        actors.contains(&"user mo @ digital-health-startup"),
        "{actors:?}"
    );
    assert!(
        actors.contains(&"user dana @ digital-health-startup"),
        "{actors:?}"
    );
    assert!(actors.contains(&"user ada @ vital-platform"), "{actors:?}");
    assert!(
        !actors.contains(&"owner"),
        "phase 3 is never checked as the owner"
    );
}

/// The checks can fail: with the dashboard's permissive policy put back, the isolation
/// story must notice that a member sees another tenant's private agent.
#[tokio::test]
async fn a_permissive_policy_makes_the_isolation_checks_fail() {
    let harness = harness().await;
    let weakened = migrations_with(&[(
        "20991231000099_weaken.sql",
        "create policy \"Enable read access for all users\" on public.agents for select using (true);",
    )]);
    let template = harness.template_from_dir(weakened.path()).await.unwrap();
    let checks = plan_checks(harness, &template, &schema(&template).await)
        .await
        .unwrap();
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        failed
            .contains(&"a Digital Health Startup member does not see North Clinic's private agent"),
        "{failed:?}"
    );
    assert!(
        failed.contains(&"nor without a tenant context"),
        "{failed:?}"
    );
}
