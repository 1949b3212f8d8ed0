//! The access matrix and its diff: observed in the fixed worlds, they show exactly what
//! a migration change does to access.

use rls_harness::{
    check_worlds, record, report::matrix, Observed, PropertyConfig, Schema, Template,
};

use crate::support::{config, migrations_with, vital};

/// A policy that lets members and viewers add private custom agents to their tenants.
/// (Without `resource_type = 'custom'` it lets them add platform agents too, and the
/// diff says so.)
const VIEWERS_INSERT_AGENTS: &str = "create policy agents_members_insert on public.agents \
     for insert to authenticated with check (\
         sharing_mode = 'private' and resource_type = 'custom' \
         and tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));";

async fn observed(template: &Template) -> Observed {
    let (harness, _) = vital().await;
    let schema = Schema::read(harness, template, &config()).await.unwrap();
    let property = PropertyConfig {
        cases: 4,
        observe_only: true,
        shrink_time: std::time::Duration::ZERO,
        ..PropertyConfig::check()
    };
    check_worlds(harness, template, &schema, &property, &|_| {})
        .await
        .unwrap()
        .observed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diff_shows_exactly_the_widening_a_migration_makes() {
    let (harness, shipped) = vital().await;
    let widened = migrations_with(&[("20991231000099_viewers_insert.sql", VIEWERS_INSERT_AGENTS)]);
    let head = harness.template_from_dir(widened.path()).await.unwrap();
    let (before, after) = (observed(&shipped).await, observed(&head).await);

    assert!(record::changes(&before, &before).is_empty());
    assert_eq!(matrix::diff_markdown(&[]), "no change in access\n");

    let changes = record::changes(&before, &after);
    assert!(!changes.is_empty(), "the widening went unseen");
    for change in &changes {
        assert!(
            change.widens
                && change.cell.object == "agents"
                && change.cell.operation == "insert"
                && change.cell.row == "member",
            "only members' and viewers' inserts into agents may change: {change:?}"
        );
        assert!(change.after.iter().any(|o| o == "allowed"), "{change:?}");
    }
    let text = matrix::diff_markdown(&changes);
    assert!(
        text.contains("**widened**: user: insert member row of agents"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matrix_renders_as_markdown_json_and_a_page_without_scripts() {
    let (_, shipped) = vital().await;
    let observed = record::observed(&observed(&shipped).await);
    let markdown = matrix::markdown(&observed);
    assert!(
        markdown.contains("| read | foreign | hidden |"),
        "a user never sees another tenant's private agents: {markdown}"
    );
    let json = matrix::json(&observed);
    assert!(json["cells"]
        .as_array()
        .is_some_and(|cells| !cells.is_empty()));
    let html = matrix::html(&observed);
    assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>\n"));
    assert!(!html.contains("<script") && !html.contains("http"));
}

/// Objects beyond the model are tabulated too, by what their class bound lets each
/// principal do with each row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_beyond_the_model_are_in_the_matrix() {
    let sql = std::fs::read_to_string("tests/benign/11_new_resource_table.sql").unwrap();
    let (_dir, template) = crate::support::template_with("20991231000099_datasets.sql", &sql).await;
    let observed = observed(&template).await;
    let datasets: Vec<_> = observed
        .iter()
        .filter(|(key, _)| key.object == "public.datasets")
        .collect();
    assert!(
        datasets.iter().any(|(key, outcomes)| key.op == "read"
            && key.kind == "a row hidden from it"
            && outcomes.iter().all(|o| *o == "hidden")),
        "{datasets:#?}"
    );
    assert!(
        datasets.iter().any(|(key, _)| key.op != "read"),
        "writes too"
    );
    assert!(matrix::markdown(&record::observed(&observed)).contains("### public.datasets"));
}

/// `diff --fail-on-widening` exits 1 and says why on stderr, whatever the diff's format
/// (`md` is `markdown`) and wherever it went.
#[test]
fn a_failing_diff_says_why_it_exits_1() {
    let widened = migrations_with(&[("20991231000099_viewers_insert.sql", VIEWERS_INSERT_AGENTS)]);
    let out = tempfile::tempdir().unwrap();
    let diff = out.path().join("diff.md");
    let output = crate::support::cli(&[
        "diff",
        "--base",
        "migrations",
        "--migrations",
        widened.path().to_str().unwrap(),
        "--fail-on-widening",
        "--format",
        "md",
        "--worlds",
        "8",
        "--output",
        diff.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("exit 1: ") && last.contains("--fail-on-widening"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&diff).unwrap();
    assert!(text.contains("**widened**"), "{text}");
}
