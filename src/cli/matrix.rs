//! `rls-harness matrix` and `rls-harness diff`: the access matrix observed in the
//! fixed worlds, and the cells a migration change alters.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rls_harness::{
    check_worlds, pipeline, record, report::matrix as render, Config, Harness, Observed,
    PropertyConfig, Schema, CHECK_WORLDS, DEFAULT_SEED,
};

/// Where and how a matrix or a diff is written.
#[derive(clap::Args)]
pub struct MatrixOutput {
    /// markdown or md (fits a pull request comment), json, or html (the matrix only).
    #[arg(long, default_value = "markdown", value_parser = ["markdown", "md", "json", "html"])]
    format: String,
    /// Write it here instead of to stdout.
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
}

impl MatrixOutput {
    fn write(&self, text: &str) -> anyhow::Result<()> {
        match &self.output {
            Some(path) => {
                std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
            }
            None => {
                print!("{text}");
                Ok(())
            }
        }
    }
}

/// The generated worlds a matrix is observed in: fixed, so that two runs compare.
#[derive(clap::Args)]
pub struct MatrixWorlds {
    /// How many generated worlds to act in (a workflow may set RLS_HARNESS_WORLDS).
    #[arg(long = "worlds", value_name = "N", env = "RLS_HARNESS_WORLDS", default_value_t = CHECK_WORLDS)]
    cases: u32,
    /// The worlds' seed: fixed, so that two runs (and both sides of a diff) act in the
    /// same worlds.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
}

/// The access matrix of `migrations`, observed in the fixed worlds.
async fn observe(
    harness: &Harness,
    migrations: &Path,
    config: &Config,
    worlds: &MatrixWorlds,
) -> anyhow::Result<Observed> {
    let template = harness.template_from_dir(migrations).await?;
    pipeline::survey_of(&template, config)?;
    let schema = Schema::read(harness, &template, config).await?;
    let property = PropertyConfig {
        cases: worlds.cases,
        seed: worlds.seed,
        // Every world, whatever it finds: a matrix records behaviour, right or wrong.
        shrink_time: Duration::ZERO,
        observe_only: true,
        ..PropertyConfig::check()
    };
    let report = check_worlds(harness, &template, &schema, &property, &|_| {}).await?;
    Ok(report.observed)
}

/// Prints or writes the matrix of `migrations`.
pub async fn matrix(
    migrations: &Path,
    output: &MatrixOutput,
    worlds: &MatrixWorlds,
    config: &Config,
) -> anyhow::Result<bool> {
    let harness = Harness::start(&crate::backend_options(config)?).await?;
    let observed = observe(&harness, migrations, config, worlds).await;
    let observed = record::observed(&crate::stop(harness, observed).await?);
    output.write(&match output.format.as_str() {
        "json" => serde_json::to_string_pretty(&render::json(&observed))? + "\n",
        "html" => render::html(&observed),
        _ => render::markdown(&observed),
    })?;
    Ok(true)
}

/// Prints or writes what `migrations` change in the matrix of `base`; false (exit 1)
/// on a widening when `fail_on_widening`.
pub async fn diff(
    base: &Path,
    migrations: &Path,
    fail_on_widening: bool,
    output: &MatrixOutput,
    worlds: &MatrixWorlds,
    config: &Config,
) -> anyhow::Result<bool> {
    if output.format == "html" {
        anyhow::bail!("the diff is markdown or json");
    }
    let harness = Harness::start(&crate::backend_options(config)?).await?;
    let observed = async {
        let before = observe(&harness, base, config, worlds).await?;
        let after = observe(&harness, migrations, config, worlds).await?;
        Ok::<_, anyhow::Error>((before, after))
    }
    .await;
    let (before, after) = crate::stop(harness, observed).await?;
    let changes = record::changes(&before, &after);
    output.write(&match output.format.as_str() {
        "json" => serde_json::to_string_pretty(&render::diff_json(&changes))? + "\n",
        _ => render::diff_markdown(&changes),
    })?;
    let widening = changes.iter().filter(|change| change.widens).count();
    if fail_on_widening && widening > 0 {
        // The diff may have gone to a file: the reason for exit 1 goes to the terminal.
        eprintln!(
            "exit 1: {widening} change{} widen access, and --fail-on-widening was given",
            if widening == 1 { "" } else { "s" }
        );
        return Ok(false);
    }
    Ok(true)
}
