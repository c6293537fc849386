//! MISP's replies as the integration reads them.
//!
//! MISP documents ids, timestamps and levels as strings, but MISP 2.5 on
//! PHP 8 returns integers; booleans may arrive as `0`/`1`. Every field here
//! accepts all of these, and every field is optional, so that an unexpected
//! reply is read as far as it goes instead of failing the run.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The reply of `POST /attributes/restSearch`.
#[derive(Debug, Deserialize)]
pub struct SearchReply {
    /// The matching attributes.
    pub response: SearchResponse,
}

/// The `response` member: an object with `Attribute[]`, or an empty list
/// that some MISP versions send when nothing matched.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SearchResponse {
    /// `{"Attribute": [...]}`.
    Attributes {
        /// The attributes.
        #[serde(rename = "Attribute", default)]
        attribute: Vec<Attribute>,
    },
    /// `[]`.
    Empty(Vec<Value>),
}

impl SearchReply {
    /// The attributes of the reply.
    pub fn into_attributes(self) -> Vec<Attribute> {
        match self.response {
            SearchResponse::Attributes { attribute } => attribute,
            SearchResponse::Empty(_) => Vec::new(),
        }
    }
}

/// A MISP attribute, with the event it belongs to.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Attribute {
    #[serde(deserialize_with = "text")]
    pub id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub event_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub object_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub uuid: Option<String>,
    #[serde(rename = "type", deserialize_with = "text")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "text")]
    pub category: Option<String>,
    #[serde(deserialize_with = "text")]
    pub value: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub to_ids: Option<bool>,
    #[serde(deserialize_with = "text")]
    pub comment: Option<String>,
    #[serde(deserialize_with = "text")]
    pub timestamp: Option<String>,
    #[serde(deserialize_with = "text")]
    pub first_seen: Option<String>,
    #[serde(deserialize_with = "text")]
    pub last_seen: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub deleted: Option<bool>,
    #[serde(rename = "Event")]
    pub event: Option<Event>,
    #[serde(rename = "Tag", deserialize_with = "list")]
    pub tags: Vec<Tag>,
}

/// An event, as far as a search reply or a feed carries it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Event {
    #[serde(deserialize_with = "text")]
    pub id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "text")]
    pub info: Option<String>,
    #[serde(deserialize_with = "text")]
    pub date: Option<String>,
    #[serde(deserialize_with = "text")]
    pub threat_level_id: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub published: Option<bool>,
    #[serde(deserialize_with = "text")]
    pub publish_timestamp: Option<String>,
    #[serde(deserialize_with = "text")]
    pub orgc_id: Option<String>,
    #[serde(rename = "Orgc")]
    pub orgc: Option<Org>,
    #[serde(rename = "Org")]
    pub org: Option<Org>,
    #[serde(rename = "Tag", deserialize_with = "list")]
    pub tags: Vec<Tag>,
    #[serde(rename = "Galaxy", deserialize_with = "list")]
    pub galaxies: Vec<Galaxy>,
}

/// An organisation.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Org {
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
}

/// A tag on an attribute or event.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Tag {
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
}

/// A galaxy attached to an event, with its clusters.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Galaxy {
    #[serde(rename = "GalaxyCluster", deserialize_with = "list")]
    pub clusters: Vec<GalaxyCluster>,
}

/// A galaxy cluster (a threat actor, an ATT&CK pattern, ...).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct GalaxyCluster {
    #[serde(deserialize_with = "text")]
    pub tag_name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub value: Option<String>,
}

/// MISP's error body `{"name", "message", "url"}`, with `saved: false`
/// and per-field `errors` when MISP refused to save something.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub message: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub saved: Option<bool>,
    pub errors: Option<Value>,
}

impl ErrorBody {
    /// The message (or name), followed by the per-field errors:
    /// `Could not add Attribute: value: A similar attribute already exists
    /// for this event.`
    pub fn describe(&self) -> String {
        let head = self.message.clone().or_else(|| self.name.clone()).unwrap_or_default();
        let mut details = Vec::new();
        if let Some(errors) = &self.errors {
            flatten_errors(errors, "", &mut details);
        }
        match (head.is_empty(), details.is_empty()) {
            (_, true) => head,
            (true, false) => details.join("; "),
            (false, false) => format!("{head}: {}", details.join("; ")),
        }
    }
}

/// `field: message` for every message in MISP's nested `errors` object.
fn flatten_errors(value: &Value, field: &str, out: &mut Vec<String>) {
    match value {
        Value::String(message) if field.is_empty() => out.push(message.clone()),
        Value::String(message) => out.push(format!("{field}: {message}")),
        Value::Array(items) => items.iter().for_each(|item| flatten_errors(item, field, out)),
        Value::Object(map) => {
            for (key, inner) in map {
                let path =
                    if key.starts_with("attribute_") || field.is_empty() && key == "Attribute" {
                        field.to_string()
                    } else {
                        key.clone()
                    };
                flatten_errors(inner, &path, out);
            }
        }
        _ => {}
    }
}

/// Reads a string, number or boolean as text; null and anything else as
/// absent.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// Reads a boolean written as `true`, `1`, `"1"` or `"true"` (and their
/// opposites); anything else as absent.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

/// Reads a list whose entries that do not fit are skipped; a missing,
/// null or non-list member reads as empty.
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => {
            items.into_iter().filter_map(|item| serde_json::from_value(item).ok()).collect()
        }
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_strings_or_integers_read_the_same() {
        let strings: Attribute = serde_json::from_str(
            r#"{"id":"12","event_id":"3","to_ids":"1","Event":{"threat_level_id":"1"}}"#,
        )
        .unwrap();
        let numbers: Attribute = serde_json::from_str(
            r#"{"id":12,"event_id":3,"to_ids":1,"Event":{"threat_level_id":1}}"#,
        )
        .unwrap();
        for a in [strings, numbers] {
            assert_eq!(a.id.as_deref(), Some("12"));
            assert_eq!(a.event_id.as_deref(), Some("3"));
            assert_eq!(a.to_ids, Some(true));
            assert_eq!(a.event.unwrap().threat_level_id.as_deref(), Some("1"));
        }
    }

    #[test]
    fn an_empty_list_response_means_no_attributes() {
        let reply: SearchReply = serde_json::from_str(r#"{"response":[]}"#).unwrap();
        assert!(reply.into_attributes().is_empty());
        let reply: SearchReply = serde_json::from_str(r#"{"response":{"Attribute":[]}}"#).unwrap();
        assert!(reply.into_attributes().is_empty());
    }

    #[test]
    fn refusals_read_as_the_message_and_every_field_error() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"saved":false,"name":"Could not add Attribute","message":"Could not add Attribute","url":"/attributes/add","errors":{"value":["A similar attribute already exists for this event."]}}"#,
        )
        .unwrap();
        assert_eq!(
            body.describe(),
            "Could not add Attribute: value: A similar attribute already exists for this event."
        );
        let plain: ErrorBody = serde_json::from_str(
            r#"{"name":"Invalid event","message":"Invalid event","url":"/x"}"#,
        )
        .unwrap();
        assert_eq!(plain.describe(), "Invalid event");
    }

    #[test]
    fn odd_members_are_skipped_not_fatal() {
        let a: Attribute = serde_json::from_str(
            r#"{"value":"x","first_seen":null,"Tag":[{"name":"tlp:red"},7],"Event":{"Tag":"?"}}"#,
        )
        .unwrap();
        assert_eq!(a.first_seen, None);
        assert_eq!(a.tags.len(), 1);
        assert!(a.event.unwrap().tags.is_empty());
    }
}
