//! The `rls-harness` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rls_harness::{plan_checks, BackendOptions, CheckReport, Harness};

#[derive(Parser)]
#[command(
    version,
    about = "Proves that PostgreSQL row-level security keeps Supabase tenants apart"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a disposable Postgres, apply the migrations and run every check.
    Check {
        /// The folder of migrations to apply (its *.sql files, in lexical order).
        #[arg(long, default_value = "migrations")]
        migrations: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let job = async {
        match cli.command {
            Command::Check { migrations } => check(migrations).await,
        }
    };
    // On Ctrl-C we simply exit: the backend's reaper removes the server, container or
    // scratch databases once this process is gone, whatever it was doing.
    tokio::select! {
        outcome = job => match outcome {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(2)
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; the backend is being removed");
            ExitCode::from(130)
        }
    }
}

async fn check(migrations: PathBuf) -> anyhow::Result<bool> {
    let started = Instant::now();
    let options = BackendOptions::from_env()?;
    let harness = Harness::start(&options).await?;
    let outcome = run_checks(&harness, &migrations, started).await;
    harness.shutdown().await.context("stopping the backend")?;
    outcome
}

async fn run_checks(
    harness: &Harness,
    migrations: &Path,
    started: Instant,
) -> anyhow::Result<bool> {
    let template = harness.template_from_dir(migrations).await?;
    let clock = Instant::now();
    let acted = plan_checks(harness, &template).await?;
    let report = CheckReport {
        harness,
        template: &template,
        acted: &acted,
        acted_time: clock.elapsed(),
        total_time: started.elapsed(),
    };
    print!("{}", report.render());
    Ok(report.passed())
}
