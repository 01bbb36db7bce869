-- Fills a fresh accredito database for `accredito-bench console`: {orders} orders over the
-- last 58 days (statuses mixed: paid, refunded, partially refunded, disputed, awaiting
-- payment), {payouts} payouts with ten lines each and the settlements of the paid orders,
-- {events} stored payment_intent.succeeded events (bodies naming their PaymentIntent),
-- discrepancies and alerts (a tenth open), dead letters and audit entries, for 200 merchants
-- (`cb_m_*`). Written in bulk with generate_series, not through the API.
insert into merchants (id, name) select 'cb_m_' || g, 'Bench merchant ' || g from generate_series(1, 200) g;
insert into stripe_profiles (id, merchant_id, name, mode, publishable_key)
select 'prof_cb' || lpad(g::text, 22, '0'), 'cb_m_' || g, 'Bench ' || g, 'live', 'pk_live_bench' || g
from generate_series(1, 200) g;
update merchants set selected_profile_id = 'prof_cb' || lpad(substr(id, 6), 22, '0'),
       stripe_enabled = true where id like 'cb_m_%' and substr(id, 6)::int % 4 <> 0;

insert into orders (order_id, merchant_id, amount, currency, placed_at, payment_intent_id)
select 'cb_o_' || g, 'cb_m_' || (g % 200 + 1), 1000 + g % 5000, 'eur',
       now() - g * interval '5 seconds', 'pi_cb' || g
from generate_series(1, {orders}) g;
insert into order_states (order_id, status, amount_paid, amount_refunded, amount_disputed,
    payment_intent_id, charge_id, last_event_at)
select 'cb_o_' || g,
       case g % 10 when 6 then 'refunded' when 7 then 'partially_refunded' when 9 then 'disputed'
            else 'paid' end,
       1000 + g % 5000,
       case g % 10 when 6 then 1000 + g % 5000 when 7 then 500 else 0 end,
       case g % 10 when 9 then 1000 + g % 5000 else 0 end,
       'pi_cb' || g, 'ch_cb' || g, now() - g * interval '5 seconds'
from generate_series(1, {orders}) g
where g % 10 <> 8;

insert into payouts (id, merchant_id, profile_id, amount, currency, status, arrival_date,
    automatic, failure_code, failure_message, itemized_at, last_event_id, last_event_created)
select 'po_cb' || g, 'cb_m_' || (g % 200 + 1), 'prof_cb' || lpad((g % 200 + 1)::text, 22, '0'),
       9700, 'eur', case when g % 50 = 0 then 'failed' else 'paid' end,
       now() - g * interval '50 seconds', true,
       case when g % 50 = 0 then 'account_closed' end,
       case when g % 50 = 0 then 'The bank account has been closed.' end,
       now(), 'evt_cbp' || g, now()
from generate_series(1, {payouts}) g;
insert into payout_lines (payout_id, balance_transaction_id, type, reporting_category, amount,
    fee, net, currency, charge_id, payment_intent_id, order_id)
select 'po_cb' || (g % {payouts} + 1), 'txn_cb' || g, 'charge', 'charge', 1000, 30, 970, 'eur',
       'ch_cb' || g, 'pi_cb' || g, 'cb_o_' || g
from generate_series(1, {payouts} * 10) g;
insert into order_settlements (order_id, payout_id, settled_at)
select 'cb_o_' || g, 'po_cb' || (g % {payouts} + 1), now() - g * interval '5 seconds'
from generate_series(1, least({orders}, {payouts} * 10)) g
where g % 10 <> 8;

insert into inbox_events (profile_id, merchant_id, event_id, event_type, livemode,
    event_created_at, raw_body, received_at, object_id)
select 'prof_cb' || lpad((g % 200 + 1)::text, 22, '0'), 'cb_m_' || (g % 200 + 1), 'evt_cb' || g,
       'payment_intent.succeeded', true, now() - g * interval '5 seconds',
       convert_to('{"id":"evt_cb' || g || '","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_cb' || g || '","object":"payment_intent","amount":' || (1000 + g % 5000) || ',"currency":"eur","metadata":{"order_id":"cb_o_' || g || '"}}}}', 'UTF8'),
       now() - g * interval '5 seconds', 'pi_cb' || g
from generate_series(1, {events}) g;

insert into discrepancies (kind, merchant_id, order_id, subject_id, detail, opened_at, resolved_at)
select case g % 3 when 0 then 'amount_mismatch' when 1 then 'unknown_order' else 'duplicate_payment' end,
       'cb_m_' || (g % 200 + 1), 'cb_o_' || (g * 37), 'cb_subject_' || g, 'bench discrepancy',
       now() - g * interval '4 minutes', case when g % 10 <> 0 then now() end
from generate_series(1, {orders} / 50) g;
insert into alerts (merchant_id, kind, detail, opened_at, resolved_at)
select 'cb_m_' || (g % 200 + 1),
       case g % 3 when 0 then 'no_bank_account' when 1 then 'payout_failed' else 'funds_unsettled' end,
       'bench alert', now() - g * interval '1 hour', now() - g * interval '1 hour' + interval '1 minute'
from generate_series(1, {orders} / 500) g;
insert into alerts (merchant_id, kind, detail)
select 'cb_m_' || g, 'no_bank_account', 'bench open alert' from generate_series(1, 20) g;
insert into dead_letters (handler, profile_id, event_id, event_type, error, attempts,
    first_failed_at, last_failed_at, redriven_at)
select 'orders', 'prof_cb' || lpad((g % 200 + 1)::text, 22, '0'), 'evt_cb' || g,
       'payment_intent.succeeded', 'bench failure', 5, now(), now(),
       case when g > 200 then now() end
from generate_series(1, {orders} / 200) g;
insert into audit_log (actor, merchant_id, action, detail, at)
select 'admin', 'cb_m_' || (g % 200 + 1), 'merchant.renamed', '{"name": "bench"}',
       now() - g * interval '3 minutes'
from generate_series(1, {orders} / 50) g;
