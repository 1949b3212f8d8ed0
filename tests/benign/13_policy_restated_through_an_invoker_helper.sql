-- The agents read policy restated through a SECURITY INVOKER helper: it runs with the
-- caller's rights, so it can show nothing the caller cannot read (class `invoker`).
create or replace function public.can_read_resource(
    p_tenant_id uuid, p_sharing_mode text, p_shared_with uuid[])
returns boolean
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    return (select auth.uid()) is not null
        and ((select public.is_platform_admin())
             or p_tenant_id = any ((select public.user_effective_tenant_ids())::uuid[])
             or p_sharing_mode = 'global'
             or (p_sharing_mode = 'selective'
                 and p_shared_with && (select public.user_effective_tenant_ids())));
end
$$;
grant execute on function public.can_read_resource(uuid, text, uuid[]) to authenticated;

drop policy agents_select_with_sharing on public.agents;
create policy agents_select_with_sharing on public.agents for select to authenticated
    using (public.can_read_resource(tenant_id, sharing_mode, shared_with));
