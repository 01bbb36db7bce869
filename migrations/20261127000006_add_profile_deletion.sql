-- Deleting a profile keeps its row, because its stored events and its audit trail still name
-- it, but forgets its keys and signing secrets: a deleted profile verifies no webhook, routes
-- no Connect event, is never selected again, and is left out of every listing and sweep.
alter table stripe_profiles add column deleted_at timestamptz;

drop index stripe_profiles_stripe_account;
create index stripe_profiles_stripe_account on stripe_profiles (stripe_account_id)
    where stripe_account_id is not null and deleted_at is null;
