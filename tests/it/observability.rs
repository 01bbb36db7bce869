//! The observability pack (`deploy/observability/`) against the service: the alerting rules
//! pass promtool's checks and unit tests, a live scrape passes `promtool check metrics`, and
//! every metric the dashboard and the rules use is one the service exports.

use std::collections::BTreeSet;
use std::process::Stdio;

use accredito::config::Role;
use serde_json::json;
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

const PACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/observability");

/// Runs promtool; fails clearly where it is not installed (deploy/check.sh installs it).
async fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = tokio::process::Command::new("promtool")
        .args(args)
        .current_dir(PACK)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool ({e}): install Debian's `prometheus` package (deploy/check.sh does)")
        });
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("write");
    }
    drop(input);
    let output = child.wait_with_output().await.expect("promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The `accredito_*` metric names an expression text mentions, without the suffixes
/// Prometheus adds to a family (`_bucket`, `_count`, `_sum`, `_total`).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("accredito_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        let family = ["_bucket", "_count", "_sum", "_total"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name)
            .to_owned();
        names.insert(family);
    }
    names
}

#[tokio::test]
async fn the_alerting_rules_pass_promtool_and_their_unit_tests() {
    let (ok, output) = promtool(&["check", "rules", "prometheus-rules.yaml"], None).await;
    assert!(ok, "{output}");
    let (ok, output) = promtool(&["test", "rules", "prometheus-rules.test.yaml"], None).await;
    assert!(ok, "{output}");
}

#[sqlx::test]
async fn a_live_scrape_passes_promtool_and_has_every_metric_the_pack_uses(pool: PgPool) {
    let app = spawn_app_with(
        pool.clone(),
        AppOptions {
            roles: Role::all(),
            ..AppOptions::default()
        },
    )
    .await;
    let (profile, _) = one_payment_applied(&app, "m_scrape", "evt_scrape", "o_scrape").await;
    let body = stripe_event(
        "evt_refused",
        "charge.succeeded",
        true,
        json!({"id": "ch_1"}),
    );
    // A refused signature and a refused token, so their counters have series.
    app.deliver_raw(&profile, body.clone(), Some("t=1,v1=00"))
        .await;
    let refused = app
        .client
        .get(app.url("/v1/profiles"))
        .send()
        .await
        .expect("v1");
    assert_eq!(refused.status(), 401);
    let scrape = app
        .client
        .get(app.url("/metrics"))
        .header("Accept", "text/plain;version=0.0.4")
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    app.stop().await;

    let (ok, output) = promtool(&["check", "metrics"], Some(&scrape)).await;
    assert!(ok, "promtool check metrics:\n{output}");

    let exported = metric_names(&scrape);
    for file in ["grafana-dashboard.json", "prometheus-rules.yaml"] {
        let text = std::fs::read_to_string(format!("{PACK}/{file}")).expect("read");
        let used = metric_names(&text);
        assert!(!used.is_empty(), "{file} uses no metric");
        let missing: Vec<_> = used.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics the service does not export: {missing:?}"
        );
    }
}

#[sqlx::test]
async fn a_live_profile_with_keys_counts_as_silent_until_an_event_is_received(pool: PgPool) {
    let silent = || async {
        let mut conn = pool.acquire().await.expect("connection");
        accredito::db::health::read(&mut conn)
            .await
            .expect("reading")
            .silent_live_profiles
    };
    sqlx::query("insert into merchants (id) values ('m_quiet')")
        .execute(&pool)
        .await
        .expect("merchant");
    // A live profile with a (sealed) secret key; another without keys, never counted.
    sqlx::query(
        "insert into stripe_profiles (id, merchant_id, name, mode, secret_key_ciphertext) values
            ('prof_quiet0000000000000000000', 'm_quiet', 'Quiet', 'live', '\\x00'),
            ('prof_nokeys000000000000000000', 'm_quiet', 'No keys', 'live', null)",
    )
    .execute(&pool)
    .await
    .expect("profiles");
    let received = |event_id: &'static str, hours_ago: i32| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "insert into inbox_events (profile_id, merchant_id, event_id, event_type, livemode,
                    event_created_at, raw_body, received_at)
                 values ('prof_quiet0000000000000000000', 'm_quiet', $1, 'charge.succeeded',
                         true, now() - make_interval(hours => $2), '{}'::bytea,
                         now() - make_interval(hours => $2))",
            )
            .bind(event_id)
            .bind(hours_ago)
            .execute(&pool)
            .await
            .expect("event");
        }
    };
    assert_eq!(silent().await, 1, "no event at all");
    received("evt_old", 30).await;
    assert_eq!(silent().await, 1, "only an event received 30 hours ago");
    received("evt_recent", 1).await;
    assert_eq!(silent().await, 0, "an event received an hour ago");
}
