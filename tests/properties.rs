//! Properties that hold for every input, checked on generated ones:
//! analysisd reads a datagram back as the agent and message it was framed
//! from, a normalised IoC is its own normal form, and no value extracted
//! from an alert carries a MISP search operator.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Map, Value};
use wazuh_misp::alert::{Agent, Alert};
use wazuh_misp::extract::{extract, Extraction};
use wazuh_misp::ioc::{normalise, Acceptance, Ioc, IocType};
use wazuh_misp::misp::{search_body, SearchFilters};
use wazuh_misp::wazuh::{frame, MAX_DATAGRAM};

const DEFAULT: Acceptance = Acceptance { keep_private: false };
const KEEP_ALL: Acceptance = Acceptance { keep_private: true };

/// What analysisd makes of a datagram: the agent of the new alert, its
/// `location`, and the message the `json` decoder reads.
#[derive(Debug, PartialEq)]
struct Received {
    agent_id: String,
    /// `None` for the manager's own events, whose name is the manager's.
    agent_name: Option<String>,
    agent_ip: Option<String>,
    location: String,
    message: String,
}

/// The longest location analysisd keeps; it cuts longer ones.
const LOCATION_ROOM: usize = 8192 + 256 + 2;

/// Reads `datagram` the way analysisd does (Wazuh 4.14: `OS_CleanMSG`,
/// then the `agent` and `location` of the alert JSON). `None` where
/// analysisd logs a format error and drops the event.
fn receive(datagram: &str) -> Option<Received> {
    // The queue id and the colon after it are skipped unread.
    let rest = datagram.get(2..)?;
    // The location ends at the first `:` that no `|` escapes; a `|`
    // escapes whatever character follows it.
    let end = first_unescaped_colon(rest)?;
    let location = unescape(&rest[..end]);
    let location = cut(&location, LOCATION_ROOM);
    let message = rest[end + 1..].to_string();
    let Some(header) = location.strip_prefix('[') else {
        return Some(Received {
            agent_id: "000".into(),
            agent_name: None,
            agent_ip: None,
            location,
            message,
        });
    };
    // `[id] (name) ip->location`: the id ends at the first `]`, and the
    // two characters after it are skipped.
    let (agent_id, after) = header.split_once(']')?;
    let after = after.get(1..).unwrap_or_default();
    let Some(named) = after.strip_prefix('(') else {
        return Some(Received {
            agent_id: agent_id.into(),
            agent_name: Some(String::new()),
            agent_ip: None,
            location: after.into(),
            message,
        });
    };
    // The name ends at the first `)`; the address starts two characters
    // later and ends at the first `-`; the location follows the first `>`
    // (without one, the alert has none).
    let (agent_name, agent_ip) = match named.split_once(')') {
        Some((name, tail)) => {
            let ip = tail.get(1..).unwrap_or_default().split('-').next().unwrap_or_default();
            (name, (ip != "any").then(|| ip.to_string()))
        }
        None => ("", None),
    };
    let location = after.split_once('>').map(|(_, l)| l).unwrap_or_default();
    Some(Received {
        agent_id: agent_id.into(),
        agent_name: Some(agent_name.into()),
        agent_ip,
        location: location.into(),
        message,
    })
}

/// Where the location part of `text` ends.
fn first_unescaped_colon(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, ':') => return Some(at),
            (false, '|') => escaped = true,
            _ => {}
        }
    }
    None
}

/// Drops each `|` that escapes the character after it: `||` is one `|`,
/// `|:` a `:`, and a `|` at the very end stays.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '|' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(next) => out.push(next),
            None => out.push('|'),
        }
    }
    out
}

/// `text` cut to at most `room` bytes, as a C buffer cuts it.
fn cut(text: &str, room: usize) -> String {
    let bytes = &text.as_bytes()[..text.len().min(room)];
    String::from_utf8_lossy(bytes).into_owned()
}

/// What analysisd should read back from `agent`'s datagram.
fn expected(agent: &Agent, message: &Value) -> Received {
    let message = message.to_string();
    let location = "misp".to_string();
    if agent.is_manager() {
        let agent_id = "000".into();
        return Received { agent_id, agent_name: None, agent_ip: None, location, message };
    }
    Received {
        agent_id: agent.id.clone(),
        agent_name: Some(agent.name.clone()),
        agent_ip: agent.ip.clone().filter(|ip| ip != "any"),
        location,
        message,
    }
}

/// Text of at most `max` characters, wide or full of the characters a
/// location gives a meaning to, without those in `excluded` (which
/// analysisd reads with no escape to take their meaning away) nor NUL
/// (which ends a C string).
fn text_without(excluded: &'static str, max: usize) -> impl Strategy<Value = String> {
    let wide = proptest::collection::vec(any::<char>(), 0..max)
        .prop_map(|chars| chars.into_iter().collect::<String>());
    let punctuated = proptest::string::string_regex(&format!("[a-z0-9:|()\\[\\]>. -]{{0,{max}}}"))
        .expect("a valid pattern");
    prop_oneof![wide, punctuated].prop_map(move |text| {
        text.chars().filter(|c| *c != '\0' && !excluded.contains(*c)).collect()
    })
}

/// Agent ids: Wazuh's digits, or any text without `]`.
fn agent_ids() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9]{3,5}", Just("000".to_string()), text_without("]", 12)]
}

/// Agent names: the ones Wazuh registers, or any text without `)` and `>`.
fn agent_names() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9][A-Za-z0-9_.-]{1,127}", text_without(")>", 40)]
}

/// Agent addresses: IPv4, IPv6, `any`, or any text without `-`, `)` and `>`.
fn agent_ips() -> impl Strategy<Value = Option<String>> {
    let address = prop_oneof![
        any::<Ipv4Addr>().prop_map(|ip| ip.to_string()),
        any::<Ipv6Addr>().prop_map(|ip| ip.to_string()),
        Just("any".to_string()),
        text_without("-)>", 40).prop_filter("an empty address is no address", |ip| !ip.is_empty()),
    ];
    proptest::option::of(address)
}

/// Agents, the manager among them.
fn agents() -> impl Strategy<Value = Agent> {
    (agent_ids(), agent_names(), agent_ips()).prop_map(|(id, name, ip)| Agent { id, name, ip })
}

/// JSON values of any shape, small enough to fit one datagram.
fn messages() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            proptest::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(Config::with_cases(512))]

    #[test]
    fn analysisd_reads_back_the_agent_and_message_of_every_datagram(
        agent in agents(),
        message in messages(),
    ) {
        let datagram = frame(&agent, &message);
        prop_assert_eq!(receive(&datagram), Some(expected(&agent, &message)));
    }
}

proptest! {
    #![proptest_config(Config::with_cases(32))]

    #[test]
    fn an_oversized_message_is_shrunk_to_json_that_fits(
        agent in agents(),
        text in "[a-z\"\\\\\u{e9}\u{1}]{1,8}",
        repeat in 100usize..6_000,
        items in 1usize..20,
    ) {
        let message = json!({"integration": "misp", "misp": {"status": "match",
            "tags": vec![text.repeat(repeat); items]}});
        let datagram = frame(&agent, &message);
        prop_assert!(datagram.len() <= MAX_DATAGRAM, "{} bytes", datagram.len());
        let received = receive(&datagram).expect("a well-formed datagram");
        let sent: Value = serde_json::from_str(&received.message).expect("the message is JSON");
        prop_assert_eq!(&sent["misp"]["status"], &json!("match"));
        if message.to_string().len() > MAX_DATAGRAM {
            prop_assert_eq!(&sent["misp"]["truncated"], &json!(true));
        }
    }
}

/// Text that looks like values of each IoC type, valid or nearly so.
fn ioc_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-fA-F]{31,65}",
        "[ \\[]?[0-9a-fA-F:.%a-z]{2,45}[\\] ]?",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        "[A-Za-z0-9_.\u{e0}-\u{ff}\u{3002}-]{1,40}\\.?",
        "(http|https|ftp|file|javascript)://[A-Za-z0-9.-]{1,20}(:[0-9]{1,5})?/[!-~]{0,30}",
        valid_ioc_text(),
    ]
}

/// Text that is a valid value of some IoC type.
fn valid_ioc_text() -> impl Strategy<Value = String> {
    prop_oneof![
        domains(),
        any::<IpAddr>().prop_map(|ip| ip.to_string()),
        "[0-9a-f]{32}|[0-9A-F]{40}|[0-9a-f]{64}",
        urls(),
    ]
}

/// Absolute http, https and ftp URLs of valid host names.
fn urls() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![Just("http"), Just("https"), Just("ftp")];
    let port = proptest::option::of(1u16..).prop_map(|p| p.map(|p| format!(":{p}")));
    let path = "(/[A-Za-z0-9._~!$&'()*+,;=:@-]{0,12}){0,4}";
    let query =
        proptest::option::of("[A-Za-z0-9=&|_.-]{0,20}").prop_map(|q| q.map(|q| format!("?{q}")));
    (scheme, domains(), port, path, query).prop_map(|(scheme, host, port, path, query)| {
        format!("{scheme}://{host}{}{path}{}", port.unwrap_or_default(), query.unwrap_or_default())
    })
}

/// Lowercase host names that are valid and public.
fn domains() -> impl Strategy<Value = String> {
    // A label starting `xn--` is punycode, valid only when it decodes.
    let label = "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?"
        .prop_filter("not punycode", |l: &String| !l.starts_with("xn--"));
    let tld = "[a-z]{2,10}".prop_filter("not an internal name", |t| {
        !["localhost", "local", "localdomain", "arpa", "internal"].contains(&t.as_str())
    });
    (proptest::collection::vec(label, 1..4), tld).prop_map(|(mut labels, tld)| {
        labels.push(tld);
        labels.join(".")
    })
}

/// `text` with some letters upper-cased.
fn mixed_case(text: String, mask: u64) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
        .collect()
}

fn hash_types() -> impl Strategy<Value = IocType> {
    proptest::sample::select(vec![IocType::Md5, IocType::Sha1, IocType::Sha256, IocType::Imphash])
}

fn hash_len(kind: IocType) -> usize {
    match kind {
        IocType::Sha1 => 40,
        IocType::Sha256 => 64,
        _ => 32,
    }
}

proptest! {
    #![proptest_config(Config::with_cases(1024))]

    #[test]
    fn a_normalised_value_of_any_text_is_its_own_normal_form(
        raw in ioc_like(),
        keep_private in any::<bool>(),
    ) {
        let acceptance = Acceptance { keep_private };
        for kind in IocType::ALL {
            if let Ok(once) = normalise(kind, &raw, acceptance) {
                let again = normalise(kind, &once, acceptance);
                prop_assert_eq!(again, Ok(once.clone()), "{} {:?}", kind, raw);
            }
        }
    }

    #[test]
    fn every_address_normalises_to_its_canonical_form_and_stays_there(
        ip in any::<IpAddr>(),
        bracketed in any::<bool>(),
        upper in any::<bool>(),
    ) {
        let mut raw = ip.to_string();
        if upper {
            raw = raw.to_ascii_uppercase();
        }
        if bracketed && ip.is_ipv6() {
            raw = format!("[{raw}]");
        }
        let canonical = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        }
        .to_string();
        prop_assert_eq!(normalise(IocType::Ip, &raw, KEEP_ALL), Ok(canonical.clone()));
        prop_assert_eq!(normalise(IocType::Ip, &canonical, KEEP_ALL), Ok(canonical));
    }

    #[test]
    fn every_host_name_normalises_to_lower_case_and_stays_there(
        name in domains(),
        mask in any::<u64>(),
        trailing_dot in any::<bool>(),
    ) {
        let raw = mixed_case(name.clone(), mask) + if trailing_dot { "." } else { "" };
        prop_assert_eq!(normalise(IocType::Domain, &raw, DEFAULT), Ok(name.clone()));
        prop_assert_eq!(normalise(IocType::Domain, &name, DEFAULT), Ok(name));
    }

    #[test]
    fn every_hash_normalises_to_lower_case_and_stays_there(
        kind in hash_types(),
        digest in "[0-9a-f]{64}",
        mask in any::<u64>(),
    ) {
        let digest = digest[..hash_len(kind)].to_string();
        prop_assume!(digest.bytes().any(|b| b != b'0'));
        let raw = mixed_case(digest.clone(), mask);
        prop_assert_eq!(normalise(kind, &raw, DEFAULT), Ok(digest.clone()));
        prop_assert_eq!(normalise(kind, &digest, DEFAULT), Ok(digest));
    }

    #[test]
    fn every_web_address_is_kept_as_it_is(url in urls()) {
        prop_assert_eq!(normalise(IocType::Url, &format!(" {url} "), DEFAULT), Ok(url.clone()));
        prop_assert_eq!(normalise(IocType::Url, &url, DEFAULT), Ok(url));
    }
}

/// Every field extraction reads (src/extract.rs), the file fields
/// included.
static FIELDS: [&str; 37] = [
    "data.srcip",
    "data.dstip",
    "data.src_ip",
    "data.dest_ip",
    "data.id.orig_h",
    "data.id.resp_h",
    "data.win.eventdata.ipAddress",
    "data.win.eventdata.sourceIp",
    "data.win.eventdata.destinationIp",
    "data.hostname",
    "data.win.eventdata.queryName",
    "data.win.eventdata.destinationHostname",
    "data.win.eventdata.queryResults",
    "data.dns.rrname",
    "data.http.hostname",
    "data.tls.sni",
    "data.query",
    "data.host",
    "data.url",
    "data.http.url",
    "data.uri",
    "data.win.eventdata.hashes",
    "data.win.eventdata.hash",
    "data.fileinfo.md5",
    "data.fileinfo.sha1",
    "data.fileinfo.sha256",
    "data.md5",
    "data.sha1",
    "data.sha256",
    "syscheck.md5_after",
    "syscheck.sha1_after",
    "syscheck.sha256_after",
    "syscheck.path",
    "data.win.eventdata.image",
    "data.win.eventdata.imageLoaded",
    "data.win.eventdata.targetFilename",
    "data.fileinfo.filename",
];

/// Values a field may hold: valid IoCs, IoC-like text, and either with
/// MISP's search operators put in; as lists too (Sysmon's hashes, DNS
/// answers).
fn field_values() -> impl Strategy<Value = String> {
    let operator = prop_oneof![Just("!"), Just("%"), Just("&&"), Just("||"), Just("!%")];
    let injected = (ioc_like(), operator, any::<prop::sample::Index>(), any::<bool>()).prop_map(
        |(text, operator, at, prefix)| {
            if prefix {
                return format!("{operator}{text}");
            }
            let at = text.char_indices().map(|(i, _)| i).nth(at.index(text.chars().count() + 1));
            let at = at.unwrap_or(text.len());
            format!("{}{operator}{}", &text[..at], &text[at..])
        },
    );
    let one = prop_oneof![valid_ioc_text(), ioc_like(), injected];
    let listed = (proptest::collection::vec(one.clone(), 1..4), any::<bool>()).prop_map(
        |(parts, hashes)| {
            let label = |(i, part)| match i % 3 {
                0 => format!("SHA256={part}"),
                1 => format!("MD5={part}"),
                _ => format!("type:  5 {part}"),
            };
            let parts: Vec<String> = parts.into_iter().enumerate().map(label).collect();
            parts.join(if hashes { "," } else { ";" })
        },
    );
    prop_oneof![3 => one, 1 => listed]
}

/// Alerts with generated values in the fields extraction reads, nested
/// or under dotted keys, whose file integrity event is an addition, a
/// change or a deletion.
fn alerts() -> impl Strategy<Value = Alert> {
    let fields = proptest::collection::btree_map(
        proptest::sample::select(&FIELDS[..]),
        field_values(),
        1..10,
    );
    let event = prop_oneof![Just("added"), Just("modified"), Just("deleted")];
    (fields, any::<bool>(), event).prop_map(|(fields, dotted, event)| {
        let mut root = Map::new();
        root.insert("rule".into(), json!({"level": 10}));
        root.insert("syscheck".into(), json!({"event": event}));
        for (path, value) in fields {
            insert(&mut root, path, Value::String(value), dotted);
        }
        Alert::from_object(root)
    })
}

/// Puts `value` at `path`, one object per segment, or with the rest of
/// the path as one dotted key below its first segment when `dotted`.
fn insert(root: &mut Map<String, Value>, path: &str, value: Value, dotted: bool) {
    let (head, rest) = path.split_once('.').expect("a path of two segments at least");
    let inner = root.entry(head).or_insert_with(|| json!({}));
    let Value::Object(inner) = inner else { return };
    match rest.split_once('.') {
        Some(_) if !dotted => insert(inner, rest, value, dotted),
        _ => {
            inner.insert(rest.to_string(), value);
        }
    }
}

/// MISP reads a value of a list filter as a negation when it starts with
/// `!` and as a LIKE pattern when it holds `%`. `&&` and `||` split only
/// a filter given as one string (MISP's `convert_filters`), which the
/// search never sends; they are checked where no grammar allows them.
fn search_operator(ioc: &Ioc) -> Option<&'static str> {
    if ioc.value.starts_with('!') {
        Some("a leading !")
    } else if ioc.value.contains('%') {
        Some("a %")
    } else if ioc.kind != IocType::Url && (ioc.value.contains("&&") || ioc.value.contains("||")) {
        Some("&& or ||")
    } else {
        None
    }
}

proptest! {
    #![proptest_config(Config::with_cases(512))]

    #[test]
    fn no_extracted_value_carries_a_search_operator(
        alert in alerts(),
        keep_private in any::<bool>(),
    ) {
        let acceptance = Acceptance { keep_private };
        let found = extract(&alert, &Extraction { acceptance, ..Extraction::default() });
        for ioc in &found.iocs {
            let (kind, value, field) = (ioc.kind, &ioc.value, &ioc.field);
            prop_assert_eq!(search_operator(ioc), None, "{} {:?} from {}", kind, value, field);
        }
        let body = search_body(&found.iocs, &SearchFilters::default());
        let values: Vec<&str> = found.iocs.iter().map(|i| i.value.as_str()).collect();
        prop_assert_eq!(&body["value"], &json!(values), "values go to MISP as one list");
    }
}
