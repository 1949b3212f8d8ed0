-- invariant: write-isolation
-- The tenants UPDATE policy lets the writers of the tenant in context edit it: the
-- tenancy tables belong to platform admins alone.
alter policy tenants_update on public.tenants
    using ((select public.is_platform_admin())
           or id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))
    with check ((select public.is_platform_admin())
                or id = any ((select public.user_effective_writer_tenant_ids())::uuid[]));
