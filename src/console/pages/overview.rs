//! The overview: orders by status (today, 7 and 30 days), what is open, the pipeline's
//! backlog, and each merchant's last event with the stale ones marked.
//!
//! No count here reads the books row by row: open discrepancies and alerts, waiting dead
//! letters and unpublished events are counted through partial indexes of exactly those
//! (few) rows; the order counts come from a summary row refreshed in the background
//! ([`db::console::refresh_order_counts`]) when older than [`SUMMARY_MAX_AGE`], and the page
//! says as of when.

use axum::extract::State;
use axum::response::Html;
use maud::html;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::console::ConsoleError;
use crate::console::i18n::{Locale, label, t};
use crate::console::layout::{self, badge};
use crate::console::session::Session;
use crate::db;
use crate::http::AppState;

/// How old the order counts may be before a page view starts a refresh.
pub const SUMMARY_MAX_AGE: time::Duration = time::Duration::minutes(1);
/// A merchant with Stripe on whose last event is older than this is marked stale.
pub const STALE_AFTER: time::Duration = time::Duration::hours(24);

/// Refreshes the order counts in the background (one process at a time does).
pub fn refresh_in_background(pool: PgPool) {
    tokio::spawn(async move {
        let refresh = async {
            let mut conn = pool.acquire().await?;
            db::console::refresh_order_counts(&mut conn).await
        };
        if let Err(error) = refresh.await {
            tracing::warn!(%error, "the console's order counts could not be refreshed");
        }
    });
}

#[tracing::instrument(skip_all)]
pub async fn show(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    let read = async {
        let mut conn = super::reader(&state.pool).await?;
        let mut counts = db::console::order_counts(&mut conn).await?;
        if counts.is_none() {
            // The first view ever: count now, once, so the page is never empty.
            db::console::refresh_order_counts(&mut conn).await?;
            counts = db::console::order_counts(&mut conn).await?;
        }
        let kinds: Vec<String> = crate::http::back_office::kind_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let discrepancies = db::console::open_discrepancies_by_kind(&mut conn, &kinds).await?;
        let alerts = db::console::open_alerts_by_kind(&mut conn).await?;
        let (dead_letters, unpublished) = db::console::backlog(&mut conn).await?;
        let activity = db::console::merchant_activity(&mut conn).await?;
        // The first view's inline count is kept.
        conn.commit().await?;
        Ok::<_, sqlx::Error>((
            counts,
            discrepancies,
            alerts,
            dead_letters,
            unpublished,
            activity,
        ))
    };
    let (counts, discrepancies, alerts, dead_letters, unpublished, activity) = read
        .await
        .map_err(ConsoleError::from_database_in(locale, "overview"))?;
    let now = OffsetDateTime::now_utc();
    if counts
        .as_ref()
        .is_some_and(|c| now - c.computed_at > SUMMARY_MAX_AGE)
    {
        refresh_in_background(state.pool.clone());
    }

    let content = html! {
        section aria-labelledby="h-orders" {
            h2 id="h-orders" { (t(locale, "overview.orders")) }
            @match &counts {
                Some(counts) => {
                    p class="muted" { (t(locale, "overview.orders_as_of")) " " (layout::time(locale, counts.computed_at)) }
                    div class="table-wrap" {
                        table {
                            thead { tr {
                                th scope="col" { (t(locale, "col.status")) }
                                th scope="col" class="num" { (t(locale, "col.today")) }
                                th scope="col" class="num" { (t(locale, "col.week")) }
                                th scope="col" class="num" { (t(locale, "col.month")) }
                            } }
                            tbody {
                                @for c in &counts.counts {
                                    tr {
                                        th scope="row" {
                                            a href={ "/console/orders?status=" (c.status) } {
                                                (label(locale, "status", &c.status))
                                            }
                                        }
                                        td class="num" { (c.today) }
                                        td class="num" { (c.week) }
                                        td class="num" { (c.month) }
                                    }
                                }
                            }
                        }
                    }
                }
                None => p class="muted" { (t(locale, "overview.orders_pending")) }
            }
        }
        div class="columns" {
            section aria-labelledby="h-discrepancies" {
                h2 id="h-discrepancies" { (t(locale, "overview.discrepancies")) }
                (kind_table(locale, &discrepancies, "discrepancy", "/console/discrepancies?status=open&kind="))
            }
            section aria-labelledby="h-alerts" {
                h2 id="h-alerts" { (t(locale, "overview.alerts")) }
                (kind_table(locale, &alerts, "alert", "/console/alerts?status=open&kind="))
            }
            section aria-labelledby="h-pipeline" {
                h2 id="h-pipeline" { (t(locale, "overview.pipeline")) }
                dl class="facts" {
                    dt { a href="/console/dead-letters" { (t(locale, "overview.dead_letters")) } }
                    dd class={ "num " @if dead_letters > 0 { "attention" } } { (dead_letters) }
                    dt { (t(locale, "overview.backlog")) }
                    dd class="num" { (unpublished) }
                }
            }
        }
        section aria-labelledby="h-activity" {
            h2 id="h-activity" { (t(locale, "overview.activity")) }
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { (t(locale, "col.merchant")) }
                        th scope="col" { (t(locale, "col.stripe")) }
                        th scope="col" { (t(locale, "col.last_event")) }
                    } }
                    tbody {
                        @for m in &activity {
                            @let stale = m.stripe_enabled
                                && m.last_event_at.is_none_or(|at| now - at > STALE_AFTER);
                            tr class=[stale.then_some("stale")] {
                                th scope="row" {
                                    a href={ "/console/merchants?merchant_id=" (layout::encode(&m.merchant_id)) } { (m.merchant_id) }
                                    @if let Some(name) = &m.name { " · " (name) }
                                }
                                td { @if m.stripe_enabled { (t(locale, "enabled")) } @else { (t(locale, "disabled")) } }
                                td {
                                    (layout::opt_time(locale, m.last_event_at))
                                    @if stale { " " (badge(t(locale, "overview.stale"), "bad")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &session,
        "/console",
        t(locale, "nav.overview"),
        "/console",
        content,
    ))
}

fn kind_table(
    locale: Locale,
    counts: &[db::console::KindCount],
    group: &str,
    link: &str,
) -> maud::Markup {
    if counts.is_empty() {
        return html! { p class="muted" { (t(locale, "overview.nothing_open")) } };
    }
    html! {
        table {
            thead { tr {
                th scope="col" { (t(locale, "col.kind")) }
                th scope="col" class="num" { (t(locale, "col.count")) }
            } }
            tbody {
                @for c in counts {
                    tr {
                        th scope="row" { a href={ (link) (c.kind) } { (label(locale, group, &c.kind)) } }
                        td class="num" {
                            (c.count)
                            @if c.count >= db::console::OPEN_COUNT_CAP { "+" }
                        }
                    }
                }
            }
        }
    }
}
