//! Times as every page shows them. (Event types, decisions and verdicts say themselves in
//! words: `crate::wire`.)

/// "2026-11-25 07:12 UTC" from an RFC 3339 UTC string.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// Unix seconds of an RFC 3339 time, as the platform reads it: the browser's own `Date`,
/// or chrono on the server while it renders.
pub fn epoch_seconds(rfc3339: &str) -> Option<i64> {
    #[cfg(feature = "browser")]
    {
        let millis = js_sys::Date::parse(rfc3339);
        millis.is_finite().then(|| (millis / 1000.0).floor() as i64)
    }
    #[cfg(all(feature = "ssr", not(feature = "browser")))]
    {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .ok()
            .map(|t| t.timestamp())
    }
    #[cfg(not(any(feature = "ssr", feature = "browser")))]
    {
        let _ = rfc3339;
        None
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::{epoch_seconds, short_time};

    #[test]
    fn times_read_and_shown() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_seconds("2026-11-25T12:34:56Z"), Some(1_795_610_096));
        assert_eq!(epoch_seconds("not a time"), None);
        assert_eq!(short_time("2026-11-25T07:12:00Z"), "2026-11-25 07:12 UTC");
    }
}
