//! The one date format S3 lists objects with (ISO 8601, UTC), to Unix seconds, so
//! garbage collection can compare ages without a date library.

/// `2026-11-22T10:04:05.000Z` → Unix seconds; `None` for anything else.
pub fn unix_seconds(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_dates() {
        assert_eq!(super::unix_seconds("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            super::unix_seconds("2024-02-29T12:34:56Z"),
            Some(1_709_210_096)
        );
        assert_eq!(super::unix_seconds("yesterday"), None);
    }
}
