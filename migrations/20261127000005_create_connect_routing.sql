-- Connect-style routing: events delivered to the platform's one endpoint are routed by their
-- `account` to the profile of that Stripe account. Events for accounts no profile has yet are
-- kept here (not lost) and reported.
create index stripe_profiles_stripe_account on stripe_profiles (stripe_account_id)
    where stripe_account_id is not null;

create table unrouted_events (
    id bigint generated always as identity primary key,
    stripe_account_id text not null,
    event_id text not null,
    event_type text not null,
    raw_body bytea not null,
    received_at timestamptz not null default now(),
    unique (stripe_account_id, event_id)
);

create view back_office.unrouted_events as
select id, stripe_account_id, event_id, event_type, received_at from unrouted_events;
