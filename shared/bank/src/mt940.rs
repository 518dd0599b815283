//! SWIFT MT940 as German banks export it: `:20:` starts a statement, `:25:` names the account,
//! `:60F:` the opening balance (and the currency), each `:61:` is a transaction and the
//! `:86:` after it describes it, in the German structured form (`?20`–`?29` and `?60`–`?63`
//! purpose lines with the SEPA tags `EREF+`, `SVWZ+`, …; `?32`/`?33` the name, `?31` the
//! IBAN). Lines of a field may wrap; a field ends where the next `:NN:` tag begins.

use chrono::{Datelike, NaiveDate};
use faktura_domain::bank::{BankStatement, Direction, StatementTransaction};
use faktura_domain::money::Currency;

use crate::{StatementError, amount, currency};

/// The fields of the file in order: (tag, value with its continuation lines, line number).
fn fields(text: &str) -> Vec<(String, String, usize)> {
    let mut out: Vec<(String, String, usize)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let tag = line
            .strip_prefix(':')
            .and_then(|rest| rest.split_once(':'))
            .filter(|(tag, _)| {
                (2..=3).contains(&tag.len())
                    && tag.chars().take(2).all(|c| c.is_ascii_digit())
                    && tag.chars().skip(2).all(|c| c.is_ascii_uppercase())
            });
        match tag {
            Some((tag, value)) => out.push((tag.to_string(), value.to_string(), n + 1)),
            None if line == "-" || line.starts_with("{") || line.trim().is_empty() => {}
            None => {
                if let Some(last) = out.last_mut() {
                    last.1.push('\n');
                    last.1.push_str(line);
                }
            }
        }
    }
    out
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<BankStatement>, StatementError> {
    // Banks write MT940 in Latin-1 or UTF-8; decode the bytes either way without failing.
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    };
    let mut out: Vec<BankStatement> = Vec::new();
    let mut currency_of: Option<Currency> = None;
    let mut pending: Option<StatementTransaction> = None;
    let flush = |pending: &mut Option<StatementTransaction>, out: &mut Vec<BankStatement>| {
        if let (Some(tx), Some(statement)) = (pending.take(), out.last_mut()) {
            statement.transactions.push(tx);
        }
    };
    // An `:86:` describes the `:61:` right before it; one after the closing balance is
    // information for the account owner, about no transaction.
    let mut after_line = false;
    for (tag, value, line) in fields(&text) {
        let at = format!("line {line} (:{tag}:)");
        let describes = std::mem::replace(&mut after_line, tag == "61");
        match tag.as_str() {
            "20" => {
                flush(&mut pending, &mut out);
                out.push(BankStatement {
                    id: value.trim().to_string(),
                    account: String::new(),
                    transactions: Vec::new(),
                });
                currency_of = None;
            }
            "25" => {
                let statement = out
                    .last_mut()
                    .ok_or_else(|| StatementError::new(format!("{at}: before any :20:")))?;
                statement.account = value
                    .split_whitespace()
                    .collect::<String>()
                    .to_ascii_uppercase();
            }
            "60F" | "60M" => {
                // C|D, YYMMDD, currency, amount.
                let ccy = value
                    .get(7..10)
                    .ok_or_else(|| StatementError::new(format!("{at}: too short")))?;
                currency_of = Some(currency(ccy, &at)?);
            }
            "61" => {
                flush(&mut pending, &mut out);
                if out.is_empty() {
                    return Err(StatementError::new(format!("{at}: before any :20:")));
                }
                let ccy = currency_of.ok_or_else(|| {
                    StatementError::new(format!("{at}: no opening balance (:60F:) before it"))
                })?;
                pending = Some(statement_line(&value, ccy, &at)?);
            }
            "86" => {
                if describes && let Some(tx) = pending.as_mut() {
                    describe(&value, tx);
                }
            }
            _ => {}
        }
    }
    flush(&mut pending, &mut out);
    if out.is_empty() {
        return Err(StatementError::new(
            "the MT940 file holds no statement (:20:)",
        ));
    }
    for statement in &out {
        if statement.account.is_empty() {
            return Err(StatementError::new(format!(
                "statement '{}' names no account (:25:)",
                statement.id
            )));
        }
    }
    Ok(out)
}

fn yymmdd(text: &str, at: &str) -> Result<NaiveDate, StatementError> {
    let bad = || StatementError::new(format!("{at}: '{text}' is not a date YYMMDD"));
    let n = |r: std::ops::Range<usize>| text.get(r).and_then(|s| s.parse::<u32>().ok());
    let (Some(y), Some(m), Some(d)) = (n(0..2), n(2..4), n(4..6)) else {
        return Err(bad());
    };
    NaiveDate::from_ymd_opt(2000 + y as i32, m, d).ok_or_else(bad)
}

/// `:61:` — value date YYMMDD, optional entry date MMDD, C/D/RC/RD, an optional funds code,
/// the amount with a decimal comma, the transaction type (N + 3 characters), the customer
/// reference, optionally `//` and the bank's reference.
fn statement_line(
    value: &str,
    ccy: Currency,
    at: &str,
) -> Result<StatementTransaction, StatementError> {
    let first = value.lines().next().unwrap_or_default();
    let chars: Vec<char> = first.chars().collect();
    let text = |from: usize, to: usize| -> String {
        chars
            .get(from..to.min(chars.len()))
            .map(|c| c.iter().collect())
            .unwrap_or_default()
    };
    let value_date = yymmdd(&text(0, 6), at)?;
    let mut i = 6;
    let mut booking_date = value_date;
    if chars
        .get(6..10)
        .is_some_and(|d| d.iter().all(char::is_ascii_digit))
    {
        let mmdd = text(6, 10);
        let m = mmdd.get(..2).and_then(|m| m.parse::<u32>().ok());
        let d = mmdd.get(2..).and_then(|d| d.parse::<u32>().ok());
        let mut year = value_date.year();
        // A booking in January for a value date in December (or the other way round).
        if let Some(m) = m {
            if m == 1 && value_date.month() == 12 {
                year += 1;
            } else if m == 12 && value_date.month() == 1 {
                year -= 1;
            }
        }
        booking_date = m
            .zip(d)
            .and_then(|(m, d)| NaiveDate::from_ymd_opt(year, m, d))
            .ok_or_else(|| StatementError::new(format!("{at}: '{mmdd}' is not an entry date")))?;
        i = 10;
    }
    let (direction, reversal, width) = match (chars.get(i), chars.get(i + 1)) {
        (Some('R'), Some('C')) => (Direction::Debit, true, 2),
        (Some('R'), Some('D')) => (Direction::Credit, true, 2),
        (Some('C'), _) => (Direction::Credit, false, 1),
        (Some('D'), _) => (Direction::Debit, false, 1),
        _ => {
            return Err(StatementError::new(format!(
                "{at}: expected C, D, RC or RD after the dates"
            )));
        }
    };
    i += width;
    // The third letter of the currency code (the "funds code") may stand before the amount.
    if chars.get(i).is_some_and(char::is_ascii_alphabetic) {
        i += 1;
    }
    let start = i;
    while chars
        .get(i)
        .is_some_and(|c| c.is_ascii_digit() || *c == ',')
    {
        i += 1;
    }
    let amount = amount(&text(start, i), at)?;
    // Transaction type: N or F and three characters.
    i += 4;
    let rest = text(i, chars.len());
    let bank_reference = rest
        .split_once("//")
        .map(|(_, bank)| bank.trim().to_string())
        .filter(|b| !b.is_empty() && !b.eq_ignore_ascii_case("NONREF"));
    Ok(StatementTransaction {
        bank_reference,
        booking_date,
        value_date: Some(value_date),
        direction,
        reversal,
        amount,
        currency: ccy,
        end_to_end_id: None,
        counterparty_name: None,
        counterparty_iban: None,
        remittance: String::new(),
        creditor_reference: None,
    })
}

/// The SEPA tags German banks put in the purpose lines.
const TAGS: [&str; 9] = [
    "EREF+", "KREF+", "MREF+", "CRED+", "DEBT+", "SVWZ+", "ABWA+", "ABWE+", "COAM+",
];

/// `:86:` — the German structured form `GVC?00…?20…`, or free text.
fn describe(value: &str, tx: &mut StatementTransaction) {
    let joined: String = value.lines().collect::<Vec<_>>().join("");
    if !joined.contains('?') {
        tx.remittance = value.replace('\r', "").trim().to_string();
        return;
    }
    let mut purpose: Vec<String> = Vec::new();
    let mut name = String::new();
    for part in joined.split('?').skip(1) {
        let (Some(code), body) = (part.get(..2), part.get(2..).unwrap_or_default()) else {
            continue;
        };
        match code {
            "20" | "21" | "22" | "23" | "24" | "25" | "26" | "27" | "28" | "29" | "60" | "61"
            | "62" | "63" => purpose.push(body.to_string()),
            "31" => {
                tx.counterparty_iban =
                    Some(body.trim().to_ascii_uppercase()).filter(|i| !i.is_empty())
            }
            "32" | "33" => name.push_str(body),
            _ => {}
        }
    }
    tx.counterparty_name = Some(name.trim().to_string()).filter(|n| !n.is_empty());
    // The purpose lines are one text cut into pieces of 27 characters.
    let text: String = purpose.concat();
    let mut tagged: Vec<(&str, String)> = Vec::new();
    let mut rest = text.as_str();
    let mut current: Option<&str> = None;
    loop {
        let next = TAGS
            .iter()
            .filter_map(|t| rest.find(t).map(|p| (p, *t)))
            .min_by_key(|(p, _)| *p);
        match next {
            Some((p, tag)) => {
                let before = rest.get(..p).unwrap_or_default();
                if let Some(cur) = current {
                    tagged.push((cur, before.to_string()));
                } else if !before.trim().is_empty() {
                    tagged.push(("", before.to_string()));
                }
                current = Some(tag);
                rest = rest.get(p + tag.len()..).unwrap_or_default();
            }
            None => {
                tagged.push((current.unwrap_or(""), rest.to_string()));
                break;
            }
        }
    }
    let get = |tag: &str| {
        tagged
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    tx.end_to_end_id = get("EREF+").filter(|e| !e.eq_ignore_ascii_case("NOTPROVIDED"));
    tx.remittance = get("SVWZ+")
        .or_else(|| get(""))
        .unwrap_or_else(|| text.trim().to_string());
}
