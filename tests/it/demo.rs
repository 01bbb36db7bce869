//! `accredito demo`, run as a binary against a database named after the test's own.

use std::process::Stdio;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;

use crate::helpers::*;

/// `accredito <args>` on the test's database, stdout piped, in the locale `locale` says
/// (`LC_ALL`, `LANG`, ... as given; none of the test runner's own).
fn demo_in_locale(
    database_url: &str,
    args: &[&str],
    stderr: Stdio,
    locale: &[(&str, &str)],
) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"));
    command
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("AMQP_URL", amqp_url())
        .env("RUST_LOG", "warn")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("LANG")
        .envs(locale.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    command.spawn().expect("the binary starts")
}

/// `accredito <args>` on the test's database, stdout piped, with no locale set.
fn demo(database_url: &str, args: &[&str], stderr: Stdio) -> tokio::process::Child {
    demo_in_locale(database_url, args, stderr, &[])
}

/// Runs the demo to its end; (stdout, stderr), after removing the demo's own database.
async fn run_demo(database_url: &str, args: &[&str], locale: &[(&str, &str)]) -> (String, String) {
    let child = demo_in_locale(database_url, args, Stdio::piped(), locale);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the demo finishes within a minute")
        .expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    // The demo recreates its own database, `<test database>_demo`; remove it.
    let demo_url = accredito::demo::demo_database_url(database_url).expect("demo url");
    sqlx::Postgres::force_drop_database(&demo_url)
        .await
        .expect("drop the demo database");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The first line of `stdout` holding `needle`.
fn line_of(stdout: &str, needle: &str) -> String {
    stdout
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle}:\n{stdout}"))
        .to_owned()
}

#[sqlx::test]
async fn the_demo_runs_the_pipeline_and_prints_every_outcome(pool: PgPool) {
    let database_url = database_url_of(&pool);
    // LC_ALL wins over LANG, as POSIX has it: English.
    let (stdout, _) = run_demo(
        &database_url,
        &["demo"],
        &[("LC_ALL", "C"), ("LANG", "it_IT.UTF-8")],
    )
    .await;
    let line_of = |needle: &str| line_of(&stdout, needle);

    assert!(stdout.contains("LOCAL STAND-IN"), "{stdout}");
    assert!(
        line_of("its TEST keys are refused (400 bad_request)")
            .contains("test keys belong to a Stripe account in test mode"),
        "{stdout}"
    );
    // Statuses in words, amounts as money.
    let paid = line_of("o_1001 ");
    assert!(paid.contains(" paid ") && paid.contains("€12.50"), "{paid}");
    assert!(
        line_of("o_1002 ").contains("partially refunded"),
        "{stdout}"
    );
    assert!(line_of("o_1003 ").contains("dispute lost"), "{stdout}");
    assert!(line_of("o_1004 ").contains("awaiting payment"), "{stdout}");
    assert!(line_of("o_1006 ").contains("€1,250.00"), "{stdout}");
    let settled = line_of("po_demobar    ");
    assert!(
        settled.contains(" paid ") && settled.contains("€1,259.55"),
        "{settled}"
    );
    assert!(
        settled.contains("o_1001,o_1002,o_1003,o_1005,o_1006"),
        "{settled}"
    );
    assert!(line_of("po_demopizza ").contains("failed"), "{stdout}");
    // The payout's gross, fees and net.
    assert!(
        line_of("po_demobar for m_bar").starts_with("po_demobar"),
        "{stdout}"
    );
    assert!(
        line_of("Gross (charges)").ends_with(" €1,326.50"),
        "{stdout}"
    );
    assert!(line_of("Refunds ").ends_with(" -€10.00"), "{stdout}");
    assert!(line_of("Disputes ").ends_with(" -€20.00"), "{stdout}");
    assert!(line_of("Fees ").ends_with(" -€36.95"), "{stdout}");
    assert!(line_of("  Net ").ends_with(" €1,259.55"), "{stdout}");
    assert!(line_of("Paid out").ends_with(" €1,259.55"), "{stdout}");
    let mismatch = line_of("amount_mismatch");
    assert!(
        mismatch.contains("o_1005") && mismatch.contains("received €14.00 for an order of €15.00"),
        "{mismatch}"
    );
    let no_bank = line_of("no_bank_account");
    assert!(
        no_bank.contains("m_pizzeria") && no_bank.contains("no usable bank account"),
        "{no_bank}"
    );
    let failed = line_of("payout_failed ");
    assert!(
        failed.contains(" open ") && failed.contains("the latest payout failed: no_account"),
        "{failed}"
    );
    assert!(line_of("Ready ").ends_with("yes"), "{stdout}");
    // The merchant whose test keys were refused is told to save live keys, not to switch
    // Stripe on (which needs them).
    assert!(
        line_of("m_trattoria, whose test keys were refused, next step (Live keys accepted): ")
            .contains("Copy the live publishable key (pk_live_...)"),
        "{stdout}"
    );
    assert!(
        line_of("m_pizzeria, next step (Bank account linked): ").contains("Link a bank account"),
        "{stdout}"
    );
    let console = line_of("The back-office console: http://127.0.0.1:");
    assert!(console.ends_with("/console"), "{console}");
    assert!(
        line_of("sign in with the viewer token demo_viewer_").len() > 60,
        "{stdout}"
    );
    for italian in ["pagato", "Bonifico", "prossimo passo", "€ "] {
        assert!(!stdout.contains(italian), "{italian} in English:\n{stdout}");
    }
}

#[sqlx::test]
async fn the_demo_in_italian_says_everything_in_italian_with_italian_money(pool: PgPool) {
    let database_url = database_url_of(&pool);
    // --lang wins over the locale.
    let (stdout, _) = run_demo(
        &database_url,
        &["demo", "--lang", "it"],
        &[("LANG", "en_US.UTF-8")],
    )
    .await;
    let line_of = |needle: &str| line_of(&stdout, needle);

    assert!(stdout.contains("SOSTITUTO LOCALE"), "{stdout}");
    // The refusal of the test keys, in the merchant's words.
    assert!(
        line_of("m_trattoria: profilo creato; le sue chiavi di TEST sono rifiutate (400 bad_request): servono le chiavi live")
            .contains("le chiavi di test appartengono a un account Stripe in modalità test"),
        "{stdout}"
    );
    assert!(
        line_of("Esercente   Ordine").contains("Importo  Stato"),
        "{stdout}"
    );
    // Money as Italians write it: thousands with '.', cents with ',', the symbol after.
    let big = line_of("o_1006 ");
    assert!(
        big.contains("1.250,00\u{a0}€") && big.contains("pagato"),
        "{big}"
    );
    assert!(line_of("o_1001 ").contains("12,50\u{a0}€"), "{stdout}");
    assert!(
        line_of("o_1002 ").contains("rimborsato in parte"),
        "{stdout}"
    );
    assert!(
        line_of("o_1003 ").contains("contestazione persa"),
        "{stdout}"
    );
    assert!(
        line_of("o_1004 ").contains("in attesa di pagamento"),
        "{stdout}"
    );
    let settled = line_of("po_demobar    ");
    assert!(
        settled.contains("1.259,55\u{a0}€")
            && settled.contains("accreditato")
            && settled.contains(" sì "),
        "{settled}"
    );
    assert!(
        line_of("po_demopizza ").contains("non riuscito"),
        "{stdout}"
    );
    // The payout's gross, fees and net.
    assert!(
        line_of("po_demobar per m_bar").starts_with("po_demobar"),
        "{stdout}"
    );
    assert!(
        line_of("Lordo (incassi)").ends_with(" 1.326,50\u{a0}€"),
        "{stdout}"
    );
    assert!(line_of("Rimborsi ").ends_with(" -10,00\u{a0}€"), "{stdout}");
    assert!(
        line_of("Contestazioni ").ends_with(" -20,00\u{a0}€"),
        "{stdout}"
    );
    assert!(
        line_of("Commissioni ").ends_with(" -36,95\u{a0}€"),
        "{stdout}"
    );
    assert!(
        line_of("  Netto ").ends_with(" 1.259,55\u{a0}€"),
        "{stdout}"
    );
    assert!(
        line_of("Importo del bonifico").ends_with(" 1.259,55\u{a0}€"),
        "{stdout}"
    );
    // Discrepancies and alerts in words; their kinds as stored.
    assert!(
        line_of("amount_mismatch").contains("ricevuti 14,00\u{a0}€ per un ordine di 15,00\u{a0}€"),
        "{stdout}"
    );
    let no_bank = line_of("no_bank_account");
    assert!(
        no_bank.contains("aperto") && no_bank.contains("nessun conto bancario utilizzabile"),
        "{no_bank}"
    );
    assert!(
        line_of("payouts_disabled").contains("Stripe ha disattivato i bonifici"),
        "{stdout}"
    );
    assert!(
        line_of("payout_failed ").contains("l'ultimo bonifico non è riuscito: no_account"),
        "{stdout}"
    );
    // Readiness: steps, states and next steps as the setup guide words them in Italian.
    assert!(
        line_of("Chiavi live accettate  ").contains("mancante"),
        "{stdout}"
    );
    assert!(line_of("Pronto ").ends_with("sì"), "{stdout}");
    assert!(
        line_of("m_trattoria, le cui chiavi di test sono state rifiutate, prossimo passo (Chiavi live accettate): ")
            .contains("Copia la chiave pubblicabile live (pk_live_...) e la chiave segreta live (sk_live_...)"),
        "{stdout}"
    );
    assert!(
        line_of("m_pizzeria, prossimo passo (Conto bancario collegato): ")
            .contains("Collega un conto bancario"),
        "{stdout}"
    );
    assert!(
        line_of("La console di back office: http://127.0.0.1:").ends_with("/console"),
        "{stdout}"
    );
    assert!(
        line_of("Fatto in ").contains(" s. Il database della demo"),
        "{stdout}"
    );
    // Nothing said in English (ids, kinds and event types are not words).
    for english in [
        "Merchant",
        "next step",
        "received",
        "Gross",
        "Fees",
        "live keys are required",
        "no usable bank account",
        "the latest payout",
        "partially",
        "registered",
        "Done in",
        "(none)",
        " paid ",
        "€1",
    ] {
        assert!(!stdout.contains(english), "{english} in Italian:\n{stdout}");
    }
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
