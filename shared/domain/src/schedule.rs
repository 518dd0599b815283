//! Schedules: recurring invoices and instalment plans. A schedule belongs to a customer and
//! bills its lines once per occurrence — occurrence `n` falls on anchor + n intervals, always
//! counted from the anchor (31 Jan → 29 Feb → 31 Mar, never drifting to the 29th) — until its
//! end. Each occurrence becomes its own invoice with its own number and its service period;
//! the (schedule, occurrence) claim is written with the invoice, so no period is billed twice.
//!
//! The work is a `bill_schedule` job per occurrence, due at the local start of its day and
//! recorded in the same change as the schedule it belongs to: the job due index is the
//! schedule index (sharded like every job), and billing occurrence `n` writes the job of
//! `n + 1`. Pure here: the use case (`service::schedules`) reads, plans and commits.

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::booking::{Booking, BookingCustomer, BookingItem};
use crate::error::{AppError, ErrorKind};
use crate::i18n;
use crate::jobs::{Job, JobKind};
use crate::model::{Customer, Invoice, PriceBasis, ServicePeriod, VatCategory};
use crate::money::{Currency, VatRate};
use crate::values::{Id, TimeZone};

/// At most this many occurrences (a weekly schedule for 40 years); more is a typo.
pub const MAX_OCCURRENCES: u32 = 2080;
/// At most this many instalments.
pub const MAX_INSTALMENTS: u32 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Week,
    Month,
    Quarter,
    Year,
}

impl Interval {
    pub const ALL: [Interval; 4] = [
        Interval::Week,
        Interval::Month,
        Interval::Quarter,
        Interval::Year,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Week => "week",
            Interval::Month => "month",
            Interval::Quarter => "quarter",
            Interval::Year => "year",
        }
    }

    pub fn parse(s: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// Occurrence `n`: `anchor` + n intervals, a month's day clamped to the month's end.
    /// Computed from the anchor every time, so a clamped month does not move the next ones.
    pub fn nth(self, anchor: NaiveDate, n: u32) -> Option<NaiveDate> {
        let months = |per: u32| n.checked_mul(per).map(Months::new);
        match self {
            Interval::Week => anchor.checked_add_days(Days::new(7 * u64::from(n))),
            Interval::Month => anchor.checked_add_months(months(1)?),
            Interval::Quarter => anchor.checked_add_months(months(3)?),
            Interval::Year => anchor.checked_add_months(months(12)?),
        }
    }
}

/// When a schedule ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum End {
    /// After `count` occurrences (an instalment plan always ends so).
    After { count: u32 },
    /// With the last occurrence on or before `date`.
    On { date: NaiveDate },
    /// Until stopped.
    Never,
}

/// What happens to occurrences that came due while nothing ran (an outage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedPeriods {
    /// Each is billed once, in order (the default: nothing is silently skipped).
    #[default]
    CatchUp,
    /// Only the latest due one is billed; the earlier ones are recorded as skipped.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleState {
    Active,
    /// Bills nothing; occurrences that fall into the pause are skipped on resume.
    Paused,
    /// Ended by hand; final.
    Stopped,
    /// Billed its last occurrence; final.
    Completed,
}

impl ScheduleState {
    pub const ALL: [ScheduleState; 4] = [
        ScheduleState::Active,
        ScheduleState::Paused,
        ScheduleState::Stopped,
        ScheduleState::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Active => "active",
            ScheduleState::Paused => "paused",
            ScheduleState::Stopped => "stopped",
            ScheduleState::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<ScheduleState> {
        ScheduleState::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, ScheduleState::Stopped | ScheduleState::Completed)
    }
}

/// One VAT rate's share of an instalment plan: its gross total, split over the instalments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalmentPart {
    pub description: String,
    pub vat_category: VatCategory,
    pub vat_rate: VatRate,
    /// Gross (what the customer pays), in the plan's currency.
    #[serde(with = "crate::money::decimal_string")]
    pub total: Decimal,
    /// When the booked service is rendered (the span of its items' dates), if the booking
    /// says; an instalment names it, not its own month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServicePeriod>,
}

/// What each occurrence bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Plan {
    /// The same items every period: their prices are per period.
    Recurring { items: Vec<BookingItem> },
    /// A total split into the schedule's `count` instalments whose cents add up exactly.
    Instalments { parts: Vec<InstalmentPart> },
}

/// An occurrence that has its invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BilledOccurrence {
    pub occurrence: u32,
    pub document_id: Id,
    pub billed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: Id,
    pub tenant_id: Id,
    /// The buyer as given; each invoice uses the customer record as it is then (an address
    /// change reaches the next invoice).
    pub customer: BookingCustomer,
    pub currency: Currency,
    /// `None`: the tenant's default.
    pub prices: Option<PriceBasis>,
    pub reference: Option<String>,
    pub note: Option<String>,
    /// The booking that created it (its instalments are that booking's invoices).
    pub booking_id: Option<Id>,
    pub plan: Plan,
    pub interval: Interval,
    pub anchor: NaiveDate,
    pub end: End,
    pub missed: MissedPeriods,
    #[serde(default)]
    pub payment_terms_days: Option<u16>,
    pub state: ScheduleState,
    /// The next occurrence to bill.
    pub next: u32,
    pub billed: Vec<BilledOccurrence>,
    pub skipped: Vec<u32>,
    /// Moves on each resume, so the bill job written then is a new job.
    pub epoch: u32,
    /// When it was paused (a resume skips the recurring occurrences due since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<DateTime<Utc>>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How a new schedule bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The items every period, at their prices.
    Recurring,
    /// The items' total once, split into `count` instalments.
    Instalments,
}

/// What a new schedule is asked to be (from a booking's `billing.schedule` or the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub mode: Mode,
    pub interval: Interval,
    /// `None`: the tenant's today (a booking: the local day it was booked).
    pub anchor: Option<NaiveDate>,
    pub end: End,
    #[serde(default)]
    pub missed: MissedPeriods,
    /// Days to pay each invoice (`None`: the tenant's).
    #[serde(default)]
    pub payment_terms_days: Option<u16>,
}

/// What a bill run should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Paused, stopped or completed: nothing.
    Inactive,
    /// Its next occurrence is later.
    NotYet(DateTime<Utc>),
    /// Bill `occurrence`, after recording `skipped` as skipped.
    Bill { occurrence: u32, skipped: Vec<u32> },
}

fn invalid(code: &'static str, message: impl Into<String>, field: &str) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, message).with_field(field)
}

impl Schedule {
    /// The date of occurrence `n` (`None` past the calendar's end).
    pub fn date(&self, n: u32) -> Option<NaiveDate> {
        self.interval.nth(self.anchor, n)
    }

    /// The service period of occurrence `n`: its date up to the day before the next one.
    pub fn period(&self, n: u32) -> Option<ServicePeriod> {
        let start = self.date(n)?;
        let end = self.date(n.checked_add(1)?)?.pred_opt()?;
        Some(ServicePeriod { start, end })
    }

    /// Whether occurrence `n` is within the schedule's end.
    pub fn occurs(&self, n: u32) -> bool {
        if n >= MAX_OCCURRENCES {
            return false;
        }
        match self.end {
            End::After { count } => n < count,
            End::On { date } => self.date(n).is_some_and(|d| d <= date),
            End::Never => self.period(n).is_some(),
        }
    }

    /// The number of occurrences, when it is known.
    pub fn count(&self) -> Option<u32> {
        match self.end {
            End::After { count } => Some(count),
            _ => None,
        }
    }

    /// When occurrence `n` is due: the start of its day in the tenant's zone.
    pub fn due_at(&self, n: u32, tz: &TimeZone) -> Option<DateTime<Utc>> {
        self.date(n).map(|d| tz.start_of(d))
    }

    pub fn decide(&self, now: DateTime<Utc>, tz: &TimeZone) -> Decision {
        if self.state != ScheduleState::Active || !self.occurs(self.next) {
            return Decision::Inactive;
        }
        let Some(due) = self.due_at(self.next, tz) else {
            return Decision::Inactive;
        };
        if due > now {
            return Decision::NotYet(due);
        }
        let mut occurrence = self.next;
        let mut skipped = Vec::new();
        if self.missed == MissedPeriods::Skip {
            while let Some(following) = occurrence.checked_add(1)
                && self.occurs(following)
                && self.due_at(following, tz).is_some_and(|d| d <= now)
            {
                skipped.push(occurrence);
                occurrence = following;
            }
        }
        Decision::Bill {
            occurrence,
            skipped,
        }
    }

    /// The schedule once `occurrence` is billed by `document_id`.
    pub fn billed(
        &self,
        occurrence: u32,
        skipped: &[u32],
        document_id: &Id,
        now: DateTime<Utc>,
    ) -> Schedule {
        let mut s = self.clone();
        s.skipped.extend_from_slice(skipped);
        s.billed.push(BilledOccurrence {
            occurrence,
            document_id: document_id.clone(),
            billed_at: now,
        });
        s.next = occurrence + 1;
        if !s.occurs(s.next) {
            s.state = ScheduleState::Completed;
        }
        s.updated_at = now;
        s
    }

    /// The job that bills the next occurrence, due then (`None`: nothing more to bill).
    pub fn bill_job(&self, tz: &TimeZone, now: DateTime<Utc>) -> Option<Job> {
        if self.state != ScheduleState::Active || !self.occurs(self.next) {
            return None;
        }
        let due = self.due_at(self.next, tz)?;
        Some(
            Job::new(
                &self.tenant_id,
                JobKind::BillSchedule,
                &self.id,
                &format!("{}:{}", self.epoch, self.next),
                now,
            )
            .due(due),
        )
    }

    pub fn pause(&self, now: DateTime<Utc>) -> Result<Schedule, AppError> {
        match self.state {
            ScheduleState::Active => {
                let mut s = self.clone();
                s.state = ScheduleState::Paused;
                s.paused_at = Some(now);
                s.updated_at = now;
                Ok(s)
            }
            ScheduleState::Paused => Ok(self.clone()),
            _ => Err(self.ended()),
        }
    }

    /// Active again, with a new bill job (`epoch` + 1). A recurring schedule skips the
    /// occurrences that came due during the pause (those due before it are still billed); an
    /// instalment plan skips nothing: what came due is billed now, in order. Resuming an active
    /// schedule writes its job again (after a bill job failed for good and its cause was fixed).
    pub fn resume(&self, now: DateTime<Utc>, tz: &TimeZone) -> Result<Schedule, AppError> {
        match self.state {
            ScheduleState::Paused | ScheduleState::Active => {
                let mut s = self.clone();
                if self.state == ScheduleState::Paused && matches!(s.plan, Plan::Recurring { .. }) {
                    let paused_at = s.paused_at.unwrap_or(now);
                    while s.occurs(s.next)
                        && s.due_at(s.next, tz)
                            .is_some_and(|d| d >= paused_at && d < now)
                    {
                        s.skipped.push(s.next);
                        s.next += 1;
                    }
                }
                s.paused_at = None;
                s.state = if s.occurs(s.next) {
                    ScheduleState::Active
                } else {
                    ScheduleState::Completed
                };
                s.epoch += 1;
                s.updated_at = now;
                Ok(s)
            }
            _ => Err(self.ended()),
        }
    }

    pub fn stop(&self, now: DateTime<Utc>) -> Result<Schedule, AppError> {
        match self.state {
            ScheduleState::Stopped => Ok(self.clone()),
            ScheduleState::Completed => Err(self.ended()),
            _ => {
                let mut s = self.clone();
                s.state = ScheduleState::Stopped;
                s.updated_at = now;
                Ok(s)
            }
        }
    }

    /// New items from the next occurrence on (the invoices issued keep theirs).
    pub fn with_items(
        &self,
        items: Vec<BookingItem>,
        now: DateTime<Utc>,
    ) -> Result<Schedule, AppError> {
        if self.state.is_final() {
            return Err(self.ended());
        }
        if matches!(self.plan, Plan::Instalments { .. }) {
            return Err(invalid(
                "instalments_fixed",
                "an instalment plan's amounts are fixed by its booking; stop it and create a new schedule",
                "items",
            ));
        }
        let mut s = self.clone();
        s.plan = Plan::Recurring { items };
        s.updated_at = now;
        Ok(s)
    }

    fn ended(&self) -> AppError {
        AppError::new(
            ErrorKind::Unprocessable,
            "schedule_ended",
            format!(
                "the schedule is {}; it bills nothing more",
                self.state.as_str()
            ),
        )
    }

    /// The booking content occurrence `n` is invoiced from: the plan's lines for that period
    /// (an instalment's share), for the customer as recorded now (`customer`) or as given.
    pub fn occurrence_booking(
        &self,
        n: u32,
        customer: Option<&Customer>,
        booked_at: DateTime<Utc>,
    ) -> Result<Booking, AppError> {
        let period = self.period(n).ok_or_else(|| {
            invalid(
                "schedule_out_of_range",
                "the occurrence is past the calendar's end",
                "anchor",
            )
        })?;
        let mut customer = customer.map_or_else(|| self.customer.clone(), booking_customer);
        if matches!(self.plan, Plan::Instalments { .. }) {
            // The plan's gross shares were agreed under its VAT treatment: the buyer's VAT ID
            // and country stay as they were; name, address and email follow the record.
            customer.vat_id = self.customer.vat_id.clone();
            customer.address.country = self.customer.address.country;
        }
        let lang = customer.language.unwrap_or_default();
        let (items, prices) = match &self.plan {
            Plan::Recurring { items } => (
                items
                    .iter()
                    .map(|i| BookingItem {
                        service: Some(period),
                        ..i.clone()
                    })
                    .collect(),
                self.prices,
            ),
            Plan::Instalments { parts } => {
                let count = self.count().unwrap_or(1);
                let label = i18n::instalment_label(lang, n + 1, count);
                let items = parts
                    .iter()
                    .map(|p| BookingItem {
                        description: format!("{label}: {}", p.description),
                        quantity: Decimal::ONE,
                        unit: "C62".into(),
                        unit_price: split_exact(p.total, count)
                            .get(n as usize)
                            .copied()
                            .unwrap_or_default(),
                        vat_rate: Some(p.vat_rate),
                        vat_category: Some(p.vat_category),
                        service: Some(p.service.unwrap_or(period)),
                    })
                    .collect();
                // Shares of the gross total: on a gross basis each instalment's total is
                // exactly its share, and the shares add up to the plan's total.
                (items, Some(PriceBasis::Gross))
            }
        };
        Ok(Booking {
            id: self.booking_id.clone().unwrap_or_else(|| self.id.clone()),
            booked_at,
            currency: self.currency,
            prices,
            customer,
            items,
            reference: self.reference.clone(),
            note: self.note.clone(),
        })
    }
}

/// The booking customer of a customer record.
pub fn booking_customer(c: &Customer) -> BookingCustomer {
    BookingCustomer {
        external_id: c.external_id.clone(),
        name: c.name.clone(),
        company: c.company.clone(),
        email: c.email.clone(),
        language: Some(c.language),
        vat_id: c.vat_id.clone(),
        address: c.address.clone(),
        einvoice: c.einvoice,
        leitweg_id: c.leitweg_id.clone(),
    }
}

/// `total` split into `n` shares of whole cents that add up to it exactly: the first
/// `remainder` shares carry one cent more.
pub fn split_exact(total: Decimal, n: u32) -> Vec<Decimal> {
    if n == 0 {
        return Vec::new();
    }
    // Split the magnitude, then give the shares the total's sign (a negative part: a voucher).
    let negative = total.is_sign_negative();
    let cents = (total.abs() * Decimal::ONE_HUNDRED).trunc();
    let count = Decimal::from(n);
    let base = (cents / count).trunc();
    let remainder = cents - base * count;
    (0..n)
        .map(|i| {
            let extra = if Decimal::from(i) < remainder {
                Decimal::ONE
            } else {
                Decimal::ZERO
            };
            (base + extra) / Decimal::ONE_HUNDRED
        })
        .map(|d| {
            if negative {
                -d.round_dp(2)
            } else {
                d.round_dp(2)
            }
        })
        .collect()
}

/// The parts of an instalment plan for `booking` planned as one invoice: its gross amount per
/// VAT category and rate, described by the items of that rate, with their service span.
pub fn instalment_parts(invoice: &Invoice, booking: &Booking) -> Vec<InstalmentPart> {
    invoice
        .vat_breakdown
        .iter()
        .map(|b| {
            let names: Vec<&str> = invoice
                .lines
                .iter()
                .filter(|l| l.vat_category == b.category && l.vat_rate == b.rate)
                .map(|l| l.description.as_str())
                .collect();
            let joined = names.join(", ");
            let description: String = if joined.chars().count() > 200 {
                joined.chars().take(199).chain(['…']).collect()
            } else {
                joined
            };
            // What the customer pays for this rate: on a gross basis the quoted gross prices
            // (the invoice's rounding amount BT-114 included), on a net basis net + VAT.
            let total = match invoice.price_basis {
                PriceBasis::Gross => invoice
                    .lines
                    .iter()
                    .filter(|l| l.vat_category == b.category && l.vat_rate == b.rate)
                    .map(|l| {
                        crate::money::round_amount(
                            l.quantity * l.unit_price_gross.unwrap_or(l.unit_price_net),
                        )
                    })
                    .sum(),
                PriceBasis::Net => (b.taxable + b.vat).value(),
            };
            // Lines are the booking's items in order.
            let services: Vec<Option<ServicePeriod>> = invoice
                .lines
                .iter()
                .zip(&booking.items)
                .filter(|(l, _)| l.vat_category == b.category && l.vat_rate == b.rate)
                .map(|(_, item)| item.service)
                .collect();
            let service = services
                .iter()
                .copied()
                .collect::<Option<Vec<ServicePeriod>>>()
                .and_then(|all| {
                    let start = all.iter().map(|p| p.start).min()?;
                    let end = all.iter().map(|p| p.end).max()?;
                    Some(ServicePeriod { start, end })
                });
            InstalmentPart {
                description,
                vat_category: b.category,
                vat_rate: b.rate,
                total,
                service,
            }
        })
        .collect()
}

/// Checks a new schedule's shape (the use case checks that its invoices can be planned).
/// Fields are named as in the wire format's `schedule` (`count`, `until`, `missed`).
pub fn check_new(
    interval_anchor: NaiveDate,
    end: &End,
    plan: &Plan,
    missed: MissedPeriods,
) -> Result<(), AppError> {
    if matches!(plan, Plan::Instalments { .. }) && missed == MissedPeriods::Skip {
        return Err(invalid(
            "invalid_value",
            "an instalment plan bills every instalment; missed instalments are caught up, not skipped",
            "missed",
        ));
    }
    match end {
        End::After { count } if *count == 0 || *count > MAX_OCCURRENCES => {
            return Err(invalid(
                "invalid_value",
                format!("count must be between 1 and {MAX_OCCURRENCES}"),
                "count",
            ));
        }
        End::On { date } if *date < interval_anchor => {
            return Err(invalid(
                "invalid_value",
                "the end date is before the anchor date",
                "until",
            ));
        }
        _ => {}
    }
    match plan {
        Plan::Recurring { items } if items.is_empty() => Err(invalid(
            "invalid_value",
            "a schedule needs at least one item",
            "items",
        )),
        Plan::Instalments { .. } => match end {
            End::After { count } if *count <= MAX_INSTALMENTS => Ok(()),
            _ => Err(invalid(
                "invalid_value",
                format!(
                    "an instalment plan needs a count between 1 and {MAX_INSTALMENTS} (a count without a mode means instalments; for a recurring schedule with an end give \"mode\": \"recurring\")"
                ),
                "count",
            )),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn months_are_clamped_and_never_drift() {
        let a = d("2027-01-31");
        let dates: Vec<NaiveDate> = (0..4).map(|n| Interval::Month.nth(a, n).unwrap()).collect();
        assert_eq!(
            dates,
            vec![
                d("2027-01-31"),
                d("2027-02-28"),
                d("2027-03-31"),
                d("2027-04-30")
            ]
        );
        assert_eq!(
            Interval::Month.nth(d("2028-01-31"), 1),
            Some(d("2028-02-29"))
        );
        assert_eq!(Interval::Quarter.nth(a, 1), Some(d("2027-04-30")));
        assert_eq!(
            Interval::Year.nth(d("2028-02-29"), 1),
            Some(d("2029-02-28"))
        );
        assert_eq!(
            Interval::Year.nth(d("2028-02-29"), 4),
            Some(d("2032-02-29"))
        );
        assert_eq!(Interval::Week.nth(a, 2), Some(d("2027-02-14")));
    }

    #[test]
    fn shares_add_up_to_the_cent() {
        assert_eq!(
            split_exact(dec!(100.00), 3),
            vec![dec!(33.34), dec!(33.33), dec!(33.33)]
        );
        for (total, n) in [(dec!(1999.99), 10), (dec!(0.05), 7), (dec!(12345.67), 12)] {
            let shares = split_exact(total, n);
            assert_eq!(shares.len(), n as usize);
            assert_eq!(shares.iter().copied().sum::<Decimal>(), total);
            let max = shares.iter().max().unwrap();
            let min = shares.iter().min().unwrap();
            assert!(*max - *min <= dec!(0.01));
        }
        // A negative part (a voucher at another VAT rate) splits the same way.
        let shares = split_exact(dec!(-100.00), 3);
        assert_eq!(shares, vec![dec!(-33.34), dec!(-33.33), dec!(-33.33)]);
        assert_eq!(shares.iter().copied().sum::<Decimal>(), dec!(-100.00));
    }
}
