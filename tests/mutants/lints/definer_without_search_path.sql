-- lint: definer-without-search-path public.count_agents()
-- A SECURITY DEFINER function that resolves names through the caller's search_path: the
-- caller can put a schema of its own in front and run code as the owner.
create function public.count_agents()
returns bigint
language sql
stable
security definer
as $$ select count(*) from public.agents $$;
