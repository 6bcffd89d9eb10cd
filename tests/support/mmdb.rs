//! A tiny MaxMind DB (MMDB v2) writer for tests and benchmarks, so no
//! third-party database is committed. It supports what clickgate's tests
//! need: networks that do not overlap, 32-bit records, and the data types
//! the GeoIP2 and DB-IP schemas use.
#![allow(dead_code)]

use std::net::IpAddr;

/// A value in the data section.
#[derive(Debug, Clone)]
pub enum Value {
    Str(String),
    Double(f64),
    Float(f32),
    U16(u16),
    U32(u32),
    U64(u64),
    Bool(bool),
    Map(Vec<(String, Value)>),
    Array(Vec<Value>),
}

/// `map(&[("k", v), ...])`.
pub fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

pub fn s(text: &str) -> Value {
    Value::Str(text.to_owned())
}

#[derive(Debug, Clone, Copy)]
enum Rec {
    Empty,
    Node(u32),
    Data(u32),
}

pub struct Writer {
    database_type: String,
    ip_version: u16,
    build_epoch: u64,
    nodes: Vec<[Rec; 2]>,
    data: Vec<u8>,
}

impl Writer {
    /// `ip_version` 4 (IPv4 only) or 6 (IPv4 lives under `::/96`).
    pub fn new(database_type: &str, ip_version: u16, build_epoch: u64) -> Self {
        assert!(ip_version == 4 || ip_version == 6);
        Self {
            database_type: database_type.to_owned(),
            ip_version,
            build_epoch,
            nodes: vec![[Rec::Empty, Rec::Empty]],
            data: Vec::new(),
        }
    }

    /// Maps `network` (`"81.2.69.0/24"`, `"2001:db8::/32"`) to `value`.
    pub fn insert(&mut self, network: &str, value: &Value) {
        let (addr, len) = network.split_once('/').expect("network with a prefix");
        let addr: IpAddr = addr.parse().expect("network address");
        let len: u32 = len.parse().expect("prefix length");
        let (bits, len): (u128, u32) = match (addr, self.ip_version) {
            (IpAddr::V4(v4), 4) => (u128::from(u32::from(v4)) << 96, len),
            (IpAddr::V4(v4), _) => (u128::from(u32::from(v4)), len + 96),
            (IpAddr::V6(v6), 6) => (u128::from(v6), len),
            (IpAddr::V6(_), _) => panic!("IPv6 network in an IPv4 database"),
        };
        assert!(len >= 1, "prefix must be at least 1 bit");
        let offset = u32::try_from(self.data.len()).expect("small data section");
        encode(&mut self.data, value);
        let mut node = 0usize;
        for i in 0..len {
            let bit = ((bits >> (127 - i)) & 1) as usize;
            if i == len - 1 {
                self.nodes[node][bit] = Rec::Data(offset);
                break;
            }
            node = match self.nodes[node][bit] {
                Rec::Node(n) => n as usize,
                other => {
                    // A wider network already here is split into two halves.
                    let n = self.nodes.len();
                    self.nodes.push([other, other]);
                    self.nodes[node][bit] = Rec::Node(n as u32);
                    n
                }
            };
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let count = self.nodes.len() as u32;
        let mut out = Vec::new();
        for pair in &self.nodes {
            for rec in pair {
                let v = match *rec {
                    Rec::Empty => count,
                    Rec::Node(n) => n,
                    Rec::Data(off) => count + 16 + off,
                };
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let meta = map(&[
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(self.build_epoch)),
            ("database_type", s(&self.database_type)),
            ("description", map(&[("en", s("clickgate test database"))])),
            ("ip_version", Value::U16(self.ip_version)),
            ("languages", Value::Array(vec![s("en")])),
            ("node_count", Value::U32(count)),
            ("record_size", Value::U16(32)),
        ]);
        encode(&mut out, &meta);
        out
    }
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (first, ext) = if kind <= 7 {
        (kind << 5, None)
    } else {
        (0, Some(kind - 7))
    };
    let (size_bits, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 285 {
        (29, vec![(size - 29) as u8])
    } else if size < 65_821 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else {
        (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec())
    };
    out.push(first | size_bits);
    if let Some(e) = ext {
        out.push(e);
    }
    out.extend_from_slice(&extra);
}

fn unsigned(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(t) => {
            control(out, 2, t.len());
            out.extend_from_slice(t.as_bytes());
        }
        Value::Double(d) => {
            control(out, 3, 8);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::Float(f) => {
            control(out, 15, 4);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::U16(n) => unsigned(out, 5, u64::from(*n)),
        Value::U32(n) => unsigned(out, 6, u64::from(*n)),
        Value::U64(n) => unsigned(out, 9, *n),
        Value::Bool(b) => control(out, 14, usize::from(*b)),
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(out, &Value::Str(k.clone()));
                encode(out, v);
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            for item in items {
                encode(out, item);
            }
        }
    }
}

/// A GeoIP2/GeoLite2 City record.
pub fn geoip2_city(
    country: &str,
    region: &str,
    city: &str,
    postal: &str,
    lat: f64,
    lon: f64,
    tz: &str,
) -> Value {
    let names = |n: &str| map(&[("de", s(n)), ("en", s(n))]);
    map(&[
        (
            "city",
            map(&[("geoname_id", Value::U32(1)), ("names", names(city))]),
        ),
        (
            "continent",
            map(&[("code", s("EU")), ("names", names("Europe"))]),
        ),
        (
            "country",
            map(&[("iso_code", s(country)), ("names", names(country))]),
        ),
        (
            "location",
            map(&[
                ("accuracy_radius", Value::U16(20)),
                ("latitude", Value::Double(lat)),
                ("longitude", Value::Double(lon)),
                ("time_zone", s(tz)),
            ]),
        ),
        ("postal", map(&[("code", s(postal))])),
        (
            "subdivisions",
            Value::Array(vec![map(&[("iso_code", s("X")), ("names", names(region))])]),
        ),
    ])
}

/// A GeoIP2/GeoLite2 Country record.
pub fn geoip2_country(country: &str) -> Value {
    map(&[(
        "country",
        map(&[
            ("iso_code", s(country)),
            ("names", map(&[("en", s(country))])),
        ]),
    )])
}

/// A DB-IP Lite city record (the flat schema of the npm packages).
pub fn dbip_city(country: &str, state1: &str, city: &str, lat: f32, lon: f32, tz: &str) -> Value {
    map(&[
        ("city", s(city)),
        ("country_code", s(country)),
        ("latitude", Value::Float(lat)),
        ("longitude", Value::Float(lon)),
        ("postcode", s("")),
        ("state1", s(state1)),
        ("state2", s("")),
        ("timezone", s(tz)),
    ])
}
