//! When mail may go out: a tenant's send window (e.g. 08:00–18:00 local). A delivery due
//! outside it waits for the window's next opening; the documents are issued and rendered at
//! once all the same (their date is the day they were issued).

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::values::TimeZone;

/// The local hours in which mail goes out, `from` inclusive, `to` exclusive, within one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowText", into = "WindowText")]
pub struct SendWindow {
    pub from: NaiveTime,
    pub to: NaiveTime,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowText {
    from: String,
    to: String,
}

impl TryFrom<WindowText> for SendWindow {
    type Error = String;
    fn try_from(w: WindowText) -> Result<Self, Self::Error> {
        let time = |field: &str, t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|_| format!("{field}: '{t}' is not a time of day HH:MM"))
        };
        let window = SendWindow {
            from: time("from", &w.from)?,
            to: time("to", &w.to)?,
        };
        if window.from >= window.to {
            return Err(format!(
                "the send window {}–{} must open before it closes on the same day",
                w.from, w.to
            ));
        }
        Ok(window)
    }
}

impl From<SendWindow> for WindowText {
    fn from(w: SendWindow) -> Self {
        WindowText {
            from: w.from.format("%H:%M").to_string(),
            to: w.to.format("%H:%M").to_string(),
        }
    }
}

/// A document held for the owner's review: a draft without a number until the send time of
/// `send_on` (then issued and mailed), unless the owner changes or approves it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewFacet {
    pub send_on: chrono::NaiveDate,
}

/// The local time held documents are sent at: the send window's opening, else 08:00.
pub fn send_time(window: Option<SendWindow>) -> NaiveTime {
    window.map_or(
        NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
        |w| w.from,
    )
}

/// The next send time at or after `now`: its local day and instant.
pub fn next_send(
    window: Option<SendWindow>,
    zone: TimeZone,
    now: DateTime<Utc>,
) -> (chrono::NaiveDate, DateTime<Utc>) {
    let time = send_time(window);
    let today = zone.date_of(now);
    let day = if zone.time_of(now) < time {
        today
    } else {
        today.succ_opt().unwrap_or(today)
    };
    (day, zone.at(day, time))
}

impl SendWindow {
    /// `None` when mail may go out at `now`; else the next instant the window opens.
    pub fn next_open(&self, zone: TimeZone, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = zone.date_of(now);
        let local = zone.time_of(now);
        if local >= self.from && local < self.to {
            return None;
        }
        let day = if local < self.from {
            today
        } else {
            today.succ_opt().unwrap_or(today)
        };
        Some(zone.at(day, self.from).max(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> SendWindow {
        serde_json::from_value(serde_json::json!({ "from": "08:00", "to": "18:00" })).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn mail_waits_for_the_window() {
        let w = window();
        let berlin = TimeZone::BERLIN;
        assert_eq!(w.next_open(berlin, utc("2026-12-01T09:30:00+01:00")), None);
        assert_eq!(
            w.next_open(berlin, utc("2026-12-01T06:00:00+01:00")),
            Some(utc("2026-12-01T08:00:00+01:00"))
        );
        assert_eq!(
            w.next_open(berlin, utc("2026-12-01T18:00:00+01:00")),
            Some(utc("2026-12-02T08:00:00+01:00"))
        );
        // Over the change to summer time: 08:00 local is 06:00 UTC the next morning.
        assert_eq!(
            w.next_open(berlin, utc("2027-03-27T23:00:00+01:00")),
            Some(utc("2027-03-28T08:00:00+02:00"))
        );
    }

    #[test]
    fn windows_are_checked() {
        for bad in [
            serde_json::json!({ "from": "18:00", "to": "08:00" }),
            serde_json::json!({ "from": "8", "to": "18:00" }),
            serde_json::json!({ "from": "08:00", "to": "08:00" }),
            serde_json::json!({ "from": "08:00" }),
        ] {
            assert!(
                serde_json::from_value::<SendWindow>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            serde_json::to_value(window()).unwrap(),
            serde_json::json!({ "from": "08:00", "to": "18:00" })
        );
    }
}
