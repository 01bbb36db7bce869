//! Payouts: the filtered list, its CSV, and a payout's page (gross, refunds, disputes, fees,
//! net, every line with its order, the reconciliation state, Stripe's failure message).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use axum::routing::get;
use maud::{Markup, html};
use sqlx::PgConnection;

use super::csv_download;
use super::list::{self, List};
use crate::console::ConsoleError;
use crate::console::i18n::{Locale, label, t};
use crate::console::layout::{self, Field, ListQuery, badge, money, tone_of};
use crate::console::session::Session;
use crate::db;
use crate::db::back_office::{Payout, PayoutFilter, PayoutLine};
use crate::domain::PAYOUT_STATUSES;
use crate::http::AppState;
use crate::http::back_office::{InvalidRequest, cursor, is_valid_payout_id, split_page};

pub fn routes() -> Router<AppState> {
    list::routes::<Payouts>()
        .route("/console/payouts/{payout_id}", get(show))
        .route(
            "/console/payouts/{payout_id}/lines.csv",
            get(download_lines),
        )
}

/// The payouts list, by the filters of its query.
#[derive(Clone)]
struct Payouts {
    merchant_id: Option<String>,
    status: Option<String>,
    from: Option<time::OffsetDateTime>,
    before: Option<time::OffsetDateTime>,
}

impl List for Payouts {
    const PATH: &'static str = "/console/payouts";
    const TITLE: &'static str = "nav.payouts";
    const CSV_FILE: &'static str = "payouts.csv";
    type Row = Payout;
    type Cursor = (Option<time::OffsetDateTime>, String);

    fn read(locale: Locale, q: &ListQuery) -> Result<Self, ConsoleError> {
        let (from, before) = q.date_range(locale)?;
        Ok(Payouts {
            merchant_id: q.merchant(locale)?.map(str::to_owned),
            status: ListQuery::one_of(locale, &q.status, "status", &PAYOUT_STATUSES)?
                .map(str::to_owned),
            from,
            before,
        })
    }

    fn parse_cursor(c: &str) -> Result<Self::Cursor, InvalidRequest> {
        cursor::parse_payout(c)
    }

    fn cursor_of(p: &Payout) -> String {
        cursor::payout(p.arrival_date, &p.payout_id)
    }

    async fn fetch(
        &self,
        conn: &mut PgConnection,
        after: Option<&Self::Cursor>,
        limit: i64,
    ) -> Result<Vec<Payout>, sqlx::Error> {
        let filter = PayoutFilter {
            merchant_id: self.merchant_id.as_deref(),
            status: self.status.as_deref(),
            arrival_from: self.from,
            arrival_before: self.before,
        };
        let after = after.map(|(t, id)| (*t, id.as_str()));
        db::back_office::payouts_page(conn, &filter, after, limit).await
    }

    fn fields(locale: Locale) -> Vec<Field<'static>> {
        vec![
            Field::Merchant,
            Field::Select {
                name: "status",
                label: "filter.status",
                options: layout::options(locale, "payout_status", &PAYOUT_STATUSES),
            },
            Field::Dates,
        ]
    }

    fn table(locale: Locale, rows: &[Payout]) -> Markup {
        html! {
            table id="payouts" {
                thead { tr {
                    th scope="col" { (t(locale, "col.payout")) }
                    th scope="col" { (t(locale, "col.merchant")) }
                    th scope="col" class="num" { (t(locale, "col.amount")) }
                    th scope="col" { (t(locale, "col.status")) }
                    th scope="col" { (t(locale, "col.arrival")) }
                    th scope="col" class="num" { (t(locale, "col.lines")) }
                    th scope="col" { (t(locale, "col.reconciled")) }
                    th scope="col" { (t(locale, "col.failure")) }
                } }
                tbody {
                    @for p in rows {
                        tr {
                            th scope="row" { a href={ "/console/payouts/" (layout::encode(&p.payout_id)) } { (p.payout_id) } }
                            td { (p.merchant_id) }
                            td class="num" { (money(locale, p.amount, &p.currency)) }
                            td { (badge(&label(locale, "payout_status", &p.status), tone_of(&p.status))) }
                            td { (layout::opt_time(locale, p.arrival_date)) }
                            td class="num" { (p.line_count) }
                            td { @if p.reconciled { (t(locale, "yes")) } @else { (t(locale, "no")) } }
                            td { (p.failure_message.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// A payout's lines summed by what they are.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Breakdown {
    pub gross: i64,
    pub refunds: i64,
    pub disputes: i64,
    pub other: i64,
    pub fees: i64,
    pub net: i64,
}

/// Sums the lines: charges and payments are gross, refunds and disputes (and their
/// reversals) by their own kind, everything else "other"; fees and net over every line.
pub fn breakdown(lines: &[PayoutLine]) -> Breakdown {
    let mut b = Breakdown::default();
    // The payout's own balance transaction is the money leaving (minus the net), not money it
    // carried: counted, it would cancel the net out.
    for l in lines.iter().filter(|l| l.r#type != "payout") {
        let category = l.reporting_category.as_deref().unwrap_or(l.r#type.as_str());
        match category {
            "charge" | "payment" => b.gross += l.amount,
            "refund" | "refund_failure" | "payment_refund" | "payment_failure_refund" => {
                b.refunds += l.amount
            }
            "dispute" | "dispute_reversal" | "adjustment" if l.dispute_id.is_some() => {
                b.disputes += l.amount
            }
            "dispute" | "dispute_reversal" => b.disputes += l.amount,
            _ => b.other += l.amount,
        }
        b.fees += l.fee;
        b.net += l.net;
    }
    b
}

#[tracing::instrument(skip_all, fields(payout_id = %payout_id))]
async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(payout_id): Path<String>,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    if !is_valid_payout_id(&payout_id) {
        return Err(ConsoleError::NotFound(locale));
    }
    let read = async {
        let mut tx = super::snapshot(&state.pool).await?;
        let Some(payout) = db::back_office::payout(&mut tx, &payout_id).await? else {
            return Ok(None);
        };
        let lines = db::back_office::payout_lines(&mut tx, &payout_id, None, None).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some((payout, lines)))
    };
    let (payout, lines) = read
        .await
        .map_err(ConsoleError::from_database_in(locale, "payout page"))?
        .ok_or(ConsoleError::NotFound(locale))?;
    let c = &payout.currency;
    let sums = breakdown(&lines);
    let content = html! {
        @if let Some(message) = &payout.failure_message {
            div class="error" role="alert" id="payout-failure" {
                strong { (t(locale, "payout.failed")) ": " }
                (message)
                @if let Some(code) = &payout.failure_code { " (" code { (code) } ")" }
            }
        }
        section aria-labelledby="h-summary" {
            h2 id="h-summary" { (t(locale, "payout.summary")) }
            dl class="facts" id="payout-summary" {
                dt { (t(locale, "col.status")) }
                dd { (badge(&label(locale, "payout_status", &payout.status), tone_of(&payout.status))) }
                dt { (t(locale, "col.merchant")) }
                dd { (payout.merchant_id) }
                dt { (t(locale, "col.arrival")) }
                dd { (layout::opt_time(locale, payout.arrival_date)) }
                dt { (t(locale, "payout.gross")) }
                dd { (money(locale, sums.gross, c)) }
                dt { (t(locale, "payout.refunds")) }
                dd { (money(locale, sums.refunds, c)) }
                dt { (t(locale, "payout.disputes")) }
                dd { (money(locale, sums.disputes, c)) }
                @if sums.other != 0 {
                    dt { (t(locale, "payout.other")) }
                    dd { (money(locale, sums.other, c)) }
                }
                dt { (t(locale, "payout.fees")) }
                dd { (money(locale, -sums.fees, c)) }
                dt { (t(locale, "payout.net")) }
                dd { (money(locale, sums.net, c)) }
                dt { (t(locale, "payout.amount")) }
                dd { strong { (money(locale, payout.amount, c)) } }
                dt { (t(locale, "payout.reconciliation")) }
                dd {
                    @if payout.reconciled { (badge(t(locale, "col.reconciled"), "good")) } @else { (badge(t(locale, "no"), "neutral")) }
                    @if let Some(s) = &payout.reconciliation_status { " " code { (s) } }
                    @if let Some(note) = &payout.itemization_note { " · " (note) }
                }
            }
        }
        section aria-labelledby="h-lines" {
            h2 id="h-lines" { (t(locale, "payout.lines")) }
            @if lines.is_empty() {
                p class="muted" { (t(locale, "payout.no_lines")) }
            } @else {
                (lines_table(locale, &lines))
            }
            p class="downloads" {
                (t(locale, "csv")) ": "
                a href={ "/console/payouts/" (layout::encode(&payout.payout_id)) "/lines.csv?separator=semicolon" } download { (t(locale, "csv.semicolon")) }
                " · "
                a href={ "/console/payouts/" (layout::encode(&payout.payout_id)) "/lines.csv?separator=comma" } download { (t(locale, "csv.comma")) }
            }
        }
    };
    let title = format!("{} {}", t(locale, "payout.title"), payout.payout_id);
    let back = format!("/console/payouts/{}", layout::encode(&payout.payout_id));
    Ok(layout::page(
        &session,
        "/console/payouts",
        &title,
        &back,
        content,
    ))
}

fn lines_table(locale: Locale, lines: &[PayoutLine]) -> Markup {
    html! {
        div class="table-wrap" { table id="payout-lines" {
            thead { tr {
                th scope="col" { (t(locale, "col.transaction")) }
                th scope="col" { (t(locale, "col.type")) }
                th scope="col" { (t(locale, "col.order")) }
                th scope="col" class="num" { (t(locale, "col.amount")) }
                th scope="col" class="num" { (t(locale, "col.fee")) }
                th scope="col" class="num" { (t(locale, "col.net")) }
            } }
            tbody {
                @for l in lines {
                    tr {
                        td { code { (l.balance_transaction_id) } }
                        td { (l.reporting_category.as_deref().unwrap_or(&l.r#type)) }
                        td { @if let Some(o) = &l.order_id { a href={ "/console/orders/" (layout::encode(o)) } { (o) } } }
                        td class="num" { (money(locale, l.amount, &l.currency)) }
                        td class="num" { (money(locale, l.fee, &l.currency)) }
                        td class="num" { (money(locale, l.net, &l.currency)) }
                    }
                }
            }
        } }
    }
}

async fn download_lines(
    State(state): State<AppState>,
    session: Session,
    Path(payout_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let locale = session.locale;
    if !is_valid_payout_id(&payout_id) {
        return Err(ConsoleError::NotFound(locale));
    }
    let style = q.csv_style(locale)?;
    let pool = state.pool.clone();
    csv_download(
        locale,
        "payout-lines.csv",
        style,
        move |after: Option<String>, limit| {
            let pool = pool.clone();
            let payout_id = payout_id.clone();
            async move {
                let mut conn = super::reader(&pool).await?;
                let rows = db::back_office::payout_lines(
                    &mut conn,
                    &payout_id,
                    after.as_deref(),
                    Some(limit + 1),
                )
                .await?;
                let (rows, next) = split_page(rows, limit, |l| l.balance_transaction_id.clone());
                Ok((rows, next))
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(category: &str, amount: i64, fee: i64, dispute: bool) -> PayoutLine {
        PayoutLine {
            merchant_id: "m".into(),
            payout_id: "po_1".into(),
            balance_transaction_id: format!("txn_{category}{amount}"),
            r#type: category.into(),
            reporting_category: Some(category.into()),
            amount,
            fee,
            net: amount - fee,
            currency: "eur".into(),
            source_id: None,
            charge_id: None,
            refund_id: None,
            dispute_id: dispute.then(|| "dp_1".into()),
            payment_intent_id: None,
            order_id: None,
        }
    }

    #[test]
    fn a_payouts_lines_add_up_to_gross_refunds_disputes_fees_and_net() {
        let lines = [
            line("charge", 10_000, 320, false),
            line("charge", 5_000, 170, false),
            line("refund", -2_000, 0, false),
            line("dispute", -5_000, 1_500, true),
            line("adjustment", -100, 0, false),
            line("payout", -(15_000 - 2_000 - 5_000 - 100 - 1_990), 0, false),
        ];
        assert_eq!(
            breakdown(&lines),
            Breakdown {
                gross: 15_000,
                refunds: -2_000,
                disputes: -5_000,
                other: -100,
                fees: 1_990,
                net: 15_000 - 2_000 - 5_000 - 100 - 1_990,
            }
        );
    }
}
