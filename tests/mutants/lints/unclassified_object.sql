-- lint: unclassified-object public.notes
-- A new table with neither a tenant nor a user column, granted to the API roles, and
-- nothing says whose its rows are.
create table public.notes (
    id   bigint generated always as identity primary key,
    body text not null
);
grant select on public.notes to authenticated;
alter table public.notes enable row level security;
create policy notes_read on public.notes for select to authenticated using (true);
