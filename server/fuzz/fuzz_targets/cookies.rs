//! `Cookie` headers: whatever the browser (or an attacker) sends, reading the session and
//! device cookies never panics and returns only a value that was in the header.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use server::edge::cookies::Cookies;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for part in data.split(|b| *b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(part) {
            headers.append(header::COOKIE, value);
        }
    }
    for cookies in [Cookies::new(true), Cookies::new(false)] {
        for value in [
            cookies.read_access(&headers),
            cookies.read_refresh(&headers),
            cookies.read_device(&headers),
        ]
        .into_iter()
        .flatten()
        {
            assert!(!value.contains(';'));
            assert!(
                headers
                    .get_all(header::COOKIE)
                    .iter()
                    .any(|h| h.to_str().is_ok_and(|h| h.contains(value)))
            );
        }
    }
});
