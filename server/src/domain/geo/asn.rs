//! The autonomous system an address belongs to: from a GeoLite2-ASN `.mmdb`, or from
//! ip-location-db's ASN table (CSV rows `start,end,asn,organisation`, the addresses either
//! as integers, the `-num` files, or as text).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use maxminddb::Reader;
use serde::Deserialize;

use super::GeoLoadError;

pub enum AsnTable {
    Mmdb(Reader<maxminddb::Mmap>),
    /// Sorted, non-overlapping ranges; looked up by binary search.
    Ranges(Ranges),
}

/// The CSV table in memory: about 20 bytes per range (half a million ranges), because it
/// stays resident for the life of the process.
#[derive(Default)]
pub struct Ranges {
    v4: Column<u32>,
    /// IPv6 ranges on /64 boundaries, by their upper 64 bits: nearly all of them, since
    /// routed prefixes are /64 or shorter.
    v6: Column<u64>,
    /// The other IPv6 ranges, whole.
    v6_exact: Column<u128>,
    orgs: Organisations,
}

/// Sorted, non-overlapping ranges of one address width, as parallel columns (no padding).
#[derive(Default)]
struct Column<T> {
    starts: Vec<T>,
    ends: Vec<T>,
    asns: Vec<u32>,
}

impl<T: Ord + Copy> Column<T> {
    fn from_rows(mut rows: Vec<(T, T, u32)>) -> Self {
        rows.sort_unstable_by_key(|r| r.0);
        Self {
            starts: rows.iter().map(|r| r.0).collect(),
            ends: rows.iter().map(|r| r.1).collect(),
            asns: rows.iter().map(|r| r.2).collect(),
        }
    }

    /// The AS number of the range holding `x`: the last one starting at or before it, if
    /// it also ends after it.
    fn find(&self, x: T) -> Option<u32> {
        let index = self.starts.partition_point(|s| *s <= x).checked_sub(1)?;
        (x <= self.ends[index]).then(|| self.asns[index])
    }

    fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

/// Each AS number's organisation (the first name the table gives it), the names in one
/// string: a few tens of thousands of names, each shared by many ranges.
#[derive(Default)]
struct Organisations {
    /// Sorted.
    asns: Vec<u32>,
    /// Where each name ends in `names`; it starts where the previous one ends.
    ends: Vec<u32>,
    names: String,
}

impl Organisations {
    fn new(mut by_asn: Vec<(u32, &str)>) -> Self {
        by_asn.sort_unstable_by_key(|(asn, _)| *asn);
        let mut orgs = Self {
            asns: Vec::with_capacity(by_asn.len()),
            ends: Vec::with_capacity(by_asn.len()),
            names: String::with_capacity(by_asn.iter().map(|(_, name)| name.len()).sum()),
        };
        for (asn, name) in by_asn {
            orgs.names.push_str(name);
            orgs.asns.push(asn);
            orgs.ends.push(u32::try_from(orgs.names.len()).unwrap_or(u32::MAX));
        }
        orgs
    }

    fn name(&self, asn: u32) -> Option<&str> {
        let index = self.asns.binary_search(&asn).ok()?;
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]) as usize;
        self.names.get(start..self.ends[index] as usize)
    }
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
        let (mut v4, mut v6, mut v6_exact) = (Vec::new(), Vec::new(), Vec::new());
        let mut names: HashMap<u32, &str> = HashMap::new();
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
            names.entry(asn).or_insert_with(|| unquote(org.unwrap_or("").trim()));
            match (parse_address(start), parse_address(end)) {
                (Some(Address::V4(s)), Some(Address::V4(e))) if s <= e => v4.push((s, e, asn)),
                (Some(Address::V6(s)), Some(Address::V6(e))) if s <= e => {
                    const LOW: u128 = u64::MAX as u128;
                    if s & LOW == 0 && e & LOW == LOW {
                        v6.push(((s >> 64) as u64, (e >> 64) as u64, asn));
                    } else {
                        v6_exact.push((s, e, asn));
                    }
                }
                _ => return Err(bad("the range is not two addresses of one family, in order")),
            }
        }
        if v4.is_empty() && v6.is_empty() && v6_exact.is_empty() {
            return Err(GeoLoadError::Empty);
        }
        Ok(Self {
            v4: Column::from_rows(v4),
            v6: Column::from_rows(v6),
            v6_exact: Column::from_rows(v6_exact),
            orgs: Organisations::new(names.into_iter().collect()),
        })
    }

    fn lookup(&self, ip: IpAddr) -> Option<(u32, Option<String>)> {
        let asn = match ip {
            IpAddr::V4(v4) => self.v4.find(u32::from(v4))?,
            IpAddr::V6(v6) => {
                let address = u128::from(v6);
                let exact = (!self.v6_exact.is_empty())
                    .then(|| self.v6_exact.find(address))
                    .flatten();
                exact.or_else(|| self.v6.find((address >> 64) as u64))?
            }
        };
        let org = self.orgs.name(asn).filter(|name| !name.is_empty());
        Some((asn, org.map(str::to_owned)))
    }
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
    fn whole_64s_and_odd_ipv6_ranges_are_both_exact() {
        let csv = "2a00::,2a00:0:0:ff:ffff:ffff:ffff:ffff,100,Wide\n\
                   2a00:0:0:100::,2a00:0:0:100::7,200,Narrow\n\
                   2a00:0:0:100::8,2a00:0:0:1ff:ffff:ffff:ffff:ffff,300,Odd end\n\
                   2a00:0:0:200::,2a00:0:0:2ff:ffff:ffff:ffff:ffff,400,\n";
        let table = Ranges::parse(csv).unwrap();
        let at = |s: &str| table.lookup(s.parse().unwrap());
        assert_eq!(at("2a00::"), Some((100, Some("Wide".into()))));
        assert_eq!(at("2a00:0:0:ff:ffff:ffff:ffff:ffff").map(|r| r.0), Some(100));
        assert_eq!(at("2a00:0:0:100::7").map(|r| r.0), Some(200));
        assert_eq!(at("2a00:0:0:100::8").map(|r| r.0), Some(300));
        assert_eq!(at("2a00:0:0:1ff::1"), Some((300, Some("Odd end".into()))));
        assert_eq!(at("2a00:0:0:2ab::1"), Some((400, None)));
        assert_eq!(at("2a00:0:0:300::"), None);
        assert_eq!(at("1.2.3.4"), None);
    }

    #[test]
    fn an_as_number_keeps_the_first_name_it_was_given() {
        let table = Ranges::parse("1.0.0.0,1.0.0.255,7,First\n2.0.0.0,2.0.0.255,7,Second\n").unwrap();
        assert_eq!(
            table.lookup("2.0.0.1".parse().unwrap()),
            Some((7, Some("First".into())))
        );
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
