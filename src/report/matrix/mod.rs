//! The access matrix and its diff, for people: markdown (fits a pull request comment),
//! JSON, and one self-contained HTML page. The page answers a reviewer's question
//! first (does anything depart from the model, and what lies beyond it), then shows
//! per object what each principal did to each kind of row (`page` lays it out).

use std::fmt::Write;

use crate::record::{CellChange, Observation};

mod html;
mod page;

pub use html::html;
use page::{layout, row_words, Deviation, Page, Standing};

/// What the marks and words of a cell mean, for both formats.
const LEGEND: &str = "Rows are principals: a signed-in user by its role in the row's \
     tenant (`outsider`: no role there), then platform admins, anon and claims without \
     `sub`; for an object beyond the model, `user`. Columns are operations. A cell says, \
     for each kind of row (of a tenant it writes or only reads, another tenant's private \
     row, one shared with it, global, platform; its own membership, an owner's, another \
     user's; a new one), what the database did, and a mark: ✓ as the model says, \
     ✗ a deviation (wider: it grants what the model withholds; narrower: it refuses or \
     answers otherwise where the model grants), ~ stricter than the object's class \
     (beyond the model, not a failure). Contexts appear only where they change the \
     answer. An empty cell was not probed.";

/// The opening verdict: how many cells depart from the model, and what lies beyond it.
fn verdict(page: &Page) -> String {
    let objects = page.tables.len();
    match page.deviations.len() {
        0 => format!(
            "**No deviation**: in {objects} object{}, every probe did what the model says.",
            plural(objects)
        ),
        _ => {
            let cells: usize = page.tables.iter().map(|t| t.deviations).sum();
            format!(
                "**{cells} cell{} deviate from the model** in {} of {objects} objects.",
                plural(cells),
                page.tables.iter().filter(|t| t.deviations > 0).count()
            )
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// One deviation in words: who, what, which row, in which contexts, and what happened.
fn deviation_words(deviation: &Deviation) -> [String; 5] {
    let cell = deviation.cell;
    [
        cell.object.clone(),
        cell.principal.clone(),
        format!("{} ({})", cell.operation, row_words(&cell.row)),
        deviation.contexts.join(", "),
        format!(
            "{}, {}",
            cell.outcomes.join(" or "),
            cell.verdict.as_deref().unwrap_or_default()
        ),
    ]
}

/// An object beyond the model, in words.
fn beyond_words(object: &str, stricter: usize, deviations: usize) -> String {
    let mut words = format!("`{object}`: judged by its class");
    match (deviations, stricter) {
        (0, 0) => words.push_str("; it allows what the class allows"),
        (0, _) => {}
        (n, _) => words.push_str(&format!(
            "; {n} cell{} deviate{} from it (above)",
            plural(n),
            if n == 1 { "s" } else { "" }
        )),
    }
    if stricter > 0 {
        words.push_str(&format!(
            "; {stricter} cell{} stricter than the class",
            plural(stricter)
        ));
    }
    words
}

/// The matrix as markdown: the verdict, the deviations, the objects beyond the model,
/// then one table per object.
pub fn markdown(observed: &[Observation]) -> String {
    let page = layout(observed);
    let mut out = format!("## Access matrix\n\n{}\n", verdict(&page));
    if !page.deviations.is_empty() {
        out.push_str("\n### Deviations\n\n| object | principal | operation (row) | contexts | observed |\n|---|---|---|---|---|\n");
        for deviation in &page.deviations {
            let _ = writeln!(out, "| {} |", deviation_words(deviation).join(" | "));
        }
    }
    if !page.beyond.is_empty() {
        out.push_str("\n### Objects beyond the model\n\n");
        for (object, stricter, deviations) in &page.beyond {
            let _ = writeln!(out, "- {}", beyond_words(object, *stricter, *deviations));
        }
    }
    let _ = writeln!(out, "\n{LEGEND}");
    for table in &page.tables {
        let _ = writeln!(out, "\n### {}\n", table.object);
        let _ = writeln!(out, "| principal | {} |", table.operations.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(table.operations.len()));
        for (principal, cells) in &table.rows {
            let cells: Vec<String> = cells
                .iter()
                .map(|cell| {
                    cell.as_ref().map_or_else(String::new, |cell| {
                        let lines: Vec<&str> =
                            cell.lines.iter().map(|(line, _)| line.as_str()).collect();
                        lines.join("<br>").replace('|', "\\|")
                    })
                })
                .collect();
            let _ = writeln!(out, "| **{principal}** | {} |", cells.join(" | "));
        }
    }
    out
}

/// The matrix as JSON: one entry per cell and context, each with its verdict.
pub fn json(observed: &[Observation]) -> serde_json::Value {
    let deviations = observed
        .iter()
        .filter(|cell| Standing::of_cell(cell) == Standing::Deviation)
        .count();
    // The count is of cells, context by context, as `cells` holds them.
    serde_json::json!({ "version": 2, "deviations": deviations, "cells": observed })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_beyond_the_model_is_described_by_how_it_stands_against_its_class() {
        assert_eq!(
            beyond_words("public.datasets", 0, 0),
            "`public.datasets`: judged by its class; it allows what the class allows"
        );
        assert_eq!(
            beyond_words("public.datasets", 2, 1),
            "`public.datasets`: judged by its class; 1 cell deviates from it (above); \
             2 cells stricter than the class"
        );
    }
}
