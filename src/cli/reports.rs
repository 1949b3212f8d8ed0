//! The reports a run writes for CI (JUnit, SARIF, JSON, annotations, the step summary)
//! from its record: where each goes, files named from the repository's root, stdout
//! for one of them on request, and a record of why a run stopped when it had no verdict.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rls_harness::record::Record;
use rls_harness::{report, DEFAULT_CONFIG};

/// The reports a run writes for CI.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Write a JUnit XML report here (`-`: stdout, the text report then on stderr): one
    /// test case per migration, scenario step, lint finding and property run.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write SARIF 2.1.0 here (`-`: stdout), for code scanning: every failing check and
    /// lint finding at its line.
    #[arg(long, value_name = "PATH")]
    sarif: Option<PathBuf>,
    /// Write the run's record as JSON here (`-`: stdout; README.md, "Use it in CI").
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// The repository's top folder, which SARIF, JUnit, annotations and the step
    /// summary name files from (default: the nearest folder up holding .git, else the
    /// working directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

impl ReportArgs {
    /// The reports, their files named from the root; at most one goes to stdout.
    pub fn reports(
        self,
        command: &'static str,
        config_file: Option<&Path>,
    ) -> anyhow::Result<Reports> {
        let dash = |path: &Option<PathBuf>| path.as_deref() == Some(std::path::Path::new("-"));
        let to_stdout = [&self.junit, &self.sarif, &self.json]
            .into_iter()
            .filter(|path| dash(path))
            .count();
        if to_stdout > 1 {
            anyhow::bail!("only one of --junit, --sarif and --json can write to stdout (-)");
        }
        Ok(Reports {
            to_stdout: to_stdout == 1,
            junit: self.junit,
            sarif: self.sarif,
            json: self.json,
            root: self
                .root
                .map_or_else(report::Root::discover, |dir| report::Root::at(&dir)),
            command,
            config_file: config_file.map_or_else(|| PathBuf::from(DEFAULT_CONFIG), Path::to_owned),
            github: std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true"),
        })
    }
}

/// The reports a `check` or `lint` run was asked for, written for every run that gets
/// as far as parsing its arguments: a verdict's record, or why the run stopped (exit 2).
pub struct Reports {
    /// The subcommand, which the job summary and a stopped run's record name.
    command: &'static str,
    /// Whether one report goes to stdout: then every line of text goes to stderr.
    to_stdout: bool,
    junit: Option<PathBuf>,
    sarif: Option<PathBuf>,
    json: Option<PathBuf>,
    root: report::Root,
    /// Where a result without a line of its own is placed: the config file.
    config_file: PathBuf,
    /// GitHub Actions: annotations on stdout and the step summary.
    github: bool,
}

impl Reports {
    /// Prints `record`'s annotations under GitHub Actions; called before the text
    /// report, so that the report's last line stays the verdict.
    pub fn annotate(&self, record: &Record) {
        if self.github {
            self.say(&report::ci::annotations(record, &self.root));
        }
    }

    /// Prints text for people: on stdout, unless a report goes there.
    pub fn say(&self, text: &str) {
        if self.to_stdout {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }

    /// Writes every requested report of `record`, and the step summary.
    pub fn write(&self, record: &Record) -> anyhow::Result<()> {
        let files = [
            (&self.json, serde_json::to_string_pretty(record)?),
            (
                &self.sarif,
                report::ci::sarif(record, &self.root, &self.config_file),
            ),
            (&self.junit, report::ci::junit(record, &self.root)),
        ];
        for (path, text) in files {
            match path {
                Some(path) if path.as_os_str() == "-" => {
                    use std::io::Write;
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(text.as_bytes())?;
                    stdout.write_all(b"\n")?;
                    stdout.flush()?;
                }
                Some(path) => std::fs::write(path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {}
            }
        }
        if self.github {
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("opening {}", PathBuf::from(&path).display()))?;
                std::io::Write::write_all(
                    &mut file,
                    report::ci::summary(record, &self.root, self.command).as_bytes(),
                )?;
            }
        }
        Ok(())
    }

    /// After a run `error` stopped before its verdict: every requested report says
    /// so, at the error's file and line where it has one, so that a CI job's upload
    /// steps find their files and the pull request shows the line.
    pub fn stopped(&self, error: &anyhow::Error) {
        let record = match error.downcast_ref::<rls_harness::Error>() {
            Some(error) => Record::stopped("none", error),
            None => Record::stopped(
                "none",
                &rls_harness::Error::Config {
                    name: format!("rls-harness {}", self.command),
                    message: format!("{error:#}"),
                },
            ),
        };
        self.annotate(&record);
        if let Err(error) = self.write(&record) {
            eprintln!("warning: {error:#}");
        }
    }
}
