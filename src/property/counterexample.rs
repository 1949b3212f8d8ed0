//! Counterexamples as scenario files: the shrunk world and the probe that went wrong,
//! written in the reviewers' own format so that it can be run, read and kept.
//!
//! The step expects what the model predicts, so the file fails until the database is
//! fixed, and then guards the fix as a regression.

use std::fmt::Write;

use super::compare::{context_value, Mismatch, Probe};
use super::render;
use crate::connection::quote_literal;
use crate::model::{Context, Id, Outcome, Principal, World};

fn placeholder(world: &World, id: Id) -> String {
    if let Some(tenant) = world.tenants.iter().find(|t| t.id == id) {
        return format!("${{tenant.{}}}", tenant.slug);
    }
    if let Some(user) = world.user(id) {
        return format!("${{user.{}}}", user.name);
    }
    format!("'{id}'::uuid")
}

/// Replaces the ids of the world's tenants and users in generated SQL by placeholders.
fn with_placeholders(world: &World, sql: &str) -> String {
    let mut out = sql.to_owned();
    for tenant in &world.tenants {
        out = out.replace(
            &format!("'{}'::uuid", tenant.id),
            &format!("${{tenant.{}}}", tenant.slug),
        );
    }
    for user in &world.users {
        out = out.replace(
            &format!("'{}'::uuid", user.id),
            &format!("${{user.{}}}", user.name),
        );
    }
    out
}

fn who(world: &World, principal: &Principal) -> String {
    match principal {
        Principal::Anon => "anon".into(),
        Principal::ServiceRole => "service_role".into(),
        Principal::NoSub => "nosub".into(),
        Principal::User(id) => world
            .user(*id)
            .map_or_else(|| id.to_string(), |u| u.name.clone()),
    }
}

fn names_of(world: &World, ids: impl IntoIterator<Item = Id>) -> Vec<String> {
    let mut names: Vec<String> = ids
        .into_iter()
        .map(|id| {
            world
                .resources
                .iter()
                .find(|r| r.id == id)
                .map_or_else(|| id.to_string(), |r| r.name.clone())
        })
        .collect();
    names.sort();
    names
}

fn rows_of(values: &[String]) -> String {
    let rows: Vec<String> = values
        .iter()
        .map(|v| format!("[{}]", quote_toml(v)))
        .collect();
    format!("rows = [{}]", rows.join(", "))
}

fn quote_toml(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn outcome_expectation(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done(n) => format!("affected = {n}"),
        Outcome::Denied(denial) => format!("denied = \"{}\"", format!("{denial:?}").to_lowercase()),
        Outcome::SqlState(code) => format!("sqlstate = \"{code}\""),
    }
}

/// The SQL and the expectation of the step that reproduces `mismatch`.
fn step(world: &World, mismatch: &Mismatch) -> (String, String) {
    let principal = &mismatch.who;
    let context = &mismatch.context;
    match &mismatch.probe {
        Probe::Read("tenants") => {
            let mut slugs: Vec<String> = world
                .readable_tenants(principal)
                .iter()
                .filter_map(|id| {
                    world
                        .tenants
                        .iter()
                        .find(|t| t.id == *id)
                        .map(|t| t.slug.clone())
                })
                .collect();
            slugs.sort();
            (
                "select slug from tenants order by slug".into(),
                rows_of(&slugs),
            )
        }
        Probe::Read("user_tenants") => {
            let rows: Vec<String> = world
                .readable_memberships(principal)
                .iter()
                .map(|(user, tenant)| {
                    format!(
                        "[{}, {}]",
                        quote_toml(&placeholder(world, *user)),
                        quote_toml(&placeholder(world, *tenant))
                    )
                })
                .collect();
            (
                "select user_id, tenant_id from user_tenants".into(),
                format!("rows = [{}]\nunordered = true", rows.join(", "))
                    .replace("'::uuid", "")
                    .replace('\'', ""),
            )
        }
        Probe::Read("user_roles") => {
            let rows: Vec<String> = world
                .readable_admins(principal)
                .iter()
                .map(|id| format!("[{}]", quote_toml(&placeholder(world, *id))))
                .collect();
            (
                "select user_id from user_roles where role = 'platform_admin'".into(),
                format!("rows = [{}]\nunordered = true", rows.join(", "))
                    .replace("'::uuid", "")
                    .replace('\'', ""),
            )
        }
        Probe::Read("resource_sharing_audit") => (
            "select * from resource_sharing_audit".into(),
            format!("count = {}", world.readable_audit(principal).len()),
        ),
        Probe::Read("mv_platform_shared_resources") => match world.shared_view(principal) {
            Ok(rows) => (
                "select name from mv_platform_shared_resources order by name".into(),
                rows_of(&names_of(world, rows.iter().map(|(_, id)| *id))),
            ),
            Err(outcome) => (
                "select name from mv_platform_shared_resources".into(),
                outcome_expectation(&outcome),
            ),
        },
        Probe::Read(table) => {
            let table =
                crate::model::Table::from_name(table).unwrap_or(crate::model::Table::Agents);
            (
                format!("select name from {} order by name", table.name()),
                rows_of(&names_of(world, world.readable(principal, context, table))),
            )
        }
        Probe::Accessible(table, tenant) => {
            let sql = format!(
                "select name from get_accessible_{}({}) order by name",
                table.name(),
                placeholder(world, *tenant)
            );
            match world.accessible(principal, *table, *tenant) {
                Ok(ids) => (sql, rows_of(&names_of(world, ids))),
                Err(outcome) => (sql, outcome_expectation(&outcome)),
            }
        }
        Probe::SetContext(tenant) => (
            with_placeholders(world, &render::set_context(*tenant)),
            match world.set_context(principal, *tenant) {
                Outcome::Done(_) => "count = 1".into(),
                other => outcome_expectation(&other),
            },
        ),
        Probe::Write(op) => {
            let expectation = match world.outcome(principal, context, op) {
                Outcome::Done(_)
                    if matches!(
                        op,
                        crate::model::Op::GrantAdmin { .. } | crate::model::Op::AssignDh { .. }
                    ) =>
                {
                    "count = 1".into()
                }
                other => outcome_expectation(&other),
            };
            (with_placeholders(world, &render::op(op)), expectation)
        }
    }
}

/// The scenario file that reproduces `mismatch` in `world`.
pub fn scenario(world: &World, mismatch: &Mismatch, seed: u64) -> String {
    let seeded = World::seeded();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Found by rls-harness property testing (seed {seed}), shrunk to a small world."
    );
    let _ = writeln!(
        out,
        "# The step expects what the access model says; it fails until the database agrees."
    );
    let _ = writeln!(
        out,
        "description = {}",
        quote_toml(&format!(
            "counterexample: {} as {}",
            mismatch.invariant,
            who(world, &mismatch.who)
        ))
    );
    let _ = writeln!(out, "invariant = \"{}\"", mismatch.invariant);
    let fixtures = with_placeholders(
        world,
        &render::load(
            &World {
                users: Vec::new(),
                tenants: seeded.tenants.clone(),
                ..world.clone()
            },
            &seeded,
        ),
    );
    if !fixtures.trim().is_empty() {
        let _ = writeln!(out, "fixtures = \"\"\"\n{}\"\"\"", fixtures);
    }
    for tenant in world.tenants.iter().filter(|t| !seeded.tenants.contains(t)) {
        let _ = writeln!(out, "\n[tenants.{}]", tenant.slug);
    }
    for user in &world.users {
        let _ = writeln!(out, "\n[users.{}]", user.name);
        let memberships: Vec<String> = user
            .memberships
            .iter()
            .filter_map(|(tenant, role)| {
                world
                    .tenants
                    .iter()
                    .find(|t| t.id == *tenant)
                    .map(|t| format!("{} = \"{}\"", t.slug, role.name()))
            })
            .collect();
        let _ = writeln!(out, "tenants = {{ {} }}", memberships.join(", "));
        if user.platform_admin {
            let _ = writeln!(out, "platform_admin = true");
        }
    }
    if mismatch.who == Principal::NoSub {
        let _ = writeln!(out, "\n[users.nosub]\nwithout_claims = [\"sub\"]");
    }
    let (sql, expectation) = step(world, mismatch);
    let forged = context_value(&mismatch.context)
        .map(|value| {
            format!(
                "select set_config('app.current_tenant_id', {}, true);\n",
                quote_literal(&value)
            )
        })
        .unwrap_or_default();
    let _ = writeln!(out, "\n[[step]]");
    let context_note = match mismatch.context {
        Context::Empty => String::new(),
        _ => " (tenant context set directly)".into(),
    };
    let _ = writeln!(
        out,
        "name = {}",
        quote_toml(&format!(
            "the database said {}{context_note}",
            mismatch.actual
        ))
    );
    let _ = writeln!(out, "as = \"{}\"", who(world, &mismatch.who));
    let _ = writeln!(
        out,
        "sql = \"\"\"\n{}{}\n\"\"\"",
        with_placeholders(world, &forged),
        sql
    );
    let _ = writeln!(out, "{expectation}");
    out
}
