-- A pre-request function stricter than VITAL's: a tenant header the caller may not name
-- (not one of its tenants, or no uuid) refuses the request instead of granting nothing.
-- The contract (a forged or malformed context grants nothing) allows either.
create or replace function public.apply_tenant_context()
returns void language plpgsql volatile set search_path = '' as $$
declare
    v_header text := nullif(pg_catalog.current_setting('request.headers', true), '')::json ->> 'x-tenant-id';
begin
    if v_header is not null and v_header <> '' and not (select public.is_platform_admin()) and not (select public.is_privileged_caller())
       and not exists (select 1 from unnest(public.user_tenant_ids()) t where t::text = v_header) then
        raise exception 'tenant % is not yours', v_header using errcode = '42501';
    end if;
    perform pg_catalog.set_config('app.current_tenant_id', coalesce(v_header, ''), true);
end
$$;
