//! Property runs for people: the figures of each run, a failure with its principal,
//! SQL, expected and actual, blame and counterexample, the first failure as soon as a
//! run finds it, the write coverage table, and the probes of objects beyond the model.

use std::fmt::Write;
use std::time::Duration;

use super::indent;
use crate::record::{CoverageRecord, FailureRecord, PropertyRecord};

/// A property run: its figures, and for a failure the mismatch and where its
/// counterexample scenario was written.
pub fn run(record: &PropertyRecord) -> String {
    let mut out = String::new();
    let seconds = record.seconds.max(f64::EPSILON);
    let status = if record.failure.is_none() {
        "ok  "
    } else {
        "FAIL"
    };
    let unit = &record.unit;
    let _ = writeln!(
        out,
        "  {status} {} {unit}, {} checks in {:.1} s ({:.1} {unit}/s, {:.0} checks/s), seed {}",
        record.cases,
        record.checks,
        seconds,
        record.cases as f64 / seconds,
        record.checks as f64 / seconds,
        record.seed
    );
    let Some(failure) = &record.failure else {
        return out;
    };
    let _ = writeln!(out, "       invariant: {}", failure.invariant);
    let _ = writeln!(out, "       as:  {}", failure.who);
    let _ = writeln!(out, "       sql: {}", failure.sql);
    let _ = writeln!(out, "       expected {}", failure.expected);
    let _ = writeln!(out, "       got      {}", failure.got);
    if let Some(blame) = &failure.blame {
        let _ = writeln!(out, "       {blame}");
    }
    let (tenants, users, resources) = failure.world;
    let _ = writeln!(
        out,
        "       shrunk to {tenants} tenants, {users} users, {resources} resources; {} mismatches in that world",
        failure.mismatches
    );
    match (&failure.counterexample, &failure.scenario) {
        (Some(path), _) => {
            let _ = writeln!(out, "       counterexample: {}", path.display());
            let _ = writeln!(
                out,
                "       keep it as a regression: mkdir -p scenarios/regressions && mv {} scenarios/regressions/",
                path.display()
            );
        }
        (None, Some(scenario)) => {
            let _ = writeln!(
                out,
                "       counterexample (could not be written):\n{}",
                indent(scenario, "         ")
            );
        }
        (None, None) => {}
    }
    out
}

/// The first failure of a property run, printed as soon as it is found, before any
/// shrinking: the verdict is known, the smallest world comes later.
pub fn first_failure(failure: &FailureRecord, shrink: Duration) -> String {
    let mut out = format!(
        "first failure: {}\n  as:  {}\n  sql: {}\n  expected {}\n  got      {}\n",
        failure.invariant, failure.who, failure.sql, failure.expected, failure.got
    );
    if !shrink.is_zero() {
        let _ = writeln!(
            out,
            "  shrinking it for up to {} s (--shrink-time)",
            shrink.as_secs()
        );
    }
    out
}

/// The objects the model does not name, as a property run probed them: how many probes
/// each got, and where one allows less than its class (reported, not failed).
pub fn subjects(record: &PropertyRecord) -> String {
    let mut out = String::new();
    if record.objects.is_empty() && record.stricter.is_empty() {
        return out;
    }
    let _ = writeln!(out, "  objects beyond the model, probed by class:");
    for (object, probes) in &record.objects {
        let _ = writeln!(out, "    {object:<50} {probes} probes");
    }
    if !record.stricter.is_empty() {
        let _ = writeln!(out, "  stricter than the class allows (not a failure):");
        for note in &record.stricter {
            let _ = writeln!(out, "    {note}");
        }
    }
    out
}

/// The write coverage: for plain users, one line per object and operation, one column
/// per kind of row, and in each the probes per context (none / the row's own tenant /
/// another of the user's tenants / forged), `-` where that context cannot occur; then
/// the cells no probe reached, by name, and for the other principals how many
/// object-operation pairs they tried.
pub fn coverage(coverage: &CoverageRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  write coverage: {} of {} cells probed as plain users ({} probes); per cell: none/own/out-of-context/forged",
        coverage.reached, coverage.required, coverage.probes
    );
    for object in &coverage.objects {
        let _ = write!(out, "    {:<26}", object.name);
        for kind in &object.kinds {
            let _ = write!(out, " {kind:<12}");
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        for op in &object.ops {
            let _ = write!(out, "      {:<24}", op.name);
            for cell in &op.cells {
                let _ = write!(out, " {:<12}", cell.as_deref().unwrap_or(""));
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
        }
    }
    if !coverage.empty.is_empty() {
        let _ = writeln!(out, "  EMPTY cells (no world reached them):");
        for cell in &coverage.empty {
            let _ = writeln!(out, "    {cell}");
        }
    }
    let line: Vec<String> = coverage
        .others
        .iter()
        .map(|actor| {
            let mut text = format!("{} {}/{}", actor.name, actor.tried, actor.possible);
            if !actor.missing.is_empty() {
                text.push_str(&format!(" (EMPTY: {})", actor.missing.join(", ")));
            }
            text
        })
        .collect();
    let _ = writeln!(out, "  object × operation pairs tried: {}", line.join(", "));
    out
}
