//! A minimal MaxMind DB (MMDB format v2.0) writer, meant only for building small fixture databases in tests of a
//! geolocation reader, so those tests need no licensed GeoIP2/GeoLite2 file.
//!
//! It writes an IPv6 tree (`ip_version` 6, 28-bit records) with IPv4 networks placed under `::/96`, one data record
//! per entry (no deduplication, no pointers). Spec: <https://maxmind.github.io/MaxMind-DB/>.

use serde_json::Value;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

const RECORD_SIZE: u16 = 28;
const NODE_BYTES: usize = 7; // two 28-bit records
const SEPARATOR_LEN: usize = 16;
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

// Data-section type numbers from the spec. Those above 7 are "extended" types.
const T_STRING: u8 = 2;
const T_DOUBLE: u8 = 3;
const T_UINT16: u8 = 5;
const T_UINT32: u8 = 6;
const T_MAP: u8 = 7;
const T_INT32: u8 = 8;
const T_UINT64: u8 = 9;
const T_ARRAY: u8 = 11;
const T_BOOL: u8 = 14;

/// One record of a search-tree node: no data, an entry's data record (by entry index), or another node (by id).
#[derive(Clone, Copy)]
enum Record {
    Empty,
    Data(usize),
    Node(usize),
}

/// Writes an MMDB file holding `entries` (network, record). IPv6 tree (ip_version 6) with IPv4 networks mapped into
/// ::/96 (so IPv4 lookups work as in real databases: the maxminddb reader looks IPv4 up under ::a.b.c.d when
/// ip_version is 6), record size 28 bits.
///
/// # Panics
/// On a prefix length of 0 or beyond the address width, on JSON `null` (MMDB has no null type), on a negative
/// integer outside `i32`, or if the database outgrows 28-bit records.
pub fn write_mmdb(database_type: &str, entries: &[(IpAddr, u8 /*prefix len*/, serde_json::Value)]) -> Vec<u8> {
    // Broader networks first, so a more specific one inserted later overrides just its part of the tree.
    // The sort is stable, so of two identical networks the later entry wins.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| tree_prefix(&entries[i]).1);

    // Node ids are indices into `nodes`; the root must be node 0, other ids may come in any order.
    let mut nodes = vec![[Record::Empty; 2]];
    for i in order {
        let (bits, prefix) = tree_prefix(&entries[i]);
        assert!(prefix > 0, "a /0 network is not supported (the root must stay a node)");
        let mut cur = 0;
        for depth in 0..prefix {
            let bit = ((bits >> (127 - depth)) & 1) as usize;
            if depth + 1 == prefix {
                nodes[cur][bit] = Record::Data(i);
                break;
            }
            cur = match nodes[cur][bit] {
                Record::Node(next) => next,
                // Split a leaf: both halves keep the broader network's answer until overridden further down.
                leaf => {
                    nodes.push([leaf; 2]);
                    nodes[cur][bit] = Record::Node(nodes.len() - 1);
                    nodes.len() - 1
                }
            };
        }
    }
    let node_count = nodes.len();

    let mut data = Vec::new();
    let mut offsets = Vec::with_capacity(entries.len());
    for (_, _, value) in entries {
        offsets.push(data.len());
        encode_value(&mut data, value);
    }

    // Record values: < node_count is a node id, == node_count means "no data", above that points into the data
    // section, offset by node_count and the 16-byte separator.
    let record_value = |rec: Record| -> u32 {
        let v = match rec {
            Record::Empty => node_count,
            Record::Data(i) => node_count + SEPARATOR_LEN + offsets[i],
            Record::Node(id) => id,
        };
        assert!(v < 1 << RECORD_SIZE, "database too large for 28-bit records");
        v as u32
    };
    let mut out = Vec::with_capacity(node_count * NODE_BYTES + SEPARATOR_LEN + data.len() + 256);
    for [left, right] in &nodes {
        // 28-bit layout: left's low 24 bits, one byte (left's top nibble, right's top nibble), right's low 24 bits.
        let (l, r) = (record_value(*left).to_be_bytes(), record_value(*right).to_be_bytes());
        out.extend_from_slice(&l[1..]);
        out.push((l[0] << 4) | r[0]);
        out.extend_from_slice(&r[1..]);
    }
    out.extend_from_slice(&[0; SEPARATOR_LEN]);
    out.extend_from_slice(&data);
    out.extend_from_slice(METADATA_MARKER);
    encode_metadata(&mut out, database_type, node_count as u32);
    out
}

/// The network as 128 tree bits (IPv4 lands in `::/96`) and its prefix length in the tree.
fn tree_prefix((addr, prefix, _): &(IpAddr, u8, Value)) -> (u128, u32) {
    match addr {
        IpAddr::V4(a) => {
            assert!(*prefix <= 32, "IPv4 prefix /{prefix} out of range");
            (u128::from(u32::from(*a)), u32::from(*prefix) + 96)
        }
        IpAddr::V6(a) => {
            assert!(*prefix <= 128, "IPv6 prefix /{prefix} out of range");
            (u128::from(*a), u32::from(*prefix))
        }
    }
}

fn encode_metadata(out: &mut Vec<u8>, database_type: &str, node_count: u32) {
    // Typed by hand: the spec fixes uint16/uint32/uint64 here, and strict readers check those types.
    let build_epoch = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    control(out, T_MAP, 9);
    let uint = |out: &mut Vec<u8>, key: &str, t: u8, v: u64| {
        encode_str(out, key);
        encode_uint(out, t, v);
    };
    uint(out, "node_count", T_UINT32, node_count.into());
    uint(out, "record_size", T_UINT16, RECORD_SIZE.into());
    uint(out, "ip_version", T_UINT16, 6);
    uint(out, "binary_format_major_version", T_UINT16, 2);
    uint(out, "binary_format_minor_version", T_UINT16, 0);
    uint(out, "build_epoch", T_UINT64, build_epoch);
    encode_str(out, "database_type");
    encode_str(out, database_type);
    encode_str(out, "languages");
    control(out, T_ARRAY, 1);
    encode_str(out, "en");
    encode_str(out, "description");
    control(out, T_MAP, 1);
    encode_str(out, "en");
    encode_str(out, &format!("{database_type} test fixture"));
}

fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => panic!("MMDB has no null type"),
        Value::Bool(b) => control(out, T_BOOL, usize::from(*b)), // the value lives in the size field
        Value::String(s) => encode_str(out, s),
        // A JSON number written with a fraction or exponent (serde_json's f64) stays a double, even 0.0, so that
        // coordinates like longitude 0.0 keep their type.
        Value::Number(n) if n.is_f64() => {
            control(out, T_DOUBLE, 8);
            out.extend_from_slice(&n.as_f64().unwrap_or_default().to_be_bytes());
        }
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) if u <= u32::MAX.into() => encode_uint(out, T_UINT32, u),
            (Some(u), _) => encode_uint(out, T_UINT64, u),
            (None, Some(i)) => {
                let i = i32::try_from(i).unwrap_or_else(|_| panic!("{i} does not fit an MMDB int32"));
                // Negative values need all 4 bytes: readers zero-pad shorter int32s rather than sign-extend.
                control(out, T_INT32, 4);
                out.extend_from_slice(&i.to_be_bytes());
            }
            _ => unreachable!("serde_json numbers are u64, i64 or f64"),
        },
        Value::Array(items) => {
            control(out, T_ARRAY, items.len());
            items.iter().for_each(|item| encode_value(out, item));
        }
        Value::Object(map) => {
            control(out, T_MAP, map.len());
            for (key, item) in map {
                encode_str(out, key);
                encode_value(out, item);
            }
        }
    }
}

fn encode_str(out: &mut Vec<u8>, s: &str) {
    control(out, T_STRING, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Unsigned ints are stored big-endian with leading zero bytes dropped; the size says how many bytes remain.
fn encode_uint(out: &mut Vec<u8>, type_num: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = (v.leading_zeros() / 8) as usize;
    control(out, type_num, bytes.len() - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// Control byte: type in the top 3 bits (0 = extended, real type - 7 in the next byte), size in the low 5 bits,
/// with 29/30/31 meaning 1/2/3 following bytes hold the size minus 29/285/65821.
fn control(out: &mut Vec<u8>, type_num: u8, size: usize) {
    let (head, extended) = if type_num <= 7 {
        (type_num << 5, None)
    } else {
        (0, Some(type_num - 7))
    };
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, vec![]),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => {
            assert!(size < 65821 + (1 << 24), "value too large for MMDB");
            (31, ((size - 65821) as u32).to_be_bytes()[1..].to_vec())
        }
    };
    out.push(head | size_bits);
    out.extend(extended);
    out.extend(extra);
}
