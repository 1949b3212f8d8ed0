//! The `rls-harness` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use rls_harness::{
    discover_scenarios, load_scenario, plan_checks, run_scenario, settle_snapshots, BackendOptions,
    CheckReport, Harness, ScenarioReport, Template,
};

/// How many scenarios run at once, each on its own clone of the template.
const PARALLEL_SCENARIOS: usize = 4;

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
    /// Start a disposable Postgres, apply the migrations, run the plan's checks and the
    /// scenarios.
    Check {
        /// Scenario files or folders to run (default: the scenarios folder).
        paths: Vec<PathBuf>,
        /// The folder of migrations to apply (its *.sql files, in lexical order).
        #[arg(long, default_value = "migrations")]
        migrations: PathBuf,
        /// The folder scenario names are relative to.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
        /// The folder of snapshot files.
        #[arg(long, default_value = "snapshots")]
        snapshots: PathBuf,
        /// Write new or changed snapshots as .snap.new files, for `cargo insta review`.
        #[arg(long)]
        write_pending: bool,
    },
}

struct CheckArgs {
    paths: Vec<PathBuf>,
    migrations: PathBuf,
    scenarios: PathBuf,
    snapshots: PathBuf,
    write_pending: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let job = async {
        match cli.command {
            Command::Check {
                paths,
                migrations,
                scenarios,
                snapshots,
                write_pending,
            } => {
                check(CheckArgs {
                    paths,
                    migrations,
                    scenarios,
                    snapshots,
                    write_pending,
                })
                .await
            }
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

async fn check(args: CheckArgs) -> anyhow::Result<bool> {
    let started = Instant::now();
    let options = BackendOptions::from_env()?;
    let harness = Harness::start(&options).await?;
    let outcome = run_checks(&harness, &args, started).await;
    harness.shutdown().await.context("stopping the backend")?;
    outcome
}

async fn run_checks(harness: &Harness, args: &CheckArgs, started: Instant) -> anyhow::Result<bool> {
    let template = harness.template_from_dir(&args.migrations).await?;
    let clock = Instant::now();
    let files = scenario_files(args)?;
    let (acted, scenarios) = tokio::join!(
        plan_checks(harness, &template),
        run_scenarios(harness, &template, &files, args)
    );
    let acted = acted?;
    let (mut scenarios, malformed) = scenarios?;
    for report in &mut scenarios {
        settle_snapshots(report, &args.snapshots, args.write_pending);
    }
    let report = CheckReport {
        harness,
        template: &template,
        acted: &acted,
        scenarios: &scenarios,
        malformed: &malformed,
        checks_time: clock.elapsed(),
        total_time: started.elapsed(),
    };
    print!("{}", report.render());
    Ok(report.passed())
}

fn scenario_files(args: &CheckArgs) -> anyhow::Result<Vec<PathBuf>> {
    if args.paths.is_empty() {
        if !args.scenarios.is_dir() {
            return Ok(Vec::new());
        }
        return discover_scenarios(&args.scenarios)
            .with_context(|| args.scenarios.display().to_string());
    }
    let mut files = Vec::new();
    for path in &args.paths {
        files.extend(discover_scenarios(path).with_context(|| path.display().to_string())?);
    }
    Ok(files)
}

type ScenarioRun = (Vec<ScenarioReport>, Vec<rls_harness::ScenarioError>);

async fn run_scenarios(
    harness: &Harness,
    template: &Template,
    files: &[PathBuf],
    args: &CheckArgs,
) -> anyhow::Result<ScenarioRun> {
    let mut malformed = Vec::new();
    let mut loaded = Vec::new();
    for file in files {
        match load_scenario(&args.scenarios, file) {
            Ok(scenario) => loaded.push(scenario),
            Err(error) => malformed.push(error),
        }
    }
    let mut reports: Vec<ScenarioReport> = futures_util::stream::iter(&loaded)
        .map(|scenario| run_scenario(harness, template, scenario))
        .buffer_unordered(PARALLEL_SCENARIOS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    reports.sort_by(|a, b| a.scenario.path.cmp(&b.scenario.path));
    Ok((reports, malformed))
}
