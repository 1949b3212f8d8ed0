-- Versions of an agent: a child table whose rows follow their parent agent, read when
-- the agent is readable and written when the agent may be updated.
create table public.agent_versions (
    id         uuid primary key default gen_random_uuid(),
    agent_id   uuid not null references public.agents (id),
    prompt     text not null,
    created_at timestamp with time zone not null default now()
);
alter table public.agent_versions enable row level security;
grant select, insert, update, delete on public.agent_versions to authenticated;
-- Under legacy default privileges the API roles got these too.
revoke truncate, references, trigger on public.agent_versions from anon, authenticated;

-- The parent's own policies decide: a subquery on agents sees only the agents the
-- caller may read (and, for writes, only those it may update: the writer rule).
create policy agent_versions_select on public.agent_versions for select to authenticated
    using (exists (select 1 from public.agents a where a.id = agent_id));
create policy agent_versions_write on public.agent_versions for all to authenticated
    using (exists (select 1 from public.agents a where a.id = agent_id
                   and ((select public.is_platform_admin())
                        or a.tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))))
    with check (exists (select 1 from public.agents a where a.id = agent_id
                   and ((select public.is_platform_admin())
                        or a.tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))));
