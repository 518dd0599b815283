//! EN 16931 document arithmetic.
//!
//! - Each line net amount (BT-131) is rounded to two decimals.
//! - VAT is computed once per category and rate, on the sum of the line nets in that group
//!   (BT-117 = round(BT-116 × BT-119 / 100)); per-line VAT is never added up.
//! - Totals follow BR-CO-10..16.
//!
//! Prices quoted gross are converted so that the amount due equals what the customer was
//! quoted: for each VAT group we look for the net base `b` with `b + round(b × rate) = quoted`;
//! the group's base is then spread over its lines by largest remainder. Some gross sums have no
//! such base (the VAT function jumps by two cents there); the one-cent difference then goes into
//! the rounding amount (BT-114), so the amount due (BT-115) still equals the quoted sum.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::model::{InvoiceLine, PriceBasis, ServicePeriod, Totals, VatBreakdown, VatCategory};
use crate::money::{Amount, VatRate};

/// A line as priced by the booking, before any conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedItem {
    pub description: String,
    pub quantity: Decimal,
    pub unit_code: String,
    /// Net or gross, per the document's price basis.
    pub unit_price: Decimal,
    pub vat_category: VatCategory,
    pub vat_rate: VatRate,
    pub service: ServicePeriod,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calculation {
    pub lines: Vec<InvoiceLine>,
    pub vat_breakdown: Vec<VatBreakdown>,
    pub totals: Totals,
}

const CENT: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

fn vat_of(base: Amount, rate: VatRate) -> Amount {
    Amount::round(base.value() * rate.fraction())
}

/// Computes lines, VAT breakdown and totals for priced items.
pub fn calculate(items: &[PricedItem], basis: PriceBasis) -> Calculation {
    // Group line indexes by (category, rate): one BG-23 entry each.
    let mut groups: BTreeMap<(VatCategory, VatRate), Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        groups
            .entry((item.vat_category, item.vat_rate))
            .or_default()
            .push(i);
    }

    let mut line_nets = vec![Amount::ZERO; items.len()];
    let mut breakdown = Vec::new();
    let mut rounding = Amount::ZERO;

    for ((category, rate), indexes) in &groups {
        let (taxable, vat) = match basis {
            PriceBasis::Net => {
                for &i in indexes {
                    line_nets[i] = Amount::round(items[i].quantity * items[i].unit_price);
                }
                let taxable: Amount = indexes.iter().map(|&i| line_nets[i]).sum();
                (taxable, vat_of(taxable, *rate))
            }
            PriceBasis::Gross => {
                let grosses: Vec<Amount> = indexes
                    .iter()
                    .map(|&i| Amount::round(items[i].quantity * items[i].unit_price))
                    .collect();
                let quoted: Amount = grosses.iter().copied().sum();
                let base = base_for_gross(quoted, *rate);
                let vat = vat_of(base, *rate);
                rounding += quoted - (base + vat);
                let nets = allocate(base, &grosses, *rate);
                for (&i, net) in indexes.iter().zip(nets) {
                    line_nets[i] = net;
                }
                (base, vat)
            }
        };
        breakdown.push(VatBreakdown {
            category: *category,
            rate: *rate,
            taxable,
            vat,
            exemption_reason: None,
            exemption_code: None,
        });
    }

    let lines = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let (unit_price_net, unit_price_gross) = match basis {
                PriceBasis::Net => (item.unit_price, None),
                PriceBasis::Gross => (
                    (item.unit_price / (Decimal::ONE + item.vat_rate.fraction()))
                        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
                        .normalize(),
                    Some(item.unit_price),
                ),
            };
            InvoiceLine {
                position: i as u32 + 1,
                description: item.description.clone(),
                quantity: item.quantity,
                unit_code: item.unit_code.clone(),
                unit_price_net,
                unit_price_gross,
                net_amount: line_nets[i],
                vat_category: item.vat_category,
                vat_rate: item.vat_rate,
                service: item.service,
            }
        })
        .collect::<Vec<_>>();

    let line_net: Amount = line_nets.iter().copied().sum();
    let vat: Amount = breakdown.iter().map(|b| b.vat).sum();
    let tax_inclusive = line_net + vat;
    let prepaid = Amount::ZERO;
    let totals = Totals {
        line_net,
        tax_exclusive: line_net,
        vat,
        tax_inclusive,
        prepaid,
        rounding,
        amount_due: tax_inclusive - prepaid + rounding,
    };
    Calculation {
        lines,
        vat_breakdown: breakdown,
        totals,
    }
}

/// The VAT breakdown and totals of lines whose net amounts are fixed already (a credit note's
/// lines, taken from the invoice it corrects): VAT per group on the sum of its line nets, as
/// for any net-priced document.
pub fn totals_of_lines(lines: &[InvoiceLine]) -> (Vec<VatBreakdown>, Totals) {
    let mut groups: BTreeMap<(VatCategory, VatRate), Amount> = BTreeMap::new();
    for l in lines {
        *groups
            .entry((l.vat_category, l.vat_rate))
            .or_insert(Amount::ZERO) += l.net_amount;
    }
    let breakdown: Vec<VatBreakdown> = groups
        .into_iter()
        .map(|((category, rate), taxable)| VatBreakdown {
            category,
            rate,
            taxable,
            vat: vat_of(taxable, rate),
            exemption_reason: None,
            exemption_code: None,
        })
        .collect();
    let line_net: Amount = lines.iter().map(|l| l.net_amount).sum();
    let vat: Amount = breakdown.iter().map(|b| b.vat).sum();
    let tax_inclusive = line_net + vat;
    let totals = Totals {
        line_net,
        tax_exclusive: line_net,
        vat,
        tax_inclusive,
        prepaid: Amount::ZERO,
        rounding: Amount::ZERO,
        amount_due: tax_inclusive,
    };
    (breakdown, totals)
}

/// The net base whose VAT brings it exactly to `gross`, or the closest one below.
fn base_for_gross(gross: Amount, rate: VatRate) -> Amount {
    let estimate = Amount::round(gross.value() / (Decimal::ONE + rate.fraction()));
    let candidates = [
        estimate,
        Amount::round(estimate.value() - CENT),
        Amount::round(estimate.value() + CENT),
    ];
    candidates
        .into_iter()
        .find(|&b| b + vat_of(b, rate) == gross)
        .unwrap_or(estimate)
}

/// Splits `base` over lines in proportion to their gross amounts, to the cent, so that the
/// line nets add up to `base` exactly (largest remainder method, deterministic on ties).
fn allocate(base: Amount, grosses: &[Amount], rate: VatRate) -> Vec<Amount> {
    let divisor = Decimal::ONE + rate.fraction();
    let exact: Vec<Decimal> = grosses.iter().map(|g| g.value() / divisor).collect();
    let mut nets: Vec<Decimal> = exact
        .iter()
        .map(|x| x.round_dp_with_strategy(2, RoundingStrategy::ToNegativeInfinity))
        .collect();
    let remainders: Vec<Decimal> = exact.iter().zip(&nets).map(|(x, n)| x - n).collect();
    let allocated: Decimal = nets.iter().sum();
    let mut cents_left = ((base.value() - allocated) / CENT).round();

    let mut order: Vec<usize> = (0..nets.len()).collect();
    if cents_left.is_sign_positive() {
        order.sort_by(|&a, &b| remainders[b].cmp(&remainders[a]).then(a.cmp(&b)));
    } else {
        order.sort_by(|&a, &b| remainders[a].cmp(&remainders[b]).then(a.cmp(&b)));
    }
    let step = if cents_left.is_sign_positive() {
        CENT
    } else {
        -CENT
    };
    let mut k = 0;
    while !cents_left.is_zero() && !order.is_empty() {
        nets[order[k % order.len()]] += step;
        cents_left -= step / CENT;
        k += 1;
    }
    nets.into_iter().map(Amount::round).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn item(qty: Decimal, price: Decimal, rate: &str) -> PricedItem {
        let rate: VatRate = rate.parse().unwrap();
        PricedItem {
            description: "x".into(),
            quantity: qty,
            unit_code: "C62".into(),
            unit_price: price,
            vat_category: if rate.is_zero() {
                VatCategory::Z
            } else {
                VatCategory::S
            },
            vat_rate: rate,
            service: ServicePeriod::day(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
        }
    }

    #[test]
    fn net_prices_vat_per_group_not_per_line() {
        // Three lines of 0.10 net at 19 %: per-line VAT would be 3 × 0.02 = 0.06;
        // EN 16931 computes it on the sum: 0.30 × 19 % = 0.057 → 0.06; with 0.05 net each
        // per line 3 × 0.01 = 0.03 but on the sum 0.15 × 19 % = 0.0285 → 0.03.
        let items = vec![item(dec!(1), dec!(0.05), "19"); 3];
        let c = calculate(&items, PriceBasis::Net);
        assert_eq!(c.totals.line_net.to_string(), "0.15");
        assert_eq!(c.totals.vat.to_string(), "0.03");
        // 7 lines of 0.07 net: per line 0.0133 → 0.01 each = 0.07; on the sum 0.49 × 19 % = 0.0931 → 0.09.
        let items = vec![item(dec!(1), dec!(0.07), "19"); 7];
        let c = calculate(&items, PriceBasis::Net);
        assert_eq!(c.totals.vat.to_string(), "0.09");
    }

    #[test]
    fn gross_price_reproduces_quote() {
        let c = calculate(&[item(dec!(1), dec!(119.00), "19")], PriceBasis::Gross);
        assert_eq!(c.totals.line_net.to_string(), "100.00");
        assert_eq!(c.totals.vat.to_string(), "19.00");
        assert_eq!(c.totals.tax_inclusive.to_string(), "119.00");
        assert_eq!(c.totals.rounding.to_string(), "0.00");
        assert_eq!(c.lines[0].unit_price_net.to_string(), "100");
    }

    #[test]
    fn unreachable_gross_goes_to_rounding_amount() {
        // No net base b satisfies b + round(0.19 b) = 0.12 ... find one that jumps.
        let mut found = false;
        for cents in 1..500 {
            let gross = Decimal::new(cents, 2);
            let c = calculate(&[item(dec!(1), gross, "19")], PriceBasis::Gross);
            assert_eq!(c.totals.amount_due.value(), gross);
            if !c.totals.rounding.is_zero() {
                found = true;
                assert_eq!(c.totals.rounding.value().abs(), dec!(0.01));
            }
        }
        assert!(found, "19 % has unreachable gross sums");
    }

    #[test]
    fn mixed_rates_give_one_breakdown_per_rate() {
        let items = vec![
            item(dec!(2), dec!(10.00), "19"),
            item(dec!(1), dec!(5.00), "7"),
            item(dec!(3), dec!(1.99), "19"),
            item(dec!(1), dec!(4.00), "0"),
        ];
        let c = calculate(&items, PriceBasis::Net);
        assert_eq!(c.vat_breakdown.len(), 3);
        let s19 = c
            .vat_breakdown
            .iter()
            .find(|b| b.rate.to_string() == "19")
            .unwrap();
        assert_eq!(s19.taxable.to_string(), "25.97");
        assert_eq!(s19.vat.to_string(), "4.93");
        assert_eq!(c.totals.amount_due.to_string(), "40.25");
    }

    fn arb_items() -> impl Strategy<Value = Vec<PricedItem>> {
        let one = (
            1i64..=5000,
            0i64..=100_000,
            prop::sample::select(vec!["19", "7", "0", "20", "5.5"]),
        )
            .prop_map(|(q, p, r)| item(Decimal::new(q, 2), Decimal::new(p, 2), r));
        prop::collection::vec(one, 1..25)
    }

    proptest! {
        #[test]
        fn totals_equal_the_sum_of_their_parts(items in arb_items(), gross in any::<bool>()) {
            let basis = if gross { PriceBasis::Gross } else { PriceBasis::Net };
            let c = calculate(&items, basis);
            let t = &c.totals;
            let lines: Amount = c.lines.iter().map(|l| l.net_amount).sum();
            prop_assert_eq!(lines, t.line_net);                                   // BR-CO-10
            prop_assert_eq!(t.tax_exclusive, t.line_net);                        // BR-CO-13 (no allowances)
            let taxable: Amount = c.vat_breakdown.iter().map(|b| b.taxable).sum();
            prop_assert_eq!(taxable, t.tax_exclusive);
            let vat: Amount = c.vat_breakdown.iter().map(|b| b.vat).sum();
            prop_assert_eq!(vat, t.vat);                                          // BR-CO-14
            prop_assert_eq!(t.tax_inclusive, t.tax_exclusive + t.vat);            // BR-CO-15
            prop_assert_eq!(t.amount_due, t.tax_inclusive - t.prepaid + t.rounding); // BR-CO-16
            for b in &c.vat_breakdown {
                prop_assert_eq!(b.vat, Amount::round(b.taxable.value() * b.rate.fraction())); // BR-CO-17
                let group: Amount = c.lines.iter()
                    .filter(|l| l.vat_category == b.category && l.vat_rate == b.rate)
                    .map(|l| l.net_amount).sum();
                prop_assert_eq!(group, b.taxable);                                // BR-S-08
            }
            for l in &c.lines {
                prop_assert_eq!(l.net_amount.value().scale(), 2);
            }
        }

        #[test]
        fn gross_input_reproduces_the_quoted_gross(items in arb_items()) {
            let c = calculate(&items, PriceBasis::Gross);
            let quoted: Amount = items.iter().map(|i| Amount::round(i.quantity * i.unit_price)).sum();
            prop_assert_eq!(c.totals.amount_due, quoted);
            // The rounding amount is at most one cent per VAT group, and zero where a base exists.
            prop_assert!(c.totals.rounding.value().abs() <= Decimal::new(c.vat_breakdown.len() as i64, 2));
            for l in &c.lines {
                // A line's net stays within a cent of its exact share.
                let exact = Amount::round(l.quantity * l.unit_price_gross.unwrap()).value()
                    / (Decimal::ONE + l.vat_rate.fraction());
                prop_assert!((l.net_amount.value() - exact).abs() < dec!(0.02) * Decimal::from(items.len() as i64));
            }
        }
    }
}
