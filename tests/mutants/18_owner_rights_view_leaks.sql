-- invariant: derived-containment
-- object: public.agent_catalogue
-- A view over agents with its owner's rights (no security_invoker). A reviewer could
-- allow the owner-rights-view lint for it in rls-harness.toml; the allowance silences
-- the lint, and only the containment probe still sees every private agent leak.
create view public.agent_catalogue as
    select id, tenant_id, name, sharing_mode from public.agents;
grant select on public.agent_catalogue to authenticated;
