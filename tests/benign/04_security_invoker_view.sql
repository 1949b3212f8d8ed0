-- A view over agents that reads with the caller's rights: it shows what the caller's
-- policies show, and nothing more.
create view public.agent_directory with (security_invoker = true) as
    select id, tenant_id, name, sharing_mode from public.agents;
grant select on public.agent_directory to authenticated;
