//! Risk corpora (`risk-eval --corpus`): any bytes give rows or a format error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::risk_eval::parse_corpus;

fuzz_target!(|data: &[u8]| {
    let _ = parse_corpus(data);
});
