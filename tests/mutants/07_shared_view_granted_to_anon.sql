-- invariant: anon-denied derived-containment
-- The shared-resources view is granted to anon and stops checking the caller.
create or replace view public.mv_platform_shared_resources with (security_barrier) as
    select resource_table, id, tenant_id, name, description, resource_type, sharing_mode,
           created_at, updated_at
    from private.platform_shared_resources;
grant select on public.mv_platform_shared_resources to anon;
