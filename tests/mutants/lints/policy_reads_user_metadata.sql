-- lint: policy-reads-user-metadata public.agents
-- A policy that trusts the tenant the user's own metadata names: every user edits its
-- user_metadata.
create policy agents_metadata_tenant on public.agents for select to authenticated
    using (tenant_id::text = (auth.jwt() -> 'user_metadata' ->> 'tenant_id'));
