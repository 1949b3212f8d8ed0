-- A new column on a resource table: nothing about access changes.
alter table public.agents add column if not exists languages text[] not null default '{}';
