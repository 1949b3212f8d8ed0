-- invariant: derived-containment
-- object: public.agent_by_id
-- A SECURITY DEFINER function that looks an agent up by the agent's own id: whoever
-- knows (or guesses) an id reads that agent, private or not, in any tenant.
create function public.agent_by_id(p_id uuid)
returns setof public.agents
language sql
stable
security definer
set search_path = ''
as $$
    select * from public.agents where id = p_id
$$;
revoke execute on function public.agent_by_id(uuid) from public, anon;
grant execute on function public.agent_by_id(uuid) to authenticated;
