//! Bounded tables: the inbox and the record of handled events are partitioned by month of
//! Stripe's `created`; months past the retention are dropped, months ahead are created.

use accredito::sweeps::retention;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use crate::helpers::*;

const PROFILE: &str = "prof_000000000000000000000001";

async fn seed_profile(pool: &PgPool) {
    sqlx::query("insert into merchants (id) values ('m_1')")
        .execute(pool)
        .await
        .expect("merchant");
    sqlx::query(
        "insert into stripe_profiles (id, merchant_id, name, mode) values ($1, 'm_1', 'Bar', 'live')",
    )
    .bind(PROFILE)
    .execute(pool)
    .await
    .expect("profile");
}

/// Stores an event created `days_ago` days before `now`, and a handled record of it.
async fn stored_event(pool: &PgPool, event_id: &str, created: OffsetDateTime) {
    sqlx::query(
        "insert into inbox_events (profile_id, merchant_id, event_id, event_type, livemode,
            event_created_at, raw_body)
         values ($1, 'm_1', $2, 'charge.succeeded', true, $3, '{}'::bytea)",
    )
    .bind(PROFILE)
    .bind(event_id)
    .bind(created)
    .execute(pool)
    .await
    .expect("inbox row");
    sqlx::query(
        "insert into processed_events (handler, profile_id, event_id, event_created_at)
         values ('orders', $1, $2, $3)",
    )
    .bind(PROFILE)
    .bind(event_id)
    .bind(created)
    .execute(pool)
    .await
    .expect("handled record");
}

async fn kept(pool: &PgPool, table: &'static str) -> Vec<String> {
    let query = match table {
        "inbox_events" => "select event_id from inbox_events order by event_id",
        _ => "select event_id from processed_events order by event_id",
    };
    sqlx::query_scalar(query)
        .fetch_all(pool)
        .await
        .expect("read")
}

async fn months(pool: &PgPool, table: &str) -> Vec<String> {
    let mut conn = pool.acquire().await.expect("connection");
    accredito::db::partitions::months(&mut conn, table)
        .await
        .expect("months")
}

#[sqlx::test]
async fn prune_drops_the_months_past_the_retention_and_keeps_the_rest(pool: PgPool) {
    seed_profile(&pool).await;
    let now = OffsetDateTime::now_utc();
    for (event, days_ago) in [
        ("evt_200d", 200),
        ("evt_130d", 130),
        ("evt_089d", 89),
        ("evt_010d", 10),
    ] {
        stored_event(&pool, event, now - Duration::days(days_ago)).await;
    }
    // Two were never published: one past the retention, one within it.
    sqlx::query(
        "insert into inbox_unpublished (inbox_id, event_created_at)
         select id, event_created_at from inbox_events where event_id in ('evt_200d', 'evt_010d')",
    )
    .execute(&pool)
    .await
    .expect("listed");

    let pruned = retention::prune(&pool, 90, now).await.expect("pruned");

    let still_listed: Vec<String> = sqlx::query_scalar(
        "select e.event_id from inbox_unpublished u join inbox_events e on e.id = u.inbox_id",
    )
    .fetch_all(&pool)
    .await
    .expect("listed");
    let listed: i64 = sqlx::query_scalar("select count(*) from inbox_unpublished")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(
        (still_listed, listed),
        (vec!["evt_010d".to_owned()], 1),
        "a dropped event leaves the relay's list; a kept one stays on it"
    );

    for table in ["inbox_events", "processed_events"] {
        assert_eq!(
            kept(&pool, table).await,
            ["evt_010d", "evt_089d"],
            "{table}"
        );
    }
    assert!(
        !pruned.dropped.is_empty(),
        "the month 130 days back was dropped whole"
    );
    // Every month from the cutoff to three months ahead exists, for both tables.
    let ahead = now + Duration::days(80);
    let month_name = |t: OffsetDateTime| format!("p{}_{:02}", t.year(), u8::from(t.month()));
    for table in ["inbox_events", "processed_events"] {
        let names = months(&pool, table).await;
        for at in [now - Duration::days(89), now, ahead] {
            let wanted = format!("{table}_{}", month_name(at));
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
        let oldest = now - Duration::days(130);
        let gone = format!("{table}_{}", month_name(oldest));
        assert!(!names.contains(&gone), "{gone} was kept");
    }

    let again = retention::prune(&pool, 90, now).await.expect("pruned");
    assert_eq!(
        (again.created, again.dropped.len()),
        (0, 0),
        "a second pass changes nothing"
    );
}

#[sqlx::test]
async fn an_event_outside_every_month_waits_in_the_default_partition_until_its_month_exists(
    pool: PgPool,
) {
    seed_profile(&pool).await;
    let now = OffsetDateTime::now_utc();
    let next_year = now + Duration::days(400);
    stored_event(&pool, "evt_future", next_year).await;
    let in_default: i64 = sqlx::query_scalar("select count(*) from inbox_events_default")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(in_default, 1);

    // A year on, the pass that creates its month moves it there, still one row, still unique.
    retention::prune(&pool, 400, next_year - Duration::days(1))
        .await
        .expect("pruned");

    let in_default: i64 = sqlx::query_scalar("select count(*) from inbox_events_default")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(in_default, 0);
    assert_eq!(kept(&pool, "inbox_events").await, ["evt_future"]);
    let copy = sqlx::query(
        "insert into inbox_events (profile_id, merchant_id, event_id, event_type, livemode,
            event_created_at, raw_body)
         values ($1, 'm_1', 'evt_future', 'charge.succeeded', true, $2, '{}'::bytea)
         on conflict (profile_id, event_id, event_created_at) do nothing",
    )
    .bind(PROFILE)
    .bind(next_year)
    .execute(&pool)
    .await
    .expect("insert");
    assert_eq!(copy.rows_affected(), 0, "the copy is recognised");
}

#[sqlx::test]
async fn a_redelivery_of_an_event_created_months_ago_is_still_a_duplicate(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let two_months_ago = now() - 61 * 86_400;
    let body = stripe_event_at(
        "evt_old",
        "charge.succeeded",
        true,
        two_months_ago,
        json!({ "id": "ch_1", "object": "charge" }),
    );

    let first: Value = app
        .deliver(&profile, &secret, &body)
        .await
        .json()
        .await
        .expect("json");
    let again: Value = app
        .deliver(&profile, &secret, &body)
        .await
        .json()
        .await
        .expect("json");

    assert_eq!(first["duplicate"], false);
    assert_eq!(again["duplicate"], true);
    assert_eq!(app.inbox_count().await, 1);
}

#[tokio::test]
async fn prune_refuses_a_retention_too_short_for_de_duplication() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
        .args(["--retention-days", "10", "prune"])
        .env("DATABASE_URL", "postgres://unused@127.0.0.1:1/none")
        .output()
        .await
        .expect("runs");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ACCREDITO_RETENTION_DAYS must be at least 35"),
        "{stderr}"
    );
}

#[sqlx::test]
async fn a_catch_up_claim_keeps_other_relays_off_until_released_or_run_out(pool: PgPool) {
    seed_profile(&pool).await;
    stored_event(&pool, "evt_waiting", OffsetDateTime::now_utc()).await;
    sqlx::query(
        "insert into inbox_unpublished (inbox_id, event_created_at, received_at)
         select id, event_created_at, now() - interval '10 minutes' from inbox_events",
    )
    .execute(&pool)
    .await
    .expect("listed");
    let claim = || async {
        let mut conn = pool.acquire().await.expect("connection");
        accredito::db::inbox::claim_unpublished(&mut conn, 5.0, 60.0, 100)
            .await
            .expect("claim")
            .into_iter()
            .map(|row| row.event.event_id.to_string())
            .collect::<Vec<_>>()
    };

    let first = claim().await;
    assert_eq!(first, ["evt_waiting"]);
    assert!(claim().await.is_empty(), "claimed: another relay skips it");

    let id: i64 = sqlx::query_scalar("select inbox_id from inbox_unpublished")
        .fetch_one(&pool)
        .await
        .expect("id");
    let mut conn = pool.acquire().await.expect("connection");
    accredito::db::inbox::release_claims(&mut conn, &[id])
        .await
        .expect("release");
    assert_eq!(
        claim().await,
        ["evt_waiting"],
        "released: taken again at once"
    );

    // A relay that died: its claim runs out.
    sqlx::query("update inbox_unpublished set claimed_until = now() - interval '1 second'")
        .execute(&pool)
        .await
        .expect("expire");
    assert_eq!(claim().await, ["evt_waiting"], "run out: taken again");
}

/// Detaching a month locks its whole table, and dropping a table locks the tables its foreign
/// keys reference; the readiness view reads the profiles, the inbox and the handled events.
/// Maintenance must never hold one while it waits for another a reader holds (the inbox's
/// foreign key to the profiles once made this deadlock on every run).
#[sqlx::test]
async fn dropping_months_never_deadlocks_with_readers_of_the_readiness_view(pool: PgPool) {
    seed_profile(&pool).await;
    sqlx::query("update merchants set selected_profile_id = $1 where id = 'm_1'")
        .bind(PROFILE)
        .execute(&pool)
        .await
        .expect("selected");
    let now = OffsetDateTime::now_utc();
    let stop = tokio_util::sync::CancellationToken::new();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (pool, stop) = (pool.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = 0_u32;
                while !stop.is_cancelled() {
                    sqlx::query("select step, state from back_office.merchant_readiness")
                        .fetch_all(&pool)
                        .await?;
                    reads += 1;
                }
                Ok::<_, sqlx::Error>(reads)
            })
        })
        .collect();

    let mut dropped = 0;
    for _ in 0..8 {
        for table in ["inbox_events", "processed_events"] {
            sqlx::query("select accredito_create_month_partitions($1, $2, $3)")
                .bind(table)
                .bind(now - Duration::days(400))
                .bind(now - Duration::days(200))
                .execute(&pool)
                .await
                .expect("old months");
        }
        dropped += retention::prune(&pool, 90, now)
            .await
            .expect("pruned while the view is read")
            .dropped
            .len();
    }
    stop.cancel();

    for reader in readers {
        let reads = reader.await.expect("joined").expect("every read succeeded");
        assert!(reads > 0, "the reader ran alongside the drops");
    }
    assert!(dropped >= 8 * 2 * 6, "old months were dropped: {dropped}");
    assert!(months(&pool, "inbox_events").await.len() >= 4);
}

#[sqlx::test]
async fn a_month_left_detached_by_a_stopped_pass_is_dropped_by_the_next(pool: PgPool) {
    let now = OffsetDateTime::now_utc();
    let oldest = months(&pool, "inbox_events").await.remove(0);
    // A pass that stopped after detaching, before dropping.
    // The name comes from the catalog.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "alter table inbox_events detach partition {oldest}"
    )))
    .execute(&pool)
    .await
    .expect("detached");

    let pruned = retention::prune(&pool, 90, now).await.expect("pruned");

    assert!(pruned.dropped.contains(&oldest), "{:?}", pruned.dropped);
    let left: Option<String> = sqlx::query_scalar("select to_regclass($1)::text")
        .bind(&oldest)
        .fetch_one(&pool)
        .await
        .expect("lookup");
    assert_eq!(left, None, "{oldest} is gone");
}
