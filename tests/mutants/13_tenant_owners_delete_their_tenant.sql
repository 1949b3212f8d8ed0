-- invariant: write-isolation
-- The tenants DELETE policy lets a writer delete its own tenant (and, by cascade, every
-- membership of it).
alter policy tenants_delete on public.tenants
    using ((select public.is_platform_admin())
           or id = any ((select public.user_writer_tenant_ids())::uuid[]));
