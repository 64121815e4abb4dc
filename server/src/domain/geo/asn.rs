//! The autonomous system an address belongs to: from a GeoLite2-ASN `.mmdb`, or from
//! ip-location-db's ASN table (CSV rows `start,end,asn,organisation`, the addresses either
//! as integers, the `-num` files, or as text).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use maxminddb::Reader;
use serde::Deserialize;

use super::GeoLoadError;

pub enum AsnTable {
    Mmdb(Reader<maxminddb::Mmap>),
    /// Sorted, non-overlapping ranges; looked up by binary search.
    Ranges(Ranges),
}

#[derive(Default)]
pub struct Ranges {
    v4: Vec<(u32, u32, u32, u32)>,
    v6: Vec<(u128, u128, u32, u32)>,
    /// Organisation names, interned: a few thousand names cover hundreds of thousands of rows.
    orgs: Vec<Arc<str>>,
}

#[derive(Deserialize)]
struct AsnRecord {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
}

impl AsnTable {
    pub fn open(path: &Path) -> Result<Self, GeoLoadError> {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("mmdb")) {
            let reader = super::map(path)?;
            super::probe(&reader)?;
            return Ok(AsnTable::Mmdb(reader));
        }
        let text = std::fs::read_to_string(path)?;
        Ok(AsnTable::Ranges(Ranges::parse(&text)?))
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<(u32, Option<String>)> {
        match self {
            AsnTable::Mmdb(reader) => {
                let record: AsnRecord = reader.lookup(ip).ok()?.decode().ok()??;
                Some((record.autonomous_system_number?, record.autonomous_system_organization))
            }
            AsnTable::Ranges(ranges) => ranges.lookup(ip),
        }
    }
}

impl Ranges {
    fn parse(text: &str) -> Result<Self, GeoLoadError> {
        let mut ranges = Ranges::default();
        let mut interned: HashMap<&str, u32> = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let bad = |problem: &str| GeoLoadError::Csv {
                line: index + 1,
                problem: problem.to_owned(),
            };
            let mut fields = line.splitn(4, ',');
            let (Some(start), Some(end), Some(asn), org) = (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected start,end,asn,organisation"));
            };
            let asn: u32 = asn.trim().parse().map_err(|_| bad("the AS number is not a number"))?;
            let org = unquote(org.unwrap_or("").trim());
            let next = ranges.orgs.len() as u32;
            let org_index = *interned.entry(org).or_insert(next);
            if org_index == next {
                ranges.orgs.push(Arc::from(org));
            }
            match (parse_address(start), parse_address(end)) {
                (Some(Address::V4(s)), Some(Address::V4(e))) if s <= e => ranges.v4.push((s, e, asn, org_index)),
                (Some(Address::V6(s)), Some(Address::V6(e))) if s <= e => ranges.v6.push((s, e, asn, org_index)),
                _ => return Err(bad("the range is not two addresses of one family, in order")),
            }
        }
        if ranges.v4.is_empty() && ranges.v6.is_empty() {
            return Err(GeoLoadError::Empty);
        }
        ranges.v4.sort_unstable_by_key(|r| r.0);
        ranges.v6.sort_unstable_by_key(|r| r.0);
        Ok(ranges)
    }

    fn lookup(&self, ip: IpAddr) -> Option<(u32, Option<String>)> {
        let (asn, org) = match ip {
            IpAddr::V4(v4) => find(&self.v4, u32::from(v4))?,
            IpAddr::V6(v6) => find(&self.v6, u128::from(v6))?,
        };
        let org = &self.orgs[org as usize];
        Some((asn, (!org.is_empty()).then(|| org.to_string())))
    }
}

/// The range holding `x`: the last one starting at or before it, if it also ends after it.
fn find<T: Ord + Copy>(ranges: &[(T, T, u32, u32)], x: T) -> Option<(u32, u32)> {
    let after = ranges.partition_point(|r| r.0 <= x);
    let (_, end, asn, org) = ranges.get(after.checked_sub(1)?)?;
    (x <= *end).then_some((*asn, *org))
}

enum Address {
    V4(u32),
    V6(u128),
}

/// An address as text (`1.0.0.0`, `2001::`) or as an integer (`16777216`). An integer
/// that fits 32 bits is IPv4: the `-num` files keep the families in separate files, and
/// no routed IPv6 address is that small.
fn parse_address(field: &str) -> Option<Address> {
    let field = field.trim();
    if let Ok(v4) = field.parse::<Ipv4Addr>() {
        return Some(Address::V4(v4.into()));
    }
    if let Ok(v6) = field.parse::<Ipv6Addr>() {
        return Some(Address::V6(v6.into()));
    }
    let n: u128 = field.parse().ok()?;
    Some(u32::try_from(n).map_or(Address::V6(n), Address::V4))
}

/// A CSV field without its quotes (`"Cloudflare, Inc."`), doubled quotes undone.
fn unquote(field: &str) -> &str {
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_find_the_right_row_and_nothing_between_rows() {
        let csv = "16777216,16777471,13335,\"Cloudflare, Inc.\"\n\
                   1.0.4.0,1.0.7.255,38803,Gtelecom Pty Ltd\n\
                   2001::,2001::ffff,6939,Hurricane Electric LLC\n";
        let table = Ranges::parse(csv).unwrap();
        let at = |s: &str| table.lookup(s.parse().unwrap());
        assert_eq!(at("1.0.0.0"), Some((13335, Some("Cloudflare, Inc.".into()))));
        assert_eq!(at("1.0.0.255").map(|r| r.0), Some(13335));
        assert_eq!(at("1.0.1.0"), None);
        assert_eq!(at("1.0.5.9").map(|r| r.0), Some(38803));
        assert_eq!(at("1.0.8.0"), None);
        assert_eq!(at("0.255.255.255"), None);
        assert_eq!(at("2001::1").map(|r| r.0), Some(6939));
        assert_eq!(at("2001::1:0"), None);
    }

    #[test]
    fn malformed_rows_name_their_line() {
        for bad in [
            "1,2\n",
            "1.0.0.0,1.0.0.255,x,Org\n",
            "2,1,5,Backwards\n",
            "1.0.0.0,2001::,5,Mixed\n",
        ] {
            assert!(
                matches!(Ranges::parse(bad), Err(GeoLoadError::Csv { line: 1, .. })),
                "{bad}"
            );
        }
        assert!(matches!(Ranges::parse("\n"), Err(GeoLoadError::Empty)));
    }
}
