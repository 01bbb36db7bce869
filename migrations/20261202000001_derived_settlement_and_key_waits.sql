-- Books that hold under concurrency (README, G9): settlement derived from payout lines every
-- time an order is reconciled, so the lookups that derivation and the recompute make need
-- indexes; events parked because Stripe rejected a profile's key wait for a good key; and the
-- alert that says so.

-- Lines are found by the PaymentIntent or charge they carry, whatever came first.
create index payout_lines_payment_intent on payout_lines (payment_intent_id)
    where payment_intent_id is not null;
create index payout_lines_charge on payout_lines (charge_id) where charge_id is not null;

-- Every reconciliation reads the open discrepancies of its order and of its PaymentIntents;
-- the unique index leads with `kind`, so without these each read scanned all open ones.
create index discrepancies_open_subject on discrepancies (subject_id) where resolved_at is null;
create index discrepancies_open_order on discrepancies (order_id) where resolved_at is null;

-- Why an event is parked, when it waits for something other than a person: `stripe_key_rejected`
-- events are redriven by the workers once the profile's keys are saved again and accepted.
alter table dead_letters add column waiting_for text
    check (waiting_for is null or waiting_for in ('stripe_key'));
create index dead_letters_waiting on dead_letters (profile_id)
    where redriven_at is null and waiting_for is not null;

alter table alerts drop constraint alerts_kind_check;
alter table alerts add constraint alerts_kind_check check (kind in ('no_bank_account',
    'payouts_disabled', 'payout_failed', 'funds_unsettled', 'webhook_endpoint_disabled',
    'stripe_key_rejected'));
