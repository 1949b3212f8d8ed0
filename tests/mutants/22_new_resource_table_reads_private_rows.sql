-- invariant: class-bound
-- object: public.datasets
-- A fifth resource table whose read policy forgets private rows: every signed-in user
-- reads every tenant's private datasets. Held to the resource rules exactly.
create table public.datasets (
    like public.agents including defaults including constraints including indexes
);
alter table public.datasets
    add foreign key (tenant_id) references public.tenants (id);
alter table public.datasets enable row level security;
grant select, insert, update, delete on public.datasets to authenticated;
revoke truncate, references, trigger on public.datasets from anon, authenticated;

create policy datasets_select_with_sharing on public.datasets for select to authenticated
    using ((select auth.uid()) is not null
           and ((select public.is_platform_admin())
                or sharing_mode <> 'selective'
                or (sharing_mode = 'selective'
                    and shared_with && (select public.user_effective_tenant_ids()))));
create policy datasets_insert_with_sharing on public.datasets for insert to authenticated
    with check ((select public.is_platform_admin())
                or (tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[])
                    and sharing_mode <> 'global'
                    and resource_type <> 'platform'));
create policy datasets_update_with_sharing on public.datasets for update to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))
    with check ((select public.is_platform_admin())
                or (tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[])
                    and sharing_mode <> 'global'
                    and resource_type <> 'platform'));
create policy datasets_delete_with_sharing on public.datasets for delete to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));
