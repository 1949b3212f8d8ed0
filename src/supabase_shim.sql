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
            (1, 'anon',          'create role anon nologin noinherit'),
            (2, 'authenticated', 'create role authenticated nologin noinherit'),
            (3, 'service_role',  'create role service_role nologin noinherit bypassrls'),
            (4, 'authenticator', 'create role authenticator login noinherit')
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

-- ---------------------------------------------------------------------------
-- Schemas and extensions
-- ---------------------------------------------------------------------------

create schema if not exists auth;
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

comment on table auth.users is 'Auth: Stores user login data within a secure schema.';

-- ---------------------------------------------------------------------------
-- JWT helpers, as Supabase defines them
-- (request.jwt.claim.<x> first, then the request.jwt.claims JSON; '' is NULL)
-- ---------------------------------------------------------------------------

-- One deliberate addition to Supabase's text: an empty "sub" in the claims JSON
-- gives NULL instead of failing on ''::uuid, so that claims with an empty sub
-- behave like claims without one (the access model treats both like anon).
create or replace function auth.uid()
returns uuid
language sql
stable
as $$
    select nullif(
        coalesce(
            nullif(current_setting('request.jwt.claim.sub', true), ''),
            (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
        ),
        ''
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

comment on function auth.uid() is 'Deprecated. Use auth.jwt() -> ''sub'' instead.';
comment on function auth.role() is 'Deprecated. Use auth.jwt() -> ''role'' instead.';
comment on function auth.email() is 'Deprecated. Use auth.jwt() -> ''email'' instead.';

-- ---------------------------------------------------------------------------
-- Supabase's grants
-- ---------------------------------------------------------------------------

grant usage on schema public     to anon, authenticated, service_role;
grant usage on schema auth       to anon, authenticated, service_role;
grant usage on schema extensions to anon, authenticated, service_role;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
    to anon, authenticated, service_role;

alter default privileges for role postgres in schema public
    grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
    grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
    grant all on functions to anon, authenticated, service_role;
