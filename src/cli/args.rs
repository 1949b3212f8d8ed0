//! The command line's arguments: the subcommands and the options they share, as clap
//! reads them. `main` dispatches on them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rls_harness::{
    Config, Grants, CHECK_SEQUENCES, CHECK_WORLDS, DEFAULT_CONFIG, DEFAULT_SEED,
    DEFAULT_SHRINK_TIME,
};

use super::fuzz::parse_partition;
use super::matrix::{MatrixOutput, MatrixWorlds};
use super::reports::ReportArgs;
use super::snapshots::SnapshotAction;

#[derive(Parser)]
#[command(
    version,
    about = "Proves that PostgreSQL row-level security keeps Supabase tenants apart"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start a disposable Postgres, apply the migrations, and run every check: lints,
    /// the scenarios and the properties (with PATHS, those scenario files only).
    Check {
        /// Scenario files or folders to run, and only those (default: the scenarios
        /// folder, the lints and the properties).
        paths: Vec<PathBuf>,
        /// With PATHS, also run the lints and the properties.
        #[arg(long)]
        all: bool,
        /// Print every step with its principal, expectation, control and outcome, and
        /// every migration NOTICE.
        #[arg(short, long, conflicts_with = "quiet")]
        verbose: bool,
        /// Print failures and the closing line only.
        #[arg(short, long)]
        quiet: bool,
        /// The folder of migrations to apply (its *.sql files, in lexical order).
        #[arg(long, default_value = "migrations")]
        migrations: PathBuf,
        /// The folder scenario names are relative to.
        #[arg(long, default_value = "scenarios")]
        scenarios: PathBuf,
        /// The folder of snapshot files.
        #[arg(long, default_value = "snapshots")]
        snapshots: PathBuf,
        #[command(flatten)]
        reports: ReportArgs,
        /// Write new or changed snapshots as .snap.new files even under CI (outside CI
        /// they are always written), for `rls-harness snapshots review`.
        #[arg(long)]
        write_pending: bool,
        /// How many generated worlds to check against the access model (0: none).
        #[arg(long, default_value_t = CHECK_WORLDS, env = "PROPTEST_CASES")]
        property_cases: u32,
        /// How many generated sequences of committed requests to check (0: none).
        #[arg(long, default_value_t = CHECK_SEQUENCES)]
        sequence_cases: u32,
        /// The seed of the generated worlds; fixed, so that a gate gives the same
        /// verdict on the same code.
        #[arg(long, default_value_t = DEFAULT_SEED, env = "RLS_HARNESS_SEED")]
        seed: u64,
        #[command(flatten)]
        shrink: ShrinkArg,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Read the catalog and lint it, without acting as anyone: every exposed object
    /// with its class, and every lint finding with its migration line.
    Lint {
        /// The folder of migrations to apply.
        #[arg(long, default_value = "migrations")]
        migrations: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        reports: ReportArgs,
    },
    /// Review the pending snapshots (.snap.new files written by `check` or by
    /// `cargo test`): show, accept or reject them.
    Snapshots {
        /// The folder of snapshot files.
        #[arg(long, default_value = "snapshots", global = true)]
        snapshots: PathBuf,
        #[command(subcommand)]
        action: SnapshotAction,
    },
    /// Act as every principal in the fixed-seed worlds and tabulate what the database
    /// let each do to every object: the access matrix, observed, not read from policies.
    Matrix {
        /// The folder of migrations to apply.
        #[arg(long, default_value = "migrations")]
        migrations: PathBuf,
        #[command(flatten)]
        output: MatrixOutput,
        #[command(flatten)]
        worlds: MatrixWorlds,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// What a migration change does to access: the cells of the access matrix that
    /// differ between the base migrations and these, widenings first.
    Diff {
        /// The base: a folder of migrations (for a git revision, extract it first:
        /// `git archive REV migrations | tar -x -C /tmp/base`).
        #[arg(long)]
        base: PathBuf,
        /// The head's folder of migrations.
        #[arg(long, default_value = "migrations")]
        migrations: PathBuf,
        /// Exit 1 when any access widened, for teams that want a person to acknowledge
        /// it.
        #[arg(long)]
        fail_on_widening: bool,
        #[command(flatten)]
        output: MatrixOutput,
        #[command(flatten)]
        worlds: MatrixWorlds,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Search fresh generated worlds for disagreements with the access model.
    Fuzz {
        /// How many worlds to generate.
        #[arg(long, default_value_t = 256)]
        cases: u32,
        /// Replay a seed instead of drawing a fresh one.
        #[arg(long, env = "RLS_HARNESS_SEED")]
        seed: Option<u64>,
        /// How many connections (and scratch databases) to spread the worlds over.
        #[arg(long, default_value_t = 2, env = "RLS_HARNESS_CONNECTIONS")]
        connections: usize,
        /// Job K of N (`2/4`): N jobs given the same --seed explore disjoint worlds,
        /// each from a seed of its own, and write counterexamples under their own names.
        #[arg(long, value_name = "K/N", value_parser = parse_partition)]
        partition: Option<(u64, u64)>,
        /// The folder of migrations to apply.
        #[arg(long, default_value = "migrations")]
        migrations: PathBuf,
        #[command(flatten)]
        shrink: ShrinkArg,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// How long a failure is shrunk.
#[derive(clap::Args)]
pub struct ShrinkArg {
    /// Seconds to shrink a failing world or sequence to a smaller one after the first
    /// failure is printed (0: keep it as found); the counterexample file says when the
    /// limit cut shrinking short.
    #[arg(long = "shrink-time", value_name = "SECONDS", default_value_t = DEFAULT_SHRINK_TIME.as_secs())]
    pub seconds: u64,
}

impl ShrinkArg {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }
}

/// Where the gate's config is.
#[derive(clap::Args)]
pub struct ConfigArg {
    /// The gate's config file (default: rls-harness.toml, when there is one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Whether the API roles get privileges on new objects by default: `none`
    /// (Supabase today) or `legacy` (projects made before 2026-05-30). Overrides the
    /// config's `grants` and RLS_HARNESS_GRANTS.
    #[arg(long)]
    pub grants: Option<Grants>,
}

impl ConfigArg {
    /// Reads and checks the config before any server starts; every mistake at once.
    pub fn load(&self) -> anyhow::Result<Config> {
        let path = self
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let mut config = Config::load_or_default(&path, self.config.is_some())
            .map_err(rls_harness::Error::Files)?;
        config.grants = self.grants.or(config.grants);
        Ok(config)
    }
}
