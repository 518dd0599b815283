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
        assert_eq!(
            doc.content.lines[0].service,
            done.period(n as u32).expect("period")
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
