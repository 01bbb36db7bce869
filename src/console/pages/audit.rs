//! The audit log: who changed what and when (merchants, profiles, redrives), newest first,
//! filtered by merchant, action and day.

use axum::Router;
use maud::{Markup, html};
use sqlx::PgConnection;
use time::format_description::well_known::Rfc3339;

use super::list::{self, List};
use crate::console::ConsoleError;
use crate::console::i18n::{Locale, t};
use crate::console::layout::{self, Field, ListQuery};
use crate::db;
use crate::db::console::AuditFilter;
use crate::db::merchants::AuditRow;
use crate::http::AppState;
use crate::http::back_office::InvalidRequest;
use crate::http::back_office::csv::CsvRecord;

pub fn routes() -> Router<AppState> {
    list::routes::<Audit>()
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

/// The audit log, newest first, by the filters of its query.
#[derive(Clone)]
struct Audit {
    merchant_id: Option<String>,
    action: Option<String>,
    from: Option<time::OffsetDateTime>,
    before: Option<time::OffsetDateTime>,
}

impl List for Audit {
    const PATH: &'static str = "/console/audit";
    const TITLE: &'static str = "nav.audit";
    const CSV_FILE: &'static str = "audit-log.csv";
    type Row = AuditRow;
    /// The id of the last entry shown: the next page holds older ones.
    type Cursor = i64;

    fn read(locale: Locale, q: &ListQuery) -> Result<Self, ConsoleError> {
        let (from, before) = q.date_range(locale)?;
        let action = ListQuery::value(&q.action);
        if action.is_some_and(|a| a.len() > 100) {
            return Err(ConsoleError::BadRequest(
                locale,
                "action must be at most 100 characters".into(),
            ));
        }
        Ok(Audit {
            merchant_id: q.merchant(locale)?.map(str::to_owned),
            action: action.map(str::to_owned),
            from,
            before,
        })
    }

    fn parse_cursor(cursor: &str) -> Result<i64, InvalidRequest> {
        list::parse_id(cursor)
    }

    fn cursor_of(a: &AuditRow) -> String {
        a.id.to_string()
    }

    async fn fetch(
        &self,
        conn: &mut PgConnection,
        before_id: Option<&i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, sqlx::Error> {
        let filter = AuditFilter {
            merchant_id: self.merchant_id.as_deref(),
            action: self.action.as_deref(),
            from: self.from,
            before: self.before,
        };
        db::console::audit_page(conn, &filter, before_id.copied(), limit).await
    }

    fn fields(_locale: Locale) -> Vec<Field<'static>> {
        vec![
            Field::Merchant,
            Field::Text {
                name: "action",
                label: "filter.action",
            },
            Field::Dates,
        ]
    }

    fn table(locale: Locale, rows: &[AuditRow]) -> Markup {
        html! {
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
                    @for a in rows {
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
        }
    }
}
