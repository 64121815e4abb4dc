//! User agents: parsing any string gives a device with a readable label, and the stored
//! user agent is bounded.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use server::domain::client::ClientInfo;
use server::domain::device::Device;

fuzz_target!(|data: &[u8]| {
    let ua = String::from_utf8_lossy(data);
    let device = Device::parse(&ua);
    assert!(!device.label().is_empty());
    let client = ClientInfo::new(IpAddr::V4(Ipv4Addr::LOCALHOST), Some(&ua));
    assert!(client.device.chars().count() <= server::domain::client::MAX_DEVICE_CHARS);
    assert!(!client.device.chars().any(char::is_control));
});
