//! The access matrix and its diff, for people: markdown (fits a pull request comment),
//! JSON, and one self-contained HTML page. Each cell is what the database did when a
//! class of principal tried an operation on a kind of row, in each tenant context.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::record::{grants, CellChange, Observation};

/// The classes of principals, in column order.
const ACTORS: [&str; 4] = ["user", "platform admin", "anon", "claims without sub"];

/// The outcomes of one (object, operation, kind of row, principal) by context.
type ByContext<'o> = BTreeMap<&'o str, BTreeSet<&'o str>>;

/// object → (operation, kind of row) → principal → outcomes by context.
type Grid<'o> = BTreeMap<&'o str, BTreeMap<(&'o str, &'o str), BTreeMap<&'o str, ByContext<'o>>>>;

fn grid(observed: &[Observation]) -> Grid<'_> {
    let mut grid = Grid::new();
    for cell in observed {
        if !ACTORS.contains(&cell.principal.as_str()) {
            continue; // service_role bypasses row security: nothing to tabulate.
        }
        grid.entry(cell.object.as_str())
            .or_default()
            .entry((cell.operation.as_str(), cell.row.as_str()))
            .or_default()
            .entry(cell.principal.as_str())
            .or_default()
            .entry(cell.context.as_str())
            .or_default()
            .extend(cell.outcomes.iter().map(String::as_str));
    }
    grid
}

/// One cell's text: the outcomes, by context only where the context changes them.
fn cell_text(by_context: &ByContext) -> String {
    let distinct: BTreeSet<&BTreeSet<&str>> = by_context.values().collect();
    if distinct.len() == 1 {
        return join(by_context.values().next().expect("one context at least"));
    }
    by_context
        .iter()
        .map(|(context, outcomes)| format!("{context}: {}", join(outcomes)))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn join(outcomes: &BTreeSet<&str>) -> String {
    outcomes.iter().copied().collect::<Vec<_>>().join(" / ")
}

/// The matrix as markdown, one table per object.
pub fn markdown(observed: &[Observation]) -> String {
    let mut out = String::from("## Access matrix\n\n");
    out.push_str(
        "What the database did, observed by acting as each principal. Rows are relative to \
         the principal: `writer` (a tenant it owns or administers), `member` (one it only \
         reads), `foreign` (another tenant's private row), `shared` (another tenant's row \
         shared with it), `global`, `platform`; for objects beyond the model, what their \
         class lets the principal do with the row. Contexts: `none`, `own`, \
         `out-of-context`, `forged`. An empty cell was not probed: platform admins, anon and claims without \
         `sub` get one probe per object and operation, whatever the row.\n",
    );
    for (object, rows) in grid(observed) {
        let _ = writeln!(out, "\n### {object}\n");
        let _ = writeln!(out, "| operation | row | {} |", ACTORS.join(" | "));
        let _ = writeln!(out, "|---|---|{}", "---|".repeat(ACTORS.len()));
        for ((op, kind), by_actor) in rows {
            let cells: Vec<String> = ACTORS
                .iter()
                .map(|actor| by_actor.get(actor).map_or_else(String::new, cell_text))
                .collect();
            let _ = writeln!(out, "| {op} | {kind} | {} |", cells.join(" | "));
        }
    }
    out
}

/// The matrix as JSON: one entry per cell and context.
pub fn json(observed: &[Observation]) -> serde_json::Value {
    serde_json::json!({ "version": 1, "cells": observed })
}

/// The matrix as one HTML page: no script, no network, colour and text in every cell.
pub fn html(observed: &[Observation]) -> String {
    let mut out = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>rls-harness access matrix</title>\n<style>\
         body{font:14px system-ui,sans-serif;margin:2em;color:#1d1d1f}\
         table{border-collapse:collapse;margin:0 0 2em}\
         th,td{border:1px solid #c7c7cc;padding:4px 8px;text-align:left;vertical-align:top}\
         th{background:#f2f2f7}\
         td.grants{background:#d8f5d0}td.denied{background:#fde2c8}\
         td.nothing{background:#ececec}td.mixed{background:#fff6bf}\
         </style></head><body>\n<h1>Access matrix</h1>\n\
         <p>What the database did, observed by acting as each principal. \
         Green: allowed or seen; orange: denied; grey: hidden or no row touched; \
         yellow: depends on the context; empty: not probed (platform admins, anon and \
         claims without <code>sub</code> get one probe per object and operation).</p>\n",
    );
    for (object, rows) in grid(observed) {
        let _ = writeln!(out, "<h2>{}</h2>\n<table>", escape(object));
        let _ = write!(out, "<tr><th>operation</th><th>row</th>");
        for actor in ACTORS {
            let _ = write!(out, "<th>{actor}</th>");
        }
        out.push_str("</tr>\n");
        for ((op, kind), by_actor) in rows {
            let _ = write!(out, "<tr><td>{}</td><td>{}</td>", escape(op), escape(kind));
            for actor in ACTORS {
                match by_actor.get(actor) {
                    None => out.push_str("<td></td>"),
                    Some(by_context) => {
                        let _ = write!(
                            out,
                            "<td class=\"{}\">{}</td>",
                            shade(by_context),
                            escape(&cell_text(by_context))
                        );
                    }
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn shade(by_context: &ByContext) -> &'static str {
    let all: BTreeSet<&str> = by_context.values().flatten().copied().collect();
    let grants = all.iter().any(|o| grants(o));
    let denied = all.iter().any(|o| o.starts_with("denied"));
    match (grants, denied) {
        (true, false) if all.len() == 1 => "grants",
        (false, true) if all.len() == 1 => "denied",
        (false, false) => "nothing",
        _ => "mixed",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The changed cells as markdown, widenings first; "no change in access" when none.
pub fn diff_markdown(changes: &[CellChange]) -> String {
    if changes.is_empty() {
        return "no change in access\n".to_owned();
    }
    let widened = changes.iter().filter(|c| c.widens).count();
    let mut out = format!(
        "## Access diff\n\n{} changed cells, {widened} widened.\n\n",
        changes.len()
    );
    for change in changes {
        let cell = &change.cell;
        let mark = if change.widens {
            "**widened**"
        } else {
            "changed"
        };
        let _ = writeln!(
            out,
            "- {mark}: {}: {} {} row of {}, context {}: {} → {}",
            cell.principal,
            cell.operation,
            cell.row,
            cell.object,
            cell.context,
            side(&change.before),
            side(&change.after)
        );
    }
    out
}

fn side(outcomes: &[String]) -> String {
    if outcomes.is_empty() {
        "(not probed)".to_owned()
    } else {
        outcomes.join(" / ")
    }
}

/// The changed cells as JSON.
pub fn diff_json(changes: &[CellChange]) -> serde_json::Value {
    let changes: Vec<serde_json::Value> = changes
        .iter()
        .map(|change| {
            let cell = &change.cell;
            serde_json::json!({
                "object": cell.object,
                "operation": cell.operation,
                "row": cell.row,
                "context": cell.context,
                "principal": cell.principal,
                "before": change.before,
                "after": change.after,
                "widens": change.widens,
            })
        })
        .collect();
    serde_json::json!({ "version": 1, "changes": changes })
}
