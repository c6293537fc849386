//! Finding the IoCs of an alert.
//!
//! A fixed table names the alert fields that carry IoCs for every alert
//! kind Wazuh produces (sshd and other auth logs, Windows logon failures,
//! Sysmon, file integrity, Suricata, Zeek, Snort, web access logs), plus the
//! generic `data.srcip`, `data.dstip`, `data.url` and `data.hostname`.
//! Fields are read by name, never by the position of a rule group, and
//! every value is normalised by [`crate::ioc`] before it is kept.

use std::collections::HashSet;

use crate::alert::Alert;
use crate::ioc::{self, Acceptance, Ioc, IocType, Rejection};

/// How the text of a field becomes IoCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// One value of the given type.
    Value(IocType),
    /// A hex digest whose length tells its type.
    AnyHash,
    /// An address or a host name, whichever it parses as.
    Host,
    /// Sysmon's `SHA1=..,MD5=..,SHA256=..,IMPHASH=..` list.
    SysmonHashes,
    /// Sysmon's DNS answers: `;`-separated addresses and `type: 5` names.
    DnsResults,
    /// An absolute URL, or a path joined to the host in the named field;
    /// the URL's host is an IoC too.
    Url(Option<&'static str>),
}

/// One field that may carry IoCs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Dotted path of the field in the alert.
    pub path: String,
    /// How its text is read.
    pub reader: Reader,
}

const BUILT_IN: &[(&str, Reader)] = &[
    // Addresses: auth logs, firewalls, Snort, Suricata, Zeek, Windows.
    ("data.srcip", Reader::Value(IocType::Ip)),
    ("data.dstip", Reader::Value(IocType::Ip)),
    ("data.src_ip", Reader::Value(IocType::Ip)),
    ("data.dest_ip", Reader::Value(IocType::Ip)),
    ("data.id.orig_h", Reader::Value(IocType::Ip)),
    ("data.id.resp_h", Reader::Value(IocType::Ip)),
    ("data.win.eventdata.ipAddress", Reader::Value(IocType::Ip)),
    ("data.win.eventdata.sourceIp", Reader::Value(IocType::Ip)),
    ("data.win.eventdata.destinationIp", Reader::Value(IocType::Ip)),
    // Host names: DNS queries, HTTP hosts, TLS server names.
    ("data.hostname", Reader::Host),
    ("data.win.eventdata.queryName", Reader::Host),
    ("data.win.eventdata.destinationHostname", Reader::Host),
    ("data.win.eventdata.queryResults", Reader::DnsResults),
    ("data.dns.rrname", Reader::Host),
    ("data.http.hostname", Reader::Host),
    ("data.tls.sni", Reader::Host),
    ("data.query", Reader::Host),
    ("data.host", Reader::Host),
    // URLs: web and proxy logs, Suricata and Zeek HTTP.
    ("data.url", Reader::Url(None)),
    ("data.http.url", Reader::Url(Some("data.http.hostname"))),
    ("data.uri", Reader::Url(Some("data.host"))),
    // File hashes: Sysmon events 1, 6, 7, 15, 23, 26 and Suricata file info.
    ("data.win.eventdata.hashes", Reader::SysmonHashes),
    ("data.win.eventdata.hash", Reader::SysmonHashes),
    ("data.fileinfo.md5", Reader::Value(IocType::Md5)),
    ("data.fileinfo.sha1", Reader::Value(IocType::Sha1)),
    ("data.fileinfo.sha256", Reader::Value(IocType::Sha256)),
    ("data.md5", Reader::Value(IocType::Md5)),
    ("data.sha1", Reader::Value(IocType::Sha1)),
    ("data.sha256", Reader::Value(IocType::Sha256)),
];

/// File integrity hashes, read only for files added or modified: the
/// hashes of a deleted file describe nothing that is on the host now.
const SYSCHECK: &[(&str, IocType)] = &[
    ("syscheck.md5_after", IocType::Md5),
    ("syscheck.sha1_after", IocType::Sha1),
    ("syscheck.sha256_after", IocType::Sha256),
];

/// Fields naming the file that a hash in the same alert belongs to.
const FILE_FIELDS: &[&str] = &[
    "syscheck.path",
    "data.win.eventdata.image",
    "data.win.eventdata.imageLoaded",
    "data.win.eventdata.targetFilename",
    "data.fileinfo.filename",
];

/// What extraction looks at and keeps.
#[derive(Debug, Clone, Default)]
pub struct Extraction {
    /// Fields read besides the built-in table, in the order given.
    pub extra: Vec<Source>,
    /// Normalisation settings.
    pub acceptance: Acceptance,
    /// The most IoCs kept from one alert; 0 means no limit.
    pub max_iocs: usize,
}

/// A value that was found but not kept, for the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The field it came from.
    pub field: String,
    /// The start of the raw value, escaped for a log line.
    pub value: String,
    /// Why it was dropped.
    pub why: Rejection,
}

/// The result of extraction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The IoCs kept, deduplicated, in the order they were found.
    pub iocs: Vec<Ioc>,
    /// The values dropped.
    pub dropped: Vec<Dropped>,
    /// How many IoCs were over `max_iocs` and left out.
    pub over_limit: usize,
}

/// Finds the IoCs of `alert`.
pub fn extract(alert: &Alert, settings: &Extraction) -> Found {
    let mut found = Collector::new(alert, settings);
    for (path, reader) in BUILT_IN {
        found.read(path, *reader);
    }
    if syscheck_file_present(alert) {
        for (path, kind) in SYSCHECK {
            found.read(path, Reader::Value(*kind));
        }
    }
    for source in &settings.extra {
        found.read(&source.path, source.reader);
    }
    found.finish()
}

/// True when a file integrity alert says a file was added or modified.
fn syscheck_file_present(alert: &Alert) -> bool {
    match alert.text("syscheck.event").as_deref() {
        Some("added") | Some("modified") => true,
        Some(_) => false,
        None => alert
            .rule_groups()
            .iter()
            .any(|g| g == "syscheck_entry_added" || g == "syscheck_entry_modified"),
    }
}

struct Collector<'a> {
    alert: &'a Alert,
    settings: &'a Extraction,
    file: Option<String>,
    seen: HashSet<(IocType, String)>,
    found: Found,
}

impl<'a> Collector<'a> {
    fn new(alert: &'a Alert, settings: &'a Extraction) -> Collector<'a> {
        let file = FILE_FIELDS.iter().find_map(|f| alert.text(f)).map(|p| ioc::windows_path(&p));
        Collector { alert, settings, file, seen: HashSet::new(), found: Found::default() }
    }

    fn read(&mut self, path: &str, reader: Reader) {
        let Some(text) = self.alert.text(path) else { return };
        match reader {
            Reader::Value(kind) => self.keep(kind, &text, path),
            Reader::AnyHash => match IocType::hash_of_len(text.trim().len()) {
                Some(kind) => self.keep(kind, &text, path),
                None => self.drop(path, &text, Rejection::Malformed("not a hash")),
            },
            Reader::Host => self.host(&text, path),
            Reader::SysmonHashes => self.sysmon_hashes(&text, path),
            Reader::DnsResults => self.dns_results(&text, path),
            Reader::Url(host_field) => self.url(&text, host_field, path),
        }
    }

    fn host(&mut self, text: &str, path: &str) {
        let kind = if ioc::parse_ip(text).is_some() { IocType::Ip } else { IocType::Domain };
        self.keep(kind, text, path);
    }

    fn sysmon_hashes(&mut self, text: &str, path: &str) {
        for pair in text.split(',') {
            let Some((algorithm, digest)) = pair.split_once('=') else { continue };
            let kind = match algorithm.trim().to_ascii_uppercase().as_str() {
                "MD5" => IocType::Md5,
                "SHA1" => IocType::Sha1,
                "SHA256" => IocType::Sha256,
                "IMPHASH" => IocType::Imphash,
                _ => continue,
            };
            self.keep(kind, digest, path);
        }
    }

    fn dns_results(&mut self, text: &str, path: &str) {
        for answer in text.split(';').map(str::trim).filter(|a| !a.is_empty()) {
            // A record other than an address reads `type:  5 name`.
            match answer.strip_prefix("type:") {
                Some(record) => {
                    let name = record.split_whitespace().nth(1).unwrap_or_default();
                    self.keep(IocType::Domain, name, path);
                }
                None => self.keep(IocType::Ip, answer, path),
            }
        }
    }

    fn url(&mut self, text: &str, host_field: Option<&str>, path: &str) {
        let text = text.trim();
        let joined;
        let url = if text.starts_with('/') {
            let Some(host) = host_field.and_then(|f| self.alert.text(f)) else { return };
            joined = format!("http://{}{}", host.trim(), text);
            &joined
        } else {
            text
        };
        self.keep(IocType::Url, url, path);
        if let Some((kind, host)) = ioc::url_host(url) {
            self.keep(kind, &host, path);
        }
    }

    fn keep(&mut self, kind: IocType, raw: &str, path: &str) {
        let value = match ioc::normalise(kind, raw, self.settings.acceptance) {
            Ok(value) => value,
            Err(why) => return self.drop(path, raw, why),
        };
        if !self.seen.insert((kind, value.clone())) {
            return;
        }
        let limit = self.settings.max_iocs;
        if limit > 0 && self.found.iocs.len() >= limit {
            self.found.over_limit += 1;
            return;
        }
        let file = if kind.kind() == "hash" { self.file.clone() } else { None };
        self.found.iocs.push(Ioc { kind, value, field: path.to_string(), file });
    }

    fn drop(&mut self, path: &str, raw: &str, why: Rejection) {
        let start: String = raw.chars().take(64).collect();
        let value = format!("{start:?}");
        self.found.dropped.push(Dropped { field: path.to_string(), value, why });
    }

    fn finish(self) -> Found {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iocs(json: &str) -> Vec<(String, String, String)> {
        let alert = Alert::parse(json.as_bytes()).unwrap();
        let found = extract(&alert, &Extraction::default());
        found.iocs.into_iter().map(|i| (i.kind.to_string(), i.value, i.field)).collect()
    }

    fn triple(kind: &str, value: &str, field: &str) -> (String, String, String) {
        (kind.to_string(), value.to_string(), field.to_string())
    }

    #[test]
    fn sysmon_hashes_of_any_case_and_subset_are_all_read() {
        let got = iocs(
            r#"{"rule":{},"data":{"win":{"eventdata":{"hashes":"SHA256=AA11223344556677889900AABBCCDDEEFF00112233445566778899AABBCCDDEE,IMPHASH=D9B720999365740321DA784FA1B54067"}}}}"#,
        );
        let field = "data.win.eventdata.hashes";
        assert_eq!(
            got,
            vec![
                triple(
                    "sha256",
                    "aa11223344556677889900aabbccddeeff00112233445566778899aabbccddee",
                    field
                ),
                triple("imphash", "d9b720999365740321da784fa1b54067", field),
            ]
        );
    }

    #[test]
    fn dns_answers_give_addresses_and_cname_targets() {
        let got = iocs(
            r#"{"rule":{},"data":{"win":{"eventdata":{"queryName":"Cdn.Example.net.","queryResults":"type:  5 edge.example-cdn.com;198.51.100.40;::ffff:203.0.113.9;"}}}}"#,
        );
        assert_eq!(
            got,
            vec![
                triple("domain", "cdn.example.net", "data.win.eventdata.queryName"),
                triple("domain", "edge.example-cdn.com", "data.win.eventdata.queryResults"),
                triple("ip", "198.51.100.40", "data.win.eventdata.queryResults"),
                triple("ip", "203.0.113.9", "data.win.eventdata.queryResults"),
            ]
        );
    }

    #[test]
    fn a_url_path_is_joined_to_its_host_and_the_host_kept_once() {
        let got = iocs(
            r#"{"rule":{},"data":{"http":{"hostname":"dl.example.org","url":"/payload.bin"}}}"#,
        );
        assert_eq!(
            got,
            vec![
                triple("domain", "dl.example.org", "data.http.hostname"),
                triple("url", "http://dl.example.org/payload.bin", "data.http.url"),
            ]
        );
    }

    #[test]
    fn a_web_log_path_without_host_gives_no_url() {
        let got = iocs(r#"{"rule":{},"data":{"srcip":"198.51.100.23","url":"/wp-login.php"}}"#);
        assert_eq!(got, vec![triple("ip", "198.51.100.23", "data.srcip")]);
    }

    #[test]
    fn deleted_files_give_no_hashes_and_added_files_do() {
        let hashes = r#""md5_after":"d41d8cd98f00b204e9800998ecf8427e","path":"/tmp/x""#;
        let deleted = format!(r#"{{"rule":{{}},"syscheck":{{"event":"deleted",{hashes}}}}}"#);
        let added = format!(r#"{{"rule":{{}},"syscheck":{{"event":"added",{hashes}}}}}"#);
        assert!(iocs(&deleted).is_empty());
        assert_eq!(
            iocs(&added),
            vec![triple("md5", "d41d8cd98f00b204e9800998ecf8427e", "syscheck.md5_after")]
        );
    }

    #[test]
    fn hashes_carry_the_file_they_belong_to_with_single_backslashes() {
        let alert = Alert::parse(
            br#"{"rule":{},"data":{"win":{"eventdata":{"image":"C:\\\\Users\\\\a.exe","hashes":"MD5=4E73669498619133E45027923A37D96F"}}}}"#,
        )
        .unwrap();
        let found = extract(&alert, &Extraction::default());
        assert_eq!(found.iocs[0].file.as_deref(), Some("C:\\Users\\a.exe"));
    }

    #[test]
    fn duplicates_private_addresses_and_malformed_values_are_left_out() {
        let alert = Alert::parse(
            br#"{"rule":{},"data":{"srcip":"198.51.100.5","src_ip":"198.51.100.5","dstip":"10.0.0.8","hostname":"bad host\n"}}"#,
        )
        .unwrap();
        let found = extract(&alert, &Extraction::default());
        assert_eq!(found.iocs.len(), 1);
        let why: Vec<String> =
            found.dropped.iter().map(|d| format!("{} {} {}", d.field, d.value, d.why)).collect();
        assert_eq!(
            why,
            vec![
                "data.dstip \"10.0.0.8\" not public: private",
                "data.hostname \"bad host\\n\" malformed: control character",
            ]
        );
    }

    #[test]
    fn extra_fields_and_the_limit_are_honoured() {
        let alert = Alert::parse(
            br#"{"rule":{},"data":{"custom":{"peer":"203.0.113.77"},"srcip":"198.51.100.5"}}"#,
        )
        .unwrap();
        let settings = Extraction {
            extra: vec![Source {
                path: "data.custom.peer".into(),
                reader: Reader::Value(IocType::Ip),
            }],
            max_iocs: 1,
            ..Extraction::default()
        };
        let found = extract(&alert, &settings);
        assert_eq!(found.iocs.len(), 1);
        assert_eq!(found.iocs[0].value, "198.51.100.5");
        assert_eq!(found.over_limit, 1);
    }
}
