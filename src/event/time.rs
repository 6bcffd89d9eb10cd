//! Timestamps: parsing client times, clock-skew correction and formatting.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Timestamp = DateTime<Utc>;

/// Parses an RFC 3339 / ISO 8601 date-time with an offset.
pub fn parse(text: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats as `2024-05-01T12:00:00.123Z`.
pub fn format(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The same text as [`format`], written into a stack buffer (no allocation;
/// this runs several times per event).
pub fn format_into<'b>(t: &Timestamp, buf: &'b mut [u8; 24]) -> &'b str {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) {
        // Outside four-digit years fall back to chrono (never on real data).
        let s = format(t);
        let n = s.len().min(24);
        buf[..n].copy_from_slice(&s.as_bytes()[..n]);
        return std::str::from_utf8(&buf[..n]).unwrap_or_default();
    }
    let digits = |buf: &mut [u8; 24], at: usize, width: usize, mut v: u32| {
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    *buf = *b"0000-00-00T00:00:00.000Z";
    digits(buf, 0, 4, year.unsigned_abs());
    digits(buf, 5, 2, t.month());
    digits(buf, 8, 2, t.day());
    digits(buf, 11, 2, t.hour());
    digits(buf, 14, 2, t.minute());
    digits(buf, 17, 2, t.second().min(59));
    digits(buf, 20, 3, (t.nanosecond() / 1_000_000).min(999));
    std::str::from_utf8(&buf[..]).unwrap_or_default()
}

/// When the event really happened, by the server's clock.
///
/// With the client's send time, the client clock's offset is removed:
/// `received − (sentAt − happenedAt)`. The result never lies in the future
/// (after `received`).
pub fn corrected(
    happened: Option<Timestamp>,
    sent: Option<Timestamp>,
    received: Timestamp,
) -> Timestamp {
    let t = match (happened, sent) {
        (Some(h), Some(s)) => received - (s - h),
        (Some(h), None) => h,
        (None, _) => received,
    };
    // Never after the receive time; never before the Unix epoch (a wild
    // client clock must not produce an unrepresentable year).
    t.min(received).max(DateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(s: &str) -> Timestamp {
        parse(s).expect("valid time")
    }

    #[test]
    fn fast_client_clock_is_corrected() {
        let received = at("2024-05-01T12:00:00Z");
        // Client clock one hour fast: it thinks it sent at 13:00:05 an event of 13:00:00.
        let t = corrected(
            Some(at("2024-05-01T13:00:00Z")),
            Some(at("2024-05-01T13:00:05Z")),
            received,
        );
        assert_eq!(t, received - Duration::seconds(5));
    }

    #[test]
    fn future_timestamps_are_clamped() {
        let received = at("2024-05-01T12:00:00Z");
        assert_eq!(
            corrected(Some(at("2030-01-01T00:00:00Z")), None, received),
            received
        );
        // sentAt before the event time would also push it into the future.
        let t = corrected(
            Some(at("2024-05-01T12:00:10Z")),
            Some(at("2024-05-01T12:00:00Z")),
            received,
        );
        assert_eq!(t, received);
    }

    #[test]
    fn a_wild_client_clock_cannot_leave_the_epoch() {
        let received = at("2024-05-01T12:00:00Z");
        let t = corrected(
            Some(at("0001-01-01T00:00:00Z")),
            Some(at("9999-12-31T23:59:59Z")),
            received,
        );
        assert_eq!(t, DateTime::UNIX_EPOCH);
        let mut buf = [0u8; 24];
        assert_eq!(format_into(&t, &mut buf), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn missing_time_is_receive_time() {
        let received = at("2024-05-01T12:00:00Z");
        assert_eq!(
            corrected(None, Some(at("2024-05-01T12:00:00Z")), received),
            received
        );
    }

    #[test]
    fn stack_formatter_matches_chrono() {
        let mut buf = [0u8; 24];
        for text in [
            "2024-05-01T14:00:00.5+02:00",
            "1999-12-31T23:59:59.999Z",
            "2030-01-02T03:04:05.006Z",
            "0001-01-01T00:00:00Z",
        ] {
            let t = at(text);
            assert_eq!(format_into(&t, &mut buf), format(&t), "{text}");
        }
    }

    #[test]
    fn offsets_and_formats() {
        assert_eq!(
            format(&at("2024-05-01T14:00:00.5+02:00")),
            "2024-05-01T12:00:00.500Z"
        );
        assert!(parse("yesterday").is_none());
        assert!(parse("2024-05-01").is_none());
    }
}
