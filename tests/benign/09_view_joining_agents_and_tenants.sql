-- A view that joins agents with their tenant's name, with the caller's rights: each
-- row is an agent the caller reads, whatever tenant key it also shows.
create view public.agents_with_tenant with (security_invoker = true) as
    select a.id, a.name, a.tenant_id, t.name as tenant_name
    from public.agents a
    join public.tenants t on t.id = a.tenant_id;
grant select on public.agents_with_tenant to authenticated;
