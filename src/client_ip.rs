//! The client's IP address: the socket peer, unless the peer is a trusted
//! proxy, in which case the forwarding header is read from the right and
//! the first address that is not a trusted proxy is the client. Owns the
//! `[client_ip]` settings.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderName};
use serde::{Deserialize, Serialize};

/// Which forwarding header the trusted proxies set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientIpSettings {
    /// Networks of the proxies in front of clickgate (`10.0.0.0/8`,
    /// `::1/128`, or a bare address). Only a peer in one of them may name
    /// the client in a forwarding header.
    pub trusted_proxies: Vec<IpNetwork>,
    /// The header those proxies append to.
    pub header: ForwardedHeader,
}

impl Default for ClientIpSettings {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            header: ForwardedHeader::XForwardedFor,
        }
    }
}

/// An IP network in CIDR notation; a bare address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl TryFrom<String> for IpNetwork {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("{text:?} is not an IP address or CIDR network");
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim(), None),
        };
        let addr = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { addr, prefix })
    }
}

impl From<IpNetwork> for String {
    fn from(n: IpNetwork) -> String {
        format!("{}/{}", n.addr, n.prefix)
    }
}

/// The trusted-proxy rule, built once from config.
#[derive(Debug, Clone, Default)]
pub struct ClientIpRule {
    trusted: Vec<IpNetwork>,
    header: Option<HeaderName>,
    rfc7239: bool,
}

impl ClientIpRule {
    pub fn new(settings: &ClientIpSettings) -> Self {
        let (header, rfc7239) = match settings.header {
            ForwardedHeader::XForwardedFor => (HeaderName::from_static("x-forwarded-for"), false),
            ForwardedHeader::Forwarded => (HeaderName::from_static("forwarded"), true),
        };
        Self {
            trusted: settings.trusted_proxies.clone(),
            header: Some(header),
            rfc7239,
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
    }

    /// The client address of a request from `peer`.
    ///
    /// A peer outside the trusted networks is the client, whatever its
    /// headers say. From a trusted peer, the header's addresses (all header
    /// lines, in order) are walked from the right; trusted ones are proxies
    /// and skipped, the first other one is the client. When every address
    /// is trusted, the left-most one is used; when an entry cannot be parsed
    /// (`unknown`, an obfuscated name, garbage), the walk stops and the last
    /// trusted hop is used: nothing left of a bad entry can be trusted.
    pub fn resolve(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        let Some(name) = self.header.as_ref().filter(|_| self.is_trusted(peer)) else {
            return peer;
        };
        let mut hop = peer;
        let lines: Vec<&[u8]> = headers.get_all(name).iter().map(|v| v.as_bytes()).collect();
        for line in lines.iter().rev() {
            let Ok(line) = std::str::from_utf8(line) else {
                return hop;
            };
            for entry in line.rsplit(',') {
                let parsed = if self.rfc7239 {
                    forwarded_for(entry)
                } else {
                    parse_addr(entry)
                };
                let Some(ip) = parsed else {
                    return hop;
                };
                if !self.is_trusted(ip) {
                    return ip;
                }
                hop = ip;
            }
        }
        hop
    }
}

/// The `for=` address of one RFC 7239 element (`for=1.2.3.4;proto=https`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_addr(v.trim().trim_matches('"')))
            .flatten()
    })
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]` or `[::1]:5678`.
fn parse_addr(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    let inner = text.strip_prefix('[')?.split(']').next()?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn rule(header: ForwardedHeader) -> ClientIpRule {
        ClientIpRule::new(&ClientIpSettings {
            trusted_proxies: vec![
                IpNetwork::try_from("10.0.0.0/8".to_owned()).expect("net"),
                IpNetwork::try_from("127.0.0.1".to_owned()).expect("net"),
            ],
            header,
        })
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().expect("ip"), 40_000)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_says() {
        let r = rule(ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["6.6.6.6"]);
        assert_eq!(r.resolve(peer("203.0.113.9"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn right_most_untrusted_address_wins() {
        let r = rule(ForwardedHeader::XForwardedFor);
        // The client forged the first entry; the proxy appended the real one.
        let h = headers("x-forwarded-for", &["6.6.6.6, 198.51.100.7, 10.1.1.1"]);
        assert_eq!(r.resolve(peer("10.0.0.2"), &h), ip("198.51.100.7"));
        let h = headers("x-forwarded-for", &["6.6.6.6", "198.51.100.7:443"]);
        assert_eq!(r.resolve(peer("127.0.0.1"), &h), ip("198.51.100.7"));
    }

    #[test]
    fn all_trusted_uses_the_left_most_and_garbage_stops_the_walk() {
        let r = rule(ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["10.9.9.9, 10.1.1.1"]);
        assert_eq!(r.resolve(peer("10.0.0.2"), &h), ip("10.9.9.9"));
        let h = headers("x-forwarded-for", &["1.1.1.1, unknown, 10.1.1.1"]);
        assert_eq!(r.resolve(peer("10.0.0.2"), &h), ip("10.1.1.1"));
        let h = HeaderMap::new();
        assert_eq!(r.resolve(peer("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn rfc7239_forwarded_is_read_when_configured() {
        let r = rule(ForwardedHeader::Forwarded);
        let h = headers(
            "forwarded",
            &[r#"for=6.6.6.6, for="[2001:db8::1]:4711";proto=https, for=10.2.2.2"#],
        );
        assert_eq!(r.resolve(peer("10.0.0.2"), &h), ip("2001:db8::1"));
        // X-Forwarded-For is ignored when Forwarded is the configured header.
        let h = headers("x-forwarded-for", &["6.6.6.6"]);
        assert_eq!(r.resolve(peer("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn mapped_ipv4_peers_are_reported_as_ipv4() {
        let r = ClientIpRule::default();
        let h = HeaderMap::new();
        assert_eq!(r.resolve(peer("::ffff:192.0.2.1"), &h), ip("192.0.2.1"));
    }
}
