//! What the demo says, in English and Italian, as the console keeps its texts: one table keyed
//! by a short id, each text in both languages, checked by a unit test. Labels the console
//! already has (columns, statuses, the setup guide's steps) come from the console's table.
//! `{name}` in a text is filled in by [`say`].

use crate::setup::readiness::Language;

/// `(key, English, Italian)`.
const TEXTS: &[(&str, &str, &str)] = &[
    (
        "banner.stand_in",
        " The Stripe API here is a LOCAL STAND-IN started by this demo, not Stripe:",
        " L'API di Stripe qui è un SOSTITUTO LOCALE avviato da questa demo, non Stripe:",
    ),
    (
        "banner.local",
        " no request leaves this machine. PostgreSQL and RabbitMQ are the real servers.",
        " nessuna richiesta esce da questa macchina. PostgreSQL e RabbitMQ sono i server veri.",
    ),
    (
        "step.database",
        "recreating database {url} and applying migrations",
        "ricreo il database {url} e applico le migrazioni",
    ),
    (
        "step.stand_in",
        "local stand-in for the Stripe API (not Stripe) on http://{addr}",
        "sostituto locale dell'API di Stripe (non Stripe) su http://{addr}",
    ),
    (
        "step.running",
        "accredito running in-process: webhooks on http://{addr}, admin API on http://{admin} (RabbitMQ prefix {prefix}, queues expire 30 s after the demo)",
        "accredito in esecuzione in questo processo: webhook su http://{addr}, API di amministrazione su http://{admin} (prefisso RabbitMQ {prefix}, le code scadono 30 s dopo la demo)",
    ),
    (
        "heading.setup",
        "## Merchant setup (through the /v1 API)",
        "## Configurazione degli esercenti (tramite l'API /v1)",
    ),
    (
        "setup.created",
        "{merchant}: created, no Stripe profile yet",
        "{merchant}: creato, ancora senza profilo Stripe",
    ),
    (
        "setup.refused",
        "{merchant}: profile created; its TEST keys are refused ({status} {code}): {reason}",
        "{merchant}: profilo creato; le sue chiavi di TEST sono rifiutate ({status} {code}): {reason}",
    ),
    (
        "setup.no_bank",
        "{merchant}: live keys accepted, webhook endpoint registered, Stripe enabled, but no bank account",
        "{merchant}: chiavi live accettate, endpoint webhook registrato, Stripe attivato, ma nessun conto bancario",
    ),
    (
        "setup.ready",
        "{merchant}: fully set up",
        "{merchant}: configurazione completa",
    ),
    (
        "heading.orders",
        "## Orders registered (PUT /v1/orders/{id})",
        "## Ordini registrati (PUT /v1/orders/{id})",
    ),
    (
        "orders.registered",
        "{count} orders registered",
        "{count} ordini registrati",
    ),
    (
        "heading.webhooks",
        "## Signed webhooks delivered to POST /webhooks/stripe/{profile}",
        "## Webhook firmati consegnati a POST /webhooks/stripe/{profile}",
    ),
    (
        "events.applied",
        "the workers have applied all {count} events",
        "i worker hanno applicato tutti gli eventi ({count})",
    ),
    (
        "heading.order_reconciliation",
        "## Order reconciliation (GET /v1/reconciliation/orders)",
        "## Riconciliazione degli ordini (GET /v1/reconciliation/orders)",
    ),
    (
        "heading.payouts",
        "## Payouts (GET /v1/payouts)",
        "## Bonifici (GET /v1/payouts)",
    ),
    (
        "heading.payout_lines",
        "## What each payout carried (GET /v1/payouts/{id}/lines)",
        "## Cosa contiene ogni bonifico (GET /v1/payouts/{id}/lines)",
    ),
    (
        "payout.of",
        "{payout} for {merchant}",
        "{payout} per {merchant}",
    ),
    ("col.settled_orders", "Settled orders", "Ordini accreditati"),
    (
        "heading.discrepancies",
        "## Open discrepancies (GET /v1/reconciliation/discrepancies?open=true)",
        "## Discrepanze aperte (GET /v1/reconciliation/discrepancies?open=true)",
    ),
    (
        "heading.readiness",
        "## Merchant readiness (GET /v1/merchants/{id}/readiness)",
        "## Configurazione degli esercenti, passo per passo (GET /v1/merchants/{id}/readiness)",
    ),
    (
        "readiness.next",
        "{merchant}, next step ({step}): {todo}",
        "{merchant}, prossimo passo ({step}): {todo}",
    ),
    (
        "readiness.next_after_refusal",
        "{merchant}, whose test keys were refused, next step ({step}): {todo}",
        "{merchant}, le cui chiavi di test sono state rifiutate, prossimo passo ({step}): {todo}",
    ),
    (
        "heading.alerts",
        "## Alerts raised (GET /v1/alerts)",
        "## Avvisi aperti (GET /v1/alerts)",
    ),
    ("table.none", "(none)", "(nessuno)"),
    (
        "console.address",
        "The back-office console: {url}",
        "La console di back office: {url}",
    ),
    (
        "console.viewer",
        "  sign in with the viewer token {token}",
        "  accedi con il token di consultazione {token}",
    ),
    (
        "console.admin",
        "  (read only; the admin token {token} may also redrive dead letters)",
        "  (sola lettura; il token di amministrazione {token} può anche rielaborare i messaggi non elaborati)",
    ),
    (
        "serving",
        "Serving until Ctrl-C ...",
        "In servizio fino a Ctrl-C ...",
    ),
    ("step.shutting_down", "shutting down", "arresto in corso"),
    (
        "done",
        "Done in {seconds} s. The demo database {url} is kept for inspection; `accredito demo` recreates it.",
        "Fatto in {seconds} s. Il database della demo {url} resta per consultarlo; `accredito demo` lo ricrea.",
    ),
];

/// The text of `key` in `language` with each `{name}` of `values` filled in; the key itself
/// (visible, and caught by the tests) if the table lacks it.
pub(super) fn say(language: Language, key: &str, values: &[(&str, &str)]) -> String {
    let Some((_, en, it)) = TEXTS.iter().find(|(k, _, _)| *k == key) else {
        return key.to_owned();
    };
    let mut text = language.pick(*en, *it).to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// Seconds with one decimal, as the language writes them (`4.4`, `4,4`).
pub(super) fn seconds(language: Language, seconds: f64) -> String {
    let text = format!("{seconds:.1}");
    match language {
        Language::En => text,
        Language::It => text.replace('.', ","),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<&str> {
        let mut names: Vec<&str> = text
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn every_text_is_in_both_languages_with_the_same_blanks() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, en, it) in TEXTS {
            assert!(keys.insert(*key), "{key} twice");
            assert!(!en.trim().is_empty() && !it.trim().is_empty(), "{key}");
            assert_ne!(en, it, "{key} has no Italian text");
            assert_eq!(placeholders(en), placeholders(it), "{key}");
        }
    }

    #[test]
    fn blanks_are_filled_and_numbers_written_per_language() {
        assert_eq!(
            say(Language::It, "orders.registered", &[("count", "7")]),
            "7 ordini registrati"
        );
        assert_eq!(
            say(Language::En, "setup.created", &[("merchant", "m_1")]),
            "m_1: created, no Stripe profile yet"
        );
        assert_eq!(say(Language::En, "no.such.key", &[]), "no.such.key");
        assert_eq!(seconds(Language::It, 4.44), "4,4");
        assert_eq!(seconds(Language::En, 4.44), "4.4");
    }
}
