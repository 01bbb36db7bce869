//! `accredito-bench console`: every console page's latency on big books.
//!
//! Fills the server's (fresh, migrated) database in bulk with `bench/console.sql` (a million
//! orders and a hundred thousand payouts by default; `--orders 0` keeps what is there), signs
//! in with a viewer token like a browser, then asks each page `--requests` times in turn after
//! a warm-up and reports each page's p50, p95 and max as one JSON line. Exits non-zero when a
//! page's p95 is over `--p95-limit-ms` (100 ms, the console's target).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use super::{millis, percentile};

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Base URL of the server's admin listener (the console).
    #[arg(
        long,
        env = "ACCREDITO_BENCH_ADMIN_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    admin_url: String,

    /// A viewer token the server knows (`ACCREDITO_VIEWER_TOKENS=name:token`).
    #[arg(long, env = "ACCREDITO_BENCH_VIEWER_TOKEN", hide_env_values = true)]
    viewer_token: String,

    /// The server's database, filled before measuring.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/accredito"
    )]
    database_url: String,

    /// Orders to load (payouts: a tenth; stored events: 30%); 0 loads nothing.
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,

    /// Run `ANALYZE` after loading (by default the planner works without statistics, as right
    /// after a bulk load).
    #[arg(long)]
    analyze: bool,

    /// Requests per page measured (after three warm-up requests).
    #[arg(long, default_value_t = 40)]
    requests: usize,

    /// The target: every page's p95 under this.
    #[arg(long, default_value_t = 100.0)]
    p95_limit_ms: f64,
}

/// The pages measured: a name and a path. Ids are those `console.sql` generates.
const PAGES: [(&str, &str); 16] = [
    ("overview", "/console"),
    ("orders", "/console/orders"),
    ("orders_by_merchant", "/console/orders?merchant_id=cb_m_17"),
    ("orders_refunded", "/console/orders?status=refunded"),
    ("orders_one_day", "/console/orders?from=DAY&to=DAY"),
    ("order", "/console/orders/cb_o_1234"),
    ("discrepancies_open", "/console/discrepancies?status=open"),
    ("payouts", "/console/payouts"),
    ("payouts_failed", "/console/payouts?status=failed"),
    ("payout", "/console/payouts/po_cb4321"),
    ("alerts_open", "/console/alerts?status=open"),
    ("merchants", "/console/merchants"),
    ("merchant", "/console/merchants?merchant_id=cb_m_42"),
    ("dead_letters", "/console/dead-letters"),
    ("audit", "/console/audit"),
    ("audit_by_merchant", "/console/audit?merchant_id=cb_m_42"),
];

async fn load(args: &ConsoleArgs) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut db = PgConnection::connect(&args.database_url)
        .await
        .context("connect to DATABASE_URL")?;
    let sql = include_str!("console.sql")
        .replace("{orders}", &args.orders.to_string())
        .replace("{payouts}", &(args.orders / 10).max(1).to_string())
        .replace("{events}", &(args.orders * 3 / 10).to_string());
    // Only numbers this program formats are put into the file's text.
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut db)
        .await
        .context("load bench/console.sql (into a fresh, migrated database)")?;
    if args.analyze {
        sqlx::raw_sql("analyze").execute(&mut db).await?;
    }
    Ok(started.elapsed())
}

/// `name=value` of a `Set-Cookie` header.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// Signs in like a browser; returns the session cookie.
async fn sign_in(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let form = client.get(format!("{base}/console/sign-in")).send().await?;
    let nonce = cookie(&form, "accredito_console_sign_in").context("no sign-in cookie")?;
    let html = form.text().await?;
    let marker = "name=\"csrf\" value=\"";
    let at = html.find(marker).context("no CSRF field")? + marker.len();
    let csrf = &html[at..at + html[at..].find('"').context("unterminated field")?];
    let response = client
        .post(format!("{base}/console/sign-in"))
        .header(reqwest::header::COOKIE, nonce)
        .form(&[("token", token), ("csrf", csrf)])
        .send()
        .await?;
    cookie(&response, "accredito_console")
        .filter(|c| c != "accredito_console=")
        .context("sign-in refused: is the viewer token one the server knows?")
}

pub async fn console(args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    let loaded = if args.orders > 0 {
        eprintln!("loading {} orders ...", args.orders);
        let took = load(&args).await?;
        eprintln!("loaded in {} s", took.as_secs());
        Some(took)
    } else {
        None
    };
    let base = args.admin_url.trim_end_matches('/').to_owned();
    accredito::stripe::client::install_ring_provider();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let session = sign_in(&client, &base, &args.viewer_token).await?;
    let day = (time::OffsetDateTime::now_utc() - time::Duration::days(3))
        .date()
        .to_string();
    let mut report = BTreeMap::new();
    let mut over = Vec::new();
    for (name, path) in PAGES {
        let path = path.replace("DAY", &day);
        let mut times = Vec::with_capacity(args.requests);
        for i in 0..args.requests + 3 {
            let started = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .header(reqwest::header::COOKIE, &session)
                .send()
                .await?;
            let status = response.status();
            let body = response.bytes().await?;
            let took = started.elapsed();
            if !status.is_success() {
                bail!(
                    "{path} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            if i >= 3 {
                times.push(took);
            }
        }
        times.sort_unstable();
        let p95 = millis(percentile(&times, 0.95));
        if p95 >= args.p95_limit_ms {
            over.push(name);
        }
        eprintln!("{name:>20}  p95 {p95:>8.2} ms  {path}");
        report.insert(
            name,
            json!({
                "path": path,
                "p50_ms": millis(percentile(&times, 0.5)),
                "p95_ms": p95,
                "max_ms": millis(times.last().copied().unwrap_or_default()),
            }),
        );
    }
    println!(
        "{}",
        json!({
            "bench": "console",
            "orders_loaded": args.orders,
            "load_s": loaded.map(|d| d.as_secs()),
            "analyzed": args.analyze,
            "requests_per_page": args.requests,
            "pages": report,
            "over_p95_limit": over,
        })
    );
    Ok(if over.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
