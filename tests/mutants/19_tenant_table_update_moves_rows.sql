-- invariant: class-bound
-- object: public.care_notes
-- A tenant table whose update policy checks only the old row: a writer moves its note
-- into a tenant it does not write for.
create table public.care_notes (
    id         uuid primary key default gen_random_uuid(),
    tenant_id  uuid not null references public.tenants (id),
    body       text not null
);
alter table public.care_notes enable row level security;
grant select, insert, update, delete on public.care_notes to authenticated;
create policy care_notes_select on public.care_notes for select to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));
create policy care_notes_insert on public.care_notes for insert to authenticated
    with check ((select public.is_platform_admin())
                or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));
create policy care_notes_update on public.care_notes for update to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))
    with check (true);
