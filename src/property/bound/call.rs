//! The values a probe calls a function with: for each argument, what a caller would
//! pass for itself first, then another's, NULL, an unknown id and what its type allows,
//! one argument varied at a time.

use super::Judge;
use crate::connection::quote_literal;
use crate::model::{Context, Id};
use crate::subject::{Callable, Keys, Parameter};

/// The calls of a function: every argument at its first value, then each argument in
/// turn at each of its other values (the caller's tenant or self, another tenant or
/// user, NULL, an unknown id; type-derived values for the rest).
pub(super) fn calls(judge: &Judge<'_>, function: &Callable) -> Vec<(String, Vec<String>)> {
    let values: Vec<Vec<(&'static str, String)>> = function
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
/// that keys neither gets the tenants' and the users' alike. An enum gets each label.
fn argument_values(judge: &Judge<'_>, parameter: &Parameter) -> Vec<(&'static str, String)> {
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
            values.push(("the caller", uuid(me)));
        }
        if let Some(other) = other {
            values.push(("another user", uuid(other)));
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
            values.push(("the caller's tenant", uuid(mine)));
        }
        if let Some(other) = other {
            values.push(("another tenant", uuid(other)));
        }
        values
    };
    if !parameter.labels.is_empty() {
        let mut values: Vec<(&'static str, String)> = parameter
            .labels
            .iter()
            .map(|label| ("a label", format!("{}::{type_name}", quote_literal(label))))
            .collect();
        values.push(("NULL", null));
        return values;
    }
    match type_name {
        "uuid" => {
            let mut values = match parameter.keys {
                Some(Keys::User) => users(),
                Some(Keys::Tenant) => tenants(),
                None => {
                    let mut both = tenants();
                    both.extend(users());
                    both
                }
            };
            values.extend([("NULL", null), ("an unknown id", ghost)]);
            values
        }
        "text" | "character varying" => vec![
            ("empty text", "''::text".to_owned()),
            ("a wildcard", "'%'::text".to_owned()),
            ("NULL", null),
        ],
        "boolean" => vec![
            ("true", "true".into()),
            ("false", "false".into()),
            ("NULL", null),
        ],
        "integer" | "bigint" | "smallint" | "numeric" => {
            vec![
                ("1", format!("1::{type_name}")),
                ("0", format!("0::{type_name}")),
                ("NULL", null),
            ]
        }
        _ => vec![("NULL", null)],
    }
}
