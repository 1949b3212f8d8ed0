-- lint: rls-disabled public.visits_2026
-- A partitioned table with row security on its parent only, and partitions granted to
-- the API: a request that names a partition reads its rows past the parent's policies.
-- The partitions' fixture rows go inside their bounds, so they are probed too.
create table public.visits (
    id         uuid not null default gen_random_uuid(),
    tenant_id  uuid not null references public.tenants (id),
    visited_on date not null,
    primary key (id, visited_on)
) partition by range (visited_on);
create table public.visits_2025 partition of public.visits
    for values from ('2025-01-01') to ('2026-01-01');
create table public.visits_2026 partition of public.visits
    for values from ('2026-01-01') to ('2027-01-01');
alter table public.visits enable row level security;
create policy visits_select on public.visits for select to authenticated
    using (tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));
grant select on public.visits, public.visits_2025, public.visits_2026 to authenticated;
