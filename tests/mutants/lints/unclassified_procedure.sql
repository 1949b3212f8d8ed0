-- lint: unclassified-object public.archive_tenant(uuid)
-- A SECURITY DEFINER procedure the API roles may execute (procedures are executable by
-- PUBLIC unless revoked): it is catalogued and classed like a function, and, fitting no
-- class, it must be declared. Reading its catalog row once panicked, because a procedure
-- has no result type. (A SECURITY INVOKER one runs with the caller's rights: class
-- `invoker`.)
create procedure public.archive_tenant(p_tenant uuid)
language sql
security definer
set search_path = ''
as $$
    update public.tenants set name = name where id = p_tenant
$$;
