//! Each merchant's progress through the platform's setup guide, step by step, from
//! `back_office.merchant_readiness`: done, missing or unknown (never checked), and when not
//! done what to do, in English or Italian (the platform's merchants are Italian).

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::db;

/// The languages merchant-facing text is written in: English and Italian (`en`, `it`, as
/// `Accept-Language`, `--lang` and the stored readiness steps name them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    It,
}

impl Language {
    /// The language an `Accept-Language` header prefers among those we speak: Italian for
    /// `it` (any region), English otherwise; `q` weights are honoured and `q=0` excludes.
    pub fn from_accept_language(header: Option<&str>) -> Language {
        let Some(header) = header else {
            return Language::En;
        };
        let mut best: Option<(f32, Language)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or_default();
            let language = match primary {
                "it" => Language::It,
                "en" => Language::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, language));
            }
        }
        best.map_or(Language::En, |(_, l)| l)
    }

    pub fn parse(s: &str) -> Option<Language> {
        match s {
            "en" => Some(Language::En),
            "it" => Some(Language::It),
            _ => None,
        }
    }

    /// The language of a POSIX locale name (`it_IT.UTF-8`, `it`, `en_US`, `C`): Italian when
    /// it starts with `it`, English otherwise (and when unset).
    pub fn from_posix_locale(locale: Option<&str>) -> Language {
        match locale {
            Some(name) if name.to_ascii_lowercase().starts_with("it") => Language::It,
            _ => Language::En,
        }
    }

    /// The language of the terminal's locale, as POSIX picks the one for messages: the first
    /// of `LC_ALL`, `LC_MESSAGES` and `LANG` that is set and not empty.
    pub fn from_environment(var: impl Fn(&str) -> Option<String>) -> Language {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .into_iter()
            .filter_map(&var)
            .find(|value| !value.is_empty());
        Language::from_posix_locale(locale.as_deref())
    }

    /// `en` in English, `it` in Italian: for texts written side by side.
    pub fn pick<T>(self, en: T, it: T) -> T {
        match self {
            Language::En => en,
            Language::It => it,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub merchant_id: String,
    pub language: Language,
    /// Every step done.
    pub ready: bool,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub position: i32,
    /// `stripe_enabled`, `profile_selected`, `live_keys_accepted`, `webhook_endpoint`,
    /// `event_received`, `bank_account_linked`, `payouts_enabled`.
    pub step: String,
    /// `done`, `missing` or `unknown`.
    pub state: String,
    /// When the step was last seen done (keys checked, last event received), if known.
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    /// What to do, when not done.
    pub todo: Option<String>,
}

/// The merchant's readiness; `None` for an unknown merchant.
pub async fn of_merchant(
    pool: &PgPool,
    merchant_id: &str,
    language: Language,
) -> Result<Option<Readiness>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let rows = db::merchants::readiness(&mut conn, merchant_id).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let steps: Vec<Step> = rows
        .into_iter()
        .map(|r| Step {
            position: r.position,
            step: r.step,
            state: r.state,
            at: r.at,
            todo: match language {
                Language::En => r.todo_en,
                Language::It => r.todo_it,
            },
        })
        .collect();
    Ok(Some(Readiness {
        merchant_id: merchant_id.to_owned(),
        language,
        ready: steps.iter().all(|s| s.state == "done"),
        steps,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_italian_or_defaults_to_english() {
        let pick = |h| Language::from_accept_language(Some(h));
        assert_eq!(Language::from_accept_language(None), Language::En);
        assert_eq!(pick("it"), Language::It);
        assert_eq!(pick("it-IT,it;q=0.9,en;q=0.8"), Language::It);
        assert_eq!(pick("en-US,en;q=0.9,it;q=0.8"), Language::En);
        assert_eq!(pick("de-DE, it;q=0.5"), Language::It);
        assert_eq!(pick("fr"), Language::En);
        assert_eq!(pick("it;q=0, en"), Language::En);
        assert_eq!(pick("*"), Language::En);
        assert_eq!(pick(""), Language::En);
    }

    #[test]
    fn the_terminal_locale_picks_italian_or_defaults_to_english() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Language::from_environment(env(&[])), Language::En);
        assert_eq!(
            Language::from_environment(env(&[("LANG", "it_IT.UTF-8")])),
            Language::It
        );
        assert_eq!(
            Language::from_environment(env(&[("LANG", "it_IT.UTF-8"), ("LC_ALL", "C")])),
            Language::En
        );
        assert_eq!(
            Language::from_environment(env(&[("LANG", "en_GB.UTF-8"), ("LC_MESSAGES", "it_CH")])),
            Language::It
        );
        assert_eq!(
            Language::from_environment(env(&[("LC_ALL", ""), ("LANG", "it")])),
            Language::It
        );
        assert_eq!(Language::from_posix_locale(Some("POSIX")), Language::En);
        assert_eq!(Language::from_posix_locale(Some("IT_it")), Language::It);
    }

    #[test]
    fn a_language_picks_its_text() {
        assert_eq!(Language::It.pick("yes", "sì"), "sì");
        assert_eq!(Language::En.pick("yes", "sì"), "yes");
    }
}
