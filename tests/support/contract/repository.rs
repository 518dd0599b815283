//! What [`Repository::commit`] promises: a [`Change`] is written entirely or not at all, and
//! each part only under its condition.

use chrono::{DateTime, TimeDelta, Utc};
use faktura_domain::audit::{AuditEntry, Cause};
use faktura_domain::booking::BookingRecord;
use faktura_domain::document::{Document, DocumentEvent};
use faktura_domain::jobs::{Job, JobKind};
use faktura_domain::ledger::{EntryKind, LedgerEntry, entry_id};
use faktura_domain::model::{Billing, DocumentKind, Tenant};
use faktura_domain::money::Amount;
use faktura_domain::numbering::CounterKey;
use faktura_domain::ports::{
    Change, CommitError, Conflict, DocumentWrite, IdempotencyRecord, NumberClaim,
};
use faktura_domain::service::commands::IDEMPOTENCY_KEPT;
use faktura_domain::values::Id;

use super::{
    Adapters, at, counter_key, draft_document, fresh_tenant_id, id, issued_document, parsed,
    sample_booking, sample_tenant,
};

pub(crate) fn cause() -> Cause {
    Cause::ApiKey {
        key_id: "key_contract".into(),
        request_id: None,
    }
}

pub fn ledger_entry(
    doc: &Document,
    kind: EntryKind,
    amount: &str,
    fact: &str,
    when: DateTime<Utc>,
) -> LedgerEntry {
    LedgerEntry {
        id: entry_id(&doc.content.tenant_id, fact),
        tenant_id: doc.content.tenant_id.clone(),
        customer_key: doc.content.buyer.customer_key.clone(),
        document_id: doc.id().clone(),
        kind,
        amount: parsed::<Amount>(amount),
        currency: doc.content.currency,
        at: when,
        cause: cause(),
        related_document: None,
        payment: None,
    }
}

pub(crate) fn audit_entry(doc: &Document, version: u64, when: DateTime<Utc>) -> AuditEntry {
    AuditEntry::new(
        &doc.content.tenant_id,
        doc.id(),
        version,
        when,
        &cause(),
        DocumentEvent::Issued {
            number: doc.content.number.as_str().to_string(),
        },
    )
}

pub(crate) fn claim(doc: &Document, key: &CounterKey, expected: u64) -> NumberClaim {
    NumberClaim {
        counter: key.clone(),
        expected,
        number: doc.content.number.clone(),
        document_id: doc.id().clone(),
    }
}

pub(crate) fn idem_record(tenant: &Id, key: &str, when: DateTime<Utc>) -> IdempotencyRecord {
    IdempotencyRecord {
        tenant_id: tenant.clone(),
        key: key.to_string(),
        request_hash: format!("hash-of-{key}"),
        status: 201,
        body: format!("{{\"key\":\"{key}\"}}"),
        created_at: when,
    }
}

/// What issuing one invoice writes: the document, its number, its charge, its audit entry and
/// its render job (the shape of the service's changes).
pub fn issue_change(tenant: &Tenant, doc: &Document, expected: u64) -> Change {
    let now = doc.created_at;
    let key = counter_key(tenant, doc.kind(), doc.content.issue_date);
    let mut change = Change::for_tenant(&tenant.id);
    change.numbers.push(claim(doc, &key, expected));
    change.documents.push(DocumentWrite::new(doc.clone()));
    change.ledger.push(ledger_entry(
        doc,
        EntryKind::Charge,
        "119.00",
        &format!("charge:{}", doc.id()),
        now,
    ));
    change.audit.push(audit_entry(doc, 1, now));
    change.jobs.push(Job::new(
        &tenant.id,
        JobKind::RenderDocument,
        doc.id(),
        "first",
        now,
    ));
    change
}

pub(crate) async fn commit(a: &Adapters, change: Change) {
    a.repository
        .commit(change)
        .await
        .unwrap_or_else(|e| panic!("commit: {e}"));
}

fn conflict(result: Result<(), CommitError>) -> Conflict {
    match result {
        Err(CommitError::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// A booking record is written new once (version 1), then only at the version it was read.
pub async fn booking_records_are_versioned(a: &Adapters) {
    let t = fresh_tenant_id();
    let now = at(2026, 11, 20, 10, 0, 0);
    let bk = id("bk_versions");
    assert_eq!(a.repository.booking(&t, &bk).await.expect("booking"), None);

    let mut record = BookingRecord::new(&t, &bk, Billing::ProformaFirst, now);
    record.content = Some(sample_booking("bk_versions", "cus_1"));
    let mut change = Change::for_tenant(&t);
    change.booking = Some((record.clone(), None));
    commit(a, change.clone()).await;
    let stored = a
        .repository
        .booking(&t, &bk)
        .await
        .expect("booking")
        .expect("written");
    assert_eq!(stored.version, 1, "a new record is version 1");
    assert_eq!(stored.content, record.content);
    assert_eq!(stored.billing, Billing::ProformaFirst);

    assert_eq!(
        conflict(a.repository.commit(change).await),
        Conflict::Booking,
        "a second new record for the booking is a conflict"
    );

    let mut next = stored.clone();
    next.documents.proforma = Some(id("pro_1"));
    let mut change = Change::for_tenant(&t);
    change.booking = Some((next.clone(), Some(1)));
    commit(a, change.clone()).await;
    let stored = a
        .repository
        .booking(&t, &bk)
        .await
        .expect("booking")
        .expect("written");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.documents.proforma, Some(id("pro_1")));

    assert_eq!(
        conflict(a.repository.commit(change).await),
        Conflict::Booking,
        "a change computed from version 1 is refused at version 2"
    );
    assert_eq!(
        a.repository
            .booking(&fresh_tenant_id(), &bk)
            .await
            .expect("booking"),
        None,
        "another tenant does not see it"
    );
}

/// A document is written new once (version 1) and changed only at the version it was read;
/// what reads back is what was written.
pub async fn documents_are_versioned(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let now = at(2026, 11, 20, 10, 0, 0);
    let draft = draft_document(&tenant, &sample_booking("bk_doc", "cus_1"), now);
    let did = draft.id().clone();
    assert_eq!(
        a.repository
            .document(&tenant.id, &did)
            .await
            .expect("document"),
        None
    );

    let mut change = Change::for_tenant(&tenant.id);
    change.documents.push(DocumentWrite::new(draft.clone()));
    commit(a, change.clone()).await;
    let stored = a
        .repository
        .document(&tenant.id, &did)
        .await
        .expect("document")
        .expect("written");
    let mut expected = draft.clone();
    expected.version = 1;
    assert_eq!(
        stored, expected,
        "the document reads back as written, at version 1"
    );

    assert_eq!(
        conflict(a.repository.commit(change).await),
        Conflict::Document(did.clone()),
        "writing it new again is a conflict"
    );

    let mut changed = stored.clone();
    changed
        .content
        .notes
        .push("Bitte Kursnummer angeben".into());
    changed.updated_at = now + TimeDelta::minutes(1);
    let mut change = Change::for_tenant(&tenant.id);
    change
        .documents
        .push(DocumentWrite::update(changed.clone()));
    commit(a, change.clone()).await;
    let stored = a
        .repository
        .document(&tenant.id, &did)
        .await
        .expect("document")
        .expect("written");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.content.notes, changed.content.notes);

    assert_eq!(
        conflict(a.repository.commit(change).await),
        Conflict::Document(did.clone()),
        "a change of version 1 is refused at version 2"
    );
    let mut ghost = draft_document(&tenant, &sample_booking("bk_ghost", "cus_1"), now);
    ghost.version = 3;
    let mut change = Change::for_tenant(&tenant.id);
    change.documents.push(DocumentWrite::update(ghost.clone()));
    assert_eq!(
        conflict(a.repository.commit(change).await),
        Conflict::Document(ghost.id().clone()),
        "changing a document that does not exist is a conflict"
    );
    assert_eq!(
        a.repository
            .document(&fresh_tenant_id(), &did)
            .await
            .expect("document"),
        None,
        "another tenant does not see it"
    );
}

/// Every kind of refused condition leaves every part of the change unwritten.
pub async fn a_refused_change_writes_nothing(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let now = at(2026, 11, 20, 10, 0, 0);
    let key = counter_key(&tenant, DocumentKind::Invoice, now.date_naive());

    // What is there already: invoice 1 with its charge, job and idempotency key; a booking.
    let first = issued_document(
        &tenant,
        &sample_booking("bk_first", "cus_1"),
        DocumentKind::Invoice,
        now,
        1,
    );
    let mut setup = super::repository::issue_change(&tenant, &first, 0);
    setup.idempotency = Some(idem_record(&tenant.id, "key-taken", now));
    let booking = BookingRecord::new(&tenant.id, &id("bk_first"), Billing::Invoice, now);
    setup.booking = Some((booking.clone(), None));
    commit(a, setup).await;

    // The change under test: invoice 2 with all its parts, plus one part that conflicts.
    let second = issued_document(
        &tenant,
        &sample_booking("bk_second", "cus_2"),
        DocumentKind::Invoice,
        now,
        2,
    );
    let customer = faktura_domain::invoicing::customer_from_booking(
        &sample_booking("bk_second", "cus_2"),
        &tenant,
        now,
    );
    let good = || {
        let mut c = super::repository::issue_change(&tenant, &second, 1);
        c.customers.push(customer.clone());
        c.idempotency = Some(idem_record(&tenant.id, "key-new", now));
        c
    };
    let cases: Vec<(&str, Change, Conflict)> = vec![
        (
            "a stale counter",
            {
                let mut c = good();
                c.numbers[0].expected = 0;
                c
            },
            Conflict::Counter(key.clone()),
        ),
        (
            "a number another document holds",
            {
                let mut c = good();
                c.numbers[0].number = first.content.number.clone();
                c
            },
            Conflict::Number(first.content.number.as_str().to_string()),
        ),
        (
            "a document that exists",
            {
                let mut c = good();
                c.documents.push(DocumentWrite::new(first.clone()));
                c
            },
            Conflict::Document(first.id().clone()),
        ),
        (
            "a ledger entry that exists",
            {
                let mut c = good();
                c.ledger.push(ledger_entry(
                    &first,
                    EntryKind::Charge,
                    "119.00",
                    &format!("charge:{}", first.id()),
                    now,
                ));
                c
            },
            Conflict::LedgerEntry(entry_id(&tenant.id, &format!("charge:{}", first.id()))),
        ),
        (
            "a job that exists",
            {
                let mut c = good();
                c.jobs.push(Job::new(
                    &tenant.id,
                    JobKind::RenderDocument,
                    first.id(),
                    "first",
                    now,
                ));
                c
            },
            Conflict::Job(
                Job::new(
                    &tenant.id,
                    JobKind::RenderDocument,
                    first.id(),
                    "first",
                    now,
                )
                .id,
            ),
        ),
        (
            "an idempotency key that is taken",
            {
                let mut c = good();
                c.idempotency = Some(idem_record(&tenant.id, "key-taken", now));
                c
            },
            Conflict::Idempotency("key-taken".into()),
        ),
        (
            "a booking at another version",
            {
                let mut c = good();
                c.booking = Some((booking.clone(), Some(7)));
                c
            },
            Conflict::Booking,
        ),
    ];
    for (what, change, expected) in cases {
        assert_eq!(
            conflict(a.repository.commit(change).await),
            expected,
            "{what}: the conflict names the refused part"
        );
        let r = &a.repository;
        assert_eq!(
            r.document(&tenant.id, second.id()).await.expect("document"),
            None,
            "{what}: the document is not written"
        );
        assert_eq!(
            r.counter(&key).await.expect("counter"),
            1,
            "{what}: the counter did not move"
        );
        assert_eq!(
            r.ledger(&tenant.id, &second.content.buyer.customer_key)
                .await
                .expect("ledger"),
            Vec::new(),
            "{what}: no ledger entry"
        );
        assert_eq!(
            r.audit(&tenant.id, second.id()).await.expect("audit"),
            Vec::new(),
            "{what}: no audit entry"
        );
        assert_eq!(
            r.customer(&tenant.id, &customer.key)
                .await
                .expect("customer"),
            None,
            "{what}: no customer"
        );
        assert_eq!(
            r.idempotency(&tenant.id, "key-new", now - TimeDelta::hours(1))
                .await
                .expect("idempotency"),
            None,
            "{what}: no idempotency record"
        );
        let job = Job::new(
            &tenant.id,
            JobKind::RenderDocument,
            second.id(),
            "first",
            now,
        );
        assert_eq!(
            a.jobs.job(&tenant.id, &job.id).await.expect("job"),
            None,
            "{what}: no job"
        );
        assert_eq!(
            r.booking(&tenant.id, &id("bk_first"))
                .await
                .expect("booking")
                .map(|b| b.version),
            Some(1),
            "{what}: the booking is untouched"
        );
    }
    // Without the conflicting part the same change goes through.
    commit(a, good()).await;
    assert_eq!(a.repository.counter(&key).await.expect("counter"), 2);
    assert!(
        a.repository
            .document(&tenant.id, second.id())
            .await
            .expect("document")
            .is_some()
    );
}

/// Counters start at 0 and move by one per claim; series, years and tenants count apart; a
/// number is held by one document only.
pub async fn counters_and_numbers(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let other = sample_tenant(&fresh_tenant_id());
    let now = at(2026, 12, 31, 23, 0, 0);
    let next_year = at(2027, 1, 1, 9, 0, 0);
    let inv_key = counter_key(&tenant, DocumentKind::Invoice, now.date_naive());
    for key in [
        &inv_key,
        &counter_key(&tenant, DocumentKind::CreditNote, now.date_naive()),
        &counter_key(&other, DocumentKind::Invoice, now.date_naive()),
    ] {
        assert_eq!(a.repository.counter(key).await.expect("counter"), 0);
    }
    let b = sample_booking("bk_count", "cus_1");
    for seq in 1..=3 {
        let doc = issued_document(&tenant, &b, DocumentKind::Invoice, now, seq);
        commit(a, issue_change(&tenant, &doc, seq - 1)).await;
    }
    let doc = issued_document(&tenant, &b, DocumentKind::Proforma, now, 1);
    commit(a, issue_change(&tenant, &doc, 0)).await;
    let doc = issued_document(&tenant, &b, DocumentKind::Invoice, next_year, 1);
    commit(a, issue_change(&tenant, &doc, 0)).await;
    let doc = issued_document(&other, &b, DocumentKind::Invoice, now, 1);
    commit(a, issue_change(&other, &doc, 0)).await;

    let r = &a.repository;
    assert_eq!(r.counter(&inv_key).await.expect("counter"), 3);
    assert_eq!(
        r.counter(&counter_key(
            &tenant,
            DocumentKind::Proforma,
            now.date_naive()
        ))
        .await
        .expect("counter"),
        1
    );
    assert_eq!(
        r.counter(&counter_key(
            &tenant,
            DocumentKind::CreditNote,
            now.date_naive()
        ))
        .await
        .expect("counter"),
        0
    );
    assert_eq!(
        r.counter(&counter_key(
            &tenant,
            DocumentKind::Invoice,
            next_year.date_naive()
        ))
        .await
        .expect("counter"),
        1,
        "the yearly reset starts 2027 at 1"
    );
    assert_eq!(
        r.counter(&counter_key(
            &other,
            DocumentKind::Invoice,
            now.date_naive()
        ))
        .await
        .expect("counter"),
        1,
        "another tenant counts for itself"
    );

    // A counter without a year (a pattern that lost it) hands out a number taken already.
    let flat = CounterKey {
        tenant_id: tenant.id.clone(),
        series: "invoice".into(),
        period: None,
    };
    let mut dup = issued_document(&tenant, &b, DocumentKind::Invoice, now, 1);
    let mut change = issue_change(&tenant, &dup, 0);
    change.numbers[0].counter = flat.clone();
    assert_eq!(
        conflict(r.commit(change).await),
        Conflict::Number(dup.content.number.as_str().to_string()),
        "a number another document holds is refused"
    );
    assert_eq!(r.counter(&flat).await.expect("counter"), 0);
    dup.content.number = parsed("RE-2026-99999");
    let mut change = issue_change(&tenant, &dup, 0);
    change.numbers[0].counter = flat.clone();
    commit(a, change).await;
    assert_eq!(r.counter(&flat).await.expect("counter"), 1);
}

/// Ledger entries are written once (their id is the fact) and read per customer, oldest first.
pub async fn ledger_entries_are_written_once(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let now = at(2026, 11, 20, 10, 0, 0);
    let doc = issued_document(
        &tenant,
        &sample_booking("bk_led", "cus_1"),
        DocumentKind::Invoice,
        now,
        1,
    );
    let other = issued_document(
        &tenant,
        &sample_booking("bk_led2", "cus_2"),
        DocumentKind::Invoice,
        now,
        2,
    );
    let entries = [
        ledger_entry(&doc, EntryKind::Charge, "119.00", "charge", now),
        ledger_entry(
            &doc,
            EntryKind::Payment,
            "50.00",
            "pay-1",
            now + TimeDelta::hours(1),
        ),
        ledger_entry(
            &doc,
            EntryKind::Payment,
            "69.01",
            "pay-2",
            now + TimeDelta::hours(2),
        ),
        ledger_entry(
            &doc,
            EntryKind::Refund,
            "0.01",
            "refund-1",
            now + TimeDelta::hours(3),
        ),
    ];
    for e in &entries {
        let mut change = Change::for_tenant(&tenant.id);
        change.ledger.push(e.clone());
        commit(a, change).await;
    }
    let mut change = Change::for_tenant(&tenant.id);
    change.ledger.push(ledger_entry(
        &other,
        EntryKind::Charge,
        "119.00",
        "other-charge",
        now,
    ));
    commit(a, change).await;

    let mut change = Change::for_tenant(&tenant.id);
    let mut again = entries[1].clone();
    again.amount = parsed("50.00");
    change.ledger.push(again.clone());
    assert_eq!(
        conflict(a.repository.commit(change).await),
        Conflict::LedgerEntry(again.id.clone()),
        "the same fact is recorded once"
    );
    let read = a
        .repository
        .ledger(&tenant.id, &doc.content.buyer.customer_key)
        .await
        .expect("ledger");
    assert_eq!(
        read,
        entries.to_vec(),
        "the customer's entries, oldest first"
    );
    assert_eq!(
        faktura_domain::ledger::balance(&read),
        parsed::<Amount>("0.00"),
        "charged 119.00, paid 119.01, refunded 0.01"
    );
    assert_eq!(
        a.repository
            .ledger(&fresh_tenant_id(), &doc.content.buyer.customer_key)
            .await
            .expect("ledger"),
        Vec::new()
    );
}

/// Audit entries are appended per document and read oldest first.
pub async fn audit_trail_in_order(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let now = at(2026, 11, 20, 10, 0, 0);
    let doc = issued_document(
        &tenant,
        &sample_booking("bk_aud", "cus_1"),
        DocumentKind::Invoice,
        now,
        1,
    );
    let mut written = Vec::new();
    // Written out of order in time within one change, and in later changes.
    for batch in [vec![3, 1], vec![2], vec![5, 4]] {
        let mut change = Change::for_tenant(&tenant.id);
        for v in batch {
            let e = audit_entry(&doc, v, now + TimeDelta::seconds(i64::from(v as u32)));
            written.push(e.clone());
            change.audit.push(e);
        }
        commit(a, change).await;
    }
    written.sort_by_key(|e| e.at);
    assert_eq!(
        a.repository
            .audit(&tenant.id, doc.id())
            .await
            .expect("audit"),
        written,
        "the trail, oldest first"
    );
    assert_eq!(
        a.repository
            .audit(&tenant.id, &id("inv_other"))
            .await
            .expect("audit"),
        Vec::new()
    );
}

/// Customers are upserted: the latest address wins; documents keep their own snapshot.
pub async fn customers_upsert(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let now = at(2026, 11, 20, 10, 0, 0);
    let b = sample_booking("bk_cus", "cus_7");
    let mut customer = faktura_domain::invoicing::customer_from_booking(&b, &tenant, now);
    let mut change = Change::for_tenant(&tenant.id);
    change.customers.push(customer.clone());
    commit(a, change).await;
    assert_eq!(
        a.repository
            .customer(&tenant.id, &customer.key)
            .await
            .expect("customer"),
        Some(customer.clone())
    );
    customer.address.line1 = "Neue Straße 1".into();
    customer.name = "Erika Musterfrau-Ünal".into();
    customer.updated_at = now + TimeDelta::days(1);
    let mut change = Change::for_tenant(&tenant.id);
    change.customers.push(customer.clone());
    commit(a, change).await;
    assert_eq!(
        a.repository
            .customer(&tenant.id, &customer.key)
            .await
            .expect("customer"),
        Some(customer.clone()),
        "the latest version wins"
    );
    assert_eq!(
        a.repository
            .customer(&fresh_tenant_id(), &customer.key)
            .await
            .expect("customer"),
        None
    );
}

/// An idempotency record is written once per key and read while younger than asked.
pub async fn idempotency_records(a: &Adapters) {
    let t = fresh_tenant_id();
    let now = at(2026, 11, 20, 10, 0, 0);
    let rec = idem_record(&t, "abc-123", now);
    let mut change = Change::for_tenant(&t);
    change.idempotency = Some(rec.clone());
    commit(a, change.clone()).await;
    let r = &a.repository;
    assert_eq!(
        r.idempotency(&t, "abc-123", now - TimeDelta::hours(24))
            .await
            .expect("idempotency"),
        Some(rec.clone())
    );
    assert_eq!(
        r.idempotency(&t, "abc-123", now + TimeDelta::seconds(1))
            .await
            .expect("idempotency"),
        None,
        "a record older than asked is not an answer"
    );
    assert_eq!(
        conflict(r.commit(change).await),
        Conflict::Idempotency("abc-123".into())
    );
    assert_eq!(
        r.idempotency(&fresh_tenant_id(), "abc-123", now - TimeDelta::hours(1))
            .await
            .expect("idempotency"),
        None,
        "keys are per tenant"
    );
    // Once expired, the key may be used again.
    let later = now + IDEMPOTENCY_KEPT + TimeDelta::minutes(1);
    let mut fresh = idem_record(&t, "abc-123", later);
    fresh.body = "{\"again\":true}".into();
    let mut change = Change::for_tenant(&t);
    change.idempotency = Some(fresh.clone());
    commit(a, change).await;
    assert_eq!(
        r.idempotency(&t, "abc-123", later - TimeDelta::hours(1))
            .await
            .expect("idempotency"),
        Some(fresh)
    );
}

/// A change as large as the service makes (a credit note for an invoice with a final invoice:
/// documents, numbers, entries, audit, jobs) commits as one.
pub async fn a_large_change_commits(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let now = at(2026, 11, 20, 10, 0, 0);
    let b = sample_booking("bk_large", "cus_1");
    let inv = issued_document(&tenant, &b, DocumentKind::Invoice, now, 1);
    let pro = issued_document(&tenant, &b, DocumentKind::Proforma, now, 1);
    let crn = issued_document(&tenant, &b, DocumentKind::CreditNote, now, 1);
    let mut change = Change::for_tenant(&tenant.id);
    let mut record = BookingRecord::new(&tenant.id, &b.id, Billing::Invoice, now);
    record.content = Some(b.clone());
    change.booking = Some((record, None));
    for d in [&inv, &pro, &crn] {
        let key = counter_key(&tenant, d.kind(), now.date_naive());
        change.numbers.push(claim(d, &key, 0));
        change.documents.push(DocumentWrite::new(d.clone()));
        for v in 1..=3 {
            change.audit.push(audit_entry(d, v, now));
        }
        for kind in [JobKind::RenderDocument, JobKind::DeliverDocument] {
            change
                .jobs
                .push(Job::new(&tenant.id, kind, d.id(), "first", now));
        }
    }
    for n in 0..6 {
        change.ledger.push(ledger_entry(
            &inv,
            EntryKind::Payment,
            "1.00",
            &format!("p{n}"),
            now,
        ));
    }
    change
        .customers
        .push(faktura_domain::invoicing::customer_from_booking(
            &b, &tenant, now,
        ));
    change.idempotency = Some(idem_record(&tenant.id, "large", now));
    commit(a, change).await;
    for d in [&inv, &pro, &crn] {
        assert!(
            a.repository
                .document(&tenant.id, d.id())
                .await
                .expect("document")
                .is_some()
        );
        assert_eq!(
            a.repository
                .audit(&tenant.id, d.id())
                .await
                .expect("audit")
                .len(),
            3
        );
    }
    assert_eq!(
        a.repository
            .ledger(&tenant.id, &inv.content.buyer.customer_key)
            .await
            .expect("ledger")
            .len(),
        6
    );
}
