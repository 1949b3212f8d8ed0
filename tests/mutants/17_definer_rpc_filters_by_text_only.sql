-- invariant: derived-containment
-- object: public.search_agents
-- A SECURITY DEFINER search with a fixed search_path (so no lint fires) that filters
-- agents only by its text argument: a member reads other tenants' private agents.
create function public.search_agents(p_query text)
returns setof public.agents
language sql
stable
security definer
set search_path = ''
as $$
    select * from public.agents where name ilike '%' || p_query || '%'
$$;
revoke execute on function public.search_agents(text) from public, anon;
grant execute on function public.search_agents(text) to authenticated;
