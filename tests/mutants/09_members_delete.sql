-- invariant: write-isolation
-- The delete policy checks membership, not the writer role: members and viewers
-- delete their tenant's agents.
drop policy agents_delete_with_sharing on public.agents;
create policy agents_delete_with_sharing on public.agents for delete to authenticated
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));
