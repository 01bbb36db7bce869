//! Merchants: each one's progress through the platform's Stripe setup guide (the seed's
//! steps), with the next thing to do in the merchant's words, its profiles (publishable key
//! kind and last four characters, whether a secret key is set: never a secret), and whether
//! Stripe is on.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use maud::{Markup, html};

use super::parse_cursor;
use crate::console::ConsoleError;
use crate::console::i18n::{Locale, label, t};
use crate::console::layout::{self, Field, ListQuery, badge, tone_of};
use crate::console::session::Session;
use crate::db;
use crate::db::console::{MerchantFilter, MerchantStep, ProfileSummary};
use crate::http::AppState;
use crate::http::back_office::split_page;

/// Merchants per page: each brings its seven steps and its profiles.
const MERCHANT_ROWS: i64 = 20;

pub fn routes() -> Router<AppState> {
    Router::new().route("/console/merchants", get(list))
}

/// `pk_live_…` as `pk_live … 4242`: the kind and the last four characters, nothing more.
pub fn key_hint(key: &str) -> String {
    let kind = [
        "pk_live_", "pk_test_", "sk_live_", "sk_test_", "rk_live_", "rk_test_",
    ]
    .into_iter()
    .find(|p| key.starts_with(p))
    .map_or("?", |p| p.trim_end_matches('_'));
    let chars: Vec<char> = key.chars().collect();
    let last4: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("{kind} … {last4}")
}

#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, ConsoleError> {
    let locale = session.locale;
    let (from, before) = q.date_range(locale)?;
    let stripe = ListQuery::one_of(locale, &q.status, "status", &["enabled", "disabled"])?;
    let merchant_id = q.merchant(locale)?;
    let after = parse_cursor(locale, q.cursor.as_deref(), |c| Ok(c.to_owned()))?;
    let filter = MerchantFilter {
        merchant_id,
        stripe_enabled: stripe.map(|s| s == "enabled"),
        created_from: from,
        created_before: before,
    };
    let read = async {
        let mut conn = super::reader(&state.pool).await?;
        let rows =
            db::console::merchants_page(&mut conn, &filter, after.as_deref(), MERCHANT_ROWS + 1)
                .await?;
        let (rows, next) = split_page(rows, MERCHANT_ROWS, |m| m.id.clone());
        let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
        let steps = db::console::readiness_of(&mut conn, &ids).await?;
        let profiles = db::console::profiles_of(&mut conn, &ids).await?;
        Ok::<_, sqlx::Error>((rows, next, steps, profiles))
    };
    let (rows, next, steps, profiles) = read
        .await
        .map_err(ConsoleError::from_database_in(locale, "merchants page"))?;
    let mut steps_of: BTreeMap<&str, Vec<&MerchantStep>> = BTreeMap::new();
    for s in &steps {
        steps_of.entry(s.merchant_id.as_str()).or_default().push(s);
    }
    let mut profiles_of: BTreeMap<&str, Vec<&ProfileSummary>> = BTreeMap::new();
    for p in &profiles {
        profiles_of
            .entry(p.merchant_id.as_str())
            .or_default()
            .push(p);
    }
    let form = layout::filters(
        locale,
        "/console/merchants",
        &q,
        &[
            Field::Merchant,
            Field::Select {
                name: "status",
                label: "col.stripe",
                options: vec![
                    ("enabled".into(), t(locale, "enabled").into()),
                    ("disabled".into(), t(locale, "disabled").into()),
                ],
            },
            Field::Dates,
        ],
    );
    let content = html! {
        (form)
        @if rows.is_empty() { p class="empty" { (t(locale, "empty")) } }
        @for m in &rows {
            @let steps = steps_of.get(m.id.as_str()).map(Vec::as_slice).unwrap_or_default();
            @let profiles = profiles_of.get(m.id.as_str()).map(Vec::as_slice).unwrap_or_default();
            section class="merchant" aria-labelledby={ "m-" (layout::encode(&m.id)) } {
                h2 id={ "m-" (layout::encode(&m.id)) } {
                    (m.id) @if let Some(name) = &m.name { " · " (name) }
                }
                p {
                    (t(locale, "col.stripe")) ": "
                    @if m.stripe_enabled { (badge(t(locale, "enabled"), "good")) } @else { (badge(t(locale, "disabled"), "neutral")) }
                    " · "
                    a href={ "/console/orders?merchant_id=" (layout::encode(&m.id)) } { (t(locale, "nav.orders")) }
                    " · "
                    a href={ "/console/alerts?status=open&merchant_id=" (layout::encode(&m.id)) } { (t(locale, "nav.alerts")) }
                }
                (readiness(locale, steps))
                (profile_table(locale, profiles))
            }
        }
        (layout::pager(locale, "/console/merchants", &q, next.as_deref()))
    };
    let back = format!("/console/merchants?{}", q.filters_query());
    Ok(layout::page(
        &session,
        "/console/merchants",
        t(locale, "nav.merchants"),
        &back,
        content,
    ))
}

/// The setup steps: done ones ticked, the first one not done with what to do, in the
/// merchant's words (the texts of the platform's setup guide).
fn readiness(locale: Locale, steps: &[&MerchantStep]) -> Markup {
    let done = steps.iter().filter(|s| s.row.state == "done").count();
    let next = steps.iter().find(|s| s.row.state != "done");
    html! {
        h3 { (t(locale, "merchants.readiness")) " · " (done) "/" (steps.len()) " " (t(locale, "merchants.steps_done")) }
        @match next {
            None => p { (badge(t(locale, "merchants.ready"), "good")) },
            Some(step) => p class="next-step" {
                strong { (t(locale, "col.next_step")) ": " (label(locale, "step", &step.row.step)) }
                br;
                @let todo = match locale { Locale::En => &step.row.todo_en, Locale::It => &step.row.todo_it };
                (todo.as_deref().unwrap_or(""))
            },
        }
        ol class="steps" {
            @for s in steps {
                li {
                    (label(locale, "step", &s.row.step)) " "
                    (badge(&label(locale, "state", &s.row.state), tone_of(&s.row.state)))
                    @if let Some(at) = s.row.at { " " (layout::time(locale, at)) }
                }
            }
        }
    }
}

fn profile_table(locale: Locale, profiles: &[&ProfileSummary]) -> Markup {
    html! {
        h3 { (t(locale, "merchants.profiles")) }
        @if profiles.is_empty() {
            p class="muted" { (t(locale, "merchants.no_profile")) }
        } @else {
            div class="table-wrap" { table {
                thead { tr {
                    th scope="col" { (t(locale, "col.profile")) }
                    th scope="col" { (t(locale, "col.name")) }
                    th scope="col" { (t(locale, "col.mode")) }
                    th scope="col" { "Publishable key" }
                    th scope="col" { (t(locale, "col.key")) }
                    th scope="col" { (t(locale, "col.webhook")) }
                } }
                tbody {
                    @for p in profiles {
                        tr {
                            td { code { (p.id) } }
                            td { (p.name) }
                            td { (p.mode) }
                            td { @if let Some(k) = &p.publishable_key { code { (key_hint(k)) } } @else { "—" } }
                            td {
                                @if p.secret_key_set { (t(locale, "merchants.key_set")) } @else { (t(locale, "merchants.key_unset")) }
                            }
                            td { (p.webhook_endpoint_status.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_shown_only_by_its_kind_and_last_four_characters() {
        assert_eq!(key_hint("pk_live_51Habcdefghijklmn4242"), "pk_live … 4242");
        assert_eq!(key_hint("pk_test_x9"), "pk_test … t_x9");
        assert_eq!(key_hint("abc"), "? … abc");
    }
}
