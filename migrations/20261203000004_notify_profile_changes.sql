-- Every change to a profile or its signing secrets, from any process (the service, the CLI),
-- is announced on commit, so every ingest process drops its cached copy at once instead of
-- verifying with it until the cache's TTL runs out.
create function accredito_notify_profile_changed() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform pg_notify('accredito_profile_changed', to_jsonb(old) ->> tg_argv[0]);
    else
        perform pg_notify('accredito_profile_changed', to_jsonb(new) ->> tg_argv[0]);
    end if;
    return null;
end $$;

create trigger stripe_profiles_changed after insert or update or delete on stripe_profiles
    for each row execute function accredito_notify_profile_changed('id');
create trigger webhook_secrets_changed after insert or update or delete on webhook_secrets
    for each row execute function accredito_notify_profile_changed('profile_id');
