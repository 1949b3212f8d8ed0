-- invariant: derived-containment
-- object: public.tenant_agents
-- A SECURITY DEFINER function that returns the agents of the tenant it is given,
-- without asking whether the caller belongs to it.
create function public.tenant_agents(p_tenant_id uuid)
returns setof public.agents
language sql
stable
security definer
set search_path = ''
as $$
    select * from public.agents where tenant_id = p_tenant_id
$$;
revoke execute on function public.tenant_agents(uuid) from public, anon;
grant execute on function public.tenant_agents(uuid) to authenticated;
