-- invariant: function-guard derived-containment
-- get_accessible_agents returns what tenant p_tenant_id may read without asking
-- whether the caller belongs to it.
create or replace function public.get_accessible_agents(p_tenant_id uuid)
returns setof public.agents
language sql
stable
security definer
set search_path = ''
as $$
    select r.* from public.agents r
    where r.tenant_id = p_tenant_id
       or r.sharing_mode = 'global'
       or (r.sharing_mode = 'selective' and p_tenant_id = any (r.shared_with));
$$;
