-- invariant: no-escalation
-- A user may write its own user_roles rows, so it can make itself a platform admin.
drop policy user_roles_insert on public.user_roles;
create policy user_roles_insert on public.user_roles for insert to authenticated
    with check ((select public.is_platform_admin()) or user_id = (select auth.uid()));
