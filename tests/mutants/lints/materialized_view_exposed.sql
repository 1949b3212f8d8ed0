-- lint: materialized-view-exposed public.agent_counts
-- A materialized view in an exposed schema: it has no row security at all.
create materialized view public.agent_counts as
    select tenant_id, count(*) as agents from public.agents group by tenant_id;
grant select on public.agent_counts to authenticated;
