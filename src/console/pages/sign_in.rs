//! The sign-in page.

use axum::response::Html;
use maud::html;

use crate::console::i18n::{Locale, t};
use crate::console::layout;

/// The form; `nonce` is the double-submit token also set as a cookie. `notice` and `error` are
/// text keys.
pub fn page(
    locale: Locale,
    nonce: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> Html<String> {
    layout::bare_page(
        locale,
        t(locale, "sign_in.title"),
        html! {
            @if let Some(notice) = notice {
                p class="notice" role="status" { (t(locale, notice)) }
            }
            @if let Some(error) = error {
                p class="error" role="alert" id="sign-in-error" { (t(locale, error)) }
            }
            form method="post" action="/console/sign-in" class="stack" {
                input type="hidden" name="csrf" value=(nonce);
                label for="token" { (t(locale, "sign_in.token")) }
                input id="token" name="token" type="password" autocomplete="off" required
                    aria-describedby="token-help";
                p id="token-help" class="muted" { (t(locale, "sign_in.help")) }
                button type="submit" id="sign-in" { (t(locale, "sign_in")) }
            }
        },
    )
}
