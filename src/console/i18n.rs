//! The console in Italian and English: every label, status and explanation, money as each
//! locale writes it, and times as UTC with the viewer's own time zone filled in by the
//! browser (`console.js`; without it the UTC time stays).
//!
//! Texts live in one table, keyed by a short English id, so a missing translation is caught by
//! a unit test instead of by a reader.

use time::OffsetDateTime;
use time::macros::format_description;

pub use crate::setup::readiness::Language as Locale;

/// `(key, English, Italian)`.
const TEXTS: &[(&str, &str, &str)] = &[
    ("app", "accredito back office", "accredito back office"),
    ("nav.overview", "Overview", "Panoramica"),
    ("nav.orders", "Orders", "Ordini"),
    ("nav.discrepancies", "Discrepancies", "Discrepanze"),
    ("nav.payouts", "Payouts", "Bonifici"),
    ("nav.alerts", "Alerts", "Avvisi"),
    ("nav.merchants", "Merchants", "Esercenti"),
    ("nav.dead_letters", "Dead letters", "Messaggi non elaborati"),
    ("nav.audit", "Audit log", "Registro modifiche"),
    ("nav.main", "Main navigation", "Navigazione principale"),
    ("signed_in_as", "Signed in as", "Accesso come"),
    ("role.admin", "admin", "amministratore"),
    (
        "role.viewer",
        "viewer, read only",
        "consultazione, sola lettura",
    ),
    ("sign_in", "Sign in", "Accedi"),
    ("sign_out", "Sign out", "Esci"),
    (
        "sign_in.title",
        "Sign in to the back office",
        "Accedi al back office",
    ),
    ("sign_in.token", "Access token", "Token di accesso"),
    (
        "sign_in.help",
        "Paste the viewer or admin token you were given. It is checked once and never shown again.",
        "Incolla il token di consultazione o di amministrazione ricevuto. Viene verificato una volta e non viene più mostrato.",
    ),
    (
        "sign_in.refused",
        "This token is not valid. Check it and try again.",
        "Questo token non è valido. Controllalo e riprova.",
    ),
    (
        "sign_in.expired",
        "Your session has ended. Sign in again.",
        "La sessione è terminata. Accedi di nuovo.",
    ),
    (
        "sign_in.signed_out",
        "You have signed out.",
        "Sei uscito dal back office.",
    ),
    ("language", "Language", "Lingua"),
    ("language.switch", "Italiano", "English"),
    ("filters", "Filters", "Filtri"),
    ("filter.apply", "Apply filters", "Applica filtri"),
    ("filter.clear", "Clear", "Azzera"),
    ("filter.merchant", "Merchant", "Esercente"),
    ("filter.status", "Status", "Stato"),
    ("filter.kind", "Kind", "Tipo"),
    ("filter.handler", "Handler", "Gestore"),
    ("filter.action", "Action", "Azione"),
    ("filter.from", "From (UTC)", "Dal (UTC)"),
    ("filter.to", "To (UTC, inclusive)", "Al (UTC, incluso)"),
    ("filter.any", "Any", "Tutti"),
    ("filter.open", "Open", "Aperte"),
    ("filter.resolved", "Resolved", "Risolte"),
    ("page.next", "Next page", "Pagina successiva"),
    ("page.first", "First page", "Prima pagina"),
    ("csv", "Download CSV", "Scarica CSV"),
    ("csv.comma", "comma-separated", "separato da virgole"),
    (
        "csv.semicolon",
        "semicolon, for Excel",
        "punto e virgola, per Excel",
    ),
    (
        "empty",
        "Nothing matches these filters.",
        "Nessun risultato con questi filtri.",
    ),
    ("col.order", "Order", "Ordine"),
    ("col.merchant", "Merchant", "Esercente"),
    ("col.amount", "Amount", "Importo"),
    ("col.paid", "Paid", "Pagato"),
    ("col.refunded", "Refunded", "Rimborsato"),
    ("col.disputed", "Disputed", "Contestato"),
    ("col.status", "Status", "Stato"),
    ("col.placed", "Placed", "Effettuato"),
    ("col.last_event", "Last event", "Ultimo evento"),
    (
        "col.open_discrepancies",
        "Open discrepancies",
        "Discrepanze aperte",
    ),
    ("col.payout", "Payout", "Bonifico"),
    ("col.settled", "Settled", "Accreditato"),
    ("col.kind", "Kind", "Tipo"),
    ("col.subject", "About", "Riferimento"),
    ("col.detail", "Detail", "Dettaglio"),
    ("col.opened", "Opened", "Aperta"),
    ("col.resolved", "Resolved", "Risolta"),
    ("col.arrival", "Arrival", "Arrivo"),
    ("col.lines", "Lines", "Righe"),
    ("col.reconciled", "Reconciled", "Riconciliato"),
    ("col.failure", "Failure", "Errore"),
    ("col.time", "Time", "Ora"),
    ("col.type", "Type", "Tipo"),
    ("col.event", "Event id", "Id evento"),
    ("col.fee", "Fee", "Commissione"),
    ("col.net", "Net", "Netto"),
    (
        "col.transaction",
        "Balance transaction",
        "Transazione di saldo",
    ),
    ("col.handler", "Handler", "Gestore"),
    ("col.error", "Error", "Errore"),
    ("col.attempts", "Attempts", "Tentativi"),
    ("col.actor", "Who", "Chi"),
    ("col.action", "Action", "Azione"),
    ("col.profile", "Profile", "Profilo"),
    ("col.name", "Name", "Nome"),
    ("col.stripe", "Stripe", "Stripe"),
    ("col.next_step", "Next step", "Prossimo passo"),
    ("col.count", "Count", "Numero"),
    ("col.today", "Today (UTC)", "Oggi (UTC)"),
    ("col.week", "7 days", "7 giorni"),
    ("col.month", "30 days", "30 giorni"),
    ("col.key", "Secret key", "Chiave segreta"),
    ("col.mode", "Mode", "Modalità"),
    ("col.webhook", "Webhook endpoint", "Endpoint webhook"),
    ("col.step", "Step", "Passo"),
    ("col.state", "State", "Stato"),
    ("col.todo", "What to do", "Cosa fare"),
    ("col.raw", "Raw JSON", "JSON originale"),
    ("yes", "yes", "sì"),
    ("no", "no", "no"),
    ("none", "none", "nessuno"),
    ("never", "never", "mai"),
    ("enabled", "enabled", "attivo"),
    ("disabled", "disabled", "non attivo"),
    ("overview.orders", "Orders by status", "Ordini per stato"),
    (
        "overview.orders_as_of",
        "Counted in the background; as of",
        "Conteggio in background; aggiornato al",
    ),
    (
        "overview.orders_pending",
        "The counts are being computed; reload in a moment.",
        "Il conteggio è in corso; ricarica tra poco.",
    ),
    (
        "overview.discrepancies",
        "Open discrepancies by kind",
        "Discrepanze aperte per tipo",
    ),
    (
        "overview.alerts",
        "Open alerts by kind",
        "Avvisi aperti per tipo",
    ),
    ("overview.pipeline", "Pipeline", "Elaborazione"),
    (
        "overview.dead_letters",
        "Dead letters waiting",
        "Messaggi non elaborati in attesa",
    ),
    (
        "overview.backlog",
        "Stored events not yet published",
        "Eventi salvati non ancora pubblicati",
    ),
    (
        "overview.activity",
        "Last event per merchant",
        "Ultimo evento per esercente",
    ),
    (
        "overview.stale",
        "no event for more than 24 hours",
        "nessun evento da oltre 24 ore",
    ),
    ("overview.nothing_open", "Nothing open.", "Nulla di aperto."),
    ("order.title", "Order", "Ordine"),
    ("order.amounts", "Amounts", "Importi"),
    ("order.events", "Stripe events", "Eventi Stripe"),
    (
        "order.no_events",
        "No Stripe event about this order yet.",
        "Nessun evento Stripe per questo ordine.",
    ),
    ("order.discrepancies", "Discrepancies", "Discrepanze"),
    ("order.no_discrepancies", "None.", "Nessuna."),
    ("order.settlement", "Settlement", "Accredito"),
    (
        "order.not_settled",
        "Not settled by a payout yet.",
        "Non ancora accreditato da un bonifico.",
    ),
    ("order.show_json", "Show", "Mostra"),
    ("order.description", "Description", "Descrizione"),
    ("payout.title", "Payout", "Bonifico"),
    ("payout.summary", "Summary", "Riepilogo"),
    ("payout.gross", "Gross (charges)", "Lordo (incassi)"),
    ("payout.refunds", "Refunds", "Rimborsi"),
    ("payout.disputes", "Disputes", "Contestazioni"),
    ("payout.fees", "Fees", "Commissioni"),
    ("payout.other", "Other", "Altro"),
    ("payout.net", "Net", "Netto"),
    ("payout.amount", "Paid out", "Importo del bonifico"),
    ("payout.lines", "Lines", "Righe"),
    ("payout.no_lines", "No lines yet.", "Nessuna riga."),
    (
        "payout.failed",
        "Stripe's failure message",
        "Messaggio di errore di Stripe",
    ),
    ("payout.reconciliation", "Reconciliation", "Riconciliazione"),
    ("merchants.readiness", "Setup", "Configurazione"),
    ("merchants.ready", "Ready", "Pronto"),
    ("merchants.profiles", "Stripe profiles", "Profili Stripe"),
    ("merchants.no_profile", "No profile yet.", "Nessun profilo."),
    (
        "merchants.key_set",
        "set (never shown)",
        "impostata (mai mostrata)",
    ),
    ("merchants.key_unset", "not set", "non impostata"),
    ("merchants.steps_done", "steps done", "passi completati"),
    ("dead.redrive", "Redrive", "Rielabora"),
    ("dead.redrive_all", "Redrive all", "Rielabora tutti"),
    (
        "dead.confirm_title",
        "Confirm redrive",
        "Conferma rielaborazione",
    ),
    (
        "dead.confirm_one",
        "Put this event back on its work queue? It is processed again from the start.",
        "Rimettere questo evento nella sua coda? Viene elaborato di nuovo dall'inizio.",
    ),
    (
        "dead.confirm_all",
        "Put every waiting dead letter back on its work queue?",
        "Rimettere in coda tutti i messaggi non elaborati in attesa?",
    ),
    ("dead.confirm", "Yes, redrive", "Sì, rielabora"),
    ("dead.cancel", "Cancel", "Annulla"),
    ("dead.redriven", "Redriven", "Rielaborati"),
    (
        "dead.viewer",
        "Redriving needs an admin token; you can read the list.",
        "Per rielaborare serve un token di amministrazione; puoi consultare l'elenco.",
    ),
    ("error.title", "Something is not right", "Qualcosa non va"),
    ("error.not_found", "Not found.", "Non trovato."),
    (
        "error.forbidden",
        "Your token is read-only: this needs an admin token.",
        "Il tuo token è di sola lettura: serve un token di amministrazione.",
    ),
    (
        "error.csrf",
        "The form was too old or not sent from this page. Reload the page and try again.",
        "Il modulo è scaduto o non proviene da questa pagina. Ricarica la pagina e riprova.",
    ),
    (
        "error.unavailable",
        "The database is not answering; try again shortly.",
        "Il database non risponde; riprova tra poco.",
    ),
    (
        "error.internal",
        "Something went wrong.",
        "Si è verificato un errore.",
    ),
    (
        "error.back",
        "Back to the overview",
        "Torna alla panoramica",
    ),
    // Order statuses.
    (
        "status.awaiting_payment",
        "awaiting payment",
        "in attesa di pagamento",
    ),
    ("status.processing", "processing", "in elaborazione"),
    ("status.paid", "paid", "pagato"),
    (
        "status.payment_failed",
        "payment failed",
        "pagamento non riuscito",
    ),
    ("status.canceled", "canceled", "annullato"),
    (
        "status.partially_refunded",
        "partially refunded",
        "rimborsato in parte",
    ),
    ("status.refunded", "refunded", "rimborsato"),
    ("status.disputed", "disputed", "contestato"),
    ("status.dispute_won", "dispute won", "contestazione vinta"),
    ("status.dispute_lost", "dispute lost", "contestazione persa"),
    // Payout statuses.
    ("payout_status.pending", "pending", "in attesa"),
    ("payout_status.in_transit", "in transit", "in transito"),
    ("payout_status.paid", "paid", "accreditato"),
    ("payout_status.failed", "failed", "non riuscito"),
    ("payout_status.canceled", "canceled", "annullato"),
    // Alert kinds and what they mean.
    (
        "alert.no_bank_account",
        "No bank account",
        "Nessun conto bancario",
    ),
    (
        "alert.payouts_disabled",
        "Payouts disabled",
        "Bonifici disattivati",
    ),
    (
        "alert.payout_failed",
        "Payout failed",
        "Bonifico non riuscito",
    ),
    (
        "alert.funds_unsettled",
        "Funds not paid out",
        "Fondi non accreditati",
    ),
    (
        "alert.stripe_key_rejected",
        "Stripe rejects the key",
        "Stripe rifiuta la chiave",
    ),
    (
        "alert.webhook_endpoint_disabled",
        "Webhook endpoint disabled",
        "Endpoint webhook disattivato",
    ),
    (
        "alert_help.no_bank_account",
        "The merchant has no bank account in Stripe: payouts cannot reach it.",
        "L'esercente non ha un conto bancario in Stripe: i bonifici non possono arrivare.",
    ),
    (
        "alert_help.payouts_disabled",
        "Stripe has paused payouts for this account until the merchant completes its data.",
        "Stripe ha sospeso i bonifici per questo account finché l'esercente non completa i dati.",
    ),
    (
        "alert_help.payout_failed",
        "The bank refused a payout; Stripe's message says why.",
        "La banca ha rifiutato un bonifico; il messaggio di Stripe spiega perché.",
    ),
    (
        "alert_help.funds_unsettled",
        "Money is piling up in Stripe that cannot be paid out.",
        "Si accumulano fondi in Stripe che non possono essere accreditati.",
    ),
    (
        "alert_help.stripe_key_rejected",
        "Stripe refuses the profile's secret key: the merchant must save its current live keys.",
        "Stripe rifiuta la chiave segreta del profilo: l'esercente deve salvare le chiavi live attuali.",
    ),
    (
        "alert_help.webhook_endpoint_disabled",
        "Stripe stopped delivering events to accredito for this profile.",
        "Stripe ha smesso di consegnare gli eventi ad accredito per questo profilo.",
    ),
    ("alert_status.open", "open", "aperto"),
    ("alert_status.resolved", "resolved", "risolto"),
    // Discrepancy kinds and what they mean.
    (
        "discrepancy.amount_mismatch",
        "Amount mismatch",
        "Importo diverso",
    ),
    (
        "discrepancy.currency_mismatch",
        "Currency mismatch",
        "Valuta diversa",
    ),
    (
        "discrepancy.unknown_order",
        "Unknown order",
        "Ordine sconosciuto",
    ),
    (
        "discrepancy.duplicate_payment",
        "Duplicate payment",
        "Pagamento doppio",
    ),
    (
        "discrepancy.refund_exceeds_payment",
        "Refund exceeds payment",
        "Rimborso superiore al pagamento",
    ),
    (
        "discrepancy.livemode_mismatch",
        "Live/test mismatch",
        "Modalità live/test errata",
    ),
    (
        "discrepancy.payout_sum_mismatch",
        "Payout lines do not add up",
        "Le righe del bonifico non tornano",
    ),
    (
        "discrepancy_help.amount_mismatch",
        "Stripe collected a different amount than the order's.",
        "Stripe ha incassato un importo diverso da quello dell'ordine.",
    ),
    (
        "discrepancy_help.currency_mismatch",
        "The payment is in another currency than the order.",
        "Il pagamento è in una valuta diversa da quella dell'ordine.",
    ),
    (
        "discrepancy_help.unknown_order",
        "A payment names an order the platform never registered.",
        "Un pagamento indica un ordine che la piattaforma non ha mai registrato.",
    ),
    (
        "discrepancy_help.duplicate_payment",
        "The order was paid more than once.",
        "L'ordine è stato pagato più di una volta.",
    ),
    (
        "discrepancy_help.refund_exceeds_payment",
        "More was refunded than was paid.",
        "È stato rimborsato più di quanto pagato.",
    ),
    (
        "discrepancy_help.livemode_mismatch",
        "A test-mode event reached a live profile (or the reverse); it was stored, not applied.",
        "Un evento di test è arrivato a un profilo live (o viceversa); è stato salvato, non applicato.",
    ),
    (
        "discrepancy_help.payout_sum_mismatch",
        "The payout's lines do not add up to the amount paid out.",
        "Le righe del bonifico non corrispondono all'importo accreditato.",
    ),
    // Readiness steps (the seed's setup guide) and their states.
    (
        "step.stripe_enabled",
        "Stripe switched on",
        "Stripe attivato",
    ),
    (
        "step.profile_selected",
        "Stripe profile selected",
        "Profilo Stripe selezionato",
    ),
    (
        "step.live_keys_accepted",
        "Live keys accepted",
        "Chiavi live accettate",
    ),
    (
        "step.webhook_endpoint",
        "Webhook endpoint registered",
        "Endpoint webhook registrato",
    ),
    (
        "step.event_received",
        "First event received",
        "Primo evento ricevuto",
    ),
    (
        "step.bank_account_linked",
        "Bank account linked",
        "Conto bancario collegato",
    ),
    ("step.payouts_enabled", "Payouts enabled", "Bonifici attivi"),
    ("state.done", "done", "fatto"),
    ("state.missing", "missing", "mancante"),
    ("state.unknown", "not known yet", "non ancora noto"),
    // Dead letter handlers.
    ("handler.orders", "orders", "ordini"),
    ("handler.payouts", "payouts", "bonifici"),
    ("handler.accounts", "accounts", "account"),
];

/// The text of `key` in `locale`; the key itself (visible, and caught by the tests) if the
/// table lacks it.
pub fn t(locale: Locale, key: &str) -> &str {
    match TEXTS.iter().find(|(k, _, _)| *k == key) {
        Some((_, en, it)) => match locale {
            Locale::En => en,
            Locale::It => it,
        },
        None => key,
    }
}

/// A stored value's label (`status.paid`, `alert.payout_failed`), or the value itself when the
/// table has none (a value added after this code: shown, never hidden).
pub fn label<'a>(locale: Locale, group: &str, value: &'a str) -> std::borrow::Cow<'a, str> {
    let key = format!("{group}.{value}");
    match TEXTS.iter().find(|(k, _, _)| *k == key) {
        Some(_) => std::borrow::Cow::Owned(t(locale, &key).to_owned()),
        None => std::borrow::Cow::Borrowed(value),
    }
}

pub fn locale_code(locale: Locale) -> &'static str {
    match locale {
        Locale::En => "en",
        Locale::It => "it",
    }
}

/// Digits after the decimal point of a currency's amounts, as Stripe counts them: zero-decimal
/// currencies (the yen) are sent in whole units.
pub fn minor_digits(currency: &str) -> u32 {
    const ZERO_DECIMAL: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];
    if ZERO_DECIMAL.contains(&currency) {
        0
    } else if THREE_DECIMAL.contains(&currency) {
        3
    } else {
        2
    }
}

fn symbol(currency: &str) -> Option<&'static str> {
    match currency {
        "eur" => Some("€"),
        "usd" => Some("$"),
        "gbp" => Some("£"),
        "jpy" => Some("¥"),
        _ => None,
    }
}

/// An amount in minor units as the locale writes money: `1.234,56 €` in Italian, `€1,234.56`
/// in English; a currency without a symbol goes by its code (`1.234,56 CHF`, `CHF 1,234.56`).
pub fn money(locale: Locale, amount_minor: i64, currency: &str) -> String {
    let digits = minor_digits(currency);
    let divisor = 10_u64.pow(digits);
    let magnitude = amount_minor.unsigned_abs();
    let (units, fraction) = (magnitude / divisor, magnitude % divisor);
    let (group_sep, decimal_sep) = match locale {
        Locale::En => (',', '.'),
        Locale::It => ('.', ','),
    };
    let mut number = group_thousands(units, group_sep);
    if digits > 0 {
        number.push(decimal_sep);
        number.push_str(&format!("{fraction:0width$}", width = digits as usize));
    }
    let sign = if amount_minor < 0 { "-" } else { "" };
    let code = currency.to_ascii_uppercase();
    match (locale, symbol(currency)) {
        (Locale::It, Some(s)) => format!("{sign}{number}\u{a0}{s}"),
        (Locale::It, None) => format!("{sign}{number}\u{a0}{code}"),
        (Locale::En, Some(s)) => format!("{sign}{s}{number}"),
        (Locale::En, None) => format!("{sign}{code}\u{a0}{number}"),
    }
}

fn group_thousands(units: u64, separator: char) -> String {
    let digits = units.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// A time as `<time>` shows it before the browser puts it in the viewer's zone: UTC, in the
/// locale's order (`03/12/2026 08:16 UTC`, `2026-12-03 08:16 UTC`).
pub fn utc_text(locale: Locale, at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let formatted = match locale {
        Locale::It => at.format(format_description!("[day]/[month]/[year] [hour]:[minute]")),
        Locale::En => at.format(format_description!("[year]-[month]-[day] [hour]:[minute]")),
    };
    format!("{} UTC", formatted.unwrap_or_default())
}

/// The full UTC time for the hover title: `2026-12-03 08:16:05 UTC`.
pub fn utc_title(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let formatted = at.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ));
    format!("{} UTC", formatted.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_as_each_locale_writes_it() {
        assert_eq!(money(Locale::It, 123_456, "eur"), "1.234,56\u{a0}€");
        assert_eq!(money(Locale::En, 123_456, "eur"), "€1,234.56");
        assert_eq!(money(Locale::It, 5, "eur"), "0,05\u{a0}€");
        assert_eq!(money(Locale::En, -1_500, "usd"), "-$15.00");
        assert_eq!(money(Locale::It, -1_500, "eur"), "-15,00\u{a0}€");
        assert_eq!(money(Locale::It, 100_000_000, "eur"), "1.000.000,00\u{a0}€");
        assert_eq!(money(Locale::En, 0, "gbp"), "£0.00");
    }

    #[test]
    fn zero_and_three_decimal_currencies_keep_their_own_digits() {
        assert_eq!(money(Locale::En, 1_234, "jpy"), "¥1,234");
        assert_eq!(money(Locale::It, 1_234, "jpy"), "1.234\u{a0}¥");
        assert_eq!(money(Locale::En, 1_234_560, "kwd"), "KWD\u{a0}1,234.560");
        assert_eq!(money(Locale::It, 123_456, "chf"), "1.234,56\u{a0}CHF");
    }

    #[test]
    fn every_text_has_both_languages_and_a_unique_key() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, en, it) in TEXTS {
            assert!(keys.insert(*key), "{key} twice");
            assert!(!en.trim().is_empty() && !it.trim().is_empty(), "{key}");
        }
    }

    #[test]
    fn every_stored_value_has_a_label_in_both_languages() {
        use crate::domain::{ALERT_KINDS, ALERT_STATUSES, ORDER_STATUSES, PAYOUT_STATUSES};
        let groups: [(&str, Vec<&str>); 6] = [
            ("status", ORDER_STATUSES.to_vec()),
            ("payout_status", PAYOUT_STATUSES.to_vec()),
            ("alert", ALERT_KINDS.to_vec()),
            ("alert_help", ALERT_KINDS.to_vec()),
            ("alert_status", ALERT_STATUSES.to_vec()),
            ("discrepancy", crate::http::back_office::kind_names()),
        ];
        for (group, values) in groups {
            for value in values {
                let key = format!("{group}.{value}");
                assert_ne!(t(Locale::It, &key), key, "{key} lacks a text");
            }
        }
        for kind in crate::http::back_office::kind_names() {
            let key = format!("discrepancy_help.{kind}");
            assert_ne!(t(Locale::En, &key), key, "{key} lacks a text");
        }
    }

    #[test]
    fn utc_times_are_written_in_the_locales_order() {
        let at = OffsetDateTime::from_unix_timestamp(1_796_285_760).expect("valid");
        assert_eq!(utc_text(Locale::En, at), "2026-12-03 08:16 UTC");
        assert_eq!(utc_text(Locale::It, at), "03/12/2026 08:16 UTC");
        assert_eq!(utc_title(at), "2026-12-03 08:16:00 UTC");
    }
}
