//! Every file under `scenarios/` is one test, named after its path.
//!
//! Adding a scenario needs no Rust change. Snapshot steps go through insta, so that
//! `cargo insta review` works and, under `CI=true`, a changed or missing snapshot fails.

use std::path::Path;

use rls_harness::{
    default_migrations_dir, load_scenario, run_scenario, Config, Harness, Schema, Verdict,
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
        let scenario =
            load_scenario(Path::new(ROOT), path, &schema.seeded_tenants()).map_err(shown)?;
        run_scenario(harness, &template, &schema, &scenario)
            .await
            .map_err(shown)
    })?;
    let failure =
        (!report.passed_apart_from_snapshots()).then(|| rls_harness::render_scenario(&report));
    // insta panics on the first snapshot that differs; print the other steps' verdicts
    // first, so that a changed snapshot does not hide them.
    if let Some(failure) = &failure {
        eprintln!("{failure}");
    }
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    for step in &report.steps {
        if let Verdict::Snapshot { name, rendered } = &step.verdict {
            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_path(&snapshots);
            settings.set_prepend_module_to_snapshot(false);
            settings.set_input_file(path);
            settings.set_omit_expression(true);
            settings.set_description(format!("{}:{}: {}", path.display(), step.line, step.name));
            let name = report.scenario.snapshot_name(name);
            settings.bind(|| insta::assert_snapshot!(name, rendered));
        }
    }
    match failure {
        None => Ok(()),
        Some(failure) => Err(Shown(failure).into()),
    }
}

datatest_stable::harness! {
    { test = scenario, root = ROOT, pattern = r"\.toml$" },
}
