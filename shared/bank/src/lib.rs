//! Bank statements as German banks deliver them, parsed into
//! [`faktura_domain::bank::BankStatement`]s: ISO 20022 CAMT.053 (`camt.053.001.02` and later
//! versions; elements are read by their local names, so the versions' namespaces and the
//! elements they add do not matter) and SWIFT MT940 with the German `:86:` subfields.
//! Amounts are read exactly from their text; a value that is not a valid amount fails the
//! whole file, naming where, so nothing is imported half.

mod camt;
mod mt940;
pub mod sample;

pub use faktura_domain::bank::{BankStatement, Direction, StatementTransaction};

/// Why a file is not a statement we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StatementError {
    /// What is wrong and where (an element path or a line number).
    pub message: String,
}

impl StatementError {
    pub(crate) fn new(message: impl Into<String>) -> StatementError {
        StatementError {
            message: message.into(),
        }
    }
}

/// The formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Camt053,
    Mt940,
}

impl Format {
    /// Which format `bytes` are in: XML is CAMT, a file with `:20:` is MT940.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
        if text.get(start) == Some(&b'<') {
            Some(Format::Camt053)
        } else if text.windows(4).any(|w| w == b":20:") {
            Some(Format::Mt940)
        } else {
            None
        }
    }
}

/// Parses a statement file of either format: one file may hold several statements (a CAMT
/// document several `Stmt`, an MT940 file several messages).
pub fn parse(bytes: &[u8]) -> Result<Vec<BankStatement>, StatementError> {
    match Format::detect(bytes) {
        Some(Format::Camt053) => camt::parse(bytes),
        Some(Format::Mt940) => mt940::parse(bytes),
        None => Err(StatementError::new(
            "not a bank statement: expected CAMT.053 XML or MT940",
        )),
    }
}

/// An amount as a statement writes it (`119.00`, MT940 `119,00` or `119,`), exactly.
pub(crate) fn amount(
    text: &str,
    at: &str,
) -> Result<faktura_domain::money::Amount, StatementError> {
    let text = text.trim();
    let normal = text.replace(',', ".");
    let normal = normal.strip_suffix('.').unwrap_or(&normal);
    if normal.starts_with('-') || normal.starts_with('+') {
        return Err(StatementError::new(format!(
            "{at}: amount '{text}' has a sign"
        )));
    }
    normal
        .parse::<faktura_domain::money::Amount>()
        .map_err(|e| StatementError::new(format!("{at}: {}", e.0)))
}

pub(crate) fn currency(
    text: &str,
    at: &str,
) -> Result<faktura_domain::money::Currency, StatementError> {
    text.trim()
        .parse()
        .map_err(|_| StatementError::new(format!("{at}: '{text}' is not a currency")))
}
