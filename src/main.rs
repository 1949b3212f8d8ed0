//! The `rls-harness` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
mod cli;

use cli::args::{Cli, Command};
use cli::fuzz::partition_seed;
use cli::reports::Reports;
use rls_harness::{
    check_worlds, discover_migrations, discover_scenarios, pipeline, record, report,
    validate_scenario, BackendOptions, Config, Harness, Progress, PropertyConfig, PropertyRun,
    Schema, SnapshotStore, Verbosity,
};

/// Prints a property run's first failure as soon as it is found (on stderr, so that a
/// CI log shows it while the run shrinks it).
fn announce_first_failure(shrink: Duration) -> impl Fn(Progress<'_>) + Sync {
    move |progress| {
        if let Progress::Failed(mismatch, world, labels) = progress {
            let failure = record::first_failure(mismatch, world, labels);
            eprint!("{}", report::first_failure(&failure, shrink));
        }
    }
}

/// The backend the environment asks for, with the config's grants setting (the flag's
/// or the file's) over the environment's.
fn backend_options(config: &Config) -> anyhow::Result<BackendOptions> {
    let mut options = BackendOptions::from_env()?;
    options.grants = config.grants.unwrap_or(options.grants);
    Ok(options)
}

struct CheckArgs {
    config: Config,
    paths: Vec<PathBuf>,
    /// Only the named scenario files run: no lints or properties.
    focused: bool,
    verbosity: Verbosity,
    migrations: PathBuf,
    scenarios: PathBuf,
    snapshots: PathBuf,
    write_pending: bool,
    property: PropertyConfig,
    sequences: PropertyConfig,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Files this run finds newer than this moment belong to a run beside it.
    rls_harness::mark_run_start();
    let cli = Cli::parse();
    let job = async {
        match cli.command {
            Command::Check {
                paths,
                all,
                verbose,
                quiet,
                migrations,
                scenarios,
                snapshots,
                write_pending,
                reports,
                property_cases,
                sequence_cases,
                seed,
                shrink,
                config,
            } => {
                let focused = !paths.is_empty() && !all;
                let property = PropertyConfig {
                    cases: if focused { 0 } else { property_cases },
                    seed,
                    shrink_time: shrink.duration(),
                    ..PropertyConfig::check()
                };
                let sequences = PropertyConfig {
                    cases: if focused { 0 } else { sequence_cases },
                    ..property.clone()
                };
                let verbosity = match (verbose, quiet) {
                    (true, _) => Verbosity::Verbose,
                    (_, true) => Verbosity::Quiet,
                    _ => Verbosity::Normal,
                };
                let reports = reports.reports("check", config.config.as_deref())?;
                let outcome = async {
                    let args = CheckArgs {
                        config: config.load()?,
                        paths,
                        focused,
                        verbosity,
                        migrations,
                        scenarios,
                        snapshots,
                        write_pending,
                        property,
                        sequences,
                    };
                    check(args, &reports).await
                }
                .await;
                if let Err(error) = &outcome {
                    reports.stopped(error);
                }
                outcome
            }
            Command::Fuzz {
                cases,
                seed,
                connections,
                partition,
                migrations,
                shrink,
                config: gate,
            } => {
                // A fresh seed each time, unless one is given to replay.
                let seed = seed.unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
                let seed = partition.map_or(seed, |(job, _)| partition_seed(seed, job));
                let config = PropertyConfig {
                    cases,
                    seed,
                    connections: connections.max(1),
                    shrink_time: shrink.duration(),
                    ..PropertyConfig::check()
                };
                fuzz(&migrations, gate.load()?, config).await
            }
            Command::Lint {
                migrations,
                config,
                reports,
            } => {
                let reports = reports.reports("lint", config.config.as_deref())?;
                let outcome = async { lint(&migrations, config.load()?, &reports).await }.await;
                if let Err(error) = &outcome {
                    reports.stopped(error);
                }
                outcome
            }
            Command::Snapshots { snapshots, action } => cli::snapshots::review(&snapshots, action),
            Command::Matrix {
                migrations,
                output,
                worlds,
                config,
            } => cli::matrix::matrix(&migrations, &output, &worlds, &config.load()?).await,
            Command::Diff {
                base,
                migrations,
                fail_on_widening,
                output,
                worlds,
                config,
            } => {
                let config = config.load()?;
                cli::matrix::diff(
                    &base,
                    &migrations,
                    fail_on_widening,
                    &output,
                    &worlds,
                    &config,
                )
                .await
            }
        }
    };
    // On Ctrl-C or SIGTERM we simply exit: the backend's reaper removes the server,
    // container or scratch databases once this process is gone, whatever it was doing.
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => signal.recv().await,
            Err(_) => std::future::pending().await,
        }
    };
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
        _ = terminated => {
            eprintln!("terminated (SIGTERM); the backend is being removed");
            ExitCode::from(143)
        }
    }
}

async fn check(args: CheckArgs, reports: &Reports) -> anyhow::Result<bool> {
    let started = Instant::now();
    // Every file is read before any server starts, and every mistake printed at once:
    // a typo costs milliseconds, not a server start.
    let files = scenario_files(&args)?;
    let malformed: Vec<Vec<rls_harness::ScenarioError>> = files
        .iter()
        .filter_map(|file| {
            validate_scenario(&args.scenarios, file, args.config.profile.as_ref()).err()
        })
        .collect();
    for error in malformed.iter().flatten() {
        eprintln!("error: {error}");
    }
    if args.focused && files.is_empty() {
        anyhow::bail!(
            "no scenario files (*.toml) in {}: nothing to check",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if args.focused && !malformed.is_empty() && malformed.len() == files.len() {
        anyhow::bail!(
            "{} of {} scenario files are malformed ({} mistakes), and nothing else was asked for",
            malformed.len(),
            files.len(),
            malformed.iter().map(Vec::len).sum::<usize>()
        );
    }
    let migrations = read_migrations(&args.migrations)?;
    let options = backend_options(&args.config)?;
    let harness = Harness::start(&options).await?;
    let outcome = run_checks(&harness, &args, reports, &migrations, started).await;
    stop(harness, outcome).await
}

/// Stops the backend after `outcome` is known. A verdict already reached stands when
/// the cleanup fails: what was left is the reaper's (or the next run's sweep's) to
/// remove, and it is said on stderr rather than turned into exit 2.
pub(crate) async fn stop<T>(harness: Harness, outcome: anyhow::Result<T>) -> anyhow::Result<T> {
    if let Err(error) = harness.shutdown().await {
        eprintln!(
            "warning: stopping the backend: {error}; the reaper or the next run's sweep \
             removes what is left"
        );
    }
    outcome
}

/// The migrations in `dir`, read (and their encoding checked) before any server starts,
/// with a warning for each file that looks like a migration but is not applied.
fn read_migrations(dir: &std::path::Path) -> anyhow::Result<Vec<rls_harness::Migration>> {
    for ignored in rls_harness::ignored_migrations(dir) {
        eprintln!(
            "warning: {} is not applied: only files ending in .sql are migrations",
            ignored.display()
        );
    }
    Ok(discover_migrations(dir)?)
}

async fn lint(
    migrations: &std::path::Path,
    config: Config,
    reports: &Reports,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    let migrations = read_migrations(migrations)?;
    let options = backend_options(&config)?;
    let harness = Harness::start(&options).await?;
    let outcome = async {
        let template = template_with_progress(&harness, &migrations, false).await?;
        let survey = pipeline::survey_of(&template, &config)?;
        let (objects, findings) = record::survey(&survey);
        let failed = survey.findings.iter().filter(|f| f.fails()).count();
        let record = record::Record::lint(&harness.backend().to_string(), objects, findings);
        reports.annotate(&record);
        reports.say(&format!(
            "rls-harness lint, {} backend\n{}\n{} objects, {} findings, {failed} failing, in {:.1} s\n",
            harness.backend(),
            report::survey(
                record.survey.as_ref().expect("a lint record holds its survey"),
                &record.items
            ),
            survey.classes.classified.len() + survey.classes.unclassified.len(),
            survey.findings.len(),
            started.elapsed().as_secs_f64()
        ));
        reports.write(&record)?;
        Ok::<bool, anyhow::Error>(record.passed)
    }
    .await;
    stop(harness, outcome).await
}

/// Builds the template, and while a migration file takes more than two seconds says on
/// stderr which and how far it has got: a line kept up to date on a terminal (even
/// under `-q`), a line every ten seconds in a log.
async fn template_with_progress(
    harness: &Harness,
    migrations: &[rls_harness::Migration],
    quiet: bool,
) -> anyhow::Result<std::sync::Arc<rls_harness::Template>> {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let build = harness.template(migrations);
    if quiet && !terminal {
        return Ok(build.await?);
    }
    tokio::pin!(build);
    let mut tick = tokio::time::interval(Duration::from_secs(if terminal { 1 } else { 10 }));
    // The interval's first tick is immediate; a short run says nothing.
    tick.tick().await;
    let mut shown = false;
    loop {
        tokio::select! {
            built = &mut build => {
                if shown && terminal {
                    eprint!("\r\x1b[K");
                }
                return Ok(built?);
            }
            _ = tick.tick() => {
                let Some(now) = harness.applying() else { continue };
                let elapsed = now.since.elapsed();
                if elapsed < Duration::from_secs(2) {
                    continue;
                }
                let line = format!(
                    "applying {}: statement {} of {} ({:.0} s)",
                    now.file.display(),
                    now.done,
                    now.statements,
                    elapsed.as_secs_f64()
                );
                if terminal {
                    eprint!("\r\x1b[K{line}");
                } else {
                    eprintln!("{line}");
                }
                shown = true;
            }
        }
    }
}

async fn run_checks(
    harness: &Harness,
    args: &CheckArgs,
    reports: &Reports,
    migrations: &[rls_harness::Migration],
    started: Instant,
) -> anyhow::Result<bool> {
    let quiet = matches!(args.verbosity, Verbosity::Quiet);
    let template = template_with_progress(harness, migrations, quiet).await?;
    // The report streams: the migrations now, each scenario file as it finishes, the
    // rest at the end.
    let head = record::head(&harness.backend().to_string(), harness.notes(), &template);
    reports.say(&report::head(&head, args.verbosity));
    let heading = std::sync::atomic::AtomicBool::new(false);
    let on_scenario = |scenario: &rls_harness::ScenarioReport| {
        let text = report::scenario_file(
            &record::scenario_record(scenario),
            &record::scenario_items(scenario),
            args.verbosity,
        );
        if text.is_empty() {
            return;
        }
        if !heading.swap(true, std::sync::atomic::Ordering::Relaxed) {
            reports.say("\nscenarios\n");
        }
        reports.say(&text);
    };
    let files = scenario_files(args)?;
    let snapshots = SnapshotStore::new(&args.snapshots, args.write_pending);
    let check = pipeline::Check {
        config: &args.config,
        scenarios: &args.scenarios,
        files: &files,
        focused: args.focused,
        snapshots: &snapshots,
        worlds: args.property.clone(),
        sequences: args.sequences.clone(),
        started,
        on_scenario: &on_scenario,
    };
    let announce = announce_first_failure(args.property.shrink_time);
    let record = pipeline::check(harness, &template, &check, &announce).await?;
    // A gate that checked nothing has proven nothing, whatever the reason.
    if record.totals.checks == 0 && record.survey.is_none() {
        anyhow::bail!("nothing was checked: no scenario step, property run or lint ran");
    }
    reports.annotate(&record);
    reports.say(&report::survey_section(&record, args.verbosity));
    reports.say(&report::rest(&record, args.verbosity));
    reports.write(&record)?;
    Ok(record.passed)
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

async fn fuzz(
    migrations: &std::path::Path,
    gate: Config,
    config: PropertyConfig,
) -> anyhow::Result<bool> {
    let options = backend_options(&gate)?;
    let harness = Harness::start(&options).await?;
    let outcome = async {
        let template = harness.template_from_dir(migrations).await?;
        let schema = Schema::read(&harness, &template, &gate).await?;
        let bar = indicatif::ProgressBar::new(u64::from(config.cases));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} worlds ({per_sec}) {msg}",
            )?
            .progress_chars("=> "),
        );
        bar.set_message(format!("seed {}", config.seed));
        let announce = announce_first_failure(config.shrink_time);
        let report = check_worlds(
            &harness,
            &template,
            &schema,
            &config,
            &|progress| match progress {
                Progress::Done(done) => bar.set_position(done),
                failed => bar.suspend(|| announce(failed)),
            },
        )
        .await?;
        bar.finish_and_clear();
        let blame = match &report.failure {
            Some(found) => found.blame(&harness, &template, &schema).await?,
            None => None,
        };
        println!(
            "rls-harness fuzz, {} backend, {} connections",
            harness.backend(),
            config.connections
        );
        let coverage = record::coverage(&[&report]);
        let run = PropertyRun {
            unit: "worlds",
            report,
            blame,
        };
        let recorded = record::property_record(&run);
        print!("{}", report::property(&recorded));
        print!("{}", report::coverage(&coverage));
        print!("{}", report::subjects(&recorded));
        if recorded.failure.is_some() {
            println!(
                "replay with: rls-harness fuzz --seed {} --cases {} --connections {}",
                recorded.seed, config.cases, config.connections
            );
        }
        Ok::<bool, anyhow::Error>(recorded.failure.is_none())
    }
    .await;
    stop(harness, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Shell words with the action's variables as plain values: `"${config[@]}"` as a
    /// config flag, `$ARGS` as `extra`, any other `"$NAME"` as `x`.
    fn shell_words(line: &str, extra: &str) -> Vec<String> {
        let line = line
            .replace("\"${config[@]}\"", "--config rls-harness.toml")
            .replace("$ARGS", extra);
        line.split_whitespace()
            .map(|word| {
                let bare = word.trim_matches('"');
                if bare.contains('$') {
                    bare.split('/').next_back().unwrap_or("x").replace('$', "x")
                } else {
                    bare.to_owned()
                }
            })
            .collect()
    }

    /// The reusable action stays true: every rls-harness command it runs is one the CLI
    /// accepts, and so is each command with the `args` the example workflow gives it.
    #[test]
    fn the_action_and_the_example_workflow_run_commands_that_exist() {
        let action = include_str!("../action.yml");
        let workflow = include_str!("../examples/github-actions/rls-gate.yml");
        let joined = action.replace("\\\n", " ");
        let commands: Vec<&str> = joined
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("rls-harness "))
            .collect();
        let verbs: Vec<&str> = commands
            .iter()
            .filter_map(|line| line.split_whitespace().nth(1))
            .collect();
        assert_eq!(verbs, ["check", "fuzz", "diff"], "{commands:?}");
        let args_of = |verb: &str| -> Vec<String> {
            workflow
                .lines()
                .filter_map(|line| line.trim().strip_prefix("args:"))
                .filter(|args| verb == "fuzz" && args.contains("--cases"))
                .map(|args| {
                    args.replace("${{ github.run_id }}", "1")
                        .replace("${{ matrix.job }}", "1")
                })
                .collect()
        };
        for command in commands {
            let verb = command.split_whitespace().nth(1).unwrap();
            let mut extras = args_of(verb);
            extras.push(String::new());
            for extra in extras {
                let words = shell_words(command, &extra);
                if let Err(error) = Cli::try_parse_from(&words) {
                    panic!("{words:?}: {error}");
                }
            }
        }
        // Every input the example gives the action is one the action declares.
        let declared: Vec<&str> = action
            .split("\noutputs:")
            .next()
            .unwrap()
            .lines()
            .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
            .filter_map(|line| line.trim().strip_suffix(':'))
            .collect();
        let indent = |line: &str| line.len() - line.trim_start().len();
        let mut given = 0;
        // The indentation of the `with:` of a step that uses the action, while inside it.
        let (mut uses_action, mut with_at) = (false, None);
        for line in workflow.lines().filter(|line| !line.trim().is_empty()) {
            let trimmed = line.trim().trim_start_matches("- ");
            if let Some(at) = with_at {
                if indent(line) > at {
                    let key = trimmed.split_once(':').map_or(trimmed, |(key, _)| key);
                    assert!(declared.contains(&key), "{key} is no input of action.yml");
                    given += 1;
                    continue;
                }
                with_at = None;
            }
            if trimmed.starts_with("uses: ") {
                uses_action = trimmed.starts_with("uses: OWNER/rls-harness@");
            } else if trimmed == "with:" && uses_action {
                with_at = Some(indent(line));
                uses_action = false;
            }
        }
        assert!(given >= 4, "{given}");
    }

    #[test]
    fn every_command_line_parses() {
        Cli::command().debug_assert();
    }
}
