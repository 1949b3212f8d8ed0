//! The migration runner and the shipped migrations: errors located to the line,
//! nothing half-applied, idempotency, and a rollback that really rolls back.

use rls_harness::{fingerprint, fingerprint_difference, Connection, Error, Migration};

use crate::support::{harness, rollback_migration, shipped_migrations, vital};

async fn apply_all(connection: &Connection, migrations: &[Migration]) {
    for migration in migrations {
        rls_harness_apply(connection, migration).await.unwrap();
    }
}

async fn rls_harness_apply(
    connection: &Connection,
    migration: &Migration,
) -> rls_harness::Result<Vec<String>> {
    migration
        .apply(connection)
        .await
        .map(|applied| applied.notices.into_iter().map(|n| n.message).collect())
}

async fn agents_rows(connection: &Connection) -> Vec<String> {
    let rows = connection
        .query(
            "select to_jsonb(a)::text from public.agents a order by id",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

async fn table_exists(connection: &Connection, name: &str) -> bool {
    let row = connection
        .query_one("select to_regclass($1) is not null", &[&name])
        .await
        .unwrap();
    row.get(0)
}

/// Applies `sql` as migration `name` to a fresh database with the shim only; returns
/// the error, the file's path, and whether `table` exists afterwards.
async fn apply_broken(name: &str, sql: &str, table: &str) -> (Error, std::path::PathBuf, bool) {
    let database = harness().await.bare_database().await.unwrap();
    let owner = database.owner().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, sql).unwrap();
    let error = Migration::read(&path)
        .unwrap()
        .apply(&owner)
        .await
        .unwrap_err();
    let exists = table_exists(&owner, table).await;
    database.close().await.unwrap();
    (error, path, exists)
}

#[tokio::test]
async fn a_failing_migration_names_file_line_and_sqlstate_and_leaves_nothing() {
    let sql = "create table public.half_done (id int);\n\
               insert into public.half_done values (1);\n\
               select id,\n       missing_column\n  from public.half_done;\n";
    let (error, path, exists) = apply_broken("0001_broken.sql", sql, "public.half_done").await;
    match &error {
        Error::Migration {
            file,
            line,
            column,
            sqlstate,
            ..
        } => {
            assert_eq!(
                (file, *line, *column, sqlstate.as_str()),
                (&path, 4, 8, "42703")
            );
        }
        other => panic!("expected a migration error, got {other}"),
    }
    assert!(error.to_string().starts_with(&format!(
        "{}:4:8: 42703: column \"missing_column\" does not exist",
        path.display()
    )));
    assert!(!exists, "nothing of the file may stay");
}

#[tokio::test]
async fn an_error_without_a_position_points_at_its_statement() {
    let sql = "create table public.before_raise (id int);\n\n-- the guard\ndo $$\nbegin\n  \
               raise exception 'tenant missing' using errcode = 'P0002';\nend $$;\n";
    let (error, path, exists) = apply_broken("0001_raise.sql", sql, "public.before_raise").await;
    let error = error.to_string();
    assert!(
        error.starts_with(&format!("{}:4:1: P0002: tenant missing", path.display())),
        "{error}"
    );
    assert!(!exists);
}

#[tokio::test]
async fn a_migration_that_commits_itself_is_refused_before_it_runs() {
    let sql = "create table public.t1 (id int);\ncommit;\ncreate table public.t2 (id int);\n";
    let (error, path, exists) = apply_broken("0001_tx.sql", sql, "public.t1").await;
    let error = error.to_string();
    assert!(
        error.starts_with(&format!(
            "{}:2:1: 25000: the file controls transactions itself",
            path.display()
        )),
        "{error}"
    );
    assert!(!exists);
}

#[tokio::test]
async fn copy_from_stdin_is_refused_at_its_line_before_anything_runs() {
    let sql = "create table public.copied (id int);\n\ncopy public.copied from stdin;\n1\n2\n\\.\n";
    let (error, path, exists) = apply_broken("0001_copy.sql", sql, "public.copied").await;
    let error = error.to_string();
    assert!(
        error.starts_with(&format!(
            "{}:3:1: 0A000: COPY ... FROM STDIN",
            path.display()
        )),
        "{error}"
    );
    assert!(!exists);
}

/// A session-level `SET ROLE` in one file ends with it: the next file runs as the
/// owner again, and its objects are the owner's.
#[tokio::test]
async fn each_file_starts_from_the_owners_session() {
    let database = harness().await.bare_database().await.unwrap();
    let owner = database.owner().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "0001_role.sql",
            "set role anon;\nset statement_timeout = 1;\n",
        ),
        ("0002_table.sql", "create table public.owned (id int);\n"),
    ];
    for (name, sql) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, sql).unwrap();
        if let Err(error) = Migration::read(&path).unwrap().apply(&owner).await {
            panic!("{name} must apply: {error}");
        }
    }
    let row = owner
        .query_one(
            "select pg_get_userbyid(relowner)::text from pg_class where oid = 'public.owned'::regclass",
            &[],
        )
        .await;
    database.close().await.unwrap();
    assert_eq!(row.unwrap().get::<_, String>(0), "postgres");
}

#[tokio::test]
async fn every_function_body_form_applies() {
    let sql = "create table public.counted (n int);\n\
               create function public.standard_sql() returns int language sql\n\
               begin atomic\n  select case when true then 1 else 2 end;\nend;\n\
               create or replace procedure public.add_one() language sql\n\
               begin atomic insert into public.counted values (1); end;\n\
               create function public.nested() returns text language plpgsql as $outer$\n\
               begin return $inner$;$inner$; end $outer$;\n\
               do $$ begin perform public.standard_sql(); end $$;\n\
               call public.add_one();\n\
               create table public.echoed (n int);\n\
               create rule echo as on insert to public.counted do also \
               (insert into public.echoed values (new.n); insert into public.echoed values (new.n));\n";
    let database = harness().await.bare_database().await.unwrap();
    let owner = database.owner().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0001_bodies.sql");
    std::fs::write(&path, sql).unwrap();
    if let Err(error) = Migration::read(&path).unwrap().apply(&owner).await {
        panic!("a valid migration must apply: {error}");
    }
    let rows = owner
        .query_one(
            "select public.standard_sql(), public.nested(), (select count(*) from public.counted)",
            &[],
        )
        .await
        .unwrap();
    database.close().await.unwrap();
    assert_eq!(
        (
            rows.get::<_, i32>(0),
            rows.get::<_, String>(1),
            rows.get::<_, i64>(2)
        ),
        (1, ";".to_owned(), 1)
    );
}

/// Two patterns every Supabase starter uses, which apply there because migrations run
/// with `extensions` on the search path and `postgres` holds every privilege on
/// `auth.users`: a gate that refused them would fail correct migrations.
#[tokio::test]
async fn supabase_migration_patterns_apply_as_on_supabase() {
    let sql = "create table public.profiles (\n\
               id uuid primary key references auth.users (id),\n\
               invite_code text not null default encode(gen_random_bytes(6), 'hex'));\n\
               create function public.handle_new_user() returns trigger\n\
               language plpgsql security definer set search_path = '' as $$\n\
               begin insert into public.profiles (id) values (new.id); return new; end $$;\n\
               create trigger on_auth_user_created after insert on auth.users\n\
               for each row execute procedure public.handle_new_user();\n";
    let database = harness().await.bare_database().await.unwrap();
    let owner = database.owner().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0001_profiles.sql");
    std::fs::write(&path, sql).unwrap();
    if let Err(error) = Migration::read(&path).unwrap().apply(&owner).await {
        panic!("a migration Supabase applies must apply: {error}");
    }
    owner
        .batch("insert into auth.users (id) values (gen_random_uuid())")
        .await
        .unwrap();
    let profile = owner
        .query_one("select length(invite_code) from public.profiles", &[])
        .await;
    database.close().await.unwrap();
    assert_eq!(
        profile.unwrap().get::<_, i32>(0),
        12,
        "the trigger made the profile"
    );
}

#[tokio::test]
async fn each_migration_can_be_applied_again_without_change_or_error() {
    let (harness, template) = vital().await;
    let database = harness.database(&template).await.unwrap();
    let owner = database.owner().await.unwrap();
    let data = "select string_agg(format('%s=%s', t, n), ' ' order by t) from (\
                select 'agents' t, count(*) n from public.agents union all \
                select 'tools', count(*) from public.tools union all \
                select 'prompts', count(*) from public.prompts union all \
                select 'tenants', count(*) from public.tenants union all \
                select 'audit', count(*) from public.resource_sharing_audit union all \
                select 'mv', count(*) from public.mv_platform_shared_resources) counts";
    let schema_before = fingerprint(&owner).await.unwrap();
    let data_before: String = owner.query_one(data, &[]).await.unwrap().get(0);
    let agents_before = agents_rows(&owner).await;
    for migration in shipped_migrations() {
        let notices = rls_harness_apply(&owner, &migration)
            .await
            .unwrap_or_else(|error| panic!("re-applying: {error}"));
        assert!(
            notices
                .iter()
                .any(|n| n.ends_with("completed successfully")),
            "{}: {notices:?}",
            migration.file_name()
        );
    }
    let schema_after = fingerprint(&owner).await.unwrap();
    assert!(schema_before.len() > 100, "the fingerprint sees the schema");
    assert_eq!(
        fingerprint_difference(&schema_before, &schema_after),
        Vec::<String>::new()
    );
    let data_after: String = owner.query_one(data, &[]).await.unwrap().get(0);
    assert_eq!(data_before, data_after);
    assert_eq!(agents_before, agents_rows(&owner).await);
    database.close().await.unwrap();
}

#[tokio::test]
async fn rollback_returns_to_the_remote_schema_with_the_agents_intact() {
    let harness = harness().await;
    let database = harness.bare_database().await.unwrap();
    let owner = database.owner().await.unwrap();
    let migrations = shipped_migrations();
    let (remote, plan) = migrations.split_first().unwrap();
    assert!(remote.file_name().ends_with("_remote_schema.sql"));
    assert_eq!(
        plan.len(),
        5,
        "the plan's four migrations and the context header"
    );

    apply_all(&owner, std::slice::from_ref(remote)).await;
    let remote_schema = fingerprint(&owner).await.unwrap();
    let remote_agents = agents_rows(&owner).await;
    assert_eq!(remote_agents.len(), 3);
    assert!(remote_agents
        .iter()
        .any(|agent| agent.contains("Dr. Sarah Chen")));

    apply_all(&owner, plan).await;
    let migrated = fingerprint(&owner).await.unwrap();
    assert!(
        !fingerprint_difference(&remote_schema, &migrated).is_empty(),
        "the plan changes the schema"
    );

    let rollback = rollback_migration();
    for attempt in 0..2 {
        rls_harness_apply(&owner, &rollback)
            .await
            .unwrap_or_else(|error| panic!("rollback #{attempt}: {error}"));
        let rolled_back = fingerprint(&owner).await.unwrap();
        assert_eq!(
            fingerprint_difference(&remote_schema, &rolled_back),
            Vec::<String>::new()
        );
        assert_eq!(agents_rows(&owner).await, remote_agents);
    }
    database.close().await.unwrap();
}
