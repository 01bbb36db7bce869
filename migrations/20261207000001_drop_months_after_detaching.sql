-- Months past the retention are detached in one transaction and dropped in another. Dropping
-- a month of the inbox also drops its foreign key's triggers on stripe_profiles, which takes
-- that table's exclusive lock; done while the inbox itself was still locked by the detach, it
-- deadlocked with any reader that locks stripe_profiles before the inbox (the merchant
-- readiness view does). Detached, a month is no longer read by anyone, so waiting for
-- stripe_profiles holds nothing another session needs.

-- Detaches the monthly partitions of `parent` that end at or before `cutoff`, and deletes the
-- default partition's rows older than it; returns the partitions detached.
create function accredito_detach_month_partitions(parent text, cutoff timestamptz)
returns setof text language plpgsql as $$
declare
    part record;
begin
    for part in
        select c.relname, pg_get_expr(c.relpartbound, c.oid) as bound
        from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = parent::regclass and c.relname <> parent || '_default'
        order by c.relname
    loop
        -- FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00')
        if substring(part.bound from 'TO \(''([^'']+)''\)')::timestamptz <= cutoff then
            execute format('alter table %I detach partition %I', parent, part.relname);
            return next part.relname;
        end if;
    end loop;
    execute format('delete from %I where event_created_at < $1', parent || '_default') using cutoff;
end $$;

-- Drops the months of `parent` that are detached: those just detached, and any a pass that
-- stopped between its two transactions left behind. Returns the tables dropped.
create function accredito_drop_detached_month_partitions(parent text)
returns setof text language plpgsql as $$
declare
    name text;
begin
    for name in
        select c.relname from pg_class c
        where c.relnamespace = current_schema()::regnamespace and c.relkind = 'r'
          and not c.relispartition and c.relname ~ ('^' || parent || '_p[0-9]{4}_[0-9]{2}$')
        order by c.relname
    loop
        execute format('drop table %I', name);
        return next name;
    end loop;
end $$;

drop function accredito_drop_month_partitions(text, timestamptz);
