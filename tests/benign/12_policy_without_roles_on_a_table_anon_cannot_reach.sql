-- A tenant table whose read policy names no roles (so it is written for PUBLIC), on a
-- table only authenticated may read: anon holds no privilege on it, so the policy
-- reaches signed-in users only, as the starters' billing tables are written.
create table public.invoices (
    id        uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references public.tenants (id),
    total     numeric not null default 0
);
alter table public.invoices enable row level security;
revoke all on public.invoices from anon, authenticated;
grant select on public.invoices to authenticated;

create policy invoices_select on public.invoices for select
    using ((select public.is_platform_admin())
           or tenant_id = any ((select public.user_effective_tenant_ids())::uuid[]));
