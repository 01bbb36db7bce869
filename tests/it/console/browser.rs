//! The console in a real browser: headless Chromium driven through chromedriver (Debian's
//! `chromium` and `chromium-driver`, which `deploy/check.sh` installs). Sign in as a viewer,
//! filter orders, open an order and a payout, switch to Italian, download a CSV, be refused a
//! redrive, sign out; redrive as an admin. Every page is saved as a screenshot in both
//! languages under `target/console-screenshots/`, and passes the accessibility checks of
//! [`A11Y_CHECK`].
//!
//! Nothing is skipped: without chromedriver the test fails, saying how to install it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::process::{Child, Command};

use super::fixture;
use super::pages::PAGES;
use crate::helpers::{ADMIN_TOKEN, VIEWER_TOKEN, eventually, parse_csv, spawn_app};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// The basic accessibility rules every page must pass, run in the page: each form control has
/// a label, the page has a language, one `h1` and no skipped heading level, images have
/// `alt`, buttons and links have a name, and text has WCAG AA contrast against its effective
/// background (4.5:1, 3:1 for large text). Returns the violations found.
const A11Y_CHECK: &str = r#"
const problems = [];
if (!document.documentElement.lang) problems.push("html has no lang");
document.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(el => {
  const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) ||
    el.closest("label") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
  if (!labelled) problems.push(`unlabelled ${el.tagName} ${el.name}`);
});
const headings = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")].map(h => +h.tagName[1]);
if (headings.filter(l => l === 1).length !== 1) problems.push(`h1 count ${headings.filter(l => l === 1).length}`);
headings.reduce((prev, level) => { if (level > prev + 1) problems.push(`heading skips h${prev} to h${level}`); return level; }, 0);
document.querySelectorAll("img").forEach(img => { if (!img.hasAttribute("alt")) problems.push(`img without alt ${img.src}`); });
document.querySelectorAll("a, button").forEach(el => { if (!el.textContent.trim() && !el.getAttribute("aria-label")) problems.push(`${el.tagName} without a name`); });
const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => { const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
const background = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3); } return [255, 255, 255]; };
document.querySelectorAll("body *").forEach(el => {
  const text = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!text || el.closest(".visually-hidden")) return;
  const style = getComputedStyle(el);
  if (style.visibility === "hidden" || style.display === "none") return;
  const fg = lum(rgb(style.color).slice(0, 3)), bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  const large = parseFloat(style.fontSize) >= 24 || (parseFloat(style.fontSize) >= 18.66 && +style.fontWeight >= 700);
  if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)} of "${el.textContent.trim().slice(0, 30)}"`);
});
return problems;
"#;

/// Where screenshots go: `$CARGO_TARGET_DIR/console-screenshots`, else `target/`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("console-screenshots")
}

/// chromedriver on a free port, ended when dropped.
struct Driver {
    url: String,
    _process: Child,
}

async fn start_driver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "the console's browser tests need Debian's chromium and chromium-driver: \
         apt-get install -y chromium chromium-driver (deploy/check.sh installs them)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let process = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let status = format!("{url}/status");
    eventually("chromedriver answers", Duration::from_secs(20), || {
        let status = status.clone();
        async move {
            reqwest::get(&status)
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        }
    })
    .await;
    Driver {
        url,
        _process: process,
    }
}

async fn browser(driver: &Driver) -> Client {
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--lang=en-GB"],
        }
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!("an object literal")
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Clicks and waits until the browser is at a URL containing `expected`.
async fn click_to(client: &Client, locator: Locator<'_>, expected: &str) {
    client
        .find(locator)
        .await
        .unwrap_or_else(|e| panic!("{expected}: {e}"))
        .click()
        .await
        .expect("clicked");
    wait_for_url(client, expected).await;
}

async fn wait_for_url(client: &Client, expected: &str) {
    eventually(
        &format!("the browser at {expected}"),
        Duration::from_secs(10),
        || async {
            let url = client.current_url().await.ok()?;
            let ready = client
                .execute("return document.readyState", vec![])
                .await
                .ok()?;
            (url.as_str().contains(expected) && ready == "complete").then_some(())
        },
    )
    .await;
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn body_text(client: &Client) -> String {
    text_of(client, "body").await
}

/// Opens the console page at `path`.
async fn goto(client: &Client, base: &str, path: &str) {
    client
        .goto(&format!("{base}{path}"))
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
}

async fn sign_in(client: &Client, base: &str, token: &str) {
    goto(client, base, "/console/sign-in").await;
    client
        .find(Locator::Id("token"))
        .await
        .expect("token field")
        .send_keys(token)
        .await
        .expect("typed");
    click_to(client, Locator::Id("sign-in"), "/console").await;
    wait_for_url(client, "/console").await;
    let url = client.current_url().await.expect("url");
    assert!(!url.as_str().contains("sign-in"), "signed in: {url}");
}

/// Saves a screenshot of every page and checks each one's accessibility.
async fn screenshot_every_page(client: &Client, base: &str, language: &str) {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    for path in PAGES {
        goto(client, base, path).await;
        let lang = client
            .find(Locator::Css("html"))
            .await
            .expect("html")
            .attr("lang")
            .await
            .expect("attr");
        assert_eq!(lang.as_deref(), Some(language), "{path}");
        let png = client.screenshot().await.expect("screenshot");
        let name = match path.trim_start_matches("/console").trim_matches('/') {
            "" => "overview".to_owned(),
            rest => rest.replace('/', "-"),
        };
        std::fs::write(dir.join(format!("{language}-{name}.png")), png).expect("saved");
        let problems = client
            .execute(A11Y_CHECK, vec![])
            .await
            .expect("a11y check");
        assert_eq!(problems, json!([]), "{language} {path}: accessibility");
    }
}

#[sqlx::test]
async fn staff_use_the_console_in_chromium_in_both_languages(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    fixture::seed(&pool).await;
    let base = format!("http://{}", app.admin_addr);
    let driver = start_driver().await;
    let client = browser(&driver).await;

    // A viewer signs in and filters the orders.
    sign_in(&client, &base, VIEWER_TOKEN).await;
    assert!(body_text(&client).await.contains("Orders by status"));
    goto(&client, &base, "/console/orders").await;
    client
        .find(Locator::Id("f-status"))
        .await
        .expect("status filter")
        .select_by_value("paid")
        .await
        .expect("selected");
    click_to(&client, Locator::Id("apply-filters"), "status=paid").await;
    let orders = text_of(&client, "#orders").await;
    assert!(
        orders.contains("ord-1001") && !orders.contains("ord-1002"),
        "{orders}"
    );

    // Opens an order, then the payout that settled it.
    click_to(
        &client,
        Locator::LinkText("ord-1001"),
        "/console/orders/ord-1001",
    )
    .await;
    let order = body_text(&client).await;
    assert!(
        order.contains("€1,234.56") && order.contains("evt_1ConsolePiOk"),
        "{order}"
    );
    let time_title = client
        .find(Locator::Css("time"))
        .await
        .expect("a time")
        .attr("title")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert!(time_title.ends_with(" UTC"), "UTC on hover: {time_title}");
    click_to(
        &client,
        Locator::Id("settling-payout"),
        "/console/payouts/po_1ConsolePaid",
    )
    .await;
    let payout = body_text(&client).await;
    assert!(
        payout.contains("po_1ConsolePaid") && payout.contains("€1,175.92"),
        "{payout}"
    );

    screenshot_every_page(&client, &base, "en").await;

    // Switches to Italian: Italian text and euro formatting, remembered from page to page.
    goto(&client, &base, "/console/payouts/po_1ConsolePaid").await;
    client
        .find(Locator::Id("switch-language"))
        .await
        .expect("switch")
        .click()
        .await
        .expect("switched");
    eventually("the page in Italian", Duration::from_secs(10), || async {
        let lang = client
            .find(Locator::Css("html"))
            .await
            .ok()?
            .attr("lang")
            .await
            .ok()??;
        (lang == "it").then_some(())
    })
    .await;
    // WebDriver reads the no-break space before the euro sign as a space.
    let italian = body_text(&client).await.replace('\u{a0}', " ");
    assert!(italian.contains("Bonifico po_1ConsolePaid"), "{italian}");
    assert!(italian.contains("1.175,92 €"), "{italian}");
    goto(&client, &base, "/console/orders").await;
    assert!(body_text(&client).await.contains("Ordini"));

    screenshot_every_page(&client, &base, "it").await;

    // Downloads a CSV in the session (as the link does) and reads it.
    let csv = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/console/orders.csv?status=paid&separator=semicolon')
               .then(r => r.text()).then(done);",
            vec![],
        )
        .await
        .expect("download");
    let csv = csv
        .as_str()
        .expect("text")
        .trim_start_matches('\u{feff}')
        .replace(';', ",");
    let rows = parse_csv(&csv);
    assert_eq!(rows[0][1], "order_id");
    assert_eq!(rows.len(), 2, "the one paid order: {csv}");
    assert_eq!(rows[1][1], "ord-1001");

    // A viewer is refused the redrive.
    goto(&client, &base, "/console/dead-letters").await;
    click_to(
        &client,
        Locator::Css("a.redrive"),
        "/console/dead-letters/redrive",
    )
    .await;
    let refused = body_text(&client).await;
    assert!(
        refused.contains("403") && refused.contains("sola lettura"),
        "{refused}"
    );

    // Signs out.
    goto(&client, &base, "/console").await;
    click_to(
        &client,
        Locator::Id("sign-out"),
        "/console/sign-in?signed_out=1",
    )
    .await;
    assert!(
        body_text(&client).await.contains("You have signed out"),
        "signed out"
    );
    goto(&client, &base, "/console/orders").await;
    assert!(
        client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains("/console/sign-in")
    );

    // An admin confirms and redrives.
    sign_in(&client, &base, ADMIN_TOKEN).await;
    goto(&client, &base, "/console/dead-letters").await;
    click_to(
        &client,
        Locator::Css("a.redrive"),
        "/console/dead-letters/redrive",
    )
    .await;
    click_to(
        &client,
        Locator::Id("confirm-redrive"),
        "/console/dead-letters?redriven=1",
    )
    .await;
    let redriven: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select redriven_at from dead_letters where event_id = $1")
            .bind(fixture::DEAD_EVENT)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(redriven.is_some(), "{}", body_text(&client).await);

    client.close().await.expect("browser closed");
    drop(driver);
    app.stop().await;
}
