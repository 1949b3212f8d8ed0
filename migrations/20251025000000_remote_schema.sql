-- 20251025000000_remote_schema.sql
--
-- The remote database as it was BEFORE the multi-tenant plan: one `agents`
-- table with 24 columns, three agents, RLS enabled with the Supabase
-- dashboard's default "everyone may read" policy.
-- Idempotent.

create table if not exists public.agents (
    -- Basic
    id                  uuid primary key default gen_random_uuid(),
    name                text not null,
    description         text,
    created_at          timestamp with time zone not null default now(),
    updated_at          timestamp with time zone not null default now(),
    created_by          uuid references auth.users (id) on delete set null,
    -- AI configuration
    system_prompt       text,
    model               text not null default 'gpt-4',
    temperature         numeric(3, 2) not null default 0.70
                        check (temperature >= 0 and temperature <= 2),
    max_tokens          integer not null default 2000 check (max_tokens > 0),
    -- Profile
    slug                text unique,
    title               text,
    expertise           text[] not null default '{}',
    specialties         text[] not null default '{}',
    background          text,
    personality_traits  text[] not null default '{}',
    -- Metadata
    capabilities        text[] not null default '{}',
    avatar_url          text,
    popularity_score    integer not null default 0,
    rating              numeric(3, 2) not null default 0 check (rating >= 0 and rating <= 5),
    total_consultations integer not null default 0,
    is_active           boolean not null default true,
    category            text,
    response_style      text
);

insert into public.agents (
    id, name, description, created_at, updated_at, created_by,
    system_prompt, model, temperature, max_tokens,
    slug, title, expertise, specialties, background, personality_traits,
    capabilities, avatar_url, popularity_score, rating, total_consultations,
    is_active, category, response_style
) values
    ('a0000000-0000-4000-8000-000000000001', 'Dr. Sarah Chen',
     'Board-certified cardiologist advising on cardiovascular digital health products.',
     '2025-10-01 09:00:00+00', '2025-10-01 09:00:00+00', null,
     'You are Dr. Sarah Chen, a cardiologist. Give careful, evidence-based answers.',
     'gpt-4', 0.70, 2000,
     'dr-sarah-chen', 'Cardiologist',
     array['cardiology', 'remote patient monitoring'],
     array['heart failure', 'arrhythmia', 'wearable ECG'],
     '15 years of clinical practice in interventional cardiology.',
     array['precise', 'empathetic'],
     array['clinical review', 'literature summary'],
     'https://example.invalid/avatars/sarah-chen.png', 87, 4.80, 120,
     true, 'clinical', 'professional'),
    ('a0000000-0000-4000-8000-000000000002', 'Dr. Marcus Webb',
     'Regulatory affairs specialist for software as a medical device.',
     '2025-10-01 09:05:00+00', '2025-10-01 09:05:00+00', null,
     'You are Dr. Marcus Webb, an expert in FDA and EU MDR regulation.',
     'gpt-4', 0.30, 3000,
     'dr-marcus-webb', 'Regulatory Affairs Specialist',
     array['FDA 510(k)', 'EU MDR'],
     array['SaMD classification', 'clinical evaluation'],
     'Former reviewer, now advises digital health start-ups.',
     array['methodical', 'direct'],
     array['regulatory strategy', 'document review'],
     'https://example.invalid/avatars/marcus-webb.png', 64, 4.50, 75,
     true, 'regulatory', 'concise'),
    ('a0000000-0000-4000-8000-000000000003', 'Dr. Priya Raman',
     'Clinical data scientist for real-world evidence studies.',
     '2025-10-01 09:10:00+00', '2025-10-01 09:10:00+00', null,
     'You are Dr. Priya Raman, a clinical data scientist.',
     'gpt-4', 0.50, 2500,
     'dr-priya-raman', 'Clinical Data Scientist',
     array['biostatistics', 'real-world evidence'],
     array['study design', 'outcome analysis'],
     'PhD in epidemiology; leads data programmes for health systems.',
     array['curious', 'rigorous'],
     array['data analysis', 'protocol design'],
     'https://example.invalid/avatars/priya-raman.png', 52, 4.60, 48,
     true, 'research', 'detailed')
on conflict do nothing;

-- What Supabase's default privileges gave the table on the remote project, said
-- explicitly: projects created since 2026-05-30 (and existing ones since 2026-10-30)
-- no longer grant new tables to the API roles by default.
grant all on public.agents to anon, authenticated, service_role;

alter table public.agents enable row level security;

-- The Supabase dashboard's default policy
drop policy if exists "Enable read access for all users" on public.agents;
create policy "Enable read access for all users" on public.agents
    for select using (true);

do $$
begin
    raise notice 'Migration 20251025000000 completed successfully';
end
$$;
