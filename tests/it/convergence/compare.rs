//! The books as the back-office views show them, compared with the model, and a readable
//! report of every difference.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::PgPool;

use super::model::{Expected, LineRow, OpenDiscrepancy, OrderRow, PayoutRow};
use super::story::{OrderStory, World};

/// Mismatches of each kind printed in full (all are counted).
const SHOWN: usize = 8;
/// Orders whose timeline is printed at most.
const TIMELINES: usize = 8;

/// What the app's books say.
pub struct Books {
    pub orders: BTreeMap<String, OrderRow>,
    discrepancies: BTreeSet<OpenDiscrepancy>,
    payouts: BTreeMap<String, PayoutRow>,
    /// By payout, sorted.
    lines: BTreeMap<String, Vec<LineRow>>,
}

pub async fn read_books(pool: &PgPool) -> Books {
    let orders: Vec<OrderRow> = sqlx::query_as(
        "select order_id, status, amount_paid, amount_refunded, amount_disputed, payment_intent_id,
                charge_id, payout_id, extract(epoch from settled_at)::bigint as settled_at
         from back_office.order_reconciliation",
    )
    .fetch_all(pool)
    .await
    .expect("orders");
    let discrepancies: Vec<OpenDiscrepancy> = sqlx::query_as(
        "select kind, subject_id, order_id from back_office.discrepancies where open",
    )
    .fetch_all(pool)
    .await
    .expect("discrepancies");
    let payouts: Vec<PayoutRow> = sqlx::query_as(
        "select payout_id, status, amount, currency,
                extract(epoch from arrival_date)::bigint as arrival_date, automatic,
                reconciliation_status, line_count, orders_settled, reconciled
         from back_office.payouts",
    )
    .fetch_all(pool)
    .await
    .expect("payouts");
    let lines: Vec<LineRow> = sqlx::query_as(
        "select payout_id, balance_transaction_id, type, reporting_category, amount, fee, net,
                currency, source_id, charge_id, refund_id, dispute_id, payment_intent_id, order_id
         from back_office.payout_lines",
    )
    .fetch_all(pool)
    .await
    .expect("payout lines");
    let mut by_payout: BTreeMap<String, Vec<LineRow>> = BTreeMap::new();
    for line in lines {
        by_payout
            .entry(line.payout_id.clone())
            .or_default()
            .push(line);
    }
    for lines in by_payout.values_mut() {
        lines.sort();
    }
    Books {
        orders: orders
            .into_iter()
            .map(|o| (o.order_id.clone(), o))
            .collect(),
        discrepancies: discrepancies.into_iter().collect(),
        payouts: payouts
            .into_iter()
            .map(|p| (p.payout_id.clone(), p))
            .collect(),
        lines: by_payout,
    }
}

/// `(field, "field: expected .., got ..")` for each listed field that differs.
macro_rules! field_diffs {
    ($expected:expr, $got:expr, $($field:ident),+ $(,)?) => {{
        let mut diffs: Vec<(&'static str, String)> = Vec::new();
        $(
            if $expected.$field != $got.$field {
                diffs.push((
                    stringify!($field),
                    format!(
                        "{}: expected {:?}, got {:?}",
                        stringify!($field),
                        $expected.$field,
                        $got.$field
                    ),
                ));
            }
        )+
        diffs
    }};
}

/// Mismatches between the books and the model, counted by kind, a few of each kind in full.
pub struct Report<'a> {
    stories: HashMap<&'a str, &'a OrderStory>,
    counts: BTreeMap<String, usize>,
    /// By kind, the first [`SHOWN`] mismatches.
    shown: BTreeMap<String, Vec<String>>,
    /// By kind, the first order concerned, for its timeline.
    examples: BTreeMap<String, String>,
}

impl<'a> Report<'a> {
    fn new(world: &'a World) -> Self {
        Report {
            stories: world
                .orders
                .iter()
                .map(|o| (o.order_id.as_str(), o))
                .collect(),
            counts: BTreeMap::new(),
            shown: BTreeMap::new(),
            examples: BTreeMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// " [registration; what happened]" of an order of the story.
    fn describe(&self, order_id: Option<&str>) -> String {
        let Some(story) = order_id.and_then(|id| self.stories.get(id)) else {
            return String::new();
        };
        let twice = if story.registered_twice { " twice" } else { "" };
        format!(" [{:?}{twice}; {}]", story.registration, story.flow)
    }

    /// One mismatch of `kind` about `subject` (concerning `order`, if any).
    fn add(&mut self, kind: &str, order: Option<&str>, subject: &str, what: &str) {
        *self.counts.entry(kind.to_owned()).or_default() += 1;
        if self.shown.get(kind).map_or(0, Vec::len) < SHOWN {
            let line = format!("{subject}{}: {what}", self.describe(order));
            self.shown.entry(kind.to_owned()).or_default().push(line);
        }
        if let Some(order) = order.filter(|o| self.stories.contains_key(o)) {
            self.examples
                .entry(kind.to_owned())
                .or_insert_with(|| order.to_owned());
        }
    }

    /// The fields of `subject` that differ, as one mismatch of kind "`what` `first field`"
    /// (each field is counted).
    fn differ(
        &mut self,
        what: &str,
        order: Option<&str>,
        subject: &str,
        diffs: Vec<(&'static str, String)>,
    ) {
        let Some((first, _)) = diffs.first() else {
            return;
        };
        for (field, _) in &diffs[1..] {
            *self.counts.entry(format!("{what} {field}")).or_default() += 1;
        }
        let fields: Vec<String> = diffs.iter().map(|(_, d)| d.clone()).collect();
        self.add(
            &format!("{what} {first}"),
            order,
            subject,
            &fields.join("; "),
        );
    }

    /// The report, with the timelines of an order of each kind of mismatch.
    pub fn print(&self, seed: u64) {
        eprintln!(
            "\n{} mismatches with the model (seed {seed}):",
            self.total()
        );
        for (kind, count) in &self.counts {
            eprintln!("  {count:>6}  {kind}");
        }
        for (kind, lines) in &self.shown {
            eprintln!("\n  {kind}:");
            for line in lines {
                eprintln!("    {line}");
            }
            if self.counts.get(kind).is_some_and(|n| *n > lines.len()) {
                eprintln!("    ...");
            }
        }
        let examples: BTreeSet<&String> = self.examples.values().collect();
        for id in examples.into_iter().take(TIMELINES) {
            if let Some(story) = self.stories.get(id.as_str()) {
                eprintln!(
                    "\n  timeline of {id} ({:?}; {}):",
                    story.registration, story.flow
                );
                for line in story.timeline() {
                    eprintln!("    {line}");
                }
            }
        }
    }
}

/// Every difference between the books and the model.
pub fn compare<'a>(world: &'a World, expected: &Expected, books: &Books) -> Report<'a> {
    let mut report = Report::new(world);

    for (id, want) in &expected.orders {
        let subject = format!("order {id}");
        let Some(got) = books.orders.get(id) else {
            report.add("order missing", Some(id), &subject, "no row");
            continue;
        };
        let diffs = field_diffs!(
            want,
            got,
            status,
            amount_paid,
            amount_refunded,
            amount_disputed,
            payment_intent_id,
            charge_id,
            payout_id,
            settled_at,
        );
        report.differ("order", Some(id), &subject, diffs);
    }
    for id in books.orders.keys() {
        if !expected.orders.contains_key(id) {
            let subject = format!("order {id}");
            report.add("order unexpected", Some(id), &subject, "never registered");
        }
    }

    for (d, state) in expected
        .discrepancies
        .difference(&books.discrepancies)
        .map(|d| (d, "expected open, is not"))
        .chain(
            books
                .discrepancies
                .difference(&expected.discrepancies)
                .map(|d| (d, "open, should not be")),
        )
    {
        let (kind, subject, order) = d;
        let order = order.as_deref();
        report.add(
            &format!("discrepancy {kind} {state}"),
            order,
            &format!("{kind} about {subject} (order {})", order.unwrap_or("none")),
            state,
        );
    }

    let no_lines = Vec::new();
    for (id, want) in &expected.payouts {
        let fails = if want.failed { " (fails)" } else { "" };
        let subject = format!("payout {id}{fails}");
        let Some(got) = books.payouts.get(id) else {
            report.add("payout missing", None, &subject, "no row");
            continue;
        };
        let lines = books.lines.get(id).unwrap_or(&no_lines);
        let row = &want.row;
        let mut diffs = field_diffs!(
            row,
            got,
            status,
            amount,
            currency,
            arrival_date,
            automatic,
            reconciliation_status,
            orders_settled,
        );
        // A failed payout may have been itemised before it failed (then every line is
        // there), or never.
        if !want.failed || !lines.is_empty() || got.line_count != 0 {
            diffs.extend(field_diffs!(row, got, line_count));
            compare_lines(&mut report, id, &want.lines, lines);
        }
        if !want.failed {
            diffs.extend(field_diffs!(row, got, reconciled));
        }
        report.differ("payout", None, &subject, diffs);
    }
    for id in books.payouts.keys() {
        if !expected.payouts.contains_key(id) {
            let subject = format!("payout {id}");
            report.add("payout unexpected", None, &subject, "not in the story");
        }
    }
    report
}

fn compare_lines(report: &mut Report<'_>, payout: &str, want: &[LineRow], got: &[LineRow]) {
    let got_by_id: HashMap<&str, &LineRow> = got
        .iter()
        .map(|l| (l.balance_transaction_id.as_str(), l))
        .collect();
    for line in want {
        let id = &line.balance_transaction_id;
        let order = line.order_id.as_deref();
        let subject = format!("payout {payout} line {id} ({})", line.kind);
        let Some(got) = got_by_id.get(id.as_str()) else {
            report.add("payout line missing", order, &subject, "missing");
            continue;
        };
        let diffs = field_diffs!(
            line,
            got,
            kind,
            reporting_category,
            amount,
            fee,
            net,
            currency,
            source_id,
            charge_id,
            refund_id,
            dispute_id,
            payment_intent_id,
            order_id,
        );
        report.differ("payout line", order, &subject, diffs);
    }
    let wanted: BTreeSet<&str> = want
        .iter()
        .map(|l| l.balance_transaction_id.as_str())
        .collect();
    for line in got {
        if !wanted.contains(line.balance_transaction_id.as_str()) {
            let subject = format!("payout {payout} line {}", line.balance_transaction_id);
            report.add("payout line unexpected", None, &subject, "not in the story");
        }
    }
}
