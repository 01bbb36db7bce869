//! Orders: the filtered list, its CSV, an order's page (amounts, status, every Stripe event
//! about it with the raw JSON on demand, its discrepancies, the payout that settled it).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use maud::{Markup, html};
use sqlx::PgConnection;

use super::list::{self, List};
use crate::console::ConsoleError;
use crate::console::i18n::{Locale, label, t};
use crate::console::layout::{self, Field, ListQuery, badge, money, tone_of};
use crate::console::session::Session;
use crate::db;
use crate::db::back_office::{OrderFilter, OrderReconciliation};
use crate::domain::{ORDER_STATUSES, is_valid_order_id};
use crate::http::AppState;
use crate::http::back_office::{InvalidRequest, cursor};

pub fn routes() -> Router<AppState> {
    list::routes::<Orders>()
        .route("/console/orders/{order_id}", get(show))
        .route(
            "/console/orders/{order_id}/events/{profile_id}/{event_id}",
            get(event_json),
        )
}

/// The orders list, by the filters of its query.
#[derive(Clone)]
struct Orders {
    merchant_id: Option<String>,
    status: Option<String>,
    from: Option<time::OffsetDateTime>,
    before: Option<time::OffsetDateTime>,
}

impl List for Orders {
    const PATH: &'static str = "/console/orders";
    const TITLE: &'static str = "nav.orders";
    const CSV_FILE: &'static str = "orders.csv";
    type Row = OrderReconciliation;
    type Cursor = (time::OffsetDateTime, String);

    fn read(locale: Locale, q: &ListQuery) -> Result<Self, ConsoleError> {
        let (from, before) = q.date_range(locale)?;
        Ok(Orders {
            merchant_id: q.merchant(locale)?.map(str::to_owned),
            status: ListQuery::one_of(locale, &q.status, "status", &ORDER_STATUSES)?
                .map(str::to_owned),
            from,
            before,
        })
    }

    fn parse_cursor(cursor: &str) -> Result<Self::Cursor, InvalidRequest> {
        cursor::parse_order(cursor)
    }

    fn cursor_of(r: &OrderReconciliation) -> String {
        cursor::order(r.placed_at, &r.order_id)
    }

    async fn fetch(
        &self,
        conn: &mut PgConnection,
        after: Option<&Self::Cursor>,
        limit: i64,
    ) -> Result<Vec<OrderReconciliation>, sqlx::Error> {
        let filter = OrderFilter {
            merchant_id: self.merchant_id.as_deref(),
            status: self.status.as_deref(),
            placed_from: self.from,
            placed_before: self.before,
        };
        let after = after.map(|(t, id)| (*t, id.as_str()));
        db::back_office::orders_page(conn, &filter, after, limit).await
    }

    fn fields(locale: Locale) -> Vec<Field<'static>> {
        vec![
            Field::Merchant,
            Field::Select {
                name: "status",
                label: "filter.status",
                options: layout::options(locale, "status", &ORDER_STATUSES),
            },
            Field::Dates,
        ]
    }

    fn table(locale: Locale, rows: &[OrderReconciliation]) -> Markup {
        html! {
            table id="orders" {
                thead { tr {
                    th scope="col" { (t(locale, "col.order")) }
                    th scope="col" { (t(locale, "col.merchant")) }
                    th scope="col" class="num" { (t(locale, "col.amount")) }
                    th scope="col" class="num" { (t(locale, "col.paid")) }
                    th scope="col" class="num" { (t(locale, "col.refunded")) }
                    th scope="col" { (t(locale, "col.status")) }
                    th scope="col" { (t(locale, "col.placed")) }
                    th scope="col" { (t(locale, "col.payout")) }
                    th scope="col" class="num" { (t(locale, "col.open_discrepancies")) }
                } }
                tbody {
                    @for r in rows {
                        tr {
                            th scope="row" { a href={ "/console/orders/" (layout::encode(&r.order_id)) } { (r.order_id) } }
                            td { (r.merchant_id) }
                            td class="num" { (money(locale, r.amount, &r.currency)) }
                            td class="num" { (money(locale, r.amount_paid, &r.currency)) }
                            td class="num" { (money(locale, r.amount_refunded, &r.currency)) }
                            td { (badge(&label(locale, "status", &r.status), tone_of(&r.status))) }
                            td { (layout::time(locale, r.placed_at)) }
                            td { @if let Some(p) = &r.payout_id { a href={ "/console/payouts/" (layout::encode(p)) } { (p) } } }
                            td class="num" { (r.open_discrepancies) }
                        }
                    }
                }
            }
        }
    }
}

#[tracing::instrument(skip_all, fields(order_id = %order_id))]
async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(order_id): Path<String>,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    if !is_valid_order_id(&order_id) {
        return Err(ConsoleError::NotFound(locale));
    }
    let read = async {
        let mut tx = super::snapshot(&state.pool).await?;
        let Some(order) = db::back_office::order(&mut tx, &order_id).await? else {
            return Ok(None);
        };
        let events = match &order.payment_intent_id {
            Some(pi) => db::console::events_of_payment_intent(&mut tx, pi).await?,
            None => Vec::new(),
        };
        let discrepancies = db::back_office::discrepancies_of_order(&mut tx, &order_id).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some((order, events, discrepancies)))
    };
    let (order, events, discrepancies) = read
        .await
        .map_err(ConsoleError::from_database_in(locale, "order page"))?
        .ok_or(ConsoleError::NotFound(locale))?;
    let c = &order.currency;
    let content = html! {
        section aria-labelledby="h-amounts" {
            h2 id="h-amounts" { (t(locale, "order.amounts")) }
            dl class="facts" {
                dt { (t(locale, "col.status")) }
                dd { (badge(&label(locale, "status", &order.status), tone_of(&order.status))) }
                dt { (t(locale, "col.merchant")) }
                dd { (order.merchant_id) }
                dt { (t(locale, "col.amount")) }
                dd { (money(locale, order.amount, c)) }
                dt { (t(locale, "col.paid")) }
                dd { (money(locale, order.amount_paid, c)) }
                dt { (t(locale, "col.refunded")) }
                dd { (money(locale, order.amount_refunded, c)) }
                dt { (t(locale, "col.disputed")) }
                dd { (money(locale, order.amount_disputed, c)) }
                dt { (t(locale, "col.placed")) }
                dd { (layout::time(locale, order.placed_at)) }
                dt { (t(locale, "col.last_event")) }
                dd { (layout::opt_time(locale, order.last_event_at)) }
                @if let Some(d) = &order.description {
                    dt { (t(locale, "order.description")) }
                    dd { (d) }
                }
                dt { "PaymentIntent" }
                dd { code { (order.payment_intent_id.as_deref().unwrap_or("—")) } }
            }
        }
        section aria-labelledby="h-settlement" {
            h2 id="h-settlement" { (t(locale, "order.settlement")) }
            @match &order.payout_id {
                Some(p) => p {
                    a href={ "/console/payouts/" (layout::encode(p)) } id="settling-payout" { (p) }
                    " · " (layout::opt_time(locale, order.settled_at))
                },
                None => p class="muted" { (t(locale, "order.not_settled")) },
            }
        }
        section aria-labelledby="h-events" {
            h2 id="h-events" { (t(locale, "order.events")) }
            @if events.is_empty() {
                p class="muted" { (t(locale, "order.no_events")) }
            } @else {
                div class="table-wrap" { table id="events" {
                    thead { tr {
                        th scope="col" { (t(locale, "col.time")) }
                        th scope="col" { (t(locale, "col.type")) }
                        th scope="col" { (t(locale, "col.event")) }
                        th scope="col" { (t(locale, "col.raw")) }
                    } }
                    tbody {
                        @for e in &events {
                            tr {
                                td { (layout::time(locale, e.event_created_at)) }
                                td { code { (e.event_type) } }
                                td { code { (e.event_id) } }
                                td {
                                    a href={ "/console/orders/" (layout::encode(&order.order_id)) "/events/" (layout::encode(&e.profile_id)) "/" (layout::encode(&e.event_id)) } {
                                        (t(locale, "order.show_json")) span class="visually-hidden" { " " (e.event_id) }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
        section aria-labelledby="h-discrepancies" {
            h2 id="h-discrepancies" { (t(locale, "order.discrepancies")) }
            @if discrepancies.is_empty() {
                p class="muted" { (t(locale, "order.no_discrepancies")) }
            } @else {
                div class="table-wrap" { (super::findings::discrepancy_table(locale, &discrepancies)) }
            }
        }
    };
    let title = format!("{} {}", t(locale, "order.title"), order.order_id);
    let back = format!("/console/orders/{}", layout::encode(&order.order_id));
    Ok(layout::page(
        &session,
        "/console/orders",
        &title,
        &back,
        content,
    ))
}

/// One event's body as Stripe sent it, pretty-printed; only an event about this order.
async fn event_json(
    State(state): State<AppState>,
    session: Session,
    Path((order_id, profile_id, event_id)): Path<(String, String, String)>,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    if !is_valid_order_id(&order_id) {
        return Err(ConsoleError::NotFound(locale));
    }
    let read = async {
        let mut conn = super::reader(&state.pool).await?;
        let Some(order) = db::back_office::order(&mut conn, &order_id).await? else {
            return Ok(None);
        };
        let Some(pi) = order.payment_intent_id else {
            return Ok(None);
        };
        let events = db::console::events_of_payment_intent(&mut conn, &pi).await?;
        if !events
            .iter()
            .any(|e| e.event_id == event_id && e.profile_id == profile_id)
        {
            return Ok(None);
        }
        db::console::event_body(&mut conn, &profile_id, &event_id).await
    };
    let body = read
        .await
        .map_err(ConsoleError::from_database_in(locale, "event body"))?
        .ok_or(ConsoleError::NotFound(locale))?;
    let content = html! {
        p { a href={ "/console/orders/" (layout::encode(&order_id)) } { "← " (t(locale, "order.title")) " " (order_id) } }
        (layout::json_block(&body))
    };
    let back = format!(
        "/console/orders/{}/events/{}/{}",
        layout::encode(&order_id),
        layout::encode(&profile_id),
        layout::encode(&event_id)
    );
    Ok(layout::page(
        &session,
        "/console/orders",
        &event_id,
        &back,
        content,
    ))
}
