-- Bounded tables: the inbox and the record of handled events are partitioned by month of the
-- event's `created` time, and `accredito prune` (and the sweep, daily) drops the months past
-- the retention. Stripe's `created` is part of the event, the same on every delivery, so
-- (profile, event id, created) identifies an event exactly as (profile, event id) did: the
-- de-duplication keys below hold within a partition, which is all of an event's copies.
-- Rows outside every month (a clock far off) go to the default partition, pruned the same.

-- Creates the missing monthly partitions of `parent` from the month of `first` to the month of
-- `last`, moving into each any rows the default partition holds for it.
create function accredito_create_month_partitions(parent text, first timestamptz, last timestamptz)
returns int language plpgsql as $$
declare
    month timestamptz := date_trunc('month', first, 'UTC');
    name text;
    created int := 0;
begin
    while month <= last loop
        name := format('%s_p%s', parent, to_char(month at time zone 'UTC', 'YYYY_MM'));
        if to_regclass(name) is null then
            execute format(
                'create temporary table accredito_moved on commit drop as
                 with moved as (delete from %I where event_created_at >= $1 and event_created_at < $2 returning *)
                 select * from moved', parent || '_default')
                using month, month + interval '1 month';
            execute format('create table %I partition of %I for values from (%L) to (%L)',
                           name, parent, month, month + interval '1 month');
            execute format('insert into %I overriding system value select * from accredito_moved', parent)
                ;
            drop table accredito_moved;
            created := created + 1;
        end if;
        month := month + interval '1 month';
    end loop;
    return created;
end $$;

-- Drops the monthly partitions of `parent` that end at or before `cutoff`, and deletes the
-- default partition's rows older than it; returns the partitions dropped.
create function accredito_drop_month_partitions(parent text, cutoff timestamptz)
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
            execute format('drop table %I', part.relname);
            return next part.relname;
        end if;
    end loop;
    execute format('delete from %I where event_created_at < $1', parent || '_default') using cutoff;
end $$;

do $$
declare
    readiness text := pg_get_viewdef('back_office.merchant_readiness'::regclass);
    oldest timestamptz;
    next_id bigint;
begin
    -- The view reads the inbox; it is created again, unchanged, over the new table.
    drop view back_office.merchant_readiness;

    alter table inbox_events rename to inbox_events_unpartitioned;
    alter index inbox_events_unpublished rename to inbox_events_unpartitioned_unpublished;
    create table inbox_events (
        id bigint generated always as identity,
        profile_id text not null references stripe_profiles (id),
        -- copied from the profile (which never changes merchant) so the relay needs no join
        merchant_id text not null,
        event_id text not null,
        event_type text not null,
        livemode boolean not null,
        -- the event's livemode disagrees with its profile's mode: kept, never published
        livemode_mismatch boolean not null default false,
        event_created_at timestamptz not null,
        -- the request body exactly as Stripe sent it, byte for byte
        raw_body bytea not null,
        received_at timestamptz not null default now(),
        published_at timestamptz,
        primary key (id, event_created_at),
        unique (profile_id, event_id, event_created_at)
    ) partition by range (event_created_at);
    create table inbox_events_default partition of inbox_events default;
    -- the relay's catch-up pass and the unpublished gauge read only this
    create index inbox_events_unpublished on inbox_events (id)
        where published_at is null and not livemode_mismatch;

    alter table processed_events rename to processed_events_unpartitioned;
    create table processed_events (
        handler text not null,
        profile_id text not null,
        event_id text not null,
        event_created_at timestamptz not null,
        processed_at timestamptz not null default now(),
        primary key (handler, profile_id, event_id, event_created_at)
    ) partition by range (event_created_at);
    create table processed_events_default partition of processed_events default;

    select min(event_created_at) into oldest from inbox_events_unpartitioned;
    perform accredito_create_month_partitions('inbox_events',
        least(coalesce(oldest, now()), now() - interval '120 days'), now() + interval '3 months');
    perform accredito_create_month_partitions('processed_events',
        least(coalesce(oldest, now()), now() - interval '120 days'), now() + interval '3 months');

    insert into inbox_events overriding system value
        select id, profile_id, merchant_id, event_id, event_type, livemode, livemode_mismatch,
               event_created_at, raw_body, received_at, published_at
        from inbox_events_unpartitioned;
    select coalesce(max(id), 0) + 1 into next_id from inbox_events_unpartitioned;
    perform setval(pg_get_serial_sequence('inbox_events', 'id'), next_id, false);
    -- An event handled whose inbox row is gone cannot be delivered again (workers apply only
    -- stored events), so its record is not needed.
    insert into processed_events (handler, profile_id, event_id, event_created_at, processed_at)
        select p.handler, p.profile_id, p.event_id, i.event_created_at, p.processed_at
        from processed_events_unpartitioned p
        join inbox_events_unpartitioned i
          on i.profile_id = p.profile_id and i.event_id = p.event_id;

    drop table processed_events_unpartitioned;
    drop table inbox_events_unpartitioned;
    execute 'create view back_office.merchant_readiness as ' || readiness;
end $$;
