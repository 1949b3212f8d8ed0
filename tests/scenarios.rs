//! Every file under `scenarios/` is one test, named after its path.
//!
//! Adding a scenario needs no Rust change. Snapshot steps are judged by the same store
//! as in `rls-harness check`: a changed or missing snapshot fails, and outside CI it
//! leaves an insta-format `.snap.new` for `rls-harness snapshots review` or
//! `cargo insta review`.

use std::path::Path;

use rls_harness::{
    default_migrations_dir, load_scenario, run_scenario, Config, Harness, Schema, SnapshotStore,
};

const ROOT: &str = "scenarios";

/// An error shown as its message: the test runner prints errors with `Debug`, and a
/// located message (`file:line:col: ...`) is what a reviewer needs to see.
struct Shown(String);

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Shown {}

fn shown(error: impl std::fmt::Display) -> Shown {
    Shown(error.to_string())
}

fn scenario(path: &Path) -> datatest_stable::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let harness = Harness::shared().await.map_err(shown)?;
        let template = harness
            .template_from_dir(&default_migrations_dir())
            .await
            .map_err(shown)?;
        let config = Config::load(Path::new("rls-harness.toml")).map_err(|errors| {
            shown(
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
        let schema = Schema::read(harness, &template, &config)
            .await
            .map_err(shown)?;
        let scenario = load_scenario(
            Path::new(ROOT),
            path,
            schema.profile(),
            &schema.seeded_tenants(),
        )
        .map_err(shown)?;
        let snapshots = SnapshotStore::new(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots"),
            false,
        );
        run_scenario(harness, &template, &schema, &scenario, &snapshots)
            .await
            .map_err(shown)
    })?;
    if report.passed() {
        Ok(())
    } else {
        Err(Shown(rls_harness::render_scenario(&report)).into())
    }
}

datatest_stable::harness! {
    { test = scenario, root = ROOT, pattern = r"\.toml$" },
}
