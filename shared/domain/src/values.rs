//! Small parsed value types: once constructed, they are valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::{ValueError, shorten};

macro_rules! string_newtype_serde {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $ty::from_str(&text).map_err(serde::de::Error::custom)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// An email address of the plain `local@domain` form (no display name, no comments).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EmailAddress {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || ValueError(format!("'{}' is not a valid email address", shorten(s)));
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains(['@', '<', '>', '(', ')', ',', ';', ':', '"', '[', ']', '\\']);
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local_ok && domain_ok {
            Ok(EmailAddress(s.to_string()))
        } else {
            Err(bad())
        }
    }
}
string_newtype_serde!(EmailAddress);

/// ISO 3166-1 alpha-2 country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL \
BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM \
DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC \
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE \
NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD \
SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA \
UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

const EU_MEMBERS: &str =
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK";

impl CountryCode {
    pub const DE: CountryCode = CountryCode(*b"DE");

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn is_eu_member(&self) -> bool {
        EU_MEMBERS.split(' ').any(|c| c == self.as_str())
    }

    /// The prefix of this country's VAT identification numbers (Greece uses `EL`).
    pub fn vat_prefix(&self) -> &str {
        match self.as_str() {
            "GR" => "EL",
            other => other,
        }
    }
}

impl FromStr for CountryCode {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 2 && COUNTRIES.split(' ').any(|c| c == s) {
            let b = s.as_bytes();
            Ok(CountryCode([b[0], b[1]]))
        } else {
            Err(ValueError(format!(
                "'{}' is not an ISO 3166-1 alpha-2 country code",
                shorten(s)
            )))
        }
    }
}
string_newtype_serde!(CountryCode);

/// A VAT identification number (USt-IdNr.): country prefix plus 2 to 13 letters or digits.
/// Spaces and dots are removed when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VatId(String);

impl VatId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two-letter country prefix (ASCII by construction).
    pub fn prefix(&self) -> &str {
        self.0.get(..2).unwrap_or_default()
    }
}

impl FromStr for VatId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let compact: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-'))
            .collect::<String>()
            .to_uppercase();
        // Checked by character, never by byte offset: the text is the customer's and may hold
        // any character (an accented letter, a currency sign, a wide space).
        let mut chars = compact.chars();
        let prefix_ok = chars
            .by_ref()
            .take(2)
            .filter(char::is_ascii_uppercase)
            .count()
            == 2;
        let rest: Vec<char> = chars.collect();
        let ok = prefix_ok
            && (2..=13).contains(&rest.len())
            && rest.iter().all(char::is_ascii_alphanumeric);
        if ok {
            Ok(VatId(compact))
        } else {
            Err(ValueError(format!(
                "'{}' is not a VAT identification number (country prefix plus 2 to 13 letters or digits)",
                shorten(s)
            )))
        }
    }
}
string_newtype_serde!(VatId);

/// Languages documents and emails are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    De,
    En,
}

impl Language {
    pub fn as_str(&self) -> &'static str {
        match self {
            Language::De => "de",
            Language::En => "en",
        }
    }
}

impl FromStr for Language {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Accept regional tags such as `de-AT` or `en_GB`.
        let primary = s
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "de" => Ok(Language::De),
            "en" => Ok(Language::En),
            _ => Err(ValueError(format!(
                "language '{}' is not supported (use 'de' or 'en')",
                shorten(s)
            ))),
        }
    }
}

/// An issued document number such as `RE-2026-00042`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvoiceNumber(String);

impl InvoiceNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The empty number of a document that is planned or a draft: it gets its number when it
    /// is issued. Stored as `""`, and read back as such (never from outside input: `FromStr`
    /// refuses it).
    pub fn unassigned() -> InvoiceNumber {
        InvoiceNumber(String::new())
    }

    pub fn is_assigned(&self) -> bool {
        !self.0.is_empty()
    }
}

impl FromStr for InvoiceNumber {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_/.#".contains(c));
        if ok {
            Ok(InvoiceNumber(s.to_string()))
        } else {
            Err(ValueError(format!(
                "'{}' is not a valid document number",
                shorten(s)
            )))
        }
    }
}
impl Serialize for InvoiceNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InvoiceNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            // A stored draft.
            return Ok(InvoiceNumber::unassigned());
        }
        InvoiceNumber::from_str(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for InvoiceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifiers chosen by the platform (booking, customer ids) or by us (tenant ids).
/// Restricted to a safe alphabet so they can be used in keys, paths and file names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh random id with a type prefix, such as `inv_0193...`.
    pub fn generate(prefix: &str) -> Id {
        Id(format!("{prefix}_{}", uuid::Uuid::now_v7().simple()))
    }
}

impl FromStr for Id {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            && !s.starts_with('.');
        if ok {
            Ok(Id(s.to_string()))
        } else {
            Err(ValueError(format!(
                "'{}' is not a valid id (1 to 128 of A-Z a-z 0-9 - _ . :)",
                shorten(s)
            )))
        }
    }
}
string_newtype_serde!(Id);

/// A Leitweg-ID: coarse address (2 to 12 digits), optional fine address (up to 30 letters or
/// digits), check digits per ISO 7064 MOD 97-10, joined by hyphens (e.g.
/// `04011000-1234512345-06`). Returns it upper-cased.
pub fn leitweg_id(value: &str) -> Result<String, ValueError> {
    let id = value.trim().to_ascii_uppercase();
    let bad = |why: &str| ValueError(format!("'{}' is not a Leitweg-ID: {why}", shorten(value)));
    let parts: Vec<&str> = id.split('-').collect();
    let (coarse, fine, check) = match parts.as_slice() {
        [coarse, check] => (*coarse, "", *check),
        [coarse, fine, check] => (*coarse, *fine, *check),
        _ => return Err(bad("expected coarse-fine-check or coarse-check")),
    };
    if !(2..=12).contains(&coarse.len()) || !coarse.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("the coarse address is 2 to 12 digits"));
    }
    if fine.len() > 30 || !fine.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad("the fine address is up to 30 letters or digits"));
    }
    if check.len() != 2 || !check.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("the check digits are two digits"));
    }
    // ISO 7064 MOD 97-10 over coarse+fine with letters as 10..35, as for IBANs.
    let mut remainder: u32 = 0;
    for c in coarse.chars().chain(fine.chars()).chain("00".chars()) {
        let v = c.to_digit(36).unwrap_or(0);
        for d in v.to_string().chars() {
            remainder = (remainder * 10 + d.to_digit(10).unwrap_or(0)) % 97;
        }
    }
    if format!("{:02}", 98 - remainder) != check {
        return Err(bad("the check digits do not match"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!("erika@example.org".parse::<EmailAddress>().is_ok());
        assert!("müller@bücher.de".parse::<EmailAddress>().is_ok());
        for bad in [
            "",
            "x",
            "a@b",
            "a b@c.de",
            "<a@b.de>",
            "a@b..de",
            "a@.b.de",
            "a@b.de\r\nBcc: x@y.z",
        ] {
            assert!(bad.parse::<EmailAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn countries_and_vat_ids() {
        assert!("DE".parse::<CountryCode>().unwrap().is_eu_member());
        assert!(!"CH".parse::<CountryCode>().unwrap().is_eu_member());
        assert!("de".parse::<CountryCode>().is_err());
        assert!("XX".parse::<CountryCode>().is_err());
        assert_eq!(
            "de 123.456.789".parse::<VatId>().unwrap().as_str(),
            "DE123456789"
        );
        assert!("123".parse::<VatId>().is_err());
        assert_eq!("GR".parse::<CountryCode>().unwrap().vat_prefix(), "EL");
        // Customer text of any kind is refused, never a panic (it once sliced by byte).
        for odd in [
            "É12345678",
            "DÉ12345678",
            "€€12345",
            "DE1234５678",
            "D\u{3000}E123456789",
            "ÄÖ",
            "ß",
            "DEǅ1234",
        ] {
            assert!(odd.parse::<VatId>().is_err(), "{odd}");
        }
        assert_eq!("at u12345678".parse::<VatId>().unwrap().prefix(), "AT");
    }

    #[test]
    fn ids() {
        assert!("bk_1001".parse::<Id>().is_ok());
        assert!("../etc".parse::<Id>().is_err());
        assert!("a/b".parse::<Id>().is_err());
        assert!(Id::generate("inv").as_str().starts_with("inv_"));
    }
}

/// An IANA time zone (`Europe/Berlin`): the tenant's, in which every date Faktura prints or
/// computes (issue and due dates, service dates, overdue) is the local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// Faktura's default: German businesses.
    pub const BERLIN: TimeZone = TimeZone(chrono_tz::Tz::Europe__Berlin);

    pub fn as_str(&self) -> &str {
        self.0.name()
    }

    /// The local calendar date of `at` in this zone.
    pub fn date_of(&self, at: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }

    /// The local time of day of `at` in this zone.
    pub fn time_of(&self, at: chrono::DateTime<chrono::Utc>) -> chrono::NaiveTime {
        at.with_timezone(&self.0).time()
    }

    /// The instant `time` on `date` in this zone (the earlier of two in a repeated hour; the
    /// first instant after a skipped one).
    pub fn at(
        &self,
        date: chrono::NaiveDate,
        time: chrono::NaiveTime,
    ) -> chrono::DateTime<chrono::Utc> {
        use chrono::TimeZone as _;
        let local = date.and_time(time);
        (0..=3)
            .find_map(|h| {
                self.0
                    .from_local_datetime(&(local + chrono::TimeDelta::hours(h)))
                    .earliest()
            })
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&chrono::Utc))
    }

    /// The first instant of `date` in this zone (local midnight, or the first instant after
    /// a gap where a zone skips midnight).
    pub fn start_of(&self, date: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
        self.at(date, chrono::NaiveTime::MIN)
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone::BERLIN
    }
}

impl FromStr for TimeZone {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| {
                ValueError(format!(
                    "'{}' is not an IANA time zone (such as Europe/Berlin)",
                    shorten(s)
                ))
            })
    }
}
string_newtype_serde!(TimeZone);

#[cfg(test)]
mod time_zone_tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone as _, Utc};

    #[test]
    fn local_dates_follow_the_zone_across_midnight_and_daylight_saving() {
        let berlin = TimeZone::default();
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        // 23:30 in Berlin (winter, UTC+1) is 22:30 UTC: still that day.
        let evening = Utc.with_ymd_and_hms(2026, 12, 1, 22, 30, 0).unwrap();
        assert_eq!(berlin.date_of(evening), day(2026, 12, 1));
        // 00:30 in Berlin is 23:30 UTC the day before: already the next day.
        let after_midnight = Utc.with_ymd_and_hms(2026, 12, 1, 23, 30, 0).unwrap();
        assert_eq!(berlin.date_of(after_midnight), day(2026, 12, 2));
        // Summer time (UTC+2): 22:30 UTC is 00:30 the next day.
        let summer = Utc.with_ymd_and_hms(2026, 7, 31, 22, 30, 0).unwrap();
        assert_eq!(berlin.date_of(summer), day(2026, 8, 1));
        // New Year in Berlin before it is in UTC: the yearly number series turns with it.
        let new_year = Utc.with_ymd_and_hms(2026, 12, 31, 23, 15, 0).unwrap();
        assert_eq!(berlin.date_of(new_year), day(2027, 1, 1));
        let auckland: TimeZone = "Pacific/Auckland".parse().unwrap();
        assert_eq!(auckland.date_of(evening), day(2026, 12, 2));
        assert_eq!(auckland.as_str(), "Pacific/Auckland");
    }

    #[test]
    fn only_iana_names_parse() {
        for bad in [
            "",
            "Berlin",
            "CET+1",
            "Europe/Atlantis",
            "Europe/Berlin\u{0}",
        ] {
            assert!(bad.parse::<TimeZone>().is_err(), "{bad:?}");
        }
        let tz: TimeZone = serde_json::from_str("\"Europe/Vienna\"").unwrap();
        assert_eq!(serde_json::to_string(&tz).unwrap(), "\"Europe/Vienna\"");
    }
}
