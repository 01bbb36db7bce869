//! What needs attention: discrepancies (the books disagree with Stripe) and alerts (a
//! merchant cannot be paid out), each a filtered list with its CSV, kinds explained in the
//! reader's language.

use axum::Router;
use maud::{Markup, html};
use sqlx::PgConnection;

use super::list::{self, List};
use crate::console::ConsoleError;
use crate::console::i18n::{Locale, label, t};
use crate::console::layout::{self, Field, ListQuery, badge, tone_of};
use crate::db;
use crate::db::back_office::{AlertFilter, Discrepancy, DiscrepancyFilter, MerchantAlert};
use crate::domain::{ALERT_KINDS, ALERT_STATUSES};
use crate::http::AppState;
use crate::http::back_office::{InvalidRequest, cursor, kind_names};

pub fn routes() -> Router<AppState> {
    list::routes::<Discrepancies>().merge(list::routes::<Alerts>())
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
}

/// Both lists' filter fields: `group` is where the kinds' labels are.
fn fields(locale: Locale, group: &str, kinds: &[&str]) -> Vec<Field<'static>> {
    vec![
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
    ]
}

/// The discrepancies list, by the filters of its query.
#[derive(Clone)]
struct Discrepancies(Filters);

impl List for Discrepancies {
    const PATH: &'static str = "/console/discrepancies";
    const TITLE: &'static str = "nav.discrepancies";
    const CSV_FILE: &'static str = "discrepancies.csv";
    type Row = Discrepancy;
    type Cursor = i64;

    fn read(locale: Locale, q: &ListQuery) -> Result<Self, ConsoleError> {
        Filters::read(locale, q, &kind_names()).map(Discrepancies)
    }

    fn parse_cursor(c: &str) -> Result<i64, InvalidRequest> {
        cursor::parse_discrepancy(c)
    }

    fn cursor_of(d: &Discrepancy) -> String {
        cursor::discrepancy(d.id)
    }

    async fn fetch(
        &self,
        conn: &mut PgConnection,
        after: Option<&i64>,
        limit: i64,
    ) -> Result<Vec<Discrepancy>, sqlx::Error> {
        let Discrepancies(f) = self;
        let filter = DiscrepancyFilter {
            merchant_id: f.merchant_id.as_deref(),
            kind: f.kind.as_deref(),
            open: f.status.as_deref().map(|s| s == "open"),
            opened_from: f.from,
            opened_before: f.before,
        };
        db::back_office::discrepancies_page(conn, &filter, after.copied(), limit).await
    }

    fn fields(locale: Locale) -> Vec<Field<'static>> {
        fields(locale, "discrepancy", &kind_names())
    }

    fn table(locale: Locale, rows: &[Discrepancy]) -> Markup {
        discrepancy_table(locale, rows)
    }
}

/// Discrepancies as a table: kind (explained), what it is about, detail, opened, resolved.
pub fn discrepancy_table(locale: Locale, rows: &[Discrepancy]) -> Markup {
    html! {
        table class="discrepancies" {
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
        }
    }
}

/// The alerts list, by the filters of its query.
#[derive(Clone)]
struct Alerts(Filters);

impl List for Alerts {
    const PATH: &'static str = "/console/alerts";
    const TITLE: &'static str = "nav.alerts";
    const CSV_FILE: &'static str = "alerts.csv";
    type Row = MerchantAlert;
    type Cursor = (time::OffsetDateTime, i64);

    fn read(locale: Locale, q: &ListQuery) -> Result<Self, ConsoleError> {
        Filters::read(locale, q, &ALERT_KINDS).map(Alerts)
    }

    fn parse_cursor(c: &str) -> Result<Self::Cursor, InvalidRequest> {
        cursor::parse_alert(c)
    }

    fn cursor_of(a: &MerchantAlert) -> String {
        cursor::alert(a.opened_at, a.id)
    }

    async fn fetch(
        &self,
        conn: &mut PgConnection,
        after: Option<&Self::Cursor>,
        limit: i64,
    ) -> Result<Vec<MerchantAlert>, sqlx::Error> {
        let Alerts(f) = self;
        let filter = AlertFilter {
            merchant_id: f.merchant_id.as_deref(),
            kind: f.kind.as_deref(),
            status: f.status.as_deref(),
            opened_from: f.from,
            opened_before: f.before,
        };
        db::back_office::alerts_page(conn, &filter, after.copied(), limit).await
    }

    fn fields(locale: Locale) -> Vec<Field<'static>> {
        fields(locale, "alert", &ALERT_KINDS)
    }

    fn table(locale: Locale, rows: &[MerchantAlert]) -> Markup {
        html! {
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
                    @for a in rows {
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
        }
    }
}
