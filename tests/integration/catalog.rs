//! The catalog of the shipped migrations, read from a live template: what a checker
//! needs of every object, and the migration line each one came from.

use rls_harness::{ApiRole, Command, Privilege, RelationKind};

use crate::support::vital;

fn line_of(location: &Option<rls_harness::Location>) -> (String, usize) {
    let location = location.as_ref().expect("made by a migration");
    (
        location
            .file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
        location.line,
    )
}

#[tokio::test]
async fn relations_carry_row_security_policies_privileges_keys_and_origin() {
    let (_, template) = vital().await;
    let catalog = &template.catalog;
    assert_eq!(
        catalog.exposed_schemas,
        ["public"],
        "auth, extensions, private are not judged"
    );
    let agents = catalog.relation("public.agents").unwrap();
    assert_eq!(agents.kind, RelationKind::Table);
    assert!(agents.rls_enabled && !agents.rls_forced);
    assert_eq!(agents.primary_key, ["id"]);
    let tenant_fk = agents
        .foreign_keys
        .iter()
        .find(|fk| fk.columns == ["tenant_id"])
        .unwrap();
    assert_eq!(
        (
            tenant_fk.target.as_str(),
            tenant_fk.target_columns.as_slice()
        ),
        ("public.tenants", &["id".to_owned()][..])
    );
    let sharing = agents.column("sharing_mode").unwrap();
    assert!(sharing.not_null && sharing.default.as_deref() == Some("'private'::text"));
    // Supabase's default privileges, minus what migration 3 revokes.
    let expected: std::collections::BTreeSet<Privilege> = [
        Privilege::Select,
        Privilege::Insert,
        Privilege::Update,
        Privilege::Delete,
    ]
    .into();
    assert_eq!(agents.privileges_of(ApiRole::Authenticated), expected);
    assert_eq!(agents.privileges_of(ApiRole::Anon), expected);
    let update = agents
        .policies
        .iter()
        .find(|p| p.name == "agents_update_with_sharing")
        .unwrap();
    assert_eq!(update.command, Command::Update);
    assert_eq!(update.roles, ["authenticated"]);
    assert!(update.permissive);
    assert!(update
        .using
        .as_deref()
        .unwrap()
        .contains("user_effective_writer_tenant_ids"));
    assert!(update
        .check
        .as_deref()
        .unwrap()
        .contains("'platform'::text"));
    // Created by the remote schema; its policies by the DO block of migration 3, and
    // its TRUNCATE revoked there.
    assert_eq!(
        line_of(&agents.history.created),
        ("20251025000000_remote_schema.sql".into(), 8)
    );
    assert_eq!(
        line_of(&update.history.created),
        ("20251026000003_update_rls_policies.sql".into(), 205)
    );
    assert_eq!(
        line_of(&agents.history.grants).0,
        "20251026000003_update_rls_policies.sql"
    );
}

#[tokio::test]
async fn views_say_whose_rights_they_read_with_and_what_they_read() {
    let (_, template) = vital().await;
    let view = template
        .catalog
        .relation("public.mv_platform_shared_resources")
        .unwrap();
    assert_eq!(view.kind, RelationKind::View);
    let options = view.view.as_ref().unwrap();
    assert!(options.security_barrier && !options.security_invoker);
    assert_eq!(options.bases, ["private.platform_shared_resources"]);
    assert!(
        options.reads_rls_table,
        "through the materialized view, the four resource tables"
    );
    assert!(!options.reads_auth_users);
    assert_eq!(view.privileges_of(ApiRole::Anon), Default::default());
    assert!(template
        .catalog
        .relation("private.platform_shared_resources")
        .is_none());
}

#[tokio::test]
async fn functions_carry_security_search_path_signature_and_execute_grants() {
    let (_, template) = vital().await;
    let catalog = &template.catalog;
    let accessible = catalog
        .function("public.get_accessible_agents(uuid)")
        .unwrap();
    assert!(accessible.security_definer && accessible.returns_set);
    assert_eq!(accessible.search_path.as_deref(), Some("\"\""));
    assert_eq!(
        accessible.returns_relation.as_deref(),
        Some("public.agents")
    );
    assert_eq!(accessible.arguments[0].name, "p_tenant_id");
    // PUBLIC keeps EXECUTE on new functions, so anon may call it too.
    assert_eq!(
        accessible.executable_by,
        [ApiRole::Anon, ApiRole::Authenticated]
    );
    assert_eq!(
        line_of(&accessible.history.created),
        ("20251026000003_update_rls_policies.sql".into(), 276)
    );
    // Its grants last changed at its creation, or at the GRANT EXECUTE after it (which
    // changes nothing where default privileges already granted it).
    let (file, line) = line_of(&accessible.history.grants);
    assert!(
        file == "20251026000003_update_rls_policies.sql" && line >= 276,
        "{file}:{line}"
    );
    let assign = catalog
        .function("public.assign_user_to_dh_startup(uuid, text)")
        .unwrap();
    assert_eq!(assign.result, "void");
    // A trigger function cannot be called through the API.
    let trigger = catalog.function("public.audit_resource_sharing()").unwrap();
    assert!(trigger.is_trigger && !trigger.exposed());
}

/// The world the property engine starts from is read from the template, not copied by
/// hand: the two seeded tenants, the three global platform agents, three tools and two
/// prompts, and the audit rows migration 4's own writes left.
#[tokio::test]
async fn the_seed_is_read_from_the_template() {
    let (_, template) = vital().await;
    let schema = crate::support::schema(&template).await;
    let world = &schema.seeded;
    assert_eq!(
        schema.seeded_tenants(),
        [
            ("digital-health-startup".to_owned(), crate::support::DH),
            ("vital-platform".to_owned(), crate::support::PLATFORM),
        ]
    );
    let count = |t| world.resources_of(t).count();
    let tables: Vec<_> = world.shape.tables().collect();
    assert_eq!(
        tables.iter().map(|t| count(*t)).collect::<Vec<_>>(),
        [3, 3, 2, 0],
        "agents, tools, prompts, workflows"
    );
    let sql = schema.sql.as_ref().unwrap();
    let sarah = world
        .resource(
            tables[0],
            "a0000000-0000-4000-8000-000000000001".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(sarah.name, "Dr. Sarah Chen");
    assert_eq!(
        (sarah.mode, sarah.kind, sarah.tenant),
        (
            rls_harness::Mode::Global,
            rls_harness::Kind::Platform,
            Some(crate::support::PLATFORM)
        )
    );
    // Migration 4 updated the three agents into the platform tenant (the trigger was
    // there), then inserted the tools and prompts; the owner is the actor, so NULL.
    let actions: Vec<_> = world
        .audit
        .iter()
        .map(|a| (sql.audit_table(a.table), a.action.name()))
        .collect();
    assert_eq!(
        actions,
        [
            ("agents", "update"),
            ("agents", "update"),
            ("agents", "update"),
            ("tools", "insert"),
            ("tools", "insert"),
            ("tools", "insert"),
            ("prompts", "insert"),
            ("prompts", "insert"),
        ]
    );
    assert!(world
        .audit
        .iter()
        .all(|a| a.actor.is_none() && a.tenant == Some(crate::support::PLATFORM)));
    assert!(world.users.is_empty());
}

/// Each object's line is the statement that made it, however it was made: plain DDL,
/// dynamic SQL in a `DO` block, a rename, a view made again after an `ALTER TABLE` that
/// dropped it, and a table made early in a file after a long file before it.
#[tokio::test]
async fn origins_follow_renames_drops_dynamic_sql_and_the_next_file() {
    let (harness, _) = vital().await;
    let first = "\
create table public.origin_a (id int primary key, note text);
grant select on public.origin_a to authenticated;
do $$ begin execute 'create table public.origin_b (id int)'; end $$;
alter table public.origin_a rename to origin_c;
create view public.origin_v as select id, note from public.origin_c;
alter table public.origin_c drop column note cascade;
create view public.origin_v as select id from public.origin_c;
alter table public.origin_c enable row level security;
create function public.origin_f() returns int language sql as 'select 1';
";
    let second = "create table public.origin_d (id int);\n";
    let migrations = crate::support::migrations_with(&[
        ("20991231000001_origins.sql", first),
        ("20991231000002_origins_next.sql", second),
    ]);
    let template = harness.template_from_dir(migrations.path()).await.unwrap();
    let catalog = &template.catalog;
    let first_file = "20991231000001_origins.sql".to_owned();
    let at = |line| (first_file.clone(), line);
    assert!(catalog.relation("public.origin_a").is_none());
    let renamed = catalog.relation("public.origin_c").unwrap();
    assert_eq!(line_of(&renamed.history.created), at(4));
    assert_eq!(line_of(&renamed.history.row_security), at(8));
    let dynamic = catalog.relation("public.origin_b").unwrap();
    assert_eq!(line_of(&dynamic.history.created), at(3));
    let remade = catalog.relation("public.origin_v").unwrap();
    assert_eq!(line_of(&remade.history.created), at(7));
    let function = catalog.function("public.origin_f()").unwrap();
    assert_eq!(line_of(&function.history.created), at(9));
    let next = catalog.relation("public.origin_d").unwrap();
    assert_eq!(
        line_of(&next.history.created),
        ("20991231000002_origins_next.sql".into(), 1)
    );
}
