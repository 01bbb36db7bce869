-- Fills an accredito database to a given size, in bulk, not through the API (bench/growth.sh).
-- psql -v inbox=N: N inbox events (and as many handled-event rows), N/5 orders with their
-- payments and charges, N/5 refunds, N/5 disputes, N/10 open discrepancies, N/50 payouts with
-- ten lines each. Statistics are left as the load leaves them (none, until autovacuum runs),
-- the worst case for the planner. Rows belong to 200 merchants of their own (`seed_m_*`).
\set ON_ERROR_STOP on
\set orders (:inbox / 5)
\set payouts (:inbox / 50)

insert into merchants (id) select 'seed_m_' || g from generate_series(1, 200) g;
insert into stripe_profiles (id, merchant_id, name, mode)
select 'prof_seed' || lpad(g::text, 20, '0'), 'seed_m_' || g, 'Seed ' || g, 'live'
from generate_series(1, 200) g;

-- Spread over the 90 days kept, so every month's partition holds its share.
insert into inbox_events (profile_id, merchant_id, event_id, event_type, livemode,
    event_created_at, raw_body)
select 'prof_seed' || lpad((g % 200 + 1)::text, 20, '0'), 'seed_m_' || (g % 200 + 1),
       'evt_seed' || g, 'payment_intent.succeeded', true,
       now() - (g % 7776000) * interval '1 second',
       convert_to(repeat('x', 1000), 'UTF8')
from generate_series(1, :inbox) g;
insert into processed_events (handler, profile_id, event_id, event_created_at)
select 'orders', 'prof_seed' || lpad((g % 200 + 1)::text, 20, '0'), 'evt_seed' || g,
       now() - (g % 7776000) * interval '1 second'
from generate_series(1, :inbox) g;

insert into orders (order_id, merchant_id, amount, currency, placed_at, payment_intent_id)
select 'seed_o_' || g, 'seed_m_' || (g % 200 + 1), 1000, 'eur', now() - g * interval '1 minute',
       case when g % 2 = 0 then 'pi_seed' || g end
from generate_series(1, :orders) g;
insert into order_states (order_id, status, amount_paid, amount_refunded, payment_intent_id, charge_id)
select 'seed_o_' || g, 'partially_refunded', 1000, 100, 'pi_seed' || g, 'ch_seed' || g
from generate_series(1, :orders) g;
insert into stripe_payment_intents (id, merchant_id, order_id, amount, amount_received, currency,
    status, status_rank, latest_charge, last_event_id, last_event_created)
select 'pi_seed' || g, 'seed_m_' || (g % 200 + 1), 'seed_o_' || g, 1000, 1000, 'eur', 'succeeded', 6,
       'ch_seed' || g, 'evt_seed' || g, now()
from generate_series(1, :orders) g;
insert into stripe_charges (id, merchant_id, payment_intent_id, amount, amount_captured,
    amount_refunded, currency, status, last_event_id, last_event_created)
select 'ch_seed' || g, 'seed_m_' || (g % 200 + 1), 'pi_seed' || g, 1000, 1000, 100, 'eur',
       'succeeded', 'evt_seed' || g, now()
from generate_series(1, :orders) g;
insert into stripe_refunds (id, merchant_id, charge_id, payment_intent_id, amount, currency,
    status, last_event_id, last_event_created)
select 're_seed' || g, 'seed_m_' || (g % 200 + 1), 'ch_seed' || g, 'pi_seed' || g, 100, 'eur',
       'succeeded', 'evt_seed' || g, now()
from generate_series(1, :orders) g;
insert into stripe_disputes (id, merchant_id, charge_id, payment_intent_id, amount, currency,
    status, last_event_id, last_event_created)
select 'dp_seed' || g, 'seed_m_' || (g % 200 + 1), 'ch_seed' || g, 'pi_seed' || g, 1000, 'eur',
       'won', 'evt_seed' || g, now()
from generate_series(1, :orders) g;
insert into discrepancies (kind, merchant_id, order_id, subject_id, detail)
select 'unknown_order', 'seed_m_' || (g % 200 + 1), 'seed_x' || g, 'pi_seedx' || g, 'seeded'
from generate_series(1, :inbox / 10) g;

insert into payouts (id, merchant_id, profile_id, amount, currency, status, arrival_date,
    automatic, itemized_at, reconciliation_status, last_event_id, last_event_created)
select 'po_seed' || g, 'seed_m_' || (g % 200 + 1), 'prof_seed' || lpad((g % 200 + 1)::text, 20, '0'),
       9700, 'eur', 'paid', now() - g * interval '1 hour', true, now(), 'completed',
       'evt_seedpo' || g, now()
from generate_series(1, :payouts) g;
insert into payout_lines (payout_id, balance_transaction_id, type, amount, fee, net, currency,
    charge_id, payment_intent_id, order_id)
select 'po_seed' || (g % :payouts + 1), 'txn_seed' || g, 'charge', 1000, 30, 970, 'eur',
       'ch_seed' || g, 'pi_seed' || g, 'seed_o_' || g
from generate_series(1, :orders) g;
insert into order_settlements (order_id, payout_id, settled_at)
select 'seed_o_' || g, 'po_seed' || (g % :payouts + 1), now() from generate_series(1, :orders) g;
