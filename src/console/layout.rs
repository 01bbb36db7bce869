//! What every console page shares: the shell (navigation, language switch, sign-out), the
//! filter form, keyset paging links, CSV links, and how money and times are marked up.

use axum::http::StatusCode;
use axum::response::Html;
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::ConsoleError;
use super::i18n::{self, Locale, t};
use super::session::Session;

/// The navigation: path, text key.
const NAV: [(&str, &str); 8] = [
    ("/console", "nav.overview"),
    ("/console/orders", "nav.orders"),
    ("/console/discrepancies", "nav.discrepancies"),
    ("/console/payouts", "nav.payouts"),
    ("/console/alerts", "nav.alerts"),
    ("/console/merchants", "nav.merchants"),
    ("/console/dead-letters", "nav.dead_letters"),
    ("/console/audit", "nav.audit"),
];

fn head(locale: Locale, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · accredito" }
            link rel="stylesheet" href="/console/assets/console.css";
            script src="/console/assets/console.js" defer {}
            meta name="accredito-locale" content=(i18n::locale_code(locale));
        }
    }
}

/// A page of the signed-in console. `here` is the navigation entry to mark current; `back`
/// is this page's own address, where switching language returns to.
pub fn page(
    session: &Session,
    here: &str,
    title: &str,
    back: &str,
    content: Markup,
) -> Html<String> {
    let locale = session.locale;
    let other = match locale {
        Locale::En => "it",
        Locale::It => "en",
    };
    let csrf = session.csrf_token();
    let role = match session.role {
        crate::crypto::admin_tokens::Role::Admin => t(locale, "role.admin"),
        crate::crypto::admin_tokens::Role::Viewer => t(locale, "role.viewer"),
    };
    let markup = html! {
        (DOCTYPE)
        html lang=(i18n::locale_code(locale)) {
            (head(locale, title))
            body {
                header class="top" {
                    p class="brand" { a href="/console" { (t(locale, "app")) } }
                    nav aria-label=(t(locale, "nav.main")) {
                        ul {
                            @for (path, key) in NAV {
                                li {
                                    @if path == here {
                                        a href=(path) aria-current="page" { (t(locale, key)) }
                                    } @else {
                                        a href=(path) { (t(locale, key)) }
                                    }
                                }
                            }
                        }
                    }
                    div class="who" {
                        span { (t(locale, "signed_in_as")) " " strong { (session.token_name) } " (" (role) ")" }
                        form method="post" action="/console/locale" class="inline" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="locale" value=(other);
                            input type="hidden" name="back" value=(back);
                            button type="submit" lang=(other) id="switch-language" { (t(locale, "language.switch")) }
                        }
                        form method="post" action="/console/sign-out" class="inline" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" id="sign-out" { (t(locale, "sign_out")) }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A page outside a session (sign-in, errors): the shell without navigation.
pub fn bare_page(locale: Locale, title: &str, content: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang=(i18n::locale_code(locale)) {
            (head(locale, title))
            body {
                header class="top" { p class="brand" { (t(locale, "app")) } }
                main id="main" class="narrow" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    };
    Html(markup.into_string())
}

pub fn error_page(locale: Locale, status: StatusCode, message: &str) -> Html<String> {
    bare_page(
        locale,
        t(locale, "error.title"),
        html! {
            p class="error" role="alert" { (status.as_u16()) " · " (message) }
            p { a href="/console" { (t(locale, "error.back")) } }
        },
    )
}

/// A time in UTC, which the script rewrites into the viewer's zone; UTC on hover either way.
pub fn time(locale: Locale, at: OffsetDateTime) -> Markup {
    let iso = at
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default();
    html! {
        time datetime=(iso) title=(i18n::utc_title(at)) { (i18n::utc_text(locale, at)) }
    }
}

pub fn opt_time(locale: Locale, at: Option<OffsetDateTime>) -> Markup {
    match at {
        Some(at) => time(locale, at),
        None => html! { span class="muted" { "—" } },
    }
}

pub fn money(locale: Locale, amount: i64, currency: &str) -> Markup {
    html! { span class="money" { (i18n::money(locale, amount, currency)) } }
}

/// A status, kind or state as a badge; `tone` picks its colour class.
pub fn badge(text: &str, tone: &str) -> Markup {
    html! { span class={ "badge " (tone) } { (text) } }
}

/// The colour class of a stored status.
pub fn tone_of(value: &str) -> &'static str {
    match value {
        "paid" | "done" | "resolved" | "dispute_won" | "refunded" => "good",
        "payment_failed" | "failed" | "missing" | "open" | "disputed" | "dispute_lost"
        | "canceled" => "bad",
        _ => "neutral",
    }
}

/// The query of every list page: each page reads the filters it has; the others are ignored.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    pub merchant_id: Option<String>,
    pub status: Option<String>,
    pub kind: Option<String>,
    pub handler: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub separator: Option<String>,
}

impl ListQuery {
    /// Empty form fields are "any".
    pub fn value(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    /// `from` (a day, inclusive) and `to` (a day, inclusive) as `[from, before)` in UTC.
    pub fn date_range(
        &self,
        locale: Locale,
    ) -> Result<(Option<OffsetDateTime>, Option<OffsetDateTime>), ConsoleError> {
        let day = |value: &Option<String>, field: &str| -> Result<Option<Date>, ConsoleError> {
            Self::value(value)
                .map(|v| {
                    Date::parse(v, format_description!("[year]-[month]-[day]")).map_err(|_| {
                        ConsoleError::BadRequest(
                            locale,
                            format!("{field} must be a day written YYYY-MM-DD, e.g. 2026-12-03"),
                        )
                    })
                })
                .transpose()
        };
        let from = day(&self.from, "from")?.map(|d| d.midnight().assume_utc());
        let before = day(&self.to, "to")?
            .and_then(Date::next_day)
            .map(|d| d.midnight().assume_utc());
        Ok((from, before))
    }

    /// The merchant filter, checked like the API checks it.
    pub fn merchant(&self, locale: Locale) -> Result<Option<&str>, ConsoleError> {
        crate::http::back_office::merchant_filter(Self::value(&self.merchant_id))
            .map_err(|e| ConsoleError::BadRequest(locale, e.to_string()))
    }

    /// `value` of the field named, if it is one of `allowed`.
    pub fn one_of<'a>(
        locale: Locale,
        value: &'a Option<String>,
        field: &str,
        allowed: &[&str],
    ) -> Result<Option<&'a str>, ConsoleError> {
        match Self::value(value) {
            Some(v) if !allowed.contains(&v) => Err(ConsoleError::BadRequest(
                locale,
                format!("{field} must be one of: {}", allowed.join(", ")),
            )),
            other => Ok(other),
        }
    }

    /// The CSV style asked for: `;` with a BOM (for Excel in Italian) or `,` with a BOM.
    pub fn csv_style(
        &self,
        locale: Locale,
    ) -> Result<crate::http::back_office::csv::CsvStyle, ConsoleError> {
        let separator = match Self::value(&self.separator) {
            None | Some("semicolon") => ';',
            Some("comma") => ',',
            Some(_) => {
                return Err(ConsoleError::BadRequest(
                    locale,
                    "separator must be comma or semicolon".into(),
                ));
            }
        };
        Ok(crate::http::back_office::csv::CsvStyle {
            separator,
            bom: true,
        })
    }

    /// The filters as a query string, without cursor or separator.
    pub fn filters_query(&self) -> String {
        let pairs = [
            ("merchant_id", &self.merchant_id),
            ("status", &self.status),
            ("kind", &self.kind),
            ("handler", &self.handler),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| Self::value(v).map(|v| format!("{k}={}", encode(v))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes everything but the unreserved characters.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One field of a list's filter form.
pub enum Field<'a> {
    Merchant,
    /// A choice: the query parameter, its label key, and `(value, label)` options.
    Select {
        name: &'a str,
        label: &'a str,
        options: Vec<(String, String)>,
    },
    /// Free text: the query parameter and its label key.
    Text {
        name: &'a str,
        label: &'a str,
    },
    Dates,
}

/// The filter form of a list, filled in with the current filters.
pub fn filters(locale: Locale, action: &str, query: &ListQuery, fields: &[Field<'_>]) -> Markup {
    let current = |name: &str| -> String {
        let v = match name {
            "status" => &query.status,
            "kind" => &query.kind,
            "handler" => &query.handler,
            "action" => &query.action,
            _ => &None,
        };
        ListQuery::value(v).unwrap_or_default().to_owned()
    };
    html! {
        form method="get" action=(action) class="filters" role="search" aria-label=(t(locale, "filters")) {
            @for field in fields {
                @match field {
                    Field::Merchant => {
                        div class="field" {
                            label for="f-merchant" { (t(locale, "filter.merchant")) }
                            input id="f-merchant" name="merchant_id" type="text"
                                value=(ListQuery::value(&query.merchant_id).unwrap_or_default());
                        }
                    }
                    Field::Select { name, label, options } => {
                        @let id = format!("f-{name}");
                        @let selected = current(name);
                        div class="field" {
                            label for=(id) { (t(locale, label)) }
                            select id=(id) name=(name) {
                                option value="" { (t(locale, "filter.any")) }
                                @for (value, text) in options {
                                    option value=(value) selected[*value == selected] { (text) }
                                }
                            }
                        }
                    }
                    Field::Text { name, label } => {
                        @let id = format!("f-{name}");
                        div class="field" {
                            label for=(id) { (t(locale, label)) }
                            input id=(id) name=(name) type="text" value=(current(name));
                        }
                    }
                    Field::Dates => {
                        div class="field" {
                            label for="f-from" { (t(locale, "filter.from")) }
                            input id="f-from" name="from" type="date"
                                value=(ListQuery::value(&query.from).unwrap_or_default());
                        }
                        div class="field" {
                            label for="f-to" { (t(locale, "filter.to")) }
                            input id="f-to" name="to" type="date"
                                value=(ListQuery::value(&query.to).unwrap_or_default());
                        }
                    }
                }
            }
            div class="field actions" {
                button type="submit" id="apply-filters" { (t(locale, "filter.apply")) }
                a href=(action) { (t(locale, "filter.clear")) }
            }
        }
    }
}

/// Options of a select from stored values, each with its label.
pub fn options(locale: Locale, group: &str, values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| ((*v).to_owned(), i18n::label(locale, group, v).into_owned()))
        .collect()
}

/// A list's filters (a query string) with one more parameter.
fn and(filters: &str, extra: &str) -> String {
    if filters.is_empty() {
        extra.to_owned()
    } else {
        format!("{filters}&{extra}")
    }
}

/// The paging links of a list: the next page (keyset), and back to the first.
pub fn pager(locale: Locale, path: &str, query: &ListQuery, next: Option<&str>) -> Markup {
    let filters = query.filters_query();
    html! {
        nav class="pager" aria-label=(t(locale, "page.next")) {
            @if query.cursor.is_some() {
                a href={ (path) "?" (filters) } { (t(locale, "page.first")) }
            }
            @if let Some(next) = next {
                a href={ (path) "?" (and(&filters, &format!("cursor={}", encode(next)))) } rel="next" id="next-page" { (t(locale, "page.next")) " →" }
            }
        }
    }
}

/// The links under a list: [`pager`], and the CSV downloads of exactly the filtered rows
/// (every page of them).
pub fn list_footer(locale: Locale, path: &str, query: &ListQuery, next: Option<&str>) -> Markup {
    let filters = query.filters_query();
    html! {
        (pager(locale, path, query, next))
        p class="downloads" {
            (t(locale, "csv")) ": "
            a href={ (path) ".csv?" (and(&filters, "separator=semicolon")) } id="csv-semicolon" download { (t(locale, "csv.semicolon")) }
            " · "
            a href={ (path) ".csv?" (and(&filters, "separator=comma")) } id="csv-comma" download { (t(locale, "csv.comma")) }
        }
    }
}

/// Pretty JSON for reading, escaped like any other text.
pub fn json_block(body: &[u8]) -> Markup {
    let pretty = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    html! { pre class="json" { code { (pretty) } } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_taken_inclusive_and_bad_ones_refused_with_the_expected_form() {
        let q = ListQuery {
            from: Some("2026-12-01".into()),
            to: Some("2026-12-03".into()),
            ..ListQuery::default()
        };
        let (from, before) = q.date_range(Locale::En).expect("valid");
        assert_eq!(from.map(|t| t.unix_timestamp()), Some(1_796_083_200));
        assert_eq!(before.map(|t| t.unix_timestamp()), Some(1_796_342_400));
        let bad = ListQuery {
            from: Some("3/12/2026".into()),
            ..ListQuery::default()
        };
        assert!(matches!(
            bad.date_range(Locale::En),
            Err(ConsoleError::BadRequest(_, m)) if m.contains("YYYY-MM-DD")
        ));
    }

    #[test]
    fn the_filters_query_keeps_filters_encoded_and_drops_empty_ones_and_the_cursor() {
        let q = ListQuery {
            merchant_id: Some("m 1&x".into()),
            status: Some("".into()),
            cursor: Some("abc".into()),
            ..ListQuery::default()
        };
        assert_eq!(q.filters_query(), "merchant_id=m%201%26x");
    }
}
