//! G11: every query the code runs is bounded by an index, whatever the table sizes and
//! statistics. The compile-time query cache (`.sqlx/`) holds the text of every checked query;
//! each is planned as a generic plan (the plan a prepared statement settles on, for any
//! parameters): with tens of thousands of rows in every table that grows with traffic, once
//! before any statistics exist and once after `ANALYZE`; and, in a database of its own, with a
//! few rows and no statistics (a connection may keep the plan it settled on there while the
//! tables grow). A sequential scan of a
//! growing table fails the test, naming the query.

use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};

/// Tables whose size grows with events, orders and payouts (not with merchants or profiles).
const GROWING: [&str; 17] = [
    "inbox_events",
    "processed_events",
    "dead_letters",
    "orders",
    "order_states",
    "order_settlements",
    "stripe_payment_intents",
    "stripe_charges",
    "stripe_refunds",
    "stripe_disputes",
    "discrepancies",
    "payouts",
    "payout_lines",
    "alerts",
    "alert_notifications",
    "audit_log",
    "unrouted_events",
];

/// Queries that read a whole growing table by design, each with the reason. Keep it short.
const SCANS_ALLOWED: [(&str, &str); 3] = [
    (
        "from inbox_events\n         where not livemode_mismatch",
        "`accredito replay`: an operator command that reads every stored event of the window it \
         is given, oldest first",
    ),
    (
        "from discrepancies\n           where resolved_at is null group by kind",
        "`/metrics` counts every open discrepancy, at most once per 10 s: here every seeded row \
         is open, so with statistics the planner rightly reads the table whole; where most are \
         resolved it reads the partial index of open ones (as it does here before ANALYZE)",
    ),
    (
        "insert into console_summaries",
        "the console overview's order counts: a month of orders counted in the background at most \
         once a minute by one process, so that no page counts them",
    ),
];

/// Queries allowed a scan only while a table has no statistics at all, each with the reason.
/// Not a hot path: back-office pages with optional filters, which the planner (guessing a
/// handful of matching rows without statistics) sorts after a scan; with statistics of any
/// age they walk their index.
const SCANS_ALLOWED_WITHOUT_STATISTICS: [(&str, &str); 2] = [
    (
        "where ($1::text is null or r.merchant_id = $1)",
        "the back-office order pages",
    ),
    (
        "from back_office.payouts\n           where ($1::text is null",
        "the back-office payout pages",
    ),
];

/// Queries allowed a scan when planned while the tables are small, each with the reason.
const SCANS_ALLOWED_WHILE_SMALL: [(&str, &str); 1] = [(
    "from unrouted_events u",
    "routing the Connect events parked before their account had a profile: run when a profile \
     gains an account and by the sweep, over a table of only the events no profile could take",
)];

const ROWS: i64 = 50_000;

/// Bulk-loads `rows` rows (a multiple of ten) into every growing table (no statistics are
/// gathered).
async fn seed(pool: &PgPool, rows: i64) {
    let statements = [
        "insert into merchants (id) select 'm_' || g from generate_series(1, 200) g",
        "insert into stripe_profiles (id, merchant_id, name, mode)
         select 'prof_' || lpad(g::text, 24, '0'), 'm_' || g, 'Bar ' || g, 'live'
         from generate_series(1, 200) g",
        "insert into inbox_events (profile_id, merchant_id, event_id, event_type, livemode,
            event_created_at, raw_body)
         select 'prof_' || lpad((g % 200 + 1)::text, 24, '0'), 'm_' || (g % 200 + 1), 'evt_' || g,
                'payment_intent.succeeded', true, now() - (g % 100) * interval '1 day', '{}'::bytea
         from generate_series(1, $1) g",
        // One in a thousand still waits for the broker.
        "insert into inbox_unpublished (inbox_id, event_created_at)
         select id, event_created_at from inbox_events where id % 1000 = 0",
        "insert into processed_events (handler, profile_id, event_id, event_created_at)
         select 'orders', 'prof_' || lpad((g % 200 + 1)::text, 24, '0'), 'evt_' || g,
                now() - (g % 100) * interval '1 day'
         from generate_series(1, $1) g",
        "insert into orders (order_id, merchant_id, amount, currency, placed_at, payment_intent_id)
         select 'o_' || g, 'm_' || (g % 200 + 1), 1000, 'eur', now() - g * interval '1 minute',
                case when g % 2 = 0 then 'pi_' || g end
         from generate_series(1, $1) g",
        "insert into order_states (order_id, status, amount_paid, payment_intent_id, charge_id)
         select 'o_' || g, 'paid', 1000, 'pi_' || g, 'ch_' || g from generate_series(1, $1) g",
        "insert into stripe_payment_intents (id, merchant_id, order_id, amount, amount_received,
            currency, status, status_rank, latest_charge, last_event_id, last_event_created)
         select 'pi_' || g, 'm_' || (g % 200 + 1), 'o_' || g, 1000, 1000, 'eur', 'succeeded', 6,
                'ch_' || g, 'evt_' || g, now()
         from generate_series(1, $1) g",
        "insert into stripe_charges (id, merchant_id, payment_intent_id, amount, amount_captured,
            currency, status, last_event_id, last_event_created)
         select 'ch_' || g, 'm_' || (g % 200 + 1), 'pi_' || g, 1000, 1000, 'eur', 'succeeded',
                'evt_' || g, now()
         from generate_series(1, $1) g",
        "insert into stripe_refunds (id, merchant_id, charge_id, payment_intent_id, amount, currency,
            status, last_event_id, last_event_created)
         select 're_' || g, 'm_' || (g % 200 + 1), 'ch_' || g, 'pi_' || g, 100, 'eur', 'succeeded',
                'evt_' || g, now()
         from generate_series(1, $1) g",
        "insert into stripe_disputes (id, merchant_id, charge_id, payment_intent_id, amount, currency,
            status, last_event_id, last_event_created)
         select 'dp_' || g, 'm_' || (g % 200 + 1), 'ch_' || g, 'pi_' || g, 1000, 'eur', 'won',
                'evt_' || g, now()
         from generate_series(1, $1) g",
        "insert into discrepancies (kind, merchant_id, order_id, subject_id, detail)
         select 'unknown_order', 'm_' || (g % 200 + 1), 'o_' || g, 'pi_x' || g, 'seeded'
         from generate_series(1, $1) g",
        "insert into payouts (id, merchant_id, profile_id, amount, currency, status, arrival_date,
            automatic, itemized_at, last_event_id, last_event_created)
         select 'po_' || g, 'm_' || (g % 200 + 1), 'prof_' || lpad((g % 200 + 1)::text, 24, '0'),
                970, 'eur', 'paid', now(), true, now(), 'evt_' || g, now()
         from generate_series(1, $1 / 10) g",
        "insert into payout_lines (payout_id, balance_transaction_id, type, amount, fee, net, currency,
            charge_id, payment_intent_id, order_id)
         select 'po_' || (g % ($1 / 10) + 1), 'txn_' || g, 'charge', 1000, 30, 970, 'eur', 'ch_' || g,
                'pi_' || g, 'o_' || g
         from generate_series(1, $1) g",
        "insert into order_settlements (order_id, payout_id, settled_at)
         select 'o_' || g, 'po_' || (g % ($1 / 10) + 1), now() from generate_series(1, $1) g",
        "insert into dead_letters (handler, profile_id, event_id, event_type, error, attempts,
            first_failed_at, last_failed_at, redriven_at)
         select 'orders', 'prof_' || lpad((g % 200 + 1)::text, 24, '0'), 'evt_' || g,
                'payment_intent.succeeded', 'seeded', 5, now(), now(), now()
         from generate_series(1, $1) g",
        "insert into alerts (merchant_id, kind, detail, resolved_at)
         select 'm_' || (g % 200 + 1), 'payout_failed', 'seeded', now() from generate_series(1, $1) g",
        "insert into alert_notifications (alert_id, transition, payload, delivered_at)
         select id, 'opened', '{}'::jsonb, now() from alerts",
        "insert into audit_log (actor, merchant_id, profile_id, action)
         select 'admin', 'm_' || (g % 200 + 1), 'prof_' || lpad((g % 200 + 1)::text, 24, '0'),
                'profile.keys_set'
         from generate_series(1, $1) g",
        "insert into unrouted_events (stripe_account_id, event_id, event_type, raw_body)
         select 'acct_' || (g % 500), 'evt_u' || g, 'payment_intent.succeeded', '{}'::bytea
         from generate_series(1, $1) g",
    ];
    for sql in statements {
        let query = sqlx::query(sql);
        let query = if sql.contains("$1") {
            query.bind(rows)
        } else {
            query
        };
        query
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{e}: {sql}"));
    }
}

/// Every query text in the compile-time cache, with its parameter count.
fn cached_queries() -> Vec<(String, usize)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".sqlx");
    let mut queries = Vec::new();
    for entry in std::fs::read_dir(&dir).expect(".sqlx/ is readable") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("cache file");
        let cached: Value = serde_json::from_str(&text).expect("cache JSON");
        let sql = cached["query"].as_str().expect("query text").to_owned();
        // Only these statements can be prepared (and read tables); `set`, `lock` and the like
        // cannot and do not.
        let verb = sql.split_whitespace().next().unwrap_or("").to_lowercase();
        if !["select", "insert", "update", "delete", "with"].contains(&verb.as_str()) {
            continue;
        }
        let params = cached["describe"]["parameters"]["Left"]
            .as_array()
            .map_or(0, Vec::len);
        queries.push((sql, params));
    }
    queries.sort();
    assert!(queries.len() > 50, "the cache holds the project's queries");
    queries
}

/// Growing tables the generic plan of `sql` reads with a sequential scan.
async fn scanned_tables(
    conn: &mut PgConnection,
    sql: &str,
    params: usize,
    partial: &BTreeSet<String>,
) -> BTreeSet<String> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("prepare planned as {sql}")))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("cannot prepare {sql}: {e}"));
    let nulls = vec!["null"; params].join(", ");
    let execute = if params == 0 {
        "explain (format json) execute planned".to_owned()
    } else {
        format!("explain (format json) execute planned({nulls})")
    };
    let plan: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(execute))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("cannot explain {sql}: {e}"));
    sqlx::raw_sql("deallocate planned")
        .execute(&mut *conn)
        .await
        .expect("deallocate");
    let mut scanned = BTreeSet::new();
    collect_scans(&plan, partial, &mut scanned);
    scanned
}

fn collect_scans(node: &Value, partial: &BTreeSet<String>, scanned: &mut BTreeSet<String>) {
    match node {
        Value::Array(items) => items
            .iter()
            .for_each(|n| collect_scans(n, partial, scanned)),
        Value::Object(fields) => {
            if let Some(table) = fields.get("Relation Name").and_then(Value::as_str)
                && GROWING.contains(&table)
                && reads_whole_table(fields, partial)
            {
                scanned.insert(table.to_owned());
            }
            fields
                .values()
                .for_each(|n| collect_scans(n, partial, scanned));
        }
        _ => {}
    }
}

/// A sequential scan, or an index scan bounded by nothing (no condition, or only `IS NOT
/// NULL`): the planner walking a whole index in order, filtering every row, as it does for
/// `min(x)` or `order by ... limit 1` when the index that would bound it is missing.
fn reads_whole_table(node: &serde_json::Map<String, Value>, partial: &BTreeSet<String>) -> bool {
    match node.get("Node Type").and_then(Value::as_str) {
        Some("Seq Scan") => true,
        // A partial index holds only the rows its predicate picks (the unpublished events,
        // the letters not redriven), so reading all of it is bounded by that.
        Some("Index Scan" | "Index Only Scan")
            if node
                .get("Index Name")
                .and_then(Value::as_str)
                .is_some_and(|index| partial.contains(index)) =>
        {
            false
        }
        Some("Index Scan" | "Index Only Scan") => {
            match node.get("Index Cond").and_then(Value::as_str) {
                None => true,
                Some(condition) => {
                    let condition = condition.trim_start_matches('(').trim_end_matches(')');
                    condition.ends_with(" IS NOT NULL") && !condition.contains(" AND ")
                }
            }
        }
        _ => false,
    }
}

/// Each offending query with the tables it scans.
async fn scanning_queries(pool: &PgPool, allowed: &[(&str, &str)]) -> Vec<String> {
    let options = pool.connect_options();
    let mut conn = PgConnection::connect_with(&options)
        .await
        .expect("connection");
    // The plan a prepared statement settles on, whatever the parameters.
    sqlx::query("set plan_cache_mode = force_generic_plan")
        .execute(&mut conn)
        .await
        .expect("set");
    let partial: BTreeSet<String> = sqlx::query_scalar(
        "select indexname::text from pg_indexes where indexdef like '% WHERE %'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("partial indexes")
    .into_iter()
    .collect();
    let mut offending = Vec::new();
    for (sql, params) in cached_queries() {
        if allowed.iter().any(|(allowed, _)| sql.contains(allowed)) {
            continue;
        }
        let scanned = scanned_tables(&mut conn, &sql, params, &partial).await;
        if !scanned.is_empty() {
            let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            offending.push(format!("scans {scanned:?}: {one_line}"));
        }
    }
    offending
}

#[sqlx::test]
async fn no_query_scans_a_table_that_grows_with_traffic(pool: PgPool) {
    let allowed_without_statistics: Vec<(&str, &str)> = SCANS_ALLOWED
        .iter()
        .chain(&SCANS_ALLOWED_WITHOUT_STATISTICS)
        .copied()
        .collect();
    seed(&pool, ROWS).await;
    let without_statistics = scanning_queries(&pool, &allowed_without_statistics).await;
    sqlx::query("analyze")
        .execute(&pool)
        .await
        .expect("analyze");
    let with_statistics = scanning_queries(&pool, &SCANS_ALLOWED).await;
    assert!(
        without_statistics.is_empty() && with_statistics.is_empty(),
        "queries that read a whole growing table:\n-- before ANALYZE:\n{}\n-- after ANALYZE:\n{}",
        without_statistics.join("\n"),
        with_statistics.join("\n")
    );
}

/// A prepared statement may settle on the generic plan it gets in a new database's first
/// minutes, while every table holds a few rows and has no statistics, and keep it as the
/// tables grow: those plans must be index probes as well.
#[sqlx::test]
async fn no_query_scans_a_growing_table_planned_while_it_is_small(pool: PgPool) {
    seed(&pool, 20).await;
    let allowed: Vec<(&str, &str)> = SCANS_ALLOWED
        .iter()
        .chain(&SCANS_ALLOWED_WITHOUT_STATISTICS)
        .chain(&SCANS_ALLOWED_WHILE_SMALL)
        .copied()
        .collect();
    let scanning = scanning_queries(&pool, &allowed).await;
    assert!(
        scanning.is_empty(),
        "queries that read a whole growing table, planned while it is small:\n{}",
        scanning.join("\n")
    );
}
