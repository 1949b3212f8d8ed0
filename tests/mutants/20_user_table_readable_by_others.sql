-- invariant: class-bound
-- object: public.user_preferences
-- A user table whose read policy lets every signed-in user read everyone's rows.
create table public.user_preferences (
    user_id    uuid primary key references auth.users (id) on delete cascade,
    theme      text not null default 'light',
    locale     text not null
);
alter table public.user_preferences enable row level security;
grant select, insert, update on public.user_preferences to authenticated;
create policy user_preferences_select on public.user_preferences for select to authenticated
    using ((select auth.uid()) is not null);
create policy user_preferences_write on public.user_preferences for all to authenticated
    using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
