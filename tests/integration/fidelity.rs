//! The harness acts as Supabase and PostgREST do, in the ways that change verdicts:
//! each test here failed on the harness before it made requests PostgREST's way.

use rls_harness::{
    user_id, BackendKind, BackendOptions, Denial, Finish, Grants, Harness, Identity, Outcome,
    Principal, Schema,
};

use crate::support::DH as DH_STARTUP_TENANT;
use crate::support::{config, migrations_with, schema, vital};

/// A policy may read what PostgREST puts in the request: headers, method, path. Each
/// request carries them, so such a policy can be tested.
#[tokio::test]
async fn policies_see_the_request_headers_method_and_path() {
    let sql = "create table public.kiosk_notes (id int primary key, body text not null);\n\
               grant select on public.kiosk_notes to authenticated;\n\
               revoke truncate, references, trigger on public.kiosk_notes from anon, authenticated;\n\
               alter table public.kiosk_notes enable row level security;\n\
               create policy kiosk_only on public.kiosk_notes for select to authenticated\n\
                   using (current_setting('request.headers', true)::json ->> 'x-client' = 'kiosk'\n\
                          and current_setting('request.method', true) = 'GET'\n\
                          and current_setting('request.path', true) = '/kiosk_notes');\n\
               insert into public.kiosk_notes values (1, 'hello');";
    let (harness, _) = vital().await;
    let migrations = migrations_with(&[("20251027000099_kiosk.sql", sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let schema = schema(&template).await;
    let database = harness.database(&template).await.unwrap();
    let actor = database
        .actor(
            Identity::of(Principal::User(user_id("kim")), "kim", "kim@x"),
            &schema.api,
        )
        .await
        .unwrap();
    let read = "select body from kiosk_notes";
    let without = actor
        .send(&actor.request(read, None), Finish::Rollback)
        .await
        .unwrap();
    assert!(without.result.unwrap().rows.is_empty());
    let with = actor
        .send(
            &actor.request(read, None).with_header("X-Client", "kiosk"),
            Finish::Rollback,
        )
        .await
        .unwrap();
    assert_eq!(with.result.unwrap().rows, [[Some("hello".to_owned())]]);
    database.close().await.unwrap();
}

/// A read, or a call of a STABLE function, runs READ ONLY, as PostgREST runs it: a
/// write hidden in a STABLE function fails here as it fails there.
#[tokio::test]
async fn a_write_hidden_in_a_stable_function_fails_as_on_postgrest() {
    // A STABLE function may not write itself (0A000), but it may call one that does.
    let sql = "create function public.touch_agents() returns int language plpgsql volatile as $$\n\
               begin update public.agents set name = name where false; return 1; end $$;\n\
               create function public.sneaky_touch() returns int language plpgsql stable as $$\n\
               begin return public.touch_agents(); end $$;";
    let (harness, _) = vital().await;
    let migrations = migrations_with(&[("20251027000099_sneaky.sql", sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let schema = schema(&template).await;
    let database = harness.database(&template).await.unwrap();
    let actor = database
        .actor(Identity::of(Principal::ServiceRole, "", ""), &schema.api)
        .await
        .unwrap();
    let stable = actor
        .run("select public.sneaky_touch()", None, Finish::Rollback)
        .await
        .unwrap();
    assert_eq!(
        stable.result.unwrap_err().sqlstate,
        "25006",
        "read-only transaction"
    );
    let volatile = actor
        .run("select public.touch_agents()", None, Finish::Rollback)
        .await
        .unwrap();
    assert!(volatile.result.is_ok());
    database.close().await.unwrap();
}

/// PostgREST applies the impersonated role's own settings to each of its requests;
/// the claims it passes on name the role the request runs as.
#[tokio::test]
async fn requests_carry_the_roles_own_settings_and_search_path() {
    let (harness, template) = vital().await;
    let schema = schema(&template).await;
    let database = harness.database(&template).await.unwrap();
    let settings = "select current_setting('statement_timeout'), current_setting('search_path'), \
                    auth.role(), current_setting('lock_timeout')";
    for (principal, timeout, role) in [
        (Identity::of(Principal::Anon, "", ""), "3s", "anon"),
        (
            Identity::of(Principal::User(user_id("kim")), "kim", "kim@x"),
            "8s",
            "authenticated",
        ),
        // service_role has no timeout of its own: its requests run under those of
        // PostgREST's login, as on Supabase.
        (
            Identity::of(Principal::ServiceRole, "", ""),
            "8s",
            "service_role",
        ),
    ] {
        let actor = database.actor(principal, &schema.api).await.unwrap();
        let outcome = actor.run(settings, None, Finish::Rollback).await.unwrap();
        let row = outcome.result.unwrap().rows.remove(0);
        assert_eq!(
            row,
            [
                Some(timeout.to_owned()),
                Some("public, extensions".to_owned()),
                Some(role.to_owned()),
                Some("8s".to_owned())
            ]
        );
    }
    database.close().await.unwrap();
}

/// Role settings reach a request as PostgREST reads them: a setting `authenticator` may
/// not make (`session_preload_libraries`, which a Supabase image sets on
/// `authenticated`) is left out rather than failing every request with "permission
/// denied to set parameter", and `default_transaction_isolation` is the isolation
/// level of the request's transaction. The settings need a superuser, so the test has
/// a cluster of its own.
#[tokio::test]
async fn role_settings_reach_requests_as_postgrest_applies_them() {
    let options = BackendOptions {
        kind: BackendKind::Local,
        ..BackendOptions::from_env().unwrap()
    };
    let harness = Harness::start(&options).await.unwrap();
    let bare = harness.bare_database().await.unwrap();
    let superuser = bare.owner_endpoint().with_login("supabase_admin", None);
    rls_harness::Connection::open(&superuser)
        .await
        .unwrap()
        .batch(
            "alter role authenticated set session_preload_libraries = 'safeupdate';
             alter role authenticated set default_transaction_isolation = 'serializable'",
        )
        .await
        .unwrap();
    bare.close().await.unwrap();
    let template = harness
        .template_from_dir(&rls_harness::default_migrations_dir())
        .await
        .unwrap();
    let schema = Schema::read(&harness, &template, &config()).await.unwrap();
    let database = harness.database(&template).await.unwrap();
    let kim = Identity::of(Principal::User(user_id("kim")), "kim", "kim@x");
    let actor = database.actor(kim, &schema.api).await.unwrap();
    let outcome = actor
        .run(
            "select current_setting('transaction_isolation'), current_setting('statement_timeout')",
            None,
            Finish::Rollback,
        )
        .await
        .unwrap();
    // Only authenticator's own sessions may read the library setting; that the request
    // ran at all shows it was not set.
    let row = outcome.result.expect("the request ran").rows.remove(0);
    assert_eq!(
        row,
        [Some("serializable".to_owned()), Some("8s".to_owned())]
    );
    database.close().await.unwrap();
    harness.shutdown().await.unwrap();
}

/// Roles and the auth schema as Supabase has them: the API roles inherit,
/// `authenticator` does not; `postgres`, which migrates, bypasses row security but is
/// no superuser (so grant checks inside its SECURITY DEFINER functions are enforced);
/// `auth.users` belongs to the Auth service, with row security on and no policy.
#[tokio::test]
async fn roles_and_auth_schema_are_supabase_s() {
    let (harness, template) = vital().await;
    let database = harness.database(&template).await.unwrap();
    let owner = database.owner().await.unwrap();
    let row = owner
        .query_one(
            "select (select bool_and(rolinherit) from pg_roles where rolname in ('anon', 'authenticated', 'service_role')),
                    (select rolinherit from pg_roles where rolname = 'authenticator'),
                    current_user::text, r.rolsuper, r.rolbypassrls,
                    (select pg_get_userbyid(relowner)::text from pg_class where oid = 'auth.users'::regclass),
                    (select relrowsecurity from pg_class where oid = 'auth.users'::regclass),
                    (select count(*) from pg_policy where polrelid = 'auth.users'::regclass),
                    pg_has_role(current_user, 'pg_read_all_data', 'MEMBER')
               from pg_roles r where r.rolname = current_user",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "API roles inherit");
    assert!(!row.get::<_, bool>(1), "authenticator does not");
    if harness.backend() != rls_harness::BackendKind::Url {
        let (user, superuser, bypass): (String, bool, bool) = (row.get(2), row.get(3), row.get(4));
        assert_eq!(
            (user.as_str(), superuser, bypass),
            ("postgres", false, true)
        );
        let owner_of_users: String = row.get(5);
        assert_eq!(owner_of_users, "supabase_auth_admin");
        assert!(row.get::<_, bool>(8), "postgres reads all data");
    }
    assert!(row.get::<_, bool>(6), "row security on auth.users");
    assert_eq!(row.get::<_, i64>(7), 0, "and no policy");
    database.close().await.unwrap();
}

/// `auth.uid()` as the Auth service defines it: an empty `sub` in the claims fails
/// with 22P02 instead of passing for nobody.
#[tokio::test]
async fn an_empty_sub_fails_as_on_supabase() {
    let (harness, template) = vital().await;
    let schema = schema(&template).await;
    let database = harness.database(&template).await.unwrap();
    let mut claims = rls_harness::Claims::for_user(user_id("blank"), "b@x");
    claims.0.insert("sub".into(), serde_json::json!(""));
    let blank = Identity::with_claims("blank", claims);
    let actor = database.actor(blank, &schema.api).await.unwrap();
    let outcome = actor
        .run("select count(*) from agents", None, Finish::Rollback)
        .await
        .unwrap();
    assert_eq!(outcome.result.unwrap_err().sqlstate, "22P02");
    database.close().await.unwrap();
}

/// Reads a table the migration enabled row security on but granted nothing on, as a
/// member of its tenant, on a harness of its own with `grants`.
async fn read_ungranted(grants: Grants) -> Outcome {
    let options = BackendOptions {
        grants,
        ..BackendOptions::from_env().unwrap()
    };
    let harness = Harness::start(&options).await.unwrap();
    let sql = "create table public.ungranted (id int primary key, tenant_id uuid not null references public.tenants (id));\n\
               alter table public.ungranted enable row level security;";
    let migrations = migrations_with(&[("20251027000099_ungranted.sql", sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let schema = Schema::read(&harness, &template, &config()).await.unwrap();
    let database = harness.database(&template).await.unwrap();
    let actor = database
        .actor(
            Identity::of(Principal::User(user_id("kim")), "kim", "kim@x"),
            &schema.api,
        )
        .await
        .unwrap();
    let outcome = actor
        .run(
            "select * from ungranted",
            Some(DH_STARTUP_TENANT),
            Finish::Rollback,
        )
        .await
        .unwrap();
    drop(actor);
    database.close().await.unwrap();
    drop(template);
    harness.shutdown().await.unwrap();
    outcome
}

/// Without default privileges (Supabase today), a table the migration does not grant
/// is closed to the API roles: a privilege denial, not an empty result.
#[tokio::test]
async fn a_table_nobody_granted_is_closed_without_default_privileges() {
    let outcome = read_ungranted(Grants::None).await;
    assert_eq!(
        outcome.result.unwrap_err().denial(),
        Some(Denial::Privilege)
    );
}

/// With `grants = "legacy"` (projects made before the change), the same table is open
/// to the API roles and row security alone decides: no policy, so no rows.
#[tokio::test]
async fn legacy_grants_open_new_tables_to_the_api_roles() {
    let outcome = read_ungranted(Grants::Legacy).await;
    let rows = outcome
        .result
        .expect("legacy default privileges grant select");
    assert!(
        rows.rows.is_empty(),
        "no policy admits a row: {:?}",
        rows.rows
    );
}

/// A server that speaks French (a url backend may) still tells a policy's refusal from a
/// missing grant and from a function's own guard: the kind comes from the error's
/// routine, not from its text.
#[tokio::test]
async fn denial_kinds_hold_on_a_server_with_translated_messages() {
    let options = BackendOptions {
        kind: BackendKind::Local,
        server_language: Some("fr".into()),
        ..BackendOptions::from_env().unwrap()
    };
    let harness = Harness::start(&options).await.unwrap();
    let template = harness
        .template_from_dir(&rls_harness::default_migrations_dir())
        .await
        .unwrap();
    let schema = Schema::read(&harness, &template, &config()).await.unwrap();
    let database = harness.database(&template).await.unwrap();
    let dana = user_id("dana");
    database
        .owner()
        .await
        .unwrap()
        .batch(&format!(
            "insert into auth.users (id, email) values ('{dana}', 'dana@x');\n\
             insert into user_tenants (user_id, tenant_id, role) values ('{dana}', '{DH_STARTUP_TENANT}', 'admin');"
        ))
        .await
        .unwrap();
    let actor = database
        .actor(
            Identity::of(Principal::User(dana), "dana", "dana@x"),
            &schema.api,
        )
        .await
        .unwrap();
    let mut failures = Vec::new();
    for sql in [
        "insert into agents (tenant_id, name, sharing_mode, is_shared, resource_type) \
         values ('00000000-0000-0000-0000-000000000001', 'planted', 'private', false, 'custom')",
        "delete from resource_sharing_audit where id is not null",
        &format!("select public.grant_platform_admin('{dana}')"),
    ] {
        let outcome = actor.run(sql, None, Finish::Rollback).await.unwrap();
        failures.push(outcome.result.expect_err(sql));
    }
    drop(actor);
    database.close().await.unwrap();
    drop(template);
    harness.shutdown().await.unwrap();

    let messages: Vec<&str> = failures.iter().map(|f| f.message.as_str()).collect();
    assert!(
        messages[..2]
            .iter()
            .all(|m| !m.contains("violates") && !m.contains("permission denied")),
        "the server must speak French for this test to mean anything: {messages:?}"
    );
    let kinds: Vec<Option<Denial>> = failures.iter().map(|f| f.denial()).collect();
    assert_eq!(
        kinds,
        [
            Some(Denial::Policy),
            Some(Denial::Privilege),
            Some(Denial::Guard)
        ],
        "{failures:?}"
    );
}

/// A write is judged as PostgREST's committed request would end: a deferred constraint
/// trigger fires on it though the harness rolls it back; and an UPDATE or DELETE without
/// a filter is refused before it runs, as Supabase's pg-safeupdate refuses it.
#[tokio::test]
async fn deferred_checks_fire_and_unfiltered_writes_are_refused_as_on_supabase() {
    let sql = "create table public.ledger (id int primary key, amount int not null);\n\
               grant select, insert, update, delete on public.ledger to service_role;\n\
               create function public.ledger_balanced() returns trigger language plpgsql as $$\n\
               begin if (select sum(amount) from public.ledger) <> 0 then\n\
                   raise exception 'ledger does not balance' using errcode = '23514';\n\
               end if; return null; end $$;\n\
               create constraint trigger ledger_balanced after insert or update on public.ledger\n\
                   deferrable initially deferred for each row execute function public.ledger_balanced();";
    let (harness, _) = vital().await;
    let migrations = migrations_with(&[("20251027000099_ledger.sql", sql)]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let schema = schema(&template).await;
    let database = harness.database(&template).await.unwrap();
    let actor = database
        .actor(Identity::of(Principal::ServiceRole, "", ""), &schema.api)
        .await
        .unwrap();
    let run = |sql: &'static str| actor.run(sql, None, Finish::Rollback);
    let unbalanced = run("insert into ledger values (1, 5)").await.unwrap();
    assert_eq!(unbalanced.result.unwrap_err().sqlstate, "23514");
    let balanced = run("insert into ledger values (1, 5), (2, -5)")
        .await
        .unwrap();
    assert_eq!(balanced.result.unwrap().affected, 2);
    for (unfiltered, message) in [
        ("delete from ledger", "DELETE requires a WHERE clause"),
        (
            "update ledger set amount = 0",
            "UPDATE requires a WHERE clause",
        ),
    ] {
        let refused = run(unfiltered).await.unwrap().result.unwrap_err();
        assert_eq!(
            (refused.sqlstate.as_str(), refused.message.as_str()),
            ("21000", message)
        );
    }
    let filtered = run("delete from ledger where id is not null")
        .await
        .unwrap();
    assert!(filtered.result.is_ok());
    database.close().await.unwrap();
}
