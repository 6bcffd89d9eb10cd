//! Geo lookup from MaxMind-format databases, in both common schemas:
//! GeoIP2/GeoLite2 City and Country (nested `country.iso_code`,
//! `city.names.en`, ...) and the flat DB-IP Lite schema (`country_code`,
//! `state1`, `city`, ...). Only the fields clickgate writes are decoded.
//!
//! Each database file is held in memory behind an `ArcSwap`: a background
//! task polls the file's modification time, loads a replacement off the
//! request path, and swaps it in atomically. A request that is looking up
//! keeps the old reader alive until it is done, so a swap never fails or
//! blocks a request.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use maxminddb::Reader;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::config::GeoSettings;
use super::{failure, FailureKind};
use crate::telemetry as names;

/// Where an address is, as far as the database knows. Written to
/// `context.location`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// ISO 3166-1 alpha-2 country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// First-level subdivision (state, region) name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// IANA time zone, e.g. `Europe/Berlin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

#[derive(Debug)]
pub struct GeoError(String);

impl fmt::Display for GeoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Finds where an address is. Implementations must not do I/O.
pub trait GeoLookup: Send + Sync {
    fn locate(&self, ip: IpAddr) -> Result<Option<Location>, GeoError>;
}

/// No database: every lookup finds nothing.
pub struct NoGeo;

impl GeoLookup for NoGeo {
    fn locate(&self, _ip: IpAddr) -> Result<Option<Location>, GeoError> {
        Ok(None)
    }
}

/// The file's identity as last seen: (modification time, length).
type Stamp = Option<(SystemTime, u64)>;

struct DbFile {
    path: PathBuf,
    reader: ArcSwapOption<Reader<Vec<u8>>>,
    /// What was last tried (loaded or failed), so a broken file is reported
    /// once and retried only when it changes again.
    tried: Mutex<Option<Stamp>>,
}

/// A list of databases tried in order (DB-IP ships IPv4 and IPv6 as two
/// files), each reloaded when its file changes.
pub struct GeoDatabases {
    files: Vec<DbFile>,
}

impl GeoDatabases {
    /// The files to use: the configured list, else every `*.mmdb` in the
    /// configured directory (sorted), else none.
    pub fn paths(settings: &GeoSettings) -> Vec<PathBuf> {
        if !settings.databases.is_empty() {
            return settings.databases.clone();
        }
        let Some(dir) = settings
            .directory
            .as_ref()
            .filter(|d| !d.as_os_str().is_empty())
            .and_then(|d| std::fs::read_dir(d).ok())
        else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "mmdb"))
            .collect();
        found.sort();
        found
    }

    /// Loads every file now (blocking; call at start-up). A file that is
    /// missing or broken is reported and skipped until it changes.
    pub fn open(paths: Vec<PathBuf>) -> Self {
        let db = Self {
            files: paths
                .into_iter()
                .map(|path| DbFile {
                    path,
                    reader: ArcSwapOption::empty(),
                    tried: Mutex::new(None),
                })
                .collect(),
        };
        db.reload_changed();
        db
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Loads every file whose stamp changed since it was last tried and
    /// swaps it in. Blocking: runs at start-up and on the reload task's
    /// blocking pool, never on a request. Returns how many were swapped.
    pub fn reload_changed(&self) -> usize {
        let mut swapped = 0;
        for file in &self.files {
            let now = stamp(&file.path);
            {
                let mut tried = file.tried.lock().unwrap_or_else(|p| p.into_inner());
                if *tried == Some(now) {
                    continue;
                }
                *tried = Some(now);
            }
            if now.is_none() {
                // Gone: keep answering from the copy in memory.
                if file.reader.load().is_none() {
                    failure(
                        FailureKind::GeoDatabase,
                        format_args!("{} cannot be read", file.path.display()),
                    );
                }
                continue;
            }
            match Reader::open_readfile(&file.path) {
                Ok(reader) => {
                    tracing::info!(
                        path = %file.path.display(),
                        database_type = %reader.metadata().database_type,
                        build_epoch = reader.metadata().build_epoch,
                        "geo database loaded"
                    );
                    file.reader.store(Some(Arc::new(reader)));
                    swapped += 1;
                }
                Err(e) => failure(
                    FailureKind::GeoDatabase,
                    format_args!("{} is not a usable MaxMind DB: {e}", file.path.display()),
                ),
            }
        }
        self.report_age();
        swapped
    }

    /// Sets `clickgate_geo_database_age_seconds` from the oldest loaded
    /// database's build time.
    fn report_age(&self) {
        let oldest = self
            .files
            .iter()
            .filter_map(|f| f.reader.load().as_ref().map(|r| r.metadata().build_epoch))
            .min();
        if let Some(epoch) = oldest {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            metrics::gauge!(names::GEO_DATABASE_AGE).set(now.saturating_sub(epoch) as f64);
        }
    }

    /// Polls the files every `interval` on a background task until the
    /// databases are dropped.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) {
        if self.files.is_empty() {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(db) = weak.upgrade() else { break };
                let _ = tokio::task::spawn_blocking(move || db.reload_changed()).await;
            }
        });
    }
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl GeoLookup for GeoDatabases {
    fn locate(&self, ip: IpAddr) -> Result<Option<Location>, GeoError> {
        let ip = ip.to_canonical();
        for file in &self.files {
            let guard = file.reader.load();
            let Some(reader) = guard.as_ref() else {
                continue;
            };
            if ip.is_ipv6() && reader.metadata().ip_version == 4 {
                continue;
            }
            let found = reader
                .lookup(ip)
                .and_then(|r| r.decode::<Record<'_>>())
                .map_err(|e| GeoError(format!("{}: {e}", file.path.display())))?;
            if let Some(location) = found.and_then(Record::into_location) {
                return Ok(Some(location));
            }
        }
        Ok(None)
    }
}

/// The fields of either schema that clickgate uses; everything else in a
/// record is skipped without decoding.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Record<'a> {
    // GeoIP2 / GeoLite2
    #[serde(borrow)]
    country: Option<Named<'a>>,
    #[serde(borrow)]
    subdivisions: Option<FirstNamed<'a>>,
    #[serde(borrow)]
    location: Option<GeoLocation<'a>>,
    #[serde(borrow)]
    postal: Option<Postal<'a>>,
    // Both: a map with `names` in GeoIP2, a plain string in DB-IP.
    #[serde(borrow)]
    city: Option<NameOrText<'a>>,
    // DB-IP Lite
    country_code: Option<&'a str>,
    state1: Option<&'a str>,
    postcode: Option<&'a str>,
    latitude: Option<Number>,
    longitude: Option<Number>,
    timezone: Option<&'a str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Named<'a> {
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: Option<EnglishName<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EnglishName<'a> {
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GeoLocation<'a> {
    latitude: Option<Number>,
    longitude: Option<Number>,
    time_zone: Option<&'a str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Postal<'a> {
    code: Option<&'a str>,
}

/// A coordinate stored as a double (GeoIP2) or a float (DB-IP builds).
#[derive(Clone, Copy)]
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f32<E: de::Error>(self, v: f32) -> Result<Number, E> {
                Ok(Number(f64::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// The first element of a list of named places; the rest are skipped.
struct FirstNamed<'a>(Option<Named<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstNamed<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = FirstNamed<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of places")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<Named<'a>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstNamed(first))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// `city`: `{"names":{"en":"Berlin"}}` (GeoIP2) or `"Berlin"` (DB-IP).
struct NameOrText<'a>(Option<&'a str>);

impl<'de: 'a, 'a> Deserialize<'de> for NameOrText<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = NameOrText<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name or a map with names")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(NameOrText(Some(v)))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut name = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    if key == "names" {
                        name = map.next_value::<EnglishName<'a>>()?.en;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(NameOrText(name))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn text(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Record<'_> {
    fn into_location(self) -> Option<Location> {
        let country = self.country.unwrap_or_default();
        let region = self.subdivisions.and_then(|s| s.0).unwrap_or_default();
        let loc = self.location.unwrap_or_default();
        let l = Location {
            country_code: text(country.iso_code.or(self.country_code)),
            region: text(region.names.and_then(|n| n.en).or(self.state1)),
            city: text(self.city.and_then(|c| c.0)),
            postal_code: text(self.postal.and_then(|p| p.code).or(self.postcode)),
            latitude: loc.latitude.or(self.latitude).map(|n| round4(n.0)),
            longitude: loc.longitude.or(self.longitude).map(|n| round4(n.0)),
            time_zone: text(loc.time_zone.or(self.timezone)),
        };
        (l != Location::default()).then_some(l)
    }
}

/// Four decimals (about 11 m): more would only print float noise from
/// single-precision databases.
fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
#[path = "../../tests/support/mmdb.rs"]
mod mmdb;

#[cfg(test)]
mod tests {
    use super::mmdb::{self, Writer};
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn write(dir: &Path, name: &str, w: &Writer) -> PathBuf {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, w.to_bytes()).expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        path
    }

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "clickgate-geo-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).expect("tempdir");
        dir
    }

    #[test]
    fn reads_the_geoip2_city_schema() {
        let dir = tempdir("city");
        let mut w = Writer::new("GeoIP2-City", 6, 1_700_000_000);
        let berlin = mmdb::geoip2_city(
            "DE",
            "Land Berlin",
            "Berlin",
            "10115",
            52.5244,
            13.4105,
            "Europe/Berlin",
        );
        w.insert("81.2.69.0/24", &berlin);
        w.insert("2a02:8100::/32", &berlin);
        let db = GeoDatabases::open(vec![write(&dir, "city.mmdb", &w)]);
        let l = db.locate(ip("81.2.69.142")).expect("ok").expect("found");
        assert_eq!(l.country_code.as_deref(), Some("DE"));
        assert_eq!(l.region.as_deref(), Some("Land Berlin"));
        assert_eq!(l.city.as_deref(), Some("Berlin"));
        assert_eq!(l.postal_code.as_deref(), Some("10115"));
        assert_eq!(l.latitude, Some(52.5244));
        assert_eq!(l.time_zone.as_deref(), Some("Europe/Berlin"));
        assert!(db.locate(ip("2a02:8100::1")).expect("ok").is_some());
        assert!(db.locate(ip("::ffff:81.2.69.1")).expect("ok").is_some());
        assert_eq!(db.locate(ip("81.2.70.1")).expect("ok"), None);
    }

    #[test]
    fn reads_the_geoip2_country_schema() {
        let dir = tempdir("country");
        let mut w = Writer::new("GeoLite2-Country", 6, 1_700_000_000);
        w.insert("81.2.69.0/24", &mmdb::geoip2_country("GB"));
        let db = GeoDatabases::open(vec![write(&dir, "c.mmdb", &w)]);
        let l = db.locate(ip("81.2.69.1")).expect("ok").expect("found");
        assert_eq!(
            l,
            Location {
                country_code: Some("GB".into()),
                ..Location::default()
            }
        );
    }

    #[test]
    fn reads_the_flat_dbip_schema_from_separate_v4_and_v6_files() {
        let dir = tempdir("dbip");
        let mut v4 = Writer::new("DBIP-City-Lite", 4, 1_700_000_000);
        v4.insert(
            "1.2.3.0/24",
            &mmdb::dbip_city(
                "AU",
                "Queensland",
                "Brisbane",
                -27.4679,
                153.028,
                "Australia/Brisbane",
            ),
        );
        let mut v6 = Writer::new("DBIP-City-Lite", 6, 1_700_000_000);
        v6.insert(
            "2001:db8::/32",
            &mmdb::dbip_city(
                "FR",
                "Ile-de-France",
                "Paris",
                48.8534,
                2.3488,
                "Europe/Paris",
            ),
        );
        let db = GeoDatabases::open(vec![
            write(&dir, "v4.mmdb", &v4),
            write(&dir, "v6.mmdb", &v6),
        ]);
        let l = db.locate(ip("1.2.3.4")).expect("ok").expect("found");
        assert_eq!(l.country_code.as_deref(), Some("AU"));
        assert_eq!(l.region.as_deref(), Some("Queensland"));
        assert_eq!(l.city.as_deref(), Some("Brisbane"));
        assert_eq!(l.postal_code, None, "empty strings are left out");
        assert_eq!(l.latitude, Some(-27.4679));
        let l = db.locate(ip("2001:db8::8")).expect("ok").expect("found");
        assert_eq!(l.city.as_deref(), Some("Paris"));
    }

    #[test]
    fn missing_or_broken_files_find_nothing_and_a_replacement_is_picked_up() {
        let dir = tempdir("reload");
        let path = dir.join("geo.mmdb");
        let db = GeoDatabases::open(vec![path.clone()]);
        assert_eq!(db.locate(ip("1.2.3.4")).expect("ok"), None);

        std::fs::write(&path, b"not a database").expect("write");
        assert_eq!(db.reload_changed(), 0);
        assert_eq!(db.locate(ip("1.2.3.4")).expect("ok"), None);

        let mut w = Writer::new("GeoLite2-Country", 6, 1);
        w.insert("1.2.3.0/24", &mmdb::geoip2_country("AU"));
        write(&dir, "geo.mmdb", &w);
        assert_eq!(db.reload_changed(), 1);
        let l = db.locate(ip("1.2.3.4")).expect("ok").expect("found");
        assert_eq!(l.country_code.as_deref(), Some("AU"));
        assert_eq!(db.reload_changed(), 0, "unchanged files are not reloaded");

        let mut w = Writer::new("GeoLite2-Country", 6, 2);
        w.insert("1.2.3.0/24", &mmdb::geoip2_country("NZ"));
        w.insert("9.9.9.0/24", &mmdb::geoip2_country("US"));
        write(&dir, "geo.mmdb", &w);
        assert_eq!(db.reload_changed(), 1);
        let l = db.locate(ip("1.2.3.4")).expect("ok").expect("found");
        assert_eq!(l.country_code.as_deref(), Some("NZ"));

        std::fs::remove_file(&path).expect("remove");
        db.reload_changed();
        assert!(
            db.locate(ip("1.2.3.4")).expect("ok").is_some(),
            "a deleted file keeps answering from memory"
        );
    }

    #[test]
    fn directory_is_searched_when_no_files_are_named() {
        let dir = tempdir("dir");
        std::fs::write(dir.join("b.mmdb"), b"x").expect("write");
        std::fs::write(dir.join("a.mmdb"), b"x").expect("write");
        std::fs::write(dir.join("readme.txt"), b"x").expect("write");
        let settings = GeoSettings {
            directory: Some(dir.clone()),
            ..GeoSettings::default()
        };
        assert_eq!(
            GeoDatabases::paths(&settings),
            vec![dir.join("a.mmdb"), dir.join("b.mmdb")]
        );
    }
}
