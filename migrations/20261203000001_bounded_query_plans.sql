-- Every hot query bounded by an index whatever the table sizes and statistics (checked by
-- tests/it/query_plans.rs): the lookups below were sequential scans of tables that grow with
-- traffic.

-- `back_office.merchant_alerts.last_notified_at`: the latest delivery of one alert.
create index alert_notifications_alert on alert_notifications (alert_id, delivered_at);

-- `back_office.payouts.orders_settled`: the orders one payout settled.
create index order_settlements_payout on order_settlements (payout_id);

-- The back-office pages, in the order they are read (payouts without an arrival date last).
create index orders_placed on orders (placed_at, order_id);
create index payouts_arrival on payouts ((coalesce(arrival_date, 'infinity'::timestamptz)), id);
create index alerts_opened on alerts (opened_at, id);

-- The registered order that names a PaymentIntent, lowest id first (which order a payout
-- line names); the index it replaces made the planner walk every order in id order instead.
create index orders_payment_intent_order on orders (payment_intent_id, order_id)
    where payment_intent_id is not null;
drop index orders_payment_intent;

-- `accredito dlq list`: the letters not redriven yet.
create index dead_letters_pending on dead_letters (id) where redriven_at is null;
