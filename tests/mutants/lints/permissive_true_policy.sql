-- lint: permissive-true-policy public.patients
-- A new tenant table with row security on and a read policy `using (true)`: every
-- signed-in user reads every tenant's patients.
create table public.patients (
    id        uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references public.tenants (id),
    name      text not null
);
grant select, insert, update, delete on public.patients to authenticated;
revoke truncate, references, trigger on public.patients from anon, authenticated;
alter table public.patients enable row level security;
create policy patients_read on public.patients for select to authenticated using (true);
