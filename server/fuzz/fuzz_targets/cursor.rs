//! Pagination cursors from query strings: only positive ids come out, and every cursor the
//! server writes reads back as its id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::http::{cursor, parse_cursor};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Some(id) = parse_cursor(&raw) {
        assert!(id > 0);
        assert_eq!(parse_cursor(&cursor(id)), Some(id));
    }
});
