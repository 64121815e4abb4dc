//! Facts about the client making a request: its address and its user agent.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::domain::proof::Presented;

/// Stored user-agent strings are cut to this many characters.
pub const MAX_DEVICE_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: IpAddr,
    /// The User-Agent, trimmed and bounded; "Unknown" when absent.
    pub device: String,
    /// The SHA-256 of the browser's long-lived device cookie, if it sent one.
    pub device_cookie: Option<String>,
    /// Whether the response will set cookies (a browser, cookie delivery): only then is a
    /// device cookie issued.
    pub takes_cookies: bool,
    /// The device proof the request carried (its `DPoP` header), not yet checked.
    pub device_proof: Option<Presented>,
    /// A DBSC proof (the `Secure-Session-Response` header), not yet checked.
    pub session_response: Option<String>,
}

impl ClientInfo {
    pub fn new(ip: IpAddr, user_agent: Option<&str>) -> Self {
        let device = user_agent
            .map(|ua| {
                ua.trim()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_DEVICE_CHARS)
                    .collect::<String>()
            })
            .filter(|ua| !ua.is_empty())
            .unwrap_or_else(|| "Unknown".to_owned());
        Self {
            ip,
            device,
            device_cookie: None,
            takes_cookies: false,
            device_proof: None,
            session_response: None,
        }
    }

    /// A client whose response sets cookies (a browser).
    pub fn taking_cookies(mut self, yes: bool) -> Self {
        self.takes_cookies = yes;
        self
    }

    /// The client, with the device proof its request carried.
    pub fn with_device_proof(mut self, proof: Option<Presented>) -> Self {
        self.device_proof = proof;
        self
    }

    /// The client, with the DBSC proof its request carried.
    pub fn with_session_response(mut self, response: Option<&str>) -> Self {
        self.session_response = response.map(str::to_owned);
        self
    }

    /// The client, recognised by its device cookie (stored and compared only as a hash).
    pub fn with_device_cookie(mut self, cookie: Option<&str>) -> Self {
        self.device_cookie = cookie.map(hash_device_cookie);
        self
    }
}

/// How a device cookie is stored and compared: its hex SHA-256 (the cookie is 256 random
/// bits, so a plain hash is enough).
pub fn hash_device_cookie(cookie: &str) -> String {
    crate::domain::token::sha256_hex(cookie)
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` hop that is not itself a trusted proxy.
///
/// Right-most, not left-most: every hop appends, so only the entries our own proxies added
/// can be believed; anything to their left is whatever the client chose to send.
pub fn client_ip<'a>(peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| is_trusted_proxy(*ip, trusted);
    if !is_trusted(&peer) {
        return canonical(peer);
    }
    let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|header| header.split(',')).collect();
    let mut client = canonical(peer);
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A garbled hop means the chain cannot be followed further.
            None => break,
        }
    }
    client
}

/// Whether `ip` is one of the configured proxies, whose forwarding headers are believed.
pub fn is_trusted_proxy(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&canonical(ip)))
}

/// One `X-Forwarded-For` entry: an address, possibly with a port or brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sock.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse().ok())
        .map(canonical)
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) become plain IPv4, so one client has one form.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Parses a comma-separated CIDR list such as `10.0.0.0/8, 127.0.0.1`; a bare address is a
/// network of one.
pub fn parse_cidr_list(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("not a CIDR or address: {s:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        assert_eq!(client_ip(ip("127.0.0.1"), ["81.2.69.142"], &[]), ip("127.0.0.1"));
    }

    #[test]
    fn a_trusted_proxy_yields_the_rightmost_untrusted_hop() {
        let trusted = parse_cidr_list("127.0.0.1/32, 10.0.0.0/8").unwrap();
        assert_eq!(client_ip(ip("127.0.0.1"), ["81.2.69.142"], &trusted), ip("81.2.69.142"));
        // The client forged the first entry; our proxy at 10.1.1.1 appended the real one.
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["6.6.6.6, 81.2.69.142, 10.1.1.1"], &trusted),
            ip("81.2.69.142")
        );
        // Several headers are one list, in order.
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["6.6.6.6", "81.2.69.142"], &trusted),
            ip("81.2.69.142")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["[2001:db8::1]:443"], &trusted),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn garbage_or_missing_headers_fall_back_safely() {
        let trusted = parse_cidr_list("127.0.0.1").unwrap();
        assert_eq!(client_ip(ip("127.0.0.1"), ["not-an-ip"], &trusted), ip("127.0.0.1"));
        assert_eq!(
            client_ip(ip("127.0.0.1"), std::iter::empty(), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["1.2.3.4, garbage"], &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn mapped_addresses_are_canonical() {
        assert_eq!(
            client_ip(
                ip("::ffff:127.0.0.1"),
                ["9.9.9.9"],
                &parse_cidr_list("127.0.0.0/8").unwrap()
            ),
            ip("9.9.9.9")
        );
        assert_eq!(client_ip(ip("::ffff:8.8.8.8"), std::iter::empty(), &[]), ip("8.8.8.8"));
    }

    #[test]
    fn cidr_lists_parse_or_explain() {
        assert_eq!(parse_cidr_list("").unwrap(), vec![]);
        assert!(parse_cidr_list("10.0.0.0/8,nonsense").unwrap_err().contains("nonsense"));
    }

    #[test]
    fn user_agents_are_bounded_and_defaulted() {
        assert_eq!(ClientInfo::new(ip("1.1.1.1"), None).device, "Unknown");
        assert_eq!(ClientInfo::new(ip("1.1.1.1"), Some("  ")).device, "Unknown");
        assert_eq!(
            ClientInfo::new(ip("1.1.1.1"), Some(&"x".repeat(1000))).device.len(),
            MAX_DEVICE_CHARS
        );
        assert_eq!(ClientInfo::new(ip("1.1.1.1"), Some("a\u{0}b\nc")).device, "abc");
    }

    proptest! {
        #[test]
        fn any_header_resolves_to_the_peer_or_an_address_in_it(header in ".{0,200}") {
            let trusted = parse_cidr_list("127.0.0.1").unwrap();
            let got = client_ip(ip("127.0.0.1"), [header.as_str()], &trusted);
            prop_assert!(got == ip("127.0.0.1") || header.contains(&got.to_string()) || header.contains(']'));
        }
    }
}
