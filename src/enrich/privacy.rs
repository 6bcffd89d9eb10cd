//! IP privacy: what is left of the client's address before it leaves
//! clickgate (truncated to a network prefix, dropped, or kept).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::config::{IpMode, PrivacySettings};

/// How client addresses are anonymised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpPolicy {
    Keep,
    Truncate { v4_bits: u8, v6_bits: u8 },
    Drop,
}

impl IpPolicy {
    pub fn from_settings(s: &PrivacySettings) -> Self {
        match s.ip {
            IpMode::Keep => IpPolicy::Keep,
            IpMode::Drop => IpPolicy::Drop,
            IpMode::Truncate => IpPolicy::Truncate {
                v4_bits: s.ipv4_prefix.min(32),
                v6_bits: s.ipv6_prefix.min(128),
            },
        }
    }

    /// The address as it may leave clickgate; `None` when it must not.
    /// IPv4-mapped IPv6 addresses are treated as the IPv4 address they are.
    pub fn apply(self, ip: IpAddr) -> Option<IpAddr> {
        let ip = ip.to_canonical();
        match self {
            IpPolicy::Keep => Some(ip),
            IpPolicy::Drop => None,
            IpPolicy::Truncate { v4_bits, v6_bits } => Some(match ip {
                IpAddr::V4(v4) => {
                    IpAddr::V4(Ipv4Addr::from(u32::from(v4) & prefix_mask_32(v4_bits)))
                }
                IpAddr::V6(v6) => {
                    IpAddr::V6(Ipv6Addr::from(u128::from(v6) & prefix_mask_128(v6_bits)))
                }
            }),
        }
    }
}

fn prefix_mask_32(bits: u8) -> u32 {
    match bits {
        0 => 0,
        b => u32::MAX << (32 - u32::from(b.min(32))),
    }
}

fn prefix_mask_128(bits: u8) -> u128 {
    match bits {
        0 => 0,
        b => u128::MAX << (128 - u32::from(b.min(128))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn truncate(v4_bits: u8, v6_bits: u8) -> IpPolicy {
        IpPolicy::Truncate { v4_bits, v6_bits }
    }

    #[test]
    fn default_truncation_keeps_a_slash_24_and_a_slash_48() {
        let p = IpPolicy::from_settings(&PrivacySettings::default());
        assert_eq!(p.apply(ip("81.2.69.142")), Some(ip("81.2.69.0")));
        assert_eq!(
            p.apply(ip("2001:db8:1234:5678::1")),
            Some(ip("2001:db8:1234::"))
        );
    }

    #[test]
    fn mapped_ipv4_is_truncated_as_ipv4() {
        assert_eq!(
            truncate(24, 48).apply(ip("::ffff:81.2.69.142")),
            Some(ip("81.2.69.0"))
        );
    }

    #[test]
    fn odd_prefixes_and_edges() {
        assert_eq!(
            truncate(20, 48).apply(ip("10.1.255.9")),
            Some(ip("10.1.240.0"))
        );
        assert_eq!(truncate(0, 0).apply(ip("10.1.2.3")), Some(ip("0.0.0.0")));
        assert_eq!(
            truncate(32, 128).apply(ip("10.1.2.3")),
            Some(ip("10.1.2.3"))
        );
        assert_eq!(truncate(24, 0).apply(ip("2001:db8::1")), Some(ip("::")));
    }

    #[test]
    fn drop_and_keep() {
        assert_eq!(IpPolicy::Drop.apply(ip("81.2.69.142")), None);
        assert_eq!(
            IpPolicy::Keep.apply(ip("81.2.69.142")),
            Some(ip("81.2.69.142"))
        );
    }
}
