//! The audit log: who changed what and when (merchants, profiles, redrives), newest first,
//! filtered by merchant, action and day.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::get;
use maud::html;
use time::format_description::well_known::Rfc3339;

use super::{PAGE_ROWS, csv_download, parse_cursor, split};
use crate::console::ConsoleError;
use crate::console::i18n::t;
use crate::console::layout::{self, Field, ListQuery};
use crate::console::session::Session;
use crate::db;
use crate::db::console::AuditFilter;
use crate::db::merchants::AuditRow;
use crate::http::AppState;
use crate::http::back_office::csv::CsvRecord;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/audit", get(list))
        .route("/console/audit.csv", get(download))
}

impl CsvRecord for AuditRow {
    const HEADER: &'static [&'static str] = &[
        "id",
        "at",
        "actor",
        "merchant_id",
        "profile_id",
        "action",
        "detail",
    ];

    fn fields(&self) -> Result<Vec<String>, time::error::Format> {
        Ok(vec![
            self.id.to_string(),
            self.at.format(&Rfc3339)?,
            self.actor.clone(),
            self.merchant_id.clone().unwrap_or_default(),
            self.profile_id.clone().unwrap_or_default(),
            self.action.clone(),
            self.detail.to_string(),
        ])
    }
}

#[derive(Clone)]
struct Filters {
    merchant_id: Option<String>,
    action: Option<String>,
    from: Option<time::OffsetDateTime>,
    before: Option<time::OffsetDateTime>,
}

impl Filters {
    fn read(session: &Session, q: &ListQuery) -> Result<Self, ConsoleError> {
        let locale = session.locale;
        let (from, before) = q.date_range(locale)?;
        let action = ListQuery::value(&q.action);
        if action.is_some_and(|a| a.len() > 100) {
            return Err(ConsoleError::BadRequest(
                locale,
                "action must be at most 100 characters".into(),
            ));
        }
        Ok(Filters {
            merchant_id: q.merchant(locale)?.map(str::to_owned),
            action: action.map(str::to_owned),
            from,
            before,
        })
    }

    fn db(&self) -> AuditFilter<'_> {
        AuditFilter {
            merchant_id: self.merchant_id.as_deref(),
            action: self.action.as_deref(),
            from: self.from,
            before: self.before,
        }
    }
}

async fn page_of(
    pool: &sqlx::PgPool,
    filters: &Filters,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<AuditRow>, Option<String>), sqlx::Error> {
    let mut conn = super::reader(pool).await?;
    let rows = db::console::audit_page(&mut conn, &filters.db(), before_id, limit + 1).await?;
    Ok(split(rows, limit, |a| a.id.to_string()))
}

#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    let filters = Filters::read(&session, &q)?;
    let before = parse_cursor(locale, q.cursor.as_deref(), |c| {
        c.parse::<i64>()
            .map_err(|_| crate::http::back_office::InvalidRequest::Cursor)
    })?;
    let (rows, next) = page_of(&state.pool, &filters, before, PAGE_ROWS)
        .await
        .map_err(ConsoleError::from_database_in(locale, "audit page"))?;
    let form = layout::filters(
        locale,
        "/console/audit",
        &q,
        &[
            Field::Merchant,
            Field::Text {
                name: "action",
                label: "filter.action",
            },
            Field::Dates,
        ],
    );
    let table = html! {
        table id="audit" {
            thead { tr {
                th scope="col" { (t(locale, "col.time")) }
                th scope="col" { (t(locale, "col.actor")) }
                th scope="col" { (t(locale, "col.action")) }
                th scope="col" { (t(locale, "col.merchant")) }
                th scope="col" { (t(locale, "col.profile")) }
                th scope="col" { (t(locale, "col.detail")) }
            } }
            tbody {
                @for a in &rows {
                    tr {
                        td { (layout::time(locale, a.at)) }
                        td { (a.actor) }
                        td { code { (a.action) } }
                        td { (a.merchant_id.as_deref().unwrap_or("—")) }
                        td { (a.profile_id.as_deref().unwrap_or("—")) }
                        td { code class="detail" { (a.detail.to_string()) } }
                    }
                }
            }
        }
    };
    let content = html! {
        (form)
        (layout::table_or_empty(locale, rows.is_empty(), table))
        (layout::list_footer(locale, "/console/audit", &q, next.as_deref()))
    };
    let back = format!("/console/audit?{}", q.filters_query());
    Ok(layout::page(
        &session,
        "/console/audit",
        t(locale, "nav.audit"),
        &back,
        content,
    ))
}

async fn download(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let locale = session.locale;
    let filters = Filters::read(&session, &q)?;
    let style = q.csv_style(locale)?;
    let pool = state.pool.clone();
    csv_download(
        locale,
        "audit-log.csv",
        style,
        move |before: Option<i64>, limit| {
            let pool = pool.clone();
            let filters = filters.clone();
            async move {
                let (rows, next) = page_of(&pool, &filters, before, limit).await?;
                Ok((rows, next.and_then(|c| c.parse().ok())))
            }
        },
    )
    .await
}
