-- invariant: context-forgery
-- The agents read policy trusts the tenant context on its own: whoever sets
-- app.current_tenant_id to a tenant reads its private agents, member or not.
drop policy agents_select_with_sharing on public.agents;
create policy agents_select_with_sharing on public.agents for select to authenticated using (
    (select auth.uid()) is not null
    and ((select public.is_platform_admin())
         or tenant_id = (select public.current_tenant_id())
         or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[])
         or sharing_mode = 'global'
         or (sharing_mode = 'selective' and shared_with && (select public.user_effective_tenant_ids()))));
