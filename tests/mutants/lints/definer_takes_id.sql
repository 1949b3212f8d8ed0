-- lint: definer-takes-id public.agents_of_tenant(uuid)
-- A SECURITY DEFINER function that takes a tenant id (reported as a warning: it must
-- check the caller, and only the probes can tell whether it does).
create function public.agents_of_tenant(p_tenant_id uuid)
returns setof public.agents
language sql
stable
security definer
set search_path = ''
as $$ select * from public.agents where tenant_id = p_tenant_id $$;
