-- lint: auth-users-exposed public.user_directory
-- A view over auth.users with its owner's rights: every user's email to every caller.
create view public.user_directory as select id, email from auth.users;
grant select on public.user_directory to authenticated;
