//! The intel a MISP instance holds: organisations, tags, events with
//! their attributes and objects, sightings, warninglists, galaxy clusters
//! and the event blocklist.
//!
//! Ids are handed out in insertion order from 1, as MISP's auto-increment
//! columns do. Attributes are indexed by the lower-cased halves of their
//! value so that searches and correlations stay fast on large feeds.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::types;
use crate::warninglist::Warninglist;

/// The organisation that owns the API key.
pub const LOCAL_ORG_ID: u64 = 1;

/// An organisation, as `Org` and `Orgc` show it. The fields of this
/// and the following rows are MISP's columns of the same name.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: u64,
    pub name: String,
    pub uuid: String,
    pub local: bool,
}

/// A tag known to the instance.
#[derive(Debug, Clone)]
pub struct Tag {
    pub id: u64,
    pub name: String,
    pub colour: String,
    pub numerical_value: Option<i64>,
    pub is_galaxy: bool,
}

/// A tag attached to an event or an attribute.
#[derive(Debug, Clone)]
pub struct TagLink {
    /// The id of the `EventTag` or `AttributeTag` row.
    pub id: u64,
    pub tag_id: u64,
    pub local: bool,
    pub relationship_type: Option<String>,
}

/// An event's own fields; its attributes and objects are listed by id.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub id: u64,
    pub uuid: String,
    pub info: String,
    pub date: String,
    pub threat_level_id: i64,
    pub analysis: i64,
    pub distribution: i64,
    pub sharing_group_id: i64,
    pub published: bool,
    pub timestamp: i64,
    pub publish_timestamp: i64,
    pub org_id: u64,
    pub orgc_id: u64,
    pub locked: bool,
    pub disable_correlation: bool,
    pub extends_uuid: String,
    pub tags: Vec<TagLink>,
    pub attribute_ids: Vec<u64>,
    pub object_ids: Vec<u64>,
}

/// An attribute, on the event itself (`object_id` 0) or in an object.
#[derive(Debug, Clone, Default)]
pub struct Attribute {
    pub id: u64,
    pub event_id: u64,
    pub object_id: u64,
    pub object_relation: Option<String>,
    pub category: String,
    pub type_: String,
    pub value: String,
    pub to_ids: bool,
    pub uuid: String,
    pub timestamp: i64,
    pub distribution: i64,
    pub sharing_group_id: i64,
    pub comment: String,
    pub deleted: bool,
    pub disable_correlation: bool,
    /// Microseconds since the epoch.
    pub first_seen: Option<i64>,
    /// Microseconds since the epoch.
    pub last_seen: Option<i64>,
    pub tags: Vec<TagLink>,
}

impl Attribute {
    /// MISP's `value1` and `value2` columns.
    pub fn halves(&self) -> (&str, &str) {
        types::split_value(&self.type_, &self.value)
    }
}

/// A MISP object: a group of attributes built from a template.
#[derive(Debug, Clone, Default)]
pub struct MispObject {
    pub id: u64,
    pub name: String,
    pub meta_category: String,
    pub description: String,
    pub template_uuid: String,
    pub template_version: i64,
    pub event_id: u64,
    pub uuid: String,
    pub timestamp: i64,
    pub distribution: i64,
    pub sharing_group_id: i64,
    pub comment: String,
    pub deleted: bool,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

/// One sighting of an attribute.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub id: u64,
    pub attribute_id: u64,
    pub event_id: u64,
    pub org_id: u64,
    pub date_sighting: i64,
    pub uuid: String,
    pub source: String,
    /// 0 sighting, 1 false positive, 2 expiration.
    pub type_: i64,
}

/// A galaxy cluster that a galaxy tag resolves to.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The galaxy, without its cluster list.
    pub galaxy: Value,
    /// The cluster, as MISP's feeds carry it.
    pub cluster: Value,
}

/// Everything the server knows; guarded by one mutex in the server.
#[derive(Debug)]
pub struct Store {
    /// Every organisation; the local one first.
    pub orgs: Vec<Org>,
    /// Every tag, by id order.
    pub tags: Vec<Tag>,
    events: Vec<Option<Event>>,
    attributes: Vec<Attribute>,
    objects: Vec<MispObject>,
    /// Every sighting, in the order made.
    pub sightings: Vec<Sighting>,
    /// The enabled warninglists.
    pub warninglists: Vec<Warninglist>,
    /// Event uuids that may not be added.
    pub blocklist: HashSet<String>,
    /// Galaxy clusters by the lower-cased name of their tag.
    pub clusters: HashMap<String, Cluster>,
    event_uuids: HashMap<String, u64>,
    attribute_uuids: HashMap<String, u64>,
    tag_names: HashMap<String, u64>,
    values: HashMap<String, Vec<u64>>,
    next_link: u64,
    next_sighting: u64,
}

impl Store {
    /// An empty instance owned by one local organisation.
    pub fn new() -> Store {
        let local = Org {
            id: LOCAL_ORG_ID,
            name: "ORGNAME".to_owned(),
            uuid: crate::ids::stable_uuid("organisation ORGNAME"),
            local: true,
        };
        Store {
            orgs: vec![local],
            tags: Vec::new(),
            events: Vec::new(),
            attributes: Vec::new(),
            objects: Vec::new(),
            sightings: Vec::new(),
            warninglists: Vec::new(),
            blocklist: HashSet::new(),
            clusters: HashMap::new(),
            event_uuids: HashMap::new(),
            attribute_uuids: HashMap::new(),
            tag_names: HashMap::new(),
            values: HashMap::new(),
            next_link: 1,
            next_sighting: 1,
        }
    }

    /// The organisation with `id`; the local one when `id` is unknown.
    pub fn org(&self, id: u64) -> &Org {
        self.orgs.iter().find(|o| o.id == id).unwrap_or(&self.orgs[0])
    }

    /// Finds an organisation by uuid or name, creating it when unknown.
    pub fn org_for(&mut self, name: &str, uuid: Option<&str>) -> u64 {
        let found = self.orgs.iter().find(|o| match uuid {
            Some(uuid) => o.uuid.eq_ignore_ascii_case(uuid),
            None => o.name == name,
        });
        if let Some(org) = found {
            return org.id;
        }
        let id = self.orgs.len() as u64 + 1;
        let uuid = uuid.map(str::to_owned).unwrap_or_else(crate::ids::random_uuid);
        self.orgs.push(Org { id, name: name.to_owned(), uuid, local: false });
        id
    }

    /// The tag named `name`, compared without regard to case as MySQL does.
    pub fn tag_named(&self, name: &str) -> Option<&Tag> {
        let id = self.tag_names.get(&name.trim().to_lowercase())?;
        self.tag(*id)
    }

    /// The tag with `id`.
    pub fn tag(&self, id: u64) -> Option<&Tag> {
        self.tags.get((id as usize).checked_sub(1)?)
    }

    /// Creates the tag `name` unless it exists, and returns its id.
    pub fn ensure_tag(&mut self, name: &str, colour: Option<&str>) -> u64 {
        if let Some(tag) = self.tag_named(name) {
            return tag.id;
        }
        let id = self.tags.len() as u64 + 1;
        let name = name.trim().to_owned();
        let colour = colour.map(str::to_owned).unwrap_or_else(|| crate::ids::colour_for(&name));
        let is_galaxy = name.starts_with("misp-galaxy:");
        self.tag_names.insert(name.to_lowercase(), id);
        self.tags.push(Tag { id, name, colour, numerical_value: None, is_galaxy });
        id
    }

    /// A new link to `tag_id`, with a fresh row id.
    pub fn link(&mut self, tag_id: u64, local: bool) -> TagLink {
        let id = self.next_link;
        self.next_link += 1;
        TagLink { id, tag_id, local, relationship_type: None }
    }

    /// The id for a new sighting; ids are never reused.
    pub fn next_sighting_id(&mut self) -> u64 {
        let id = self.next_sighting;
        self.next_sighting += 1;
        id
    }

    /// The event with `id`, unless it was deleted.
    pub fn event(&self, id: u64) -> Option<&Event> {
        self.events.get((id as usize).checked_sub(1)?)?.as_ref()
    }

    /// The event with `id`, for changes.
    pub fn event_mut(&mut self, id: u64) -> Option<&mut Event> {
        self.events.get_mut((id as usize).checked_sub(1)?)?.as_mut()
    }

    /// The event addressed by a numeric id or a uuid.
    pub fn event_by_ref(&self, reference: &str) -> Option<&Event> {
        match reference.parse::<u64>() {
            Ok(id) => self.event(id),
            Err(_) => self.event(*self.event_uuids.get(&reference.to_lowercase())?),
        }
    }

    /// Every live event, in id order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter().flatten()
    }

    /// Stores `event` under the next id and returns that id.
    pub fn insert_event(&mut self, mut event: Event) -> u64 {
        let id = self.events.len() as u64 + 1;
        event.id = id;
        event.uuid = event.uuid.to_lowercase();
        self.event_uuids.insert(event.uuid.clone(), id);
        self.events.push(Some(event));
        id
    }

    /// Removes an event and its attributes for good; its uuid goes on the
    /// blocklist, as MISP's deletion does. Returns whether it existed.
    pub fn delete_event(&mut self, reference: &str) -> bool {
        let Some(id) = self.event_by_ref(reference).map(|e| e.id) else {
            return false;
        };
        let event = self.events[id as usize - 1].take().expect("event present");
        self.event_uuids.remove(&event.uuid);
        self.blocklist.insert(event.uuid);
        self.sightings.retain(|s| s.event_id != id);
        for attribute_id in event.attribute_ids {
            self.unindex(attribute_id);
        }
        true
    }

    /// The attribute with `id`, whatever its state.
    pub fn attribute(&self, id: u64) -> Option<&Attribute> {
        let attribute = self.attributes.get((id as usize).checked_sub(1)?)?;
        self.event(attribute.event_id).map(|_| attribute)
    }

    /// The attribute with `id`, for changes.
    pub fn attribute_mut(&mut self, id: u64) -> Option<&mut Attribute> {
        self.attribute(id)?;
        self.attributes.get_mut(id as usize - 1)
    }

    /// The attribute addressed by a numeric id or a uuid.
    pub fn attribute_by_ref(&self, reference: &str) -> Option<&Attribute> {
        match reference.parse::<u64>() {
            Ok(id) => self.attribute(id),
            Err(_) => self.attribute(*self.attribute_uuids.get(&reference.to_lowercase())?),
        }
    }

    /// Every attribute of live events, in id order, deleted ones included.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.attributes.iter().filter(|a| self.event(a.event_id).is_some())
    }

    /// The attributes of an event, object attributes included.
    pub fn event_attributes(&self, event: &Event) -> Vec<&Attribute> {
        event.attribute_ids.iter().filter_map(|id| self.attribute(*id)).collect()
    }

    /// Stores `attribute` on its event and returns its id.
    pub fn insert_attribute(&mut self, mut attribute: Attribute) -> u64 {
        let id = self.attributes.len() as u64 + 1;
        attribute.id = id;
        attribute.uuid = attribute.uuid.to_lowercase();
        self.attribute_uuids.insert(attribute.uuid.clone(), id);
        for key in index_keys(&attribute) {
            self.values.entry(key).or_default().push(id);
        }
        if let Some(event) = self.event_mut(attribute.event_id) {
            event.attribute_ids.push(id);
        }
        self.attributes.push(attribute);
        id
    }

    /// Replaces the stored attribute with the same id, keeping the value
    /// index in step.
    pub fn update_attribute(&mut self, attribute: Attribute) {
        let id = attribute.id;
        self.unindex(id);
        self.attribute_uuids.insert(attribute.uuid.clone(), id);
        for key in index_keys(&attribute) {
            self.values.entry(key).or_default().push(id);
        }
        self.attributes[id as usize - 1] = attribute;
    }

    /// Ids of attributes whose `value1` or `value2` equals `value`,
    /// ignoring case.
    pub fn attributes_with_value(&self, value: &str) -> &[u64] {
        self.values.get(&value.to_lowercase()).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The object with `id`.
    pub fn object(&self, id: u64) -> Option<&MispObject> {
        self.objects.get((id as usize).checked_sub(1)?)
    }

    /// The object with `id`, for changes.
    pub fn object_mut(&mut self, id: u64) -> Option<&mut MispObject> {
        self.objects.get_mut((id as usize).checked_sub(1)?)
    }

    /// The object of a live event with `uuid`, compared without regard
    /// to case.
    pub fn object_by_uuid(&self, uuid: &str) -> Option<&MispObject> {
        self.objects
            .iter()
            .find(|o| o.uuid.eq_ignore_ascii_case(uuid) && self.event(o.event_id).is_some())
    }

    /// Stores `object` on its event and returns its id.
    pub fn insert_object(&mut self, mut object: MispObject) -> u64 {
        let id = self.objects.len() as u64 + 1;
        object.id = id;
        if let Some(event) = self.event_mut(object.event_id) {
            event.object_ids.push(id);
        }
        self.objects.push(object);
        id
    }

    /// Whether the event holds a live attribute of the same type,
    /// category and value outside objects: MISP's duplicate rule.
    /// `except` leaves out the attribute being edited.
    pub fn has_similar(
        &self,
        event_id: u64,
        type_: &str,
        category: &str,
        value: &str,
        except: Option<u64>,
    ) -> bool {
        self.attributes_with_value(types::split_value(type_, value).0).iter().any(|id| {
            self.attribute(*id).is_some_and(|a| {
                Some(a.id) != except
                    && a.event_id == event_id
                    && !a.deleted
                    && a.object_id == 0
                    && a.type_ == type_
                    && a.category == category
                    && a.value.eq_ignore_ascii_case(value)
            })
        })
    }

    /// Ids of attributes in other events that correlate with `attribute`,
    /// by MISP's rules: same value in either half, neither side deleted,
    /// of a non-correlating type, or with correlation disabled.
    pub fn correlations(&self, attribute: &Attribute) -> Vec<u64> {
        if !self.correlates(attribute) {
            return Vec::new();
        }
        let mut found: Vec<u64> = Vec::new();
        for part in correlating_parts(attribute) {
            for id in self.attributes_with_value(part) {
                let Some(other) = self.attribute(*id) else { continue };
                if other.event_id != attribute.event_id
                    && self.correlates(other)
                    && matches_part(other, part)
                    && !found.contains(id)
                {
                    found.push(*id);
                }
            }
        }
        found.sort_unstable();
        found
    }

    fn correlates(&self, attribute: &Attribute) -> bool {
        let event_allows = self.event(attribute.event_id).is_some_and(|e| !e.disable_correlation);
        event_allows
            && !attribute.deleted
            && !attribute.disable_correlation
            && !types::NON_CORRELATING.contains(&attribute.type_.as_str())
    }

    fn unindex(&mut self, attribute_id: u64) {
        let Some(attribute) = self.attributes.get(attribute_id as usize - 1) else { return };
        for key in index_keys(attribute) {
            if let Some(ids) = self.values.get_mut(&key) {
                ids.retain(|id| *id != attribute_id);
            }
        }
        self.attribute_uuids.remove(&attribute.uuid);
    }
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

fn index_keys(attribute: &Attribute) -> Vec<String> {
    let (first, second) = attribute.halves();
    let mut keys = vec![first.to_lowercase()];
    if !second.is_empty() && !second.eq_ignore_ascii_case(first) {
        keys.push(second.to_lowercase());
    }
    keys
}

/// The halves of `attribute` that take part in correlation.
fn correlating_parts(attribute: &Attribute) -> Vec<&str> {
    let (first, second) = attribute.halves();
    let primary_only = types::PRIMARY_ONLY_CORRELATING.contains(&attribute.type_.as_str());
    let mut parts = vec![first];
    if !second.is_empty() && !primary_only {
        parts.push(second);
    }
    parts
}

fn matches_part(other: &Attribute, part: &str) -> bool {
    let (first, second) = other.halves();
    let primary_only = types::PRIMARY_ONLY_CORRELATING.contains(&other.type_.as_str());
    first.eq_ignore_ascii_case(part) || (!primary_only && second.eq_ignore_ascii_case(part))
}
