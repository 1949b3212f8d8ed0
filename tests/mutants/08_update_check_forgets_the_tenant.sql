-- invariant: write-isolation
-- The agents UPDATE policy checks the old row but its WITH CHECK forgets the tenant:
-- a writer can move its row into another tenant.
drop policy agents_update_with_sharing on public.agents;
create policy agents_update_with_sharing on public.agents for update to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[]))
    with check ((select public.is_platform_admin())
                or (sharing_mode <> 'global' and resource_type <> 'platform'));
