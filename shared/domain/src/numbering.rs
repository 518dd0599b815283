//! Document number patterns such as `RE-{yyyy}-{seq:5}` and the counter keys behind them.
//!
//! Numbers are gapless per counter: the store assigns `counter + 1` in the same atomic write
//! that stores the document (see `ports::InvoiceStore::insert_issued`).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::money::ValueError;
use crate::values::{Id, InvoiceNumber};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Year4,
    Year2,
    Month,
    Seq { width: usize },
}

/// A parsed number pattern. Placeholders: `{yyyy}`, `{yy}`, `{mm}`, `{seq}` or `{seq:N}`
/// (zero-padded to N digits); exactly one `{seq}`. Literal text may use `A-Z a-z 0-9 - _ / . #`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPattern {
    source: String,
    parts: Vec<Part>,
}

impl NumberPattern {
    /// `{seq}`: the bare sequence number.
    pub fn sequence_only() -> NumberPattern {
        NumberPattern {
            source: "{seq}".into(),
            parts: vec![Part::Seq { width: 1 }],
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn has_year(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Year4 | Part::Year2))
    }

    /// The document number for sequence value `seq` issued on `date`.
    pub fn format(&self, seq: u64, date: NaiveDate) -> InvoiceNumber {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Year4 => out.push_str(&format!("{:04}", date.year())),
                Part::Year2 => out.push_str(&format!("{:02}", date.year().rem_euclid(100))),
                Part::Month => out.push_str(&format!("{:02}", date.month())),
                Part::Seq { width } => out.push_str(&format!("{seq:0width$}")),
            }
        }
        // The pattern's alphabet is checked at parse time, so this cannot fail; fall back
        // to the bare sequence rather than panic.
        out.parse()
            .unwrap_or_else(|_| InvoiceNumber::from_str(&seq.to_string()).expect("digits"))
    }
}

impl FromStr for NumberPattern {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = Vec::new();
        let mut rest = s;
        let mut seq_count = 0;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let (name, tail) = after
                    .split_once('}')
                    .ok_or_else(|| ValueError(format!("unclosed '{{' in number pattern '{s}'")))?;
                let part = match name {
                    "yyyy" => Part::Year4,
                    "yy" => Part::Year2,
                    "mm" => Part::Month,
                    "seq" => Part::Seq { width: 1 },
                    other => match other.strip_prefix("seq:").map(str::parse::<usize>) {
                        Some(Ok(width)) if (1..=12).contains(&width) => Part::Seq { width },
                        _ => {
                            return Err(ValueError(format!(
                                "unknown placeholder '{{{other}}}' in number pattern '{s}'"
                            )));
                        }
                    },
                };
                if matches!(part, Part::Seq { .. }) {
                    seq_count += 1;
                }
                parts.push(part);
                rest = tail;
            } else {
                // `find` gives the offset of an ASCII '{', always a character boundary.
                let (literal, tail) = rest.split_at(rest.find('{').unwrap_or(rest.len()));
                if !literal
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_/.#".contains(c))
                {
                    return Err(ValueError(format!(
                        "number pattern '{s}' may only contain A-Z a-z 0-9 - _ / . # outside placeholders"
                    )));
                }
                parts.push(Part::Literal(literal.to_string()));
                rest = tail;
            }
        }
        if seq_count != 1 {
            return Err(ValueError(format!(
                "number pattern '{s}' needs exactly one {{seq}} placeholder"
            )));
        }
        Ok(NumberPattern {
            source: s.to_string(),
            parts,
        })
    }
}

impl fmt::Display for NumberPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for NumberPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for NumberPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Identifies one gapless counter: tenant, series and (with yearly reset) the year.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CounterKey {
    pub tenant_id: Id,
    pub series: String,
    pub period: Option<i32>,
}

impl CounterKey {
    pub fn new(tenant_id: &Id, series: &str, yearly_reset: bool, date: NaiveDate) -> CounterKey {
        CounterKey {
            tenant_id: tenant_id.clone(),
            series: series.to_string(),
            period: yearly_reset.then(|| date.year()),
        }
    }

    /// A flat form for key-value stores: `invoice` or `invoice#2026`.
    pub fn scope(&self) -> String {
        match self.period {
            Some(year) => format!("{}#{year}", self.series),
            None => self.series.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn formats_patterns() {
        let p: NumberPattern = "RE-{yyyy}-{seq:5}".parse().unwrap();
        assert_eq!(p.format(42, date(2026, 11, 20)).as_str(), "RE-2026-00042");
        let p: NumberPattern = "{yy}{mm}/{seq}".parse().unwrap();
        assert_eq!(p.format(7, date(2027, 1, 3)).as_str(), "2701/7");
        let p: NumberPattern = "R{seq:3}".parse().unwrap();
        assert_eq!(p.format(12345, date(2027, 1, 3)).as_str(), "R12345");
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "RE-{yyyy}",
            "{seq}{seq}",
            "RE {seq}",
            "{seq:0}",
            "{foo}{seq}",
            "RE-{seq",
        ] {
            assert!(bad.parse::<NumberPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn counter_scope() {
        let t: Id = "demo".parse().unwrap();
        assert_eq!(
            CounterKey::new(&t, "invoice", true, date(2026, 1, 1)).scope(),
            "invoice#2026"
        );
        assert_eq!(
            CounterKey::new(&t, "invoice", false, date(2026, 1, 1)).scope(),
            "invoice"
        );
    }
}
