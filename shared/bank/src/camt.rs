//! CAMT.053 (BkToCstmrStmt). The document is read into a small tree of elements by local
//! name (namespaces differ between versions and are ignored); then each `Stmt/Ntry` that is
//! booked becomes one transaction, or one per `NtryDtls/TxDtls` for a batch booking.

use chrono::NaiveDate;
use faktura_domain::bank::{BankStatement, Direction, StatementTransaction};
use faktura_domain::money::{Amount, Currency};
use quick_xml::events::Event;

use crate::{StatementError, amount, currency};

/// An element: its local name, attributes, text and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at `path` (local names separated by `/`).
    fn at(&self, path: &str) -> Option<&Element> {
        path.split('/').try_fold(self, |e, name| e.child(name))
    }

    /// The trimmed text at `path`, if present and not empty.
    fn text_at(&self, path: &str) -> Option<String> {
        self.at(path)
            .map(|e| e.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn local(name: &str) -> String {
    name.to_string()
}

/// Nesting deeper than this is no statement (and would only cost memory).
const MAX_DEPTH: usize = 64;

fn tree(bytes: &[u8]) -> Result<Element, StatementError> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut buf = Vec::new();
    let xml_error = |e: &dyn std::fmt::Display, pos: u64| {
        StatementError::new(format!("not well-formed XML at byte {pos}: {e}"))
    };
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(&e, reader.buffer_position()))?;
        match event {
            Event::Start(start) | Event::Empty(start) if stack.len() > MAX_DEPTH => {
                let _ = start;
                return Err(StatementError::new("the XML is nested too deeply"));
            }
            Event::Start(start) => {
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                let e = element(&start)?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(e);
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| StatementError::new("unbalanced XML"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Err(StatementError::new("unbalanced XML")),
                }
            }
            Event::Text(text) => {
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&data.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                // Entity and character references between text pieces (`&amp;`, `&#228;`).
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => {
                        let name: &str = &reference;
                        quick_xml::escape::resolve_predefined_entity(name)
                            .ok_or_else(|| StatementError::new(format!("unknown entity &{name};")))?
                            .to_string()
                    }
                };
                if let Some(e) = stack.last_mut() {
                    e.text.push_str(&resolved);
                }
            }
            // No document type definitions: no entities of the sender's own.
            Event::DocType(_) => return Err(StatementError::new("a DOCTYPE is not allowed")),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    match (stack.pop(), stack.is_empty()) {
        (Some(root), true) => Ok(root),
        _ => Err(StatementError::new("the XML ends inside an element")),
    }
}

fn element(start: &quick_xml::events::BytesStart<'_>) -> Result<Element, StatementError> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute =
            attribute.map_err(|e| StatementError::new(format!("bad XML attribute: {e}")))?;
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| StatementError::new(format!("bad XML attribute: {e}")))?;
        attributes.push((
            local(attribute.key.local_name().as_ref()),
            value.into_owned(),
        ));
    }
    Ok(Element {
        name: local(start.local_name().as_ref()),
        attributes,
        ..Element::default()
    })
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<BankStatement>, StatementError> {
    let root = tree(bytes)?;
    let document = root
        .child("Document")
        .ok_or_else(|| StatementError::new("no Document element: not a CAMT file"))?;
    let statement_root = document.child("BkToCstmrStmt").ok_or_else(|| {
        StatementError::new("no BkToCstmrStmt: not a CAMT.053 statement (camt.052/054?)")
    })?;
    let mut out = Vec::new();
    for (s, stmt) in statement_root.children("Stmt").enumerate() {
        let at = format!("Stmt[{}]", s + 1);
        let account = stmt
            .text_at("Acct/Id/IBAN")
            .or_else(|| stmt.text_at("Acct/Id/Othr/Id"))
            .map(|a| {
                a.split_whitespace()
                    .collect::<String>()
                    .to_ascii_uppercase()
            })
            .ok_or_else(|| StatementError::new(format!("{at}: no account (Acct/Id)")))?;
        let id = stmt
            .text_at("Id")
            .ok_or_else(|| StatementError::new(format!("{at}: no Id")))?;
        let mut transactions = Vec::new();
        for (n, entry) in stmt.children("Ntry").enumerate() {
            entry_transactions(entry, &format!("{at}/Ntry[{}]", n + 1), &mut transactions)?;
        }
        out.push(BankStatement {
            id,
            account,
            transactions,
        });
    }
    if out.is_empty() {
        return Err(StatementError::new("the statement file holds no Stmt"));
    }
    Ok(out)
}

fn date(e: Option<&Element>, at: &str) -> Result<Option<NaiveDate>, StatementError> {
    let Some(e) = e else { return Ok(None) };
    let text = e
        .text_at("Dt")
        .or_else(|| e.text_at("DtTm").map(|t| t.chars().take(10).collect()));
    text.map(|t| {
        NaiveDate::parse_from_str(&t, "%Y-%m-%d")
            .map_err(|_| StatementError::new(format!("{at}: '{t}' is not a date")))
    })
    .transpose()
}

fn money(e: &Element, at: &str) -> Result<(Amount, Currency), StatementError> {
    let value = amount(&e.text, at)?;
    let ccy = e
        .attribute("Ccy")
        .ok_or_else(|| StatementError::new(format!("{at}: amount without Ccy")))?;
    Ok((value, currency(ccy, at)?))
}

fn direction(text: &str, at: &str) -> Result<Direction, StatementError> {
    match text.trim() {
        "CRDT" => Ok(Direction::Credit),
        "DBIT" => Ok(Direction::Debit),
        other => Err(StatementError::new(format!(
            "{at}: CdtDbtInd '{other}' is neither CRDT nor DBIT"
        ))),
    }
}

/// `NOTPROVIDED` and similar placeholders are no id.
fn real_id(id: Option<String>) -> Option<String> {
    id.filter(|i| {
        !matches!(
            i.to_ascii_uppercase().as_str(),
            "NOTPROVIDED" | "NONREF" | "NOT PROVIDED"
        )
    })
}

fn entry_transactions(
    entry: &Element,
    at: &str,
    out: &mut Vec<StatementTransaction>,
) -> Result<(), StatementError> {
    // Only booked entries: pending ones come again, booked, in a later statement.
    let status = entry
        .text_at("Sts/Cd")
        .or_else(|| entry.text_at("Sts"))
        .unwrap_or_else(|| "BOOK".into());
    if status != "BOOK" {
        return Ok(());
    }
    let amt = entry
        .child("Amt")
        .ok_or_else(|| StatementError::new(format!("{at}: no Amt")))?;
    let (entry_amount, entry_currency) = money(amt, &format!("{at}/Amt"))?;
    let entry_direction = direction(
        &entry
            .text_at("CdtDbtInd")
            .ok_or_else(|| StatementError::new(format!("{at}: no CdtDbtInd")))?,
        &format!("{at}/CdtDbtInd"),
    )?;
    let reversal = entry
        .text_at("RvslInd")
        .is_some_and(|r| r == "true" || r == "1");
    let booking_date = date(entry.child("BookgDt"), &format!("{at}/BookgDt"))?
        .or(date(entry.child("ValDt"), &format!("{at}/ValDt"))?)
        .ok_or_else(|| StatementError::new(format!("{at}: no BookgDt")))?;
    let value_date = date(entry.child("ValDt"), &format!("{at}/ValDt"))?;
    // Only the bank's own reference: `NtryRef` is often a position within one statement, the
    // same in the next one (the content hash keys such entries instead).
    let entry_reference = entry.text_at("AcctSvcrRef");
    let details: Vec<&Element> = entry
        .children("NtryDtls")
        .flat_map(|d| d.children("TxDtls"))
        .collect();
    let batch = details.len() > 1;
    // A batch whose transactions carry no amounts of their own cannot be split.
    // A batch is split only when its transactions carry amounts of their own, in the entry's
    // currency, that add up to what was booked; else it stays one transaction.
    let splittable = !batch || {
        let amounts: Vec<Option<(Amount, Currency)>> = details
            .iter()
            .map(|t| {
                t.at("AmtDtls/TxAmt/Amt")
                    .or(t.child("Amt"))
                    .and_then(|a| money(a, at).ok())
            })
            .collect();
        amounts
            .iter()
            .all(|a| a.is_some_and(|(_, c)| c == entry_currency))
            && amounts
                .iter()
                .flatten()
                .fold(Amount::ZERO, |sum, (a, _)| sum + *a)
                == entry_amount
    };
    if details.is_empty() || !splittable {
        let mut tx = StatementTransaction {
            bank_reference: entry_reference,
            booking_date,
            value_date,
            direction: entry_direction,
            reversal,
            amount: entry_amount,
            currency: entry_currency,
            end_to_end_id: None,
            counterparty_name: None,
            counterparty_iban: None,
            remittance: entry.text_at("AddtlNtryInf").unwrap_or_default(),
            creditor_reference: None,
        };
        if let [only] = details.as_slice() {
            describe(only, &mut tx);
        } else {
            let texts: Vec<String> = details.iter().map(|d| remittance(d)).collect();
            if !texts.is_empty() {
                tx.remittance = texts.join("\n");
            }
        }
        out.push(tx);
        return Ok(());
    }
    for (i, detail) in details.iter().enumerate() {
        let tat = format!("{at}/NtryDtls/TxDtls[{}]", i + 1);
        // One transaction: what was booked (the instructed amount may differ by charges or
        // another currency); several: each its own, which add up to it (checked above).
        let (amount, currency) = match detail.at("AmtDtls/TxAmt/Amt").or(detail.child("Amt")) {
            Some(a) if batch => money(a, &format!("{tat}/Amt"))?,
            _ => (entry_amount, entry_currency),
        };
        let direction = match detail.text_at("CdtDbtInd") {
            Some(d) => direction(&d, &format!("{tat}/CdtDbtInd"))?,
            None => entry_direction,
        };
        let own = detail.text_at("Refs/AcctSvcrRef");
        let bank_reference = own.or_else(|| {
            entry_reference.as_ref().map(|r| {
                if batch {
                    format!("{r}/{}", i + 1)
                } else {
                    r.clone()
                }
            })
        });
        let mut tx = StatementTransaction {
            bank_reference,
            booking_date,
            value_date,
            direction,
            reversal,
            amount,
            currency,
            end_to_end_id: None,
            counterparty_name: None,
            counterparty_iban: None,
            remittance: String::new(),
            creditor_reference: None,
        };
        describe(detail, &mut tx);
        out.push(tx);
    }
    Ok(())
}

/// The unstructured remittance of a transaction: every `Ustrd`, joined by line breaks, and
/// the additional information where there is none.
fn remittance(detail: &Element) -> String {
    let parts: Vec<String> = detail
        .children("RmtInf")
        .flat_map(|r| r.children("Ustrd"))
        .map(|u| u.text.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if parts.is_empty() {
        detail.text_at("AddtlTxInf").unwrap_or_default()
    } else {
        parts.join("\n")
    }
}

/// Fills in what `TxDtls` says: references, the other party, the remittance.
fn describe(detail: &Element, tx: &mut StatementTransaction) {
    tx.end_to_end_id = real_id(detail.text_at("Refs/EndToEndId"));
    // The payer of a credit is the debtor; the payee of a debit the creditor. Versions from
    // .001.08 on wrap the party in `Pty`.
    let (party, account, ultimate) = match tx.direction {
        Direction::Credit => (
            "RltdPties/Dbtr",
            "RltdPties/DbtrAcct/Id/IBAN",
            "RltdPties/UltmtDbtr",
        ),
        Direction::Debit => (
            "RltdPties/Cdtr",
            "RltdPties/CdtrAcct/Id/IBAN",
            "RltdPties/UltmtCdtr",
        ),
    };
    tx.counterparty_name = detail
        .text_at(&format!("{party}/Nm"))
        .or_else(|| detail.text_at(&format!("{party}/Pty/Nm")))
        .or_else(|| detail.text_at(&format!("{ultimate}/Nm")))
        .or_else(|| detail.text_at(&format!("{ultimate}/Pty/Nm")));
    tx.counterparty_iban = detail.text_at(account).map(|a| {
        a.split_whitespace()
            .collect::<String>()
            .to_ascii_uppercase()
    });
    tx.creditor_reference = detail
        .children("RmtInf")
        .flat_map(|r| r.children("Strd"))
        .find_map(|s| s.text_at("CdtrRefInf/Ref"));
    let text = remittance(detail);
    if !text.is_empty() {
        tx.remittance = text;
    }
}
