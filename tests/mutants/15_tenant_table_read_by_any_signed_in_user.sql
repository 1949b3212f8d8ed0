-- invariant: class-bound
-- object: public.care_notes
-- A new tenant table whose read policy only asks for a signed-in user: every tenant
-- reads every other tenant's notes. RLS is on and a policy exists, so no lint fires.
create table public.care_notes (
    id         uuid primary key default gen_random_uuid(),
    tenant_id  uuid not null references public.tenants (id),
    body       text not null
);
alter table public.care_notes enable row level security;
grant select, insert, update, delete on public.care_notes to authenticated;
create policy care_notes_select on public.care_notes for select to authenticated
    using ((select auth.uid()) is not null);
create policy care_notes_write on public.care_notes for all to authenticated
    using (tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))
    with check (tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));
