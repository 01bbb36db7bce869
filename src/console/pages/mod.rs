//! The console's pages, one module per group. Each reads through [`crate::db`] and renders
//! with [`super::layout`].

pub mod audit;
pub mod dead_letters;
pub mod findings;
pub mod list;
pub mod merchants;
pub mod orders;
pub mod overview;
pub mod payouts;
pub mod sign_in;

use std::future::Future;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::ConsoleError;
use super::i18n::Locale;
use crate::http::back_office::csv::{CsvRecord, CsvStyle, csv_document};

/// Rows a CSV download reads per query.
const CSV_PAGE: i64 = 1000;
/// Rows a list page shows.
pub const PAGE_ROWS: i64 = 50;

/// A CSV download of every row the filters select, read page by page (keyset) while it is
/// sent, so a large download holds one page in memory. The first page is read before the
/// response starts, so a failure then is an error page; a failure later ends the download
/// early (logged), which the browser reports as a failed download.
pub(crate) async fn csv_download<T, C, F, Fut>(
    locale: Locale,
    filename: &'static str,
    style: CsvStyle,
    mut fetch: F,
) -> Result<Response, ConsoleError>
where
    T: CsvRecord + Send + 'static,
    C: Send + 'static,
    F: FnMut(Option<C>, i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(Vec<T>, Option<C>), sqlx::Error>> + Send + 'static,
{
    let (rows, next) = fetch(None, CSV_PAGE)
        .await
        .map_err(ConsoleError::from_database_in(locale, "CSV download"))?;
    let first = csv_document(&rows, style).map_err(|error| {
        tracing::error!(%error, "a timestamp cannot be written as RFC 3339");
        ConsoleError::Internal(locale)
    })?;
    // Later pages without the BOM and the header row.
    let body_style = CsvStyle {
        bom: false,
        ..style
    };
    let rest = futures_util::stream::unfold((fetch, next), move |(mut fetch, next)| async move {
        let cursor = next?;
        match fetch(Some(cursor), CSV_PAGE).await {
            Ok((rows, next)) => {
                let chunk = csv_document(&rows, body_style)
                    .map(|doc| doc.split_once("\r\n").map(|(_, rows)| rows.to_owned()))
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                Some((Ok::<_, std::io::Error>(chunk), (fetch, next)))
            }
            Err(error) => {
                tracing::error!(%error, "CSV download ended early");
                Some((Err(std::io::Error::other("database error")), (fetch, None)))
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok(first) }).chain(rest);
    let disposition = format!("attachment; filename=\"{filename}\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("file names are constants"),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// A transaction for a page's reads, planned for the filters at hand: every list query has
/// optional filters (`$1 is null or ...`), and the generic plan a prepared statement settles
/// on after five runs must suit every combination; on a million orders it walks or sorts far
/// more than one page for some (a day's orders: 150 ms generic, 2 ms custom). Planning each
/// request again costs about a millisecond. Dropped without commit: it only reads.
pub(crate) async fn reader(
    pool: &sqlx::PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    crate::db::console::custom_plans(&mut tx).await?;
    Ok(tx)
}

/// A [`reader`] whose reads all see one snapshot, for a page that shows one thing from several
/// queries (an order with its events and discrepancies, a payout with its lines).
pub(crate) async fn snapshot(
    pool: &sqlx::PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    crate::db::back_office::read_only_snapshot(&mut tx).await?;
    crate::db::console::custom_plans(&mut tx).await?;
    Ok(tx)
}

/// A cursor from the query, refused with 400 when it is not one of this list's.
pub fn parse_cursor<C>(
    locale: Locale,
    cursor: Option<&str>,
    parse: impl Fn(&str) -> Result<C, crate::http::back_office::InvalidRequest>,
) -> Result<Option<C>, ConsoleError> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| parse(c).map_err(|e| ConsoleError::BadRequest(locale, e.to_string())))
        .transpose()
}
