//! Warninglists: lists of well-known values (public resolvers, CDNs, top
//! domains) that MISP uses to flag or drop false positives.
//!
//! A list made only of IPs and CIDR blocks is a `cidr` list and matches
//! every address inside its blocks; any other list is a `string` list and
//! matches exact values. MISP's hostname, substring and regex lists are
//! not modelled.

use std::collections::HashSet;
use std::net::IpAddr;

/// One enabled warninglist.
#[derive(Debug, Clone)]
pub struct Warninglist {
    /// The list's id, reported with each hit.
    pub id: u64,
    /// The list's name, reported with each hit.
    pub name: String,
    /// MISP's `category`: `false_positive` or `known`.
    pub category: String,
    entries: Entries,
}

#[derive(Debug, Clone)]
enum Entries {
    Cidr(Vec<(IpAddr, u8)>),
    Strings(HashSet<String>),
}

impl Warninglist {
    /// A list of `values`, typed `cidr` when every value is an IP or a
    /// CIDR block and `string` otherwise.
    pub fn new(id: u64, name: &str, values: &[&str]) -> Warninglist {
        let blocks: Option<Vec<(IpAddr, u8)>> = values.iter().map(|v| parse_block(v)).collect();
        let entries = match blocks {
            Some(blocks) if !blocks.is_empty() => Entries::Cidr(blocks),
            _ => Entries::Strings(values.iter().map(|v| v.trim().to_owned()).collect()),
        };
        Warninglist { id, name: name.to_owned(), category: "false_positive".to_owned(), entries }
    }

    /// MISP's list type name.
    #[cfg(test)]
    pub fn kind(&self) -> &'static str {
        match self.entries {
            Entries::Cidr(_) => "cidr",
            Entries::Strings(_) => "string",
        }
    }

    /// The entry that `value` hits, as MISP reports it (`8.8.8.8/32` for
    /// a CIDR list), or `None`.
    pub fn hit(&self, value: &str) -> Option<String> {
        match &self.entries {
            Entries::Cidr(blocks) => cidr_hit(blocks, value),
            Entries::Strings(strings) => strings.contains(value).then(|| value.to_owned()),
        }
    }

    /// Checks each half of a composite value: `[matched entry, half]`.
    pub fn hit_attribute(&self, type_: &str, value: &str) -> Option<(String, String)> {
        let halves: Vec<&str> = if crate::types::is_composite(type_) {
            value.splitn(2, '|').collect()
        } else {
            vec![value]
        };
        halves.into_iter().find_map(|half| self.hit(half).map(|hit| (hit, half.to_owned())))
    }
}

/// Parses `1.2.3.4` or `1.2.3.0/24` into its network and prefix length.
fn parse_block(text: &str) -> Option<(IpAddr, u8)> {
    let text = text.trim();
    let (ip, bits) = match text.split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?),
        None => {
            let ip = text.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then(|| (network(ip, bits), bits))
}

/// The first address of the block of `ip` with `bits` leading bits.
fn network(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// The widest block containing `value`, refusing a value block wider
/// than the matching one, as MISP's CIDR check does.
fn cidr_hit(blocks: &[(IpAddr, u8)], value: &str) -> Option<String> {
    let (ip, value_bits) = parse_block(value)?;
    blocks
        .iter()
        .filter(|(net, bits)| net.is_ipv4() == ip.is_ipv4() && network(ip, *bits) == *net)
        .min_by_key(|(_, bits)| *bits)
        .filter(|(_, bits)| value_bits >= *bits)
        .map(|(net, bits)| format!("{net}/{bits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolver_list_matches_addresses_inside_its_blocks() {
        let list = Warninglist::new(1, "resolvers", &["8.8.8.8", "1.1.1.0/24"]);
        assert_eq!(list.kind(), "cidr");
        assert_eq!(list.hit("8.8.8.8").as_deref(), Some("8.8.8.8/32"));
        assert_eq!(list.hit("1.1.1.7").as_deref(), Some("1.1.1.0/24"));
        assert_eq!(list.hit("8.8.4.4"), None);
    }

    #[test]
    fn a_domain_list_matches_exact_values() {
        let list = Warninglist::new(2, "top", &["google.com"]);
        assert_eq!(list.kind(), "string");
        assert!(list.hit("google.com").is_some());
        assert!(list.hit("www.google.com").is_none());
    }

    #[test]
    fn either_half_of_a_composite_value_can_hit() {
        let list = Warninglist::new(1, "resolvers", &["8.8.8.8"]);
        let hit = list.hit_attribute("ip-dst|port", "8.8.8.8|53").unwrap();
        assert_eq!(hit, ("8.8.8.8/32".to_owned(), "8.8.8.8".to_owned()));
    }
}
