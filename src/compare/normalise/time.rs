//! Timestamps as real frameworks write them, parsed into a [`Stamp`] that remembers how it
//! was written (zone or not, fractional digits) so relations and precision can be compared.
//!
//! Recognised: ISO 8601 / RFC 3339 date-times with `T`, `t` or a space between date and
//! time, optional seconds, any number of fractional digits (`.` or `,`), and a zone that is
//! absent (naive), `Z`, `UTC`, `GMT` or `±HH`, `±HHMM`, `±HH:MM` (optionally after a
//! space); RFC 2822 / HTTP dates (`Sun, 22 Nov 2026 10:49:54 GMT`). Under an explicit rule
//! also a bare date (`2026-11-22`) and Unix epoch numbers (seconds or milliseconds). Pure
//! string and number inspection: no clock, no I/O.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::Value;

/// Strings longer than this are never timestamps (keeps the detectors cheap).
const MAX_LEN: usize = 64;
/// Epoch seconds below this bound are seconds (year 5138); milliseconds start there.
const EPOCH_S_MAX: f64 = 1e11;
/// Epoch milliseconds below this bound (year 5138 in milliseconds).
const EPOCH_MS_MAX: f64 = 1e14;

/// A parsed timestamp and how it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The date and time as written (local to `offset` when there is one).
    pub local: NaiveDateTime,
    /// The UTC offset in seconds; `None` for a naive timestamp.
    pub offset: Option<i32>,
    /// Fractional second digits as written (0 = whole seconds).
    pub digits: u8,
    /// A bare date (no time of day).
    pub date_only: bool,
}

impl Stamp {
    /// Order two stamps: by instant when both have a zone, else as written (a naive
    /// timestamp is compared with the other side's date and time as written).
    pub fn cmp_written(&self, other: &Stamp) -> Ordering {
        match (self.offset, other.offset) {
            (Some(a), Some(b)) => self.utc(a).cmp(&other.utc(b)),
            _ => self.local.cmp(&other.local),
        }
    }

    /// The stamp with its fraction cut to `digits` fractional digits (relations between
    /// values written with different precisions are compared at the coarser one).
    pub fn truncated(&self, digits: u8) -> Stamp {
        let mut out = *self;
        if digits < 9 {
            let unit = 10u32.pow(9 - u32::from(digits));
            let nanos = self.local.and_utc().timestamp_subsec_nanos();
            let keep = nanos - nanos % unit;
            out.local = self.local - chrono::Duration::nanoseconds(i64::from(nanos - keep));
        }
        out
    }

    fn utc(&self, offset: i32) -> NaiveDateTime {
        self.local - chrono::Duration::seconds(i64::from(offset))
    }

    /// What a precision change compares: bare date, fractional seconds, zone.
    pub fn precision_class(&self) -> (bool, bool, bool) {
        (self.date_only, self.digits > 0, self.offset.is_some())
    }

    /// `6 fractional digits, with zone`, `whole seconds, no zone`, `date only`.
    pub fn precision(&self) -> String {
        if self.date_only {
            return "date only".into();
        }
        let digits = match self.digits {
            0 => "whole seconds".to_string(),
            1 => "1 fractional digit".to_string(),
            n => format!("{n} fractional digits"),
        };
        let zone = if self.offset.is_some() {
            "with zone"
        } else {
            "no zone"
        };
        format!("{digits}, {zone}")
    }
}

/// What a detector accepts: automatic detection or an explicit `normalise` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Date-time strings only (ISO with a time of day, RFC 2822 / HTTP dates).
    Automatic,
    /// `as = "timestamp"`: strings as above, bare dates, and epoch numbers by magnitude.
    Timestamp,
    /// `as = "epoch_s"`: seconds (number or digit string).
    EpochS,
    /// `as = "epoch_ms"`: milliseconds (number or digit string).
    EpochMs,
}

/// The stamp a JSON value stands for under `accept`, if any.
pub fn stamp(v: &Value, accept: Accept) -> Option<Stamp> {
    match (v, accept) {
        (Value::String(s), Accept::Automatic) => text(s),
        (Value::String(s), Accept::Timestamp) => text(s).or_else(|| date(s)),
        (Value::String(s), Accept::EpochS | Accept::EpochMs) => {
            if s.is_empty() || s.len() > 20 || !s.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            epoch(s.parse::<f64>().ok()?, 0, accept)
        }
        (Value::Number(n), Accept::Timestamp | Accept::EpochS | Accept::EpochMs) => {
            let written = n.to_string();
            let digits = written
                .split_once('.')
                .map_or(0, |(_, f)| f.bytes().take_while(u8::is_ascii_digit).count());
            epoch(n.as_f64()?, digits, accept)
        }
        _ => None,
    }
}

/// A date-time string: ISO 8601 (zoned or naive) or RFC 2822 / HTTP date.
pub fn text(s: &str) -> Option<Stamp> {
    if s.len() < 16 || s.len() > MAX_LEN {
        return None;
    }
    let first = *s.as_bytes().first()?;
    if first.is_ascii_digit() && s.as_bytes().get(4) == Some(&b'-') {
        return iso(s);
    }
    if first.is_ascii_alphabetic() || first.is_ascii_digit() {
        return rfc2822(s);
    }
    None
}

fn epoch(x: f64, written_digits: usize, accept: Accept) -> Option<Stamp> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let (secs, digits) = match accept {
        Accept::EpochS if x < EPOCH_S_MAX => (x, written_digits),
        Accept::EpochMs if x < EPOCH_MS_MAX => (x / 1000.0, written_digits + 3),
        // By magnitude: 1e8 s is 1973; below that a number is more likely a count.
        Accept::Timestamp if (1e8..EPOCH_S_MAX).contains(&x) => (x, written_digits),
        Accept::Timestamp if (EPOCH_S_MAX..EPOCH_MS_MAX).contains(&x) => {
            (x / 1000.0, written_digits + 3)
        }
        _ => return None,
    };
    let whole = secs.trunc();
    let nanos = ((secs - whole) * 1e9).round().clamp(0.0, 999_999_999.0) as u32;
    let at = DateTime::from_timestamp(whole as i64, nanos)?;
    Some(Stamp {
        local: at.naive_utc(),
        offset: Some(0),
        digits: digits.min(18) as u8,
        date_only: false,
    })
}

fn digits_at(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(part.iter().fold(0, |acc, c| acc * 10 + u32::from(c - b'0')))
}

fn ymd(b: &[u8]) -> Option<NaiveDate> {
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let year = i32::try_from(digits_at(b, 0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits_at(b, 5, 2)?, digits_at(b, 8, 2)?)
}

/// `2026-11-22` (explicit rules only).
fn date(s: &str) -> Option<Stamp> {
    let b = s.as_bytes();
    if b.len() != 10 {
        return None;
    }
    Some(Stamp {
        local: ymd(b)?.and_time(NaiveTime::MIN),
        offset: None,
        digits: 0,
        date_only: true,
    })
}

/// ISO 8601 date and time, zone optional.
fn iso(s: &str) -> Option<Stamp> {
    let b = s.as_bytes();
    let day = ymd(b)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let (hour, minute) = (digits_at(b, 11, 2)?, digits_at(b, 14, 2)?);
    let mut pos = 16;
    let mut second = 0;
    if b.get(pos) == Some(&b':') {
        second = digits_at(b, pos + 1, 2)?;
        pos += 3;
    }
    let mut nanos = 0u32;
    let mut digits = 0usize;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            if digits < 9 {
                nanos = nanos * 10 + u32::from(b[pos] - b'0');
            }
            digits += 1;
            pos += 1;
        }
        if pos == start {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    // A leap second (`:60`) is kept as chrono does: the 59th second plus one.
    let time = if second == 60 {
        NaiveTime::from_hms_nano_opt(hour, minute, 59, 1_000_000_000 + nanos)?
    } else {
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?
    };
    let offset = zone(&s[pos..])?;
    Some(Stamp {
        local: day.and_time(time),
        offset,
        digits: digits.min(u8::MAX as usize) as u8,
        date_only: false,
    })
}

/// The zone suffix: `Some(None)` when absent, `Some(Some(seconds))` when valid.
fn zone(rest: &str) -> Option<Option<i32>> {
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    match rest {
        "" => return Some(None),
        "Z" | "z" | "UTC" | "GMT" => return Some(Some(0)),
        _ => {}
    }
    let b = rest.as_bytes();
    let sign = match b.first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    let hours = digits_at(b, 1, 2)?;
    let minutes = match b.len() {
        3 => 0,
        5 => digits_at(b, 3, 2)?,
        6 if b[3] == b':' => digits_at(b, 4, 2)?,
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(Some(sign * (hours as i32 * 3600 + minutes as i32 * 60)))
}

/// RFC 2822 / HTTP date (`Sun, 22 Nov 2026 10:49:54 GMT`, `... +0000`).
fn rfc2822(s: &str) -> Option<Stamp> {
    if !s.contains(':') {
        return None;
    }
    let at = DateTime::parse_from_rfc2822(s).ok()?;
    Some(Stamp {
        local: at.naive_local(),
        offset: Some(at.offset().local_minus_utc()),
        digits: 0,
        date_only: false,
    })
}
