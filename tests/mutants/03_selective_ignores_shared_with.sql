-- invariant: selective-sharing
-- Selective sharing is read as "shared": every authenticated user reads selective
-- rows, whatever shared_with says.
drop policy tools_select_with_sharing on public.tools;
create policy tools_select_with_sharing on public.tools for select to authenticated using (
    (select auth.uid()) is not null
    and ((select public.is_platform_admin())
         or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[])
         or sharing_mode in ('global', 'selective')));
