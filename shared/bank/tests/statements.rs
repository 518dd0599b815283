//! Statements written the way banks write them (tests/statements/): several entries, a batch
//! booking, structured and unstructured remittance, a debit, a return, a pending entry;
//! CAMT.053 .001.02 and .001.08 and MT940.

use chrono::NaiveDate;
use faktura_bank::{Direction, Format, StatementTransaction, parse};
use faktura_domain::money::Amount;

fn file(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/statements/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn eur(text: &str) -> Amount {
    text.parse().unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

#[test]
fn camt_053_001_02_as_a_savings_bank_writes_it() {
    let bytes = file("camt053_001_02_sparkasse.xml");
    assert_eq!(Format::detect(&bytes), Some(Format::Camt053));
    let statements = parse(&bytes).unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s.id, "0352C5320261202061011");
    assert_eq!(s.account, "DE02120300000000202051");
    // Six entries: the pending one is left for a later statement, the batch is two.
    let t = &s.transactions;
    assert_eq!(t.len(), 6, "{t:#?}");

    assert_eq!(t[0].amount, eur("119.00"));
    assert_eq!(t[0].direction, Direction::Credit);
    assert_eq!(t[0].creditor_reference.as_deref(), Some("RF18539007547034"));
    assert_eq!(t[0].end_to_end_id, None, "NOTPROVIDED is no id");
    assert_eq!(t[0].counterparty_name.as_deref(), Some("Erika Mustermann"));
    assert_eq!(
        t[0].counterparty_iban.as_deref(),
        Some("DE89370400440532013000")
    );
    assert_eq!(t[0].bank_reference.as_deref(), Some("2026120100001234"));
    assert_eq!(t[0].booking_date, day(1));

    assert_eq!(t[1].remittance, "Rechnung RE-2026-\n00002 Yoga & Pilates");
    assert_eq!(t[1].end_to_end_id.as_deref(), Some("E2E-4711"));
    assert_eq!(
        t[1].amount,
        eur("50.00"),
        "the entry's amount where the transaction has none"
    );

    // The batch: each transaction its own amount, party, text and reference.
    assert_eq!((t[2].amount, t[3].amount), (eur("100.00"), eur("50.00")));
    assert_eq!(t[2].remittance, "re 2026 00003");
    assert_eq!(t[3].counterparty_name.as_deref(), Some("Tom Test"));
    assert_eq!(t[2].bank_reference.as_deref(), Some("2026120100001236/1"));
    assert_eq!(t[3].bank_reference.as_deref(), Some("2026120100001236/2"));

    assert_eq!(t[4].direction, Direction::Debit);
    assert_eq!(t[4].amount, eur("12.95"));
    assert_eq!(t[4].remittance, "ENTGELTABSCHLUSS");

    assert!(t[5].reversal);
    assert_eq!(t[5].direction, Direction::Credit);
    assert_eq!(t[5].remittance, "RUECKUEBERWEISUNG KONTO ERLOSCHEN");

    // Every transaction has its own key; the same file gives the same keys.
    let keys: Vec<String> = t.iter().map(|x| x.dedup_key(&s.account)).collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len());
    let again: Vec<String> = parse(&bytes).unwrap()[0]
        .transactions
        .iter()
        .map(|x| x.dedup_key(&s.account))
        .collect();
    assert_eq!(keys, again);
}

#[test]
fn camt_053_001_08_with_parties_in_pty_and_unknown_elements() {
    let s = &parse(&file("camt053_001_08.xml")).unwrap()[0];
    assert_eq!(s.account, "DE02120300000000202051");
    let t: &StatementTransaction = &s.transactions[0];
    assert_eq!(t.amount, eur("1.50"));
    assert_eq!(t.booking_date, day(1));
    assert_eq!(t.counterparty_name.as_deref(), Some("Anna Prüfer"));
    assert_eq!(t.end_to_end_id.as_deref(), Some("RE-2026-00004"));
    assert_eq!(t.bank_reference.as_deref(), Some("ABC-1-TX"));
    assert_eq!(t.remittance, "Danke!");
}

#[test]
fn mt940_with_german_structured_details() {
    let bytes = file("mt940_sparkasse.sta");
    assert_eq!(Format::detect(&bytes), Some(Format::Mt940));
    let s = &parse(&bytes).unwrap()[0];
    assert_eq!(s.id, "STARTUMS");
    assert_eq!(s.account, "DE02120300000000202051");
    let t = &s.transactions;
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].amount, eur("119.00"));
    assert_eq!(t[0].direction, Direction::Credit);
    assert_eq!(t[0].remittance, "Rechnung RE-2026-00001 Kurs Yoga");
    assert_eq!(t[0].end_to_end_id, None);
    assert_eq!(t[0].counterparty_name.as_deref(), Some("Erika Mustermann"));
    assert_eq!(
        t[0].counterparty_iban.as_deref(),
        Some("DE89370400440532013000")
    );
    assert_eq!(t[0].bank_reference.as_deref(), Some("2026120100001234"));
    assert_eq!(t[1].direction, Direction::Debit);
    assert_eq!(t[1].bank_reference, None);
    assert_eq!(t[2].amount, eur("50.00"), "'50,' is 50.00");
    assert_eq!(t[2].end_to_end_id.as_deref(), Some("RE-2026-00002"));
    assert_eq!(t[2].remittance, "Danke");
    // The account owner's :86: after the closing balance describes no transaction.
    assert!(!t[2].remittance.contains("Kontoinformation"));
    assert_eq!(t[2].booking_date, day(31));
}

#[test]
fn what_is_not_a_statement_is_refused_with_a_reason() {
    for (bytes, says) in [
        (&b"hello"[..], "not a bank statement"),
        (b"<Document><BkToCstmrStmt><Stmt><Id>1</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id></Acct><Ntry><Amt Ccy=\"EUR\">1.001</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-12-01</Dt></BookgDt></Ntry></Stmt></BkToCstmrStmt></Document>", "Stmt[1]/Ntry[1]/Amt"),
        (b"<Document><BkToCstmrStmt><Stmt><Id>1</Id><Acct><Id><IBAN>X</IBAN></Id></Acct><Ntry><Amt>1.00</Amt></Ntry>", "ends inside"),
        (b"<Document><BkToCstmrStmt><Stmt><Id>1</Id><Acct><Id><IBAN>X</IBAN></Id></Acct><Ntry><Amt>1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry></Stmt></BkToCstmrStmt></Document>", "without Ccy"),
        (b"<!DOCTYPE x [<!ENTITY a 'b'>]><Document/>", "DOCTYPE"),
        (b"<Document><BkToCstmrStmt></BkToCstmrStmt></Document>", "no Stmt"),
        (b"<Document><BkToCstmrNtfctn/></Document>", "BkToCstmrStmt"),
        (b"<Document><a></b></Document>", "XML"),
        (b":20:X\r\n:25:DE1\r\n:61:2612011201CR119,00NTRF\r\n", "opening balance"),
        (b":20:X\r\n:25:DE1\r\n:60F:C261130EUR1,00\r\n:61:261301CR1,00NTRF\r\n", "date"),
    ] {
        let err = parse(bytes).unwrap_err();
        assert!(err.message.contains(says), "{err} should say {says}");
    }
}

proptest::proptest! {
    /// No input makes the parsers panic.
    #[test]
    fn parsing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        let _ = parse(&bytes);
        let mut camt = b"<Document><BkToCstmrStmt><Stmt>".to_vec();
        camt.extend(&bytes);
        let _ = parse(&camt);
        let mut mt = b":20:X\r\n:25:DE1\r\n:60F:C261130EUR1,00\r\n:61:".to_vec();
        mt.extend(&bytes);
        let _ = parse(&mt);
    }
}
