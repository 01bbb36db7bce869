-- `/v1/profiles` pages through live profiles in the order they were created: the index gives
-- each page without sorting the whole table.
create index stripe_profiles_listed on stripe_profiles (created_at, id) where deleted_at is null;
