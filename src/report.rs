//! The one module that turns results into text for people; everything else returns
//! data. Reports are plain aligned text, readable in a terminal and in CI logs.

use std::fmt::Write;
use std::time::Duration;

use crate::harness::{Harness, Template};
use crate::plan::CheckResult;

/// Everything `rls-harness check` has to say about one run.
pub struct CheckReport<'a> {
    pub harness: &'a Harness,
    pub template: &'a Template,
    pub acted: &'a [CheckResult],
    pub acted_time: Duration,
    pub total_time: Duration,
}

impl CheckReport<'_> {
    fn checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.template.migration_checks.iter().chain(self.acted)
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks().all(|check| check.passed)
    }

    /// The summary, as printed by `rls-harness check`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let harness = self.harness;
        let _ = writeln!(out, "rls-harness check, {} backend", harness.backend());
        for note in harness.notes() {
            let _ = writeln!(out, "  {note}");
        }

        let _ = writeln!(out, "\nmigrations");
        for applied in &self.template.applied {
            let _ = writeln!(
                out,
                "  ok {:<52} {}",
                applied.migration.file_name(),
                millis(applied.duration)
            );
            // IF [NOT] EXISTS chatter ("..., skipping") is the server's, not the migration's.
            for notice in applied
                .notices
                .iter()
                .filter(|n| !n.message.ends_with(", skipping"))
            {
                let _ = writeln!(out, "       {} {}", notice.severity, notice.message);
            }
        }

        let _ = writeln!(out, "\nchecks");
        let width = self
            .checks()
            .map(|check| check.actor.len())
            .max()
            .unwrap_or(0);
        for check in self.checks() {
            let status = if check.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  {status} {:<width$}  {}", check.actor, check.name);
            if !check.passed {
                let _ = writeln!(out, "       {}", check.detail);
            }
        }

        let timings = harness.timings;
        let template = self.template;
        let phases = [
            ("backend start", timings.backend),
            ("supabase shim", timings.shim),
            ("migrations", template.migrate_time),
            ("checks", template.checks_time + self.acted_time),
            ("total", self.total_time),
        ];
        let _ = writeln!(out, "\nphases");
        for (phase, time) in phases {
            let _ = writeln!(out, "  {phase:<14} {:>9}", millis(time));
        }

        let failed = self.checks().filter(|check| !check.passed).count();
        let total = self.checks().count();
        let _ = writeln!(
            out,
            "\n{} passed, {} failed ({} migrations, {} checks)",
            total - failed,
            failed,
            template.applied.len(),
            total
        );
        out
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
