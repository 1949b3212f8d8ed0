-- 20251026000002_add_tenant_columns_to_resources.sql
--
-- Adds the five tenant columns (tenant_id, is_shared, sharing_mode,
-- shared_with, resource_type) to agents, creates tools, prompts and workflows
-- with the same columns, and indexes them. Existing agents keep their data and
-- start unassigned and private (tenant_id NULL, is_shared false).
--
-- The plan let this migration fail on tables that may not exist; this one
-- raises no error: whatever may be missing is guarded with to_regclass.
-- Idempotent.

-- ---------------------------------------------------------------------------
-- agents: the five tenant columns
-- ---------------------------------------------------------------------------

do $$
begin
    if to_regclass('public.agents') is null then
        raise notice 'public.agents does not exist, tenant columns not added';
        return;
    end if;

    alter table public.agents
        add column if not exists tenant_id uuid references public.tenants (id),
        add column if not exists is_shared boolean not null default false,
        add column if not exists sharing_mode text not null default 'private'
            check (sharing_mode in ('private', 'selective', 'global')),
        add column if not exists shared_with uuid[] not null default '{}'::uuid[],
        add column if not exists resource_type text not null default 'custom'
            check (resource_type in ('platform', 'custom'));

    if not exists (
        select 1 from pg_catalog.pg_constraint
        where conrelid = 'public.agents'::regclass
          and conname = 'agents_is_shared_matches_sharing_mode'
    ) then
        alter table public.agents
            add constraint agents_is_shared_matches_sharing_mode
            check (is_shared = (sharing_mode <> 'private'));
    end if;

    create index if not exists idx_agents_tenant_id    on public.agents (tenant_id);
    create index if not exists idx_agents_sharing_mode on public.agents (sharing_mode);
    create index if not exists idx_agents_shared_with  on public.agents using gin (shared_with);
end
$$;

-- ---------------------------------------------------------------------------
-- tools, prompts, workflows
-- ---------------------------------------------------------------------------

create table if not exists public.tools (
    id            uuid primary key default gen_random_uuid(),
    name          text not null,
    description   text,
    tool_type     text not null default 'function'
                  check (tool_type in ('function', 'api', 'retrieval', 'integration')),
    config        jsonb not null default '{}'::jsonb,
    input_schema  jsonb not null default '{}'::jsonb,
    is_active     boolean not null default true,
    created_by    uuid references auth.users (id) on delete set null,
    created_at    timestamp with time zone not null default now(),
    updated_at    timestamp with time zone not null default now(),
    tenant_id     uuid references public.tenants (id),
    is_shared     boolean not null default false,
    sharing_mode  text not null default 'private'
                  check (sharing_mode in ('private', 'selective', 'global')),
    shared_with   uuid[] not null default '{}'::uuid[],
    resource_type text not null default 'custom'
                  check (resource_type in ('platform', 'custom')),
    constraint tools_is_shared_matches_sharing_mode
        check (is_shared = (sharing_mode <> 'private'))
);

create table if not exists public.prompts (
    id            uuid primary key default gen_random_uuid(),
    name          text not null,
    description   text,
    content       text not null,
    category      text,
    variables     text[] not null default '{}',
    version       integer not null default 1 check (version > 0),
    created_by    uuid references auth.users (id) on delete set null,
    created_at    timestamp with time zone not null default now(),
    updated_at    timestamp with time zone not null default now(),
    tenant_id     uuid references public.tenants (id),
    is_shared     boolean not null default false,
    sharing_mode  text not null default 'private'
                  check (sharing_mode in ('private', 'selective', 'global')),
    shared_with   uuid[] not null default '{}'::uuid[],
    resource_type text not null default 'custom'
                  check (resource_type in ('platform', 'custom')),
    constraint prompts_is_shared_matches_sharing_mode
        check (is_shared = (sharing_mode <> 'private'))
);

create table if not exists public.workflows (
    id            uuid primary key default gen_random_uuid(),
    name          text not null,
    description   text,
    definition    jsonb not null default '{}'::jsonb,
    status        text not null default 'draft'
                  check (status in ('draft', 'active', 'archived')),
    version       integer not null default 1 check (version > 0),
    created_by    uuid references auth.users (id) on delete set null,
    created_at    timestamp with time zone not null default now(),
    updated_at    timestamp with time zone not null default now(),
    tenant_id     uuid references public.tenants (id),
    is_shared     boolean not null default false,
    sharing_mode  text not null default 'private'
                  check (sharing_mode in ('private', 'selective', 'global')),
    shared_with   uuid[] not null default '{}'::uuid[],
    resource_type text not null default 'custom'
                  check (resource_type in ('platform', 'custom')),
    constraint workflows_is_shared_matches_sharing_mode
        check (is_shared = (sharing_mode <> 'private'))
);

-- Explicit grants (Supabase no longer gives new tables to the API roles by default);
-- row security denies every row until migration 3 adds the policies.
grant select, insert, update, delete on public.tools, public.prompts, public.workflows
    to anon, authenticated;
grant all on public.tools, public.prompts, public.workflows to service_role;

alter table public.tools     enable row level security;
alter table public.prompts   enable row level security;
alter table public.workflows enable row level security;

create index if not exists idx_tools_tenant_id        on public.tools (tenant_id);
create index if not exists idx_tools_sharing_mode     on public.tools (sharing_mode);
create index if not exists idx_tools_shared_with      on public.tools using gin (shared_with);
create index if not exists idx_prompts_tenant_id      on public.prompts (tenant_id);
create index if not exists idx_prompts_sharing_mode   on public.prompts (sharing_mode);
create index if not exists idx_prompts_shared_with    on public.prompts using gin (shared_with);
create index if not exists idx_workflows_tenant_id    on public.workflows (tenant_id);
create index if not exists idx_workflows_sharing_mode on public.workflows (sharing_mode);
create index if not exists idx_workflows_shared_with  on public.workflows using gin (shared_with);

do $$
begin
    raise notice 'Migration 20251026000002 completed successfully';
end
$$;
