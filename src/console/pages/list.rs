//! What every filtered, keyset-paged list of the console shares: the page (filter form, table
//! or "nothing matches", paging and CSV links) and its CSV download of every filtered row.
//! A list says only what is its own ([`List`]): its filters, how a page of its rows is read
//! and where the next one starts, its filter fields and its table.

use std::future::Future;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, Response};
use axum::routing::get;
use maud::{Markup, html};
use sqlx::{PgConnection, PgPool};

use super::{PAGE_ROWS, csv_download, parse_cursor, reader};
use crate::console::ConsoleError;
use crate::console::i18n::{Locale, t};
use crate::console::layout::{self, Field, ListQuery};
use crate::console::session::Session;
use crate::http::AppState;
use crate::http::back_office::csv::CsvRecord;
use crate::http::back_office::{InvalidRequest, split_page};

/// A list's checked filters, and everything else that makes it this list.
pub(crate) trait List: Clone + Send + Sync + Sized + 'static {
    /// The page; its CSV is at `PATH.csv`.
    const PATH: &'static str;
    /// The text key of the page's title.
    const TITLE: &'static str;
    /// The CSV download's file name.
    const CSV_FILE: &'static str;
    type Row: CsvRecord + Send + Sync + 'static;
    /// The position after a row, as [`List::parse_cursor`] reads it back.
    type Cursor: Send + Sync + 'static;

    /// The filters of the query, checked (400 with what to send instead).
    fn read(locale: Locale, q: &ListQuery) -> Result<Self, ConsoleError>;
    fn parse_cursor(cursor: &str) -> Result<Self::Cursor, InvalidRequest>;
    fn cursor_of(row: &Self::Row) -> String;
    /// Up to `limit` rows after `after`, through an index.
    fn fetch(
        &self,
        conn: &mut PgConnection,
        after: Option<&Self::Cursor>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send;
    /// The filter form's fields.
    fn fields(locale: Locale) -> Vec<Field<'static>>;
    /// The rows (never none) as a table.
    fn table(locale: Locale, rows: &[Self::Row]) -> Markup;
    /// What stands before the filter form; nothing unless a list says.
    fn before(_session: &Session) -> Markup {
        html! {}
    }
    /// What stands between the table and the paging links; nothing unless a list says.
    fn after_table(_locale: Locale, _rows: &[Self::Row]) -> Markup {
        html! {}
    }
}

/// The list's page and its CSV.
pub(crate) fn routes<L: List>() -> Router<AppState> {
    Router::new()
        .route(L::PATH, get(show::<L>))
        .route(&format!("{}.csv", L::PATH), get(download::<L>))
}

/// One page of rows and, when there are more, the cursor of the next.
async fn page_of<L: List>(
    pool: &PgPool,
    filters: &L,
    after: Option<&L::Cursor>,
    limit: i64,
) -> Result<(Vec<L::Row>, Option<String>), sqlx::Error> {
    let mut conn = reader(pool).await?;
    let rows = filters.fetch(&mut conn, after, limit + 1).await?;
    Ok(split_page(rows, limit, L::cursor_of))
}

#[tracing::instrument(skip_all, fields(list = L::PATH))]
async fn show<L: List>(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    let filters = L::read(locale, &q)?;
    let after = parse_cursor(locale, q.cursor.as_deref(), L::parse_cursor)?;
    let (rows, next) = page_of(&state.pool, &filters, after.as_ref(), PAGE_ROWS)
        .await
        .map_err(ConsoleError::from_database_in(locale, L::PATH))?;
    let content = html! {
        (L::before(&session))
        (layout::filters(locale, L::PATH, &q, &L::fields(locale)))
        @if rows.is_empty() {
            p class="empty" { (t(locale, "empty")) }
        } @else {
            div class="table-wrap" { (L::table(locale, &rows)) }
        }
        (L::after_table(locale, &rows))
        (layout::list_footer(locale, L::PATH, &q, next.as_deref()))
    };
    let back = format!("{}?{}", L::PATH, q.filters_query());
    Ok(layout::page(
        &session,
        L::PATH,
        t(locale, L::TITLE),
        &back,
        content,
    ))
}

#[tracing::instrument(skip_all, fields(list = L::PATH))]
async fn download<L: List>(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let locale = session.locale;
    let filters = L::read(locale, &q)?;
    let style = q.csv_style(locale)?;
    let pool = state.pool.clone();
    csv_download(
        locale,
        L::CSV_FILE,
        style,
        move |after: Option<L::Cursor>, limit| {
            let pool = pool.clone();
            let filters = filters.clone();
            async move {
                let (rows, next) = page_of(&pool, &filters, after.as_ref(), limit).await?;
                Ok((rows, next.and_then(|c| L::parse_cursor(&c).ok())))
            }
        },
    )
    .await
}

/// The cursor of a list ordered by a row id alone: the id.
pub(crate) fn parse_id(cursor: &str) -> Result<i64, InvalidRequest> {
    cursor.parse().map_err(|_| InvalidRequest::Cursor)
}
