//! `X-Forwarded-For`: the client address is always the peer or an address written in the
//! header, and an untrusted peer's header is never believed.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use server::domain::client::{canonical, client_ip};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let headers: Vec<&str> = text.split('\n').collect();
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    let peer = if selector % 2 == 0 {
        IpAddr::V4(Ipv4Addr::new(10, 1, 2, selector))
    } else {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, selector))
    };
    let client = client_ip(peer, headers.iter().copied(), &trusted);
    if selector % 2 == 1 {
        assert_eq!(client, peer, "an untrusted peer is the client, whatever it claims");
    } else if client != canonical(peer) {
        let written: Vec<IpAddr> = headers
            .iter()
            .flat_map(|h| h.split(','))
            .filter_map(|hop| {
                let hop = hop.trim();
                hop.parse::<IpAddr>()
                    .ok()
                    .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
                    .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
            })
            .map(canonical)
            .collect();
        assert!(written.contains(&client), "{client} came from nowhere");
    }
});
