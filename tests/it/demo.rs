//! `accredito demo`, run as a binary against a database named after the test's own.

use std::process::Stdio;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;

use crate::helpers::*;

/// `accredito <args>` on the test's database, stdout piped.
fn demo(database_url: &str, args: &[&str], stderr: Stdio) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("AMQP_URL", amqp_url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts")
}

#[sqlx::test]
async fn the_demo_runs_the_pipeline_and_prints_every_outcome(pool: PgPool) {
    let database_url = database_url_of(&pool);
    let child = demo(&database_url, &["demo"], Stdio::piped());
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the demo finishes within a minute")
        .expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    // The demo recreates its own database, `<test database>_demo`; remove it.
    let demo_url = accredito::demo::demo_database_url(&database_url).expect("demo url");
    sqlx::Postgres::force_drop_database(&demo_url)
        .await
        .expect("drop the demo database");

    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("LOCAL STAND-IN"), "{stdout}");
    assert!(
        stdout.contains("test keys belong to a Stripe account in test mode"),
        "{stdout}"
    );
    let line_of = |needle: &str| -> String {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}:\n{stdout}"))
            .to_owned()
    };
    assert!(line_of("o_1001 ").contains(" paid "), "{stdout}");
    assert!(
        line_of("o_1002 ").contains("partially_refunded"),
        "{stdout}"
    );
    assert!(line_of("o_1003 ").contains("dispute_lost"), "{stdout}");
    assert!(line_of("o_1004 ").contains("awaiting_payment"), "{stdout}");
    let settled = line_of("po_demobar    ");
    assert!(settled.contains(" paid "), "{settled}");
    assert!(settled.contains("o_1001,o_1002,o_1003,o_1005"), "{settled}");
    assert!(line_of("po_demopizza ").contains("failed"), "{stdout}");
    assert!(line_of("amount_mismatch").contains("o_1005"), "{stdout}");
    assert!(
        line_of("no_bank_account").contains("m_pizzeria"),
        "{stdout}"
    );
    assert!(line_of("payout_failed ").contains("open"), "{stdout}");
    assert!(line_of("READY").ends_with("true"), "{stdout}");
    let console = line_of("The back-office console: http://127.0.0.1:");
    assert!(console.ends_with("/console"), "{console}");
    assert!(
        line_of("sign in with the viewer token demo_viewer_").len() > 60,
        "{stdout}"
    );
}

#[sqlx::test]
async fn the_demo_with_serve_keeps_the_console_up_until_told_to_stop(pool: PgPool) {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let database_url = database_url_of(&pool);
    let mut child = demo(&database_url, &["demo", "--serve"], Stdio::null());
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut console = None;
    let serving = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(url) = line.strip_prefix("The back-office console: ") {
                console = Some(url.to_owned());
            }
            if line.starts_with("Serving until Ctrl-C") {
                return;
            }
        }
        panic!("the demo ended without serving");
    };
    tokio::time::timeout(Duration::from_secs(60), serving)
        .await
        .expect("the demo serves within a minute");
    let console = console.expect("the console's address was printed");
    let page = http_client()
        .get(format!("{console}/sign-in"))
        .send()
        .await
        .expect("the console answers");
    assert_eq!(page.status(), reqwest::StatusCode::OK);

    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops after SIGTERM")
        .expect("status");
    let demo_url = accredito::demo::demo_database_url(&database_url).expect("demo url");
    sqlx::Postgres::force_drop_database(&demo_url)
        .await
        .expect("drop the demo database");
    assert!(status.success(), "{status}");
}

#[sqlx::test]
async fn the_demo_without_rabbitmq_fails_fast_naming_the_broker(pool: PgPool) {
    let database_url = database_url_of(&pool);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
        .arg("demo")
        .env("DATABASE_URL", &database_url)
        // Nothing listens on port 1. (It used to wait 46 s and then blame the dead-letter
        // queue: the 30 s below would have failed it.)
        .env("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the demo gives up quickly")
        .expect("output");
    let demo_url = accredito::demo::demo_database_url(&database_url).expect("demo url");
    sqlx::Postgres::force_drop_database(&demo_url)
        .await
        .expect("drop the demo database");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:1/%2f")
            && stderr.contains("AMQP_URL"),
        "{stderr}"
    );
}
