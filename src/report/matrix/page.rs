//! The matrix as a reviewer reads it, before any format: per object, principals as
//! rows (the tenancy's roles from the fewest rights up, then outsiders, platform admins,
//! anon and claims without `sub`), operations as columns, and in each cell what
//! happened to each kind of row and whether the model says so; contexts folded unless
//! they change the answer. The deviations and the objects beyond the model come first.

use std::collections::{BTreeMap, BTreeSet};

use crate::record::Observation;

/// Operations in the order a reviewer expects them; others follow alphabetically.
const OPERATIONS: [&str; 16] = [
    "read",
    "call",
    "insert",
    "update",
    "rename",
    "move-writer",
    "move-member",
    "move-foreign",
    "publish",
    "unpublish",
    "reshare",
    "delete",
    "add",
    "promote",
    "demote",
    "remove",
];

/// How a cell, or a part of one, stands against the model, from calm to alarming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    AsModel,
    Stricter,
    Deviation,
}

impl Standing {
    /// The standing of one observed cell.
    pub fn of_cell(cell: &Observation) -> Standing {
        Standing::of(cell.verdict.as_deref())
    }

    fn of(verdict: Option<&str>) -> Standing {
        match verdict {
            Some("wider than the model" | "narrower than the model") => Standing::Deviation,
            Some("stricter than its class") => Standing::Stricter,
            _ => Standing::AsModel,
        }
    }

    /// The mark that goes with the words, so that colour is never the only sign.
    pub fn mark(self) -> &'static str {
        match self {
            Standing::AsModel => "✓",
            Standing::Stricter => "~",
            Standing::Deviation => "✗",
        }
    }
}

/// One cell: a line per kind of row, and the cell's standing (its furthest part).
pub struct Cell {
    pub lines: Vec<(String, Standing)>,
    pub standing: Standing,
}

pub struct Table<'o> {
    pub object: &'o str,
    pub beyond_model: bool,
    pub operations: Vec<&'o str>,
    /// Principals in order, each with a cell per operation (`None`: not probed).
    pub rows: Vec<(&'o str, Vec<Option<Cell>>)>,
    pub deviations: usize,
}

/// Cells that depart from the model alike in several contexts: one line of the
/// page's opening table.
pub struct Deviation<'o> {
    pub cell: &'o Observation,
    pub contexts: Vec<&'o str>,
}

pub struct Page<'o> {
    /// Cells that depart from the model, leaks first, and among them those of the
    /// principals with the fewest rights (anon before a member).
    pub deviations: Vec<Deviation<'o>>,
    /// Objects beyond the model, each with its cells stricter than its class and its
    /// cells that deviate from it.
    pub beyond: Vec<(&'o str, usize, usize)>,
    /// Objects with deviations first, then the model's, then those beyond it.
    pub tables: Vec<Table<'o>>,
}

/// Lays out `observed`; service_role, which bypasses row security, has no row.
pub fn layout(observed: &[Observation]) -> Page<'_> {
    type Principals<'o> = BTreeMap<(u8, &'o str), BTreeMap<&'o str, Vec<&'o Observation>>>;
    let mut objects: BTreeMap<&str, Principals> = BTreeMap::new();
    for cell in observed.iter().filter(|c| c.principal != "service_role") {
        objects
            .entry(cell.object.as_str())
            .or_default()
            .entry((cell.rank, cell.principal.as_str()))
            .or_default()
            .entry(cell.operation.as_str())
            .or_default()
            .push(cell);
    }
    let mut deviations = Vec::new();
    let mut beyond = Vec::new();
    let mut tables = Vec::new();
    for (object, principals) in objects {
        let mut operations: Vec<&str> = principals
            .values()
            .flat_map(|ops| ops.keys().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        operations.sort_by_key(|op| (OPERATIONS.iter().position(|o| o == op), *op));
        operations.sort_by_key(|op| !OPERATIONS.contains(op));
        let beyond_model = principals
            .values()
            .flat_map(|ops| ops.values().flatten())
            .any(|cell| cell.beyond_model);
        let mut stricter = 0;
        let mut table_deviations = 0;
        let rows = principals
            .iter()
            .map(|((_, principal), ops)| {
                let cells = operations
                    .iter()
                    .map(|op| {
                        let cells = ops.get(op)?;
                        for cell in cells {
                            match Standing::of(cell.verdict.as_deref()) {
                                Standing::Deviation => {
                                    deviations.push(*cell);
                                    table_deviations += 1;
                                }
                                Standing::Stricter => stricter += 1,
                                Standing::AsModel => {}
                            }
                        }
                        Some(cell_of(cells))
                    })
                    .collect();
                (*principal, cells)
            })
            .collect();
        if beyond_model {
            beyond.push((object, stricter, table_deviations));
        }
        tables.push(Table {
            object,
            beyond_model,
            operations,
            rows,
            deviations: table_deviations,
        });
    }
    tables.sort_by_key(|table| (table.deviations == 0, table.beyond_model));
    Page {
        deviations: fold(deviations),
        beyond,
        tables,
    }
}

/// Deviations alike but for their context, as one, in the order a reviewer reads them.
fn fold(mut cells: Vec<&Observation>) -> Vec<Deviation<'_>> {
    let priority = |cell: &Observation| {
        let leak = cell.verdict.as_deref() == Some("wider than the model");
        // anon, claims without sub, outsiders and users of objects beyond the model
        // first; then the roles from the fewest rights up; platform admins last.
        let trust = match cell.principal.as_str() {
            "anon" => 0,
            "claims without sub" => 1,
            "outsider" => 2,
            "user" => 3,
            "platform admin" => 300,
            _ => 4 + u16::from(cell.rank),
        };
        (!leak, trust)
    };
    cells.sort_by(|a, b| {
        (priority(a), &a.object, &a.operation, &a.row, &a.outcomes).cmp(&(
            priority(b),
            &b.object,
            &b.operation,
            &b.row,
            &b.outcomes,
        ))
    });
    let mut folded: Vec<Deviation> = Vec::new();
    for cell in cells {
        match folded.last_mut() {
            Some(last)
                if (
                    &last.cell.object,
                    &last.cell.principal,
                    &last.cell.operation,
                ) == (&cell.object, &cell.principal, &cell.operation)
                    && (&last.cell.row, &last.cell.outcomes, &last.cell.verdict)
                        == (&cell.row, &cell.outcomes, &cell.verdict) =>
            {
                last.contexts.push(&cell.context);
            }
            _ => folded.push(Deviation {
                cell,
                contexts: vec![&cell.context],
            }),
        }
    }
    folded
}

/// A cell's words: per kind of row, what happened and whether the model says so, by
/// context only where the context changes the answer.
fn cell_of(observations: &[&Observation]) -> Cell {
    // Kinds of row from the principal's own tenants outwards.
    const KINDS: [&str; 10] = [
        "writer", "member", "own", "owner", "other", "shared", "global", "platform", "foreign",
        "new",
    ];
    let mut kinds: BTreeMap<(Option<usize>, &str), Vec<&Observation>> = BTreeMap::new();
    for cell in observations {
        let order = KINDS.iter().position(|kind| *kind == cell.row);
        kinds
            .entry((order, cell.row.as_str()))
            .or_default()
            .push(cell);
    }
    let lines: Vec<(String, Standing)> = kinds
        .into_iter()
        .map(|((_, kind), cells)| {
            let standing = cells
                .iter()
                .map(|c| Standing::of(c.verdict.as_deref()))
                .max()
                .unwrap_or(Standing::AsModel);
            let said = said(&cells);
            (
                format!("{} {}: {said}", standing.mark(), row_words(kind)),
                standing,
            )
        })
        .collect();
    let standing = lines
        .iter()
        .map(|(_, s)| *s)
        .max()
        .unwrap_or(Standing::AsModel);
    Cell { lines, standing }
}

/// What happened, by context only where the context changes it: the answer without
/// a context (or the commonest) plainly, then each other answer with its contexts.
fn said(cells: &[&Observation]) -> String {
    let mut answers: Vec<(String, Standing, Vec<&str>)> = Vec::new();
    for cell in cells {
        let answer = (cell.outcomes.join(" or "), Standing::of_cell(cell));
        match answers
            .iter_mut()
            .find(|(a, s, _)| (a, s) == (&answer.0, &answer.1))
        {
            Some((_, _, contexts)) => contexts.push(&cell.context),
            None => answers.push((answer.0, answer.1, vec![&cell.context])),
        }
    }
    answers.sort_by_key(|(_, _, contexts)| {
        (
            !contexts.contains(&"none"),
            std::cmp::Reverse(contexts.len()),
        )
    });
    let mut parts = answers.into_iter();
    let Some((plain, _, _)) = parts.next() else {
        return String::new();
    };
    let mut out = plain;
    for (answer, _, contexts) in parts {
        let contexts: Vec<&str> = contexts.into_iter().map(context_words).collect();
        out.push_str(&format!("; {}: {answer}", contexts.join(", ")));
    }
    out
}

/// A kind of context in words.
pub fn context_words(context: &str) -> &str {
    match context {
        "none" => "no context",
        "own" => "own context",
        "out-of-context" => "out of context",
        "forged" => "forged context",
        other => other,
    }
}

/// A kind of row in words, relative to the principal of its matrix row.
pub fn row_words(kind: &str) -> &str {
    match kind {
        "writer" => "tenant it writes",
        "member" => "tenant it reads",
        "foreign" => "foreign private",
        "shared" => "shared with it",
        "global" => "global",
        "platform" => "platform",
        "own" => "its own",
        "owner" => "an owner's",
        "other" => "another user's",
        "new" => "new",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(
        principal: &str,
        rank: u8,
        row: &str,
        context: &str,
        outcome: &str,
        verdict: &str,
    ) -> Observation {
        Observation {
            object: "agents".into(),
            operation: "read".into(),
            row: row.into(),
            context: context.into(),
            principal: principal.into(),
            rank,
            beyond_model: false,
            outcomes: vec![outcome.into()],
            verdict: Some(verdict.into()),
        }
    }

    #[test]
    fn roles_rank_rows_and_contexts_fold_unless_they_change_the_answer() {
        let observed = vec![
            seen("owner", 100, "writer", "none", "sees", "as the model says"),
            seen("owner", 100, "writer", "own", "sees", "as the model says"),
            seen("viewer", 97, "member", "none", "sees", "as the model says"),
            seen(
                "viewer",
                97,
                "member",
                "forged",
                "hidden",
                "as the model says",
            ),
            seen(
                "anon",
                140,
                "foreign",
                "none",
                "sees",
                "wider than the model",
            ),
        ];
        let page = layout(&observed);
        let table = &page.tables[0];
        let principals: Vec<&str> = table.rows.iter().map(|(p, _)| *p).collect();
        assert_eq!(principals, ["viewer", "owner", "anon"]);
        let cell = |row: usize| table.rows[row].1[0].as_ref().unwrap();
        assert_eq!(
            cell(1).lines[0].0,
            "✓ tenant it writes: sees",
            "one answer, no context"
        );
        assert_eq!(
            cell(0).lines[0].0,
            "✓ tenant it reads: sees; forged context: hidden"
        );
        assert_eq!(cell(2).standing, Standing::Deviation);
        assert_eq!(page.deviations.len(), 1);
        assert_eq!(page.deviations[0].cell.principal, "anon");
    }

    #[test]
    fn leaks_of_the_least_trusted_come_first_and_contexts_fold() {
        let observed = vec![
            seen(
                "viewer",
                97,
                "member",
                "forged",
                "sees",
                "wider than the model",
            ),
            seen(
                "owner",
                100,
                "writer",
                "none",
                "hidden",
                "narrower than the model",
            ),
            seen(
                "anon",
                140,
                "foreign",
                "none",
                "sees",
                "wider than the model",
            ),
            seen(
                "outsider",
                110,
                "foreign",
                "none",
                "sees",
                "wider than the model",
            ),
            seen(
                "outsider",
                110,
                "foreign",
                "forged",
                "sees",
                "wider than the model",
            ),
        ];
        let page = layout(&observed);
        let order: Vec<(&str, Vec<&str>)> = page
            .deviations
            .iter()
            .map(|d| (d.cell.principal.as_str(), d.contexts.clone()))
            .collect();
        assert_eq!(
            order,
            [
                ("anon", vec!["none"]),
                ("outsider", vec!["none", "forged"]),
                ("viewer", vec!["forged"]),
                ("owner", vec!["none"]),
            ]
        );
    }
}
