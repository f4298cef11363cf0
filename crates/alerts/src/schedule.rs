//! Armed hours: when a camera's fight incidents raise alerts.
//!
//! A schedule is a list of spans such as `Mon-Fri 18:00-07:00` or `Sat,Sun 00:00-24:00`, read
//! in the site's time zone (daylight saving included: spans are local wall-clock times). A span
//! whose end is not after its start runs overnight into the next day. Outside every span the
//! camera is disarmed: it is still watched, recorded and shown live, but its fight incidents
//! raise no alert. Camera health (`camera_offline`) is never disarmed: a camera that goes dark
//! out of hours is exactly what an attacker would arrange.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Why a schedule could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A span is not `DAYS HH:MM-HH:MM`.
    #[error(
        "armed hours {span:?}: {message} (expected e.g. \"Mon-Fri 18:00-07:00\" or \"daily 00:00-24:00\")"
    )]
    Span {
        /// The span as written.
        span: String,
        /// What is wrong with it.
        message: String,
    },
    /// The time zone is not in the tz database.
    #[error("time zone {zone:?} is unknown: {message}")]
    Zone {
        /// The zone as written.
        zone: String,
        /// What the tz database said.
        message: String,
    },
}

/// One armed span: from `start` on each of `days` until `end` (the next day when `end <=
/// start`), minutes of the local day.
#[derive(Debug, Clone, PartialEq)]
struct Span {
    /// Monday first.
    days: [bool; 7],
    start: u16,
    end: u16,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Span {
    fn parse(text: &str) -> Result<Self, String> {
        let mut words = text.split_whitespace();
        let (Some(days), Some(hours), None) = (words.next(), words.next(), words.next()) else {
            return Err("needs days and hours".into());
        };
        let days = parse_days(days)?;
        let (start, end) = hours
            .split_once('-')
            .ok_or_else(|| format!("{hours:?} is not HH:MM-HH:MM"))?;
        let (start, end) = (parse_minute(start)?, parse_minute(end)?);
        if start == 1440 {
            return Err("a span cannot start at 24:00".into());
        }
        if start == end {
            return Err("start and end are the same (a whole day is 00:00-24:00)".into());
        }
        Ok(Self { days, start, end })
    }

    fn overnight(&self) -> bool {
        self.end <= self.start
    }

    /// Whether minute `minute` of weekday `day` (Monday 0) is inside.
    fn contains(&self, day: usize, minute: u16) -> bool {
        if !self.overnight() {
            return self.days[day] && (self.start..self.end).contains(&minute);
        }
        let yesterday = (day + 6) % 7;
        (self.days[day] && minute >= self.start) || (self.days[yesterday] && minute < self.end)
    }
}

fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let lower = text.to_ascii_lowercase();
    if lower == "daily" || lower == "*" {
        return Ok([true; 7]);
    }
    let day = |name: &str| {
        DAYS.iter()
            .position(|d| name.starts_with(d) && name.len() <= 9)
            .ok_or_else(|| format!("{name:?} is not a day (Mon … Sun, or daily)"))
    };
    let mut days = [false; 7];
    for part in lower.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                // Fri-Mon wraps over the weekend.
                let mut d = from;
                loop {
                    days[d] = true;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Ok(days)
}

fn parse_minute(text: &str) -> Result<u16, String> {
    let bad = || format!("{text:?} is not a time HH:MM (00:00 to 24:00)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) || text.len() > 5 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// When a camera is armed, in its site's time zone.
#[derive(Debug, Clone)]
pub struct ArmedSchedule {
    zone: TimeZone,
    spans: Vec<Span>,
}

impl ArmedSchedule {
    /// Reads `spans` in time zone `zone` (an IANA name such as `Europe/Berlin`; `None`: this
    /// machine's zone). No spans is an error: a camera without a schedule is always armed.
    pub fn parse<S: AsRef<str>>(spans: &[S], zone: Option<&str>) -> Result<Self, ScheduleError> {
        let zone = match zone {
            Some(name) => TimeZone::get(name).map_err(|e| ScheduleError::Zone {
                zone: name.into(),
                message: e.to_string(),
            })?,
            None => TimeZone::system(),
        };
        if spans.is_empty() {
            return Err(ScheduleError::Span {
                span: String::new(),
                message: "no spans given".into(),
            });
        }
        let spans = spans
            .iter()
            .map(|s| {
                Span::parse(s.as_ref()).map_err(|message| ScheduleError::Span {
                    span: s.as_ref().into(),
                    message,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { zone, spans })
    }

    /// Whether the camera is armed at `at_ms` (ms since the epoch).
    pub fn is_armed(&self, at_ms: u64) -> bool {
        let Ok(at) = Timestamp::from_millisecond(i64::try_from(at_ms).unwrap_or(i64::MAX)) else {
            // Out of the calendar's range: fail armed, never silent.
            return true;
        };
        let local = at.to_zoned(self.zone.clone());
        let day = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
        let minute = local.hour().unsigned_abs() as u16 * 60 + local.minute().unsigned_abs() as u16;
        self.spans.iter().any(|s| s.contains(day, minute))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds of a civil time in `zone`.
    fn at(zone: &str, civil: &str) -> u64 {
        let dt: jiff::civil::DateTime = civil.parse().expect("a civil time");
        let ts = dt
            .to_zoned(TimeZone::get(zone).expect("zone"))
            .expect("in range")
            .timestamp();
        u64::try_from(ts.as_millisecond()).expect("after 1970")
    }

    #[test]
    fn overnight_weekday_spans_and_weekends() {
        let s = ArmedSchedule::parse(
            &["Mon-Fri 18:00-07:00", "Sat,Sun 00:00-24:00"],
            Some("Europe/Berlin"),
        )
        .expect("parses");
        // 2026-11-23 is a Monday.
        let z = "Europe/Berlin";
        assert!(!s.is_armed(at(z, "2026-11-23T12:00")), "Monday noon");
        assert!(s.is_armed(at(z, "2026-11-23T18:00")), "Monday 18:00");
        assert!(
            s.is_armed(at(z, "2026-11-24T06:59")),
            "Tuesday early, from Monday night"
        );
        assert!(!s.is_armed(at(z, "2026-11-24T07:00")), "Tuesday 07:00");
        assert!(s.is_armed(at(z, "2026-11-28T12:00")), "Saturday");
        // Sunday's span ends at midnight and no Sunday-night span was given.
        assert!(!s.is_armed(at(z, "2026-11-30T03:00")), "Monday 03:00");
        assert!(
            s.is_armed(at(z, "2026-11-28T03:00")),
            "Saturday 03:00, from Friday"
        );
        // Friday 18:00 runs into Saturday, which is armed anyway.
        assert!(s.is_armed(at(z, "2026-11-27T23:30")));
    }

    #[test]
    fn the_sites_zone_decides_not_utc() {
        let s =
            ArmedSchedule::parse(&["daily 22:00-06:00"], Some("America/New_York")).expect("parses");
        // 23:00 in New York is 04:00 UTC the next day: armed; 12:00 there is not.
        assert!(s.is_armed(at("America/New_York", "2026-07-01T23:00")));
        assert!(!s.is_armed(at("America/New_York", "2026-07-01T12:00")));
        assert!(
            !s.is_armed(at("UTC", "2026-07-02T22:30")),
            "18:30 in New York"
        );
    }

    #[test]
    fn wrapping_day_ranges() {
        let s = ArmedSchedule::parse(&["Fri-Mon 10:00-11:00"], Some("UTC")).expect("parses");
        assert!(s.is_armed(at("UTC", "2026-11-29T10:30")), "Sunday");
        assert!(s.is_armed(at("UTC", "2026-11-30T10:30")), "Monday");
        assert!(!s.is_armed(at("UTC", "2026-11-25T10:30")), "Wednesday");
    }

    #[test]
    fn bad_spans_and_zones_say_what_is_wrong() {
        let cases: &[(&[&str], Option<&str>, &str)] = &[
            (&["Mon-Fri"], None, "needs days and hours"),
            (&["Funday 10:00-11:00"], None, "not a day"),
            (&["daily 10:00"], None, "not HH:MM-HH:MM"),
            (&["daily 25:00-26:00"], None, "not a time"),
            (&["daily 10:60-11:00"], None, "not a time"),
            (&["daily 10:00-10:00"], None, "the same"),
            (&["daily 24:00-01:00"], None, "cannot start at 24:00"),
            (&[], None, "no spans"),
            (&["daily 00:00-24:00"], Some("Mars/Olympus"), "unknown"),
        ];
        for (spans, zone, want) in cases {
            let e = ArmedSchedule::parse(spans, *zone)
                .expect_err("must fail")
                .to_string();
            assert!(e.contains(want), "{spans:?}: {e}");
        }
    }
}
