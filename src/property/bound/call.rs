//! The values a probe calls a function with: for each argument, what a caller would
//! pass for itself first, then another's, the ids of rows hidden from the caller, NULL,
//! an unknown id and what its type allows, one argument varied at a time.

use super::Judge;
use crate::connection::quote_literal;
use crate::model::{Context, Id};
use crate::subject::{Callable, Keys, Parameter};

/// The calls of a function: every argument at its first value, then each argument in
/// turn at each of its other values (the caller's tenant or self, another tenant or
/// user, a hidden row's id, NULL, an unknown id; type-derived values for the rest).
pub(super) fn calls(judge: &Judge<'_>, function: &Callable) -> Vec<(String, Vec<String>)> {
    let values: Vec<Vec<(String, String)>> = function
        .arguments
        .iter()
        .map(|parameter| argument_values(judge, parameter))
        .collect();
    let first: Vec<String> = values.iter().map(|v| v[0].1.clone()).collect();
    let mut calls = vec![("every argument its first value".to_owned(), first.clone())];
    for (i, choices) in values.iter().enumerate() {
        for (label, value) in choices.iter().skip(1) {
            let mut arguments = first.clone();
            arguments[i] = value.clone();
            let name = &function.arguments[i].name;
            calls.push((format!("{name} = {label} {value}"), arguments));
        }
    }
    calls
}

/// The values a probe passes for an argument, its first the one a caller would pass
/// for itself. A uuid gets the ids of the world of what it keys (recognised by its
/// foreign keys): the caller or its tenant, another's, NULL and an unknown id; a uuid
/// that keys neither gets the tenants' and the users' alike, and the id of a row of each
/// table that the caller may not read (a function that looks a row up by its own id
/// must not hand it over). An enum gets each label.
fn argument_values(judge: &Judge<'_>, parameter: &Parameter) -> Vec<(String, String)> {
    let type_name = parameter.type_name.as_str();
    let null = format!("null::{type_name}");
    let uuid = |id: Id| format!("'{id}'::uuid");
    let ghost = uuid(crate::property::generate::GHOST_TENANT);
    let users = || {
        let me = judge.rights.uid;
        let other = judge
            .world
            .users
            .iter()
            .map(|u| u.id)
            .find(|u| Some(*u) != me);
        let mut values = Vec::new();
        if let Some(me) = me {
            values.push(("the caller".into(), uuid(me)));
        }
        if let Some(other) = other {
            values.push(("another user".into(), uuid(other)));
        }
        values
    };
    let tenants = || {
        let mine = match judge.context {
            Context::Tenant(t) => Some(t),
            _ => judge.rights.member.iter().next().copied(),
        };
        let other = judge
            .world
            .tenants
            .iter()
            .map(|t| t.id)
            .find(|t| !judge.rights.member.contains(t));
        let mut values = Vec::new();
        if let Some(mine) = mine {
            values.push(("the caller's tenant".into(), uuid(mine)));
        }
        if let Some(other) = other {
            values.push(("another tenant".into(), uuid(other)));
        }
        values
    };
    if !parameter.labels.is_empty() {
        let mut values: Vec<(String, String)> = parameter
            .labels
            .iter()
            .map(|label| {
                (
                    "a label".into(),
                    format!("{}::{type_name}", quote_literal(label)),
                )
            })
            .collect();
        values.push(("NULL".into(), null));
        return values;
    }
    match type_name {
        "uuid" => {
            let mut values = match parameter.keys {
                Some(Keys::User) => users(),
                Some(Keys::Tenant) => tenants(),
                None => {
                    let mut all = tenants();
                    all.extend(users());
                    all.extend(
                        hidden_rows(judge)
                            .into_iter()
                            .map(|(label, id)| (label, uuid(id))),
                    );
                    all
                }
            };
            values.extend([("NULL".into(), null), ("an unknown id".into(), ghost)]);
            values
        }
        "text" | "character varying" => vec![
            ("empty text".into(), "''::text".to_owned()),
            ("a wildcard".into(), "'%'::text".to_owned()),
            ("NULL".into(), null),
        ],
        "boolean" => vec![
            ("true".into(), "true".into()),
            ("false".into(), "false".into()),
            ("NULL".into(), null),
        ],
        "integer" | "bigint" | "smallint" | "numeric" => {
            vec![
                ("1".into(), format!("1::{type_name}")),
                ("0".into(), format!("0::{type_name}")),
                ("NULL".into(), null),
            ]
        }
        _ => vec![("NULL".into(), null)],
    }
}

/// For each table with rows in the world, the uuid key of one row the caller may not
/// read: the model's resource tables by their read rule, the subject tables by their
/// class. One per table keeps the calls few; which one does not matter, since the
/// function is then judged on what it hands back.
fn hidden_rows(judge: &Judge<'_>) -> Vec<(String, Id)> {
    let mut hidden = Vec::new();
    let world = judge.world;
    for table in world.shape.tables() {
        let seen = world.readable(&judge.who, &judge.context, table);
        if let Some(r) = world.resources_of(table).find(|r| !seen.contains(&r.id)) {
            hidden.push((format!("a row of {table} hidden from the caller"), r.id));
        }
    }
    for (table, rows) in judge.subjects.tables.iter().zip(&judge.population.tables) {
        let [key] = table.key.as_slice() else {
            continue;
        };
        if table.type_of(key) != "uuid" {
            continue;
        }
        let row = rows.iter().find(|row| !judge.row_verdict(table, row).0);
        if let Some(id) = row.and_then(|row| row.text(key)?.parse().ok()) {
            hidden.push((
                format!("a row of {} hidden from the caller", table.name),
                id,
            ));
        }
    }
    hidden
}
