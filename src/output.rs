//! Files a run leaves for people to open (pending snapshots, counterexamples): each is
//! written whole, and never over a file that a run going on beside this one wrote.
//!
//! Two runs in one folder (two configs in parallel, a terminal and an editor's test
//! task) would otherwise name their outputs alike, and the last writer would win. A
//! file older than this run is a leftover of an earlier one and is replaced; a file
//! written since this run began, with other contents, belongs to a concurrent run and
//! stays, and this run's output goes next to it under a name with the process id.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

/// Where a run's output went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file that holds this run's output.
    pub path: PathBuf,
    /// The usual name, when a concurrent run had written it first and kept it.
    pub displaced: Option<PathBuf>,
}

/// The moment this run began, for telling a leftover from a concurrent run's file.
/// `main` marks it first thing; otherwise the first write does.
pub fn mark_run_start() -> SystemTime {
    static STARTED: OnceLock<SystemTime> = OnceLock::new();
    *STARTED.get_or_init(SystemTime::now)
}

/// The name this process writes under when `path` belongs to a concurrent run:
/// `x.snap.new` becomes `x.run-<pid>.snap.new`, `y.toml` becomes `y.run-<pid>.toml`.
pub fn beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tag = format!(".run-{}", std::process::id());
    let dot = match name.strip_suffix(".snap.new") {
        Some(stem) => Some(stem.len()),
        None => name.rfind('.'),
    };
    let renamed = match dot {
        Some(dot) => format!("{}{tag}{}", &name[..dot], &name[dot..]),
        None => format!("{name}{tag}"),
    };
    path.with_file_name(renamed)
}

/// Strips the process tag [`beside`] adds to a stem: `x.run-123` is `x`.
pub fn untagged(stem: &str) -> &str {
    match stem.rsplit_once(".run-") {
        Some((base, pid)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => stem,
    }
}

/// Writes `contents` to `path`, creating its folder: whole (a reader never sees half a
/// file), replacing a leftover of an earlier run, and keeping a concurrent run's file
/// with other contents, in which case this run's output goes to [`beside`]`(path)`.
pub fn write(path: &Path, contents: &str) -> std::io::Result<Written> {
    let started = mark_run_start();
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    let staged = staging(path);
    std::fs::write(&staged, contents)?;
    let result = place(&staged, path, contents, started);
    // The staged file is gone after a rename; after a link or a failure it is not.
    let _ = std::fs::remove_file(&staged);
    result
}

fn place(
    staged: &Path,
    path: &Path,
    contents: &str,
    started: SystemTime,
) -> std::io::Result<Written> {
    // File times come from the kernel's coarse clock, which lags the one `started` was
    // read from by up to a tick: a file stamped within a tick of the start may well have
    // been written after it.
    let leftover_before = started - std::time::Duration::from_millis(100);
    let modified = std::fs::metadata(path).and_then(|meta| meta.modified());
    if modified.is_ok_and(|modified| modified < leftover_before) {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    // A hard link creates the name only if it is free, with the contents already in
    // place: of two runs that race for a name, exactly one gets it.
    match std::fs::hard_link(staged, path) {
        Ok(()) => Ok(Written {
            path: path.to_owned(),
            displaced: None,
        }),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            if std::fs::read_to_string(path).is_ok_and(|theirs| theirs == contents) {
                return Ok(Written {
                    path: path.to_owned(),
                    displaced: None,
                });
            }
            let mine = beside(path);
            std::fs::rename(staged, &mine)?;
            Ok(Written {
                path: mine,
                displaced: Some(path.to_owned()),
            })
        }
        // A file system without hard links: the last writer wins, as before.
        Err(_) => {
            std::fs::rename(staged, path)?;
            Ok(Written {
                path: path.to_owned(),
                displaced: None,
            })
        }
    }
}

/// A hidden file next to `path`, private to this process.
fn staging(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_of_an_earlier_run_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.snap.new");
        std::fs::write(&path, "old").unwrap();
        let earlier = mark_run_start() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(earlier)
            .unwrap();
        let written = write(&path, "new").unwrap();
        assert_eq!(written.path, path);
        assert_eq!(written.displaced, None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }

    #[test]
    fn a_concurrent_runs_file_is_kept_and_this_runs_goes_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.snap.new");
        mark_run_start();
        // Written after this run began: another run's output.
        std::fs::write(&path, "theirs").unwrap();
        let written = write(&path, "mine").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs");
        assert_eq!(written.displaced.as_deref(), Some(path.as_path()));
        assert_eq!(std::fs::read_to_string(&written.path).unwrap(), "mine");
        let name = written.path.file_name().unwrap().to_string_lossy();
        assert_eq!(name, format!("b.run-{}.snap.new", std::process::id()));
        assert_eq!(untagged(name.strip_suffix(".snap.new").unwrap()), "b");
        // No staged file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn the_same_contents_twice_is_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        write(&path, "same").unwrap();
        let again = write(&path, "same").unwrap();
        assert_eq!(again.path, path);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn only_a_process_tag_is_untagged() {
        assert_eq!(untagged("x.run-42"), "x");
        assert_eq!(untagged("x.run-"), "x.run-");
        assert_eq!(untagged("x.run-away"), "x.run-away");
        assert_eq!(untagged("plain"), "plain");
    }
}
