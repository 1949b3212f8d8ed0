-- 20251026000003_update_rls_policies.sql
--
-- Row-level security of the four resource tables (agents, tools, prompts,
-- workflows) following shared/design/access-model.md, the get_accessible_*
-- functions, the materialized view of globally shared resources (kept fresh
-- by triggers) and the sharing audit trail. Idempotent.
--
-- RLS is enabled but NOT forced: the owner (postgres) bypasses it, as on Supabase.

-- ---------------------------------------------------------------------------
-- The legacy dashboard policy gave every role, anon included, every agent
-- ---------------------------------------------------------------------------

drop policy if exists "Enable read access for all users" on public.agents;

-- ---------------------------------------------------------------------------
-- Audit table (before the triggers that write it)
-- ---------------------------------------------------------------------------

create table if not exists public.resource_sharing_audit (
    id               bigint generated always as identity primary key,
    table_name       text not null
                     check (table_name in ('agents', 'tools', 'prompts', 'workflows')),
    resource_id      uuid not null,
    action           text not null check (action in ('insert', 'update', 'delete')),
    actor_id         uuid,
    tenant_id        uuid,
    old_sharing_mode text,
    new_sharing_mode text,
    old_is_shared    boolean,
    new_is_shared    boolean,
    old_shared_with  uuid[],
    new_shared_with  uuid[],
    old_tenant_id    uuid,
    new_tenant_id    uuid,
    created_at       timestamp with time zone not null default now()
);

create index if not exists idx_resource_sharing_audit_resource
    on public.resource_sharing_audit (table_name, resource_id);
create index if not exists idx_resource_sharing_audit_tenant_id
    on public.resource_sharing_audit (tenant_id);

alter table public.resource_sharing_audit enable row level security;

-- Read: platform admins, and writers (owner/admin) of the row's tenant
drop policy if exists resource_sharing_audit_select on public.resource_sharing_audit;
create policy resource_sharing_audit_select on public.resource_sharing_audit
    for select to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_writer_tenant_ids())::uuid[]));

-- Only the trigger writes it; no user inserts, updates or deletes it. Readers get
-- SELECT explicitly (Supabase no longer grants new tables to the API roles by default).
grant select on public.resource_sharing_audit to anon, authenticated;
grant all on public.resource_sharing_audit to service_role;
revoke insert, update, delete, truncate, references, trigger
    on public.resource_sharing_audit from anon, authenticated;
revoke all on sequence public.resource_sharing_audit_id_seq from anon, authenticated;

-- One row per insert, per delete, and per update that changes tenant_id,
-- is_shared, sharing_mode or shared_with. actor_id is auth.uid(), NULL for
-- service_role and the owner. tenant_id is the tenant after the change (before
-- it, for a delete).
create or replace function public.audit_resource_sharing()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_actor uuid;
begin
    if tg_op = 'UPDATE'
       and (old.tenant_id, old.is_shared, old.sharing_mode, old.shared_with)
           is not distinct from
           (new.tenant_id, new.is_shared, new.sharing_mode, new.shared_with) then
        return null;
    end if;

    if public.is_privileged_caller() then
        v_actor := null;
    else
        v_actor := auth.uid();
    end if;

    if tg_op = 'INSERT' then
        insert into public.resource_sharing_audit (
            table_name, resource_id, action, actor_id, tenant_id,
            new_sharing_mode, new_is_shared, new_shared_with, new_tenant_id)
        values (
            tg_table_name, new.id, 'insert', v_actor, new.tenant_id,
            new.sharing_mode, new.is_shared, new.shared_with, new.tenant_id);
    elsif tg_op = 'UPDATE' then
        insert into public.resource_sharing_audit (
            table_name, resource_id, action, actor_id, tenant_id,
            old_sharing_mode, new_sharing_mode, old_is_shared, new_is_shared,
            old_shared_with, new_shared_with, old_tenant_id, new_tenant_id)
        values (
            tg_table_name, new.id, 'update', v_actor, new.tenant_id,
            old.sharing_mode, new.sharing_mode, old.is_shared, new.is_shared,
            old.shared_with, new.shared_with, old.tenant_id, new.tenant_id);
    else
        insert into public.resource_sharing_audit (
            table_name, resource_id, action, actor_id, tenant_id,
            old_sharing_mode, old_is_shared, old_shared_with, old_tenant_id)
        values (
            tg_table_name, old.id, 'delete', v_actor, old.tenant_id,
            old.sharing_mode, old.is_shared, old.shared_with, old.tenant_id);
    end if;
    return null;
end
$$;

-- ---------------------------------------------------------------------------
-- Materialized view of the globally shared resources
-- ---------------------------------------------------------------------------

-- A materialized view has no row security, and cannot tell a real user from a
-- session of the authenticated role whose claims lack `sub` (which must read
-- nothing, like anon). So the materialized view lives in a schema the API roles
-- cannot use, and the public name is a view over it, owned by the migration role,
-- that shows rows only to callers with a `sub` and to privileged callers. Its rows
-- are all global, which every such caller reads through the base tables anyway.
create schema if not exists private;
revoke all on schema private from public;

create materialized view if not exists private.platform_shared_resources as
    select 'agents'::text as resource_table, a.id, a.tenant_id, a.name, a.description,
           a.resource_type, a.sharing_mode, a.created_at, a.updated_at
    from public.agents a
    where a.sharing_mode = 'global'
    union all
    select 'tools'::text, t.id, t.tenant_id, t.name, t.description,
           t.resource_type, t.sharing_mode, t.created_at, t.updated_at
    from public.tools t
    where t.sharing_mode = 'global'
    union all
    select 'prompts'::text, p.id, p.tenant_id, p.name, p.description,
           p.resource_type, p.sharing_mode, p.created_at, p.updated_at
    from public.prompts p
    where p.sharing_mode = 'global'
    union all
    select 'workflows'::text, w.id, w.tenant_id, w.name, w.description,
           w.resource_type, w.sharing_mode, w.created_at, w.updated_at
    from public.workflows w
    where w.sharing_mode = 'global'
with data;

create unique index if not exists platform_shared_resources_key
    on private.platform_shared_resources (resource_table, id);

create or replace view public.mv_platform_shared_resources with (security_barrier) as
    select resource_table, id, tenant_id, name, description, resource_type, sharing_mode,
           created_at, updated_at
    from private.platform_shared_resources
    where (select auth.uid()) is not null or (select public.is_privileged_caller());

revoke all on public.mv_platform_shared_resources from public, anon, authenticated, service_role;
grant select on public.mv_platform_shared_resources to authenticated, service_role;

-- Refreshed after every statement that writes a global row of a resource table
-- (before or after the change), so a row made private leaves the view at once.
-- Other statements cannot change the view, and a refresh rebuilds it whole, so
-- they skip it: the transition tables say which rows a statement wrote.
-- Refreshes are serialised by a transaction-level advisory lock taken in a
-- statement of its own, so that the REFRESH (next statement, new snapshot) sees
-- what a concurrent writer committed while we waited (REFRESH's own lock is
-- taken after its snapshot).
create or replace function public.refresh_platform_shared_resources()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_global boolean := tg_op = 'TRUNCATE';
begin
    if tg_op in ('INSERT', 'UPDATE') and not v_global then
        v_global := exists (select 1 from new_rows where sharing_mode = 'global');
    end if;
    if tg_op in ('UPDATE', 'DELETE') and not v_global then
        v_global := exists (select 1 from old_rows where sharing_mode = 'global');
    end if;
    if v_global then
        perform pg_catalog.pg_advisory_xact_lock('private.platform_shared_resources'::regclass::oid::integer, 0);
        refresh materialized view private.platform_shared_resources;
    end if;
    return null;
end
$$;

-- ---------------------------------------------------------------------------
-- Row-level security, policies and triggers of the four resource tables
--
--   Read    P(u) or tenant_id ∈ E(u) or global or (selective and shared_with ∩ E(u) ≠ ∅)
--           (and only with a sub: claims without one read nothing, like anon)
--   Insert  P(u) or (tenant_id ∈ E(u) ∩ W(u) and not global and not platform)
--   Update  old row passes Delete (USING), new row passes Insert (WITH CHECK)
--   Delete  P(u) or tenant_id ∈ E(u) ∩ W(u)
-- ---------------------------------------------------------------------------

do $$
declare
    t text;
    v_read text := $p$
        (select auth.uid()) is not null
        and ((select public.is_platform_admin())
             or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[])
             or sharing_mode = 'global'
             or (sharing_mode = 'selective'
                 and shared_with && (select public.user_effective_tenant_ids())))$p$;
    v_write_old text := $p$
        (select public.is_platform_admin())
        or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[])$p$;
    v_write_new text := $p$
        (select public.is_platform_admin())
        or (tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[])
            and sharing_mode <> 'global'
            and resource_type <> 'platform')$p$;
begin
    foreach t in array array['agents', 'tools', 'prompts', 'workflows'] loop
        execute format('alter table public.%I enable row level security', t);
        execute format('alter table public.%I no force row level security', t);

        -- TRUNCATE ignores RLS; TRIGGER / REFERENCES are no business of API users
        execute format('revoke truncate, references, trigger on public.%I from anon, authenticated', t);

        execute format('drop policy if exists %I on public.%I', t || '_select_with_sharing', t);
        execute format('create policy %I on public.%I for select to authenticated using (%s)',
                       t || '_select_with_sharing', t, v_read);

        execute format('drop policy if exists %I on public.%I', t || '_insert_with_sharing', t);
        execute format('create policy %I on public.%I for insert to authenticated with check (%s)',
                       t || '_insert_with_sharing', t, v_write_new);

        execute format('drop policy if exists %I on public.%I', t || '_update_with_sharing', t);
        execute format('create policy %I on public.%I for update to authenticated using (%s) with check (%s)',
                       t || '_update_with_sharing', t, v_write_old, v_write_new);

        execute format('drop policy if exists %I on public.%I', t || '_delete_with_sharing', t);
        execute format('create policy %I on public.%I for delete to authenticated using (%s)',
                       t || '_delete_with_sharing', t, v_write_old);

        execute format('create or replace trigger %I after insert or update or delete on public.%I '
                       'for each row execute function public.audit_resource_sharing()',
                       t || '_sharing_audit', t);
        -- Transition tables allow one event per trigger, hence four.
        execute format('create or replace trigger %I after insert on public.%I '
                       'referencing new table as new_rows '
                       'for each statement execute function public.refresh_platform_shared_resources()',
                       t || '_refresh_shared_on_insert', t);
        execute format('create or replace trigger %I after update on public.%I '
                       'referencing old table as old_rows new table as new_rows '
                       'for each statement execute function public.refresh_platform_shared_resources()',
                       t || '_refresh_shared_on_update', t);
        execute format('create or replace trigger %I after delete on public.%I '
                       'referencing old table as old_rows '
                       'for each statement execute function public.refresh_platform_shared_resources()',
                       t || '_refresh_shared_on_delete', t);
        execute format('create or replace trigger %I after truncate on public.%I '
                       'for each statement execute function public.refresh_platform_shared_resources()',
                       t || '_refresh_shared_on_truncate', t);
    end loop;
end
$$;

-- ---------------------------------------------------------------------------
-- get_accessible_*(tenant): the rows tenant p_tenant_id may read (its own,
-- global ones, selective ones shared with it). Callers: P(u) or a member of
-- the tenant; service_role and the owner for any tenant; others get 42501.
-- ---------------------------------------------------------------------------

create or replace function public.get_accessible_agents(p_tenant_id uuid)
returns setof public.agents
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    perform public.assert_tenant_access(p_tenant_id);
    return query
        select r.* from public.agents r
        where r.tenant_id = p_tenant_id
           or r.sharing_mode = 'global'
           or (r.sharing_mode = 'selective' and p_tenant_id = any (r.shared_with));
end
$$;

create or replace function public.get_accessible_tools(p_tenant_id uuid)
returns setof public.tools
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    perform public.assert_tenant_access(p_tenant_id);
    return query
        select r.* from public.tools r
        where r.tenant_id = p_tenant_id
           or r.sharing_mode = 'global'
           or (r.sharing_mode = 'selective' and p_tenant_id = any (r.shared_with));
end
$$;

create or replace function public.get_accessible_prompts(p_tenant_id uuid)
returns setof public.prompts
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    perform public.assert_tenant_access(p_tenant_id);
    return query
        select r.* from public.prompts r
        where r.tenant_id = p_tenant_id
           or r.sharing_mode = 'global'
           or (r.sharing_mode = 'selective' and p_tenant_id = any (r.shared_with));
end
$$;

create or replace function public.get_accessible_workflows(p_tenant_id uuid)
returns setof public.workflows
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    perform public.assert_tenant_access(p_tenant_id);
    return query
        select r.* from public.workflows r
        where r.tenant_id = p_tenant_id
           or r.sharing_mode = 'global'
           or (r.sharing_mode = 'selective' and p_tenant_id = any (r.shared_with));
end
$$;

grant execute on function
    public.get_accessible_agents(uuid),
    public.get_accessible_tools(uuid),
    public.get_accessible_prompts(uuid),
    public.get_accessible_workflows(uuid)
to authenticated, service_role;

do $$
begin
    raise notice 'Migration 20251026000003 completed successfully';
end
$$;
