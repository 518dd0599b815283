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

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let value = Decimal::from_str(&text).map_err(serde::de::Error::custom)?;
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
        let value = Decimal::from_str(s.trim())
            .map_err(|_| ValueError(format!("'{s}' is not a decimal number")))?;
        VatRate::new(value)
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
                "'{s}' is not a supported ISO 4217 currency code"
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
        Decimal::from_str(&text).map_err(serde::de::Error::custom)
    }
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
    fn currencies() {
        assert_eq!("EUR".parse::<Currency>().unwrap(), Currency::EUR);
        assert!("XXX".parse::<Currency>().is_err());
        assert!("eur".parse::<Currency>().is_err());
        assert!("JPY".parse::<Currency>().is_err(), "no minor units");
    }
}
