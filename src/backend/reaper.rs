//! The reaper: a shell process that outlives this one just long enough to clean up.
//!
//! It blocks reading a pipe whose only writer is this process. The kernel closes that
//! pipe when this process ends in any way, including SIGKILL, and the reaper then runs
//! its cleanup script. It starts in its own process group and ignores SIGINT, SIGTERM
//! and SIGHUP, so a Ctrl-C that kills this process does not kill the reaper with it.

use std::io;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

pub(super) struct Reaper {
    child: Child,
    /// Held open for the life of the process; closing it triggers the cleanup.
    trigger: Option<ChildStdin>,
}

impl Reaper {
    /// Starts a reaper that runs `script` (POSIX sh) once this process is gone. The
    /// script reads its inputs from `env` rather than from interpolated text, so that
    /// paths and URLs need no shell quoting.
    pub(super) fn spawn(script: &str, env: &[(&str, &str)]) -> io::Result<Reaper> {
        let wrapped = format!("trap '' INT TERM HUP\nread _unused\n{script}\n");
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(wrapped)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn()?;
        let trigger = child.stdin.take();
        Ok(Reaper { child, trigger })
    }

    /// Triggers the cleanup now and waits (up to `limit`) until it has finished.
    pub(super) fn finish(mut self, limit: Duration) -> bool {
        drop(self.trigger.take());
        let started = Instant::now();
        while started.elapsed() < limit {
            match self.child.try_wait() {
                Ok(Some(_)) => return true,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_runs_once_the_trigger_closes() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("cleaned");
        let reaper =
            Reaper::spawn("touch \"$MARKER\"", &[("MARKER", marker.to_str().unwrap())]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!marker.exists(), "the reaper must wait for its trigger");
        assert!(reaper.finish(Duration::from_secs(5)));
        assert!(marker.exists());
    }
}
