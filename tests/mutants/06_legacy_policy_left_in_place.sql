-- invariant: private-hiding anon-denied
-- The Supabase dashboard's default policy survives the migration: permissive
-- policies are OR-ed, so everyone reads every agent.
create policy "Enable read access for all users" on public.agents for select using (true);
