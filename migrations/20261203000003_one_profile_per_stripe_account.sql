-- One profile per Stripe account among profiles not deleted: Connect routing sends an account's
-- events to the profile holding it, which must not depend on which was updated last. Where two
-- hold one account today, the one routing already picked (the most recently updated) keeps it;
-- the others forget the account id (their keys stay; saving keys again answers 409 naming the
-- holder).
update stripe_profiles p set stripe_account_id = null
where p.deleted_at is null and p.stripe_account_id is not null
  and exists (
      select 1 from stripe_profiles q
      where q.stripe_account_id = p.stripe_account_id and q.deleted_at is null and q.id <> p.id
        and (q.updated_at, q.id) > (p.updated_at, p.id));
create unique index stripe_profiles_one_per_account on stripe_profiles (stripe_account_id)
    where deleted_at is null;
