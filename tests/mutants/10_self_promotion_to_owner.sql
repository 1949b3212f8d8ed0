-- invariant: no-escalation
-- The membership update policy forgets to exclude the caller's own row: a writer
-- can raise itself to owner.
drop policy user_tenants_update on public.user_tenants;
create policy user_tenants_update on public.user_tenants for update to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_writer_tenant_ids())::uuid[]))
    with check ((select public.is_platform_admin())
                or tenant_id = any ((select public.user_writer_tenant_ids())::uuid[]));
