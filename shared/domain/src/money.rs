//! Money, quantities and VAT rates as exact decimals.
//!
//! Amounts follow EN 16931: at most two decimals, rounded half away from zero
//! ("kaufmännisch runden"). Nothing here ever touches a float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Rounds to the two decimals an EN 16931 amount may carry.
pub fn round_amount(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A monetary amount with exactly two decimals. The currency lives on the document
/// (EN 16931 has one document currency), so it is not repeated on every amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Rounds any decimal to an amount (two decimals, half away from zero).
    pub fn round(value: Decimal) -> Amount {
        let mut rounded = round_amount(value);
        rounded.rescale(2);
        Amount(rounded.normalize_zero())
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn cents(self) -> i64 {
        // Two decimals by construction: mantissa in cents. Amounts stay far below i64::MAX cents.
        i64::try_from((self.0 * Decimal::ONE_HUNDRED).trunc().mantissa()).unwrap_or(i64::MAX)
    }
}

trait NormalizeZero {
    fn normalize_zero(self) -> Self;
}

impl NormalizeZero for Decimal {
    /// `-0.00` prints as `0.00`.
    fn normalize_zero(self) -> Self {
        if self.is_zero() {
            let mut zero = Decimal::ZERO;
            zero.rescale(2);
            zero
        } else {
            self
        }
    }
}

impl std::ops::Add for Amount {
    type Output = Amount;
    fn add(self, rhs: Amount) -> Amount {
        Amount::round(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Amount {
    type Output = Amount;
    fn sub(self, rhs: Amount) -> Amount {
        Amount::round(self.0 - rhs.0)
    }
}

impl std::ops::AddAssign for Amount {
    fn add_assign(&mut self, rhs: Amount) {
        *self = *self + rhs;
    }
}

impl std::iter::Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Amount {
    /// Parses an amount from its text exactly: at most two decimals, nothing is rounded.
    pub fn parse_exact(text: &str) -> Result<Amount, ValueError> {
        let value = parse_exact_decimal(text.trim(), 2)?;
        if value.abs() > Decimal::from(MAX_AMOUNT) {
            return Err(ValueError(format!(
                "'{}' is too large (at most {MAX_AMOUNT})",
                shorten(text)
            )));
        }
        Ok(Amount::round(value))
    }
}

impl std::str::FromStr for Amount {
    type Err = ValueError;

    /// The same as [`Amount::parse_exact`]: nothing is rounded.
    fn from_str(text: &str) -> Result<Amount, ValueError> {
        Amount::parse_exact(text)
    }
}

/// The largest amount Faktura accepts as input (EPC QR codes stop at 999,999,999.99 too).
pub const MAX_AMOUNT: i64 = 999_999_999;

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let value = parse_exact_decimal(&text, 2).map_err(serde::de::Error::custom)?;
        Ok(Amount::round(value))
    }
}

/// A VAT rate in percent, e.g. `19` or `7` or `0`. At most two decimals, 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VatRate(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl VatRate {
    pub const ZERO: VatRate = VatRate(Decimal::ZERO);

    pub fn new(percent: Decimal) -> Result<VatRate, ValueError> {
        if percent.is_sign_negative() && !percent.is_zero() {
            return Err(ValueError("a VAT rate cannot be negative".into()));
        }
        if percent > Decimal::ONE_HUNDRED {
            return Err(ValueError("a VAT rate cannot exceed 100 percent".into()));
        }
        if percent.normalize().scale() > 2 {
            return Err(ValueError("a VAT rate has at most two decimals".into()));
        }
        Ok(VatRate(percent.normalize()))
    }

    pub fn percent(self) -> Decimal {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The factor a net amount is multiplied with to get its VAT.
    pub fn fraction(self) -> Decimal {
        self.0 / Decimal::ONE_HUNDRED
    }
}

impl fmt::Display for VatRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

impl FromStr for VatRate {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VatRate::new(parse_exact_decimal(s.trim(), 2)?)
    }
}

impl Serialize for VatRate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VatRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        VatRate::from_str(&text).map_err(serde::de::Error::custom)
    }
}

/// ISO 4217 currency code. Faktura issues documents in currencies with two minor units
/// (EN 16931 amounts have at most two decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

/// Active ISO 4217 codes whose minor unit is 2 (the ones EN 16931 amounts can express).
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD \
BTN BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP \
GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL \
MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON \
RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS \
UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG";

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The symbol printed next to amounts; the ISO code where no common symbol exists.
    pub fn symbol(&self) -> &str {
        match self.as_str() {
            "EUR" => "€",
            "USD" => "$",
            "GBP" => "£",
            other => other,
        }
    }
}

impl FromStr for Currency {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim();
        if upper.len() == 3 && CURRENCIES.split(' ').any(|code| code == upper) {
            let b = upper.as_bytes();
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(ValueError(format!(
                "'{}' is not a supported ISO 4217 currency code",
                shorten(s)
            )))
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Currency::from_str(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde helpers for plain `Decimal` fields that must stay exact strings in storage.
pub mod decimal_string {
    use super::*;

    pub fn serialize<S: serde::Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&value.normalize())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let text = String::deserialize(d)?;
        parse_exact_decimal(&text, MAX_SCALE).map_err(serde::de::Error::custom)
    }
}

/// The most decimal places a `Decimal` holds.
pub const MAX_SCALE: u32 = 28;

/// At most this many characters of rejected input are repeated in an error message.
const QUOTE_CHARS: usize = 40;

/// `text` cut to [`QUOTE_CHARS`] characters (never inside a character) for error messages.
pub fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Parses a decimal number from its source text *exactly*, or refuses it.
///
/// The grammar is JSON's number grammar (`-?digits[.digits][(e|E)[+|-]digits]`, leading zeros
/// allowed). The value is built from the digits of the text, so nothing is rounded: a number
/// with more than `max_scale` decimal places after dropping trailing zeros, or with more than
/// 28 significant digits, is an error. (A `Decimal` parser rounds such input to fit, which would
/// turn `0.000…0001` into 0 and `19.99000…0001` into 19.99.)
pub fn parse_exact_decimal(text: &str, max_scale: u32) -> Result<Decimal, ValueError> {
    let not_a_number = || ValueError(format!("'{}' is not a decimal number", shorten(text)));
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let (int_digits, frac_digits) = match mantissa.split_once('.') {
        Some((i, f)) if !f.is_empty() => (i, f),
        Some(_) => return Err(not_a_number()),
        None => (mantissa, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_digits.is_empty() || !all_digits(int_digits) || !all_digits(frac_digits) {
        return Err(not_a_number());
    }
    // The exponent only matters within a few hundred places; larger ones saturate (and are
    // refused below as too many decimals or too large).
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => (-1, d),
                None => (1, e.strip_prefix('+').unwrap_or(e)),
            };
            if digits.is_empty() || !all_digits(digits) {
                return Err(not_a_number());
            }
            let digits = digits.trim_start_matches('0');
            let magnitude: i64 = if digits.len() > 6 {
                1_000_000
            } else {
                digits.parse().unwrap_or(1_000_000)
            };
            sign * magnitude
        }
    };
    // value = 0.<digits> scaled: significand `digits` with `scale` decimal places.
    let digits = format!("{int_digits}{frac_digits}");
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        return Ok(Decimal::ZERO);
    }
    let dropped = i64::try_from(significant.len() - trimmed.len()).unwrap_or(i64::MAX);
    let scale = i64::try_from(frac_digits.len())
        .unwrap_or(i64::MAX)
        .saturating_sub(exponent)
        .saturating_sub(dropped);
    if scale > i64::from(max_scale) {
        return Err(ValueError(format!(
            "'{}' has more than {max_scale} decimal places",
            shorten(text)
        )));
    }
    let len = i64::try_from(trimmed.len()).unwrap_or(i64::MAX);
    let shift = (-scale).max(0);
    if len.saturating_add(shift) > 28 {
        return Err(ValueError(format!(
            "'{}' has too many digits to be represented exactly",
            shorten(text)
        )));
    }
    let mut value: i128 = trimmed.parse().map_err(|_| not_a_number())?;
    for _ in 0..shift {
        value *= 10;
    }
    if negative {
        value = -value;
    }
    let scale = u32::try_from(scale.max(0)).map_err(|_| not_a_number())?;
    Decimal::try_from_i128_with_scale(value, scale).map_err(|_| not_a_number())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(Amount::round(dec!(0.005)).to_string(), "0.01");
        assert_eq!(Amount::round(dec!(-0.005)).to_string(), "-0.01");
        assert_eq!(Amount::round(dec!(2.675)).to_string(), "2.68");
        assert_eq!(Amount::round(dec!(-0.001)).to_string(), "0.00");
        assert_eq!(Amount::round(dec!(7)).to_string(), "7.00");
    }

    #[test]
    fn vat_rate_bounds() {
        assert!("19".parse::<VatRate>().is_ok());
        assert!("7.7".parse::<VatRate>().is_ok());
        assert!("-1".parse::<VatRate>().is_err());
        assert!("101".parse::<VatRate>().is_err());
        assert!("19.125".parse::<VatRate>().is_err());
        assert_eq!("19.00".parse::<VatRate>().unwrap().to_string(), "19");
    }

    #[test]
    fn exact_decimals_are_parsed_from_their_digits() {
        let ok = |t: &str, max: u32| parse_exact_decimal(t, max).map(|d| d.normalize().to_string());
        assert_eq!(ok("119.00", 4).unwrap(), "119");
        assert_eq!(ok("19.99", 4).unwrap(), "19.99");
        assert_eq!(ok("-0.5", 4).unwrap(), "-0.5");
        assert_eq!(ok("-0", 4).unwrap(), "0");
        assert_eq!(ok("1.5e2", 4).unwrap(), "150");
        assert_eq!(ok("15E-1", 4).unwrap(), "1.5");
        assert_eq!(ok("1.2345e+1", 4).unwrap(), "12.345");
        assert_eq!(
            ok("0.00010000000000000000000000000000", 4).unwrap(),
            "0.0001"
        );
        assert_eq!(ok("007", 4).unwrap(), "7");
        assert!(
            ok("1e-1000000000000", 4)
                .unwrap_err()
                .0
                .contains("decimal places")
        );
        let sixty = format!("0.{}1", "0".repeat(59));
        assert!(
            ok(&sixty, 4).unwrap_err().0.contains("decimal places"),
            "{sixty}"
        );
        let almost = format!("19.99{}1", "0".repeat(40));
        assert!(ok(&almost, 4).unwrap_err().0.contains("decimal places"));
        assert!(ok("12345.00001", 4).is_err());
        assert!(ok("1e29", 4).unwrap_err().0.contains("too many digits"));
        assert!(ok(&"9".repeat(29), 4).is_err());
        assert_eq!(ok(&"9".repeat(28), 0).unwrap(), "9".repeat(28));
        for bad in [
            "", "-", ".5", "5.", "1,5", "0x10", "1e", "1e+", "+1", " 1", "1 ", "NaN", "inf",
            "1.2.3", "١٢",
        ] {
            assert!(ok(bad, 4).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_quote_at_most_forty_characters() {
        let long = format!("ä{}", "9".repeat(100));
        let e = parse_exact_decimal(&long, 2).unwrap_err().0;
        assert!(e.chars().count() < 80, "{e}");
    }

    #[test]
    fn stored_and_configured_values_are_exact_too() {
        assert!(
            "19.000000000000000000000000000001"
                .parse::<VatRate>()
                .is_err()
        );
        let amount: Result<Amount, _> = serde_json::from_str("\"1.005\"");
        assert!(amount.is_err());
        assert_eq!(Amount::parse_exact("1.50").unwrap().to_string(), "1.50");
        assert!(Amount::parse_exact("1000000000").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_the_display_of_a_decimal_gives_it_back(mantissa in -10_i64.pow(15)..10_i64.pow(15), scale in 0u32..=4) {
            let d = Decimal::new(mantissa, scale);
            proptest::prop_assert_eq!(parse_exact_decimal(&d.to_string(), 4).unwrap(), d);
        }

        #[test]
        fn no_text_panics_and_a_parse_is_exact(text in "[-+0-9eE.]{0,40}|\\PC{0,20}") {
            if let Ok(d) = parse_exact_decimal(&text, 4) {
                // The parsed value printed in full has at most 4 decimals and reads back the same.
                proptest::prop_assert!(d.normalize().scale() <= 4);
                proptest::prop_assert_eq!(parse_exact_decimal(&d.normalize().to_string(), 4).unwrap(), d);
            }
        }
    }

    #[test]
    fn currencies() {
        assert_eq!("EUR".parse::<Currency>().unwrap(), Currency::EUR);
        assert!("XXX".parse::<Currency>().is_err());
        assert!("eur".parse::<Currency>().is_err());
        assert!("JPY".parse::<Currency>().is_err(), "no minor units");
    }
}
