-- invariant: write-isolation
-- Tenant writers may insert global resources: publishing is no longer reserved to
-- platform admins.
drop policy agents_insert_with_sharing on public.agents;
create policy agents_insert_with_sharing on public.agents for insert to authenticated with check (
    (select public.is_platform_admin())
    or (tenant_id = any ((select public.user_effective_writer_tenant_ids())::uuid[])
        and resource_type <> 'platform'));
