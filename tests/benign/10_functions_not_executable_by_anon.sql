-- The same rules, refused earlier: anon may not execute the tenancy functions at all.
-- The access model says anon gets 42501 from them; a missing EXECUTE grant is a 42501
-- as good as the functions' own guard, and safer.
revoke execute on function
    public.grant_platform_admin(uuid),
    public.assign_user_to_dh_startup(uuid, text)
from public, anon;
