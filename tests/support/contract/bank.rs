//! Bank statements on the adapters: a statement's credits pay the invoices they name (by RF
//! reference, number in the text, amount and payer), the rest waits for review; the same or
//! an overlapping statement imported again (also twice at once) records each transaction and
//! each payment once; an assignment pays once.

use std::collections::BTreeSet;

use faktura_domain::audit::Cause;
use faktura_domain::bank::{MatchRule, TransactionState, TransactionStateKind};
use faktura_domain::document::{Document, PaymentState};
use faktura_domain::ledger::EntryKind;
use faktura_domain::model::{DocumentKind, Tenant};
use faktura_domain::money::Amount;
use faktura_domain::payment_codes::CreditorReference;
use faktura_domain::ports::Stores;
use faktura_domain::service::banking::Banking;
use faktura_domain::service::commands::{Answered, Command, Commands, Outcome};

use super::{Adapters, booking_with, einvoice, fresh_tenant_id, parsed, sample_tenant};
use crate::bank::{Entry, camt053};

fn api() -> Cause {
    Cause::ApiKey {
        key_id: "key_bank".into(),
        request_id: None,
    }
}

async fn invoice(stores: &Stores, tenant: &Tenant, booking: &str, quantity: &str) -> Document {
    let run = Commands::new(stores.clone(), einvoice())
        .run(
            &tenant.id,
            Command::Create {
                kind: DocumentKind::Invoice,
                content: booking_with(booking, &format!("cus_{booking}"), quantity),
                draft: false,
            },
            &api(),
            None,
        )
        .await;
    match run {
        Ok(Answered::Fresh(o)) => match *o {
            Outcome::Document(d) => *d,
            other => panic!("{other:?}"),
        },
        other => panic!("creating an invoice: {other:?}"),
    }
}

async fn stored(stores: &Stores, tenant: &Tenant, d: &Document) -> Document {
    stores
        .repository
        .document(&tenant.id, d.id())
        .await
        .unwrap()
        .unwrap()
}

async fn payments(stores: &Stores, tenant: &Tenant) -> usize {
    let mut n = 0;
    for customer in ["cus_b1", "cus_b2", "cus_b3", "cus_b4"] {
        n += stores
            .repository
            .ledger(&tenant.id, &format!("ext:{customer}"))
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == EntryKind::Payment)
            .count();
    }
    n
}

pub async fn statements_pay_invoices_once_and_leave_the_rest_for_review(a: &Adapters) {
    let tenant = sample_tenant(&fresh_tenant_id());
    let stores = a.stores(std::slice::from_ref(&tenant));
    let banking = Banking::new(stores.clone());
    let one = invoice(&stores, &tenant, "b1", "1").await; // 119.00
    let two = invoice(&stores, &tenant, "b2", "2").await; // 238.00
    let three = invoice(&stores, &tenant, "b3", "1").await; // 119.00, same payer name
    let four = invoice(&stores, &tenant, "b4", "3").await; // 357.00
    let rf = CreditorReference::for_number(&one.content.number).unwrap();

    let mut by_reference = Entry::credit("R-1", "119.00", "Erika Mustermann", "");
    by_reference.creditor_reference = Some(rf.as_str().to_string());
    let entries = vec![
        by_reference,
        // The number split over two lines, and a partial payment.
        Entry::credit(
            "R-2",
            "100.00",
            "MUSTERMANN ERIKA",
            &format!(
                "Rechnung {}\nDanke",
                two.content.number.as_str().replace('-', " ")
            ),
        ),
        // Two open invoices of 119.00 by this payer (one, three): one is paid by reference
        // above, so amount and name find the other.
        Entry::credit("R-3", "357.00", "Erika Mustermann", "Kurs"),
        Entry::credit("R-4", "42.00", "Unbekannt", "Spende"),
        Entry {
            credit: false,
            ..Entry::credit("R-5", "12.95", "Bank", "Entgelt")
        },
    ];
    let statement = faktura_bank::parse(&camt053("S-1", &entries)).unwrap();
    let summary = banking
        .import(&tenant.id, &statement, &api())
        .await
        .unwrap();
    assert_eq!(summary.duplicates, 0);
    let states: Vec<TransactionStateKind> = summary
        .transactions
        .iter()
        .map(|t| t.state.kind())
        .collect();
    assert_eq!(
        states,
        [
            TransactionStateKind::Matched,
            TransactionStateKind::Matched,
            TransactionStateKind::Matched,
            TransactionStateKind::Unmatched,
            TransactionStateKind::Ignored
        ]
    );
    let rule = |i: usize| match &summary.transactions[i].state {
        TransactionState::Matched { rule, allocations } => {
            (*rule, allocations[0].document_id.clone())
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(rule(0), (MatchRule::CreditorReference, one.id().clone()));
    assert_eq!(rule(1), (MatchRule::NumberInText, two.id().clone()));
    assert_eq!(rule(2), (MatchRule::AmountAndName, four.id().clone()));
    assert_eq!(
        stored(&stores, &tenant, &one).await.settlement.state(),
        PaymentState::Paid
    );
    let two_now = stored(&stores, &tenant, &two).await;
    assert_eq!(two_now.settlement.state(), PaymentState::PartiallyPaid);
    assert_eq!(two_now.settlement.open(), parsed::<Amount>("138.00"));
    assert_eq!(
        stored(&stores, &tenant, &four).await.settlement.state(),
        PaymentState::Paid
    );
    assert_eq!(
        stored(&stores, &tenant, &three).await.settlement.state(),
        PaymentState::Open
    );
    assert_eq!(payments(&stores, &tenant).await, 3);

    // The same statement again, and twice at once: nothing new.
    let cause = api();
    let (x, y) = tokio::join!(
        banking.import(&tenant.id, &statement, &cause),
        banking.import(&tenant.id, &statement, &cause)
    );
    for again in [x.unwrap(), y.unwrap()] {
        assert_eq!(again.duplicates, 5);
        assert_eq!(again.transactions, summary.transactions);
    }
    assert_eq!(payments(&stores, &tenant).await, 3);

    // An overlapping statement: two known entries and one new one (the rest of two).
    let overlap = vec![
        Entry::credit("R-4", "42.00", "Unbekannt", "Spende"),
        Entry::credit(
            "R-6",
            "138.00",
            "Erika Mustermann",
            two.content.number.as_str(),
        ),
        Entry {
            credit: false,
            ..Entry::credit("R-5", "12.95", "Bank", "Entgelt")
        },
    ];
    let later = faktura_bank::parse(&camt053("S-2", &overlap)).unwrap();
    let summary2 = banking.import(&tenant.id, &later, &api()).await.unwrap();
    assert_eq!(summary2.duplicates, 2);
    assert_eq!(
        stored(&stores, &tenant, &two).await.settlement.state(),
        PaymentState::Paid
    );
    assert_eq!(payments(&stores, &tenant).await, 4);

    // The review list holds the unknown credit; the owner assigns it to three (in part),
    // twice at once: one payment.
    let review = banking
        .transactions(&tenant.id, Some(TransactionStateKind::Unmatched))
        .await
        .unwrap();
    assert_eq!(review.len(), 1, "{review:?}");
    let unknown = review[0].id.clone();
    let amount: Amount = parsed("42.00");
    let (p, q) = tokio::join!(
        banking.assign(&tenant.id, &unknown, three.id(), Some(amount), &cause),
        banking.assign(&tenant.id, &unknown, three.id(), Some(amount), &cause)
    );
    let outcomes: BTreeSet<bool> = [p.is_ok(), q.is_ok()].into_iter().collect();
    assert_eq!(outcomes, BTreeSet::from([false, true]), "{p:?} {q:?}");
    let refused = p.err().or(q.err()).unwrap();
    assert_eq!(refused.code, "bank_transaction_matched", "{refused}");
    let three_now = stored(&stores, &tenant, &three).await;
    assert_eq!(three_now.settlement.open(), parsed::<Amount>("77.00"));
    assert_eq!(payments(&stores, &tenant).await, 5);
    assert!(
        banking
            .transactions(&tenant.id, Some(TransactionStateKind::Unmatched))
            .await
            .unwrap()
            .is_empty()
    );
    // More than the transaction brought, a debit: refused.
    let too_much = banking
        .assign(
            &tenant.id,
            &unknown,
            three.id(),
            Some(parsed("50.00")),
            &api(),
        )
        .await
        .unwrap_err();
    assert_eq!(too_much.code, "bank_transaction_matched");
    let all = banking.transactions(&tenant.id, None).await.unwrap();
    assert_eq!(all.len(), 6);
    let debit = all
        .iter()
        .find(|t| t.state.kind() == TransactionStateKind::Ignored)
        .unwrap();
    let e = banking
        .assign(&tenant.id, &debit.id, three.id(), None, &api())
        .await
        .unwrap_err();
    assert_eq!(e.code, "bank_transaction_debit");
}
