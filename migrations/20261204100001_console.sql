-- The back-office console: signed-in sessions, the indexes its pages read through, and the
-- summary the overview's order counts come from.

-- A signed-in console session. Only a SHA-256 of the random session id is stored, so a read of
-- this table cannot be replayed as a cookie. Several processes share the table, so a session
-- works whichever of them answers. `token_name` and `role` are checked against the configured
-- tokens on every request: removing a token ends its sessions.
create table console_sessions (
    id_hash bytea primary key check (length(id_hash) = 32),
    token_name text not null,
    role text not null check (role in ('admin', 'viewer')),
    locale text not null check (locale in ('en', 'it')),
    -- the per-session secret the forms' CSRF tokens are derived from
    csrf_secret bytea not null check (length(csrf_secret) = 32),
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    -- the absolute end, whatever the activity
    expires_at timestamptz not null
);
-- sign-in deletes the expired ones through this
create index console_sessions_expires on console_sessions (expires_at);

-- The overview's order counts by status over today, 7 and 30 days. Exact counts over 30 days
-- read every order of the month (a million rows on big books): the page reads this row
-- instead, refreshed in the background when older than a minute (the page says as of when).
create table console_summaries (
    name text primary key,
    body jsonb not null,
    computed_at timestamptz not null
);

-- The overview's "last event" of each merchant, and the readiness view's, per profile:
-- the newest row of the profile's index range instead of every event it ever received.
create index inbox_events_profile_received on inbox_events (profile_id, received_at);

-- The Stripe object an event is about (`data.object.id`: a PaymentIntent, charge, refund or
-- dispute...), read by intake from the envelope it parses anyway. An order's page lists the
-- events of the order's objects through this index. (A regular expression over the body in an
-- index expression cost PostgreSQL 25-50 us per insert on the webhook's path; the column
-- costs a plain index entry.) Events stored before this migration get theirs here, read from
-- the stored body (as `json`, which keeps any text `jsonb` would refuse): one pass over the
-- inbox, minutes for millions of events, done once.
alter table inbox_events add column object_id text;
update inbox_events set object_id = convert_from(raw_body, 'UTF8')::json #>> '{data,object,id}';
create index inbox_events_object on inbox_events (object_id) where object_id is not null;

-- The discrepancy and alert lists filter by when they opened.
create index discrepancies_opened on discrepancies (opened_at, id);
-- The audit log page, newest first, optionally one merchant's.
create index audit_log_at on audit_log (at, id);
