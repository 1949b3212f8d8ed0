-- invariant: derived-containment
-- The shared-resources view is no longer refreshed after writes: a row made private
-- stays in it, and a new global row never appears.
do $$
declare
    t text;
    event text;
begin
    foreach t in array array['agents', 'tools', 'prompts', 'workflows'] loop
        foreach event in array array['insert', 'update', 'delete', 'truncate'] loop
            execute format('drop trigger %I on public.%I', t || '_refresh_shared_on_' || event, t);
        end loop;
    end loop;
end
$$;
