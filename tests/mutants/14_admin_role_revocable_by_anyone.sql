-- invariant: write-isolation private-hiding anon-denied
-- user_roles is readable by everyone and its DELETE policy forgets to ask for a
-- platform admin: any user can strip a platform admin of its role. (The DELETE policy
-- alone would be harmless: a DELETE reaches only the rows the SELECT policy shows.)
alter policy user_roles_select on public.user_roles using (true);
alter policy user_roles_delete on public.user_roles using (true);
