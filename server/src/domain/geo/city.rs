//! One city database (`.mmdb`), in either schema. The schema is read off each record, not
//! off the metadata's `database_type`, which vendors fill in as they please.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use maxminddb::Reader;
use serde::Deserialize;

use super::{GeoLoadError, Place};

pub struct CityDb {
    reader: Reader<maxminddb::Mmap>,
}

/// The fields of both schemas; a record fills in one set.
#[derive(Deserialize)]
struct Record {
    /// GeoIP2: `{"names": {"en": …}}`; flat: the name itself.
    city: Option<CityField>,
    /// GeoIP2 only.
    country: Option<Country>,
    /// GeoIP2 only.
    location: Option<Location>,
    /// Flat schema only, from here down.
    country_code: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CityField {
    Name(String),
    Names { names: BTreeMap<String, String> },
}

#[derive(Deserialize)]
struct Country {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_radius: Option<u16>,
}

impl CityDb {
    pub fn open(path: &Path) -> Result<Self, GeoLoadError> {
        let reader = super::map(path)?;
        super::probe(&reader)?;
        Ok(Self { reader })
    }

    /// The place of `ip`, or `None` when this database does not cover it (or the address
    /// family: an IPv6 lookup in an IPv4-only file).
    pub fn lookup(&self, ip: IpAddr) -> Option<Place> {
        let record: Record = self.reader.lookup(ip).ok()?.decode().ok()??;
        let city = record.city.and_then(|c| match c {
            CityField::Name(name) => Some(name),
            CityField::Names { mut names } => names.remove("en").or_else(|| names.into_values().next()),
        });
        let country = record
            .country
            .and_then(|c| c.iso_code)
            .or(record.country_code)
            .map(|code| code.to_ascii_uppercase());
        let location = record.location;
        let place = Place {
            country: country.filter(|c| !c.is_empty()),
            city: city.filter(|c| !c.is_empty()),
            latitude: location.as_ref().and_then(|l| l.latitude).or(record.latitude),
            longitude: location.as_ref().and_then(|l| l.longitude).or(record.longitude),
            accuracy_radius_km: location.and_then(|l| l.accuracy_radius),
            ..Place::default()
        };
        (place != Place::default()).then_some(place)
    }
}
