-- 20251027000001_tenant_context_from_header.sql
--
-- The tenant context reaches the database with each API request.
--
-- set_tenant_context() stores the context for the transaction only (rightly: a
-- session-wide value would leak from one user to the next on a pooled connection),
-- and PostgREST runs every HTTP request in a transaction of its own. So a call of
-- rpc/set_tenant_context is gone by the next request. The app sends the tenant with
-- each request instead, in the `x-tenant-id` header, and PostgREST's pre-request
-- function (db-pre-request = 'public.apply_tenant_context') copies it into the
-- context before the request's statement runs.
--
-- The header is copied as it is, without a guard: the policies already read the
-- context through user_effective_tenant_ids(), where a tenant the user does not
-- belong to, or a value that is no uuid, grants nothing (E(u) = ∅). A request without
-- the header has no context (E(u) = M(u)). Idempotent.

create or replace function public.apply_tenant_context()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_header text := nullif(pg_catalog.current_setting('request.headers', true), '')::json
                     ->> 'x-tenant-id';
begin
    perform pg_catalog.set_config('app.current_tenant_id', coalesce(v_header, ''), true);
end
$$;

-- PostgREST runs the pre-request function as the request's role.
revoke execute on function public.apply_tenant_context() from public;
grant execute on function public.apply_tenant_context() to anon, authenticated, service_role;

do $$
begin
    raise notice 'Migration 20251027000001 completed successfully';
end
$$;
