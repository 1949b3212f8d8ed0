-- 20251026000005_rollback_multitenant.sql
--
-- Undoes migrations 20251026000001..04 and 20251027000001, and returns the database to the state
-- right after 20251025000000_remote_schema.sql: same tables, columns,
-- constraints, indexes, policies (the legacy "Enable read access for all
-- users" included), functions, triggers and grants. The original agents keep
-- the values of their 24 original columns.
--
-- Agents that belonged privately to a tenant (tenant_id set, not global) are
-- deleted: the restored legacy policy lets everyone, anon included, read every
-- agent, so keeping them would publish what their tenant kept private.
--
-- Dependent objects go first (triggers, view, functions, policies), then the
-- columns and tables they depend on. Idempotent.

-- ---------------------------------------------------------------------------
-- Triggers on agents (those on tools/prompts/workflows go with the tables)
-- ---------------------------------------------------------------------------

drop trigger if exists agents_sharing_audit on public.agents;
drop trigger if exists agents_refresh_shared_on_insert on public.agents;
drop trigger if exists agents_refresh_shared_on_update on public.agents;
drop trigger if exists agents_refresh_shared_on_delete on public.agents;
drop trigger if exists agents_refresh_shared_on_truncate on public.agents;

-- ---------------------------------------------------------------------------
-- Derived objects and functions of migrations 3 and 4
-- ---------------------------------------------------------------------------

drop view if exists public.mv_platform_shared_resources;
drop materialized view if exists private.platform_shared_resources;
drop schema if exists private;

drop function if exists public.get_accessible_agents(uuid);
drop function if exists public.get_accessible_tools(uuid);
drop function if exists public.get_accessible_prompts(uuid);
drop function if exists public.get_accessible_workflows(uuid);
drop function if exists public.apply_tenant_context();
drop function if exists public.set_tenant_context(uuid);
drop function if exists public.grant_platform_admin(uuid);
drop function if exists public.assign_user_to_dh_startup(uuid, text);

-- ---------------------------------------------------------------------------
-- Policies on agents (they use the helpers and the tenant columns)
-- ---------------------------------------------------------------------------

drop policy if exists agents_select_with_sharing on public.agents;
drop policy if exists agents_insert_with_sharing on public.agents;
drop policy if exists agents_update_with_sharing on public.agents;
drop policy if exists agents_delete_with_sharing on public.agents;

-- ---------------------------------------------------------------------------
-- Tables of migrations 2 and 3 (their policies and triggers go with them)
-- ---------------------------------------------------------------------------

drop table if exists public.resource_sharing_audit;
drop table if exists public.workflows;
drop table if exists public.prompts;
drop table if exists public.tools;

drop function if exists public.audit_resource_sharing();
drop function if exists public.refresh_platform_shared_resources();

-- ---------------------------------------------------------------------------
-- agents: remove tenant-private agents, then the tenant columns
-- ---------------------------------------------------------------------------

do $$
begin
    if exists (
        select 1 from information_schema.columns
        where table_schema = 'public' and table_name = 'agents'
          and column_name in ('tenant_id', 'sharing_mode')
        group by table_name
        having count(*) = 2
    ) then
        execute 'delete from public.agents '
                'where tenant_id is not null and sharing_mode <> ''global''';
    end if;
end
$$;

alter table public.agents drop constraint if exists agents_is_shared_matches_sharing_mode;
drop index if exists public.idx_agents_tenant_id;
drop index if exists public.idx_agents_sharing_mode;
drop index if exists public.idx_agents_shared_with;

alter table public.agents
    drop column if exists tenant_id,
    drop column if exists is_shared,
    drop column if exists sharing_mode,
    drop column if exists shared_with,
    drop column if exists resource_type;

-- ---------------------------------------------------------------------------
-- Tenancy tables of migration 1 (their policies go with them), then the helpers
-- ---------------------------------------------------------------------------

drop table if exists public.user_roles;
drop table if exists public.user_tenants;
drop table if exists public.tenants;

drop function if exists public.assert_tenant_access(uuid);
drop function if exists public.user_effective_writer_tenant_ids();
drop function if exists public.user_effective_tenant_ids();
drop function if exists public.current_tenant_id();
drop function if exists public.user_writer_tenant_ids();
drop function if exists public.user_tenant_ids();
drop function if exists public.is_platform_admin();
drop function if exists public.is_privileged_caller();

-- ---------------------------------------------------------------------------
-- agents as the remote schema left it: RLS on (not forced), the legacy
-- policy, and Supabase's default grants (migration 3 revoked TRUNCATE,
-- REFERENCES and TRIGGER from anon and authenticated)
-- ---------------------------------------------------------------------------

alter table public.agents enable row level security;
alter table public.agents no force row level security;

drop policy if exists "Enable read access for all users" on public.agents;
create policy "Enable read access for all users" on public.agents
    for select using (true);

grant all on public.agents to anon, authenticated, service_role;

do $$
begin
    raise notice 'Migration 20251026000005 completed successfully';
end
$$;
