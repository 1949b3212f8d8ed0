-- lint: policy-for-public public.agents
-- A policy without `to`: it applies to PUBLIC, anon included.
create policy agents_global_for_everyone on public.agents for select
    using (sharing_mode = 'global');
