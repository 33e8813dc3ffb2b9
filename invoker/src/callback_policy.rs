//! Which addresses a callback may be sent to. A caller who may invoke chooses the callback URL,
//! so without a rule the server would POST wherever it can reach: its own loopback services,
//! the cloud metadata endpoint, the private network behind it. By default only public
//! addresses are allowed; the operator opens more with `--callback-allow CIDR|host`.
//!
//! The check is on addresses, after resolution, and the connection goes to an address that
//! passed it (see `events::callback::target::PolicyResolver`), so a name that resolves differently the second time (DNS
//! rebinding) gains nothing; IP literals in any spelling (`0x7f000001`, `2130706433`) are
//! normalised by the URL parser before they are checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address block, `10.0.0.0/8` or `fd00::/8`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => masked(u32::from(net).into(), self.prefix, 32) == masked(u32::from(ip).into(), self.prefix, 32),
            (IpAddr::V6(net), IpAddr::V6(ip)) => masked(u128::from(net), self.prefix, 128) == masked(u128::from(ip), self.prefix, 128),
            _ => false,
        }
    }
}

fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
    match prefix {
        0 => 0,
        p => bits >> (width - p),
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (address, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let network = canonical(address.parse::<IpAddr>().map_err(|_| format!("{s:?} is not an address or CIDR block"))?);
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= width).ok_or_else(|| format!("{s:?}: prefix must be 0..={width}"))?,
        };
        Ok(Self { network, prefix })
    }
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What the operator allowed beyond public addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackPolicy {
    blocks: Vec<Cidr>,
    /// Host names allowed whatever they resolve to (lowercase).
    hosts: Vec<String>,
}

impl CallbackPolicy {
    /// From `--callback-allow` values: CIDR blocks, addresses, or host names.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut policy = Self::default();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err("an empty --callback-allow entry".into());
            }
            match entry.parse::<Cidr>() {
                Ok(block) => policy.blocks.push(block),
                Err(_) if entry.contains('/') || entry.contains(':') => return Err(format!("--callback-allow {entry:?}: not a CIDR block")),
                Err(_) => policy.hosts.push(entry.to_ascii_lowercase()),
            }
        }
        Ok(policy)
    }

    /// Whether `host` (a name in a URL) is allowed whatever its addresses.
    pub fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether a callback may be sent to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        is_public(canonical(ip)) || self.blocks.iter().any(|b| b.contains(ip))
    }
}

/// Not loopback, link-local, private, shared (CGNAT), unspecified, broadcast, multicast,
/// documentation or otherwise reserved.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b);
    let reserved = a == 0 || a >= 240 || (a == 192 && b == 0) || (a == 198 && (18..20).contains(&b));
    !(ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_broadcast() || ip.is_multicast() || ip.is_documentation() || shared || reserved)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    let nat64 = ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local || documentation || nat64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_by_default() {
        let policy = CallbackPolicy::default();
        for blocked in [
            "127.0.0.1",
            "127.8.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!policy.allows(ip(blocked)), "{blocked} allowed");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(policy.allows(ip(public)), "{public} refused");
        }
    }

    #[test]
    fn the_operator_opens_blocks_and_hosts() {
        let policy = CallbackPolicy::parse(&["127.0.0.1".into(), "10.0.0.0/8".into(), "fd00::/8".into(), "Hooks.Internal".into()]).unwrap();
        assert!(policy.allows(ip("127.0.0.1")) && !policy.allows(ip("127.0.0.2")));
        assert!(policy.allows(ip("10.200.3.4")));
        assert!(policy.allows(ip("fd12::1")) && !policy.allows(ip("fc00::1")));
        assert!(policy.allows(ip("::ffff:10.9.9.9")), "a mapped address is its IPv4 address");
        assert!(policy.allows_host("hooks.internal") && !policy.allows_host("other.internal"));
        for bad in ["10.0.0.0/33", "fd00::/129", "1.2.3/8", "", "a:b"] {
            assert!(CallbackPolicy::parse(&[bad.to_string()]).is_err(), "{bad:?} accepted");
        }
        assert!(CallbackPolicy::parse(&["0.0.0.0/0".into()]).unwrap().allows(ip("127.0.0.1")), "everything, if the operator says so");
    }
}
