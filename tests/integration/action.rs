//! The reusable action's shell steps, run as GitHub would run them: the gate with every
//! report, a bad command, the access diff against a base branch (from a fork, to the
//! step summary), and the verdict's exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ACTION: &str = include_str!("../../action.yml");

/// The `run: |` script of the step named `name`.
fn script(name: &str) -> String {
    let start = ACTION
        .find(&format!("- name: {name}\n"))
        .unwrap_or_else(|| panic!("no step {name:?} in action.yml"));
    let step = &ACTION[start..];
    let body = &step[step.find("run: |\n").expect("a run: block") + "run: |\n".len()..];
    body.lines()
        .take_while(|line| line.is_empty() || line.starts_with("        "))
        .map(|line| line.get(8..).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a step's script in `workspace` with `env`, the built binary on the PATH and the
/// test's backend; returns its output and what it wrote to `GITHUB_OUTPUT`.
fn run_step(name: &str, workspace: &Path, env: &[(&str, &str)]) -> (Output, String) {
    let files = tempfile::tempdir().unwrap();
    let output_file = files.path().join("output");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_rls-harness"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .args(["-e", "-c", &script(name)])
        .current_dir(workspace)
        .env("PATH", path)
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_WORKSPACE", workspace)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    // The backend this test process uses, as `support::cli` sets it.
    for (key, value) in crate::support::cli(&[]).get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    let written = std::fs::read_to_string(&output_file).unwrap_or_default();
    (output, written)
}

#[test]
fn the_gate_step_writes_every_report_and_its_exit_code() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();
    let (output, written) = run_step(
        "rls-harness ${{ inputs.command }}",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            ("COMMAND", "check"),
            ("MIGRATIONS", "migrations"),
            ("SCENARIOS", "scenarios"),
            ("CONFIG", "rls-harness.toml"),
            ("ARGS", "--property-cases 4 --sequence-cases 0"),
            ("OUT", out_dir),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(written.contains("exit-code=0\n"), "{written}");
    assert!(written.contains("sarif-written=true\n"), "{written}");
    for report in ["junit.xml", "rls-harness.sarif", "record.json"] {
        assert!(out.path().join(report).is_file(), "{report} missing");
    }

    let (output, written) = run_step(
        "rls-harness ${{ inputs.command }}",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[("COMMAND", "chek"), ("OUT", out_dir)],
    );
    assert!(
        output.status.success(),
        "the step records the code; the verdict fails"
    );
    assert!(written.contains("exit-code=2\n"), "{written}");
    assert!(String::from_utf8_lossy(&output.stdout)
        .contains("::error title=rls-harness::command must be check or fuzz, not chek"));
}

#[test]
fn the_verdict_step_fails_with_the_check_s_exit_code() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (code, expected) in [("0", 0), ("1", 1), ("2", 2), ("", 2)] {
        let (output, _) = run_step("The verdict", here, &[("CODE", code)]);
        assert_eq!(output.status.code(), Some(expected), "CODE={code:?}");
    }
}

/// On a pull request from a fork, the diff against the base branch's migrations goes to
/// the step summary, widening and all.
#[test]
fn the_diff_step_compares_with_the_base_branch_and_writes_a_fork_s_summary() {
    let git = |dir: &Path, args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.test"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {status:?}");
    };
    let origin = tempfile::tempdir().unwrap();
    let migrations = origin.path().join("supabase/migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    for entry in std::fs::read_dir("migrations").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "sql") {
            continue;
        }
        std::fs::copy(&path, migrations.join(path.file_name().unwrap())).unwrap();
    }
    git(origin.path(), &["init", "-q", "-b", "main"]);
    git(origin.path(), &["add", "."]);
    git(origin.path(), &["commit", "-q", "-m", "base"]);
    let head = tempfile::tempdir().unwrap();
    git(
        head.path(),
        &["clone", "-q", origin.path().to_str().unwrap(), "."],
    );
    std::fs::write(
        head.path()
            .join("supabase/migrations/20991231000099_viewers_insert.sql"),
        "create policy agents_members_insert on public.agents for insert to authenticated \
         with check (tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = out.path().join("summary.md");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("rls-harness.toml");
    let (output, written) = run_step(
        "What the pull request does to access",
        head.path(),
        &[
            ("BASE_REF", "main"),
            ("MIGRATIONS", "supabase/migrations"),
            ("CONFIG", config.to_str().unwrap()),
            ("OUT", out.path().to_str().unwrap()),
            ("FORK", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            // Four worlds show the widening (`matrix.rs`); the step's wiring is what
            // is tested here.
            ("RLS_HARNESS_WORLDS", "4"),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let diff = out.path().join("access-diff.md");
    assert!(
        written.contains(&format!("file={}", diff.display())),
        "{written}"
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("## Access diff") && text.contains("**widened**"),
        "{text}"
    );
}
