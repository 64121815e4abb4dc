//! Geolocation: where an address is, from MaxMind-format databases on disk.
//!
//! Two city schemas are read, decided per record so a deployment can mix them: MaxMind's
//! GeoIP2/GeoLite2 City (`country.iso_code`, `city.names.en`, `location.*`, what production
//! users download from MaxMind) and the flat schema of the ip-location-db databases
//! (`country_code`, `city`, `latitude`, `longitude`), which `make` fetches by default. The
//! AS number comes from a GeoLite2-ASN `.mmdb` or from ip-location-db's ASN CSV table.
//!
//! Lookups never fail a sign-in: a missing or corrupt file is a warning at start and then
//! simply no place, and an address the database lacks has no place either. Private,
//! loopback and reserved addresses are "Local network" without consulting any file.
//! Loading happens on a blocking thread at start ([`Geolocator::load_in_background`]);
//! until it finishes, lookups answer "no place" rather than wait.

mod asn;
mod city;
#[cfg(test)]
mod mmdb_writer;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::client::canonical;

pub use asn::AsnTable;
pub use city::CityDb;

/// What the UI shows for private, loopback and reserved addresses.
pub const LOCAL_NETWORK: &str = "Local network";

/// Where an address is, as far as the databases know. Every field may be missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Kilometres around the coordinates (GeoIP2 schema only).
    pub accuracy_radius_km: Option<u16>,
    pub asn: Option<u32>,
    pub asn_org: Option<String>,
    /// A private, loopback or reserved address: not anywhere on the map.
    pub local: bool,
}

impl Place {
    fn local_network() -> Self {
        Self {
            city: Some(LOCAL_NETWORK.to_owned()),
            local: true,
            ..Self::default()
        }
    }
}

/// The database files to read; see `.env.example`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoPaths {
    /// City databases, tried in order (ip-location-db ships IPv4 and IPv6 as two files).
    pub city: Vec<PathBuf>,
    /// ASN sources: `.mmdb` (GeoLite2-ASN) or `.csv` (ip-location-db), tried in order.
    pub asn: Vec<PathBuf>,
}

/// The loaded databases. Cheap to share; swapped whole when loading finishes.
#[derive(Default)]
struct Databases {
    cities: Vec<CityDb>,
    asns: Vec<AsnTable>,
}

/// Answers "where is this address?" in microseconds, from whatever databases loaded.
#[derive(Default)]
pub struct Geolocator {
    databases: RwLock<Arc<Databases>>,
    /// Set while a background load runs.
    loading: std::sync::atomic::AtomicBool,
}

/// What the health check reports about geolocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GeoStatus {
    pub loading: bool,
    pub city_databases: usize,
    pub asn_tables: usize,
}

impl std::fmt::Debug for Geolocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dbs = self.current();
        f.debug_struct("Geolocator")
            .field("city_databases", &dbs.cities.len())
            .field("asn_tables", &dbs.asns.len())
            .finish()
    }
}

impl Geolocator {
    /// A locator with no databases: only "Local network" is ever known.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Reads every configured file now (blocking). Files that cannot be read are logged as
    /// warnings and skipped; the rest still serve.
    pub fn load(paths: &GeoPaths) -> Self {
        let locator = Self::empty();
        locator.replace(load_databases(paths));
        locator
    }

    /// Starts reading the files on a blocking thread and returns at once; lookups see the
    /// databases as soon as they are in memory.
    pub fn load_in_background(self: &Arc<Self>, paths: GeoPaths) -> tokio::task::JoinHandle<()> {
        let locator = Arc::clone(self);
        self.loading.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::task::spawn_blocking(move || {
            locator.replace(load_databases(&paths));
            locator.loading.store(false, std::sync::atomic::Ordering::SeqCst);
        })
    }

    pub fn status(&self) -> GeoStatus {
        let dbs = self.current();
        GeoStatus {
            loading: self.loading.load(std::sync::atomic::Ordering::SeqCst),
            city_databases: dbs.cities.len(),
            asn_tables: dbs.asns.len(),
        }
    }

    fn replace(&self, databases: Databases) {
        *self.databases.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(databases);
    }

    fn current(&self) -> Arc<Databases> {
        Arc::clone(&self.databases.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether any city database is loaded (for the start-up log and tests).
    pub fn has_city_data(&self) -> bool {
        !self.current().cities.is_empty()
    }

    /// Where `ip` is. Never fails: what is not known is `None`.
    pub fn locate(&self, ip: IpAddr) -> Place {
        let ip = canonical(ip);
        if is_local(ip) {
            return Place::local_network();
        }
        let dbs = self.current();
        let mut place = dbs.cities.iter().find_map(|db| db.lookup(ip)).unwrap_or_default();
        if let Some((asn, org)) = dbs.asns.iter().find_map(|table| table.lookup(ip)) {
            place.asn = Some(asn);
            place.asn_org = org;
        }
        place
    }
}

fn load_databases(paths: &GeoPaths) -> Databases {
    let started = std::time::Instant::now();
    let cities: Vec<CityDb> = paths
        .city
        .iter()
        .filter_map(|path| match CityDb::open(path) {
            Ok(db) => Some(db),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "geolocation: city database not loaded; sign-ins are logged without a place");
                None
            }
        })
        .collect();
    let asns: Vec<AsnTable> = paths
        .asn
        .iter()
        .filter_map(|path| match AsnTable::open(path) {
            Ok(table) => Some(table),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "geolocation: ASN source not loaded; sign-ins are logged without an AS number");
                None
            }
        })
        .collect();
    tracing::info!(
        city_databases = cities.len(),
        asn_tables = asns.len(),
        millis = started.elapsed().as_millis() as u64,
        "geolocation data loaded"
    );
    Databases { cities, asns }
}

/// Why a database file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoLoadError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a valid MaxMind DB: {0}")]
    Mmdb(#[from] maxminddb::MaxMindDbError),
    #[error("line {line}: {problem}")]
    Csv { line: usize, problem: String },
    #[error("the file holds no entries")]
    Empty,
}

/// Maps a database file instead of reading it into the heap: the city files are over
/// 100 MB, of which a lookup touches a few pages, so the kernel keeps only what lookups use
/// resident and can drop it again under pressure.
#[allow(unsafe_code)]
fn map(path: &std::path::Path) -> Result<maxminddb::Reader<maxminddb::Mmap>, GeoLoadError> {
    // SAFETY: the mapping is read-only, and database files are replaced, never written in
    // place: `make geoip` moves a complete new file over the old path, which leaves this
    // mapping on the old file. (A file truncated in place while mapped would fault on the
    // next lookup; README's geolocation section says to replace files, never edit them.)
    Ok(unsafe { maxminddb::Reader::open_mmap(path) }?)
}

/// A cheap check that a database's search tree can be walked, so a garbled file fails at
/// start rather than on some lookup later. (`Reader::verify` would be thorough but refuses
/// valid files with sparse metadata, such as ip-location-db's.)
fn probe(reader: &maxminddb::Reader<maxminddb::Mmap>) -> Result<(), GeoLoadError> {
    let probe: IpAddr = if reader.metadata.ip_version == 4 {
        IpAddr::from([1, 1, 1, 1])
    } else {
        "2001:4860:4860::8888".parse().unwrap_or(IpAddr::from([1, 1, 1, 1]))
    };
    reader.lookup(probe)?;
    Ok(())
}

/// Private, loopback, link-local, shared (CGNAT), documentation, benchmarking, multicast
/// and reserved ranges (IANA special-purpose registries): places no database can locate.
pub fn is_local(ip: IpAddr) -> bool {
    // Numbers, not CIDR text: this runs on every lookup, so nothing is parsed here.
    const V4: [([u8; 4], u32); 13] = [
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 24),
        ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([224, 0, 0, 0], 3),
    ];
    const V6: [([u16; 8], u32); 7] = [
        ([0, 0, 0, 0, 0, 0, 0, 0], 127),
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
    ];
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let x = u32::from(v4);
            V4.iter()
                .any(|(net, len)| (x ^ u32::from_be_bytes(*net)).checked_shr(32 - len).unwrap_or(0) == 0)
        }
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            V6.iter().any(|(net, len)| {
                (x ^ u128::from(std::net::Ipv6Addr::from(*net)))
                    .checked_shr(128 - len)
                    .unwrap_or(0)
                    == 0
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_addresses_are_local_and_public_ones_are_not() {
        for local in [
            "10.0.0.1",
            "127.0.0.1",
            "192.168.1.20",
            "172.31.255.255",
            "100.64.0.1",
            "169.254.1.1",
            "::1",
            "fe80::1",
            "fd12:3456::1",
            "::ffff:10.1.2.3",
            "2001:db8::1",
        ] {
            assert!(is_local(ip(local)), "{local}");
            assert_eq!(
                Geolocator::empty().locate(ip(local)).city.as_deref(),
                Some(LOCAL_NETWORK)
            );
        }
        for public in ["81.2.69.142", "8.8.8.8", "172.32.0.1", "2a00:1450::1", "::ffff:8.8.8.8"] {
            assert!(!is_local(ip(public)), "{public}");
        }
    }

    fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fin-geo-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_the_geoip2_schema_with_a_geolite2_asn_database() {
        let dir = temp_dir();
        let city = mmdb_writer::write_mmdb(
            "GeoIP2-City",
            &[(
                ip("81.2.69.0"),
                24,
                json!({
                    "city": {"names": {"en": "London", "de": "London"}},
                    "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
                    "location": {"latitude": 51.5142, "longitude": -0.0931, "accuracy_radius": 10}
                }),
            )],
        );
        let asn = mmdb_writer::write_mmdb(
            "GeoLite2-ASN",
            &[(
                ip("81.2.64.0"),
                18,
                json!({"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd"}),
            )],
        );
        let paths = GeoPaths {
            city: vec![write(&dir, "city.mmdb", &city)],
            asn: vec![write(&dir, "asn.mmdb", &asn)],
        };
        let place = Geolocator::load(&paths).locate(ip("81.2.69.142"));
        assert_eq!(
            place,
            Place {
                country: Some("GB".into()),
                city: Some("London".into()),
                latitude: Some(51.5142),
                longitude: Some(-0.0931),
                accuracy_radius_km: Some(10),
                asn: Some(20712),
                asn_org: Some("Andrews & Arnold Ltd".into()),
                local: false,
            }
        );
        // In neither database: no place, no error.
        assert_eq!(Geolocator::load(&paths).locate(ip("8.8.8.8")), Place::default());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reads_the_flat_schema_with_an_asn_csv_table() {
        let dir = temp_dir();
        let city = mmdb_writer::write_mmdb(
            "city ipv4",
            &[
                (
                    ip("1.1.1.0"),
                    24,
                    json!({"country_code": "AU", "city": "Sydney", "state1": "New South Wales",
                           "latitude": -33.8688, "longitude": 151.209}),
                ),
                (ip("2a00:1450::"), 32, json!({"country_code": "IE", "city": "Dublin"})),
            ],
        );
        let csv = "16843008,16843263,13335,\"Cloudflare, Inc.\"\n";
        let csv6 = "2a00:1450::,2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n";
        let paths = GeoPaths {
            city: vec![write(&dir, "city.mmdb", &city)],
            asn: vec![
                write(&dir, "asn.csv", csv.as_bytes()),
                write(&dir, "asn6.csv", csv6.as_bytes()),
            ],
        };
        let geo = Geolocator::load(&paths);
        let sydney = geo.locate(ip("1.1.1.1"));
        assert_eq!(sydney.country.as_deref(), Some("AU"));
        assert_eq!(sydney.city.as_deref(), Some("Sydney"));
        assert_eq!(sydney.latitude, Some(-33.8688));
        assert_eq!(sydney.accuracy_radius_km, None);
        assert_eq!(
            (sydney.asn, sydney.asn_org.as_deref()),
            (Some(13335), Some("Cloudflare, Inc."))
        );
        let dublin = geo.locate(ip("2a00:1450:4001::1"));
        assert_eq!((dublin.city.as_deref(), dublin.asn), (Some("Dublin"), Some(15169)));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_and_corrupt_files_are_skipped_not_fatal() {
        let dir = temp_dir();
        let paths = GeoPaths {
            city: vec![
                dir.join("missing.mmdb"),
                write(&dir, "corrupt.mmdb", b"not a database at all"),
            ],
            asn: vec![write(&dir, "corrupt.csv", b"1,2,three,x\n")],
        };
        let geo = Geolocator::load(&paths);
        assert!(!geo.has_city_data());
        assert_eq!(geo.locate(ip("81.2.69.142")), Place::default());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
