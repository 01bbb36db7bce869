-- Payouts and bank accounts: which payout settled which order, whether each merchant can be
-- paid at all, and the alerts raised when it cannot.

-- Until merchants' live keys arrive with the profile setup flow, a profile may carry a Stripe
-- secret key for API calls (sealed like the webhook secrets: XChaCha20-Poly1305, AAD = id).
alter table stripe_profiles add column secret_key_ciphertext bytea;

create table payouts (
    id text primary key,
    merchant_id text not null,
    profile_id text not null,
    amount bigint not null,
    currency text not null,
    status text not null,
    arrival_date timestamptz,
    automatic boolean not null,
    method text,
    destination text,
    failure_code text,
    failure_message text,
    reconciliation_status text,
    -- why the payout has no lines (a manual payout cannot be itemised by Stripe)
    itemization_note text,
    itemized_at timestamptz,
    last_event_id text not null,
    last_event_created timestamptz not null,
    updated_at timestamptz not null default now()
);
create index payouts_merchant on payouts (merchant_id, arrival_date);

create table payout_lines (
    payout_id text not null references payouts (id),
    balance_transaction_id text not null,
    type text not null,
    reporting_category text,
    amount bigint not null,
    fee bigint not null,
    net bigint not null,
    currency text not null,
    source_id text,
    charge_id text,
    refund_id text,
    dispute_id text,
    payment_intent_id text,
    order_id text,
    primary key (payout_id, balance_transaction_id)
);
create index payout_lines_order on payout_lines (order_id);

create table order_settlements (
    order_id text primary key references orders (order_id),
    payout_id text not null references payouts (id),
    settled_at timestamptz not null
);

-- What accredito knows of each merchant's ability to receive payouts.
create table merchant_bank_states (
    merchant_id text primary key references merchants (id),
    profile_id text,
    stripe_account_id text,
    payouts_enabled boolean,
    external_account_count int,
    external_account_due boolean not null default false,
    last_payout_failure_code text,
    available_balance bigint,
    lacks_bank_account boolean not null default false,
    checked_at timestamptz,
    last_error text,
    updated_at timestamptz not null default now()
);

create table alerts (
    id bigint generated always as identity primary key,
    merchant_id text not null,
    kind text not null check (kind in ('no_bank_account', 'payouts_disabled', 'payout_failed',
        'funds_unsettled', 'webhook_endpoint_disabled')),
    detail text not null,
    opened_at timestamptz not null default now(),
    resolved_at timestamptz
);
create unique index alerts_one_open on alerts (merchant_id, kind) where resolved_at is null;

-- The outbox of alert deliveries to ACCREDITO_ALERT_WEBHOOK_URL: a receiver that is down is
-- retried from here and never blocks event processing.
create table alert_notifications (
    id bigint generated always as identity primary key,
    alert_id bigint not null references alerts (id),
    transition text not null check (transition in ('opened', 'resolved')),
    payload jsonb not null,
    attempts int not null default 0,
    next_attempt_at timestamptz not null default now(),
    delivered_at timestamptz,
    last_error text,
    created_at timestamptz not null default now()
);
create index alert_notifications_pending on alert_notifications (next_attempt_at) where delivered_at is null;

alter table discrepancies drop constraint discrepancies_kind_check;
alter table discrepancies add constraint discrepancies_kind_check check (kind in ('amount_mismatch',
    'currency_mismatch', 'unknown_order', 'duplicate_payment', 'refund_exceeds_payment',
    'livemode_mismatch', 'payout_sum_mismatch'));

create or replace view back_office.order_reconciliation as
select o.merchant_id, o.order_id, o.amount, o.currency,
       coalesce(s.status, 'awaiting_payment') as status,
       coalesce(s.amount_paid, 0) as amount_paid,
       coalesce(s.amount_refunded, 0) as amount_refunded,
       coalesce(s.amount_disputed, 0) as amount_disputed,
       coalesce(s.payment_intent_id, o.payment_intent_id) as payment_intent_id,
       s.charge_id, s.last_event_at, o.placed_at,
       (select count(*) from discrepancies d where d.order_id = o.order_id and d.resolved_at is null)
           as open_discrepancies,
       st.payout_id, st.settled_at
from orders o
left join order_states s on s.order_id = o.order_id
left join order_settlements st on st.order_id = o.order_id;

create view back_office.payouts as
select p.merchant_id, p.id as payout_id, p.amount, p.currency, p.status, p.arrival_date,
       p.automatic, p.failure_code, p.failure_message, p.reconciliation_status, p.itemization_note,
       (select count(*) from payout_lines l where l.payout_id = p.id) as line_count,
       (select count(*) from order_settlements s where s.payout_id = p.id) as orders_settled,
       p.itemized_at is not null as reconciled
from payouts p;

create view back_office.payout_lines as
select p.merchant_id, l.payout_id, l.balance_transaction_id, l.type, l.reporting_category,
       l.amount, l.fee, l.net, l.currency, l.source_id, l.charge_id, l.refund_id, l.dispute_id,
       l.payment_intent_id, l.order_id
from payout_lines l join payouts p on p.id = l.payout_id;

create view back_office.merchant_alerts as
select a.merchant_id, a.kind, case when a.resolved_at is null then 'open' else 'resolved' end as status,
       a.opened_at, a.resolved_at, a.detail,
       (select max(n.delivered_at) from alert_notifications n where n.alert_id = a.id) as last_notified_at
from alerts a;
