//! `rls-harness snapshots`: review, accept and reject the pending snapshot files that
//! `check` or `cargo test` wrote, with the binary alone.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use rls_harness::{pending_snapshots, Pending};

#[derive(Subcommand)]
pub enum SnapshotAction {
    /// Show each pending snapshot as a diff and ask: accept, reject or skip (answers are
    /// read line by line from stdin, so `yes a | rls-harness snapshots review` works).
    Review,
    /// Show every pending snapshot as a diff and change nothing; exits 1 when any is
    /// pending.
    Show,
    /// Make the pending result the stored snapshot.
    Accept(SnapshotPaths),
    /// Throw the pending result away.
    Reject(SnapshotPaths),
}

#[derive(clap::Args)]
pub struct SnapshotPaths {
    /// Snapshot files (`x.snap.new`, `x.snap` or `x`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    paths: Vec<PathBuf>,
    /// Every pending snapshot in the folder.
    #[arg(long)]
    all: bool,
}

/// Runs one `snapshots` action on the folder `dir`.
pub fn review(dir: &Path, action: SnapshotAction) -> anyhow::Result<bool> {
    let chosen = |paths: SnapshotPaths| -> anyhow::Result<Vec<Pending>> {
        if paths.all {
            return Ok(pending_snapshots(dir)?);
        }
        paths
            .paths
            .iter()
            .map(|path| {
                Pending::for_path(path)
                    .ok_or_else(|| anyhow::anyhow!("{}: no pending snapshot", path.display()))
            })
            .collect()
    };
    let show = |pending: &Pending| -> anyhow::Result<()> {
        let state = if pending.stored.exists() {
            "changed"
        } else {
            "new"
        };
        println!("{} ({state})", pending.stored.display());
        print!("{}", pending.diff()?);
        Ok(())
    };
    match action {
        SnapshotAction::Show => {
            let pending = pending_snapshots(dir)?;
            for snapshot in &pending {
                show(snapshot)?;
            }
            println!("{} pending in {}", pending.len(), dir.display());
            Ok(pending.is_empty())
        }
        SnapshotAction::Accept(paths) => {
            for snapshot in chosen(paths)? {
                snapshot.accept()?;
                println!("accepted {}", snapshot.stored.display());
            }
            Ok(true)
        }
        SnapshotAction::Reject(paths) => {
            for snapshot in chosen(paths)? {
                snapshot.reject()?;
                println!("rejected {}", snapshot.new.display());
            }
            Ok(true)
        }
        SnapshotAction::Review => {
            let pending = pending_snapshots(dir)?;
            let (mut accepted, mut rejected) = (0, 0);
            let mut answers = std::io::stdin().lines();
            for snapshot in &pending {
                show(snapshot)?;
                loop {
                    print!("[a]ccept, [r]eject, [s]kip? ");
                    std::io::Write::flush(&mut std::io::stdout())?;
                    let Some(answer) = answers.next().transpose()? else {
                        println!();
                        anyhow::bail!("stdin ended before every snapshot was reviewed");
                    };
                    match answer.trim() {
                        "a" | "accept" => {
                            snapshot.accept()?;
                            accepted += 1;
                        }
                        "r" | "reject" => {
                            snapshot.reject()?;
                            rejected += 1;
                        }
                        "s" | "skip" => {}
                        _ => continue,
                    }
                    break;
                }
            }
            println!(
                "{accepted} accepted, {rejected} rejected, {} left pending",
                pending.len() - accepted - rejected
            );
            Ok(true)
        }
    }
}
