//! What a discrepancy is about, in Italian or English, with amounts as money.
//!
//! The reconciliation stores each discrepancy's detail as an English sentence
//! (`discrepancies.detail`, what the API answers): [`DiscrepancyDetail::stored`] writes those
//! sentences, [`DiscrepancyDetail::parse`] reads them back into their facts, and
//! [`DiscrepancyDetail::text`] says the facts to a person in either language. A detail that
//! does not read back (written some other way) is shown as stored.

use super::{Language, money};
use crate::reconcile::DiscrepancyKind;

/// The facts a discrepancy's detail states. Amounts are in the currency's minor units;
/// currencies are Stripe's lowercase codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscrepancyDetail {
    /// Stripe collected another amount than the order's.
    AmountMismatch {
        received: i64,
        currency: String,
        order_amount: i64,
    },
    /// The order was paid in other currencies than its own.
    CurrencyMismatch {
        paid_in: Vec<String>,
        order_currency: String,
    },
    /// A PaymentIntent names an order its merchant never registered.
    UnknownOrder {
        payment_intent: String,
        status: String,
        order: String,
        merchant: String,
    },
    /// A PaymentIntent names no order at all.
    NoOrder {
        payment_intent: String,
        status: String,
    },
    /// More than one PaymentIntent of the order succeeded.
    DuplicatePayment { payment_intents: Vec<String> },
    /// More was refunded than paid; the stored detail names no currency, the order has one.
    RefundExceedsPayment {
        refunded: i64,
        paid: i64,
        currency: Option<String>,
    },
    /// An event of the other mode (test or live) than its profile's: stored, not applied.
    LivemodeMismatch {
        event_id: String,
        event_type: String,
        livemode: bool,
        profile_id: String,
    },
    /// A payout's balance transactions do not add up to its amount.
    PayoutSumMismatch {
        payout_id: String,
        amount: i64,
        currency: String,
        transactions: usize,
        net: i64,
    },
}

impl DiscrepancyDetail {
    pub fn kind(&self) -> DiscrepancyKind {
        match self {
            DiscrepancyDetail::AmountMismatch { .. } => DiscrepancyKind::AmountMismatch,
            DiscrepancyDetail::CurrencyMismatch { .. } => DiscrepancyKind::CurrencyMismatch,
            DiscrepancyDetail::UnknownOrder { .. } | DiscrepancyDetail::NoOrder { .. } => {
                DiscrepancyKind::UnknownOrder
            }
            DiscrepancyDetail::DuplicatePayment { .. } => DiscrepancyKind::DuplicatePayment,
            DiscrepancyDetail::RefundExceedsPayment { .. } => DiscrepancyKind::RefundExceedsPayment,
            DiscrepancyDetail::LivemodeMismatch { .. } => DiscrepancyKind::LivemodeMismatch,
            DiscrepancyDetail::PayoutSumMismatch { .. } => DiscrepancyKind::PayoutSumMismatch,
        }
    }

    /// The detail as the reconciliation stores it (English, amounts in minor units).
    pub fn stored(&self) -> String {
        match self {
            DiscrepancyDetail::AmountMismatch {
                received,
                currency,
                order_amount,
            } => format!("received {received} {currency} for an order of {order_amount}"),
            DiscrepancyDetail::CurrencyMismatch {
                paid_in,
                order_currency,
            } => format!(
                "paid in {} but the order is in {order_currency}",
                paid_in.join(", ")
            ),
            DiscrepancyDetail::UnknownOrder {
                payment_intent,
                status,
                order,
                merchant,
            } => format!(
                "PaymentIntent {payment_intent} ({status}) names order {order}, which merchant {merchant} has not registered"
            ),
            DiscrepancyDetail::NoOrder {
                payment_intent,
                status,
            } => format!(
                "PaymentIntent {payment_intent} ({status}) names no order (metadata.order_id is missing)"
            ),
            DiscrepancyDetail::DuplicatePayment { payment_intents } => format!(
                "{} succeeded PaymentIntents: {}",
                payment_intents.len(),
                payment_intents.join(", ")
            ),
            DiscrepancyDetail::RefundExceedsPayment { refunded, paid, .. } => {
                format!("refunded {refunded} of {paid} paid")
            }
            DiscrepancyDetail::LivemodeMismatch {
                event_id,
                event_type,
                livemode,
                profile_id,
            } => format!(
                "{event_id} ({event_type}) has livemode={livemode} but profile {profile_id} is in the other mode; stored, not applied"
            ),
            DiscrepancyDetail::PayoutSumMismatch {
                payout_id,
                amount,
                currency,
                transactions,
                net,
            } => format!(
                "payout {payout_id} of {amount} {currency} but its {transactions} balance transactions net {net}"
            ),
        }
    }

    /// The detail said to a person in `language`, amounts as money where the currency is
    /// known (ids, statuses and event types as Stripe names them).
    pub fn text(&self, language: Language) -> String {
        let amount = |minor: i64, currency: Option<&str>| match currency {
            Some(c) => money(language, minor, c),
            None => language.pick(
                format!("{minor} (minor units)"),
                format!("{minor} (unità minime)"),
            ),
        };
        match self {
            DiscrepancyDetail::AmountMismatch {
                received,
                currency,
                order_amount,
            } => {
                let (received, order) = (
                    amount(*received, Some(currency)),
                    amount(*order_amount, Some(currency)),
                );
                language.pick(
                    format!("received {received} for an order of {order}"),
                    format!("ricevuti {received} per un ordine di {order}"),
                )
            }
            DiscrepancyDetail::CurrencyMismatch {
                paid_in,
                order_currency,
            } => {
                let paid_in = paid_in
                    .iter()
                    .map(|c| c.to_ascii_uppercase())
                    .collect::<Vec<_>>()
                    .join(", ");
                let order = order_currency.to_ascii_uppercase();
                language.pick(
                    format!("paid in {paid_in} but the order is in {order}"),
                    format!("pagato in {paid_in} ma l'ordine è in {order}"),
                )
            }
            DiscrepancyDetail::UnknownOrder {
                payment_intent,
                status,
                order,
                merchant,
            } => language.pick(
                format!(
                    "PaymentIntent {payment_intent} ({status}) names order {order}, which merchant {merchant} has not registered"
                ),
                format!(
                    "il PaymentIntent {payment_intent} ({status}) indica l'ordine {order}, che l'esercente {merchant} non ha registrato"
                ),
            ),
            DiscrepancyDetail::NoOrder {
                payment_intent,
                status,
            } => language.pick(
                format!(
                    "PaymentIntent {payment_intent} ({status}) names no order (metadata.order_id is missing)"
                ),
                format!(
                    "il PaymentIntent {payment_intent} ({status}) non indica alcun ordine (manca metadata.order_id)"
                ),
            ),
            DiscrepancyDetail::DuplicatePayment { payment_intents } => {
                let (count, ids) = (payment_intents.len(), payment_intents.join(", "));
                language.pick(
                    format!("the order was paid {count} times: {ids}"),
                    format!("l'ordine è stato pagato {count} volte: {ids}"),
                )
            }
            DiscrepancyDetail::RefundExceedsPayment {
                refunded,
                paid,
                currency,
            } => {
                let (refunded, paid) = (
                    amount(*refunded, currency.as_deref()),
                    amount(*paid, currency.as_deref()),
                );
                language.pick(
                    format!("refunded {refunded} of {paid} paid"),
                    format!("rimborsati {refunded} su {paid} pagati"),
                )
            }
            DiscrepancyDetail::LivemodeMismatch {
                event_id,
                event_type,
                livemode,
                profile_id,
            } => {
                let (event_mode, other) = if *livemode {
                    ("live", "test")
                } else {
                    ("test", "live")
                };
                language.pick(
                    format!(
                        "{event_id} ({event_type}) is a {event_mode} event but profile {profile_id} is in {other} mode; stored, not applied"
                    ),
                    format!(
                        "{event_id} ({event_type}) è un evento {event_mode} ma il profilo {profile_id} è in modalità {other}; salvato, non applicato"
                    ),
                )
            }
            DiscrepancyDetail::PayoutSumMismatch {
                payout_id,
                amount: paid_out,
                currency,
                transactions,
                net,
            } => {
                let (paid_out, net) = (
                    amount(*paid_out, Some(currency)),
                    amount(*net, Some(currency)),
                );
                language.pick(
                    format!(
                        "payout {payout_id} of {paid_out}, but its {transactions} balance transactions net {net}"
                    ),
                    format!(
                        "il bonifico {payout_id} è di {paid_out}, ma le sue {transactions} transazioni di saldo hanno un netto di {net}"
                    ),
                )
            }
        }
    }

    /// The facts of a stored `kind` and `detail` (as `/v1/reconciliation/discrepancies` lists
    /// them); `None` for a detail written any other way.
    pub fn parse(kind: &str, detail: &str) -> Option<DiscrepancyDetail> {
        let parsed = match kind {
            "amount_mismatch" => {
                let rest = detail.strip_prefix("received ")?;
                let (received, rest) = rest.split_once(' ')?;
                let (currency, order_amount) = rest.split_once(" for an order of ")?;
                DiscrepancyDetail::AmountMismatch {
                    received: received.parse().ok()?,
                    currency: currency.to_owned(),
                    order_amount: order_amount.parse().ok()?,
                }
            }
            "currency_mismatch" => {
                let rest = detail.strip_prefix("paid in ")?;
                let (paid_in, order_currency) = rest.rsplit_once(" but the order is in ")?;
                DiscrepancyDetail::CurrencyMismatch {
                    paid_in: paid_in.split(", ").map(str::to_owned).collect(),
                    order_currency: order_currency.to_owned(),
                }
            }
            "unknown_order" => {
                let rest = detail.strip_prefix("PaymentIntent ")?;
                let (payment_intent, rest) = rest.split_once(" (")?;
                let (status, rest) = rest.split_once(") names ")?;
                let (payment_intent, status) = (payment_intent.to_owned(), status.to_owned());
                if rest == "no order (metadata.order_id is missing)" {
                    DiscrepancyDetail::NoOrder {
                        payment_intent,
                        status,
                    }
                } else {
                    let rest = rest.strip_prefix("order ")?;
                    let (order, rest) = rest.split_once(", which merchant ")?;
                    let merchant = rest.strip_suffix(" has not registered")?;
                    DiscrepancyDetail::UnknownOrder {
                        payment_intent,
                        status,
                        order: order.to_owned(),
                        merchant: merchant.to_owned(),
                    }
                }
            }
            "duplicate_payment" => {
                let (_, ids) = detail.split_once(" succeeded PaymentIntents: ")?;
                DiscrepancyDetail::DuplicatePayment {
                    payment_intents: ids.split(", ").map(str::to_owned).collect(),
                }
            }
            "refund_exceeds_payment" => {
                let rest = detail.strip_prefix("refunded ")?.strip_suffix(" paid")?;
                let (refunded, paid) = rest.split_once(" of ")?;
                DiscrepancyDetail::RefundExceedsPayment {
                    refunded: refunded.parse().ok()?,
                    paid: paid.parse().ok()?,
                    currency: None,
                }
            }
            "livemode_mismatch" => {
                let rest = detail.strip_suffix(" is in the other mode; stored, not applied")?;
                let (event_id, rest) = rest.split_once(" (")?;
                let (event_type, rest) = rest.split_once(") has livemode=")?;
                let (livemode, profile_id) = rest.split_once(" but profile ")?;
                DiscrepancyDetail::LivemodeMismatch {
                    event_id: event_id.to_owned(),
                    event_type: event_type.to_owned(),
                    livemode: livemode.parse().ok()?,
                    profile_id: profile_id.to_owned(),
                }
            }
            "payout_sum_mismatch" => {
                let rest = detail.strip_prefix("payout ")?;
                let (payout_id, rest) = rest.split_once(" of ")?;
                let (amount, rest) = rest.split_once(' ')?;
                let (currency, rest) = rest.split_once(" but its ")?;
                let (transactions, net) = rest.split_once(" balance transactions net ")?;
                DiscrepancyDetail::PayoutSumMismatch {
                    payout_id: payout_id.to_owned(),
                    amount: amount.parse().ok()?,
                    currency: currency.to_owned(),
                    transactions: transactions.parse().ok()?,
                    net: net.parse().ok()?,
                }
            }
            _ => return None,
        };
        // Exactly what is stored, not a sentence that merely looks like it.
        (parsed.stored() == detail).then_some(parsed)
    }

    /// Fills in the currency a stored detail leaves out, from the discrepancy's order.
    pub fn in_currency(mut self, order_currency: Option<&str>) -> DiscrepancyDetail {
        if let DiscrepancyDetail::RefundExceedsPayment { currency, .. } = &mut self
            && currency.is_none()
        {
            *currency = order_currency.map(str::to_owned);
        }
        self
    }

    /// A stored discrepancy's detail in `language` (with `order_currency`, its order's, for the
    /// details that name none): translated when it reads back, else as stored.
    pub fn localize(
        kind: &str,
        detail: &str,
        order_currency: Option<&str>,
        language: Language,
    ) -> String {
        DiscrepancyDetail::parse(kind, detail).map_or_else(
            || detail.to_owned(),
            |d| d.in_currency(order_currency).text(language),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{OrderFacts, PaymentIntentFacts, derive_order_state};

    /// One detail of each kind; the match makes a new variant fail to compile here.
    fn one_of_each() -> Vec<DiscrepancyDetail> {
        let details = vec![
            DiscrepancyDetail::AmountMismatch {
                received: 1400,
                currency: "eur".into(),
                order_amount: 150_000,
            },
            DiscrepancyDetail::CurrencyMismatch {
                paid_in: vec!["usd".into(), "gbp".into()],
                order_currency: "eur".into(),
            },
            DiscrepancyDetail::UnknownOrder {
                payment_intent: "pi_1".into(),
                status: "succeeded".into(),
                order: "o_9".into(),
                merchant: "m_bar".into(),
            },
            DiscrepancyDetail::NoOrder {
                payment_intent: "pi_2".into(),
                status: "processing".into(),
            },
            DiscrepancyDetail::DuplicatePayment {
                payment_intents: vec!["pi_1".into(), "pi_2".into()],
            },
            DiscrepancyDetail::RefundExceedsPayment {
                refunded: 2000,
                paid: 1500,
                currency: None,
            },
            DiscrepancyDetail::LivemodeMismatch {
                event_id: "evt_1".into(),
                event_type: "payment_intent.succeeded".into(),
                livemode: false,
                profile_id: "prof_x".into(),
            },
            DiscrepancyDetail::PayoutSumMismatch {
                payout_id: "po_1".into(),
                amount: 123_456,
                currency: "eur".into(),
                transactions: 7,
                net: 123_400,
            },
        ];
        for detail in &details {
            match detail {
                DiscrepancyDetail::AmountMismatch { .. }
                | DiscrepancyDetail::CurrencyMismatch { .. }
                | DiscrepancyDetail::UnknownOrder { .. }
                | DiscrepancyDetail::NoOrder { .. }
                | DiscrepancyDetail::DuplicatePayment { .. }
                | DiscrepancyDetail::RefundExceedsPayment { .. }
                | DiscrepancyDetail::LivemodeMismatch { .. }
                | DiscrepancyDetail::PayoutSumMismatch { .. } => {}
            }
        }
        details
    }

    #[test]
    fn every_detail_has_its_own_italian_text() {
        let details = one_of_each();
        for kind in crate::http::back_office::DISCREPANCY_KINDS {
            assert!(
                details.iter().any(|d| d.kind() == kind),
                "{kind:?} has no text"
            );
        }
        for detail in details {
            let (en, it) = (detail.text(Language::En), detail.text(Language::It));
            assert!(!en.trim().is_empty() && !it.trim().is_empty(), "{detail:?}");
            assert_ne!(en, it, "{detail:?} has no Italian text");
        }
    }

    #[test]
    fn amounts_are_money_in_each_language() {
        let amount = &one_of_each()[0];
        assert_eq!(
            amount.text(Language::It),
            "ricevuti 14,00\u{a0}€ per un ordine di 1.500,00\u{a0}€"
        );
        assert_eq!(
            amount.text(Language::En),
            "received €14.00 for an order of €1,500.00"
        );
        let refund = one_of_each()[5].clone();
        assert_eq!(
            refund.text(Language::It),
            "rimborsati 2000 (unità minime) su 1500 (unità minime) pagati"
        );
        assert_eq!(
            refund.in_currency(Some("eur")).text(Language::It),
            "rimborsati 20,00\u{a0}€ su 15,00\u{a0}€ pagati"
        );
    }

    #[test]
    fn a_stored_detail_reads_back_as_its_facts() {
        for detail in one_of_each() {
            let stored = detail.stored();
            let kind = detail.kind().as_str();
            assert_eq!(
                DiscrepancyDetail::parse(kind, &stored),
                Some(detail.clone())
            );
            assert_eq!(
                DiscrepancyDetail::localize(kind, &stored, None, Language::It),
                detail.text(Language::It)
            );
        }
        assert_eq!(
            DiscrepancyDetail::parse("amount_mismatch", "received lots for an order of 5"),
            None
        );
        assert_eq!(
            DiscrepancyDetail::parse("payout_sum_mismatch", "received 1 eur for an order of 5"),
            None
        );
        assert_eq!(
            DiscrepancyDetail::localize("amount_mismatch", "reworded", None, Language::It),
            "reworded"
        );
    }

    fn succeeded(id: &str, amount: i64, currency: &str) -> PaymentIntentFacts {
        PaymentIntentFacts {
            id: id.into(),
            amount_received: amount,
            currency: currency.into(),
            status: "succeeded".into(),
            failed: false,
            latest_charge: None,
            last_event_created: 1,
        }
    }

    /// The details the reconciliation itself writes read back (so a reworded one fails here,
    /// not silently in the demo).
    #[test]
    fn the_reconciliations_own_details_read_back() {
        let facts = |intents: Vec<PaymentIntentFacts>| OrderFacts {
            amount: 1500,
            currency: "eur".into(),
            payment_intents: intents,
            ..OrderFacts::default()
        };
        let mut cases = vec![
            facts(vec![succeeded("pi_1", 1400, "eur")]),
            facts(vec![succeeded("pi_1", 1500, "usd")]),
            facts(vec![
                succeeded("pi_1", 1500, "eur"),
                succeeded("pi_2", 1500, "eur"),
            ]),
        ];
        let mut refunded = facts(vec![succeeded("pi_1", 1500, "eur")]);
        refunded.charges.push(crate::reconcile::ChargeFacts {
            id: "ch_1".into(),
            payment_intent_id: Some("pi_1".into()),
            amount_refunded: 2000,
            status: "succeeded".into(),
        });
        cases.push(refunded);
        let mut seen = Vec::new();
        for case in cases {
            for (kind, stored) in derive_order_state(&case).discrepancies {
                let detail = DiscrepancyDetail::parse(kind.as_str(), &stored)
                    .unwrap_or_else(|| panic!("{stored} does not read back"));
                assert_eq!(detail.kind(), kind);
                seen.push(kind);
            }
        }
        for kind in DiscrepancyKind::ORDER_SCOPED {
            assert!(seen.contains(&kind), "{kind:?}");
        }
    }
}
