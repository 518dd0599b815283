//! Dunning (Mahnwesen): the levels an overdue invoice goes through, the default interest of
//! §288 BGB, and what an invoice keeps of it (its dunning facet).
//!
//! Each level is its own document of kind [`crate::model::DocumentKind::Reminder`] (a letter,
//! not a tax invoice, with its own number series); the invoice itself never changes, only its
//! facet records which level was reached. The levels are a tenant setting: by default a
//! payment reminder 7 days after the due date, a first dunning letter at 21 days and a second
//! at 35; after the last one's deadline the owner is told and the invoice is *exhausted*.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Amount;
use crate::values::{EmailAddress, Id};

/// One dunning level: sent `days_overdue` days after the due date, with an optional fee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DunningLevel {
    pub days_overdue: u16,
    #[serde(default)]
    pub fee: Amount,
}

/// The Bundesbank's base rate (§247 BGB) from `valid_from` on (it changes on 1 January and
/// 1 July), in percent; it may be negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseRate {
    pub valid_from: NaiveDate,
    #[serde(with = "crate::money::decimal_string")]
    pub percent: Decimal,
}

/// How a tenant chases unpaid invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DunningSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_levels")]
    pub levels: Vec<DunningLevel>,
    /// The new deadline each letter sets, in days from its date.
    #[serde(default = "default_deadline")]
    pub deadline_days: u16,
    /// Charge default interest (§288 Abs. 1/2 BGB) from the day default began.
    #[serde(default = "yes")]
    pub interest: bool,
    /// Charge businesses the €40 flat fee of §288 Abs. 5 BGB (once per invoice).
    #[serde(default = "yes")]
    pub flat_fee: bool,
    /// The base rates over time. The defaults end with the rate of 1 July 2025: a tenant keeps
    /// this list current (the Bundesbank publishes each new rate).
    #[serde(default = "default_base_rates")]
    pub base_rates: Vec<BaseRate>,
    /// Who hears of invoices still unpaid after the last level (default: the seller's address).
    #[serde(default)]
    pub owner_email: Option<EmailAddress>,
}

fn yes() -> bool {
    true
}

fn default_deadline() -> u16 {
    7
}

fn default_levels() -> Vec<DunningLevel> {
    let fee = |cents: i64| Amount::round(Decimal::new(cents, 2));
    vec![
        // The reminder that first puts the debtor in default may not be charged.
        DunningLevel {
            days_overdue: 7,
            fee: Amount::ZERO,
        },
        DunningLevel {
            days_overdue: 21,
            fee: fee(250),
        },
        DunningLevel {
            days_overdue: 35,
            fee: fee(500),
        },
    ]
}

fn default_base_rates() -> Vec<BaseRate> {
    [
        (2023, 1, 162),
        (2023, 7, 312),
        (2024, 1, 362),
        (2024, 7, 337),
        (2025, 1, 227),
        (2025, 7, 127),
    ]
    .into_iter()
    .filter_map(|(y, m, bp)| {
        Some(BaseRate {
            valid_from: NaiveDate::from_ymd_opt(y, m, 1)?,
            percent: Decimal::new(bp, 2),
        })
    })
    .collect()
}

impl Default for DunningSettings {
    fn default() -> Self {
        DunningSettings {
            enabled: true,
            levels: default_levels(),
            deadline_days: default_deadline(),
            interest: true,
            flat_fee: true,
            base_rates: default_base_rates(),
            owner_email: None,
        }
    }
}

impl DunningSettings {
    /// Refuses settings that cannot chase anything sensibly (the field that is wrong).
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.levels.is_empty() || self.levels.len() > 9 {
            return Err(("levels".into(), "one to nine levels".into()));
        }
        for (i, pair) in self.levels.windows(2).enumerate() {
            if let [a, b] = pair
                && b.days_overdue <= a.days_overdue
            {
                return Err((
                    format!("levels[{}].days_overdue", i + 1),
                    "each level comes later than the one before".into(),
                ));
            }
        }
        for (i, l) in self.levels.iter().enumerate() {
            if l.fee.is_negative() {
                return Err((format!("levels[{i}].fee"), "a fee is not negative".into()));
            }
        }
        if self.levels.first().is_some_and(|l| !l.fee.is_zero()) {
            return Err((
                "levels[0].fee".into(),
                "the first letter is what puts the customer in default; it may not be charged"
                    .into(),
            ));
        }
        if self.deadline_days == 0 {
            return Err(("deadline_days".into(), "at least one day".into()));
        }
        Ok(())
    }

    /// The level (1-based) `n`, if there is one.
    pub fn level(&self, n: u8) -> Option<&DunningLevel> {
        self.levels.get(usize::from(n).checked_sub(1)?)
    }

    pub fn last_level(&self) -> u8 {
        u8::try_from(self.levels.len()).unwrap_or(u8::MAX)
    }
}

/// A customer's dunning hold: while `paused`, none of the customer's invoices is chased (each
/// waits, checked again daily, and goes on from the day the hold is lifted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DunningHold {
    pub customer_key: String,
    pub paused: bool,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// A reminder sent for an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentReminder {
    pub level: u8,
    pub document_id: Id,
    pub number: String,
    pub date: NaiveDate,
    /// Its new deadline.
    pub deadline: NaiveDate,
}

/// What an invoice keeps of its dunning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DunningFacet {
    /// The highest level sent (0: none).
    #[serde(default)]
    pub level: u8,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminders: Vec<SentReminder>,
    /// The first day of default (§286 BGB): the day after the first reminder's date, or the
    /// 31st day after the due date where that is earlier. Interest counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_since: Option<NaiveDate>,
    /// The §288 Abs. 5 flat fee was charged (it is owed once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flat_fee_charged: bool,
    /// Paused for this invoice (by the API): no letters until resumed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Every level was sent and the last deadline passed: the owner is told.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exhausted: bool,
    /// The owner's mail about it went out (it is sent once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub owner_notified: bool,
}

/// Where an invoice stands in its dunning (the API's filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DunningState {
    /// No reminder sent.
    None,
    /// At least one reminder sent, more may follow.
    Active,
    Paused,
    Exhausted,
}

impl DunningState {
    pub const ALL: [DunningState; 4] = [
        DunningState::None,
        DunningState::Active,
        DunningState::Paused,
        DunningState::Exhausted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DunningState::None => "none",
            DunningState::Active => "active",
            DunningState::Paused => "paused",
            DunningState::Exhausted => "exhausted",
        }
    }

    pub fn parse(s: &str) -> Option<DunningState> {
        DunningState::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl DunningFacet {
    pub fn state(&self) -> DunningState {
        if self.exhausted {
            DunningState::Exhausted
        } else if self.paused {
            DunningState::Paused
        } else if self.level > 0 {
            DunningState::Active
        } else {
            DunningState::None
        }
    }

    pub fn last(&self) -> Option<&SentReminder> {
        self.reminders.last()
    }
}

/// When default begins for an invoice due on `due` whose first reminder is dated `reminded`:
/// the day after that reminder, at the latest the 31st day after the due date (§286 Abs. 3).
pub fn default_begins(due: NaiveDate, reminded: NaiveDate) -> NaiveDate {
    let by_reminder = reminded.succ_opt().unwrap_or(reminded);
    let by_law = due
        .checked_add_days(chrono::Days::new(31))
        .unwrap_or(by_reminder);
    by_reminder.min(by_law)
}

/// Default interest for the days `from..=to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interest {
    pub amount: Amount,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: i64,
    /// The yearly rate(s) applied, in percent (one per base-rate period touched).
    pub rates: Vec<Decimal>,
    /// The open amount, when it was the same on every day (else it changed with payments).
    pub on: Option<Amount>,
}

/// Interest at base rate + `points` for each day of `from..=to` on what was open that day
/// (`open(day)`; a payment lowers it from its day on), actual/365 at the rate of each day's
/// base-rate period, rounded to the cent once at the end. `None` when nothing is owed.
pub fn default_interest(
    open: &dyn Fn(NaiveDate) -> Amount,
    from: NaiveDate,
    to: NaiveDate,
    base_rates: &[BaseRate],
    points: Decimal,
) -> Option<Interest> {
    if to < from {
        return None;
    }
    let mut rates = base_rates.to_vec();
    rates.sort_by_key(|r| r.valid_from);
    let rate_on = |day: NaiveDate| {
        rates
            .iter()
            .rev()
            .find(|r| r.valid_from <= day)
            .map_or(Decimal::ZERO, |r| r.percent)
    };
    let year_days = Decimal::from(365);
    let mut total = Decimal::ZERO;
    let mut used: Vec<Decimal> = Vec::new();
    let mut amounts: Vec<Amount> = Vec::new();
    let mut days = 0i64;
    let mut day = from;
    // One day at a time: a letter covers weeks, so this is a few hundred steps at most.
    while day <= to && days < 36_600 {
        let owed = open(day);
        if owed.value().is_sign_positive() && !owed.is_zero() {
            let rate = rate_on(day) + points;
            total += owed.value() * rate / Decimal::ONE_HUNDRED / year_days;
            if !used.contains(&rate) {
                used.push(rate);
            }
            if !amounts.contains(&owed) {
                amounts.push(owed);
            }
        }
        days += 1;
        day = match day.succ_opt() {
            Some(d) => d,
            None => break,
        };
    }
    let amount = Amount::round(total);
    (!amount.is_zero() && amount.value().is_sign_positive()).then_some(Interest {
        amount,
        from,
        to,
        days,
        rates: used,
        on: (amounts.len() == 1).then(|| amounts[0]),
    })
}

/// What was open on `day` (a payment counts from its own day): `open_now` less the changes
/// (signed, on what is owed) of the entries dated after `day`.
pub fn open_on(open_now: Amount, changes: &[(NaiveDate, Amount)], day: NaiveDate) -> Amount {
    changes
        .iter()
        .filter(|(d, _)| *d > day)
        .fold(open_now, |open, (_, change)| open - *change)
}

/// The points above the base rate: 9 for businesses, 5 for consumers (§288 Abs. 1 and 2).
pub fn interest_points(business: bool) -> Decimal {
    if business {
        Decimal::from(9)
    } else {
        Decimal::from(5)
    }
}

/// The §288 Abs. 5 BGB flat fee owed by a business in default.
pub fn flat_fee() -> Amount {
    Amount::round(Decimal::from(40))
}

/// The open invoice as a reminder letter lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenItem {
    pub document_id: Id,
    pub number: String,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    /// What it claims (after credit notes).
    pub payable: Amount,
    /// What was paid (or credited) toward it.
    pub settled: Amount,
    pub open: Amount,
}

/// What a reminder letter says beyond its lines (fees and interest): kept in its content, so
/// the letter reads the same whenever it is rendered again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderFacts {
    /// 1: payment reminder, 2: first dunning letter, ...
    pub level: u8,
    /// Whether it is the tenant's last level.
    pub last: bool,
    pub items: Vec<OpenItem>,
    /// Fees and interest of this letter (its lines).
    pub charges: Amount,
    /// Open amounts plus charges: what the letter asks for by its deadline.
    pub total: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_since: Option<NaiveDate>,
}

/// Adds `days` to a date (saturating at the calendar's end).
pub fn plus_days(d: NaiveDate, days: u16) -> NaiveDate {
    d.checked_add_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(d)
}

/// The tenant-local day on which level `n` (1-based) of an invoice due on `due` is due: its
/// delay after the due date, and never before the previous letter's deadline has passed.
pub fn level_day(
    settings: &DunningSettings,
    due: NaiveDate,
    n: u8,
    previous_deadline: Option<NaiveDate>,
) -> NaiveDate {
    let by_delay = settings
        .level(n)
        .map_or(due, |l| plus_days(due, l.days_overdue));
    match previous_deadline.and_then(|d| d.succ_opt()) {
        Some(after) if after > by_delay => after,
        _ => by_delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn eur(s: &str) -> Amount {
        Amount::parse_exact(s).unwrap()
    }

    #[test]
    fn interest_is_counted_per_day_at_each_periods_rate() {
        let rates = default_base_rates();
        // 1000 € for 31 days in July 2025 at 1.27 + 9 = 10.27 %: 1000 × 0.1027 × 31 / 365.
        let i = default_interest(
            &|_| eur("1000.00"),
            d("2025-07-01"),
            d("2025-07-31"),
            &rates,
            9.into(),
        )
        .unwrap();
        assert_eq!(i.amount, eur("8.72"));
        assert_eq!(i.days, 31);
        // Across the change of 1 July 2025: 30 days at 2.27 + 5, 31 days at 1.27 + 5.
        let i = default_interest(
            &|_| eur("500.00"),
            d("2025-06-01"),
            d("2025-07-31"),
            &rates,
            5.into(),
        )
        .unwrap();
        let expected = Decimal::from(500) * Decimal::new(727, 4) * Decimal::from(30)
            / Decimal::from(365)
            + Decimal::from(500) * Decimal::new(627, 4) * Decimal::from(31) / Decimal::from(365);
        assert_eq!(i.amount, Amount::round(expected));
        assert_eq!(i.rates, vec![Decimal::new(727, 2), Decimal::new(627, 2)]);
        assert_eq!(i.days, 61);
    }

    #[test]
    fn no_interest_without_days_or_open_amount() {
        let rates = default_base_rates();
        assert!(
            default_interest(
                &|_| eur("100.00"),
                d("2026-01-02"),
                d("2026-01-01"),
                &rates,
                5.into()
            )
            .is_none()
        );
        assert!(
            default_interest(
                &|_| Amount::ZERO,
                d("2026-01-01"),
                d("2026-02-01"),
                &rates,
                5.into()
            )
            .is_none()
        );
        assert!(
            default_interest(
                &|_| eur("-5.00"),
                d("2026-01-01"),
                d("2026-02-01"),
                &rates,
                5.into()
            )
            .is_none()
        );
    }

    #[test]
    fn a_payment_in_default_lowers_the_interest_from_its_day() {
        let rates = default_base_rates();
        // 1000 open from 1 July; 600 paid on 11 July: 10 days on 1000, 21 days on 400.
        let changes = [(d("2025-07-11"), eur("-600.00"))];
        let open = |day| open_on(eur("400.00"), &changes, day);
        assert_eq!(open(d("2025-07-10")), eur("1000.00"));
        assert_eq!(open(d("2025-07-11")), eur("400.00"));
        let i =
            default_interest(&open, d("2025-07-01"), d("2025-07-31"), &rates, 9.into()).unwrap();
        let rate = Decimal::new(1027, 4);
        let expected = (Decimal::from(1000) * Decimal::from(10)
            + Decimal::from(400) * Decimal::from(21))
            * rate
            / Decimal::from(365);
        assert_eq!(i.amount, Amount::round(expected));
        assert_eq!(i.on, None, "the open amount changed");
    }

    #[test]
    fn default_begins_with_the_first_reminder_or_thirty_days_after_due() {
        assert_eq!(
            default_begins(d("2026-01-10"), d("2026-01-17")),
            d("2026-01-18")
        );
        assert_eq!(
            default_begins(d("2026-01-10"), d("2026-03-01")),
            d("2026-02-10")
        );
    }

    #[test]
    fn a_level_waits_for_the_previous_letters_deadline() {
        let s = DunningSettings::default();
        let due = d("2026-01-10");
        assert_eq!(level_day(&s, due, 1, None), d("2026-01-17"));
        assert_eq!(
            level_day(&s, due, 2, Some(d("2026-01-24"))),
            d("2026-01-31")
        );
        // A late first reminder (after an outage) pushes the second behind its deadline.
        assert_eq!(
            level_day(&s, due, 2, Some(d("2026-02-05"))),
            d("2026-02-06")
        );
    }

    #[test]
    fn settings_are_checked() {
        let mut s = DunningSettings::default();
        assert!(s.check().is_ok());
        s.levels[1].days_overdue = 7;
        assert_eq!(s.check().unwrap_err().0, "levels[1].days_overdue");
        s.levels.clear();
        assert_eq!(s.check().unwrap_err().0, "levels");
    }
}
