//! What a timeline holds: the incident, its steps in the order Wazuh saw
//! them, and the other MISP events that MISP's correlation links to it.
//! Built from MISP by the timeline fetcher, printed by the renderers.

use serde::Serialize;

/// The timeline of one incident event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Timeline {
    /// The incident event.
    pub incident: Incident,
    /// The recorded observations, ordered by `time` (first_seen).
    pub steps: Vec<Step>,
    /// Events MISP correlates with the incident (they share a value).
    pub related: Vec<RelatedEvent>,
}

/// The incident event itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Incident {
    /// MISP event id (absent when MISP gave none).
    pub id: Option<String>,
    /// Event uuid.
    pub uuid: String,
    /// Event info line, e.g. `Wazuh incident: agent 021 FIN-APP-01, 2026-11-18`.
    pub info: String,
    /// Event date (`2026-11-18`).
    pub date: Option<String>,
    /// `high`, `medium`, `low` or `undefined`.
    pub threat_level: String,
    /// Agent id and name the incident is about.
    pub agent: String,
    /// Every tag on the event (TLP, agent, ATT&CK patterns).
    pub tags: Vec<String>,
}

/// One observation: what one alert (or a burst of repeats of it) recorded.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Step {
    /// When Wazuh saw it: first_seen, ISO 8601 with offset.
    pub time: String,
    /// When it was last seen, when repeats extended it.
    pub last_seen: Option<String>,
    /// The agent, `021 FIN-APP-01`.
    pub agent: String,
    /// Wazuh rule id.
    pub rule_id: String,
    /// Wazuh rule level.
    pub rule_level: u64,
    /// Wazuh rule description.
    pub rule_description: String,
    /// The Wazuh alert id.
    pub alert_id: String,
    /// What was seen, in words: `file svchost-update.exe`,
    /// `network-connection 198.51.100.77:443`, `authentication-failure-report`.
    pub observation: String,
    /// The values recorded, as `type value` pairs.
    pub values: Vec<Value>,
    /// How many alerts this step stands for (1, or more for repeats).
    pub count: u64,
    /// The intel each matching value hit.
    pub intel: Vec<IntelHit>,
}

/// One recorded value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Value {
    /// MISP attribute type (`ip-src`, `sha256`, `domain`).
    pub kind: String,
    /// The value.
    pub value: String,
    /// Its relation in the object (`username`, `total`), when it is an
    /// object's attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
}

impl Value {
    /// What to call the value: its relation in the object, else its type.
    pub fn label(&self) -> &str {
        self.relation.as_deref().unwrap_or(&self.kind)
    }
}

/// A value of a step that is known intel in another MISP event.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IntelHit {
    /// The matching value.
    pub value: String,
    /// The intel event's id.
    pub event_id: Option<String>,
    /// The intel event's uuid.
    pub event_uuid: Option<String>,
    /// The intel event's info line.
    pub event_info: String,
    /// Its threat level name.
    pub threat_level: String,
    /// Threat actors of the intel event.
    pub threat_actors: Vec<String>,
    /// Its other tags (TLP, ATT&CK patterns, ...).
    pub tags: Vec<String>,
}

/// An event that MISP's correlation relates to the incident.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RelatedEvent {
    /// Event id.
    pub id: Option<String>,
    /// Event uuid.
    pub uuid: Option<String>,
    /// Event info line.
    pub info: String,
    /// Creator organisation.
    pub org: Option<String>,
    /// Event date.
    pub date: Option<String>,
    /// The values the incident shares with it.
    pub shared_values: Vec<String>,
}
