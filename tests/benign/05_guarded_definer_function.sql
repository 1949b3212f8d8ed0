-- A SECURITY DEFINER function that takes a tenant id and checks the caller first.
create function public.agent_count(p_tenant_id uuid)
returns bigint
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    perform public.assert_tenant_access(p_tenant_id);
    return (select count(*) from public.agents where tenant_id = p_tenant_id);
end
$$;
revoke execute on function public.agent_count(uuid) from public, anon;
grant execute on function public.agent_count(uuid) to authenticated;
