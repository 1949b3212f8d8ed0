-- A partitioned tenant table secured on its parent, the partitions reached only
-- through it: row security on the parent applies to every row, and the partitions are
-- granted to no API role (Supabase's default privileges would grant them).
create table public.visits (
    id         uuid not null default gen_random_uuid(),
    tenant_id  uuid not null references public.tenants (id),
    visited_on date not null,
    note       text,
    primary key (id, visited_on)
) partition by range (visited_on);
create table public.visits_2025 partition of public.visits
    for values from ('2025-01-01') to ('2026-01-01');
create table public.visits_2026 partition of public.visits
    for values from ('2026-01-01') to ('2027-01-01');
revoke all on public.visits_2025, public.visits_2026 from anon, authenticated;

alter table public.visits enable row level security;
grant select, insert, update, delete on public.visits to authenticated;
revoke truncate, references, trigger on public.visits from anon, authenticated;
create policy visits_select on public.visits for select to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));
create policy visits_write on public.visits for all to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))
    with check ((select public.is_platform_admin())
                or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));
