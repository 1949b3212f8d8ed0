-- lint: owner-rights-view public.agent_directory
-- A view over agents without security_invoker: it reads agents with its owner's rights,
-- past every policy, and it is granted to the API roles.
create view public.agent_directory as
    select id, tenant_id, name, sharing_mode from public.agents;
grant select on public.agent_directory to authenticated;
