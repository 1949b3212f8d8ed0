-- A SECURITY DEFINER function that returns the agents of the caller's effective
-- tenants: it reads with its owner's rights, and returns only what the caller may read.
create function public.my_tenant_agents()
returns setof public.agents
language sql
stable
security definer
set search_path = ''
as $$
    select * from public.agents
    where tenant_id = any ((select public.user_effective_tenant_ids())::uuid[])
$$;
revoke execute on function public.my_tenant_agents() from public, anon;
grant execute on function public.my_tenant_agents() to authenticated;
