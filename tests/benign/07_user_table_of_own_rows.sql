-- A user table: each user reads and writes its own preferences, nobody else's.
create table public.user_preferences (
    user_id    uuid primary key references auth.users (id) on delete cascade,
    theme      text not null default 'light',
    locale     text not null
);
alter table public.user_preferences enable row level security;
grant select, insert, update, delete on public.user_preferences to authenticated;
revoke truncate, references, trigger on public.user_preferences from anon, authenticated;
create policy user_preferences_own on public.user_preferences for all to authenticated
    using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
