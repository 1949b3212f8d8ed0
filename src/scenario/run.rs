//! Running a checked scenario on a leased clone of the migrated template.
//!
//! The whole scenario is one transaction of the owner that is rolled back at the end,
//! so scenarios never see each other and the clone can serve the next one. The owner
//! writes the users, memberships, declared tenants and fixtures; each step then runs in
//! a savepoint as its principal (the role and the claims set for the transaction, verified before and
//! after the step's SQL, as for any actor), is kept when it succeeds as a committed
//! PostgREST request would be, and leaves no role, claims or tenant context behind for
//! the next step. A step that expects nothing (no rows, no write, a denial) is re-run
//! as a control and undone: if the control gets nothing either, the step is
//! unreliable, not passed, because it would pass whatever the policies say.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{label, Control, Expectation, Scenario, Step, Who};
use crate::actor::{self, Denial, Failure, Frame, Identity, Outcome, Rows};
use crate::actor::{Api, Request};
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::harness::{Harness, Template};
use crate::rule::Invariant;
use crate::schema::Schema;
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
}

#[derive(Debug, Clone)]
pub struct StepReport {
    pub line: usize,
    pub name: String,
    /// Who acted, with the tenant context: `user mo @ digital-health-startup`.
    pub who: String,
    /// The step's SQL as the file writes it: ids of named users and tenants as their
    /// placeholders.
    pub sql: String,
    pub invariant: Option<Invariant>,
    /// What the step expects, in words (`denied (policy)`, `3 rows`).
    pub expected: String,
    /// Who re-ran the step as its positive control, or why nobody did; `None` for a
    /// step that expects something and needs no control.
    pub control: Option<String>,
    /// What the request got, in words (`2 rows`, `error 42501 (policy): ...`).
    pub outcome: String,
    pub verdict: Verdict,
    /// Why no client of the API can send this step's request, if none can (several
    /// statements in one transaction, a statement PostgREST does not send).
    pub unreachable: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub scenario: Scenario,
    pub steps: Vec<StepReport>,
    pub duration: Duration,
}

impl ScenarioReport {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        self.steps
            .iter()
            .all(|step| step.verdict == Verdict::Passed)
    }
}

/// Runs `scenario` on a leased clone of `template`, in one transaction that is rolled
/// back; snapshot steps are judged against `snapshots`.
pub async fn run(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
    scenario: &Scenario,
    snapshots: &snapshot::Store,
) -> Result<ScenarioReport> {
    let started = Instant::now();
    let applied = &template.applied;
    let at = match &scenario.migrated_to {
        Some((version, line)) => Some(
            applied
                .iter()
                .position(|a| is_version(&a.migration, version))
                .ok_or_else(|| Error::Config {
                    name: format!("{}:{line}: migrated_to", scenario.path.display()),
                    message: format!("there is no migration {version} in the folder"),
                })?,
        ),
        None => None,
    };
    check_applies(scenario, applied, at)?;
    let base = match at {
        Some(at) => {
            let prefix: Vec<_> = applied[..=at].iter().map(|a| a.migration.clone()).collect();
            Some(harness.template(&prefix).await?)
        }
        None => None,
    };
    let lease = harness.lease(base.as_deref().unwrap_or(template)).await?;
    let owner = lease.owner().await?;
    owner.batch("begin").await?;
    let steps = run_in(&owner, (schema, template), scenario, snapshots).await;
    // Whatever happened, nothing of the scenario may stay: the clone serves the next.
    owner.batch("rollback").await?;
    Ok(ScenarioReport {
        scenario: scenario.clone(),
        steps: steps?,
        duration: started.elapsed(),
    })
}

async fn run_in(
    owner: &Connection,
    (schema, template): (&Schema, &Template),
    scenario: &Scenario,
    snapshots: &snapshot::Store,
) -> Result<Vec<StepReport>> {
    let api = &schema.api;
    for (line, sql) in setup_sql(schema, scenario) {
        owner
            .batch(&sql)
            .await
            .map_err(|error| located(scenario, line, "users and tenants", error))?;
    }
    if let Some(fixtures) = &scenario.fixtures {
        // One statement at a time, so that a failure names its own line.
        for statement in crate::script::split(fixtures) {
            let before = &fixtures[..statement.code_offset()];
            let line = scenario.fixtures_line + before.matches('\n').count();
            owner
                .batch(statement.text)
                .await
                .map_err(|error| located(scenario, line, "fixtures", error))?;
        }
    }
    let names = scenario.names();
    // What counts as a refusal: any 42501, and the codes the profile says its guards
    // raise (a `raise exception` is P0001).
    let refusals: Vec<String> = schema
        .profile()
        .map(|p| p.refusals.clone())
        .unwrap_or_default();
    let mut reports = Vec::new();
    for step in &scenario.steps {
        let who = match &step.context {
            Some((slug, _)) => format!("{} @ {slug}", label(&step.who)),
            None => label(&step.who),
        };
        let context = step.context.as_ref().map(|c| c.1);
        let request = request_of(api, scenario, step, &step.who, context, false);
        let got;
        let done = match &step.apply {
            Some(version) => migrate(owner, template, scenario, step, version).await,
            None => actor::send(owner, api, Frame::Savepoint { keep: true }, &request).await,
        };
        let verdict = match done {
            Ok(outcome) => {
                got = summarize(&outcome);
                let verdict = judge(step, &outcome, (&names, &refusals), &|name, rendered| {
                    let description =
                        format!("{}:{}: {}", scenario.path.display(), step.line, step.name);
                    let file = scenario.snapshot_name(name);
                    snapshots.judge(&file, rendered, &description, &scenario.path)
                });
                match (&verdict, &step.control) {
                    (Verdict::Passed, Some(control)) => {
                        check_control(owner, (api, &refusals), scenario, step, control).await?
                    }
                    _ => verdict,
                }
            }
            Err(Error::UnsafePrincipal { principal, reason }) => {
                got = "refused by the harness".into();
                Verdict::Refused(format!("refusing to act as {principal}: {reason}"))
            }
            Err(other) => return Err(other),
        };
        reports.push(StepReport {
            line: step.line,
            name: step.name.clone(),
            who,
            sql: match &step.apply {
                Some(version) => format!("apply migration {version}"),
                None => super::unexpand(&step.sql, &names),
            },
            invariant: step.invariant.or(scenario.invariant),
            expected: describe(&step.expect),
            control: step.control.as_ref().map(describe_control),
            outcome: got,
            verdict,
            unreachable: step
                .apply
                .is_none()
                .then(|| request.unreachable.clone())
                .flatten(),
        });
    }
    Ok(reports)
}

/// Refuses a migration step whose migration is already applied at that point: by
/// `migrated_to` (the index `at` in `applied`; without it, every migration is) or by an
/// earlier step. A migration may be applied out of order, to show what it needs.
fn check_applies(
    scenario: &Scenario,
    applied: &[crate::migrate::Applied],
    at: Option<usize>,
) -> Result<()> {
    let mut done: Vec<bool> = (0..applied.len())
        .map(|i| at.is_none_or(|at| i <= at))
        .collect();
    for step in &scenario.steps {
        let Some(version) = &step.apply else { continue };
        let name = format!("{}:{}: apply", scenario.path.display(), step.line);
        let Some(position) = applied
            .iter()
            .position(|a| is_version(&a.migration, version))
        else {
            let message = format!("there is no migration {version} in the folder");
            return Err(Error::Config { name, message });
        };
        if done[position] {
            let message = match at {
                None => format!(
                    "{version} is already applied: say migrated_to = \"<an earlier version>\" at \
                     the top of the file, so that the scenario starts before it"
                ),
                Some(at) if position <= at => format!(
                    "{version} is already applied: the scenario starts after migrated_to = \"{}\"",
                    applied[at].migration.version
                ),
                Some(_) => format!("{version} is already applied by an earlier step"),
            };
            return Err(Error::Config { name, message });
        }
        done[position] = true;
    }
    Ok(())
}

/// Whether `version` names `migration`: its version, or its file name.
fn is_version(migration: &crate::migrate::Migration, version: &str) -> bool {
    migration.version == version || migration.file_name() == version
}

/// Applies the migration a step names, as the owner, in a savepoint that stays when it
/// succeeds: the outcome is what the file raised (its notices), or its located error.
async fn migrate(
    owner: &Connection,
    template: &Template,
    scenario: &Scenario,
    step: &Step,
    version: &str,
) -> Result<Outcome> {
    let Some(applied) = template
        .applied
        .iter()
        .find(|a| is_version(&a.migration, version))
    else {
        return Err(Error::Config {
            name: format!("{}:{}: apply", scenario.path.display(), step.line),
            message: format!("there is no migration {version} in the folder"),
        });
    };
    owner.take_notices();
    owner.batch("savepoint step").await?;
    let result = match crate::migrate::apply_within(owner, &applied.migration).await {
        Ok(()) => {
            owner.batch("release savepoint step").await?;
            Ok(Rows::default())
        }
        Err(Error::Migration {
            file,
            line,
            column,
            sqlstate,
            message,
            ..
        }) => {
            owner
                .batch("rollback to savepoint step; release savepoint step")
                .await?;
            Err(Failure {
                sqlstate,
                message: format!("{}:{line}:{column}: {message}", file.display()),
                routine: String::new(),
                while_setting_context: false,
            })
        }
        Err(other) => return Err(other),
    };
    owner.sync_notices().await?;
    Ok(Outcome {
        result,
        notices: owner.take_notices(),
    })
}

/// The request a step sends, or its control (as `who` in `context`): the same SQL and
/// headers, except the context header, which is the control's own.
fn request_of(
    api: &Api,
    scenario: &Scenario,
    step: &Step,
    who: &Who,
    context: Option<Uuid>,
    control: bool,
) -> Request {
    let mut request = Request::new(api, identity(scenario, who), &step.sql);
    for (name, value) in &step.headers {
        request = request.with_header(name, value);
    }
    if let (true, Some(header)) = (control, api.context_header()) {
        request.headers.remove(header);
    }
    if let Some(tenant) = context {
        request = request.in_context(api, &tenant.to_string());
    }
    if step.transaction {
        request = request.in_one_transaction();
    }
    request
}

/// Who a step names, as its request presents it: a user with the claims the file gives.
fn identity(scenario: &Scenario, who: &Who) -> Identity {
    let builtin = |principal| Identity::of(principal, "", "");
    match who {
        Who::Anon => builtin(crate::model::Principal::Anon),
        Who::ServiceRole => builtin(crate::model::Principal::ServiceRole),
        Who::Owner => builtin(crate::model::Principal::Owner),
        Who::User(name) => {
            let claims = scenario
                .users
                .iter()
                .find(|u| &u.name == name)
                .map(|u| u.claims.clone())
                .unwrap_or_else(|| actor::Claims(Default::default()));
            Identity::with_claims(name, claims)
        }
    }
}

/// An error of the scenario's own SQL, at its line, with the server's whole message
/// (not the harness's connection label and statement excerpt).
fn located(scenario: &Scenario, line: usize, part: &str, error: Error) -> Error {
    let message = match error {
        Error::Sql {
            sqlstate, message, ..
        } => format!("{sqlstate}: {message}"),
        other => other.to_string(),
    };
    Error::Config {
        name: format!("{}:{line}: {part}", scenario.path.display()),
        message,
    }
}

/// The owner's SQL that creates the scenario's users, tenants and memberships, through
/// the profile's tables (a scenario that names none needs no profile: loading checked
/// that), with the line that declares each. Users come first, since a tenant's primary
/// owner is one: a declared tenant's is the first of its users with the highest role,
/// else its first member, else the file's first user, unless the file names it.
fn setup_sql(schema: &Schema, scenario: &Scenario) -> Vec<(usize, String)> {
    let profile = schema.sql.as_ref();
    let mut batches = Vec::new();
    for user in &scenario.users {
        let meta = |key: &str| {
            user.claims
                .0
                .get(key)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "{}".into())
        };
        batches.push((
            user.line,
            crate::profile::insert_user(
                user.id,
                &user.email,
                &meta("app_metadata"),
                &meta("user_metadata"),
            ),
        ));
    }
    for tenant in &scenario.tenants {
        if let (Some(columns), Some(profile)) = (&tenant.declared, profile) {
            let mut columns = columns.clone();
            if let Some(column) = &profile.profile().tenants.primary_owner {
                if !columns.iter().any(|(given, _)| *given == column.name) {
                    if let Some(owner) = primary_owner(profile, scenario, tenant.id) {
                        columns.push((column.name.clone(), owner.to_string()));
                    }
                }
            }
            let sql = profile.insert_tenant(tenant.id, &tenant.slug, &columns);
            batches.push((tenant.line, sql));
        }
    }
    for user in &scenario.users {
        let mut statements = Vec::new();
        if let Some(profile) = profile {
            for (tenant, role) in &user.memberships {
                statements.push(profile.insert_membership(user.id, *tenant, role));
            }
            if user.admin {
                statements.push(profile.insert_admin(user.id));
            }
        }
        statements.retain(|s| !s.is_empty());
        if !statements.is_empty() {
            batches.push((user.line, statements.join(";\n")));
        }
    }
    batches
}

/// The primary owner of a tenant the scenario declares, by the rule of [`setup_sql`].
fn primary_owner(
    profile: &crate::profile::Sql,
    scenario: &Scenario,
    tenant: uuid::Uuid,
) -> Option<uuid::Uuid> {
    let highest = profile.profile().role_name(crate::model::Role(0));
    let holding = |role: Option<&str>| {
        scenario.users.iter().find(|u| {
            u.memberships
                .iter()
                .any(|(t, r)| *t == tenant && role.is_none_or(|role| role == r))
        })
    };
    holding(Some(highest))
        .or_else(|| holding(None))
        .or(scenario.users.first())
        .map(|u| u.id)
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

/// Compares a step's outcome with its expectation; `snapshot` judges a rendered result
/// against the stored snapshot of that name.
fn judge(
    step: &Step,
    outcome: &Outcome,
    (names, refusals): (&[(Uuid, String)], &[String]),
    snapshot: &dyn Fn(&str, &str) -> snapshot::Judgement,
) -> Verdict {
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
        (Expectation::SqlState(codes), Err(failure)) if codes.contains(&failure.sqlstate) => {
            return Verdict::Passed
        }
        (Expectation::Nothing | Expectation::Refused, Err(failure))
            if failure.refused(refusals) =>
        {
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
        Expectation::Nothing if rows.rows.is_empty() && rows.affected == 0 => Verdict::Passed,
        Expectation::Nothing => fail(
            describe(&step.expect),
            format!(
                "{} rows read, {} written:\n{}",
                rows.rows.len(),
                rows.affected,
                snapshot::table(&rows.columns, &named_rows(rows, names, false))
            ),
        ),
        Expectation::Snapshot(name) => {
            let rendered = snapshot::table(&rows.columns, &named_rows(rows, names, true));
            match snapshot(name, &rendered) {
                snapshot::Judgement::Matches => Verdict::Passed,
                snapshot::Judgement::Differs { stored, note } => Verdict::Failed {
                    expected: stored,
                    actual: rendered,
                    note: Some(note),
                },
            }
        }
        expect @ (Expectation::Denied(_) | Expectation::Refused | Expectation::SqlState(_)) => {
            // Row security filters the rows an UPDATE or DELETE sees (USING) without an
            // error; only a new row failing WITH CHECK, or a missing grant, is denied.
            let quiet = rows.rows.is_empty() && rows.affected == 0;
            Verdict::Failed {
                expected: describe(expect),
                actual: format!(
                    "success, {} rows",
                    rows.rows.len().max(rows.affected as usize)
                ),
                note: (quiet && !matches!(expect, Expectation::SqlState(_))).then(|| {
                    "the statement succeeded and touched no row: row security hides the rows \
                     an UPDATE or DELETE may not see instead of refusing it, so expect \
                     `affected = 0` (or `nothing = true`, which accepts either)"
                        .to_owned()
                }),
            }
        }
        Expectation::Notice(_) => unreachable!("judged above"),
    }
}

fn describe_control(control: &Control) -> String {
    match control {
        Control::ServiceRole => "service_role, same SQL, rolled back".into(),
        Control::Owner => "owner, same SQL, rolled back".into(),
        Control::User { name, context } => match context {
            Some((slug, _)) => format!("user {name} @ {slug}, same SQL, rolled back"),
            None => format!("user {name}, no context, same SQL, rolled back"),
        },
        Control::Waived(reason) => format!("none: {reason}"),
    }
}

/// What a request got, in a few words.
fn summarize(outcome: &Outcome) -> String {
    match &outcome.result {
        Err(failure) => describe_failure(failure),
        Ok(got) if got.rows.is_empty() && got.affected > 0 => {
            format!("{} written", rows(got.affected))
        }
        Ok(got) => rows(got.rows.len() as u64),
    }
}

fn rows(count: u64) -> String {
    format!("{count} row{}", if count == 1 { "" } else { "s" })
}

fn describe(expect: &Expectation) -> String {
    match expect {
        Expectation::Rows { rows: expected, .. } => rows(expected.len() as u64),
        Expectation::Count(count) => rows(*count),
        Expectation::Affected(count) => format!("{} written", rows(*count)),
        Expectation::Denied(kind) => format!("denied ({})", format!("{kind:?}").to_lowercase()),
        Expectation::SqlState(codes) => format!("error {}", codes.join(" or ")),
        Expectation::Notice(text) => format!("a NOTICE containing \"{text}\""),
        Expectation::Snapshot(name) => format!("snapshot {name}"),
        Expectation::Nothing => "nothing (no row, or a refusal)".to_owned(),
        Expectation::Refused => "denied (any 42501)".to_owned(),
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

/// Re-runs a negative step as its control, undone afterwards; the step stands only if
/// the control got something.
async fn check_control(
    owner: &Connection,
    (api, refusals): (&Api, &[String]),
    scenario: &Scenario,
    step: &Step,
    control: &Control,
) -> Result<Verdict> {
    let (who, context) = match control {
        Control::Waived(_) => return Ok(Verdict::Passed),
        Control::ServiceRole => (Who::ServiceRole, step.context.as_ref().map(|c| c.1)),
        Control::Owner => (Who::Owner, None),
        Control::User { name, context } => (Who::User(name.clone()), context.as_ref().map(|c| c.1)),
    };
    let request = request_of(api, scenario, step, &who, context, true);
    let outcome = match actor::send(owner, api, Frame::Savepoint { keep: false }, &request).await {
        Ok(outcome) => outcome,
        Err(Error::UnsafePrincipal { reason, .. }) => return Ok(Verdict::Refused(reason)),
        Err(other) => return Err(other),
    };
    let got_something = match (&step.expect, &outcome.result) {
        // A denial stands when the control gets past the check that denied the step,
        // even if something else stops it later: `truncate agents` as service_role
        // passes the privilege check and may then fail on a child table's foreign key.
        (Expectation::Denied(kind), Err(failure)) => failure.denial() != Some(*kind),
        (Expectation::Refused, Err(failure)) => !failure.refused(refusals),
        (Expectation::Refused, Ok(_)) => true,
        (_, Err(_)) => false,
        (Expectation::Affected(_), Ok(rows)) => rows.affected > 0,
        (Expectation::Nothing, Ok(rows)) => rows.affected > 0 || !rows.rows.is_empty(),
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
