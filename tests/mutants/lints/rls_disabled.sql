-- lint: rls-disabled public.documents
-- A new tenant table, with all five sharing columns even, whose row security was never
-- enabled: the default privileges give every row to anon and authenticated.
create table public.documents (
    id            uuid primary key default gen_random_uuid(),
    tenant_id     uuid not null references public.tenants (id),
    title         text not null,
    is_shared     boolean not null default false,
    sharing_mode  text not null default 'private',
    shared_with   uuid[] not null default '{}',
    resource_type text not null default 'custom'
);
grant select, insert, update, delete on public.documents to authenticated;
