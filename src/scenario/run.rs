//! Running a checked scenario on a fresh clone of the migrated template.
//!
//! The owner writes the users, memberships, declared tenants and fixtures; then each
//! step runs as its principal in its own transaction, committed as a PostgREST request
//! would be. A step that expects nothing (no rows, no write, a denial) is re-run as a
//! control, rolled back: if the control gets nothing either, the step is unreliable,
//! not passed, because it would pass whatever the policies say.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{Control, Expectation, Scenario, Step, Who};
use crate::actor::{Actor, Denial, Failure, Finish, Outcome, Principal, Rows};
use crate::connection::quote_literal;
use crate::error::{Error, Result};
use crate::harness::{Database, Harness, Template};
use crate::snapshot;

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Expected and actual, each rendered as text (tables for rows), and what to do
    /// about it where there is something to say.
    Failed {
        expected: String,
        actual: String,
        note: Option<String>,
    },
    /// The step expects nothing and its control got nothing either.
    Unreliable(String),
    /// The harness refused to run the step (it would have bypassed RLS).
    Refused(String),
    /// A snapshot to compare: whoever runs the scenario judges it (insta in tests,
    /// the snapshot files in `check`).
    Snapshot {
        name: String,
        rendered: String,
    },
}

#[derive(Debug, Clone)]
pub struct StepReport {
    pub line: usize,
    pub name: String,
    /// Who acted, with the tenant context: `user mo @ digital-health-startup`.
    pub who: String,
    pub sql: String,
    pub invariant: Option<String>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub scenario: Scenario,
    pub steps: Vec<StepReport>,
    pub duration: Duration,
}

impl ScenarioReport {
    /// Whether every step passed, counting snapshots as passed (they are judged apart).
    pub fn passed_apart_from_snapshots(&self) -> bool {
        self.steps
            .iter()
            .all(|step| matches!(step.verdict, Verdict::Passed | Verdict::Snapshot { .. }))
    }
}

/// Runs `scenario` on a fresh clone of `template`, then drops the clone.
pub async fn run(
    harness: &Harness,
    template: &Template,
    scenario: &Scenario,
) -> Result<ScenarioReport> {
    let started = Instant::now();
    let database = harness.database(template).await?;
    let outcome = run_on(&database, scenario).await;
    let closed = database.close().await;
    let steps = outcome?;
    closed?;
    Ok(ScenarioReport {
        scenario: scenario.clone(),
        steps,
        duration: started.elapsed(),
    })
}

async fn run_on(database: &Database<'_>, scenario: &Scenario) -> Result<Vec<StepReport>> {
    let owner = database.owner().await?;
    owner
        .batch(&setup_sql(scenario))
        .await
        .map_err(|error| located(scenario, "users and tenants", error))?;
    if let Some(fixtures) = &scenario.fixtures {
        owner
            .batch(fixtures)
            .await
            .map_err(|error| located(scenario, "fixtures", error))?;
    }
    drop(owner);
    let names = scenario.names();
    let mut actors = Actors {
        database,
        scenario,
        open: HashMap::new(),
    };
    let mut reports = Vec::new();
    for step in &scenario.steps {
        let who = match &step.context {
            Some((slug, _)) => format!("{} @ {slug}", label(&step.who)),
            None => label(&step.who),
        };
        let verdict = match actors
            .run(
                &step.who,
                &step.sql,
                step.context.as_ref().map(|c| c.1),
                Finish::Commit,
            )
            .await
        {
            Ok(outcome) => {
                let verdict = judge(step, &outcome, &names);
                match (&verdict, &step.control) {
                    (Verdict::Passed, Some(control)) => {
                        check_control(&mut actors, step, control).await?
                    }
                    _ => verdict,
                }
            }
            Err(Error::UnsafePrincipal { principal, reason }) => {
                Verdict::Refused(format!("refusing to act as {principal}: {reason}"))
            }
            Err(other) => return Err(other),
        };
        reports.push(StepReport {
            line: step.line,
            name: step.name.clone(),
            who,
            sql: step.sql.clone(),
            invariant: step
                .invariant
                .clone()
                .or_else(|| scenario.invariant.clone()),
            verdict,
        });
    }
    Ok(reports)
}

/// One session per principal, opened on first use.
struct Actors<'a> {
    database: &'a Database<'a>,
    scenario: &'a Scenario,
    open: HashMap<String, Actor>,
}

impl Actors<'_> {
    async fn run(
        &mut self,
        who: &Who,
        sql: &str,
        context: Option<Uuid>,
        finish: Finish,
    ) -> Result<Outcome> {
        let key = label(who);
        if !self.open.contains_key(&key) {
            let actor = self.database.actor(self.principal(who)).await?;
            self.open.insert(key.clone(), actor);
        }
        self.open[&key].run(sql, context, finish).await
    }

    fn principal(&self, who: &Who) -> Principal {
        match who {
            Who::Anon => Principal::Anon,
            Who::ServiceRole => Principal::ServiceRole,
            Who::Owner => Principal::Owner,
            Who::User(name) => {
                let user = self
                    .scenario
                    .users
                    .iter()
                    .find(|u| &u.name == name)
                    .expect("users are resolved when loading");
                Principal::Authenticated {
                    name: name.clone(),
                    claims: user.claims.clone(),
                }
            }
        }
    }
}

fn label(who: &Who) -> String {
    match who {
        Who::Anon => "anon".into(),
        Who::ServiceRole => "service_role".into(),
        Who::Owner => "owner".into(),
        Who::User(name) => format!("user {name}"),
    }
}

fn located(scenario: &Scenario, part: &str, error: Error) -> Error {
    Error::Config {
        name: format!("{}: {part}", scenario.path.display()),
        message: error.to_string(),
    }
}

/// The owner's SQL that creates the scenario's tenants, users and memberships.
fn setup_sql(scenario: &Scenario) -> String {
    let mut sql = String::new();
    for tenant in &scenario.tenants {
        if let Some(declared) = &tenant.declared {
            sql.push_str(&format!(
                "insert into public.tenants (id, slug, name, type, subscription_tier) values ('{}', {}, {}, {}, {});\n",
                tenant.id,
                quote_literal(&tenant.slug),
                quote_literal(&declared.name),
                quote_literal(&declared.kind),
                quote_literal(&declared.tier)
            ));
        }
    }
    for user in &scenario.users {
        let meta = |key: &str| {
            user.claims
                .0
                .get(key)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "{}".into())
        };
        sql.push_str(&format!(
            "insert into auth.users (id, email, aud, role, raw_app_meta_data, raw_user_meta_data) \
             values ('{}', {}, 'authenticated', 'authenticated', {}, {});\n",
            user.id,
            quote_literal(&user.email),
            quote_literal(&meta("app_metadata")),
            quote_literal(&meta("user_metadata"))
        ));
        for (tenant, role) in &user.memberships {
            sql.push_str(&format!(
                "insert into public.user_tenants (user_id, tenant_id, role) values ('{}', '{tenant}', {});\n",
                user.id,
                quote_literal(role)
            ));
        }
        if user.platform_admin {
            sql.push_str(&format!(
                "insert into public.user_roles (user_id, role) values ('{}', 'platform_admin');\n",
                user.id
            ));
        }
    }
    sql
}

fn describe_failure(failure: &Failure) -> String {
    let kind = match failure.denial() {
        Some(Denial::Policy) => " (policy)",
        Some(Denial::Privilege) => " (privilege)",
        Some(Denial::Guard) => " (guard)",
        None => "",
    };
    let stage = if failure.while_setting_context {
        " while setting the tenant context"
    } else {
        ""
    };
    format!(
        "error {}{kind}{stage}: {}",
        failure.sqlstate, failure.message
    )
}

/// Compares a step's outcome with its expectation.
fn judge(step: &Step, outcome: &Outcome, names: &[(Uuid, String)]) -> Verdict {
    let fail = |expected: String, actual: String| Verdict::Failed {
        expected,
        actual,
        note: None,
    };
    let rows = match (&step.expect, &outcome.result) {
        (Expectation::Notice(text), _) => {
            return if outcome
                .notices
                .iter()
                .any(|n| n.message.contains(text.as_str()))
            {
                Verdict::Passed
            } else {
                let seen: Vec<&str> = outcome.notices.iter().map(|n| n.message.as_str()).collect();
                fail(
                    format!("a NOTICE containing \"{text}\""),
                    format!("notices: {seen:?}"),
                )
            };
        }
        (Expectation::Denied(kind), Err(failure)) if failure.denial() == Some(*kind) => {
            return Verdict::Passed
        }
        (Expectation::SqlState(code), Err(failure)) if &failure.sqlstate == code => {
            return Verdict::Passed
        }
        (expect, Err(failure)) => return fail(describe(expect), describe_failure(failure)),
        (_, Ok(rows)) => rows,
    };
    match &step.expect {
        Expectation::Rows {
            rows: expected,
            ordered,
        } => {
            let mut actual = named_rows(rows, names, false);
            let mut expected = expected.clone();
            if !ordered {
                actual.sort();
                expected.sort();
            }
            if actual == expected {
                Verdict::Passed
            } else {
                let (expected, actual) =
                    snapshot::aligned_tables(&rows.columns, &expected, &actual);
                fail(expected, actual)
            }
        }
        Expectation::Count(count) if rows.rows.len() as u64 == *count => Verdict::Passed,
        Expectation::Count(count) => fail(
            format!("{count} rows"),
            format!(
                "{} rows:\n{}",
                rows.rows.len(),
                snapshot::table(&rows.columns, &named_rows(rows, names, false))
            ),
        ),
        Expectation::Affected(count) if rows.affected == *count => Verdict::Passed,
        Expectation::Affected(count) => fail(
            format!("{count} rows written"),
            format!("{} rows written", rows.affected),
        ),
        Expectation::Snapshot(name) => Verdict::Snapshot {
            name: name.clone(),
            rendered: snapshot::table(&rows.columns, &named_rows(rows, names, true)),
        },
        expect @ (Expectation::Denied(_) | Expectation::SqlState(_)) => fail(
            describe(expect),
            format!(
                "success, {} rows",
                rows.rows.len().max(rows.affected as usize)
            ),
        ),
        Expectation::Notice(_) => unreachable!("judged above"),
    }
}

fn describe(expect: &Expectation) -> String {
    match expect {
        Expectation::Rows { rows, .. } => format!("{} rows", rows.len()),
        Expectation::Count(count) => format!("{count} rows"),
        Expectation::Affected(count) => format!("{count} rows written"),
        Expectation::Denied(kind) => format!("denied ({})", format!("{kind:?}").to_lowercase()),
        Expectation::SqlState(code) => format!("error {code}"),
        Expectation::Notice(text) => format!("a NOTICE containing \"{text}\""),
        Expectation::Snapshot(name) => format!("snapshot {name}"),
    }
}

/// Rows as text, with ids of named users and tenants written as their placeholders;
/// `redact` also hides other uuids and timestamps (for snapshots).
fn named_rows(rows: &Rows, names: &[(Uuid, String)], redact: bool) -> Vec<Vec<String>> {
    rows.rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|value| match value {
                    None => "NULL".to_owned(),
                    Some(text) => snapshot::name_ids(text, names, redact),
                })
                .collect()
        })
        .collect()
}

/// Re-runs a negative step as its control; the step stands only if the control got
/// something.
async fn check_control(actors: &mut Actors<'_>, step: &Step, control: &Control) -> Result<Verdict> {
    let (who, context) = match control {
        Control::Waived(_) => return Ok(Verdict::Passed),
        Control::ServiceRole => (Who::ServiceRole, step.context.as_ref().map(|c| c.1)),
        Control::User { name, context } => (Who::User(name.clone()), context.as_ref().map(|c| c.1)),
    };
    let outcome = match actors.run(&who, &step.sql, context, Finish::Rollback).await {
        Ok(outcome) => outcome,
        Err(Error::UnsafePrincipal { reason, .. }) => return Ok(Verdict::Refused(reason)),
        Err(other) => return Err(other),
    };
    let got_something = match (&step.expect, &outcome.result) {
        (_, Err(_)) => false,
        (Expectation::Affected(_), Ok(rows)) => rows.affected > 0,
        (Expectation::Denied(_), Ok(_)) => true,
        (_, Ok(rows)) => !rows.rows.is_empty(),
    };
    if got_something {
        return Ok(Verdict::Passed);
    }
    let what = match &outcome.result {
        Err(failure) => format!("failed too ({})", describe_failure(failure)),
        Ok(_) => "got nothing either".to_owned(),
    };
    Ok(Verdict::Unreliable(format!(
        "the control ({}) {what}, so the step would pass whatever the policies say; \
         make the query reach a row, or set no_control = \"<reason>\"",
        label(&who)
    )))
}
