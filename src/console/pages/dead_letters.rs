//! Dead letters: events a handler gave up on, listed for everyone; redriven (one, or all)
//! only by an admin, after a confirmation page, with a CSRF token, and recorded in the audit
//! log. A viewer sees the list and is refused the redrive with 403.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;
use sqlx::PgConnection;
use time::format_description::well_known::Rfc3339;

use super::list::{self, List};
use crate::console::ConsoleError;
use crate::console::i18n::{Locale, label, t};
use crate::console::layout::{self, Field, ListQuery};
use crate::console::session::Session;
use crate::db;
use crate::db::console::{DeadLetter, DeadLetterFilter};
use crate::http::AppState;
use crate::http::back_office::InvalidRequest;
use crate::http::back_office::csv::CsvRecord;
use crate::worker::Handler;

pub fn routes() -> Router<AppState> {
    list::routes::<DeadLetters>().route("/console/dead-letters/redrive", get(confirm).post(redrive))
}

impl CsvRecord for DeadLetter {
    const HEADER: &'static [&'static str] = &[
        "id",
        "merchant_id",
        "handler",
        "profile_id",
        "event_id",
        "event_type",
        "error",
        "attempts",
        "last_failed_at",
    ];

    fn fields(&self) -> Result<Vec<String>, time::error::Format> {
        Ok(vec![
            self.id.to_string(),
            self.merchant_id.clone().unwrap_or_default(),
            self.handler.clone(),
            self.profile_id.clone(),
            self.event_id.clone(),
            self.event_type.clone(),
            self.error.clone(),
            self.attempts.to_string(),
            self.last_failed_at.format(&Rfc3339)?,
        ])
    }
}

fn handler_names() -> Vec<&'static str> {
    Handler::ALL.iter().map(|h| h.name()).collect()
}

/// The dead letters not yet redriven, by the filters of its query.
#[derive(Clone)]
struct DeadLetters {
    merchant_id: Option<String>,
    handler: Option<String>,
    from: Option<time::OffsetDateTime>,
    before: Option<time::OffsetDateTime>,
}

impl List for DeadLetters {
    const PATH: &'static str = "/console/dead-letters";
    const TITLE: &'static str = "nav.dead_letters";
    const CSV_FILE: &'static str = "dead-letters.csv";
    type Row = DeadLetter;
    type Cursor = i64;

    fn read(locale: Locale, q: &ListQuery) -> Result<Self, ConsoleError> {
        let (from, before) = q.date_range(locale)?;
        Ok(DeadLetters {
            merchant_id: q.merchant(locale)?.map(str::to_owned),
            handler: ListQuery::one_of(locale, &q.handler, "handler", &handler_names())?
                .map(str::to_owned),
            from,
            before,
        })
    }

    fn parse_cursor(cursor: &str) -> Result<i64, InvalidRequest> {
        list::parse_id(cursor)
    }

    fn cursor_of(d: &DeadLetter) -> String {
        d.id.to_string()
    }

    async fn fetch(
        &self,
        conn: &mut PgConnection,
        after_id: Option<&i64>,
        limit: i64,
    ) -> Result<Vec<DeadLetter>, sqlx::Error> {
        let filter = DeadLetterFilter {
            merchant_id: self.merchant_id.as_deref(),
            handler: self.handler.as_deref(),
            failed_from: self.from,
            failed_before: self.before,
        };
        db::console::dead_letters_page(conn, &filter, after_id.copied(), limit).await
    }

    fn fields(locale: Locale) -> Vec<Field<'static>> {
        vec![
            Field::Merchant,
            Field::Select {
                name: "handler",
                label: "filter.handler",
                options: layout::options(locale, "handler", &handler_names()),
            },
            Field::Dates,
        ]
    }

    fn table(locale: Locale, rows: &[DeadLetter]) -> Markup {
        html! {
            table id="dead-letters" {
                thead { tr {
                    th scope="col" { (t(locale, "col.event")) }
                    th scope="col" { (t(locale, "col.merchant")) }
                    th scope="col" { (t(locale, "col.handler")) }
                    th scope="col" { (t(locale, "col.type")) }
                    th scope="col" { (t(locale, "col.error")) }
                    th scope="col" class="num" { (t(locale, "col.attempts")) }
                    th scope="col" { (t(locale, "col.time")) }
                    th scope="col" { (t(locale, "dead.redrive")) }
                } }
                tbody {
                    @for d in rows {
                        tr {
                            td { code { (d.event_id) } }
                            td { (d.merchant_id.as_deref().unwrap_or("—")) }
                            td { (label(locale, "handler", &d.handler)) }
                            td { code { (d.event_type) } }
                            td { (d.error) }
                            td class="num" { (d.attempts) }
                            td { (layout::time(locale, d.last_failed_at)) }
                            td {
                                a href={ "/console/dead-letters/redrive?event_id=" (layout::encode(&d.event_id)) } class="redrive" {
                                    (t(locale, "dead.redrive")) span class="visually-hidden" { " " (d.event_id) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A viewer is told up front that the redrive is not theirs.
    fn before(session: &Session) -> Markup {
        html! {
            @if !session.is_admin() { p class="notice" { (t(session.locale, "dead.viewer")) } }
        }
    }

    fn after_table(locale: Locale, rows: &[DeadLetter]) -> Markup {
        html! {
            @if !rows.is_empty() {
                p { a href="/console/dead-letters/redrive" id="redrive-all" class="button" { (t(locale, "dead.redrive_all")) } }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct RedriveQuery {
    event_id: Option<String>,
}

fn valid_event_id(session: &Session, event_id: Option<&str>) -> Result<(), ConsoleError> {
    match event_id {
        Some(id) if crate::domain::EventId::parse(id).is_none() => Err(ConsoleError::BadRequest(
            session.locale,
            "event_id must be a Stripe event id, e.g. evt_1Qx...".into(),
        )),
        _ => Ok(()),
    }
}

/// The confirmation step: what will be redriven, and the form that does it.
async fn confirm(
    session: Session,
    Query(q): Query<RedriveQuery>,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    if !session.is_admin() {
        return Err(ConsoleError::Forbidden(locale));
    }
    let event_id = q.event_id.as_deref().filter(|e| !e.is_empty());
    valid_event_id(&session, event_id)?;
    let content = html! {
        p {
            @match event_id {
                Some(id) => { (t(locale, "dead.confirm_one")) " " code { (id) } },
                None => (t(locale, "dead.confirm_all")),
            }
        }
        form method="post" action="/console/dead-letters/redrive" class="inline" {
            input type="hidden" name="csrf" value=(session.csrf_token());
            @if let Some(id) = event_id { input type="hidden" name="event_id" value=(id); }
            button type="submit" id="confirm-redrive" class="danger" { (t(locale, "dead.confirm")) }
        }
        " "
        a href="/console/dead-letters" { (t(locale, "dead.cancel")) }
    };
    Ok(layout::page(
        &session,
        "/console/dead-letters",
        t(locale, "dead.confirm_title"),
        "/console/dead-letters",
        content,
    ))
}

#[derive(Debug, Deserialize)]
struct RedriveForm {
    csrf: Option<String>,
    event_id: Option<String>,
}

/// Redrives one parked event (every handler's copy of it), or all, and records it.
#[tracing::instrument(skip_all)]
async fn redrive(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<RedriveForm>,
) -> Result<Response, ConsoleError> {
    let locale = session.locale;
    if !session.is_admin() {
        return Err(ConsoleError::Forbidden(locale));
    }
    session.check_csrf(form.csrf.as_deref())?;
    let event_id = form.event_id.as_deref().filter(|e| !e.is_empty());
    valid_event_id(&session, event_id)?;
    let console = &state.console;
    let redriven = crate::worker::dead_letters::redrive(
        &state.pool,
        &console.amqp_url,
        &console.topology,
        event_id,
        crate::progress::SILENT,
    )
    .await
    .map_err(|error| {
        tracing::error!(%error, "console redrive failed");
        ConsoleError::Unavailable(locale)
    })?;
    let ids: Vec<&str> = redriven.iter().map(|d| d.event_id.as_str()).collect();
    let audit = async {
        let mut conn = state.pool.acquire().await?;
        db::merchants::audit(
            &mut conn,
            &db::merchants::AuditEntry {
                actor: session.actor().as_str(),
                merchant_id: None,
                profile_id: None,
                action: "dead_letters.redrive",
                detail: serde_json::json!({ "event_ids": ids, "asked_for": event_id.unwrap_or("all") }),
            },
        )
        .await
    };
    audit
        .await
        .map_err(ConsoleError::from_database_in(locale, "record a redrive"))?;
    tracing::info!(actor = %session.actor(), count = redriven.len(), "dead letters redriven from the console");
    Ok(Redirect::to(&format!(
        "/console/dead-letters?redriven={}",
        redriven.len()
    ))
    .into_response())
}
