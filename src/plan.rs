//! The migration plan's own verification steps, acted out by the principal the plan
//! means.
//!
//! Phase 2 of the plan checks each migration from the SQL editor, that is as the
//! owner: those checks run right after their migration, on the template being built,
//! because some of them only hold at that point (no tenants yet, no shared resources
//! yet). Phase 3 and the success criteria are about what users see, so they run as
//! users through [`Actor`], each denial next to a positive control that shows the same
//! query returns the row to a user who should see it.

use uuid::Uuid;

use crate::actor::{Actor, Finish, Principal};
use crate::connection::Connection;
use crate::error::Result;
use crate::harness::{Harness, Template};
use crate::migrate::{Applied, Migration};
pub use crate::model::user_id;
use crate::schema::Schema;

/// The seeded platform tenant, fixed by the plan.
pub const PLATFORM_TENANT: Uuid = Uuid::from_u128(1);
/// The seeded Digital Health Startup tenant.
pub const DH_STARTUP_TENANT: Uuid = Uuid::from_u128(2);

/// The plan's four migrations, whose completion notice the plan tells us to look for.
const PLAN_VERSIONS: [&str; 4] = [
    "20251026000001",
    "20251026000002",
    "20251026000003",
    "20251026000004",
];

/// The outcome of one verification step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    /// Who ran it, with the tenant context: `owner`, `user mo @ digital-health-startup`.
    pub actor: String,
    pub passed: bool,
    /// Expected and actual, when they differ; empty when the check passed.
    pub detail: String,
}

/// Owner-side checks of phase 2 that hold right after migration `version`:
/// `(name, query returning one text value, expected value)`.
fn queries(version: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    match version {
        "20251026000001" => &[
            ("tenants is empty", "select count(*)::text from public.tenants", "0"),
            ("user_tenants is empty", "select count(*)::text from public.user_tenants", "0"),
            ("user_roles is empty", "select count(*)::text from public.user_roles", "0"),
        ],
        "20251026000002" => &[
            (
                "agents has the 5 tenant columns",
                "select count(*)::text from information_schema.columns where table_schema = 'public' \
                 and table_name = 'agents' and column_name in \
                 ('tenant_id', 'is_shared', 'sharing_mode', 'shared_with', 'resource_type')",
                "5",
            ),
            ("the 3 agents are still there", "select count(*)::text from public.agents", "3"),
            (
                "agents are not yet assigned (tenant_id null, is_shared false)",
                "select count(*)::text from public.agents where tenant_id is null and not is_shared",
                "3",
            ),
        ],
        "20251026000003" => &[
            (
                "5+ _with_sharing policies",
                "select (count(*) >= 5)::text from pg_policies \
                 where schemaname = 'public' and policyname like '%\\_with\\_sharing'",
                "true",
            ),
            (
                "4 get_accessible functions",
                "select string_agg(proname, ',' order by proname) from pg_proc \
                 where proname like 'get\\_accessible%'",
                "get_accessible_agents,get_accessible_prompts,get_accessible_tools,get_accessible_workflows",
            ),
            (
                "the materialized view is empty",
                "select count(*)::text from public.mv_platform_shared_resources",
                "0",
            ),
        ],
        "20251026000004" => &[
            (
                "the 2 seed tenants",
                "select string_agg(slug || ' ' || type || ' ' || subscription_tier, ', ' order by slug) \
                 from public.tenants",
                "digital-health-startup industry professional, vital-platform platform enterprise",
            ),
            (
                "the 3 agents are global platform resources of the platform tenant",
                "select count(*)::text from public.agents where tenant_id = \
                 '00000000-0000-0000-0000-000000000001' and is_shared and sharing_mode = 'global' \
                 and resource_type = 'platform'",
                "3",
            ),
            (
                "get_accessible_agents(digital-health-startup) returns the 3 agents",
                "select count(*)::text from public.get_accessible_agents(\
                 (select id from public.tenants where slug = 'digital-health-startup'))",
                "3",
            ),
        ],
        _ => &[],
    }
}

/// Phase 2: applies `migrations` one by one to a bare database of its own, and runs
/// after each the plan's verification queries for it, as the owner. (Some of them only
/// hold at that point: no tenant yet, no shared resource yet.)
pub async fn phase_two(harness: &Harness, migrations: &[Migration]) -> Result<Vec<CheckResult>> {
    let database = harness.bare_database().await?;
    let outcome = async {
        let owner = database.owner().await?;
        let mut results = Vec::new();
        for migration in migrations {
            let applied = migration.apply(&owner).await?;
            results.extend(after_migration(&owner, &applied).await?);
        }
        Ok(results)
    }
    .await;
    let closed = database.close().await;
    let results = outcome?;
    closed.map(|()| results)
}

/// Runs the plan's checks for the migration just applied, as the owner.
async fn after_migration(connection: &Connection, applied: &Applied) -> Result<Vec<CheckResult>> {
    let version = applied.migration.version.as_str();
    let mut results = Vec::new();
    if PLAN_VERSIONS.contains(&version) {
        let wanted = format!("Migration {version} completed successfully");
        let passed = applied
            .notices
            .iter()
            .any(|notice| notice.message == wanted);
        results.push(CheckResult {
            name: format!("{version}: raises NOTICE \"{wanted}\""),
            actor: "owner".into(),
            passed,
            detail: if passed {
                String::new()
            } else {
                "no such NOTICE".into()
            },
        });
    }
    for (name, query, expected) in queries(version) {
        let actual = match connection.query_one(query, &[]).await {
            Ok(row) => row
                .get::<_, Option<String>>(0)
                .unwrap_or_else(|| "NULL".into()),
            Err(error) => format!("error: {error}"),
        };
        results.push(compare(
            format!("{version}: {name}"),
            "owner".into(),
            expected,
            &actual,
        ));
    }
    Ok(results)
}

fn compare(name: String, actor: String, expected: &str, actual: &str) -> CheckResult {
    let passed = expected == actual;
    CheckResult {
        name,
        actor,
        passed,
        detail: if passed {
            String::new()
        } else {
            format!("expected {expected}, got {actual}")
        },
    }
}

/// What a phase-3 step expects.
enum Expect {
    /// The first column of the only row, as text.
    Value(&'static str),
    /// Rows written by an INSERT, UPDATE or DELETE.
    Affected(u64),
}

struct Step {
    name: &'static str,
    who: &'static str,
    context: Option<(&'static str, Uuid)>,
    sql: &'static str,
    expect: Expect,
}

/// The users the phase-3 stories need, and the fixture SQL that makes them.
const FIXTURE_USERS: [&str; 4] = ["ada", "dana", "mo", "olga"];

fn principal(name: &str) -> Principal {
    match name {
        "service_role" => Principal::ServiceRole,
        "anon" => Principal::Anon,
        user => Principal::user(user, user_id(user), &format!("{user}@vital.test")),
    }
}

fn fixtures() -> String {
    let mut sql = String::new();
    for name in FIXTURE_USERS {
        sql.push_str(&format!(
            "insert into auth.users (id, email, aud, role, raw_app_meta_data, raw_user_meta_data) \
             values ('{}', '{name}@vital.test', 'authenticated', 'authenticated', \
             '{{\"provider\":\"email\"}}', '{{}}');\n",
            user_id(name)
        ));
    }
    // The plan's phase 3, steps 1 and 2, run from the SQL editor (as the owner).
    sql.push_str(&format!(
        "select public.grant_platform_admin('{ada}');\n\
         select public.assign_user_to_dh_startup('{dana}', 'admin');\n\
         select public.assign_user_to_dh_startup('{mo}', 'member');\n\
         insert into public.tenants (id, slug, name, type, subscription_tier) values \
         ('{north}', 'north-clinic', 'North Clinic', 'industry', 'professional');\n\
         insert into public.user_tenants (user_id, tenant_id, role) values ('{olga}', '{north}', 'member');\n",
        ada = user_id("ada"),
        dana = user_id("dana"),
        mo = user_id("mo"),
        olga = user_id("olga"),
        north = NORTH_CLINIC,
    ));
    sql
}

/// A third tenant that holds a private agent, for the isolation story.
const NORTH_CLINIC: Uuid = Uuid::from_u128(0x3);
const DH: Option<(&str, Uuid)> = Some(("digital-health-startup", DH_STARTUP_TENANT));
const PLATFORM: Option<(&str, Uuid)> = Some(("vital-platform", PLATFORM_TENANT));
const NORTH: Option<(&str, Uuid)> = Some(("north-clinic", NORTH_CLINIC));

/// Phase 3, step 3 of the plan, in its order, then the success criteria.
const PLAN_STORY: &[Step] = &[
    Step {
        name: "a Digital Health Startup member sees the 3 platform agents",
        who: "mo",
        context: DH,
        sql: "select count(*) from agents",
        expect: Expect::Value("3"),
    },
    Step {
        name: "a Digital Health Startup member gets the 3 agents from get_accessible_agents",
        who: "mo",
        context: DH,
        sql: "select count(*) from get_accessible_agents('00000000-0000-0000-0000-000000000002')",
        expect: Expect::Value("3"),
    },
    Step {
        name: "a Digital Health Startup writer creates a private agent",
        who: "dana",
        context: DH,
        sql: "insert into agents (tenant_id, name, description, system_prompt, model, is_shared, \
              sharing_mode, resource_type) select id, 'Test Private Agent', 'Testing tenant isolation', \
              'You are a test agent', 'gpt-4', false, 'private', 'custom' \
              from tenants where slug = 'digital-health-startup'",
        expect: Expect::Affected(1),
    },
    Step {
        name: "the writer sees the private agent it created",
        who: "dana",
        context: DH,
        sql: "select count(*) from agents where name = 'Test Private Agent'",
        expect: Expect::Value("1"),
    },
    Step {
        name: "a platform admin in the platform context sees all 4 agents",
        who: "ada",
        context: PLATFORM,
        sql: "select count(*) from agents",
        expect: Expect::Value("4"),
    },
];

/// A Digital Health Startup member does not see another tenant's private agent, next
/// to controls showing that the row exists and that its own tenant sees it.
const ISOLATION_STORY: &[Step] = &[
    Step {
        name: "control: service_role creates a private agent in North Clinic",
        who: "service_role",
        context: None,
        sql: "insert into agents (tenant_id, name, description, system_prompt, model, is_shared, \
              sharing_mode, resource_type) values ('00000000-0000-0000-0000-000000000003', \
              'North Private Agent', 'private to North Clinic', 'You are private', 'gpt-4', false, \
              'private', 'custom')",
        expect: Expect::Affected(1),
    },
    Step {
        name: "positive control: a North Clinic member sees its private agent",
        who: "olga",
        context: NORTH,
        sql: "select count(*) from agents where name = 'North Private Agent'",
        expect: Expect::Value("1"),
    },
    Step {
        name: "a Digital Health Startup member does not see North Clinic's private agent",
        who: "mo",
        context: DH,
        sql: "select count(*) from agents where name = 'North Private Agent'",
        expect: Expect::Value("0"),
    },
    Step {
        name: "nor without a tenant context",
        who: "mo",
        context: None,
        sql: "select count(*) from agents where name = 'North Private Agent'",
        expect: Expect::Value("0"),
    },
    Step {
        name: "while it still sees the 3 global agents",
        who: "mo",
        context: DH,
        sql: "select count(*) from agents where sharing_mode = 'global'",
        expect: Expect::Value("3"),
    },
];

/// Runs phase 3 and the success criteria, each story on a fresh clone of `template`.
pub async fn acted(
    harness: &Harness,
    template: &Template,
    schema: &Schema,
) -> Result<Vec<CheckResult>> {
    let mut results = Vec::new();
    for story in [PLAN_STORY, ISOLATION_STORY] {
        let database = harness.database(template).await?;
        let owner = database.owner().await?;
        owner.batch(&fixtures()).await?;
        drop(owner);
        for step in story {
            let actor = database.actor(principal(step.who), &schema.api).await?;
            results.push(run_step(&actor, step).await?);
        }
        database.close().await?;
    }
    Ok(results)
}

async fn run_step(actor: &Actor, step: &Step) -> Result<CheckResult> {
    let outcome = actor
        .run(step.sql, step.context.map(|(_, id)| id), Finish::Commit)
        .await?;
    let who = match step.context {
        Some((slug, _)) => format!("{} @ {slug}", actor.principal()),
        None => actor.principal().to_string(),
    };
    let actual = match (&outcome.result, &step.expect) {
        (Err(failure), _) => format!("error {}: {}", failure.sqlstate, failure.message),
        (Ok(rows), Expect::Affected(_)) => format!("{} rows written", rows.affected),
        (Ok(rows), Expect::Value(_)) => match rows.rows.as_slice() {
            [row] => row
                .first()
                .cloned()
                .flatten()
                .unwrap_or_else(|| "NULL".into()),
            other => format!("{} rows", other.len()),
        },
    };
    let expected = match step.expect {
        Expect::Value(value) => value.to_owned(),
        Expect::Affected(count) => format!("{count} rows written"),
    };
    Ok(compare(step.name.to_owned(), who, &expected, &actual))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_stable_and_distinct() {
        assert_eq!(user_id("dana"), user_id("dana"));
        assert_ne!(user_id("dana"), user_id("mo"));
        assert_eq!(user_id("dana").get_version_num(), 5);
    }

    #[test]
    fn every_plan_migration_has_owner_checks() {
        for version in PLAN_VERSIONS {
            assert!(!queries(version).is_empty(), "{version}");
        }
        assert!(queries("20251025000000").is_empty());
    }

    #[test]
    fn seeded_tenant_ids_match_the_access_model() {
        assert_eq!(
            PLATFORM_TENANT.to_string(),
            "00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(
            DH_STARTUP_TENANT.to_string(),
            "00000000-0000-0000-0000-000000000002"
        );
    }
}
