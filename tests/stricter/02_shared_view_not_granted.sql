-- The shared view is not granted to authenticated: its rule is containment, an upper
-- bound, so an implementation that shows it to no API role keeps the contract.
revoke select on public.mv_platform_shared_resources from authenticated;
