-- 20251026000001_create_tenants_table.sql
--
-- Tenancy: tenants, user_tenants (membership with a role), user_roles
-- (platform-wide roles such as platform_admin), the helper functions the
-- policies use, and the tenancy policies of the access model
-- (shared/design/access-model.md). Does not touch agents. Idempotent.
--
-- Notation of the access model, for the authenticated user u = auth.uid():
--   M(u) = public.user_tenant_ids()              tenants u belongs to
--   W(u) = public.user_writer_tenant_ids()       tenants where u is owner/admin
--   P(u) = public.is_platform_admin()            u has the role platform_admin
--   E(u) = public.user_effective_tenant_ids()    M(u), or {context} ∩ M(u)

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

create table if not exists public.tenants (
    id                uuid primary key default gen_random_uuid(),
    slug              text not null unique
                      check (slug ~ '^[a-z0-9][a-z0-9-]*$'),
    name              text not null,
    type              text not null default 'industry'
                      check (type in ('platform', 'industry', 'enterprise', 'partner')),
    subscription_tier text not null default 'free'
                      check (subscription_tier in ('free', 'starter', 'professional', 'enterprise')),
    status            text not null default 'active'
                      check (status in ('active', 'suspended', 'archived')),
    settings          jsonb not null default '{}'::jsonb,
    created_at        timestamp with time zone not null default now(),
    updated_at        timestamp with time zone not null default now()
);

create table if not exists public.user_tenants (
    id         uuid primary key default gen_random_uuid(),
    user_id    uuid not null references auth.users (id) on delete cascade,
    tenant_id  uuid not null references public.tenants (id) on delete cascade,
    role       text not null default 'member'
               check (role in ('owner', 'admin', 'member', 'viewer')),
    created_at timestamp with time zone not null default now(),
    updated_at timestamp with time zone not null default now(),
    unique (user_id, tenant_id)
);

create index if not exists idx_user_tenants_tenant_id on public.user_tenants (tenant_id);

create table if not exists public.user_roles (
    id         uuid primary key default gen_random_uuid(),
    user_id    uuid not null references auth.users (id) on delete cascade,
    role       text not null check (role <> ''),
    created_at timestamp with time zone not null default now(),
    unique (user_id, role)
);

-- ---------------------------------------------------------------------------
-- Helpers (SECURITY DEFINER: they read the tenancy tables without RLS, so the
-- policies below never recurse)
--
-- PL/pgSQL rather than SQL: a SQL function with a SET clause is neither inlined
-- nor plan-cached, so every policy check would parse and plan each helper again.
-- PL/pgSQL keeps the plans for the session; the semantics are the same (a STABLE
-- function sees the calling statement's snapshot either way).
-- ---------------------------------------------------------------------------

-- The caller bypasses RLS anyway: service_role, or the owner / a superuser
-- session that did no SET ROLE. current_setting('role') is the SET ROLE made
-- outside this function ('none' without one); SECURITY DEFINER does not change it.
create or replace function public.is_privileged_caller()
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce((
            select r.rolsuper or r.rolbypassrls
            from pg_catalog.pg_roles r
            where r.rolname = case
                when pg_catalog.current_setting('role') = 'none' then session_user::text
                else pg_catalog.current_setting('role')
            end
        ), false)
    );
end
$$;

-- P(u)
create or replace function public.is_platform_admin()
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select exists (
            select 1
            from public.user_roles ur
            where ur.user_id = auth.uid()
              and ur.role = 'platform_admin'
        )
    );
end
$$;

-- M(u)
create or replace function public.user_tenant_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(ut.tenant_id order by ut.tenant_id), '{}'::uuid[])
        from public.user_tenants ut
        where ut.user_id = auth.uid()
    );
end
$$;

-- W(u)
create or replace function public.user_writer_tenant_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(ut.tenant_id order by ut.tenant_id), '{}'::uuid[])
        from public.user_tenants ut
        where ut.user_id = auth.uid()
          and ut.role in ('owner', 'admin')
    );
end
$$;

-- The tenant context stored by set_tenant_context(): NULL when unset or empty,
-- and NULL too (never an error) when the setting is not a valid uuid.
create or replace function public.current_tenant_id()
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select case
            when s ~ '^(\{[0-9a-fA-F]{4}(-?[0-9a-fA-F]{4}){7}\}|[0-9a-fA-F]{4}(-?[0-9a-fA-F]{4}){7})$'
            then s::uuid
        end
        from (select nullif(pg_catalog.current_setting('app.current_tenant_id', true), '') as s) c
    );
end
$$;

-- E(u): M(u) without a context; {context} ∩ M(u) with one. A context naming a
-- tenant u does not belong to, or a malformed one, gives the empty set.
create or replace function public.user_effective_tenant_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select case
            when nullif(pg_catalog.current_setting('app.current_tenant_id', true), '') is null
                then public.user_tenant_ids()
            when public.current_tenant_id() = any (public.user_tenant_ids())
                then array[public.current_tenant_id()]
            else '{}'::uuid[]
        end
    );
end
$$;

-- E(u) ∩ W(u): the tenants u may write resources of, in the current context
create or replace function public.user_effective_writer_tenant_ids()
returns uuid[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return (
        select coalesce(array_agg(t order by t), '{}'::uuid[])
        from unnest(public.user_effective_tenant_ids()) as t
        where t = any (public.user_writer_tenant_ids())
    );
end
$$;

-- Guard shared by the functions that take a tenant id (set_tenant_context,
-- get_accessible_*): service_role and the owner may name any tenant; an
-- authenticated user may name a tenant of M(u), or any tenant when P(u);
-- everyone else (anon, claims without sub) gets SQLSTATE 42501.
create or replace function public.assert_tenant_access(p_tenant_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    if public.is_privileged_caller() then
        return;
    end if;
    if auth.uid() is null then
        raise exception 'not authenticated'
            using errcode = 'insufficient_privilege';
    end if;
    if public.is_platform_admin() or p_tenant_id = any (public.user_tenant_ids()) then
        return;
    end if;
    raise exception 'no access to tenant %', p_tenant_id
        using errcode = 'insufficient_privilege';
end
$$;

grant execute on function
    public.is_privileged_caller(),
    public.is_platform_admin(),
    public.user_tenant_ids(),
    public.user_writer_tenant_ids(),
    public.current_tenant_id(),
    public.user_effective_tenant_ids(),
    public.user_effective_writer_tenant_ids(),
    public.assert_tenant_access(uuid)
to authenticated, service_role;

-- ---------------------------------------------------------------------------
-- Row-level security of the tenancy tables (the tenant context is ignored here)
-- ---------------------------------------------------------------------------

alter table public.tenants      enable row level security;
alter table public.user_tenants enable row level security;
alter table public.user_roles   enable row level security;

-- The API roles reach the tables through the policies below; the grants are explicit,
-- because Supabase no longer gives new tables to the API roles by default.
grant select, insert, update, delete on public.tenants, public.user_tenants, public.user_roles
    to anon, authenticated;
grant all on public.tenants, public.user_tenants, public.user_roles to service_role;

-- TRUNCATE ignores RLS, and TRIGGER / REFERENCES are no business of API users
revoke truncate, references, trigger on public.tenants, public.user_tenants, public.user_roles
    from anon, authenticated;

-- tenants: read when P(u) or the tenant is in M(u); write only when P(u)
drop policy if exists tenants_select on public.tenants;
create policy tenants_select on public.tenants
    for select to authenticated
    using ((select public.is_platform_admin())
           or id = any ((select public.user_tenant_ids())::uuid[]));

drop policy if exists tenants_insert on public.tenants;
create policy tenants_insert on public.tenants
    for insert to authenticated
    with check ((select public.is_platform_admin()));

drop policy if exists tenants_update on public.tenants;
create policy tenants_update on public.tenants
    for update to authenticated
    using ((select public.is_platform_admin()))
    with check ((select public.is_platform_admin()));

drop policy if exists tenants_delete on public.tenants;
create policy tenants_delete on public.tenants
    for delete to authenticated
    using ((select public.is_platform_admin()));

-- user_tenants: read when P(u), own row, or the row's tenant is in W(u);
-- write when P(u), or (tenant in W(u), not u's own row, role not owner) for the
-- old and the new row.
drop policy if exists user_tenants_select on public.user_tenants;
create policy user_tenants_select on public.user_tenants
    for select to authenticated
    using ((select public.is_platform_admin())
           or user_id = (select auth.uid())
           or tenant_id = any ((select public.user_writer_tenant_ids())::uuid[]));

drop policy if exists user_tenants_insert on public.user_tenants;
create policy user_tenants_insert on public.user_tenants
    for insert to authenticated
    with check ((select public.is_platform_admin())
                or (tenant_id = any ((select public.user_writer_tenant_ids())::uuid[])
                    and user_id <> (select auth.uid())
                    and role <> 'owner'));

drop policy if exists user_tenants_update on public.user_tenants;
create policy user_tenants_update on public.user_tenants
    for update to authenticated
    using ((select public.is_platform_admin())
           or (tenant_id = any ((select public.user_writer_tenant_ids())::uuid[])
               and user_id <> (select auth.uid())
               and role <> 'owner'))
    with check ((select public.is_platform_admin())
                or (tenant_id = any ((select public.user_writer_tenant_ids())::uuid[])
                    and user_id <> (select auth.uid())
                    and role <> 'owner'));

drop policy if exists user_tenants_delete on public.user_tenants;
create policy user_tenants_delete on public.user_tenants
    for delete to authenticated
    using ((select public.is_platform_admin())
           or (tenant_id = any ((select public.user_writer_tenant_ids())::uuid[])
               and user_id <> (select auth.uid())
               and role <> 'owner'));

-- user_roles: read when P(u) or own row; write only when P(u)
drop policy if exists user_roles_select on public.user_roles;
create policy user_roles_select on public.user_roles
    for select to authenticated
    using ((select public.is_platform_admin())
           or user_id = (select auth.uid()));

drop policy if exists user_roles_insert on public.user_roles;
create policy user_roles_insert on public.user_roles
    for insert to authenticated
    with check ((select public.is_platform_admin()));

drop policy if exists user_roles_update on public.user_roles;
create policy user_roles_update on public.user_roles
    for update to authenticated
    using ((select public.is_platform_admin()))
    with check ((select public.is_platform_admin()));

drop policy if exists user_roles_delete on public.user_roles;
create policy user_roles_delete on public.user_roles
    for delete to authenticated
    using ((select public.is_platform_admin()));

do $$
begin
    raise notice 'Migration 20251026000001 completed successfully';
end
$$;
