//! What the integration tests share: the process-wide harness, the shipped migrations'
//! template, and a way to run the `rls-harness` binary as a user would.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use rls_harness::{
    default_migrations_dir, discover_migrations, load_scenario, run_scenario, Config, Harness,
    Migration, PropertyReport, ScenarioReport, Schema, SnapshotStore, Template,
};

/// VITAL's seeded tenants, as the shipped migrations make them.
pub const PLATFORM: uuid::Uuid = uuid::Uuid::from_u128(1);
pub const DH: uuid::Uuid = uuid::Uuid::from_u128(2);

/// The shipped profile (`rls-harness.toml`).
pub fn profile() -> Option<rls_harness::Profile> {
    config().profile
}

pub async fn harness() -> &'static Harness {
    Harness::shared().await.expect("the harness starts")
}

/// The template with this crate's migrations applied.
pub async fn vital() -> (&'static Harness, Arc<Template>) {
    let harness = harness().await;
    let template = harness
        .template_from_dir(&default_migrations_dir())
        .await
        .expect("the shipped migrations apply");
    (harness, template)
}

/// The repository's snapshots, read only: a test never leaves a pending file behind.
pub fn snapshots() -> SnapshotStore {
    SnapshotStore {
        dir: "snapshots".into(),
        write_pending: false,
    }
}

/// The repository's `rls-harness.toml`.
pub fn config() -> Config {
    Config::load(std::path::Path::new("rls-harness.toml")).expect("the shipped config reads")
}

/// What the checks know of `template`'s schema, with the repository's config.
pub async fn schema(template: &Template) -> Schema {
    Schema::read(harness().await, template, &config())
        .await
        .expect("the seeded rows read")
}

/// Loads the scenario file `file` (named relative to `root`) against `schema`, as
/// `check` does, and runs it on a clone of `template`; a file that does not load fails
/// the test.
pub async fn run_file(
    template: &Template,
    schema: &Schema,
    root: &Path,
    file: &Path,
) -> rls_harness::Result<ScenarioReport> {
    let scenario = load_scenario(root, file, schema.profile(), &schema.seeded_tenants())
        .unwrap_or_else(|error| panic!("{error}"));
    run_scenario(harness().await, template, schema, &scenario, &snapshots()).await
}

pub fn shipped_migrations() -> Vec<Migration> {
    discover_migrations(&default_migrations_dir()).expect("migrations folder")
}

pub fn rollback_migration() -> Migration {
    let dir = default_migrations_dir().join("rollback");
    let mut files = discover_migrations(&dir).expect("rollback folder");
    assert_eq!(files.len(), 1, "one rollback file");
    files.remove(0)
}

/// A folder holding copies of the shipped migrations plus `extra` files.
pub fn migrations_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for migration in shipped_migrations() {
        std::fs::copy(&migration.path, dir.path().join(migration.file_name())).unwrap();
    }
    for (name, sql) in extra {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    dir
}

/// The `rls-harness` binary on this process's shared server, through its `url`
/// backend, for tests of what `check` and `lint` do and report: a run then costs
/// scratch databases, not a server of its own (initdb and the start alone take two
/// seconds here). The backend tests use [`cli_own_backend`].
pub fn cli(args: &[&str]) -> Command {
    let mut command = cli_own_backend(args);
    command
        .env("RLS_HARNESS_BACKEND", "url")
        .env("DATABASE_URL", shared_server_url());
    command
}

/// The `rls-harness` binary, with the backend settings of this test process.
pub fn cli_own_backend(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rls-harness"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// The shared server as a `DATABASE_URL`: the login that owns the harness's databases,
/// on the maintenance database.
fn shared_server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        // A thread and a runtime of its own: a caller may be inside a runtime.
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                let database = harness().await.bare_database().await.expect("a database");
                let url = database.owner_endpoint().with_dbname("postgres").url();
                database.close().await.expect("the database drops");
                url
            })
        })
        .join()
        .expect("the shared server's URL")
    })
}

/// A failed property run, as a person needs it: the figures, the mismatch, and the
/// counterexample scenario.
pub fn explain(report: &PropertyReport) -> String {
    let scenario = report
        .failure
        .as_ref()
        .map(|found| found.file())
        .unwrap_or_default();
    let run = rls_harness::PropertyRun {
        unit: "cases",
        report: report.clone(),
        blame: None,
    };
    let record = rls_harness::record::property_record(&run);
    format!("{}\n{scenario}", rls_harness::report::property(&record))
}

/// The repository's config, with `extra` lines appended (what a pull request adding an
/// object would add to it).
pub fn config_with(extra: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rls-harness.toml");
    let shipped = std::fs::read_to_string("rls-harness.toml").unwrap();
    std::fs::write(&path, format!("{shipped}\n{extra}")).unwrap();
    let config = Config::load(&path).unwrap_or_else(|errors| panic!("{errors:?}"));
    (dir, config)
}

/// The template of the shipped migrations and one more, `name` holding `sql`.
pub async fn template_with(name: &str, sql: &str) -> (tempfile::TempDir, Arc<Template>) {
    let (harness, _) = vital().await;
    let migrations = migrations_with(&[(name, sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    (migrations, template)
}

/// A tenant table whose INSERT policy admits a writer but whose SELECT policy shows
/// rows to platform admins only: the minimal insert works, `.insert().select()` fails.
pub const DROPBOX: &str = "create table public.dropbox (\n\
               id uuid primary key default gen_random_uuid(),\n\
               tenant_id uuid not null references public.tenants (id),\n\
               body text not null default '');\n\
           alter table public.dropbox enable row level security;\n\
           grant select, insert on public.dropbox to authenticated;\n\
           create policy dropbox_in on public.dropbox for insert to authenticated\n\
               with check (tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));\n\
           create policy dropbox_out on public.dropbox for select to authenticated\n\
               using ((select public.is_platform_admin()));\n";

/// Holds the SARIF log at `path` to what GitHub's code scanning ingests (the rules
/// `Sarif.Multitool validate --rule-kind "Sarif;Gh"` checks): every result located at a
/// line, with a fingerprint, under a rule that has its full description, help and
/// severity, and no relative URI starting with `/`. Where `SARIF_MULTITOOL` names
/// Microsoft's validator (CI installs it from npm), the log must also pass it, schema
/// included, without an error.
pub fn assert_code_scanning_accepts(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let log: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for rule in rules {
        for field in [
            "/shortDescription/text",
            "/fullDescription/text",
            "/help/text",
        ] {
            assert!(
                rule.pointer(field)
                    .and_then(|v| v.as_str())
                    .is_some_and(|t| !t.is_empty()),
                "rule {} lacks {field}",
                rule["id"]
            );
        }
        let severity = rule["properties"]["security-severity"].as_str().unwrap();
        assert!(severity
            .parse::<f32>()
            .is_ok_and(|s| (0.0..=10.0).contains(&s)));
    }
    for result in run["results"].as_array().unwrap() {
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"]
            .as_str()
            .unwrap_or_default();
        assert!(!uri.is_empty() && !uri.starts_with('/'), "{result}");
        assert!(
            location["region"]["startLine"].as_u64().unwrap_or(0) >= 1,
            "{result}"
        );
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(result["partialFingerprints"]["rlsHarness/v1"].is_string());
    }
    let Some(tool) = std::env::var_os("SARIF_MULTITOOL") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let findings = out.path().join("validation.sarif");
    let status = Command::new(tool)
        .args(["validate", "--rule-kind", "Sarif;Gh", "--output"])
        .arg(&findings)
        .arg(path)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let validation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&findings).unwrap()).unwrap();
    let errors: Vec<String> = validation["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|run| run["results"].as_array().cloned().unwrap_or_default())
        .filter(|result| result["level"] == "error")
        .map(|result| format!("{}: {}", result["ruleId"], result["message"]))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
