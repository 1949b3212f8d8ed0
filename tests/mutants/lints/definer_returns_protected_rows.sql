-- lint: definer-returns-protected-rows public.agent_by_name(text)
-- A SECURITY DEFINER function that returns agents (a table with row security) with its
-- owner's rights: only its own filter stands between the caller and every agent
-- (a warning: the probes judge what it hands back).
create function public.agent_by_name(p_name text)
returns setof public.agents
language sql
stable
security definer
set search_path = ''
as $$ select * from public.agents where name = p_name $$;
