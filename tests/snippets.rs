//! Checks of the Wazuh snippets in `ossec-snippets/`.
//!
//! Wazuh refuses a whole ruleset for one duplicate id or one parent that is
//! not defined before its child, and a rule on a field that the program's
//! messages lack can never fire. These tests read every snippet as Wazuh
//! would (a rule file is several top-level `<group>` elements, so the text
//! is wrapped in one synthetic root first) and hold the rules to those
//! constraints and to this project's own: ids 100800 to 100849, one rule
//! per IoC kind, a rule per error kind, and no field that the program does
//! not send.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use common::modules::ModulesServer;
use common::Manager;
use misp_test_server::{Fault, FaultRule, MispServer, ServerOptions, TEST_API_KEY};
use serde_json::{json, Value};

/// The id block this project's rules live in.
pub const OUR_IDS: RangeInclusive<u32> = 100800..=100849;

/// Wazuh's own rules that our rules may name as a parent.
pub const WAZUH_PARENTS: &[u32] = &[61600];

/// Wazuh's own rules that our files may overwrite.
pub const WAZUH_OVERWRITTEN: &[u32] = &[61603, 61605, 61650];

/// The file holding the `<integration>` block.
const INTEGRATION_BLOCK: &str = "ossec.conf-integration.xml";

/// One `<rule>` of a rule file, as far as these checks need it.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The file it is in.
    pub file: String,
    /// `id`.
    pub id: u32,
    /// `level`.
    pub level: u32,
    /// `overwrite="yes"`.
    pub overwrite: bool,
    /// `<if_sid>`, split on commas.
    pub if_sid: Vec<u32>,
    /// `<if_matched_sid>`.
    pub if_matched_sid: Option<u32>,
    /// `<decoded_as>`.
    pub decoded_as: Option<String>,
    /// `<field name="...">pattern</field>`, in order.
    pub fields: Vec<(String, String)>,
    /// `<description>`, joined when there are several.
    pub description: String,
}

/// The folder of the snippets.
pub fn snippet_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ossec-snippets")
}

/// Every `.xml` file of the snippets, sorted by name.
pub fn snippet_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(snippet_dir())
        .expect("ossec-snippets/ is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
}

/// The text of `path` inside one synthetic root element, as a rule file
/// must be to parse as a single XML document.
pub fn wrapped(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("<snippet>\n{text}\n</snippet>\n")
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn child_text(node: roxmltree::Node, name: &str) -> Option<String> {
    node.children()
        .find(|c| c.has_tag_name(name))
        .map(|c| c.text().unwrap_or("").trim().to_string())
}

fn number(text: &str, what: &str) -> u32 {
    text.trim().parse().unwrap_or_else(|_| panic!("{what} {text:?} is not a number"))
}

/// Every rule of every rule file, in file order.
pub fn all_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for path in snippet_files() {
        if file_name(&path) == INTEGRATION_BLOCK {
            continue;
        }
        let text = wrapped(&path);
        let doc =
            roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rule_nodes = doc.descendants().filter(|n| n.has_tag_name("rule"));
        rules.extend(rule_nodes.map(|node| read_rule(&file_name(&path), node)));
    }
    rules
}

fn read_rule(file: &str, node: roxmltree::Node) -> Rule {
    let id = number(node.attribute("id").expect("every rule has an id"), "rule id");
    let level = number(node.attribute("level").expect("every rule has a level"), "level");
    let if_sid = child_text(node, "if_sid")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| number(s, "if_sid"))
                .collect()
        })
        .unwrap_or_default();
    let fields = node
        .children()
        .filter(|c| c.has_tag_name("field"))
        .map(|c| {
            let name = c.attribute("name").expect("every <field> has a name").to_string();
            (name, c.text().unwrap_or("").trim().to_string())
        })
        .collect();
    let description: Vec<String> = node
        .children()
        .filter(|c| c.has_tag_name("description"))
        .map(|c| c.text().unwrap_or("").trim().to_string())
        .collect();
    Rule {
        file: file.to_string(),
        id,
        level,
        overwrite: node.attribute("overwrite") == Some("yes"),
        if_sid,
        if_matched_sid: child_text(node, "if_matched_sid").map(|s| number(&s, "if_matched_sid")),
        decoded_as: child_text(node, "decoded_as"),
        fields,
        description: description.join(" "),
    }
}

/// The rules in this project's id block.
pub fn our_rules() -> Vec<Rule> {
    all_rules().into_iter().filter(|r| OUR_IDS.contains(&r.id)).collect()
}

/// The `$(field)` names in a rule description.
pub fn substituted_fields(description: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = description;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        names.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    names
}

/// Every message field our rules name, in `<field name=...>` or as
/// `$(...)` in a description, as Wazuh names them (without `data.`).
pub fn fields_named_by_our_rules() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for rule in our_rules() {
        names.extend(rule.fields.iter().map(|(name, _)| name.clone()));
        names.extend(substituted_fields(&rule.description));
    }
    names
}

/// The child elements of the `<integration>` block, by name, with their
/// text exactly as integratord reads it.
fn integration_block() -> BTreeMap<String, String> {
    let path = snippet_dir().join(INTEGRATION_BLOCK);
    let text = wrapped(&path);
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{INTEGRATION_BLOCK}: {e}"));
    let blocks: Vec<_> =
        doc.root_element().children().filter(|n| n.has_tag_name("integration")).collect();
    assert_eq!(blocks.len(), 1, "{INTEGRATION_BLOCK} holds exactly one <integration> block");
    let mut elements = BTreeMap::new();
    for child in blocks[0].children().filter(|c| c.is_element()) {
        let name = child.tag_name().name().to_string();
        let text = child.text().unwrap_or("").to_string();
        assert!(elements.insert(name.clone(), text).is_none(), "<{name}> appears twice");
    }
    elements
}

#[test]
fn every_snippet_parses_as_xml_once_wrapped_in_a_root() {
    let files = snippet_files();
    assert!(files.len() >= 3, "the rules, the Sysmon overrides and the integration block");
    for path in files {
        let text = wrapped(&path);
        if let Err(e) = roxmltree::Document::parse(&text) {
            panic!("{}: {e}", path.display());
        }
    }
}

#[test]
fn rule_ids_are_unique_across_our_rule_files() {
    let mut seen: BTreeMap<u32, String> = BTreeMap::new();
    for rule in all_rules() {
        if let Some(first) = seen.insert(rule.id, rule.file.clone()) {
            panic!("rule {} is defined in {first} and again in {}", rule.id, rule.file);
        }
    }
}

#[test]
fn new_rules_use_our_id_block_and_overwrites_only_name_wazuh_s_own() {
    for rule in all_rules() {
        if rule.overwrite {
            assert!(
                WAZUH_OVERWRITTEN.contains(&rule.id),
                "{}: rule {} overwrites a rule that is not on the list of Wazuh rules we raise",
                rule.file,
                rule.id
            );
        } else {
            assert!(
                OUR_IDS.contains(&rule.id),
                "{}: rule {} is outside 100800-100849",
                rule.file,
                rule.id
            );
        }
    }
}

#[test]
fn every_parent_is_defined_earlier_in_the_same_file_or_is_a_known_wazuh_rule() {
    let mut defined: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for rule in all_rules() {
        let earlier = defined.entry(rule.file.clone()).or_default();
        for parent in rule.if_sid.iter().chain(rule.if_matched_sid.iter()) {
            assert!(
                earlier.contains(parent) || WAZUH_PARENTS.contains(parent),
                "{}: rule {} names parent {parent}, not defined before it nor a Wazuh rule",
                rule.file,
                rule.id
            );
        }
        earlier.insert(rule.id);
    }
}

#[test]
fn every_level_is_between_0_and_16() {
    for rule in all_rules() {
        assert!(rule.level <= 16, "{}: rule {} has level {}", rule.file, rule.id, rule.level);
    }
}

#[test]
fn every_rule_but_the_base_rule_has_a_description() {
    for rule in all_rules() {
        let is_base = rule.level == 0 && rule.decoded_as.is_some();
        assert!(
            is_base || !rule.description.is_empty(),
            "{}: rule {} has no description",
            rule.file,
            rule.id
        );
    }
}

#[test]
fn the_base_rule_takes_json_messages_of_the_misp_integration_at_level_0() {
    let rules = our_rules();
    let base = rules.iter().find(|r| r.id == 100800).expect("rule 100800 exists");
    assert_eq!(base.level, 0);
    assert_eq!(base.decoded_as.as_deref(), Some("json"));
    assert!(base.if_sid.is_empty());
    assert_eq!(base.fields, vec![("integration".to_string(), "^misp$".to_string())]);
    let roots: Vec<u32> = rules
        .iter()
        .filter(|r| r.if_sid.is_empty() && r.if_matched_sid.is_none())
        .map(|r| r.id)
        .collect();
    assert_eq!(roots, vec![100800], "every other rule hangs below the base rule");
}

/// The rule that matches `field` against exactly `^value$`, if any.
fn rule_on<'a>(rules: &'a [Rule], field: &str, value: &str) -> Option<&'a Rule> {
    let wanted = format!("^{value}$");
    rules
        .iter()
        .find(|r| r.fields.iter().any(|(name, pattern)| name == field && *pattern == wanted))
}

#[test]
fn each_ioc_kind_has_one_rule_and_it_fires_only_for_that_kind() {
    let rules = our_rules();
    let matched = rule_on(&rules, "misp.status", "match").expect("a rule on misp.status ^match$");
    let on_kind: Vec<&Rule> =
        rules.iter().filter(|r| r.fields.iter().any(|(n, _)| n == "misp.ioc.kind")).collect();
    let kinds: Vec<&str> = on_kind
        .iter()
        .flat_map(|r| {
            r.fields.iter().filter(|(n, _)| n == "misp.ioc.kind").map(|(_, p)| p.as_str())
        })
        .collect();
    assert_eq!(
        kinds,
        vec!["^hash$", "^ip$", "^domain$", "^url$"],
        "one anchored pattern per kind, nothing looser"
    );
    for rule in on_kind {
        assert_eq!(
            rule.if_sid,
            vec![matched.id],
            "rule {} hangs directly below the match rule",
            rule.id
        );
    }
    let levels: Vec<u32> = ["hash", "ip", "domain", "url"]
        .iter()
        .map(|kind| rule_on(&rules, "misp.ioc.kind", kind).unwrap().level)
        .collect();
    assert_eq!(levels, vec![12, 10, 10, 10]);
}

#[test]
fn a_high_threat_event_raises_every_kind_of_match_above_its_kind_rule() {
    let rules = our_rules();
    let high =
        rule_on(&rules, "misp.event.threat_level", "high").expect("a rule on the threat level");
    let matched = rule_on(&rules, "misp.status", "match").unwrap();
    for kind in ["hash", "ip", "domain", "url"] {
        let rule = rule_on(&rules, "misp.ioc.kind", kind).unwrap();
        assert!(
            high.if_sid.contains(&rule.id),
            "the high-threat rule is a child of the {kind} rule"
        );
        assert!(high.level > rule.level);
    }
    assert!(
        high.if_sid.contains(&matched.id),
        "and of the match rule, for a kind without a rule yet"
    );
}

#[test]
fn every_error_kind_the_program_sends_reaches_an_error_rule() {
    let rules = our_rules();
    let error =
        rule_on(&rules, "misp.status", "error").expect("a catch-all rule on misp.status ^error$");
    assert!(error.level > 0, "an unknown error kind still raises an alert");
    let kind_patterns: Vec<&str> = rules
        .iter()
        .filter(|r| r.if_sid == vec![error.id])
        .flat_map(|r| {
            r.fields.iter().filter(|(n, _)| n == "misp.error.kind").map(|(_, p)| p.as_str())
        })
        .collect();
    for kind in [
        "auth_failed",
        "rate_limited",
        "timeout",
        "unreachable",
        "tls",
        "server_error",
        "bad_reply",
    ] {
        let anchored = format!("^{kind}$");
        assert!(
            kind_patterns.iter().any(|p| p.split('|').any(|alt| alt == anchored)),
            "error kind {kind} has a rule of its own"
        );
    }
}

#[test]
fn the_no_match_rule_is_low_and_every_alert_of_ours_carries_no_full_log() {
    let rules = our_rules();
    let no_match =
        rule_on(&rules, "misp.status", "no_match").expect("a rule on misp.status ^no_match$");
    assert!((1..=3).contains(&no_match.level));
    let text = fs::read_to_string(snippet_dir().join("misp_rules.xml")).unwrap();
    assert_eq!(text.matches("<options>no_full_log</options>").count(), rules.len());
}

#[test]
fn the_sysmon_overrides_raise_the_base_rules_to_level_3_under_their_own_parent() {
    let overrides: Vec<Rule> = all_rules().into_iter().filter(|r| r.overwrite).collect();
    let ids: Vec<u32> = overrides.iter().map(|r| r.id).collect();
    assert_eq!(ids, WAZUH_OVERWRITTEN);
    let event_ids = ["^1$", "^3$", "^22$"];
    for (rule, event_id) in overrides.iter().zip(event_ids) {
        assert_eq!(rule.level, 3, "rule {}", rule.id);
        assert_eq!(rule.if_sid, vec![61600], "rule {} keeps Wazuh's parent", rule.id);
        assert_eq!(rule.fields, vec![("win.system.eventID".to_string(), event_id.to_string())]);
    }
}

#[test]
fn the_integration_block_names_the_program_and_asks_for_json_alerts() {
    let elements = integration_block();
    assert_eq!(elements["name"], "custom-misp");
    assert_eq!(elements["alert_format"], "json");
    for number in ["timeout", "retries"] {
        let text = elements.get(number).unwrap_or_else(|| panic!("<{number}> is set"));
        text.parse::<u32>().unwrap_or_else(|_| panic!("<{number}> {text:?} is a whole number"));
    }
    for secret in ["api_key", "hook_url"] {
        assert!(
            !elements.contains_key(secret),
            "<{secret}> would put its value on the command line"
        );
    }
}

#[test]
fn the_group_filter_is_one_line_of_names_without_spaces() {
    let elements = integration_block();
    let groups = &elements["group"];
    assert!(
        !groups.contains(char::is_whitespace),
        "integratord compares the names as written: {groups:?}"
    );
    let names: Vec<&str> = groups.split(',').filter(|g| !g.is_empty()).collect();
    for wanted in
        ["sshd", "authentication_failed", "syscheck_entry_added", "sysmon_event_22", "ids"]
    {
        assert!(names.contains(&wanted), "{wanted} is in the group filter");
    }
    assert!(!names.contains(&"syscheck_entry_deleted"), "a deleted file has nothing left to check");
}

#[test]
fn the_options_example_is_json_naming_only_keys_the_program_accepts() {
    let elements = integration_block();
    let options: Value =
        serde_json::from_str(&elements["options"]).expect("<options> is valid JSON");
    let options = options.as_object().expect("<options> is a JSON object");
    for key in options.keys() {
        assert!(wazuh_misp::config::option_keys().any(|k| k == key), "unknown option {key:?}");
    }
    for wanted in ["misp_url", "api_key", "verify_tls", "ca_file", "timeout"] {
        assert!(options.contains_key(wanted), "the example shows {wanted}");
    }
    assert_eq!(options["verify_tls"], Value::Bool(true), "the example keeps certificate checks on");
}

/// The field names Wazuh's json decoder makes of `value`: dotted paths of
/// every scalar, and of every list (which it joins into one string).
#[test]
fn the_readme_documents_every_option_the_program_accepts() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let missing: Vec<&str> = wazuh_misp::config::option_keys()
        .filter(|key| !readme.contains(&format!("| `{key}` |")))
        .collect();
    assert_eq!(missing, Vec::<&str>::new(), "options missing from the README's table");
}

fn decoded_field_names(value: &Value, prefix: &str, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                decoded_field_names(inner, &path, names);
            }
        }
        _ => {
            names.insert(prefix.to_string());
        }
    }
}

#[test]
fn every_field_a_rule_names_is_in_a_message_the_program_sends() {
    let server = MispServer::start(ServerOptions::default());
    server.load_feed(&common::feed()).unwrap();
    let manager = Manager::new();
    let options = json!({
        "misp_url": server.url(), "api_key": TEST_API_KEY, "retries": 0, "report_no_match": true,
        "cache_match_ttl": 0, "cache_no_match_ttl": 0
    });
    let mut datagrams = Vec::new();
    let mut run = |alert: &str| {
        let run = manager.integratord(&common::sample(alert), options.clone(), "5", "0");
        datagrams.extend(run.datagrams);
    };
    // Matches of every kind the samples hold, then no match.
    for alert in ["sshd-5712-bruteforce.json", "sysmon-1-dropper.json", "sysmon-22-c2-dns.json"] {
        run(alert);
    }
    run("sshd-5760-no-match.json");
    // A failed lookup with an HTTP status, then a failed recording.
    server.push_fault(FaultRule {
        path_prefix: "/attributes/restSearch".into(),
        fault: Fault::Status(500),
        times: Some(1),
    });
    run("sshd-5712-bruteforce.json");
    server.push_fault(FaultRule {
        path_prefix: "/objects/add".into(),
        fault: Fault::Status(500),
        times: None,
    });
    run("sysmon-3-c2-connection.json");

    // Enrichment by the real misp-modules: a match rated malicious, and an
    // IoC that MISP does not know but a module rates malicious.
    let modules = ModulesServer::start();
    let lab = MispServer::start(ServerOptions::default());
    lab.load_feed(&common::repo().join("learning/lab/intel-feed")).unwrap();
    let dropper = std::fs::read_to_string(common::repo().join("learning/lab/alerts.json")).unwrap();
    let dropper = dropper.lines().nth(15).unwrap().to_string();
    for (misp, enrich) in [(&lab, "matched"), (&server, "all")] {
        let options = json!({
            "misp_url": misp.url(), "api_key": TEST_API_KEY, "retries": 0, "record": false,
            "modules_url": modules.url(), "enrichment": {"hash": ["wazuh_test_reputation"]},
            "module_config": {"wazuh_test_reputation": {"apikey": "k"}}, "enrich": enrich
        });
        datagrams.extend(manager.integratord(&dropper, options, "10", "0").datagrams);
    }

    let messages: Vec<Value> = datagrams.iter().map(|d| common::message_of(d)).collect();
    let statuses: BTreeSet<String> =
        messages.iter().map(|m| m["misp"]["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["enriched".into(), "error".into(), "match".into(), "no_match".into()])
    );
    let stages: BTreeSet<&str> =
        messages.iter().filter_map(|m| m["misp"]["error"]["stage"].as_str()).collect();
    assert_eq!(stages, BTreeSet::from(["lookup", "record"]));
    let mut sent = BTreeSet::new();
    for message in &messages {
        decoded_field_names(message, "", &mut sent);
    }
    let missing: Vec<String> = fields_named_by_our_rules().difference(&sent).cloned().collect();
    assert!(missing.is_empty(), "rules name fields no message carries: {missing:?}");
}
