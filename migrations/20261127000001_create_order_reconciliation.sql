-- Order reconciliation: the platform's orders, the Stripe objects that pay, refund and dispute
-- them (each kept at its latest state, whatever order events arrive in), the derived state of
-- each order, discrepancies, and the workers' bookkeeping (processed events, dead letters).

create table orders (
    order_id text primary key check (order_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    merchant_id text not null references merchants (id),
    amount bigint not null check (amount >= 0),
    currency text not null check (currency ~ '^[a-z]{3}$'),
    placed_at timestamptz not null,
    description text,
    -- the platform may name the PaymentIntent itself; otherwise metadata.order_id links them
    payment_intent_id text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index orders_merchant_placed on orders (merchant_id, placed_at, order_id);
create index orders_payment_intent on orders (payment_intent_id) where payment_intent_id is not null;

-- Stripe objects at their latest known state. `last_event_created` is the `created` of the
-- event that set the state; `status_rank` orders statuses so late events never undo newer ones.
create table stripe_payment_intents (
    id text primary key,
    merchant_id text not null,
    order_id text,
    amount bigint not null,
    amount_received bigint not null default 0,
    currency text not null,
    status text not null,
    status_rank int not null,
    failed boolean not null default false,
    latest_charge text,
    last_event_id text not null,
    last_event_created timestamptz not null,
    updated_at timestamptz not null default now()
);
create index stripe_payment_intents_order on stripe_payment_intents (order_id);

create table stripe_charges (
    id text primary key,
    merchant_id text not null,
    payment_intent_id text,
    amount bigint not null,
    amount_captured bigint not null default 0,
    amount_refunded bigint not null default 0,
    currency text not null,
    status text not null,
    last_event_id text not null,
    last_event_created timestamptz not null,
    updated_at timestamptz not null default now()
);
create index stripe_charges_payment_intent on stripe_charges (payment_intent_id);

create table stripe_refunds (
    id text primary key,
    merchant_id text not null,
    charge_id text,
    payment_intent_id text,
    amount bigint not null,
    currency text not null,
    status text not null,
    last_event_id text not null,
    last_event_created timestamptz not null,
    updated_at timestamptz not null default now()
);
create index stripe_refunds_payment_intent on stripe_refunds (payment_intent_id);
create index stripe_refunds_charge on stripe_refunds (charge_id);

create table stripe_disputes (
    id text primary key,
    merchant_id text not null,
    charge_id text,
    payment_intent_id text,
    amount bigint not null,
    currency text not null,
    status text not null,
    last_event_id text not null,
    last_event_created timestamptz not null,
    updated_at timestamptz not null default now()
);
create index stripe_disputes_payment_intent on stripe_disputes (payment_intent_id);
create index stripe_disputes_charge on stripe_disputes (charge_id);

-- Derived from the rows above each time one of them changes (never edited by hand).
create table order_states (
    order_id text primary key references orders (order_id),
    status text not null check (status in ('awaiting_payment', 'processing', 'paid', 'payment_failed',
        'canceled', 'partially_refunded', 'refunded', 'disputed', 'dispute_won', 'dispute_lost')),
    amount_paid bigint not null default 0,
    amount_refunded bigint not null default 0,
    amount_disputed bigint not null default 0,
    payment_intent_id text,
    charge_id text,
    last_event_at timestamptz,
    updated_at timestamptz not null default now()
);

create table discrepancies (
    id bigint generated always as identity primary key,
    kind text not null check (kind in ('amount_mismatch', 'currency_mismatch', 'unknown_order',
        'duplicate_payment', 'refund_exceeds_payment', 'livemode_mismatch')),
    merchant_id text,
    order_id text,
    -- what the discrepancy is about (an order, a PaymentIntent, an event): at most one open per kind
    subject_id text not null,
    event_id text,
    detail text not null,
    opened_at timestamptz not null default now(),
    resolved_at timestamptz
);
create unique index discrepancies_one_open on discrepancies (kind, subject_id) where resolved_at is null;
create index discrepancies_order on discrepancies (order_id);

-- G3: an event's effects and this row commit together, so a redelivery is a no-op.
create table processed_events (
    handler text not null,
    profile_id text not null,
    event_id text not null,
    processed_at timestamptz not null default now(),
    primary key (handler, profile_id, event_id)
);

create table dead_letters (
    id bigint generated always as identity primary key,
    handler text not null,
    profile_id text not null,
    event_id text not null,
    event_type text not null,
    error text not null,
    attempts int not null,
    first_failed_at timestamptz not null,
    last_failed_at timestamptz not null,
    redriven_at timestamptz,
    unique (handler, profile_id, event_id)
);

create schema if not exists back_office;

create view back_office.order_reconciliation as
select o.merchant_id, o.order_id, o.amount, o.currency,
       coalesce(s.status, 'awaiting_payment') as status,
       coalesce(s.amount_paid, 0) as amount_paid,
       coalesce(s.amount_refunded, 0) as amount_refunded,
       coalesce(s.amount_disputed, 0) as amount_disputed,
       coalesce(s.payment_intent_id, o.payment_intent_id) as payment_intent_id,
       s.charge_id, s.last_event_at, o.placed_at,
       (select count(*) from discrepancies d where d.order_id = o.order_id and d.resolved_at is null)
           as open_discrepancies
from orders o
left join order_states s on s.order_id = o.order_id;

create view back_office.discrepancies as
select id, kind, merchant_id, order_id, subject_id, event_id, detail, opened_at, resolved_at,
       resolved_at is null as open
from discrepancies;

create view back_office.dead_letters as
select id, handler, profile_id, event_id, event_type, error, attempts, first_failed_at,
       last_failed_at, redriven_at
from dead_letters;
