//! What MISP does to an attribute value before storing it: refanging,
//! normalising (lower-case hashes, compressed IPv6, `ip|port` from
//! `ip:port`) and checking the value against its type.
//!
//! The checks cover the types that carry IoCs; other types accept any
//! non-empty value, as they mostly do in MISP.
//! TODO: regex-heavy checks (ssdeep, tlsh, onion addresses) are missing.

use std::net::{IpAddr, Ipv6Addr};

/// Hex lengths of the hash-like types.
const HASH_LENGTHS: &[(&str, usize)] = &[
    ("authentihash", 64),
    ("md5", 32),
    ("imphash", 32),
    ("sha1", 40),
    ("git-commit-id", 40),
    ("x509-fingerprint-md5", 32),
    ("x509-fingerprint-sha1", 40),
    ("x509-fingerprint-sha256", 64),
    ("ja3-fingerprint-md5", 32),
    ("jarm-fingerprint", 62),
    ("hassh-md5", 32),
    ("hasshserver-md5", 32),
    ("pehash", 40),
    ("sha224", 56),
    ("sha256", 64),
    ("sha384", 96),
    ("sha512", 128),
    ("sha512/224", 56),
    ("sha512/256", 64),
    ("sha3-224", 56),
    ("sha3-256", 64),
    ("sha3-384", 96),
    ("sha3-512", 128),
    ("dom-hash", 32),
];

/// Types that MISP lower-cases on the way in.
const LOWERCASED: &[&str] = &[
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha512/224",
    "sha512/256",
    "sha3-224",
    "sha3-256",
    "sha3-384",
    "sha3-512",
    "ja3-fingerprint-md5",
    "jarm-fingerprint",
    "hassh-md5",
    "hasshserver-md5",
    "hostname",
    "pehash",
    "authentihash",
    "vhash",
    "imphash",
    "telfhash",
    "tlsh",
    "anonymised",
    "cdhash",
    "email",
    "email-src",
    "email-dst",
    "target-email",
    "whois-registrant-email",
    "dom-hash",
    "onion-address",
];

/// Types whose value must fit on one line.
const SINGLE_LINE: &[&str] = &[
    "url",
    "uri",
    "user-agent",
    "regkey",
    "regkey|value",
    "filename",
    "pdb",
    "target-user",
    "campaign-name",
    "campaign-id",
    "threat-actor",
    "target-machine",
    "target-org",
    "target-location",
    "target-external",
    "email-subject",
    "malware-type",
    "windows-scheduled-task",
    "whois-registrant-name",
    "whois-registrant-org",
    "whois-registrar",
    "whois-creation-date",
    "github-username",
    "github-repository",
    "github-organisation",
    "chrome-extension-id",
    "mobile-application-id",
    "named pipe",
];

/// Types whose value gets `[.]`-style defanging undone.
const REFANGED_DOTS: &[&str] = &[
    "link",
    "url",
    "ip-dst",
    "ip-src",
    "domain|ip",
    "domain",
    "hostname",
    "email",
    "email-src",
    "email-dst",
];

/// Refangs, trims and normalises `value` for `type_`, then checks it.
/// The error is MISP's message for the `value` field.
pub fn prepare(type_: &str, value: &str) -> Result<String, String> {
    let value = replace_four_byte_chars(&refang(type_, value.trim()));
    let value = normalise(type_, &value);
    if value.is_empty() {
        return Err("Value cannot be empty.".to_owned());
    }
    if value.chars().all(char::is_control) {
        return Err("Value provided consists purely of control characters and is therefore \
                    considered to be empty."
            .to_owned());
    }
    if crate::types::is_composite(type_) && value.matches('|').count() != 1 {
        return Err(
            "Composite type found but the value not in the composite (value1|value2) format."
                .to_owned(),
        );
    }
    check(type_, &value).map(|()| value)
}

/// Normalises an IP the way MISP stores it: IPv6 compressed, `/32` and
/// `/128` dropped.
pub fn normalise_ip(value: &str) -> String {
    if let Some((ip, range)) = value.split_once('/') {
        let ip = compress_ipv6(ip);
        let host_range =
            (range == "32" && ip.contains('.')) || (range == "128" && ip.contains(':'));
        return if host_range { ip } else { format!("{ip}/{range}") };
    }
    compress_ipv6(value)
}

/// The canonical text of an IPv6 address, or the input when it is not one.
pub fn compress_ipv6(value: &str) -> String {
    match value.parse::<Ipv6Addr>() {
        Ok(ip) if value.contains(':') => ip.to_string(),
        _ => value.to_owned(),
    }
}

fn refang(type_: &str, value: &str) -> String {
    let mut value = value.to_owned();
    if type_ == "url" || type_ == "link" {
        value = refang_scheme(&value).replace("[hxxp://]", "http://").replace("[:]", ":");
    }
    if REFANGED_DOTS.contains(&type_) {
        value = value.replace("[.]", ".").replace("[dot]", ".").replace("(dot)", ".");
    }
    if is_email_type(type_) {
        value = value.replace("[@]", "@").replace("[at]", "@");
    }
    value
}

fn refang_scheme(value: &str) -> String {
    for prefix in ["hxxp", "hxtp", "htxp", "meow", "h[tt]p"] {
        if value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix) {
            return format!("http{}", &value[prefix.len()..]);
        }
    }
    value.to_owned()
}

/// MISP's storage cannot hold four-byte UTF-8 characters and replaces them.
fn replace_four_byte_chars(value: &str) -> String {
    value.chars().map(|c| if c.len_utf8() == 4 { '?' } else { c }).collect()
}

fn normalise(type_: &str, value: &str) -> String {
    match type_ {
        "ip-src" | "ip-dst" => normalise_ip(value),
        t if LOWERCASED.contains(&t) => value.to_lowercase(),
        "domain" => value.to_lowercase().trim_matches('.').to_owned(),
        "domain|ip" => normalise_domain_ip(value),
        t if t.starts_with("filename|") && t != "filename|ssdeep" => lower_second_half(value),
        "http-method" | "hex" | "vulnerability" | "weakness" => value.to_uppercase(),
        t if t.starts_with("x509-fingerprint-") => value.replace(':', "").to_lowercase(),
        "ip-src|port" | "ip-dst|port" => normalise_ip_port(value),
        "mac-address" | "mac-eui-64" => normalise_mac(value),
        "hostname|port" => value.to_lowercase().replace(':', "|"),
        "AS" => value.strip_prefix("AS").or(value.strip_prefix("as")).unwrap_or(value).to_owned(),
        _ => value.to_owned(),
    }
}

fn normalise_domain_ip(value: &str) -> String {
    let value = value.to_lowercase();
    match value.split_once('|') {
        Some((domain, ip)) => format!("{}|{}", domain.trim_matches('.'), normalise_ip(ip)),
        None => value,
    }
}

fn lower_second_half(value: &str) -> String {
    match value.split_once('|') {
        Some((name, hash)) => format!("{name}|{}", hash.to_lowercase()),
        None => value.to_owned(),
    }
}

/// Accepts `ip|port`, `ip:port`, `[v6]:port` and `v6|port`.
fn normalise_ip_port(value: &str) -> String {
    let parts = if value.matches(':').count() >= 2 {
        split_ipv6_port(value)
    } else if value.find(':').is_some_and(|p| p > 0) {
        value.split_once(':')
    } else {
        value.split_once('|')
    };
    match parts {
        Some((ip, port)) => format!("{}|{port}", normalise_ip(ip)),
        None => value.to_owned(),
    }
}

fn split_ipv6_port(value: &str) -> Option<(&str, &str)> {
    if let Some(split) = value.split_once('|') {
        return Some(split);
    }
    if let Some(rest) = value.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']')?;
        return Some((ip, tail.trim_start_matches(':')));
    }
    value.rsplit_once(':')
}

fn normalise_mac(value: &str) -> String {
    let hex: Vec<char> =
        value.to_lowercase().chars().filter(|c| !matches!(c, '.' | ':' | '-' | ' ')).collect();
    hex.chunks(2).map(|pair| pair.iter().collect::<String>()).collect::<Vec<_>>().join(":")
}

fn check(type_: &str, value: &str) -> Result<(), String> {
    if let Some(length) = hash_length(type_) {
        return check_hash(value, length);
    }
    if let Some(hash) = type_.strip_prefix("filename|") {
        return check_filename_hash(hash, value);
    }
    match type_ {
        "ip-src" | "ip-dst" => check_ip_or_cidr(value),
        "port" => check_port(value),
        "ip-src|port" | "ip-dst|port" => check_ip_port(value),
        "hostname" | "domain" => check_domain(value, type_),
        "hostname|port" => check_hostname_port(value),
        "domain|ip" => check_domain_ip(value),
        "counter" | "size-in-bytes" => check_whole_number(value),
        "AS" => check_as(value),
        "datetime" => check_datetime(value),
        "vulnerability" => {
            check_prefixed(value, "CVE-", "Invalid format. Expected: CVE-xxxx-xxxx...")
        }
        "weakness" => check_prefixed(value, "CWE-", "Invalid format. Expected: CWE-x..."),
        t if t.starts_with("email") && is_email_type(t) => check_email(value),
        t if SINGLE_LINE.contains(&t) && value.contains('\n') => {
            Err("Value must not contain new line character.".to_owned())
        }
        _ => Ok(()),
    }
}

fn hash_length(type_: &str) -> Option<usize> {
    HASH_LENGTHS.iter().find(|(name, _)| *name == type_).map(|(_, length)| *length)
}

fn is_hex(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_hash(value: &str, length: usize) -> Result<(), String> {
    if value.len() == length && is_hex(value) {
        return Ok(());
    }
    Err(format!(
        "Checksum has an invalid length or format (expected: {length} hexadecimal characters). \
         Please double check the value or select type \"other\"."
    ))
}

fn check_filename_hash(hash: &str, value: &str) -> Result<(), String> {
    let Some(length) = hash_length(hash) else {
        return Ok(());
    };
    let (name, digest) = value.split_once('|').unwrap_or((value, ""));
    if !name.is_empty() && !name.contains('\n') && digest.len() == length && is_hex(digest) {
        return Ok(());
    }
    Err(format!(
        "Checksum has an invalid length or format (expected: filename|{length} hexadecimal \
         characters). Please double check the value or select type \"other\"."
    ))
}

fn ip_error() -> String {
    "IP address has an invalid format.".to_owned()
}

fn check_ip_or_cidr(value: &str) -> Result<(), String> {
    let Some((ip, bits)) = value.split_once('/') else {
        return value.parse::<IpAddr>().map(|_| ()).map_err(|_| ip_error());
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return Err("Invalid CIDR notation value found.".to_owned());
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) if bits > 32 => {
            Err("Invalid CIDR notation value found, for IPv4 must be lower or equal 32.".to_owned())
        }
        Ok(IpAddr::V6(_)) if bits > 128 => {
            Err("Invalid CIDR notation value found, for IPv6 must be lower or equal 128."
                .to_owned())
        }
        Ok(_) => Ok(()),
        Err(_) => Err(ip_error()),
    }
}

fn check_port(value: &str) -> Result<(), String> {
    match value.parse::<u32>() {
        Ok(port) if (1..=65_535).contains(&port) && value.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(())
        }
        _ => Err("Port numbers have to be integers between 1 and 65535.".to_owned()),
    }
}

fn check_ip_port(value: &str) -> Result<(), String> {
    let (ip, port) = value.split_once('|').unwrap_or((value, ""));
    ip.parse::<IpAddr>().map_err(|_| ip_error())?;
    check_port(port)
}

fn is_domain(value: &str) -> bool {
    let Some((head, tld)) = value.rsplit_once('.') else {
        return false;
    };
    let head_ok = !head.is_empty()
        && head.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let tld_ok = tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    head_ok && tld_ok
}

fn check_domain(value: &str, type_: &str) -> Result<(), String> {
    if is_domain(value) {
        return Ok(());
    }
    let name = if type_ == "domain" { "Domain" } else { "Hostname" };
    Err(format!(
        "{name} has an invalid format. Please double check the value or select type \"other\"."
    ))
}

fn check_hostname_port(value: &str) -> Result<(), String> {
    let (host, port) = value.split_once('|').unwrap_or((value, ""));
    if !is_domain(host) {
        return Err("Hostname has an invalid format.".to_owned());
    }
    check_port(port)
}

fn check_domain_ip(value: &str) -> Result<(), String> {
    let (domain, ip) = value.split_once('|').unwrap_or((value, ""));
    if !is_domain(domain) {
        return Err("Domain has an invalid format.".to_owned());
    }
    ip.parse::<IpAddr>().map(|_| ()).map_err(|_| ip_error())
}

fn check_whole_number(value: &str) -> Result<(), String> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err("The value has to be a whole number greater or equal 0.".to_owned())
}

fn check_as(value: &str) -> Result<(), String> {
    match value.parse::<u64>() {
        Ok(n) if n <= 4_294_967_295 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err("AS number have to be integer between 1 and 4294967295".to_owned()),
    }
}

fn check_datetime(value: &str) -> Result<(), String> {
    match crate::clock::parse_iso(value) {
        Some(_) => Ok(()),
        None => Err("Datetime has to be in the ISO 8601 format.".to_owned()),
    }
}

fn check_prefixed(value: &str, prefix: &str, message: &str) -> Result<(), String> {
    let rest = value.strip_prefix(prefix).unwrap_or("");
    let ok = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(message.to_owned())
    }
}

fn is_email_type(type_: &str) -> bool {
    matches!(type_, "email" | "email-src" | "email-dst")
}

fn check_email(value: &str) -> Result<(), String> {
    let valid = value.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && !user.contains(' ') && domain.contains('.')
    });
    if valid {
        return Ok(());
    }
    Err("Email address has an invalid format. Please double check the value or select type \
         \"other\"."
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_lower_cased_and_checked_for_length() {
        let md5 = "D41D8CD98F00B204E9800998ECF8427E";
        assert_eq!(prepare("md5", md5).unwrap(), md5.to_lowercase());
        let error = prepare("md5", "abc").unwrap_err();
        assert!(error.starts_with("Checksum has an invalid length"), "{error}");
    }

    #[test]
    fn an_ip_with_a_port_in_colon_form_becomes_composite() {
        assert_eq!(prepare("ip-dst|port", "10.0.0.1:443").unwrap(), "10.0.0.1|443");
        assert_eq!(prepare("ip-dst|port", "[2001:db8::1]:80").unwrap(), "2001:db8::1|80");
    }

    #[test]
    fn ipv6_is_compressed_and_host_cidrs_dropped() {
        assert_eq!(
            prepare("ip-src", "2001:0db8:0000:0000:0000:0000:0000:0001").unwrap(),
            "2001:db8::1"
        );
        assert_eq!(prepare("ip-src", "1.2.3.4/32").unwrap(), "1.2.3.4");
        assert_eq!(
            prepare("ip-src", "1.2.3.999").unwrap_err(),
            "IP address has an invalid format."
        );
    }

    #[test]
    fn defanged_urls_and_domains_are_refanged() {
        assert_eq!(prepare("url", "hxxp://evil[.]example/x").unwrap(), "http://evil.example/x");
        assert_eq!(prepare("domain", "Evil[.]Example.").unwrap(), "evil.example");
    }

    #[test]
    fn a_composite_type_needs_exactly_one_bar() {
        let error = prepare("filename|sha256", "a.exe").unwrap_err();
        assert!(error.starts_with("Composite type found"), "{error}");
    }
}
