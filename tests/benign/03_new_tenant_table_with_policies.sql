-- A new tenant table, secured like the access model's tenant class: members read their
-- tenant's rows in their context, writers write them, nobody moves one to another tenant.
create table public.care_notes (
    id         uuid primary key default gen_random_uuid(),
    tenant_id  uuid not null references public.tenants (id),
    body       text not null,
    created_at timestamp with time zone not null default now()
);
alter table public.care_notes enable row level security;
grant select, insert, update, delete on public.care_notes to authenticated;
-- Under legacy default privileges the API roles got these too.
revoke truncate, references, trigger on public.care_notes from anon, authenticated;

create policy care_notes_select on public.care_notes for select to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));
create policy care_notes_insert on public.care_notes for insert to authenticated
    with check ((select public.is_platform_admin())
                or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));
create policy care_notes_update on public.care_notes for update to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))
    with check ((select public.is_platform_admin())
                or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));
create policy care_notes_delete on public.care_notes for delete to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));
