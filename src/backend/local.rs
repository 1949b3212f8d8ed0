//! The `local` backend: a throwaway cluster made with `initdb` and `pg_ctl`.
//!
//! The cluster lives in a private temp directory (in memory under `/dev/shm` when
//! `TMPDIR` is not set, see [`cluster_parent`]). It listens on a Unix socket in that
//! directory, which only this user can enter, and on a free loopback port with password
//! authentication. It runs with `fsync=off` because its data is worthless after the
//! run. `initdb` refuses to run as root, so as root the cluster belongs to
//! the `postgres` system user. The reaper stops it (immediate shutdown) and removes
//! the directory when this process ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::reaper::Reaper;
use super::{process_is_dead, RunLabel};
use crate::connection::Endpoint;
use crate::error::{Error, Result};

const DIR_PREFIX: &str = "rls-harness-";
const RUN_INFO: &str = "run-info";

/// Stops the postmaster (SIGQUIT is PostgreSQL's immediate shutdown) and waits for
/// it to go; stops an `initdb` or `pg_ctl` still working in the directory (a run that
/// died while starting its server); then removes the directory, again if something
/// wrote into it meanwhile. Used by the reaper and by the sweep.
///
/// The postmaster's parent is init, since `pg_ctl` has exited: an exited postmaster
/// stays a zombie until init reaps it, which a container's init may do seconds later.
/// `kill -0` succeeds on a zombie, so a zombie counts as gone.
const CLEANUP_SCRIPT: &str = r#"
running() {
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
pidfile="$RUN_DIR/data/postmaster.pid"
if [ -f "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile")
  kill -QUIT "$pid" 2>/dev/null
  tries=0
  while running "$pid" && [ $tries -lt 600 ]; do sleep 0.05; tries=$((tries+1)); done
fi
pkill -KILL -f -- "$RUN_DIR/" 2>/dev/null
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  rm -rf "$RUN_DIR" 2>/dev/null
  [ -e "$RUN_DIR" ] || break
  sleep 0.2
done
"#;

pub(super) struct Cluster {
    port: u16,
    password: String,
    reaper: Reaper,
    /// Where the server's Unix socket is: the harness connects through it, which costs
    /// the server a tenth less time per probe than loopback TCP. The TCP port stays
    /// open for tools that want one.
    socket_dir: String,
}

/// Where the server binaries are, or why they cannot be found.
pub(super) fn probe() -> std::result::Result<PathBuf, String> {
    find_binaries(std::env::var_os("PG_BIN"))
}

fn find_binaries(pg_bin: Option<std::ffi::OsString>) -> std::result::Result<PathBuf, String> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = pg_bin.filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_all(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "PG_BIN={} lacks initdb, pg_ctl or postgres",
                dir.display()
            ))
        };
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
        .find(|dir| has_all(dir));
    if let Some(dir) = on_path {
        return Ok(dir);
    }
    // Debian and Ubuntu keep each major version apart; prefer the newest.
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_all(dir))
        .collect();
    installed.sort();
    installed.pop().map(|(_, dir)| dir).ok_or_else(|| {
        "no initdb, pg_ctl and postgres on PATH, in PG_BIN or under /usr/lib/postgresql/*/bin"
            .into()
    })
}

/// Where clusters are made: `$TMPDIR` when the user set it, else `/dev/shm` when it is
/// a writable directory with room, else the system's temp directory.
///
/// A run creates and removes thousands of files: every clone of a template, and every
/// rolled-back `REFRESH MATERIALIZED VIEW` (a new file for the view and each index). On
/// ext4 that inode churn took a fifth of the server's time in the property checks; in
/// memory it is nearly free, and the data is worthless after the run anyway.
fn cluster_parent() -> PathBuf {
    const MEMORY: &str = "/dev/shm";
    const ROOM: u64 = 1 << 30;
    if std::env::var_os("TMPDIR").is_some_and(|dir| !dir.is_empty()) {
        return std::env::temp_dir();
    }
    let roomy = nix::sys::statvfs::statvfs(MEMORY)
        .is_ok_and(|fs| fs.blocks_available().saturating_mul(fs.fragment_size()) >= ROOM);
    let writable = nix::unistd::access(MEMORY, nix::unistd::AccessFlags::W_OK).is_ok();
    if roomy && writable {
        PathBuf::from(MEMORY)
    } else {
        std::env::temp_dir()
    }
}

/// Every place a cluster of this or an earlier run may live: an earlier run may have
/// had another `TMPDIR`, or a full `/dev/shm`.
fn cluster_parents() -> Vec<PathBuf> {
    let mut parents = vec![
        cluster_parent(),
        std::env::temp_dir(),
        PathBuf::from("/dev/shm"),
    ];
    parents.sort();
    parents.dedup();
    parents
}

/// The account that owns the cluster: ourselves, or `postgres` when we are root.
fn cluster_owner() -> Result<Option<nix::unistd::User>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some(user)),
        _ => Err(Error::backend(
            "local",
            "running as root, and initdb refuses root: create a `postgres` system user \
             (installing the postgresql package does) or run as an ordinary user",
        )),
    }
}

impl Cluster {
    pub(super) async fn start(
        label: &RunLabel,
        language: Option<&str>,
        notes: &mut Vec<String>,
    ) -> Result<Cluster> {
        let bin = probe().map_err(|problem| Error::backend("local", problem))?;
        let owner = cluster_owner()?;
        sweep(notes);

        let parent = cluster_parent();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(&parent)
            .map_err(|error| Error::io(parent, error))?
            .keep();
        // The reaper exists before anything worth cleaning up does.
        let reaper =
            Reaper::spawn(CLEANUP_SCRIPT, &[("RUN_DIR", path_str(&dir)?)]).map_err(|error| {
                Error::backend("local", format!("cannot start the reaper: {error}"))
            })?;
        let info = format!("pid={}\nrun={}\n", label.pid, label.id);
        write(&dir.join(RUN_INFO), &info)?;

        let password = uuid::Uuid::new_v4().simple().to_string();
        let pwfile = dir.join("pwfile");
        write(&pwfile, &password)?;
        if let Some(owner) = &owner {
            for path in [&dir, &pwfile] {
                std::os::unix::fs::chown(path, Some(owner.uid.as_raw()), Some(owner.gid.as_raw()))
                    .map_err(|error| Error::io(path, error))?;
            }
        }
        let data = dir.join("data");
        let mut initdb = command(&bin, "initdb", owner.as_ref());
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                super::SUPERUSER,
                // The socket lives in the run's private directory (mode 0700), which
                // only this user (and root) can enter: trust there is as safe as a
                // password, and it saves the 4 ms a SCRAM exchange costs each of the
                // thousand-odd sessions a test run opens. TCP keeps the password.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
            ])
            .args(["--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", pwfile.display()));
        run(initdb, Duration::from_secs(120), "initdb").await?;
        let _ = std::fs::remove_file(&pwfile);

        let mut last_problem = String::new();
        // The port is free when we look, but another process may take it before the
        // server binds; a couple of retries make that race harmless.
        for _ in 0..3 {
            let port = free_port()?;
            // Probes are refused by design, tens of thousands of times a run: the
            // server does not log those errors and their statements (21 MB a test run),
            // only what its start and stop say (LOG, FATAL, PANIC).
            let mut options = format!(
                "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' \
                 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                 -c max_connections=200 -c shared_buffers=128MB \
                 -c log_min_messages=log -c log_min_error_statement=panic",
                dir.display()
            );
            let mut pg_ctl = command(&bin, "pg_ctl", owner.as_ref());
            if let Some(language) = language {
                // gettext ignores LANGUAGE under the C locale, but not under C.UTF-8,
                // which every glibc has: no generated locale is needed.
                options.push_str(" -c lc_messages=C.UTF-8");
                pg_ctl.env("LANGUAGE", language);
            }
            pg_ctl
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .arg("-o")
                .arg(options);
            match run(pg_ctl, Duration::from_secs(90), "pg_ctl start").await {
                Ok(()) => {
                    notes.push(format!(
                        "local cluster from {} in {}, reached through its Unix socket (TCP: 127.0.0.1:{port})",
                        bin.display(),
                        dir.display()
                    ));
                    return Ok(Cluster {
                        socket_dir: dir.display().to_string(),
                        port,
                        password,
                        reaper,
                    });
                }
                Err(error) => {
                    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                    last_problem = format!("{error}; server log: {}", tail(&log, 6));
                    if !log.contains("could not bind") && !log.contains("already in use") {
                        break;
                    }
                }
            }
        }
        reaper.finish(Duration::from_secs(30));
        Err(Error::backend("local", last_problem))
    }

    pub(super) fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.socket_dir.clone(),
            port: self.port,
            user: super::SUPERUSER.into(),
            password: Some(self.password.clone()),
            dbname: "postgres".into(),
        }
    }

    pub(super) async fn shutdown(self) -> Result<()> {
        let reaper = self.reaper;
        let finished = tokio::task::spawn_blocking(move || reaper.finish(Duration::from_secs(60)))
            .await
            .unwrap_or(false);
        if finished {
            Ok(())
        } else {
            Err(Error::backend(
                "local",
                "the cluster did not stop within 60s",
            ))
        }
    }
}

/// Removes clusters of runs whose process is gone (their reaper could not act, for
/// example because the machine went down with them).
fn sweep(notes: &mut Vec<String>) {
    let entries = cluster_parents()
        .into_iter()
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flatten();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(DIR_PREFIX));
        let Ok(info) = std::fs::read_to_string(path.join(RUN_INFO)) else {
            // A removal cut short (the machine went down during `rm -rf`) leaves data
            // without its run-info. A starting run writes run-info before initdb makes
            // `data/`, and a live cluster has its postmaster.pid: neither is touched.
            let debris = path.join("data").is_dir() && !path.join("data/postmaster.pid").exists();
            if is_ours && debris && std::fs::remove_dir_all(&path).is_ok() {
                notes.push(format!(
                    "swept the remains of a cluster whose removal was cut short in {}",
                    path.display()
                ));
            }
            continue;
        };
        let pid = info
            .lines()
            .find_map(|line| line.strip_prefix("pid="))
            .and_then(|pid| pid.parse().ok());
        if let (true, Some(pid)) = (is_ours, pid) {
            if process_is_dead(pid) {
                let status = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(CLEANUP_SCRIPT)
                    .env("RUN_DIR", &path)
                    .status();
                if status.is_ok() {
                    notes.push(format!(
                        "swept the cluster of dead run pid {pid} in {}",
                        path.display()
                    ));
                }
            }
        }
    }
}

fn command(bin: &Path, program: &str, owner: Option<&nix::unistd::User>) -> Command {
    let mut command = Command::new(bin.join(program));
    command
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        // Its own process group keeps a terminal's Ctrl-C away from the server, which
        // the reaper then stops in order.
        .process_group(0);
    if let Some(owner) = owner {
        command.uid(owner.uid.as_raw()).gid(owner.gid.as_raw());
    }
    command
}

async fn run(mut command: Command, limit: Duration, what: &str) -> Result<()> {
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| {
            Error::backend(
                "local",
                format!("{what} did not finish within {}s", limit.as_secs()),
            )
        })?
        .map_err(|error| Error::backend("local", format!("cannot run {what}: {error}")))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(Error::backend(
            "local",
            format!("{what} failed ({}): {}", output.status, tail(&stderr, 6)),
        ))
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|error| Error::backend("local", format!("no free loopback port: {error}")))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| Error::backend("local", format!("no free loopback port: {error}")))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|error| Error::io(path, error))
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| Error::backend("local", format!("temp dir {} is not UTF-8", path.display())))
}

/// The last `lines` lines of a log, joined on one line for an error message.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\n\nc\nd", 2), "c | d");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn pg_bin_without_binaries_is_refused_with_its_path() {
        let empty = tempfile::tempdir().unwrap();
        let problem = find_binaries(Some(empty.path().into())).unwrap_err();
        assert!(problem.contains("lacks initdb"), "{problem}");
        assert!(
            problem.contains(&empty.path().display().to_string()),
            "{problem}"
        );
    }
}
