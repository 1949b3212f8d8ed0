-- 20251026000004_seed_mvp_tenants.sql
--
-- Seeds the two MVP tenants, assigns the three existing agents to the platform
-- tenant as globally shared platform resources, adds sample platform tools and
-- prompts, and creates the functions for tenant context and user assignment.
-- Idempotent: a second run inserts nothing and updates nothing (so it writes
-- no audit row either).

-- ---------------------------------------------------------------------------
-- Tenants
-- ---------------------------------------------------------------------------

insert into public.tenants (id, slug, name, type, subscription_tier, status, settings)
values
    ('00000000-0000-0000-0000-000000000001', 'vital-platform', 'VITAL Platform',
     'platform', 'enterprise', 'active', '{"is_platform": true}'::jsonb),
    ('00000000-0000-0000-0000-000000000002', 'digital-health-startup', 'Digital Health Startup',
     'industry', 'professional', 'active', '{}'::jsonb)
on conflict do nothing;

-- ---------------------------------------------------------------------------
-- The three existing agents become global platform resources. Only agents
-- that are still unassigned are touched, so a second run changes nothing.
-- ---------------------------------------------------------------------------

update public.agents
set tenant_id     = '00000000-0000-0000-0000-000000000001',
    is_shared     = true,
    sharing_mode  = 'global',
    shared_with   = '{}'::uuid[],
    resource_type = 'platform'
where id in ('a0000000-0000-4000-8000-000000000001',
             'a0000000-0000-4000-8000-000000000002',
             'a0000000-0000-4000-8000-000000000003')
  and tenant_id is null;

-- ---------------------------------------------------------------------------
-- Sample platform tools and prompts, shared globally
-- ---------------------------------------------------------------------------

insert into public.tools (id, name, description, tool_type, config,
                          tenant_id, is_shared, sharing_mode, shared_with, resource_type)
values
    ('b0000000-0000-4000-8000-000000000001', 'PubMed Search',
     'Searches PubMed for peer-reviewed literature.', 'api',
     '{"endpoint": "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/esearch.fcgi"}'::jsonb,
     '00000000-0000-0000-0000-000000000001', true, 'global', '{}', 'platform'),
    ('b0000000-0000-4000-8000-000000000002', 'FDA Device Lookup',
     'Looks up 510(k) clearances in the openFDA device database.', 'api',
     '{"endpoint": "https://api.fda.gov/device/510k.json"}'::jsonb,
     '00000000-0000-0000-0000-000000000001', true, 'global', '{}', 'platform'),
    ('b0000000-0000-4000-8000-000000000003', 'Clinical Calculator',
     'Computes common clinical scores (CHA2DS2-VASc, BMI, eGFR).', 'function',
     '{}'::jsonb,
     '00000000-0000-0000-0000-000000000001', true, 'global', '{}', 'platform')
on conflict do nothing;

insert into public.prompts (id, name, description, content, category, variables,
                            tenant_id, is_shared, sharing_mode, shared_with, resource_type)
values
    ('c0000000-0000-4000-8000-000000000001', 'Clinical Evidence Summary',
     'Summarises the clinical evidence on a topic.',
     'Summarise the current clinical evidence on {{topic}}, citing sources and grading their quality.',
     'clinical', array['topic'],
     '00000000-0000-0000-0000-000000000001', true, 'global', '{}', 'platform'),
    ('c0000000-0000-4000-8000-000000000002', 'Regulatory Pathway Assessment',
     'Suggests a regulatory pathway for a device.',
     'Assess the likely FDA and EU MDR pathway for {{device_description}}.',
     'regulatory', array['device_description'],
     '00000000-0000-0000-0000-000000000001', true, 'global', '{}', 'platform')
on conflict do nothing;

-- ---------------------------------------------------------------------------
-- set_tenant_context(tenant): stores the tenant context for the current
-- transaction (set_config(..., true), as PostgREST scopes a request).
-- Callers: P(u) or a member of the tenant; service_role and the owner for any
-- tenant; others (anon, claims without sub) get 42501. NULL clears the context.
-- ---------------------------------------------------------------------------

create or replace function public.set_tenant_context(p_tenant_id uuid)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    if p_tenant_id is null then
        if not public.is_privileged_caller() and auth.uid() is null then
            raise exception 'not authenticated'
                using errcode = 'insufficient_privilege';
        end if;
    else
        perform public.assert_tenant_access(p_tenant_id);
    end if;
    perform pg_catalog.set_config('app.current_tenant_id', coalesce(p_tenant_id::text, ''), true);
end
$$;

-- ---------------------------------------------------------------------------
-- grant_platform_admin(user): adds the platform_admin role.
-- Callers: platform admins, service_role, the owner; others get 42501.
-- ---------------------------------------------------------------------------

create or replace function public.grant_platform_admin(p_user_id uuid)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    if not (public.is_privileged_caller()
            or (auth.uid() is not null and public.is_platform_admin())) then
        raise exception 'only platform admins may grant platform_admin'
            using errcode = 'insufficient_privilege';
    end if;
    if p_user_id is null then
        raise exception 'user id must not be null'
            using errcode = 'invalid_parameter_value';
    end if;
    insert into public.user_roles (user_id, role)
    values (p_user_id, 'platform_admin')
    on conflict (user_id, role) do nothing;
end
$$;

-- ---------------------------------------------------------------------------
-- assign_user_to_dh_startup(user, role): adds or updates the user's membership
-- of digital-health-startup with role admin or member.
-- Checks, in order: anon / claims without sub -> 42501; role other than
-- admin/member -> 22023; then the caller must be a platform admin,
-- service_role, the owner, or someone who may write that user_tenants row
-- (a writer of the tenant, not for its own row, not over an owner) -> else 42501.
-- ---------------------------------------------------------------------------

create or replace function public.assign_user_to_dh_startup(p_user_id uuid, p_role text)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_tenant   constant uuid := '00000000-0000-0000-0000-000000000002';
    v_uid      uuid;
    v_old_role text;
begin
    v_uid := auth.uid();
    if not public.is_privileged_caller() and v_uid is null then
        raise exception 'not authenticated'
            using errcode = 'insufficient_privilege';
    end if;

    if p_role is null or p_role not in ('admin', 'member') then
        raise exception 'role must be admin or member, got %', coalesce(p_role, 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    if p_user_id is null then
        raise exception 'user id must not be null'
            using errcode = 'invalid_parameter_value';
    end if;

    select ut.role into v_old_role
    from public.user_tenants ut
    where ut.user_id = p_user_id and ut.tenant_id = v_tenant;

    if not (public.is_privileged_caller()
            or public.is_platform_admin()
            or (v_tenant = any (public.user_writer_tenant_ids())
                and p_user_id <> v_uid
                and coalesce(v_old_role, '') <> 'owner')) then
        raise exception 'not allowed to assign users to digital-health-startup'
            using errcode = 'insufficient_privilege';
    end if;

    insert into public.user_tenants (user_id, tenant_id, role)
    values (p_user_id, v_tenant, p_role)
    on conflict (user_id, tenant_id) do update
        set role = excluded.role,
            updated_at = now()
        where public.user_tenants.role is distinct from excluded.role;
end
$$;

grant execute on function
    public.set_tenant_context(uuid),
    public.grant_platform_admin(uuid),
    public.assign_user_to_dh_startup(uuid, text)
to authenticated, service_role;

-- The triggers already refreshed it; refreshing again is harmless and makes
-- the view right even if it was created empty elsewhere.
refresh materialized view private.platform_shared_resources;

do $$
declare
    v_tenants  bigint;
    v_assigned bigint;
    v_global   bigint;
    v_tools    bigint;
    v_prompts  bigint;
    v_shared   bigint;
begin
    select count(*) into v_tenants from public.tenants;
    select count(*) into v_assigned from public.agents
        where tenant_id = '00000000-0000-0000-0000-000000000001';
    select count(*) into v_global from public.agents where sharing_mode = 'global';
    select count(*) into v_tools from public.tools;
    select count(*) into v_prompts from public.prompts;
    select count(*) into v_shared from public.mv_platform_shared_resources;

    raise notice 'Migration 20251026000004 completed successfully';
    raise notice 'Tenants: %', v_tenants;
    raise notice 'Agents assigned to vital-platform: %', v_assigned;
    raise notice 'Globally shared agents: %', v_global;
    raise notice 'Tools: %, prompts: %', v_tools, v_prompts;
    raise notice 'Rows in mv_platform_shared_resources: %', v_shared;
end
$$;
