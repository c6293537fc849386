//! MISP's attribute vocabulary: every type with its default category and
//! IDS flag, and every category with the types it admits. A type is
//! composite when its value holds two parts joined by `|`.
//!
//! The tables are MISP 2.5.1's; an attribute whose type or category is
//! not here is refused as MISP refuses it.

use std::collections::HashMap;
use std::sync::OnceLock;

/// What MISP knows about one attribute type.
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo {
    /// The category given to an attribute sent without one.
    pub default_category: &'static str,
    /// The IDS flag given to an attribute sent without one.
    pub to_ids: bool,
}

/// Types that never correlate with other events.
pub const NON_CORRELATING: &[&str] = &[
    "comment",
    "http-method",
    "aba-rtn",
    "gender",
    "counter",
    "integer",
    "float",
    "port",
    "nationality",
    "cortex",
    "boolean",
    "anonymised",
];

/// Composite types whose second half (a port) does not correlate.
pub const PRIMARY_ONLY_CORRELATING: &[&str] = &["ip-src|port", "ip-dst|port", "hostname|port"];

/// The defaults of `type`, or `None` when MISP does not know the type.
pub fn info(type_: &str) -> Option<TypeInfo> {
    tables().types.get(type_).copied()
}

/// Whether `category` is one of MISP's categories.
pub fn is_category(category: &str) -> bool {
    tables().categories.contains_key(category)
}

/// Whether `type_` may be filed under `category`.
pub fn category_admits(category: &str, type_: &str) -> bool {
    tables().categories.get(category).is_some_and(|types| types.contains(&type_))
}

/// Whether values of `type_` hold two parts separated by `|`.
pub fn is_composite(type_: &str) -> bool {
    type_ == "malware-sample" || type_.contains('|')
}

/// Splits a value into MISP's `value1` and `value2` columns.
pub fn split_value<'a>(type_: &str, value: &'a str) -> (&'a str, &'a str) {
    if is_composite(type_) {
        value.split_once('|').unwrap_or((value, ""))
    } else {
        (value, "")
    }
}

struct Tables {
    types: HashMap<&'static str, TypeInfo>,
    categories: HashMap<&'static str, Vec<&'static str>>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| Tables { types: parse_types(), categories: parse_categories() })
}

fn parse_types() -> HashMap<&'static str, TypeInfo> {
    let mut types = HashMap::new();
    for line in TYPES.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.split(';');
        let (Some(name), Some(category), Some(ids)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        types.insert(name, TypeInfo { default_category: category, to_ids: ids == "1" });
    }
    types
}

fn parse_categories() -> HashMap<&'static str, Vec<&'static str>> {
    let mut categories = HashMap::new();
    for line in CATEGORIES.lines().filter(|l| !l.is_empty()) {
        if let Some((name, types)) = line.split_once(": ") {
            categories.insert(name, types.split(", ").collect());
        }
    }
    categories
}

const TYPES: &str = "\
md5;Payload delivery;1
sha1;Payload delivery;1
sha256;Payload delivery;1
filename;Payload delivery;1
pdb;Artifacts dropped;0
filename|md5;Payload delivery;1
filename|sha1;Payload delivery;1
filename|sha256;Payload delivery;1
ip-src;Network activity;1
ip-dst;Network activity;1
hostname;Network activity;1
domain;Network activity;1
domain|ip;Network activity;1
email;Social network;1
email-src;Payload delivery;1
eppn;Network activity;1
email-dst;Network activity;1
email-subject;Payload delivery;0
email-attachment;Payload delivery;1
email-body;Payload delivery;0
float;Other;0
git-commit-id;Internal reference;0
url;Network activity;1
http-method;Network activity;0
user-agent;Network activity;0
ja3-fingerprint-md5;Network activity;1
jarm-fingerprint;Network activity;1
favicon-mmh3;Network activity;1
hassh-md5;Network activity;1
hasshserver-md5;Network activity;1
regkey;Persistence mechanism;1
regkey|value;Persistence mechanism;1
AS;Network activity;0
snort;Network activity;1
bro;Network activity;1
zeek;Network activity;1
community-id;Network activity;1
dom-hash;Network activity;1
pattern-in-file;Payload installation;1
pattern-in-traffic;Network activity;1
pattern-in-memory;Payload installation;1
filename-pattern;Payload installation;1
pgp-public-key;Person;0
pgp-private-key;Person;0
ssh-fingerprint;Network activity;0
yara;Payload installation;1
stix2-pattern;Payload installation;1
sigma;Payload installation;1
gene;Artifacts dropped;0
kusto-query;Artifacts dropped;0
mime-type;Artifacts dropped;0
identity-card-number;Person;0
cookie;Network activity;0
vulnerability;External analysis;0
cpe;External analysis;0
weakness;External analysis;0
attachment;External analysis;0
malware-sample;Payload delivery;1
link;External analysis;0
comment;Other;0
text;Other;0
hex;Other;0
other;Other;0
named pipe;Artifacts dropped;0
mutex;Artifacts dropped;1
process-state;Artifacts dropped;0
target-user;Targeting data;0
target-email;Targeting data;0
target-machine;Targeting data;0
target-org;Targeting data;0
target-location;Targeting data;0
target-external;Targeting data;0
btc;Financial fraud;1
dash;Financial fraud;1
xmr;Financial fraud;1
iban;Financial fraud;1
bic;Financial fraud;1
bank-account-nr;Financial fraud;1
aba-rtn;Financial fraud;1
bin;Financial fraud;1
cc-number;Financial fraud;1
prtn;Financial fraud;1
phone-number;Person;0
threat-actor;Attribution;0
campaign-name;Attribution;0
campaign-id;Attribution;0
malware-type;Payload delivery;0
uri;Network activity;1
authentihash;Payload delivery;1
vhash;Payload delivery;1
ssdeep;Payload delivery;1
imphash;Payload delivery;1
telfhash;Payload delivery;1
pehash;Payload delivery;1
impfuzzy;Payload delivery;1
sha224;Payload delivery;1
sha384;Payload delivery;1
sha512;Payload delivery;1
sha512/224;Payload delivery;1
sha512/256;Payload delivery;1
sha3-224;Payload delivery;1
sha3-256;Payload delivery;1
sha3-384;Payload delivery;1
sha3-512;Payload delivery;1
tlsh;Payload delivery;1
cdhash;Payload delivery;1
filename|authentihash;Payload delivery;1
filename|vhash;Payload delivery;1
filename|ssdeep;Payload delivery;1
filename|imphash;Payload delivery;1
filename|impfuzzy;Payload delivery;1
filename|pehash;Payload delivery;1
filename|sha224;Payload delivery;1
filename|sha384;Payload delivery;1
filename|sha512;Payload delivery;1
filename|sha512/224;Payload delivery;1
filename|sha512/256;Payload delivery;1
filename|sha3-224;Payload delivery;1
filename|sha3-256;Payload delivery;1
filename|sha3-384;Payload delivery;1
filename|sha3-512;Payload delivery;1
filename|tlsh;Payload delivery;1
windows-scheduled-task;Artifacts dropped;0
windows-service-name;Artifacts dropped;0
windows-service-displayname;Artifacts dropped;0
whois-registrant-email;Attribution;0
whois-registrant-phone;Attribution;0
whois-registrant-name;Attribution;0
whois-registrant-org;Attribution;0
whois-registrar;Attribution;0
whois-creation-date;Attribution;0
x509-fingerprint-sha1;Network activity;1
x509-fingerprint-md5;Network activity;1
x509-fingerprint-sha256;Network activity;1
dns-soa-email;Attribution;0
size-in-bytes;Other;0
counter;Other;0
integer;Other;0
datetime;Other;0
port;Network activity;0
ip-dst|port;Network activity;1
ip-src|port;Network activity;1
hostname|port;Network activity;1
mac-address;Network activity;0
mac-eui-64;Network activity;0
email-dst-display-name;Payload delivery;0
email-src-display-name;Payload delivery;0
email-header;Payload delivery;0
email-reply-to;Payload delivery;0
email-x-mailer;Payload delivery;0
email-mime-boundary;Payload delivery;0
email-thread-index;Payload delivery;0
email-message-id;Payload delivery;0
github-username;Social network;0
github-repository;Social network;0
github-organisation;Social network;0
jabber-id;Social network;0
twitter-id;Social network;0
dkim;Network activity;0
dkim-signature;Network activity;0
first-name;Person;0
middle-name;Person;0
last-name;Person;0
full-name;Person;0
date-of-birth;Person;0
place-of-birth;Person;0
gender;Person;0
passport-number;Person;0
passport-country;Person;0
passport-expiration;Person;0
redress-number;Person;0
nationality;Person;0
visa-number;Person;0
issue-date-of-the-visa;Person;0
primary-residence;Person;0
country-of-residence;Person;0
special-service-request;Person;0
frequent-flyer-number;Person;0
travel-details;Person;0
payment-details;Person;0
place-port-of-original-embarkation;Person;0
place-port-of-clearance;Person;0
place-port-of-onward-foreign-destination;Person;0
passenger-name-record-locator-number;Person;0
mobile-application-id;Payload delivery;1
azure-application-id;Payload delivery;1
chrome-extension-id;Payload delivery;1
cortex;External analysis;0
boolean;Other;0
anonymised;Other;0
onion-address;Network activity;1
";

const CATEGORIES: &str = "\
Internal reference: text, link, comment, other, hex, anonymised, git-commit-id
Targeting data: target-user, target-email, target-machine, target-org, \
target-location, target-external, comment, anonymised
Antivirus detection: link, comment, text, hex, attachment, other, anonymised
Payload delivery: md5, sha1, sha224, sha256, sha384, sha512, sha512/224, sha512/256, \
sha3-224, sha3-256, sha3-384, sha3-512, ssdeep, imphash, telfhash, impfuzzy, \
authentihash, vhash, pehash, tlsh, cdhash, filename, filename|md5, filename|sha1, \
filename|sha224, filename|sha256, filename|sha384, filename|sha512, \
filename|sha512/224, filename|sha512/256, filename|sha3-224, filename|sha3-256, \
filename|sha3-384, filename|sha3-512, filename|authentihash, filename|vhash, \
filename|ssdeep, filename|tlsh, filename|imphash, filename|impfuzzy, \
filename|pehash, mac-address, mac-eui-64, ip-src, ip-dst, ip-dst|port, ip-src|port, \
hostname, domain, email, email-src, email-dst, email-subject, email-attachment, \
email-body, url, user-agent, AS, pattern-in-file, pattern-in-traffic, \
filename-pattern, stix2-pattern, yara, sigma, mime-type, attachment, malware-sample, \
link, malware-type, comment, text, hex, vulnerability, cpe, weakness, \
x509-fingerprint-sha1, x509-fingerprint-md5, x509-fingerprint-sha256, \
ja3-fingerprint-md5, jarm-fingerprint, hassh-md5, hasshserver-md5, other, \
hostname|port, email-dst-display-name, email-src-display-name, email-header, \
email-reply-to, email-x-mailer, email-mime-boundary, email-thread-index, \
email-message-id, azure-application-id, mobile-application-id, chrome-extension-id, \
whois-registrant-email, anonymised, onion-address
Artifacts dropped: md5, sha1, sha224, sha256, sha384, sha512, sha512/224, \
sha512/256, sha3-224, sha3-256, sha3-384, sha3-512, ssdeep, imphash, telfhash, \
impfuzzy, authentihash, vhash, cdhash, filename, filename|md5, filename|sha1, \
filename|sha224, filename|sha256, filename|sha384, filename|sha512, \
filename|sha512/224, filename|sha512/256, filename|sha3-224, filename|sha3-256, \
filename|sha3-384, filename|sha3-512, filename|authentihash, filename|vhash, \
filename|ssdeep, filename|tlsh, filename|imphash, filename|impfuzzy, \
filename|pehash, regkey, regkey|value, pattern-in-file, pattern-in-memory, \
filename-pattern, pdb, stix2-pattern, yara, sigma, attachment, malware-sample, named \
pipe, mutex, process-state, windows-scheduled-task, windows-service-name, \
windows-service-displayname, comment, text, hex, x509-fingerprint-sha1, \
x509-fingerprint-md5, x509-fingerprint-sha256, other, cookie, gene, kusto-query, \
mime-type, anonymised, pgp-public-key, pgp-private-key
Payload installation: md5, sha1, sha224, sha256, sha384, sha512, sha512/224, \
sha512/256, sha3-224, sha3-256, sha3-384, sha3-512, ssdeep, imphash, telfhash, \
impfuzzy, authentihash, vhash, pehash, tlsh, cdhash, filename, filename|md5, \
filename|sha1, filename|sha224, filename|sha256, filename|sha384, filename|sha512, \
filename|sha512/224, filename|sha512/256, filename|sha3-224, filename|sha3-256, \
filename|sha3-384, filename|sha3-512, filename|authentihash, filename|vhash, \
filename|ssdeep, filename|tlsh, filename|imphash, filename|impfuzzy, \
filename|pehash, pattern-in-file, pattern-in-traffic, pattern-in-memory, \
filename-pattern, stix2-pattern, yara, sigma, vulnerability, cpe, weakness, \
attachment, malware-sample, malware-type, comment, text, hex, x509-fingerprint-sha1, \
x509-fingerprint-md5, x509-fingerprint-sha256, azure-application-id, \
mobile-application-id, chrome-extension-id, other, mime-type, anonymised
Persistence mechanism: filename, regkey, regkey|value, comment, text, other, hex, \
anonymised
Network activity: ip-src, ip-dst, ip-dst|port, ip-src|port, port, hostname, domain, \
domain|ip, mac-address, mac-eui-64, email, email-dst, email-src, eppn, url, uri, \
user-agent, http-method, AS, snort, pattern-in-file, filename-pattern, \
stix2-pattern, pattern-in-traffic, attachment, comment, text, x509-fingerprint-md5, \
x509-fingerprint-sha1, x509-fingerprint-sha256, ja3-fingerprint-md5, \
jarm-fingerprint, hassh-md5, hasshserver-md5, other, hex, cookie, hostname|port, \
bro, zeek, anonymised, community-id, email-subject, favicon-mmh3, dkim, \
dkim-signature, ssh-fingerprint, dom-hash, onion-address
Payload type: comment, text, other, anonymised
Attribution: threat-actor, campaign-name, campaign-id, whois-registrant-phone, \
whois-registrant-email, whois-registrant-name, whois-registrant-org, \
whois-registrar, whois-creation-date, comment, text, x509-fingerprint-sha1, \
x509-fingerprint-md5, x509-fingerprint-sha256, other, dns-soa-email, anonymised, \
email
External analysis: md5, sha1, sha256, sha3-224, sha3-256, sha3-384, sha3-512, \
filename, filename|md5, filename|sha1, filename|sha256, filename|sha3-224, \
filename|sha3-256, filename|sha3-384, filename|sha3-512, ip-src, ip-dst, \
ip-dst|port, ip-src|port, mac-address, mac-eui-64, hostname, domain, domain|ip, url, \
user-agent, regkey, regkey|value, AS, snort, bro, zeek, pattern-in-file, \
pattern-in-traffic, pattern-in-memory, filename-pattern, vulnerability, cpe, \
weakness, attachment, malware-sample, link, comment, text, x509-fingerprint-sha1, \
x509-fingerprint-md5, x509-fingerprint-sha256, ja3-fingerprint-md5, \
jarm-fingerprint, hassh-md5, hasshserver-md5, github-repository, other, cortex, \
anonymised, community-id, dom-hash, onion-address
Financial fraud: btc, dash, xmr, iban, bic, bank-account-nr, aba-rtn, bin, \
cc-number, prtn, phone-number, comment, text, other, hex, anonymised
Support Tool: link, text, attachment, comment, other, hex, anonymised
Social network: github-username, github-repository, github-organisation, jabber-id, \
twitter-id, email, email-src, email-dst, eppn, comment, text, other, \
whois-registrant-email, anonymised, pgp-public-key, pgp-private-key
Person: first-name, middle-name, last-name, full-name, date-of-birth, \
place-of-birth, gender, passport-number, passport-country, passport-expiration, \
redress-number, nationality, visa-number, issue-date-of-the-visa, primary-residence, \
country-of-residence, special-service-request, frequent-flyer-number, \
travel-details, payment-details, place-port-of-original-embarkation, \
place-port-of-clearance, place-port-of-onward-foreign-destination, \
passenger-name-record-locator-number, comment, text, other, phone-number, \
identity-card-number, anonymised, email, pgp-public-key, pgp-private-key
Other: comment, text, other, size-in-bytes, counter, integer, datetime, cpe, port, \
float, hex, phone-number, boolean, anonymised, pgp-public-key, pgp-private-key
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_category_admits_its_type() {
        for (name, info) in &tables().types {
            assert!(category_admits(info.default_category, name), "{name}");
        }
    }

    #[test]
    fn an_ip_defaults_to_network_activity_with_the_ids_flag() {
        let ip = info("ip-dst").unwrap();
        assert_eq!(ip.default_category, "Network activity");
        assert!(ip.to_ids);
        assert!(!info("comment").unwrap().to_ids);
        assert!(info("no-such-type").is_none());
    }

    #[test]
    fn composite_values_split_at_the_first_bar() {
        assert_eq!(split_value("ip-dst|port", "1.2.3.4|443"), ("1.2.3.4", "443"));
        assert_eq!(split_value("url", "http://a/b|c"), ("http://a/b|c", ""));
    }
}
