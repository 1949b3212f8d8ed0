//! Backends, as a user meets them through the `rls-harness` binary: whichever backend
//! runs, nothing of a run remains after it passes, fails, gets Ctrl-C or is killed.
//! Every test here has `backend` in its name: CI runs them again on docker.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;

use crate::support::{cli_own_backend, harness, migrations_with};

/// Where the local backend may put a run's cluster: `$TMPDIR`, else in memory.
fn cluster_parents() -> Vec<PathBuf> {
    vec![std::env::temp_dir(), PathBuf::from("/dev/shm")]
}

/// The entries of every place a cluster may live.
fn entries_of_cluster_parents() -> impl Iterator<Item = std::fs::DirEntry> {
    cluster_parents()
        .into_iter()
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flatten()
        .flatten()
}

/// Everything of run `pid` that still exists: cluster directories, server processes,
/// containers.
fn leftovers(pid: u32, seen_dirs: &[PathBuf]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in entries_of_cluster_parents() {
        let info = std::fs::read_to_string(entry.path().join("run-info")).unwrap_or_default();
        if info.lines().any(|line| line == format!("pid={pid}")) {
            found.push(format!("directory {}", entry.path().display()));
        }
    }
    for proc_entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(proc_entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        for dir in seen_dirs {
            if cmdline.contains(&*dir.to_string_lossy()) {
                found.push(format!(
                    "process {}: {cmdline}",
                    proc_entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    if let Ok(output) = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=rls-harness.pid={pid}"),
        ])
        .output()
    {
        let ids = String::from_utf8_lossy(&output.stdout);
        found.extend(ids.split_whitespace().map(|id| format!("container {id}")));
    }
    found
}

/// The cluster directories of run `pid` (the local backend's; none for docker).
fn cluster_dirs(pid: u32) -> Vec<PathBuf> {
    entries_of_cluster_parents()
        .filter(|entry| {
            let info = std::fs::read_to_string(entry.path().join("run-info")).unwrap_or_default();
            info.lines().any(|line| line == format!("pid={pid}"))
        })
        .map(|entry| entry.path())
        .collect()
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A focused run: one scenario file, for tests about the backend rather than the checks.
const ONE_FILE: &str = "scenarios/isolation";

/// `rls-harness check` with a token property run: these tests are about backends and
/// cleanup, and the property engine has tests of its own.
fn check(args: &[&str]) -> std::process::Command {
    let light = ["check", "--property-cases", "1", "--sequence-cases", "1"];
    cli_own_backend(&[&light[..], args].concat())
}

/// Starts `rls-harness check` in its own process group, as a shell would.
fn spawn_check(args: &[&str]) -> Child {
    check(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// Waits until run `child` has a server, interrupts it with `signal`, and asserts
/// that everything of the run disappears.
fn interrupt_and_expect_no_leftovers(mut child: Child, signal: Signal, to_group: bool) {
    let pid = child.id();
    let mut dirs = Vec::new();
    let started = wait_until(Duration::from_secs(120), || {
        dirs = cluster_dirs(pid);
        !leftovers(pid, &dirs).is_empty()
    });
    assert!(started, "the run never brought up a server");
    let target = Pid::from_raw(pid as i32);
    if to_group {
        killpg(target, signal).unwrap()
    } else {
        kill(target, signal).unwrap()
    }
    child.wait().unwrap();
    let gone = |dirs: &[PathBuf]| {
        dirs.iter()
            .filter(|dir| dir.exists())
            .map(|dir| format!("directory {}", dir.display()))
            .collect::<Vec<_>>()
    };
    let clean = wait_until(Duration::from_secs(60), || {
        leftovers(pid, &dirs).is_empty() && gone(&dirs).is_empty()
    });
    assert!(
        clean,
        "left behind: {:#?} {:#?}",
        leftovers(pid, &dirs),
        gone(&dirs)
    );
}

/// Runs `command` to completion and returns its pid with its output.
fn run_to_end(mut command: std::process::Command) -> (u32, std::process::Output) {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (pid, child.wait_with_output().unwrap())
}

#[test]
fn backend_leaves_nothing_after_a_passing_run() {
    let (pid, output) = run_to_end(check(&[]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    for phase in ["backend start", "supabase shim", "migrations", "checks"] {
        assert!(
            stdout.contains(phase),
            "the summary times {phase}: {stdout}"
        );
    }
    // `check` stops its backend itself before it exits: nothing may be left even
    // before a reaper would act.
    assert_eq!(leftovers(pid, &[]), Vec::<String>::new());
}

#[test]
fn backend_leaves_nothing_after_a_failing_run() {
    let broken = migrations_with(&[("20991231000099_broken.sql", "select * from no_such_table;")]);
    let (pid, output) = run_to_end(check(&["--migrations", broken.path().to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "20991231000099_broken.sql:1:15: 42P01: relation \"no_such_table\" does not exist"
        ),
        "{stderr}"
    );
    assert!(
        wait_until(Duration::from_secs(60), || leftovers(pid, &[]).is_empty()),
        "left behind: {:#?}",
        leftovers(pid, &[])
    );
}

#[test]
fn backend_leaves_nothing_after_ctrl_c() {
    interrupt_and_expect_no_leftovers(spawn_check(&[]), Signal::SIGINT, true);
}

#[test]
fn backend_leaves_nothing_after_sigterm() {
    interrupt_and_expect_no_leftovers(spawn_check(&[]), Signal::SIGTERM, false);
}

#[test]
fn backend_leaves_nothing_after_sigkill() {
    interrupt_and_expect_no_leftovers(spawn_check(&[]), Signal::SIGKILL, false);
}

#[test]
fn backend_docker_without_a_daemon_says_what_to_do_instead() {
    let output = check(&[])
        .env("RLS_HARNESS_BACKEND", "docker")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("docker backend: "), "{stderr}");
    assert!(
        stderr.contains("or use RLS_HARNESS_BACKEND=local"),
        "{stderr}"
    );
}

#[test]
fn backend_auto_says_which_backend_it_picked_and_why() {
    // One scenario file is enough to see the pick; the passing run above runs it all.
    let output = check(&[ONE_FILE])
        .env_remove("RLS_HARNESS_BACKEND")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("backend auto picked "), "{stdout}");
}

#[tokio::test]
async fn backend_url_uses_scratch_databases_on_an_existing_server_and_drops_them() {
    let harness = harness().await;
    let database = harness.bare_database().await.unwrap();
    let url = database.owner_endpoint().url();
    let mut command = check(&[ONE_FILE]);
    command
        .env("RLS_HARNESS_BACKEND", "url")
        .env("DATABASE_URL", &url);
    let (pid, output) = run_to_end(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("rls-harness check, url backend"),
        "{stdout}"
    );
    // Roles are cluster-wide: this server already has them, and the run says so.
    assert!(
        stdout.contains("role anon already exists, left as it is"),
        "{stdout}"
    );
    let owner = database.owner().await.unwrap();
    let left: i64 = owner
        .query_one(
            "select count(*) from pg_database where datname like 'rls\\_harness\\_%' \
             and shobj_description(oid, 'pg_database') like '%pid=' || $1 || ' %'",
            &[&pid.to_string()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    database.close().await.unwrap();
}

/// A cluster whose removal was cut short (the machine went down during `rm -rf`, after
/// the run-info went and before the data did) is swept by the next local run.
#[tokio::test]
async fn backend_sweeps_the_remains_of_a_removal_cut_short() {
    let debris = tempfile::Builder::new()
        .prefix("rls-harness-")
        .tempdir()
        .unwrap()
        .keep();
    std::fs::create_dir_all(debris.join("data/base")).unwrap();
    let options = rls_harness::BackendOptions {
        kind: rls_harness::BackendKind::Local,
        ..rls_harness::BackendOptions::from_env().unwrap()
    };
    let harness = rls_harness::Harness::start(&options).await.unwrap();
    harness.shutdown().await.unwrap();
    assert!(!debris.exists(), "{} was left behind", debris.display());
}
