-- supabase_shim.sql
--
-- Makes a plain PostgreSQL 15 database look like a Supabase project, as far as
-- row-level security is concerned: the API roles, the `auth` schema with
-- `auth.users` and the JWT helper functions, the `extensions` schema, and
-- Supabase's grants and default privileges.
--
-- Run as the superuser `postgres`, in a fresh database, inside one transaction,
-- before the migrations. Idempotent. Roles are cluster-wide: a role that already
-- exists is left exactly as it is (a NOTICE says so).

-- ---------------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------------

do $shim$
declare
    r record;
begin
    for r in
        select *
        from (values
            -- The API roles' own settings, as Supabase sets them: PostgREST applies
            -- them to each request of the role.
            (1, 'anon',          'create role anon nologin inherit;
                                  alter role anon set statement_timeout = ''3s'''),
            (2, 'authenticated', 'create role authenticated nologin inherit;
                                  alter role authenticated set statement_timeout = ''8s'''),
            (3, 'service_role',  'create role service_role nologin inherit bypassrls'),
            -- PostgREST's login, with Supabase's timeouts for its sessions (service_role's
            -- requests have no others).
            (4, 'authenticator', 'create role authenticator login noinherit;
                                  alter role authenticator set statement_timeout = ''8s'';
                                  alter role authenticator set lock_timeout = ''8s'''),
            (5, 'supabase_auth_admin', 'create role supabase_auth_admin nologin noinherit createrole')
        ) as v(ord, rolname, ddl)
        order by ord
    loop
        if exists (select 1 from pg_catalog.pg_roles where rolname = r.rolname) then
            raise notice 'role % already exists, left as it is', r.rolname;
        else
            begin
                execute r.ddl;
            exception when duplicate_object or unique_violation then
                -- another session created it between our check and our CREATE
                raise notice 'role % already exists, left as it is', r.rolname;
            end;
        end if;
    end loop;
end
$shim$;

-- authenticator may switch to the three API roles (only the missing grants are made)
do $shim$
declare
    g text;
begin
    foreach g in array array['anon', 'authenticated', 'service_role'] loop
        if not pg_catalog.pg_has_role('authenticator', g, 'MEMBER') then
            execute pg_catalog.format('grant %I to authenticator', g);
        end if;
    end loop;
end
$shim$;

-- The migration owner (postgres on Supabase) may act as the API roles, as the
-- dashboard's SQL editor does (`set role authenticated`).
do $shim$
declare
    g text;
begin
    if exists (select 1 from pg_catalog.pg_roles where rolname = 'postgres') then
        foreach g in array array['anon', 'authenticated', 'service_role'] loop
            if not pg_catalog.pg_has_role('postgres', g, 'MEMBER') then
                execute pg_catalog.format('grant %I to postgres', g);
            end if;
        end loop;
    end if;
end
$shim$;

-- ---------------------------------------------------------------------------
-- Schemas and extensions
-- ---------------------------------------------------------------------------

-- The Auth service owns its schema. A login that is no superuser and no member of
-- supabase_auth_admin (a shared server's) cannot give it away, and keeps it: the
-- report says so.
do $shim$
declare
    v_owner text := case
        when (select rolsuper from pg_catalog.pg_roles where rolname = current_user)
          or pg_catalog.pg_has_role(current_user, 'supabase_auth_admin', 'MEMBER')
        then 'supabase_auth_admin'
        else current_user::text
    end;
begin
    perform pg_catalog.set_config('rls_harness.auth_owner', v_owner, true);
    execute pg_catalog.format('create schema if not exists auth authorization %I', v_owner);
    if v_owner <> 'supabase_auth_admin' then
        raise notice 'the auth schema is owned by %, not supabase_auth_admin, which this login cannot act as', v_owner;
    end if;
end
$shim$;
create schema if not exists extensions;

create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;

-- ---------------------------------------------------------------------------
-- auth.users (GoTrue's columns)
-- ---------------------------------------------------------------------------

create table if not exists auth.users (
    instance_id                 uuid default '00000000-0000-0000-0000-000000000000'::uuid,
    id                          uuid not null primary key,
    aud                         character varying(255) default 'authenticated',
    role                        character varying(255) default 'authenticated',
    email                       character varying(255),
    encrypted_password          character varying(255) default '',
    email_confirmed_at          timestamp with time zone,
    invited_at                  timestamp with time zone,
    confirmation_token          character varying(255) default '',
    confirmation_sent_at        timestamp with time zone,
    recovery_token              character varying(255) default '',
    recovery_sent_at            timestamp with time zone,
    email_change_token_new      character varying(255) default '',
    email_change                character varying(255) default '',
    email_change_sent_at        timestamp with time zone,
    last_sign_in_at             timestamp with time zone,
    raw_app_meta_data           jsonb default '{}'::jsonb,
    raw_user_meta_data          jsonb default '{}'::jsonb,
    is_super_admin              boolean,
    created_at                  timestamp with time zone default now(),
    updated_at                  timestamp with time zone default now(),
    phone                       text unique default null,
    phone_confirmed_at          timestamp with time zone,
    phone_change                text default '',
    phone_change_token          character varying(255) default '',
    phone_change_sent_at        timestamp with time zone,
    confirmed_at                timestamp with time zone
                                generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
    email_change_token_current  character varying(255) default '',
    email_change_confirm_status smallint default 0
                                check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2),
    banned_until                timestamp with time zone,
    reauthentication_token      character varying(255) default '',
    reauthentication_sent_at    timestamp with time zone,
    is_sso_user                 boolean not null default false,
    deleted_at                  timestamp with time zone,
    is_anonymous                boolean not null default false
);

create index if not exists users_instance_id_idx on auth.users using btree (instance_id);
create index if not exists users_email_idx on auth.users using btree (email);

-- As on Supabase: the Auth service owns its tables, and row security is on with no
-- policy, so no API role reads a user through them.
do $shim$
begin
    execute pg_catalog.format('alter table auth.users owner to %I',
                              pg_catalog.current_setting('rls_harness.auth_owner'));
end
$shim$;
alter table auth.users enable row level security;

-- The migration owner has every privilege on the Auth service's tables, as postgres
-- has on Supabase: it references users, writes them in fixtures, and hangs the usual
-- `handle_new_user` trigger on auth.users (TRIGGER privilege).
do $shim$
begin
    if exists (select 1 from pg_catalog.pg_roles where rolname = 'postgres') then
        grant usage on schema auth to postgres;
        grant all on auth.users to postgres;
    end if;
end
$shim$;

comment on table auth.users is 'Auth: Stores user login data within a secure schema.';

-- ---------------------------------------------------------------------------
-- JWT helpers, exactly as the Auth service's migrations define them today
-- (request.jwt.claim.<x> first, then the request.jwt.claims JSON). Claims with an
-- empty "sub" make auth.uid() fail on ''::uuid (22P02), as on Supabase.
-- ---------------------------------------------------------------------------

create or replace function auth.uid()
returns uuid
language sql
stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

create or replace function auth.role()
returns text
language sql
stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

create or replace function auth.email()
returns text
language sql
stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.email', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;

create or replace function auth.jwt()
returns jsonb
language sql
stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

do $shim$
declare
    f text;
begin
    foreach f in array array['auth.uid()', 'auth.role()', 'auth.email()', 'auth.jwt()'] loop
        execute pg_catalog.format('alter function %s owner to %I', f,
                                  pg_catalog.current_setting('rls_harness.auth_owner'));
    end loop;
end
$shim$;

comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead.';
comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead.';
comment on function auth.email() is 'Deprecated. Use auth.jwt() -> ''email'' instead.';

-- ---------------------------------------------------------------------------
-- Supabase's grants (the default privileges of projects made before 2026-05-30
-- are `supabase::LEGACY_GRANTS`, applied only when asked for)
-- ---------------------------------------------------------------------------

grant usage on schema public     to anon, authenticated, service_role;
grant usage on schema auth       to anon, authenticated, service_role;
grant usage on schema extensions to anon, authenticated, service_role;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
    to anon, authenticated, service_role;
