//! Indicators of compromise: their types, and the normalisation and
//! validation every value passes before it may reach a MISP search.
//!
//! A value that does not normalise is dropped, never sent. Because every
//! accepted value matches a strict per-type grammar, none can carry MISP's
//! search operators (`%` is a LIKE wildcard, a leading `!` negates).

use std::fmt;
use std::net::IpAddr;

/// The longest URL that is looked up; longer ones are dropped.
pub const MAX_URL_LEN: usize = 4096;

/// What an IoC is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum IocType {
    /// An MD5 file hash.
    Md5,
    /// A SHA-1 file hash.
    Sha1,
    /// A SHA-256 file hash.
    Sha256,
    /// A PE import hash, as Sysmon reports it.
    Imphash,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A domain or host name.
    Domain,
    /// An absolute URL.
    Url,
}

impl IocType {
    /// Every type, in the order datagrams and logs list them.
    pub const ALL: [IocType; 7] = [
        IocType::Md5,
        IocType::Sha1,
        IocType::Sha256,
        IocType::Imphash,
        IocType::Ip,
        IocType::Domain,
        IocType::Url,
    ];

    /// The name used in datagrams, logs and the options file.
    pub fn name(self) -> &'static str {
        match self {
            IocType::Md5 => "md5",
            IocType::Sha1 => "sha1",
            IocType::Sha256 => "sha256",
            IocType::Imphash => "imphash",
            IocType::Ip => "ip",
            IocType::Domain => "domain",
            IocType::Url => "url",
        }
    }

    /// The coarse kind rules match on: `hash`, `ip`, `domain` or `url`.
    pub fn kind(self) -> &'static str {
        match self {
            IocType::Md5 | IocType::Sha1 | IocType::Sha256 | IocType::Imphash => "hash",
            IocType::Ip => "ip",
            IocType::Domain => "domain",
            IocType::Url => "url",
        }
    }

    /// The MISP attribute types a value of this type is searched in.
    /// Composite types match on either half of their value.
    pub fn misp_types(self) -> &'static [&'static str] {
        match self {
            IocType::Md5 => &["md5", "filename|md5", "malware-sample"],
            IocType::Sha1 => &["sha1", "filename|sha1"],
            IocType::Sha256 => &["sha256", "filename|sha256"],
            IocType::Imphash => &["imphash", "filename|imphash"],
            IocType::Ip => &["ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain|ip"],
            IocType::Domain => &["domain", "hostname", "domain|ip"],
            IocType::Url => &["url"],
        }
    }

    /// The hash type whose hex digest has `len` characters, if any.
    pub fn hash_of_len(len: usize) -> Option<IocType> {
        match len {
            32 => Some(IocType::Md5),
            40 => Some(IocType::Sha1),
            64 => Some(IocType::Sha256),
            _ => None,
        }
    }
}

impl fmt::Display for IocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One normalised IoC found in an alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ioc {
    /// What the value is.
    pub kind: IocType,
    /// The normalised value, safe to send to MISP.
    pub value: String,
    /// The alert field it came from, e.g. `data.srcip`.
    pub field: String,
    /// The file a hash belongs to, when the alert names it.
    pub file: Option<String>,
}

/// Why a value was not accepted as an IoC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The value does not have the shape of its type.
    Malformed(&'static str),
    /// The address is not routable on the Internet (loopback, private, ...).
    NotPublic(&'static str),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Malformed(why) => write!(f, "malformed: {why}"),
            Rejection::NotPublic(why) => write!(f, "not public: {why}"),
        }
    }
}

/// Settings that change what normalisation accepts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Acceptance {
    /// Keep loopback, private, link-local, multicast and unspecified
    /// addresses, and internal host names.
    pub keep_private: bool,
}

/// Normalises `raw` as a value of type `kind`.
pub fn normalise(kind: IocType, raw: &str, acceptance: Acceptance) -> Result<String, Rejection> {
    if raw.chars().any(char::is_control) {
        return Err(Rejection::Malformed("control character"));
    }
    let raw = raw.trim();
    match kind {
        IocType::Md5 | IocType::Sha1 | IocType::Sha256 | IocType::Imphash => hash(kind, raw),
        IocType::Ip => ip(raw, acceptance),
        IocType::Domain => domain(raw, acceptance),
        IocType::Url => url(raw),
    }
}

fn hash(kind: IocType, raw: &str) -> Result<String, Rejection> {
    if !expected_hash_len(kind, raw.len()) {
        return Err(Rejection::Malformed("wrong length for the hash type"));
    }
    if !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Rejection::Malformed("not hexadecimal"));
    }
    if raw.bytes().all(|b| b == b'0') {
        return Err(Rejection::Malformed("all zeros"));
    }
    Ok(raw.to_ascii_lowercase())
}

fn expected_hash_len(kind: IocType, len: usize) -> bool {
    match kind {
        IocType::Md5 | IocType::Imphash => len == 32,
        IocType::Sha1 => len == 40,
        IocType::Sha256 => len == 64,
        _ => false,
    }
}

/// Parses an address the way alerts write them: plain, in brackets, with
/// an IPv6 zone, or IPv4-mapped IPv6. The result is in canonical form
/// (IPv6 compressed, IPv4-mapped turned into IPv4).
pub fn parse_ip(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    let raw = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(raw);
    let raw = raw.split_once('%').map_or(raw, |(addr, _zone)| addr);
    let addr: IpAddr = raw.parse().ok()?;
    Some(match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    })
}

fn ip(raw: &str, acceptance: Acceptance) -> Result<String, Rejection> {
    let addr = parse_ip(raw).ok_or(Rejection::Malformed("not an IP address"))?;
    if !acceptance.keep_private {
        if let Some(why) = non_public_reason(addr) {
            return Err(Rejection::NotPublic(why));
        }
    }
    Ok(addr.to_string())
}

/// Why `addr` is not a public Internet address, or `None` when it is.
pub fn non_public_reason(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_multicast() || v4.is_broadcast() {
                Some("multicast or broadcast")
            } else if v4.is_unspecified() || a == 0 {
                Some("unspecified")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast or broadcast")
            } else {
                None
            }
        }
    }
}

/// Host names that only exist inside a network; dropped like private
/// addresses.
const INTERNAL_SUFFIXES: [&str; 5] = ["localhost", "local", "localdomain", "arpa", "internal"];

fn domain(raw: &str, acceptance: Acceptance) -> Result<String, Rejection> {
    let raw = raw.strip_suffix('.').unwrap_or(raw);
    if raw.is_empty() || raw.len() > 253 * 4 {
        return Err(Rejection::Malformed("not a host name"));
    }
    let ascii = idna::domain_to_ascii(raw).map_err(|_| Rejection::Malformed("not a host name"))?;
    check_host_name(&ascii)?;
    let tld = ascii.rsplit('.').next().unwrap_or_default();
    if !acceptance.keep_private && INTERNAL_SUFFIXES.contains(&tld) {
        return Err(Rejection::NotPublic("internal host name"));
    }
    Ok(ascii)
}

fn check_host_name(name: &str) -> Result<(), Rejection> {
    let bad = Rejection::Malformed("not a host name");
    if name.len() > 253 || !name.contains('.') {
        return Err(bad);
    }
    for label in name.split('.') {
        let ok_chars = label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if label.is_empty() || label.len() > 63 || !ok_chars {
            return Err(bad);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad);
        }
    }
    let tld = name.rsplit('.').next().unwrap_or_default();
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    Ok(())
}

fn url(raw: &str) -> Result<String, Rejection> {
    if raw.len() > MAX_URL_LEN {
        return Err(Rejection::Malformed("URL too long"));
    }
    if raw.contains(char::is_whitespace) {
        return Err(Rejection::Malformed("white space in URL"));
    }
    // MISP reads `%` as a LIKE wildcard and has no escape for it, so a
    // percent-encoded URL cannot be searched exactly; its host still is.
    if raw.contains('%') {
        return Err(Rejection::Malformed("percent sign in URL"));
    }
    let parsed = reqwest::Url::parse(raw).map_err(|_| Rejection::Malformed("not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https" | "ftp") || parsed.host_str().is_none() {
        return Err(Rejection::Malformed("not an http, https or ftp URL"));
    }
    Ok(raw.to_string())
}

/// The host of an absolute URL, if it has one, as a domain or IP IoC type
/// and raw value.
pub fn url_host(raw: &str) -> Option<(IocType, String)> {
    let parsed = reqwest::Url::parse(raw.trim()).ok()?;
    match parsed.host()? {
        url::Host::Domain(name) => Some((IocType::Domain, name.to_string())),
        url::Host::Ipv4(v4) => Some((IocType::Ip, v4.to_string())),
        url::Host::Ipv6(v6) => Some((IocType::Ip, v6.to_string())),
    }
}

/// Turns the doubled backslashes that Wazuh writes in Windows paths back
/// into single ones: `C:\\Users` (two backslashes in the decoded string)
/// becomes `C:\Users`.
pub fn windows_path(raw: &str) -> String {
    raw.replace("\\\\", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: Acceptance = Acceptance { keep_private: false };

    fn norm(kind: IocType, raw: &str) -> Result<String, Rejection> {
        normalise(kind, raw, DEFAULT)
    }

    #[test]
    fn hashes_are_lower_cased_and_checked_for_length_and_hex() {
        let upper = "E89C55EFD53017B4BD2C9754399D8FF02DE6BC8D1014D8684B75D180381F0EEC";
        assert_eq!(norm(IocType::Sha256, upper).unwrap(), upper.to_ascii_lowercase());
        assert_eq!(
            norm(IocType::Sha256, &upper[1..]),
            Err(Rejection::Malformed("wrong length for the hash type"))
        );
        assert_eq!(
            norm(IocType::Md5, "4e73669498619133e45027923a37d96g"),
            Err(Rejection::Malformed("not hexadecimal"))
        );
        assert_eq!(norm(IocType::Md5, &"0".repeat(32)), Err(Rejection::Malformed("all zeros")));
        assert!(norm(IocType::Imphash, "D9B720999365740321DA784FA1B54067").is_ok());
    }

    #[test]
    fn addresses_are_canonical_and_private_ones_are_dropped() {
        assert_eq!(
            norm(IocType::Ip, "2001:0db8:0000:0000:0000:ff00:0042:8329").unwrap(),
            "2001:db8::ff00:42:8329"
        );
        assert_eq!(norm(IocType::Ip, "::ffff:198.51.100.7").unwrap(), "198.51.100.7");
        assert_eq!(norm(IocType::Ip, "[2001:db8::1]").unwrap(), "2001:db8::1");
        assert_eq!(norm(IocType::Ip, "fe80::1%eth0"), Err(Rejection::NotPublic("link-local")));
        assert_eq!(norm(IocType::Ip, "127.0.0.1"), Err(Rejection::NotPublic("loopback")));
        assert_eq!(norm(IocType::Ip, "10.1.2.3"), Err(Rejection::NotPublic("private")));
        assert_eq!(norm(IocType::Ip, "100.64.0.9"), Err(Rejection::NotPublic("private")));
        assert_eq!(norm(IocType::Ip, "fd00::5"), Err(Rejection::NotPublic("private")));
        assert_eq!(
            norm(IocType::Ip, "224.0.0.251"),
            Err(Rejection::NotPublic("multicast or broadcast"))
        );
        assert_eq!(norm(IocType::Ip, "0.0.0.0"), Err(Rejection::NotPublic("unspecified")));
        assert_eq!(norm(IocType::Ip, "not-an-ip"), Err(Rejection::Malformed("not an IP address")));
        let keep = Acceptance { keep_private: true };
        assert_eq!(normalise(IocType::Ip, "192.168.0.4", keep).unwrap(), "192.168.0.4");
    }

    #[test]
    fn domains_lose_the_trailing_dot_and_idn_becomes_punycode() {
        assert_eq!(
            norm(IocType::Domain, "Update-Check.Example.NET.").unwrap(),
            "update-check.example.net"
        );
        assert_eq!(norm(IocType::Domain, "bücher.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(
            norm(IocType::Domain, "WORKSTATION"),
            Err(Rejection::Malformed("not a host name"))
        );
        assert_eq!(norm(IocType::Domain, "a..b"), Err(Rejection::Malformed("not a host name")));
        assert_eq!(norm(IocType::Domain, "10.0.0.1"), Err(Rejection::Malformed("not a host name")));
        assert_eq!(
            norm(IocType::Domain, "%.example.com"),
            Err(Rejection::Malformed("not a host name"))
        );
        assert_eq!(
            norm(IocType::Domain, "!evil.example.com"),
            Err(Rejection::Malformed("not a host name"))
        );
        assert_eq!(
            norm(IocType::Domain, "printer.local"),
            Err(Rejection::NotPublic("internal host name"))
        );
    }

    #[test]
    fn urls_must_be_absolute_and_free_of_search_operators() {
        assert_eq!(
            norm(IocType::Url, " http://evil.example.com/a.php ").unwrap(),
            "http://evil.example.com/a.php"
        );
        assert_eq!(norm(IocType::Url, "/index.php"), Err(Rejection::Malformed("not a URL")));
        assert_eq!(
            norm(IocType::Url, "http://x.example.com/a%20b"),
            Err(Rejection::Malformed("percent sign in URL"))
        );
        assert_eq!(
            norm(IocType::Url, "javascript:alert(1)"),
            Err(Rejection::Malformed("not an http, https or ftp URL"))
        );
        assert_eq!(
            norm(IocType::Url, "http://a\nb"),
            Err(Rejection::Malformed("control character"))
        );
        let long = format!("http://x.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(norm(IocType::Url, &long), Err(Rejection::Malformed("URL too long")));
    }

    #[test]
    fn values_with_control_characters_are_refused() {
        assert_eq!(
            norm(IocType::Ip, "198.51.100.1\u{0}"),
            Err(Rejection::Malformed("control character"))
        );
    }

    #[test]
    fn a_url_host_is_found_as_domain_or_address() {
        assert_eq!(
            url_host("https://C2.Example.org:8443/x"),
            Some((IocType::Domain, "c2.example.org".into()))
        );
        assert_eq!(url_host("http://[2001:db8::2]/"), Some((IocType::Ip, "2001:db8::2".into())));
        assert_eq!(url_host("/relative"), None);
    }

    #[test]
    fn doubled_backslashes_in_windows_paths_become_single() {
        assert_eq!(windows_path("C:\\\\Users\\\\Public\\\\a.exe"), "C:\\Users\\Public\\a.exe");
    }

    #[test]
    fn normalised_values_are_stable_when_normalised_again() {
        for (kind, raw) in [
            (IocType::Ip, "2001:0db8::0001"),
            (IocType::Domain, "Bücher.Example."),
            (IocType::Sha1, "28552B021D7B5AAEADB1EFAEF131D27163E14C40"),
        ] {
            let once = norm(kind, raw).unwrap();
            assert_eq!(norm(kind, &once).unwrap(), once);
        }
    }
}
