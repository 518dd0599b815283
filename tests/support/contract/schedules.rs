//! Schedules on the adapters: stored at a version, listed, each occurrence claimed once; and
//! the `bill_schedule` use case under concurrency — many runs of one job bill it once, a stop
//! racing a bill leaves no invoice after the stop, the instalments add up to the cent.

use std::sync::Arc;

use chrono::{Months, Utc};
use faktura_domain::model::DocumentKind;
use faktura_domain::ports::{Change, CommitError, Conflict, PeriodClaim, ScheduleFilter};
use faktura_domain::schedule::{End, Interval, MissedPeriods, Mode, ScheduleSpec, ScheduleState};
use faktura_domain::service::schedules::{
    Billed, ScheduleAction, ScheduleBiller, ScheduleUpdate, bill_job, create_into, plan_schedule,
    update_into,
};
use rust_decimal::Decimal;

use super::{Adapters, booking_with, fresh_tenant_id, sample_tenant};

fn spec(count: u32, months_ago: u32) -> ScheduleSpec {
    let today = faktura_domain::values::TimeZone::default().date_of(Utc::now());
    ScheduleSpec {
        mode: Mode::Instalments,
        interval: Interval::Month,
        anchor: today.checked_sub_months(Months::new(months_ago)),
        end: End::After { count },
        missed: MissedPeriods::CatchUp,
        payment_terms_days: None,
    }
}

pub async fn schedules_are_versioned_and_claimed_once(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let einvoice = faktura_einvoice::EInvoiceXml;
    let now = Utc::now();
    let booking = booking_with("bk_sched", "cus_s", "3");
    let schedule =
        plan_schedule(&tenant, &booking, &spec(3, 0), None, &einvoice, now).expect("a schedule");
    let mut change = Change::for_tenant(&tenant.id);
    create_into(&mut change, &tenant, &schedule, now);
    assert_eq!(
        change.jobs.len(),
        1,
        "the first occurrence's job comes with it"
    );
    a.repository.commit(change.clone()).await.expect("created");
    let stored = a
        .repository
        .schedule(&tenant.id, &schedule.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored, schedule);
    assert_eq!(
        a.repository.commit(change).await,
        Err(CommitError::Conflict(Conflict::Schedule(
            schedule.id.clone()
        ))),
        "a schedule is created once"
    );
    // Listing, with its filter.
    let all = a
        .repository
        .schedules(&tenant.id, &ScheduleFilter::default(), None, 10)
        .await
        .expect("list");
    assert_eq!(all.schedules, vec![stored.clone()]);
    let paused = ScheduleFilter {
        state: Some(ScheduleState::Paused),
        ..ScheduleFilter::default()
    };
    let none = a
        .repository
        .schedules(&tenant.id, &paused, None, 10)
        .await
        .expect("list");
    assert!(none.schedules.is_empty());
    // Oldest first, page by page, also for schedules whose ids come from their booking.
    let mut made = vec![stored.id.clone()];
    for i in 0..3 {
        let at = now + chrono::TimeDelta::milliseconds(10 * (i + 1));
        let booking = booking_with(&format!("bk_list_{i}"), "cus_s", "1");
        let from_booking = (i % 2 == 0).then(|| booking.id.clone());
        let s = plan_schedule(
            &tenant,
            &booking,
            &spec(2, 0),
            from_booking.as_ref(),
            &einvoice,
            at,
        )
        .expect("a schedule");
        let mut change = Change::for_tenant(&tenant.id);
        create_into(&mut change, &tenant, &s, at);
        a.repository.commit(change).await.expect("created");
        made.push(s.id.clone());
    }
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = a
            .repository
            .schedules(&tenant.id, &ScheduleFilter::default(), cursor.as_deref(), 2)
            .await
            .expect("page");
        assert!(page.schedules.len() <= 2);
        listed.extend(page.schedules.iter().map(|s| s.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(listed, made, "oldest first across pages");
    // A stale version is refused.
    let mut stale = Change::for_tenant(&tenant.id);
    stale
        .schedules
        .push(faktura_domain::ports::ScheduleWrite::update(
            stored.stop(now).expect("stop"),
            7,
        ));
    assert_eq!(
        a.repository.commit(stale).await,
        Err(CommitError::Conflict(Conflict::Schedule(
            schedule.id.clone()
        )))
    );
    // An occurrence is claimed once.
    let claim = PeriodClaim {
        tenant_id: tenant.id.clone(),
        schedule_id: schedule.id.clone(),
        occurrence: 4,
        document_id: super::id("inv_claimed"),
    };
    let mut first = Change::for_tenant(&tenant.id);
    first.periods.push(claim.clone());
    a.repository.commit(first.clone()).await.expect("claimed");
    assert_eq!(
        a.repository.commit(first).await,
        Err(CommitError::Conflict(Conflict::Period {
            schedule_id: schedule.id.clone(),
            occurrence: 4
        }))
    );
    assert_eq!(
        a.repository
            .period(&tenant.id, &schedule.id, 4)
            .await
            .expect("read"),
        Some(super::id("inv_claimed"))
    );
    assert_eq!(
        a.repository
            .period(&tenant.id, &schedule.id, 5)
            .await
            .expect("read"),
        None
    );
}

pub async fn each_occurrence_is_billed_once_under_concurrency(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let stores = a.stores(std::slice::from_ref(&tenant));
    let einvoice = Arc::new(faktura_einvoice::EInvoiceXml);
    let now = Utc::now();
    // 3 × 119.00 = 357.00 in 4 monthly instalments, the first two already due (an outage).
    let booking = booking_with("bk_rates", "cus_r", "3");
    let schedule = plan_schedule(&tenant, &booking, &spec(4, 1), None, einvoice.as_ref(), now)
        .expect("a schedule");
    let mut change = Change::for_tenant(&tenant.id);
    create_into(&mut change, &tenant, &schedule, now);
    a.repository.commit(change).await.expect("created");
    let biller = ScheduleBiller::new(stores.clone(), einvoice.clone());
    let mut invoices = Vec::new();
    for round in 0..4 {
        let current = a
            .repository
            .schedule(&tenant.id, &schedule.id)
            .await
            .expect("read")
            .expect("stored");
        let job = bill_job(&current, &tenant, now).expect("a job while it runs");
        assert!(
            a.jobs
                .job(&tenant.id, &job.id)
                .await
                .expect("job")
                .is_some(),
            "round {round}: the job of the next occurrence was written with the last"
        );
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let (b, j) = (biller.clone(), job.clone());
            tasks.spawn(async move { b.bill(&j).await });
        }
        let mut billed = Vec::new();
        while let Some(r) = tasks.join_next().await {
            match r.expect("task").expect("bill") {
                Billed::Invoice {
                    occurrence,
                    document_id,
                    ..
                } => billed.push((occurrence, document_id)),
                Billed::NotYet(at) => billed.push((
                    u32::MAX - 1,
                    super::id(&format!("later_{}", at.timestamp())),
                )),
                Billed::Nothing => {}
            }
        }
        if round >= 2 {
            // Occurrences 2 and 3 lie in the future: not billed yet, whoever asks.
            assert!(
                billed.iter().all(|(o, _)| *o == u32::MAX - 1),
                "round {round}: {billed:?}"
            );
            break;
        }
        assert_eq!(billed.len(), 1, "round {round}: one run bills, {billed:?}");
        assert_eq!(billed[0].0, round);
        invoices.push(billed[0].1.clone());
    }
    let done = a
        .repository
        .schedule(&tenant.id, &schedule.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(done.next, 2);
    assert_eq!(done.billed.len(), 2);
    let mut numbers = Vec::new();
    let mut gross = Decimal::ZERO;
    for (n, id) in invoices.iter().enumerate() {
        let doc = a
            .repository
            .document(&tenant.id, id)
            .await
            .expect("read")
            .expect("the instalment invoice");
        assert_eq!(doc.kind(), DocumentKind::Invoice);
        assert_eq!(
            a.repository
                .period(&tenant.id, &schedule.id, n as u32)
                .await
                .expect("period"),
            Some(id.clone())
        );
        assert!(
            doc.content.lines[0]
                .description
                .starts_with(&format!("Rate {} von 4", n + 1)),
            "{}",
            doc.content.lines[0].description
        );
        // The instalment names the booked service's date, not its own month.
        assert_eq!(
            Some(doc.content.lines[0].service),
            booking.items[0].service,
            "{n}"
        );
        gross += doc.content.totals.amount_due.value();
        numbers.push(doc.content.number.as_str().to_string());
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 2, "each instalment has its own number");
    // 357.00 / 4 = 89.25 each: the first two.
    assert_eq!(gross, Decimal::new(17850, 2));
}

pub async fn a_stop_racing_a_bill_leaves_no_invoice_after_it(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let stores = a.stores(std::slice::from_ref(&tenant));
    let einvoice = Arc::new(faktura_einvoice::EInvoiceXml);
    let now = Utc::now();
    for attempt in 0..4 {
        let booking = booking_with(&format!("bk_stop_{attempt}"), "cus_stop", "1");
        let schedule = plan_schedule(
            &tenant,
            &booking,
            &ScheduleSpec {
                mode: Mode::Recurring,
                end: End::Never,
                ..spec(1, 0)
            },
            None,
            einvoice.as_ref(),
            now,
        )
        .expect("a schedule");
        let mut change = Change::for_tenant(&tenant.id);
        create_into(&mut change, &tenant, &schedule, now);
        let job = change.jobs[0].clone();
        a.repository.commit(change).await.expect("created");
        let biller = ScheduleBiller::new(stores.clone(), einvoice.clone());
        let bill = tokio::spawn(async move { biller.bill(&job).await });
        let (repo, t, id, ei) = (
            a.repository.clone(),
            tenant.clone(),
            schedule.id.clone(),
            einvoice.clone(),
        );
        let stop = tokio::spawn(async move {
            loop {
                let s = repo
                    .schedule(&t.id, &id)
                    .await
                    .expect("read")
                    .expect("stored");
                let mut change = Change::for_tenant(&t.id);
                let update = ScheduleUpdate {
                    action: Some(ScheduleAction::Stop),
                    items: None,
                };
                update_into(&mut change, &t, &s, &update, ei.as_ref(), Utc::now()).expect("stop");
                match repo.commit(change).await {
                    Ok(()) => return s.billed.len(),
                    Err(CommitError::Conflict(Conflict::Schedule(_))) => continue,
                    Err(e) => panic!("stop: {e}"),
                }
            }
        });
        let billed = bill.await.expect("task").expect("bill");
        let billed_before_stop = stop.await.expect("task");
        let end = a
            .repository
            .schedule(&tenant.id, &schedule.id)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(end.state, ScheduleState::Stopped);
        assert_eq!(
            end.billed.len(),
            billed_before_stop,
            "nothing is billed after the stop"
        );
        assert_eq!(
            matches!(billed, Billed::Invoice { .. }),
            billed_before_stop == 1
        );
    }
}

/// A clock the test moves.
struct TestClock(std::sync::Mutex<chrono::DateTime<Utc>>);

impl faktura_domain::ports::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

/// A year of schedules and their dunning, the clock moved from due instant to due instant: a
/// 12-month instalment plan from 31 January (paid on time), a monthly membership from 15
/// January (paid in part), a quarterly plan (never paid), a monthly plan paid late (after its
/// payment reminder). Every invoice, number, date, amount, reminder, fee, owner mail and
/// balance at the end is checked against a computation of the test's own.
pub async fn a_year_of_schedules(a: &Adapters) {
    use chrono::NaiveDate;
    use faktura_domain::booking::PaymentFact;
    use faktura_domain::jobs::{JobKind, SHARDS};
    use faktura_domain::money::Amount;
    use faktura_domain::service::commands::{Command, Commands};
    use faktura_domain::service::jobs::{Handlers, JobRunner};

    let tenant = sample_tenant(&fresh_tenant_id());
    let berlin = faktura_domain::values::TimeZone::default();
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
    let start = berlin.start_of(d(2027, 1, 10)) + chrono::TimeDelta::hours(9);
    let clock = Arc::new(TestClock(std::sync::Mutex::new(start)));
    let stores = a.stores_at(std::slice::from_ref(&tenant), clock.clone());
    let einvoice = Arc::new(faktura_einvoice::EInvoiceXml);
    let plans = [
        // (customer, quantity × 119.00 gross, interval, anchor, count)
        (
            "cus_course",
            "10",
            Interval::Month,
            d(2027, 1, 31),
            Some(12),
        ),
        ("cus_member", "1", Interval::Month, d(2027, 1, 15), None),
        (
            "cus_quarter",
            "4",
            Interval::Quarter,
            d(2027, 2, 28),
            Some(4),
        ),
        ("cus_late", "1", Interval::Month, d(2027, 1, 20), Some(12)),
    ];
    let mut ids = Vec::new();
    for (customer, quantity, interval, anchor, count) in plans {
        let booking = booking_with(&format!("bk_{customer}"), customer, quantity);
        let spec = ScheduleSpec {
            mode: if count.is_some() {
                Mode::Instalments
            } else {
                Mode::Recurring
            },
            interval,
            anchor: Some(anchor),
            end: count.map_or(End::Never, |count| End::After { count }),
            missed: MissedPeriods::CatchUp,
            payment_terms_days: None,
        };
        let schedule = plan_schedule(&tenant, &booking, &spec, None, einvoice.as_ref(), start)
            .expect("a schedule");
        let mut change = Change::for_tenant(&tenant.id);
        create_into(&mut change, &tenant, &schedule, start);
        a.repository.commit(change).await.expect("created");
        ids.push(schedule.id.clone());
    }
    let owner_mails = Arc::new(CountingMailer::default());
    let runner = JobRunner::new(
        stores.clone(),
        Handlers {
            schedules: Some(ScheduleBiller::new(stores.clone(), einvoice.clone())),
            dunner: Some(faktura_domain::service::dunning::Dunner::new(
                stores.clone(),
            )),
            mailer: Some(faktura_domain::service::delivery::DocumentMailer::new(
                stores.clone(),
                owner_mails.clone(),
            )),
            ..Handlers::default()
        },
    );
    let commands = Commands::new(stores.clone(), einvoice.clone());
    let cause = faktura_domain::audit::Cause::Migration { from_version: 0 };
    let end = berlin.start_of(d(2028, 1, 1)) - chrono::TimeDelta::seconds(1);
    let mut paid_docs = std::collections::BTreeSet::new();
    let mut stops = 0;
    loop {
        // Run every bill job due now; pay what was just billed, as each customer does.
        let now = *clock.0.lock().expect("clock");
        let mut due = Vec::new();
        for shard in 0..SHARDS {
            due.extend(a.jobs.due_jobs(shard, now, 1000).await.expect("due"));
        }
        due.retain(|j| {
            matches!(
                j.kind,
                JobKind::BillSchedule | JobKind::DunInvoice | JobKind::NotifyOwner
            )
        });
        due.sort_by_key(|j| j.due_at);
        for j in &due {
            runner.run(&j.tenant_id, &j.id).await.expect("run");
        }
        for (schedule_index, share) in [(0, 1), (1, 2), (3, 1)] {
            let schedule = a
                .repository
                .schedule(&tenant.id, &ids[schedule_index])
                .await
                .expect("read")
                .expect("stored");
            for b in &schedule.billed {
                let doc = a
                    .repository
                    .document(&tenant.id, &b.document_id)
                    .await
                    .expect("read")
                    .expect("doc");
                // The late payer pays once the payment reminder came.
                if schedule_index == 3 && doc.dunning.level == 0 {
                    continue;
                }
                if !paid_docs.insert(b.document_id.clone()) {
                    continue;
                }
                // The member pays half of each invoice.
                let amount = doc.content.totals.amount_due.value() / Decimal::from(share);
                commands
                    .run(
                        &tenant.id,
                        Command::Payment {
                            id: b.document_id.clone(),
                            payment: PaymentFact {
                                paid_at: now,
                                amount: faktura_domain::money::Amount::round(amount),
                                currency: doc.content.currency,
                                method: Some("bank_transfer".into()),
                                reference: Some(format!("pay-{}", b.document_id)),
                            },
                        },
                        &cause,
                        None,
                    )
                    .await
                    .expect("paid");
            }
        }
        // On to the next instant a bill job is due.
        let mut next: Option<chrono::DateTime<Utc>> = None;
        for shard in 0..SHARDS {
            if let Some(t) = a.jobs.next_due(shard, now).await.expect("next") {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        match next {
            Some(t) if t <= end => {
                *clock.0.lock().expect("clock") = t;
                stops += 1;
            }
            _ => break,
        }
        assert!(stops < 1000, "the clock stops at each due instant only");
    }

    // What the year must have made, computed here: occurrence dates, amounts, numbers.
    let month_end = |y: i32, m: u32, day: u32| {
        (1..=day)
            .rev()
            .find_map(|x| NaiveDate::from_ymd_opt(y, m, x))
            .expect("a day of the month")
    };
    let monthly = |anchor_day: u32, n: u32| -> Vec<NaiveDate> {
        (0..n).map(|i| month_end(2027, 1 + i, anchor_day)).collect()
    };
    let course_dates = monthly(31, 12);
    let member_dates = monthly(15, 12);
    let quarter_dates: Vec<NaiveDate> = [2, 5, 8, 11]
        .iter()
        .map(|m| month_end(2027, *m, 28))
        .collect();
    let late_dates = monthly(20, 12);
    // 10 × 119.00 = 1190.00 in 12: 99.17 × 2 and 99.16 × 10 (119000 cents = 12 × 9916 + 8… )
    let shares = |total_cents: i64, n: i64| -> Vec<Decimal> {
        let base = total_cents / n;
        let extra = total_cents - base * n;
        (0..n)
            .map(|i| Decimal::new(base + i64::from(i < extra), 2))
            .collect()
    };
    let expected: [(usize, &Vec<NaiveDate>, Vec<Decimal>); 4] = [
        (0, &course_dates, shares(119_000, 12)),
        (1, &member_dates, vec![Decimal::new(11_900, 2); 12]),
        (2, &quarter_dates, shares(47_600, 4)),
        (3, &late_dates, shares(11_900, 12)),
    ];
    // Dunning, computed here: level 1 on due + 7, level 2 on due + 21, level 3 on due + 35
    // (each after the previous letter's 7-day deadline), exhausted on due + 43; default from
    // the day after the first letter; 2.50 and 5.00 in fees; interest at 1.27 + 5 points
    // (consumers) on what is open, per day, actual/365, from default to the letter's date.
    let end_day = berlin.date_of(end);
    let plus = |day: NaiveDate, n: u64| day + chrono::Days::new(n);
    let interest = |open: Decimal, days: i64| {
        (open * Decimal::new(627, 4) * Decimal::from(days) / Decimal::from(365))
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    };
    let mut reminder_numbers = Vec::new();
    let mut exhausted = 0;
    let mut numbers = Vec::new();
    for (i, dates, amounts) in expected {
        let schedule = a
            .repository
            .schedule(&tenant.id, &ids[i])
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(schedule.billed.len(), dates.len(), "schedule {i}");
        let mut charged = Decimal::ZERO;
        let mut paid_late = Decimal::ZERO;
        for (n, b) in schedule.billed.iter().enumerate() {
            let doc = a
                .repository
                .document(&tenant.id, &b.document_id)
                .await
                .expect("read")
                .expect("doc");
            assert_eq!(
                doc.content.issue_date, dates[n],
                "schedule {i}, occurrence {n}"
            );
            // A recurring invoice names its period; an instalment the booked service's date.
            let service_start = if i == 1 { dates[n] } else { d(2026, 12, 1) };
            assert_eq!(doc.content.lines[0].service.start, service_start);
            assert_eq!(
                doc.content.totals.amount_due.value(),
                amounts[n],
                "schedule {i}, occurrence {n}"
            );
            charged += amounts[n];
            numbers.push(doc.content.number.as_str().to_string());
            let due = doc.content.due_date;
            let open = match i {
                0 => Decimal::ZERO,
                1 => amounts[n] - Amount::round(amounts[n] / Decimal::from(2)).value(),
                _ => amounts[n],
            };
            let level_days = [plus(due, 7), plus(due, 21), plus(due, 35)];
            let expected_levels: Vec<NaiveDate> = match i {
                0 => Vec::new(),
                // Paid right after the reminder: nothing after it.
                3 => level_days
                    .iter()
                    .copied()
                    .take(1)
                    .filter(|l| *l <= end_day)
                    .collect(),
                _ => level_days
                    .iter()
                    .copied()
                    .filter(|l| *l <= end_day)
                    .collect(),
            };
            let sent: Vec<NaiveDate> = doc.dunning.reminders.iter().map(|r| r.date).collect();
            assert_eq!(
                sent, expected_levels,
                "schedule {i}, occurrence {n}: reminders"
            );
            for (k, r) in doc.dunning.reminders.iter().enumerate() {
                let letter = a
                    .repository
                    .document(&tenant.id, &r.document_id)
                    .await
                    .expect("read")
                    .expect("the reminder");
                reminder_numbers.push(letter.content.number.as_str().to_string());
                assert_eq!(letter.content.kind, DocumentKind::Reminder);
                assert_eq!(letter.content.due_date, plus(r.date, 7), "its deadline");
                let facts = letter.content.reminder.as_ref().expect("facts");
                let open_then = if i == 3 { amounts[n] } else { open };
                assert_eq!(
                    facts.items[0].open.value(),
                    open_then,
                    "schedule {i}, {n}, {k}"
                );
                let (fee, days) = match k {
                    0 => (Decimal::ZERO, 0),
                    1 => (Decimal::new(250, 2), 14),
                    // Both fees so far.
                    _ => (Decimal::new(750, 2), 28),
                };
                let want = fee
                    + if days > 0 {
                        interest(open_then, days)
                    } else {
                        Decimal::ZERO
                    };
                assert_eq!(
                    facts.charges.value(),
                    want,
                    "schedule {i}, {n}, level {}",
                    k + 1
                );
                assert_eq!(facts.total.value(), open_then + want);
            }
            if i == 3 && !expected_levels.is_empty() {
                paid_late += amounts[n];
            }
            let gives_up = i == 1 || i == 2;
            let is_exhausted = gives_up && plus(due, 43) <= end_day;
            assert_eq!(doc.dunning.exhausted, is_exhausted, "schedule {i}, {n}");
            exhausted += usize::from(is_exhausted);
        }
        let customer = schedule.customer.key();
        let ledger = a
            .repository
            .ledger(&tenant.id, &customer)
            .await
            .expect("ledger");
        let balance = faktura_domain::ledger::balance(&ledger).value();
        let paid: Decimal = match i {
            0 => charged,
            // Paid once reminded: not the last one, whose reminder comes next year.
            3 => paid_late,
            1 => schedule.billed.iter().map(|_| Decimal::new(5_950, 2)).sum(),
            _ => Decimal::ZERO,
        };
        assert_eq!(balance, charged - paid, "schedule {i}: balance");
        assert_eq!(
            schedule.state,
            if i == 1 {
                ScheduleState::Active
            } else {
                ScheduleState::Completed
            }
        );
    }
    // One gapless series for the tenant's year.
    numbers.sort();
    let want: Vec<String> = (1..=numbers.len())
        .map(|n| format!("RE-2027-{n:05}"))
        .collect();
    assert_eq!(numbers, want);
    assert_eq!(numbers.len(), 12 + 12 + 4 + 12);
    // The reminders: their own gapless series; one owner mail per exhausted invoice.
    reminder_numbers.sort();
    let want: Vec<String> = (1..=reminder_numbers.len())
        .map(|n| format!("MA-2027-{n:05}"))
        .collect();
    assert_eq!(reminder_numbers, want);
    assert!(exhausted > 0);
    assert_eq!(
        owner_mails.count(),
        exhausted,
        "one owner mail per exhausted invoice"
    );
}

/// A mail sender that only counts (the year's owner mails).
#[derive(Default)]
struct CountingMailer(std::sync::atomic::AtomicUsize);

impl CountingMailer {
    fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl faktura_domain::ports::MailSender for CountingMailer {
    async fn send(
        &self,
        mail: &faktura_domain::ports::OutgoingMail,
    ) -> Result<String, faktura_domain::StoreError> {
        assert!(
            mail.key.starts_with("owner-"),
            "only owner mails here: {}",
            mail.key
        );
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(mail.key.clone())
    }
}

/// A tenant that applies customer credit: a customer who overpaid an invoice by 20.00 gets
/// it as prepaid amount (BT-113) on the next occurrence of their schedule, and the surplus
/// leaves the overpaid invoice in the same change.
pub async fn customer_credit_goes_to_the_next_occurrence(a: &Adapters) {
    use faktura_domain::booking::PaymentFact;
    use faktura_domain::service::commands::{Answered, Command, Commands, Outcome};

    let mut tenant = sample_tenant(&fresh_tenant_id());
    tenant.settings.apply_credit = true;
    let stores = a.stores(std::slice::from_ref(&tenant));
    let einvoice = Arc::new(faktura_einvoice::EInvoiceXml);
    let commands = Commands::new(stores.clone(), einvoice.clone());
    let cause = faktura_domain::audit::Cause::Migration { from_version: 0 };
    let now = Utc::now();
    let created = commands
        .run(
            &tenant.id,
            Command::Create {
                kind: DocumentKind::Invoice,
                content: booking_with("bk_over", "cus_credit", "1"),
                draft: false,
            },
            &cause,
            None,
        )
        .await
        .expect("an invoice");
    let Answered::Fresh(outcome) = created else {
        panic!("fresh")
    };
    let Outcome::Document(over) = *outcome else {
        panic!("a document")
    };
    commands
        .run(
            &tenant.id,
            Command::Payment {
                id: over.id().clone(),
                payment: PaymentFact {
                    paid_at: now,
                    amount: faktura_domain::money::Amount::round(Decimal::new(13_900, 2)),
                    currency: over.content.currency,
                    method: None,
                    reference: Some("overpaid".into()),
                },
            },
            &cause,
            None,
        )
        .await
        .expect("paid 20.00 too much");
    let schedule = plan_schedule(
        &tenant,
        &booking_with("bk_sched_credit", "cus_credit", "1"),
        &ScheduleSpec {
            mode: Mode::Recurring,
            end: End::After { count: 2 },
            ..spec(1, 0)
        },
        None,
        einvoice.as_ref(),
        now,
    )
    .expect("a schedule");
    let mut change = Change::for_tenant(&tenant.id);
    create_into(&mut change, &tenant, &schedule, now);
    let job = change.jobs[0].clone();
    a.repository.commit(change).await.expect("created");
    let billed = ScheduleBiller::new(stores.clone(), einvoice.clone())
        .bill(&job)
        .await
        .expect("bill");
    let Billed::Invoice { document_id, .. } = billed else {
        panic!("billed: {billed:?}")
    };
    let doc = a
        .repository
        .document(&tenant.id, &document_id)
        .await
        .expect("read")
        .expect("the occurrence's invoice");
    let over_now = a
        .repository
        .document(&tenant.id, over.id())
        .await
        .expect("read")
        .expect("the overpaid invoice");
    assert_eq!(
        doc.content.totals.prepaid.value(),
        Decimal::new(2_000, 2),
        "overpaid invoice: {:?} {:?}, customer {} vs {}",
        over_now.payment_state(),
        over_now.settlement,
        over_now.content.buyer.customer_key,
        doc.content.buyer.customer_key
    );
    assert_eq!(
        doc.content.totals.amount_due.value(),
        Decimal::new(9_900, 2)
    );
    let source = a
        .repository
        .document(&tenant.id, over.id())
        .await
        .expect("read")
        .expect("the overpaid invoice");
    assert!(source.settlement.open().is_zero(), "its surplus moved on");
    let ledger = a
        .repository
        .ledger(&tenant.id, &doc.content.buyer.customer_key)
        .await
        .expect("ledger");
    // 119.00 + 119.00 charged, 139.00 paid.
    assert_eq!(
        faktura_domain::ledger::balance(&ledger).value(),
        Decimal::new(9_900, 2)
    );
}
