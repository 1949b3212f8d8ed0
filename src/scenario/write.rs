//! A scenario written back as the file a reviewer would write: the inverse of `load`.
//! Counterexamples are built as scenarios and written with it, so what the property
//! tester found runs, reads and stays as any other scenario file.

use std::fmt::Write;

use super::{Control, Expectation, Scenario, Who};
use crate::actor::{Claims, Denial};

/// A TOML basic string.
fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A TOML multi-line basic string, for SQL (it reads back with a final newline).
fn block(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace("\"\"\"", "\"\"\\\"");
    format!("\"\"\"\n{}\n\"\"\"", escaped.trim_end())
}

/// SQL with the ids the scenario names written as their placeholders: only where they
/// stand as literals (`'<id>'::uuid`), as loading expands them; an id inside a longer
/// literal (an array's) stays as it is.
fn placeholders(sql: &str, names: &[(uuid::Uuid, String)]) -> String {
    names.iter().fold(sql.to_owned(), |sql, (id, token)| {
        sql.replace(&format!("'{id}'::uuid"), token)
    })
}

/// A header's value with an id the scenario names as its placeholder, which loading
/// expands to the bare id.
fn bare(value: &str, names: &[(uuid::Uuid, String)]) -> String {
    names
        .iter()
        .find(|(id, _)| id.to_string() == value)
        .map_or_else(|| value.to_owned(), |(_, token)| token.clone())
}

/// `scenario` as a scenario file; `comment` (lines without `#`) opens it.
pub fn write(scenario: &Scenario, comment: &str) -> String {
    let mut out = String::new();
    for line in comment.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let names = scenario.names();
    let _ = writeln!(out, "description = {}", quote(&scenario.description));
    if let Some(invariant) = scenario.invariant {
        let _ = writeln!(out, "invariant = \"{invariant}\"");
    }
    if let Some((version, _)) = &scenario.migrated_to {
        let _ = writeln!(out, "migrated_to = {}", quote(version));
    }
    if let Some(fixtures) = scenario.fixtures.as_ref().filter(|f| !f.trim().is_empty()) {
        let _ = writeln!(out, "fixtures = {}", block(&placeholders(fixtures, &names)));
    }
    for tenant in &scenario.tenants {
        let Some(columns) = &tenant.declared else {
            continue;
        };
        let _ = writeln!(out, "\n[tenants.{}]", tenant.slug);
        for (column, value) in columns {
            let _ = writeln!(out, "{column} = {}", quote(value));
        }
    }
    for user in &scenario.users {
        let _ = writeln!(out, "\n[users.{}]", user.name);
        let memberships: Vec<String> = user
            .memberships
            .iter()
            .filter_map(|(tenant, role)| {
                let slug = &scenario.tenants.iter().find(|t| t.id == *tenant)?.slug;
                Some(format!("{slug} = {}", quote(role)))
            })
            .collect();
        if !memberships.is_empty() {
            let _ = writeln!(out, "tenants = {{ {} }}", memberships.join(", "));
        }
        if user.admin {
            let _ = writeln!(out, "admin = true");
        }
        if user.email != format!("{}@example.test", user.name) {
            let _ = writeln!(out, "email = {}", quote(&user.email));
        }
        write_claims(
            &mut out,
            &user.claims,
            &Claims::for_user(user.id, &user.email),
        );
    }
    for step in &scenario.steps {
        let _ = writeln!(out, "\n[[step]]");
        let _ = writeln!(out, "name = {}", quote(&step.name));
        match &step.apply {
            Some(version) => {
                let _ = writeln!(out, "apply = {}", quote(version));
            }
            None => {
                let _ = writeln!(out, "as = \"{}\"", who(&step.who));
                if let Some((slug, _)) = &step.context {
                    let _ = writeln!(out, "context = {}", quote(slug));
                }
                if !step.headers.is_empty() {
                    let headers: Vec<String> = step
                        .headers
                        .iter()
                        .map(|(name, value)| format!("{name} = {}", quote(&bare(value, &names))))
                        .collect();
                    let _ = writeln!(out, "headers = {{ {} }}", headers.join(", "));
                }
                if step.transaction {
                    let _ = writeln!(out, "transaction = true");
                }
                let _ = writeln!(out, "sql = {}", block(&placeholders(&step.sql, &names)));
            }
        }
        if let Some(invariant) = step.invariant {
            let _ = writeln!(out, "invariant = \"{invariant}\"");
        }
        let _ = writeln!(out, "{}", expectation(&step.expect));
        match &step.control {
            None | Some(Control::ServiceRole) => {}
            Some(Control::Owner) => {
                let _ = writeln!(out, "control = \"owner\"");
            }
            Some(Control::User { name, context }) => {
                let _ = writeln!(out, "control = {}", quote(name));
                if let Some((slug, _)) = context {
                    let _ = writeln!(out, "control_context = {}", quote(slug));
                }
            }
            Some(Control::Waived(reason)) => {
                let _ = writeln!(out, "no_control = {}", quote(reason));
            }
        }
    }
    out
}

fn who(who: &Who) -> String {
    match who {
        Who::Anon => "anon".into(),
        Who::ServiceRole => "service_role".into(),
        Who::Owner => "owner".into(),
        Who::User(name) => name.clone(),
    }
}

/// The claims a user's file gives beyond the default ones: those it removes, and those
/// it replaces.
fn write_claims(out: &mut String, claims: &Claims, default: &Claims) {
    let removed: Vec<String> = default
        .0
        .keys()
        .filter(|key| !claims.0.contains_key(*key))
        .map(|key| quote(key))
        .collect();
    if !removed.is_empty() {
        let _ = writeln!(out, "without_claims = [{}]", removed.join(", "));
    }
    let replaced: Vec<String> = claims
        .0
        .iter()
        .filter(|(key, value)| default.0.get(*key) != Some(*value))
        .filter_map(|(key, value)| {
            let value: toml::Value = serde_json::from_value(value.clone()).ok()?;
            Some(format!("{} = {value}", quote(key)))
        })
        .collect();
    if !replaced.is_empty() {
        let _ = writeln!(out, "claims = {{ {} }}", replaced.join(", "));
    }
}

fn expectation(expect: &Expectation) -> String {
    let rows = |rows: &[Vec<String>]| {
        let rows: Vec<String> = rows
            .iter()
            .map(|row| {
                let cells: Vec<String> = row.iter().map(|cell| quote(cell)).collect();
                format!("[{}]", cells.join(", "))
            })
            .collect();
        format!("rows = [{}]", rows.join(", "))
    };
    match expect {
        Expectation::Rows { rows: r, ordered } if *ordered => rows(r),
        Expectation::Rows { rows: r, .. } => format!("{}\nunordered = true", rows(r)),
        Expectation::Count(n) => format!("count = {n}"),
        Expectation::Affected(n) => format!("affected = {n}"),
        Expectation::Denied(denial) => {
            let kind = match denial {
                Denial::Policy => "policy",
                Denial::Privilege => "privilege",
                Denial::Guard => "guard",
            };
            format!("denied = \"{kind}\"")
        }
        Expectation::Refused => "denied = \"any\"".into(),
        Expectation::SqlState(codes) => match codes.as_slice() {
            [code] => format!("sqlstate = {}", quote(code)),
            codes => format!(
                "sqlstate = [{}]",
                codes
                    .iter()
                    .map(|c| quote(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        Expectation::Notice(text) => format!("notice = {}", quote(text)),
        Expectation::Snapshot(name) => format!("snapshot = {}", quote(name)),
        Expectation::Nothing => "nothing = true".into(),
    }
}
