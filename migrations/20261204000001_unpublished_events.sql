-- The relay's to-do list moves out of the inbox. Marking an event published rewrote its whole
-- inbox row (the body included) and every index entry, since `published_at` was in a partial
-- index's predicate: as much work again as storing it, and a dead row per event for vacuum.
-- Now the inbox writer adds a small row here in the same transaction as the event, and the
-- relay deletes it once the broker has confirmed the event: the inbox row is written once.
create table inbox_unpublished (
    inbox_id bigint primary key,
    -- the inbox row's partition key, so the row is found in its partition only
    event_created_at timestamptz not null,
    received_at timestamptz not null default now(),
    -- a relay's catch-up pass took the row until then: it publishes with no transaction open
    -- (no row locks held across a network call), and a relay that dies lets go by itself
    claimed_until timestamptz
);

insert into inbox_unpublished (inbox_id, event_created_at, received_at)
    select id, event_created_at, received_at
    from inbox_events
    where published_at is null and not livemode_mismatch;

alter table inbox_events drop column published_at;
