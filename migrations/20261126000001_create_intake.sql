-- Intake: merchants, their Stripe profiles and webhook signing secrets, and the inbox of
-- verified Stripe events. Later migrations extend these tables (keys, readiness, workers).

create table merchants (
    id text primary key check (id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    created_at timestamptz not null default now()
);

create table stripe_profiles (
    -- public and unguessable: it is the {profile_id} of the webhook URL
    id text primary key check (id ~ '^prof_[A-Za-z0-9]{24}$'),
    -- a profile belongs to exactly one merchant, for life
    merchant_id text not null references merchants (id),
    name text not null check (btrim(name) <> '' and length(name) <= 200),
    mode text not null check (mode in ('live', 'test')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index stripe_profiles_merchant_id on stripe_profiles (merchant_id);

create table webhook_secrets (
    id bigint generated always as identity primary key,
    profile_id text not null references stripe_profiles (id) on delete cascade,
    -- XChaCha20-Poly1305: 24-byte nonce || ciphertext, additional data = profile id
    secret_ciphertext bytea not null,
    created_at timestamptz not null default now(),
    -- null: active until expired; during a rotation the old secret gets an expiry
    expires_at timestamptz
);
create index webhook_secrets_profile_id on webhook_secrets (profile_id);

create table inbox_events (
    id bigint generated always as identity primary key,
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
    unique (profile_id, event_id)
);
-- the relay's catch-up pass and the unpublished gauge read only this
create index inbox_events_unpublished on inbox_events (id)
    where published_at is null and not livemode_mismatch;
