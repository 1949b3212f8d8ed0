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
                && change.cell.row == "member"
                && ["member", "viewer"].contains(&change.cell.principal.as_str()),
            "only members' and viewers' inserts into agents may change: {change:?}"
        );
        assert!(change.after.iter().any(|o| o == "allowed"), "{change:?}");
    }
    let text = matrix::diff_markdown(&changes);
    assert!(
        text.contains("**widened**: viewer: insert member row of agents"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matrix_renders_as_markdown_json_and_a_page_without_scripts() {
    let (_, shipped) = vital().await;
    let observed = record::observed(&observed(&shipped).await);
    let markdown = matrix::markdown(&observed);
    assert!(
        markdown.starts_with("## Access matrix\n\n**No deviation**"),
        "the shipped migrations keep the model: {markdown}"
    );
    let agents = &markdown[markdown.find("\n### agents\n").expect("a table for agents")..];
    let rows: Vec<&str> = agents
        .lines()
        .skip(5)
        .take_while(|line| line.starts_with("| **"))
        .map(|line| line.split("**").nth(1).unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "viewer",
            "member",
            "admin",
            "owner",
            "outsider",
            "platform admin",
            "anon",
            "claims without sub"
        ],
        "principals by role, from the fewest rights up: {agents}"
    );
    let outsider = agents
        .lines()
        .find(|l| l.starts_with("| **outsider**"))
        .unwrap();
    assert!(
        outsider.contains("✓ foreign private: hidden"),
        "a user never sees another tenant's private agents: {outsider}"
    );
    let json = matrix::json(&observed);
    assert_eq!(json["deviations"], 0);
    assert!(json["cells"]
        .as_array()
        .is_some_and(|cells| cells.iter().all(|c| c["verdict"] == "as the model says")));
    let html = matrix::html(&observed);
    assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>\n"));
    assert!(!html.contains("<script") && !html.contains("http"));
    assert!(!html.contains("class=\"deviation\""), "no cell deviates");
}

/// A leak opens the page: the deviations come first, each naming who got what, and
/// the cells that show it are marked and coloured as deviations, not as "allowed".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leak_opens_the_matrix_with_its_deviations() {
    let sql = std::fs::read_to_string("tests/mutants/06_legacy_policy_left_in_place.sql").unwrap();
    let (_dir, template) = crate::support::template_with("20991231000099_legacy.sql", &sql).await;
    let observed = record::observed(&observed(&template).await);
    let markdown = matrix::markdown(&observed);
    let opening: Vec<&str> = markdown.lines().take(7).collect();
    assert!(opening[2].contains("deviate from the model"), "{markdown}");
    assert_eq!(opening[4], "### Deviations", "{markdown}");
    assert!(
        markdown.lines().nth(8).is_some_and(|first| first
            .starts_with("| agents | anon | read (foreign private) | none, forged |")
            && first.ends_with("sees, wider than the model |")),
        "anon reading another tenant's agents is the first deviation: {markdown}"
    );
    let html = matrix::html(&observed);
    assert!(
        html.contains("<td class=\"deviation\">")
            && html.contains("<div class=\"deviation\">✗ foreign private: sees</div>"),
        "{html}"
    );
    assert!(html.find("<h2>Deviations</h2>") < html.find("<h2>agents</h2>"));
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
        datasets.iter().any(|(key, seen)| key.op == "read"
            && key.kind == "a row hidden from it"
            && seen
                .iter()
                .all(|(o, verdict)| *o == "hidden" && !verdict.deviates())),
        "{datasets:#?}"
    );
    assert!(
        datasets.iter().any(|(key, _)| key.op != "read"),
        "writes too"
    );
    let markdown = matrix::markdown(&record::observed(&observed));
    assert!(
        markdown
            .contains("### Objects beyond the model\n\n- `public.datasets`: judged by its class"),
        "{markdown}"
    );
    assert!(markdown.contains("### public.datasets"));
    assert!(markdown.contains("| **user** |"), "{markdown}");
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
        "4",
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
