-- The inbox no longer checks its profile with a foreign key. Every row is written for a
-- profile the writer has just looked up (the webhook's, a Connect event's routed profile, a
-- catch-up's), and profiles are never deleted, only marked deleted, so the check never
-- refused anything; but it ran on every stored event: a lookup of the profile row and a
-- FOR KEY SHARE lock on it, which concurrent webhooks of one profile turn into a multixact
-- per insert. Dropping a month of the inbox also no longer takes stripe_profiles' exclusive
-- lock (the constraint's triggers lived there).
do $$
declare
    constraint_name name;
begin
    for constraint_name in
        select conname from pg_constraint
        where conrelid = 'inbox_events'::regclass and contype = 'f'
          and confrelid = 'stripe_profiles'::regclass
    loop
        execute format('alter table inbox_events drop constraint %I', constraint_name);
    end loop;
end $$;
