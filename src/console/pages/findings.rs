//! What needs attention: discrepancies (the books disagree with Stripe) and alerts (a
//! merchant cannot be paid out), each a filtered list with its CSV, kinds explained in the
//! reader's language.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::get;
use maud::{Markup, html};

use super::{PAGE_ROWS, csv_download, parse_cursor, split};
use crate::console::ConsoleError;
use crate::console::i18n::{Locale, label, t};
use crate::console::layout::{self, Field, ListQuery, badge, tone_of};
use crate::console::session::Session;
use crate::db;
use crate::db::back_office::{AlertFilter, Discrepancy, DiscrepancyFilter};
use crate::domain::{ALERT_KINDS, ALERT_STATUSES};
use crate::http::AppState;
use crate::http::back_office::{cursor, kind_names};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/discrepancies", get(discrepancies))
        .route("/console/discrepancies.csv", get(download_discrepancies))
        .route("/console/alerts", get(alerts))
        .route("/console/alerts.csv", get(download_alerts))
}

/// Filters shared by both lists: merchant, kind, open or resolved, when opened.
#[derive(Clone)]
struct Filters {
    merchant_id: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    from: Option<time::OffsetDateTime>,
    before: Option<time::OffsetDateTime>,
}

impl Filters {
    fn read(locale: Locale, q: &ListQuery, kinds: &[&str]) -> Result<Self, ConsoleError> {
        let (from, before) = q.date_range(locale)?;
        Ok(Filters {
            merchant_id: q.merchant(locale)?.map(str::to_owned),
            kind: ListQuery::one_of(locale, &q.kind, "kind", kinds)?.map(str::to_owned),
            status: ListQuery::one_of(locale, &q.status, "status", &ALERT_STATUSES)?
                .map(str::to_owned),
            from,
            before,
        })
    }

    fn discrepancies(&self) -> DiscrepancyFilter<'_> {
        DiscrepancyFilter {
            merchant_id: self.merchant_id.as_deref(),
            kind: self.kind.as_deref(),
            open: self.status.as_deref().map(|s| s == "open"),
            opened_from: self.from,
            opened_before: self.before,
        }
    }

    fn alerts(&self) -> AlertFilter<'_> {
        AlertFilter {
            merchant_id: self.merchant_id.as_deref(),
            kind: self.kind.as_deref(),
            status: self.status.as_deref(),
            opened_from: self.from,
            opened_before: self.before,
        }
    }
}

fn form(locale: Locale, action: &str, q: &ListQuery, group: &str, kinds: &[&str]) -> Markup {
    layout::filters(
        locale,
        action,
        q,
        &[
            Field::Merchant,
            Field::Select {
                name: "kind",
                label: "filter.kind",
                options: layout::options(locale, group, kinds),
            },
            Field::Select {
                name: "status",
                label: "filter.status",
                options: vec![
                    ("open".into(), t(locale, "filter.open").into()),
                    ("resolved".into(), t(locale, "filter.resolved").into()),
                ],
            },
            Field::Dates,
        ],
    )
}

async fn discrepancy_page(
    pool: &sqlx::PgPool,
    filters: &Filters,
    after: Option<i64>,
    limit: i64,
) -> Result<(Vec<Discrepancy>, Option<String>), sqlx::Error> {
    let mut conn = super::reader(pool).await?;
    let rows =
        db::back_office::discrepancies_page(&mut conn, &filters.discrepancies(), after, limit + 1)
            .await?;
    Ok(split(rows, limit, |d| cursor::discrepancy(d.id)))
}

/// Discrepancies as a table: kind (explained), what it is about, detail, opened, resolved.
pub fn discrepancy_table(locale: Locale, rows: &[Discrepancy]) -> Markup {
    if rows.is_empty() {
        return html! { p class="muted" { (t(locale, "order.no_discrepancies")) } };
    }
    html! {
        div class="table-wrap" { table class="discrepancies" {
            thead { tr {
                th scope="col" { (t(locale, "col.kind")) }
                th scope="col" { (t(locale, "col.merchant")) }
                th scope="col" { (t(locale, "col.subject")) }
                th scope="col" { (t(locale, "col.detail")) }
                th scope="col" { (t(locale, "col.opened")) }
                th scope="col" { (t(locale, "col.resolved")) }
            } }
            tbody {
                @for d in rows {
                    tr {
                        td {
                            (badge(&label(locale, "discrepancy", &d.kind), if d.open { "bad" } else { "good" }))
                            br;
                            small class="muted" { (label(locale, "discrepancy_help", &d.kind)) }
                        }
                        td { (d.merchant_id.as_deref().unwrap_or("—")) }
                        td {
                            @if let Some(o) = &d.order_id {
                                a href={ "/console/orders/" (layout::encode(o)) } { (o) }
                            } @else { code { (d.subject_id) } }
                        }
                        td { (d.detail) }
                        td { (layout::time(locale, d.opened_at)) }
                        td { (layout::opt_time(locale, d.resolved_at)) }
                    }
                }
            }
        } }
    }
}

#[tracing::instrument(skip_all)]
async fn discrepancies(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    let kinds = kind_names();
    let filters = Filters::read(locale, &q, &kinds)?;
    let after = parse_cursor(locale, q.cursor.as_deref(), cursor::parse_discrepancy)?;
    let (rows, next) = discrepancy_page(&state.pool, &filters, after, PAGE_ROWS)
        .await
        .map_err(ConsoleError::from_database_in(locale, "discrepancies page"))?;
    let content = html! {
        (form(locale, "/console/discrepancies", &q, "discrepancy", &kinds))
        @if rows.is_empty() { p class="empty" { (t(locale, "empty")) } } @else { (discrepancy_table(locale, &rows)) }
        (layout::list_footer(locale, "/console/discrepancies", &q, next.as_deref()))
    };
    let back = format!("/console/discrepancies?{}", q.filters_query());
    Ok(layout::page(
        &session,
        "/console/discrepancies",
        t(locale, "nav.discrepancies"),
        &back,
        content,
    ))
}

async fn download_discrepancies(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let locale = session.locale;
    let filters = Filters::read(locale, &q, &kind_names())?;
    let style = q.csv_style(locale)?;
    let pool = state.pool.clone();
    csv_download(
        locale,
        "discrepancies.csv",
        style,
        move |after: Option<i64>, limit| {
            let pool = pool.clone();
            let filters = filters.clone();
            async move {
                let (rows, next) = discrepancy_page(&pool, &filters, after, limit).await?;
                Ok((rows, next.and_then(|c| cursor::parse_discrepancy(&c).ok())))
            }
        },
    )
    .await
}

type AlertCursor = (time::OffsetDateTime, i64);

async fn alert_page(
    pool: &sqlx::PgPool,
    filters: &Filters,
    after: Option<AlertCursor>,
    limit: i64,
) -> Result<(Vec<db::back_office::MerchantAlert>, Option<String>), sqlx::Error> {
    let mut conn = super::reader(pool).await?;
    let rows = db::back_office::alerts_page(&mut conn, &filters.alerts(), after, limit + 1).await?;
    Ok(split(rows, limit, |a| cursor::alert(a.opened_at, a.id)))
}

#[tracing::instrument(skip_all)]
async fn alerts(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    let filters = Filters::read(locale, &q, &ALERT_KINDS)?;
    let after = parse_cursor(locale, q.cursor.as_deref(), cursor::parse_alert)?;
    let (rows, next) = alert_page(&state.pool, &filters, after, PAGE_ROWS)
        .await
        .map_err(ConsoleError::from_database_in(locale, "alerts page"))?;
    let table = html! {
        table id="alerts" {
            thead { tr {
                th scope="col" { (t(locale, "col.kind")) }
                th scope="col" { (t(locale, "col.merchant")) }
                th scope="col" { (t(locale, "col.status")) }
                th scope="col" { (t(locale, "col.detail")) }
                th scope="col" { (t(locale, "col.opened")) }
                th scope="col" { (t(locale, "col.resolved")) }
            } }
            tbody {
                @for a in &rows {
                    tr {
                        td {
                            strong { (label(locale, "alert", &a.kind)) }
                            br;
                            small class="muted" { (label(locale, "alert_help", &a.kind)) }
                        }
                        td { a href={ "/console/merchants?merchant_id=" (layout::encode(&a.merchant_id)) } { (a.merchant_id) } }
                        td { (badge(&label(locale, "alert_status", &a.status), tone_of(&a.status))) }
                        td { (a.detail) }
                        td { (layout::time(locale, a.opened_at)) }
                        td { (layout::opt_time(locale, a.resolved_at)) }
                    }
                }
            }
        }
    };
    let content = html! {
        (form(locale, "/console/alerts", &q, "alert", &ALERT_KINDS))
        (layout::table_or_empty(locale, rows.is_empty(), table))
        (layout::list_footer(locale, "/console/alerts", &q, next.as_deref()))
    };
    let back = format!("/console/alerts?{}", q.filters_query());
    Ok(layout::page(
        &session,
        "/console/alerts",
        t(locale, "nav.alerts"),
        &back,
        content,
    ))
}

async fn download_alerts(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let locale = session.locale;
    let filters = Filters::read(locale, &q, &ALERT_KINDS)?;
    let style = q.csv_style(locale)?;
    let pool = state.pool.clone();
    csv_download(
        locale,
        "alerts.csv",
        style,
        move |after: Option<AlertCursor>, limit| {
            let pool = pool.clone();
            let filters = filters.clone();
            async move {
                let (rows, next) = alert_page(&pool, &filters, after, limit).await?;
                Ok((rows, next.and_then(|c| cursor::parse_alert(&c).ok())))
            }
        },
    )
    .await
}
