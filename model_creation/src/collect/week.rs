//! ISO 8601 weeks (`2026-W49`), the unit a collection batch is filed under.

use std::fmt;
use std::str::FromStr;

use time::{Date, OffsetDateTime, Weekday};

/// One ISO week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    pub year: i32,
    pub week: u8,
}

impl IsoWeek {
    /// The week `now` falls in (UTC).
    pub fn of(now: OffsetDateTime) -> IsoWeek {
        let (year, week, _) = now.date().to_iso_week_date();
        IsoWeek { year, week }
    }

    /// Its Monday, 00:00 UTC, in seconds since the epoch.
    pub fn start_seconds(self) -> i64 {
        // Checked when the week was made (`FromStr`, `of`).
        Date::from_iso_week_date(self.year, self.week, Weekday::Monday)
            .map(|d| d.midnight().assume_utc().unix_timestamp())
            .unwrap_or_default()
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

impl FromStr for IsoWeek {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not an ISO week: expected YYYY-Www, e.g. 2026-W49");
        let (year, week) = s.trim().split_once("-W").ok_or_else(bad)?;
        let (year, week): (i32, u8) = (year.parse().map_err(|_| bad())?, week.parse().map_err(|_| bad())?);
        Date::from_iso_week_date(year, week, Weekday::Monday)
            .map_err(|_| format!("{year} has no ISO week {week} (weeks run from 1 to 52 or 53)"))?;
        Ok(IsoWeek { year, week })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_parse_print_and_start_on_monday() {
        let w: IsoWeek = "2026-W01".parse().expect("valid");
        assert_eq!(w.to_string(), "2026-W01");
        // 2025-12-29 (a Monday) begins ISO week 1 of 2026.
        assert_eq!(w.start_seconds(), 1_766_966_400);
        assert_eq!(IsoWeek::of(OffsetDateTime::from_unix_timestamp(1_766_966_400).expect("time")), w);
        assert!("2026-W54".parse::<IsoWeek>().is_err());
        assert!("2020-W53".parse::<IsoWeek>().is_ok());
        assert!("2026-49".parse::<IsoWeek>().unwrap_err().contains("YYYY-Www"));
    }
}
