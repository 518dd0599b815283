//! Reads: document lists agree with the filter's own definition ([`DocumentFilter::matches`])
//! over a varied set, in creation order and across pages; customers page; tenants are apart.

use chrono::{DateTime, TimeDelta, Utc};
use faktura_domain::document::{Delivery, Document, Lifecycle, PaymentState};
use faktura_domain::model::{DocumentKind, Tenant};
use faktura_domain::money::Amount;
use faktura_domain::ports::{Change, DocumentFilter, DocumentWrite};
use faktura_domain::values::Id;

use super::repository::commit;
use super::{
    Adapters, at, booking_with, date, draft_document, fresh_tenant_id, id, issued_document, parsed,
    sample_tenant,
};

/// Every document of `tenant` matching `filter`, page by page; checks each page's size and
/// that paging ends.
pub async fn list_all(
    a: &Adapters,
    tenant: &Id,
    filter: &DocumentFilter,
    limit: usize,
) -> Vec<Document> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let page = a
            .repository
            .documents(tenant, filter, cursor.as_deref(), limit)
            .await
            .expect("documents");
        assert!(
            page.documents.len() <= limit,
            "a page holds at most `limit` documents: got {} for limit {limit}",
            page.documents.len()
        );
        all.extend(page.documents);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
    panic!("documents keeps returning cursors (filter {filter:?}, limit {limit})")
}

/// A tenant's documents of every kind and facet, stored one by one in creation order.
async fn seed(a: &Adapters, tenant: &Tenant) -> Vec<Document> {
    let base = at(2026, 3, 1, 9, 0, 0);
    let mut docs = Vec::new();
    let mut seq = std::collections::BTreeMap::<&str, u64>::new();
    let mut push = |mut d: Document, n: usize| {
        d.created_at = base + TimeDelta::minutes(n as i64);
        d.updated_at = d.created_at;
        docs.push(d);
    };
    for n in 0..18usize {
        let customer = ["cus_a", "cus_b", "cus_c"][n % 3];
        let booking = booking_with(&format!("bk_list_{}", n % 7), customer, "2");
        let issued_at = base + TimeDelta::days((n as i64) * 9);
        let kind = match n % 6 {
            4 => DocumentKind::Proforma,
            5 => DocumentKind::CreditNote,
            _ => DocumentKind::Invoice,
        };
        if n % 8 == 7 {
            push(draft_document(tenant, &booking, issued_at), n);
            continue;
        }
        let next = seq.entry(kind.as_str()).or_insert(0);
        *next += 1;
        let mut d = issued_document(tenant, &booking, kind, issued_at, *next);
        let gross = d.settlement.charged;
        match (kind, n % 5) {
            (DocumentKind::Invoice, 0) => d.settlement.paid = gross,
            (DocumentKind::Invoice, 1) => d.settlement.paid = parsed::<Amount>("10.00"),
            (DocumentKind::Invoice, 2) => {
                d.settlement.paid = gross + parsed::<Amount>("5.00");
            }
            (DocumentKind::Invoice, 3) => {
                d.lifecycle = Lifecycle::PartiallyCredited;
                d.settlement.credited = parsed::<Amount>("119.00");
            }
            (DocumentKind::Invoice, _) => {
                d.lifecycle = Lifecycle::Cancelled;
                d.settlement.credited = gross;
            }
            (DocumentKind::Proforma, _) if n % 4 == 0 => d.lifecycle = Lifecycle::Voided,
            (DocumentKind::Proforma, _) => d.lifecycle = Lifecycle::Converted,
            _ => {}
        }
        d.delivery = match n % 3 {
            0 => Delivery::Pending,
            1 => Delivery::Sent {
                at: issued_at,
                message_id: format!("msg-{n}"),
                to: vec![d.content.buyer.email.clone()],
                sends: 1,
            },
            _ => Delivery::Failed {
                at: issued_at,
                code: "mail_rejected".into(),
            },
        };
        // Dunning facets of every state on the invoices.
        if kind == DocumentKind::Invoice {
            match n % 4 {
                1 => d.dunning.level = 1,
                2 => {
                    d.dunning.level = 3;
                    d.dunning.exhausted = true;
                }
                3 => d.dunning.paused = true,
                _ => {}
            }
        }
        push(d, n);
    }
    for d in &docs {
        let mut change = Change::for_tenant(&tenant.id);
        change.documents.push(DocumentWrite::new(d.clone()));
        commit(a, change).await;
    }
    docs.into_iter()
        .map(|mut d| {
            d.version = 1;
            d
        })
        .collect()
}

fn filters() -> Vec<DocumentFilter> {
    let mut out = vec![DocumentFilter::default()];
    for kind in [
        DocumentKind::Invoice,
        DocumentKind::Proforma,
        DocumentKind::CreditNote,
    ] {
        out.push(DocumentFilter {
            kind: Some(kind),
            ..DocumentFilter::default()
        });
    }
    for lifecycle in [
        Lifecycle::Draft,
        Lifecycle::Issued,
        Lifecycle::PartiallyCredited,
        Lifecycle::Cancelled,
        Lifecycle::Voided,
        Lifecycle::Converted,
    ] {
        out.push(DocumentFilter {
            lifecycle: Some(lifecycle),
            ..DocumentFilter::default()
        });
    }
    for payment in [
        PaymentState::Open,
        PaymentState::PartiallyPaid,
        PaymentState::Paid,
        PaymentState::Overpaid,
        PaymentState::NothingDue,
    ] {
        out.push(DocumentFilter {
            payment: Some(payment),
            ..DocumentFilter::default()
        });
        out.push(DocumentFilter {
            payment: Some(payment),
            kind: Some(DocumentKind::Invoice),
            customer_key: Some("ext:cus_b".into()),
            ..DocumentFilter::default()
        });
    }
    for day in [date(2026, 3, 1), date(2026, 6, 1), date(2027, 1, 1)] {
        out.push(DocumentFilter {
            overdue_on: Some(day),
            ..DocumentFilter::default()
        });
    }
    for delivery in ["pending", "sent", "failed"] {
        out.push(DocumentFilter {
            delivery: Some(delivery.into()),
            ..DocumentFilter::default()
        });
    }
    for state in faktura_domain::dunning::DunningState::ALL {
        out.push(DocumentFilter {
            dunning: Some(state),
            ..DocumentFilter::default()
        });
    }
    out.push(DocumentFilter {
        customer_key: Some("ext:cus_a".into()),
        ..DocumentFilter::default()
    });
    out.push(DocumentFilter {
        customer_key: Some("ext:nobody".into()),
        ..DocumentFilter::default()
    });
    out.push(DocumentFilter {
        booking_id: Some(id("bk_list_3")),
        ..DocumentFilter::default()
    });
    out.push(DocumentFilter {
        from: Some(date(2026, 4, 1)),
        to: Some(date(2026, 6, 30)),
        ..DocumentFilter::default()
    });
    out.push(DocumentFilter {
        from: Some(date(2026, 5, 19)),
        ..DocumentFilter::default()
    });
    out.push(DocumentFilter {
        to: Some(date(2026, 3, 10)),
        kind: Some(DocumentKind::Invoice),
        delivery: Some("sent".into()),
        ..DocumentFilter::default()
    });
    out
}

fn ids(docs: &[Document]) -> Vec<Id> {
    docs.iter().map(|d| d.id().clone()).collect()
}

/// Each filter lists exactly the documents its definition matches, oldest first.
pub async fn document_lists_follow_the_filter(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let docs = seed(a, &tenant).await;
    let mut nonempty = 0;
    for filter in filters() {
        let expected: Vec<&Document> = docs.iter().filter(|d| filter.matches(d)).collect();
        let got = list_all(a, &tenant.id, &filter, 100).await;
        assert_eq!(
            ids(&got),
            expected.iter().map(|d| d.id().clone()).collect::<Vec<_>>(),
            "filter {filter:?}"
        );
        if !expected.is_empty() {
            nonempty += 1;
        }
    }
    assert!(
        nonempty >= 20,
        "the fixture gives most filters something to find ({nonempty})"
    );
    let got = list_all(a, &tenant.id, &DocumentFilter::default(), 100).await;
    assert_eq!(got, docs, "documents read back as written");
}

/// Pages of any size add up to the whole list, with or without a filter; a foreign cursor
/// reads as the end.
pub async fn document_pages(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let docs = seed(a, &tenant).await;
    let invoices = DocumentFilter {
        kind: Some(DocumentKind::Invoice),
        ..DocumentFilter::default()
    };
    for filter in [DocumentFilter::default(), invoices] {
        let whole: Vec<Id> = docs
            .iter()
            .filter(|d| filter.matches(d))
            .map(|d| d.id().clone())
            .collect();
        for limit in [1, 2, 5, 17, 18, 100] {
            assert_eq!(
                ids(&list_all(a, &tenant.id, &filter, limit).await),
                whole,
                "limit {limit}, filter {filter:?}"
            );
        }
    }
    for cursor in ["nonsense", "", "999999999", "eyJwayI6Ilx1MDAwMCJ9"] {
        let page = a
            .repository
            .documents(&tenant.id, &DocumentFilter::default(), Some(cursor), 5)
            .await
            .expect("a cursor we did not hand out is not an error");
        assert!(
            page.documents.len() <= 5,
            "cursor {cursor:?} reads at most a page"
        );
    }
}

/// Customers list in pages that add up to all of them.
pub async fn customer_pages(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let now: DateTime<Utc> = at(2026, 11, 20, 10, 0, 0);
    let mut keys = Vec::new();
    for n in 0..7 {
        let b = booking_with("bk_c", &format!("cus_page_{n}"), "1");
        let c = faktura_domain::invoicing::customer_from_booking(&b, &tenant, now);
        keys.push(c.key.clone());
        let mut change = Change::for_tenant(&tenant.id);
        change.customers.push(c);
        commit(a, change).await;
    }
    keys.sort();
    for limit in [1, 3, 7, 50] {
        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let page = a
                .repository
                .customers(&tenant.id, cursor.as_deref(), limit)
                .await
                .expect("customers");
            assert!(page.customers.len() <= limit);
            got.extend(page.customers.into_iter().map(|c| c.key));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, keys, "limit {limit}: every customer once");
    }
}

/// Nothing of one tenant is visible to another.
pub async fn tenants_are_apart(a: &Adapters) {
    let one = sample_tenant(&fresh_tenant_id());
    let two = sample_tenant(&fresh_tenant_id());
    seed(a, &one).await;
    assert_eq!(
        list_all(a, &two.id, &DocumentFilter::default(), 100)
            .await
            .len(),
        0
    );
    assert!(
        a.repository
            .customers(&two.id, None, 100)
            .await
            .expect("customers")
            .customers
            .is_empty()
    );
}
