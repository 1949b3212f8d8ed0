-- invariant: class-bound
-- object: public.agent_versions
-- Versions of an agent whose read policy forgets the parent: the versions of another
-- tenant's private agent are readable by every signed-in user.
create table public.agent_versions (
    id         uuid primary key default gen_random_uuid(),
    agent_id   uuid not null references public.agents (id) on delete cascade,
    prompt     text not null
);
alter table public.agent_versions enable row level security;
grant select on public.agent_versions to authenticated;
create policy agent_versions_select on public.agent_versions for select to authenticated
    using ((select auth.uid()) is not null);
