//! Recording what Wazuh saw in a MISP incident event.
//!
//! One incident event per agent per time window (a UTC day by default)
//! holds the observations of every alert that passes the gate. Its uuid is
//! derived from the manager, the agent and the window, so every run, retry
//! and concurrent run names the same event: "already exists" is the normal
//! answer, not an error. Each alert adds one observation: a MISP object of
//! a standard template where one fits (file, network-connection,
//! domain-ip, authentication-failure-report), else plain attributes. Its
//! uuid is derived from the incident, the rule and the values, so a repeat
//! of the same IoC from the same rule is recognised by MISP's uniqueness
//! check and becomes a sighting instead of a new object.
//!
//! Observations are `to_ids: false`: they are what was seen, not detection
//! indicators, and must never reach an IDS export.

use anyhow::{Context, Result};
use chrono::DateTime;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::alert::Alert;
use crate::extract::Found;
use crate::ioc::{Ioc, IocType};
use crate::timestamp;

/// The namespace of every uuid this integration derives.
const NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_5c2e_8d4a_4f0b_9e3c_27a1_d5f8_0c64);

/// Object templates, by the uuid MISP addresses them with.
pub const FILE_TEMPLATE: &str = "688c46fb-5edb-40a3-8273-1af7923e2215";
/// The `network-connection` template.
pub const CONNECTION_TEMPLATE: &str = "af16764b-f8e5-4603-9de1-de34d272f80b";
/// The `domain-ip` template.
pub const DOMAIN_IP_TEMPLATE: &str = "43b3b146-77eb-4931-b4cc-b66c60f28734";
/// The `authentication-failure-report` template.
pub const AUTH_FAILURE_TEMPLATE: &str = "9b39afe0-9809-4fe0-8a0b-4cec2b140dd2";
/// The `ip-port` template.
pub const IP_PORT_TEMPLATE: &str = "9f8cea74-16fe-4968-a2b4-026676949ac6";

/// Which alerts are recorded, and how.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    /// Record at all.
    pub enabled: bool,
    /// Record alerts of this rule level and above.
    pub min_level: u64,
    /// Record alerts in any of these rule groups, whatever their level.
    pub groups: Vec<String>,
    /// The width of an incident's time window in hours (24: a UTC day).
    pub window_hours: u32,
    /// MISP distribution of incident events (0: this organisation only).
    pub distribution: u8,
    /// The TLP tag of incident events.
    pub tlp: String,
    /// Add a sighting to intel that an alert's IoC matched.
    pub sightings: bool,
}

impl Default for RecordSettings {
    fn default() -> RecordSettings {
        RecordSettings {
            enabled: true,
            min_level: 7,
            groups: Vec::new(),
            window_hours: 24,
            distribution: 0,
            tlp: "tlp:amber".to_string(),
            sightings: true,
        }
    }
}

impl RecordSettings {
    /// True when the alert is to be recorded: it has IoCs and its rule
    /// level reaches `min_level`, or one of its IoCs matched intel, or one
    /// of its rule groups is listed.
    pub fn admits(&self, alert: &Alert, found: &Found, matched: bool) -> bool {
        if !self.enabled || found.iocs.is_empty() {
            return false;
        }
        let listed = alert.rule_groups().iter().any(|g| self.groups.contains(g));
        matched || listed || alert.rule_level() >= self.min_level
    }
}

/// The observation one alert adds to its incident.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Observation {
    /// A MISP object of a standard template.
    Object {
        /// The template's uuid, for `/objects/add/{event}/{template}`.
        template: String,
        /// The object with its attributes.
        object: Value,
    },
    /// Plain attributes, for alerts no template fits.
    Attributes(Vec<Value>),
}

impl Observation {
    /// The uuid of the attribute that a repeat is sighted on: the first
    /// attribute of the observation.
    pub fn first_attribute_uuid(&self) -> Option<String> {
        let first = match self {
            Observation::Object { object, .. } => object["Attribute"].get(0),
            Observation::Attributes(list) => list.first(),
        };
        first.and_then(|a| a["uuid"].as_str()).map(str::to_string)
    }

    /// Every value the observation records.
    pub fn values(&self) -> Vec<String> {
        let list = match self {
            Observation::Object { object, .. } => {
                object["Attribute"].as_array().cloned().unwrap_or_default()
            }
            Observation::Attributes(list) => list.clone(),
        };
        list.iter().filter_map(|a| a["value"].as_str().map(str::to_string)).collect()
    }

    /// The observation as plain attributes, for a server that lacks the
    /// object's template: each object attribute keeps its type and value,
    /// and its relation goes into the comment.
    pub fn as_attributes(&self) -> Vec<Value> {
        match self {
            Observation::Attributes(list) => list.clone(),
            Observation::Object { object, .. } => {
                let comment = object["comment"].as_str().unwrap_or_default();
                let list = object["Attribute"].as_array().cloned().unwrap_or_default();
                list.into_iter()
                    .map(|mut a| {
                        let relation =
                            a["object_relation"].as_str().unwrap_or_default().to_string();
                        a["comment"] = json!(format!("{relation}; {comment}"));
                        if let Some(map) = a.as_object_mut() {
                            map.remove("object_relation");
                        }
                        a
                    })
                    .collect()
            }
        }
    }
}

/// Everything a run writes for one recorded alert; kept as JSON when
/// MISP cannot be reached.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// The incident event's uuid.
    pub event_uuid: String,
    /// The incident event for `/events/add`, without the observation.
    pub event: Value,
    /// MISP threat level id this alert calls for (1 high, 2 medium).
    pub threat_level: u8,
    /// The alert's observation.
    pub observation: Observation,
    /// When the alert was seen, as MISP writes it.
    pub seen: String,
    /// The alert time in seconds since the epoch, for sightings.
    pub epoch: i64,
    /// The alert's rule id, named in the sighting of a repeat.
    pub rule_id: String,
}

impl Plan {
    /// The incident event for `/events/add` with the observation embedded,
    /// so that the first alert of an incident costs one request.
    pub fn event_with_observation(&self, as_attributes: bool) -> Value {
        let mut event = self.event.clone();
        match (&self.observation, as_attributes) {
            (Observation::Object { object, .. }, false) => event["Object"] = json!([object]),
            (observation, _) => event["Attribute"] = json!(observation.as_attributes()),
        }
        json!({"Event": event})
    }
}

/// The uuid of the incident of `agent_id` on `manager` for the window
/// starting at `window`.
pub fn incident_uuid(manager: &str, agent_id: &str, window: &DateTime<chrono::Utc>) -> String {
    let name = format!("wazuh-misp incident|{manager}|{agent_id}|{}", window.timestamp());
    Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

/// A uuid derived from `parent` (a uuid) and `name`.
pub fn child_uuid(parent: &str, name: &str) -> String {
    let parent = Uuid::parse_str(parent).unwrap_or(NAMESPACE);
    Uuid::new_v5(&parent, name.as_bytes()).to_string()
}

/// The MISP threat level for an alert: high for rule level 12 and above
/// or a match in a high-threat intel event, medium otherwise.
pub fn threat_level(rule_level: u64, high_threat_match: bool) -> u8 {
    if rule_level >= 12 || high_threat_match {
        1
    } else {
        2
    }
}

/// Builds the plan for `alert` and its IoCs. Fails when the alert's
/// timestamp is missing or malformed: without it there is no window and
/// no first_seen.
pub fn plan(
    settings: &RecordSettings,
    alert: &Alert,
    found: &Found,
    high_match: bool,
    intel_tags: &[String],
) -> Result<Plan> {
    let raw = alert.text("timestamp").unwrap_or_default();
    let time = timestamp::parse(&raw).context("alert timestamp")?;
    let agent = alert.agent();
    let window = timestamp::window_start(&time, settings.window_hours);
    let event_uuid = incident_uuid(&alert.manager(), &agent.id, &window);
    let seen = timestamp::misp_format(&time);
    let level = threat_level(alert.rule_level(), high_match);
    let observation = observe(alert, &found.iocs, &event_uuid, &seen, intel_tags);
    let date = window.format("%Y-%m-%d").to_string();
    let mut tags =
        vec![json!({"name": settings.tlp}), json!({"name": agent_tag(&agent.id, &agent.name)})];
    tags.extend(attack_tags(alert).into_iter().map(|t| json!({"name": t})));
    let mut who = format!("agent {} {}", agent.id, agent.name);
    if let Some(ip) = &agent.ip {
        who.push_str(&format!(" ({ip})"));
    }
    let event = json!({
        "uuid": event_uuid,
        "info": format!("Wazuh incident: {who}, {date}"),
        "date": date,
        "distribution": settings.distribution,
        "threat_level_id": level,
        "analysis": 1,
        "Tag": tags,
    });
    Ok(Plan {
        event_uuid,
        event,
        threat_level: level,
        observation,
        seen,
        epoch: time.timestamp(),
        rule_id: alert.rule_id(),
    })
}

/// The source of the sighting that counts a repeat of an observation:
/// the timeline counts these, and not the sightings that matched intel
/// adds to every attribute with the value.
pub fn repeat_source(source: &str, rule_id: &str) -> String {
    format!("{source}, repeat of rule {rule_id}")
}

/// The machine tag naming the agent of an incident.
pub fn agent_tag(id: &str, name: &str) -> String {
    format!("wazuh:agent=\"{id} {name}\"")
}

/// MISP's ATT&CK galaxy tags for the techniques of the alert's rule:
/// `misp-galaxy:mitre-attack-pattern="Brute Force - T1110"`.
pub fn attack_tags(alert: &Alert) -> Vec<String> {
    let ids = alert.strings("rule.mitre.id");
    let names = alert.strings("rule.mitre.technique");
    ids.iter()
        .zip(names.iter())
        .filter(|(id, name)| !id.is_empty() && !name.is_empty() && !name.contains('"'))
        .map(|(id, name)| format!("misp-galaxy:mitre-attack-pattern=\"{name} - {id}\""))
        .collect()
}

/// The comment every recorded attribute carries: which alert and rule.
fn comment(alert: &Alert) -> String {
    let description: String = alert.rule_description().chars().take(200).collect();
    format!(
        "Wazuh alert {}, rule {} (level {}): {}",
        alert.id(),
        alert.rule_id(),
        alert.rule_level(),
        description
    )
}

/// Picks the observation for an alert: the first template that holds all
/// of its IoCs, else plain attributes, so that one request records
/// everything the alert carried.
fn observe(
    alert: &Alert,
    iocs: &[Ioc],
    event_uuid: &str,
    seen: &str,
    intel_tags: &[String],
) -> Observation {
    let note = comment(alert);
    let builder = ObjectBuilder { alert, event_uuid, seen, comment: &note, intel_tags };
    let templates = [
        ObjectBuilder::file,
        ObjectBuilder::auth_failure,
        ObjectBuilder::dns,
        ObjectBuilder::connection,
        ObjectBuilder::ip_port,
    ];
    templates
        .iter()
        .find_map(|build| build(&builder, iocs))
        .unwrap_or_else(|| builder.attributes(iocs))
}

struct ObjectBuilder<'a> {
    alert: &'a Alert,
    event_uuid: &'a str,
    seen: &'a str,
    comment: &'a str,
    /// Galaxy tags of the intel the alert matched (threat actors, malware).
    intel_tags: &'a [String],
}

/// Fields that name the source of a connection or login.
const SOURCE_FIELDS: [&str; 5] = ["srcip", "src_ip", "orig_h", "sourceIp", "ipAddress"];

fn is_source(ioc: &Ioc) -> bool {
    SOURCE_FIELDS.iter().any(|f| ioc.field.ends_with(f))
}

/// The MISP attribute type for an IoC on its own.
fn attribute_type(ioc: &Ioc) -> &'static str {
    match ioc.kind {
        IocType::Ip if is_source(ioc) => "ip-src",
        IocType::Ip => "ip-dst",
        other => other.name(),
    }
}

/// One attribute of an object: relation, MISP type, value.
type Part = (&'static str, &'static str, String);

/// An object under construction: its parts, and how many of the alert's
/// IoCs they hold. It stands for the alert only when it holds them all.
#[derive(Default)]
struct Parts {
    parts: Vec<Part>,
    iocs: Vec<String>,
}

impl Parts {
    /// Adds an IoC of the alert.
    fn ioc(&mut self, relation: &'static str, kind: &'static str, ioc: &Ioc) {
        self.parts.push((relation, kind, ioc.value.clone()));
        self.iocs.push(ioc.value.clone());
    }

    /// Adds context that is no IoC (a file name, a port, a user).
    fn detail(&mut self, relation: &'static str, kind: &'static str, value: String) {
        self.parts.push((relation, kind, value));
    }

    fn holds_all(&self, iocs: &[Ioc]) -> bool {
        !self.iocs.is_empty() && self.iocs.len() == iocs.len()
    }
}

impl ObjectBuilder<'_> {
    /// An object of `template`. Its uuid is derived from the rule and the
    /// IoC values only, so a repeat with other details (another user name,
    /// another source port) is recognised as the same observation.
    fn object(&self, template: &'static str, name: &str, parts: Parts) -> Observation {
        let key = format!("{}|{name}|{}", self.alert.rule_id(), parts.iocs.join("|"));
        let uuid = child_uuid(self.event_uuid, &key);
        let attributes: Vec<Value> = parts
            .parts
            .iter()
            .map(|(relation, kind, value)| {
                json!({
                    "uuid": child_uuid(&uuid, &format!("{relation}|{value}")),
                    "object_relation": relation,
                    "type": kind,
                    "value": value,
                    "to_ids": false,
                    "distribution": 5,
                    "first_seen": self.seen,
                })
            })
            .collect();
        let attributes = self.with_attack_tags(attributes);
        let object = json!({
            "uuid": uuid,
            "name": name,
            "meta-category": if name == "file" { "file" } else { "network" },
            "template_uuid": template,
            "distribution": 5,
            "first_seen": self.seen,
            "comment": self.comment,
            "Attribute": attributes,
        });
        Observation::Object { template: template.to_string(), object }
    }

    fn file(&self, iocs: &[Ioc]) -> Option<Observation> {
        let first = iocs.first().filter(|i| i.kind.kind() == "hash")?;
        let mut parts = Parts::default();
        if let Some(path) = &first.file {
            let name = path.rsplit(['\\', '/']).next().unwrap_or(path);
            parts.detail("filename", "filename", name.to_string());
            parts.detail("fullpath", "text", path.clone());
        }
        for ioc in iocs.iter().filter(|i| i.kind.kind() == "hash") {
            parts.ioc(ioc.kind.name(), ioc.kind.name(), ioc);
        }
        parts.holds_all(iocs).then(|| self.object(FILE_TEMPLATE, "file", parts))
    }

    fn auth_failure(&self, iocs: &[Ioc]) -> Option<Observation> {
        const FAILURE_GROUPS: [&str; 4] = [
            "authentication_failed",
            "authentication_failures",
            "invalid_login",
            "win_authentication_failed",
        ];
        let groups = self.alert.rule_groups();
        if !groups.iter().any(|g| FAILURE_GROUPS.contains(&g.as_str())) {
            return None;
        }
        let mut parts = Parts::default();
        parts.ioc("ip-src", "ip-src", iocs.iter().find(|i| i.kind == IocType::Ip && is_source(i))?);
        if let Some(target) = iocs.iter().find(|i| i.kind == IocType::Ip && !is_source(i)) {
            parts.ioc("ip-dst", "ip-dst", target);
        }
        let user = ["data.srcuser", "data.dstuser", "data.win.eventdata.targetUserName"]
            .iter()
            .find_map(|f| self.alert.text(f).filter(|u| !u.is_empty()));
        if let Some(user) = user {
            parts.detail("username", "text", user);
        }
        let total = self.alert.text("rule.frequency").unwrap_or_else(|| "1".to_string());
        parts.detail("total", "counter", total);
        let kind = if groups.iter().any(|g| g == "sshd") {
            "ssh".to_string()
        } else if groups.iter().any(|g| g == "windows") {
            "windows".to_string()
        } else {
            self.alert.text("decoder.name").unwrap_or_else(|| "login".to_string())
        };
        parts.detail("type", "text", kind);
        parts
            .holds_all(iocs)
            .then(|| self.object(AUTH_FAILURE_TEMPLATE, "authentication-failure-report", parts))
    }

    fn dns(&self, iocs: &[Ioc]) -> Option<Observation> {
        const QUERY_FIELDS: [&str; 3] =
            ["data.win.eventdata.queryName", "data.dns.rrname", "data.query"];
        let query = iocs.iter().find(|i| QUERY_FIELDS.contains(&i.field.as_str()))?;
        let mut parts = Parts::default();
        parts.ioc("domain", "domain", query);
        for ioc in iocs.iter().filter(|i| i.field == "data.win.eventdata.queryResults") {
            match ioc.kind {
                IocType::Ip => parts.ioc("ip", "ip-dst", ioc),
                _ => parts.ioc("domain", "domain", ioc),
            }
        }
        parts.holds_all(iocs).then(|| self.object(DOMAIN_IP_TEMPLATE, "domain-ip", parts))
    }

    fn connection(&self, iocs: &[Ioc]) -> Option<Observation> {
        let destination = iocs.iter().find(|i| i.kind == IocType::Ip && !is_source(i))?;
        let mut parts = Parts::default();
        if let Some(source) = iocs.iter().find(|i| i.kind == IocType::Ip && is_source(i)) {
            parts.ioc("ip-src", "ip-src", source);
        }
        parts.ioc("ip-dst", "ip-dst", destination);
        let port = [
            "data.win.eventdata.destinationPort",
            "data.dest_port",
            "data.dstport",
            "data.id.resp_p",
        ]
        .iter()
        .find_map(|f| self.alert.text(f))
        .filter(|p| p.parse::<u16>().is_ok());
        if let Some(port) = port {
            parts.detail("dst-port", "port", port);
        }
        if let Some(host) = iocs.iter().find(|i| i.kind == IocType::Domain) {
            parts.ioc("hostname-dst", "hostname", host);
        }
        let protocol = ["data.win.eventdata.protocol", "data.proto", "data.protocol"]
            .iter()
            .find_map(|f| self.alert.text(f))
            .filter(|p| p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if let Some(protocol) = protocol {
            parts.detail("layer4-protocol", "text", protocol.to_ascii_uppercase());
        }
        parts.holds_all(iocs).then(|| self.object(CONNECTION_TEMPLATE, "network-connection", parts))
    }

    /// Addresses and host names seen together in some time frame: logins,
    /// web requests, IDS alerts that no more specific template fits.
    fn ip_port(&self, iocs: &[Ioc]) -> Option<Observation> {
        let mut parts = Parts::default();
        for ioc in iocs {
            match ioc.kind {
                IocType::Ip if is_source(ioc) => parts.ioc("ip-src", "ip-src", ioc),
                IocType::Ip => parts.ioc("ip-dst", "ip-dst", ioc),
                IocType::Domain => parts.ioc("domain", "domain", ioc),
                _ => return None,
            }
        }
        parts.holds_all(iocs).then(|| self.object(IP_PORT_TEMPLATE, "ip-port", parts))
    }

    fn attributes(&self, iocs: &[Ioc]) -> Observation {
        let list = iocs
            .iter()
            .map(|ioc| {
                let kind = attribute_type(ioc);
                let name = format!("{}|{kind}|{}", self.alert.rule_id(), ioc.value);
                json!({
                    "uuid": child_uuid(self.event_uuid, &name),
                    "type": kind,
                    "value": ioc.value,
                    "to_ids": false,
                    "distribution": 5,
                    "first_seen": self.seen,
                    "comment": format!("{} (from {})", self.comment, ioc.field),
                })
            })
            .collect();
        Observation::Attributes(self.with_attack_tags(list))
    }

    /// Puts the ATT&CK galaxy tags of the alert's rule, and the threat
    /// actors and malware of the intel it matched, on the first attribute:
    /// the incident event carries the techniques of its first alert, and
    /// each later alert's stay with its own observation, so no request is
    /// spent on tagging the event.
    fn with_attack_tags(&self, mut attributes: Vec<Value>) -> Vec<Value> {
        let mut names = attack_tags(self.alert);
        names.extend(self.intel_tags.iter().cloned());
        let tags: Vec<Value> = names.into_iter().map(|t| json!({"name": t})).collect();
        if let (Some(first), false) = (attributes.first_mut(), tags.is_empty()) {
            first["Tag"] = json!(tags);
        }
        attributes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{extract, Extraction};

    fn alert(json: &str) -> (Alert, Found) {
        let alert = Alert::parse(json.as_bytes()).unwrap();
        let found = extract(&alert, &Extraction::default());
        (alert, found)
    }

    const BRUTE: &str = r#"{"timestamp":"2026-11-18T09:02:10.120+0000","id":"1795424530.1","manager":{"name":"mgr"},"agent":{"id":"021","name":"FIN-APP-01","ip":"10.40.20.21"},"rule":{"id":"5712","level":10,"frequency":8,"description":"sshd: brute force trying to get access to the system. Non existent user.","groups":["syslog","sshd","authentication_failures"],"mitre":{"id":["T1110"],"technique":["Brute Force"]}},"data":{"srcip":"203.0.113.45","srcuser":"admin"}}"#;

    #[test]
    fn the_incident_uuid_is_the_same_for_every_alert_of_an_agent_s_day() {
        let (a, found) = alert(BRUTE);
        let later = BRUTE.replace("09:02:10.120", "23:59:59.999");
        let (b, _) = alert(&later);
        let settings = RecordSettings::default();
        let first = plan(&settings, &a, &found, false, &[]).unwrap();
        let second = plan(&settings, &b, &found, false, &[]).unwrap();
        assert_eq!(first.event_uuid, second.event_uuid);
        let next_day = BRUTE.replace("2026-11-18T09", "2026-11-19T09");
        let (c, _) = alert(&next_day);
        assert_ne!(plan(&settings, &c, &found, false, &[]).unwrap().event_uuid, first.event_uuid);
    }

    #[test]
    fn a_brute_force_becomes_an_authentication_failure_report() {
        let (a, found) = alert(BRUTE);
        let plan = plan(&RecordSettings::default(), &a, &found, false, &[]).unwrap();
        let Observation::Object { template, object } = &plan.observation else {
            panic!("no object")
        };
        assert_eq!(template, AUTH_FAILURE_TEMPLATE);
        let relations: Vec<(&str, &str)> = object["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["object_relation"].as_str().unwrap(), a["value"].as_str().unwrap()))
            .collect();
        assert_eq!(
            relations,
            vec![
                ("ip-src", "203.0.113.45"),
                ("username", "admin"),
                ("total", "8"),
                ("type", "ssh")
            ]
        );
        assert!(object["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["to_ids"] == json!(false)));
        assert_eq!(object["first_seen"], json!("2026-11-18T09:02:10.120000+00:00"));
        assert_eq!(
            object["comment"],
            json!("Wazuh alert 1795424530.1, rule 5712 (level 10): sshd: brute force trying to get access to the system. Non existent user.")
        );
    }

    #[test]
    fn the_event_carries_tlp_agent_and_attack_tags() {
        let (a, found) = alert(BRUTE);
        let plan = plan(&RecordSettings::default(), &a, &found, false, &[]).unwrap();
        assert_eq!(
            plan.event["info"],
            json!("Wazuh incident: agent 021 FIN-APP-01 (10.40.20.21), 2026-11-18")
        );
        assert_eq!(plan.event["distribution"], json!(0));
        assert_eq!(plan.event["threat_level_id"], json!(2));
        assert_eq!(
            plan.event["Tag"],
            json!([
                {"name": "tlp:amber"},
                {"name": "wazuh:agent=\"021 FIN-APP-01\""},
                {"name": "misp-galaxy:mitre-attack-pattern=\"Brute Force - T1110\""}
            ])
        );
    }

    #[test]
    fn a_repeat_of_the_same_ioc_and_rule_has_the_same_observation_uuid() {
        let (a, found) = alert(BRUTE);
        let later =
            BRUTE.replace("09:02:10.120", "09:05:00.000").replace("1795424530.1", "1795424700.9");
        let (b, _) = alert(&later);
        let settings = RecordSettings::default();
        let first =
            plan(&settings, &a, &found, false, &[]).unwrap().observation.first_attribute_uuid();
        let again =
            plan(&settings, &b, &found, false, &[]).unwrap().observation.first_attribute_uuid();
        assert_eq!(first, again);
    }

    #[test]
    fn a_missing_timestamp_is_an_error_naming_it() {
        let (a, found) =
            alert(&BRUTE.replace(r#""timestamp":"2026-11-18T09:02:10.120+0000","#, ""));
        let err = plan(&RecordSettings::default(), &a, &found, false, &[]).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "alert timestamp: timestamp \"\" is not ISO 8601 with an offset"
        );
    }

    #[test]
    fn the_gate_takes_high_levels_matches_and_listed_groups() {
        let (a, found) = alert(BRUTE);
        let mut settings = RecordSettings { min_level: 11, ..RecordSettings::default() };
        assert!(!settings.admits(&a, &found, false));
        assert!(settings.admits(&a, &found, true));
        settings.groups = vec!["sshd".into()];
        assert!(settings.admits(&a, &found, false));
        settings.enabled = false;
        assert!(!settings.admits(&a, &found, true));
    }

    #[test]
    fn a_login_from_an_address_becomes_an_ip_port_object() {
        let login = BRUTE.replace(
            r#""groups":["syslog","sshd","authentication_failures"]"#,
            r#""groups":["syslog","attacks"]"#,
        );
        let (a, found) = alert(&login);
        let plan = plan(&RecordSettings::default(), &a, &found, false, &[]).unwrap();
        let Observation::Object { template, .. } = &plan.observation else { panic!("no object") };
        assert_eq!(template, IP_PORT_TEMPLATE);
    }

    #[test]
    fn iocs_that_no_template_holds_together_become_plain_attributes() {
        let mixed = BRUTE.replace(
            r#""srcuser":"admin""#,
            r#""srcuser":"admin","url":"http://dl.example.org/x.sh""#,
        );
        let (a, found) = alert(&mixed);
        assert_eq!(found.iocs.len(), 3);
        let plan = plan(&RecordSettings::default(), &a, &found, false, &[]).unwrap();
        let Observation::Attributes(list) = &plan.observation else { panic!("an object") };
        let types: Vec<&str> = list.iter().map(|a| a["type"].as_str().unwrap()).collect();
        assert_eq!(types, vec!["ip-src", "url", "domain"]);
    }

    #[test]
    fn without_a_template_an_object_becomes_commented_attributes() {
        let (a, found) = alert(BRUTE);
        let plan = plan(&RecordSettings::default(), &a, &found, false, &[]).unwrap();
        let flat = plan.observation.as_attributes();
        assert_eq!(flat[0]["type"], json!("ip-src"));
        assert!(flat[0]["comment"]
            .as_str()
            .unwrap()
            .starts_with("ip-src; Wazuh alert 1795424530.1"));
        assert_eq!(flat[0].get("object_relation"), None);
    }
}
