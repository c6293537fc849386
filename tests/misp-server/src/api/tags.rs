//! `/tags/attachTagToObject`: tagging an event or an attribute by uuid.

use serde_json::{json, Map, Value};

use super::attributes::unpublish;
use super::reply::php_json;
use super::{Call, Reply};
use crate::store::{Store, LOCAL_ORG_ID};
use crate::{clock, fields, ids, search};

const URL: &str = "/tags/attachTagToObject";

/// What a tag is being attached to.
#[derive(Debug, Clone, Copy)]
enum Target {
    Event(u64),
    Attribute(u64),
}

impl Target {
    fn kind(self) -> &'static str {
        match self {
            Target::Event(_) => "Event",
            Target::Attribute(_) => "Attribute",
        }
    }

    fn id(self) -> u64 {
        match self {
            Target::Event(id) | Target::Attribute(id) => id,
        }
    }
}

/// `POST /tags/attachTagToObject` with `{"uuid", "tag", "local"}`;
/// attaching a tag already there counts as success.
pub fn attach(call: &Call) -> Reply {
    if call.request.method != "POST" {
        return Reply::exception(405, "This method is only accessible via POST requests.");
    }
    let empty = json!({});
    let data = call.data.as_ref().unwrap_or(&empty);
    let uuid = call.arg().map(str::to_owned).or_else(|| fields::text(data.get("uuid")));
    let Some(uuid) = uuid.filter(|u| !fields::is_empty(Some(&json!(u)))) else {
        return Reply::exception(405, "Invalid object uuid");
    };
    if !ids::is_uuid(&uuid) {
        return Reply::exception(500, "An Internal Error Has Occurred.");
    }
    let tags = match call.args.get(1) {
        Some(tag) => vec![json!(tag)],
        None if !fields::is_empty(data.get("tag")) => fields::list(data.get("tag")),
        None => return Reply::exception(405, "Invalid tag"),
    };
    let local = call.args.get(2).is_some_and(|l| !fields::is_empty(Some(&json!(l))))
        || !fields::is_empty(data.get("local"));
    let mut store = call.store();
    let Some(target) = find_target(&store, &uuid) else {
        return Reply::exception(404, "Invalid Target.");
    };
    if !local && !created_here(&store, target) {
        return Reply::exception(
            403,
            "Cannot alter the tags of this data, only the organisation that has created the data \
             (orgc) can modify global tags. Please consider using local tags if you are in the \
             host organisation of the instance.",
        );
    }
    let mut outcome = Outcome::default();
    for tag in tags.iter().filter_map(|t| fields::text(Some(t))) {
        attach_one(&mut store, target, &tag, local, call.api.can_create_tags(), &mut outcome);
    }
    outcome.reply(target)
}

fn find_target(store: &Store, uuid: &str) -> Option<Target> {
    if let Some(event) = store.event_by_ref(uuid) {
        return Some(Target::Event(event.id));
    }
    store.attribute_by_ref(uuid).filter(|a| !a.deleted).map(|a| Target::Attribute(a.id))
}

fn created_here(store: &Store, target: Target) -> bool {
    let event_id = match target {
        Target::Event(id) => id,
        Target::Attribute(id) => store.attribute(id).map_or(0, |a| a.event_id),
    };
    store.event(event_id).is_some_and(|e| e.orgc_id == LOCAL_ORG_ID)
}

/// What happened to each tag of the request.
#[derive(Debug, Default)]
struct Outcome {
    successes: usize,
    message: String,
    already: Vec<String>,
    fails: Vec<String>,
}

fn attach_one(
    store: &mut Store,
    target: Target,
    tag: &str,
    local: bool,
    create: bool,
    out: &mut Outcome,
) {
    let tag = tag.trim();
    let found = match tag.parse::<u64>() {
        Ok(id) => store.tag(id).map(|t| t.id),
        Err(_) => store.tags.iter().find(|t| search::like_matches(tag, &t.name)).map(|t| t.id),
    };
    let tag_id = match found {
        Some(id) => id,
        None if tag.parse::<u64>().is_ok() => return out.fails.push("Invalid Tag.".to_owned()),
        None if !create => {
            return out
                .fails
                .push("Tag not found and insufficient privileges to create it.".to_owned())
        }
        None => store.ensure_tag(tag, None),
    };
    let name = store.tag(tag_id).map(|t| t.name.clone()).unwrap_or_default();
    let kind = target.kind();
    if has_tag(store, target, tag_id) {
        out.message = format!(
            "{kind} already has the requested tag attached, no changes had to be made for tag \
             {name}."
        );
        out.already.push(name);
        out.successes += 1;
        return;
    }
    link_tag(store, target, tag_id, local);
    let scope = if local { "Local" } else { "Global" };
    out.message =
        format!("{scope} tag {name}({tag_id}) successfully attached to {kind}({}).", target.id());
    out.successes += 1;
}

fn has_tag(store: &Store, target: Target, tag_id: u64) -> bool {
    let links = match target {
        Target::Event(id) => store.event(id).map(|e| &e.tags),
        Target::Attribute(id) => store.attribute(id).map(|a| &a.tags),
    };
    links.is_some_and(|links| links.iter().any(|l| l.tag_id == tag_id))
}

/// Attaches the tag; a global tag unpublishes the event, and on an
/// attribute also moves its timestamp, as MISP does.
fn link_tag(store: &mut Store, target: Target, tag_id: u64, local: bool) {
    let link = store.link(tag_id, local);
    match target {
        Target::Event(id) => {
            if let Some(event) = store.event_mut(id) {
                event.tags.push(link);
            }
            if !local {
                unpublish(store, id);
            }
        }
        Target::Attribute(id) => {
            let Some(attribute) = store.attribute_mut(id) else { return };
            attribute.tags.push(link);
            if !local {
                attribute.timestamp = clock::now();
                let event_id = attribute.event_id;
                unpublish(store, event_id);
            }
        }
    }
}

impl Outcome {
    fn reply(self, target: Target) -> Reply {
        let failed = (!self.fails.is_empty()).then(|| {
            let reasons: Map<String, Value> =
                self.fails.iter().enumerate().map(|(i, f)| (i.to_string(), json!(f))).collect();
            format!(
                "Failed to attach {} tags. Reasons: {}",
                self.fails.len(),
                php_json(&Value::Object(reasons))
            )
        });
        if self.successes == 0 {
            return Reply::save_failed("Tag", "attachTagToObject", URL, json!(failed));
        }
        let mut message = self.message;
        if self.successes > 1 {
            message = format!(
                "Successfully attached {} tags to {} ({})",
                self.successes,
                target.kind(),
                target.id()
            );
            if !self.already.is_empty() {
                message.push_str(&format!(
                    ". {} already has the requested tag attached, no changes had to be made for \
                     tags {}.",
                    target.id(),
                    php_json(&json!(self.already))
                ));
            }
        }
        if let Some(failed) = failed {
            message.push('\n');
            message.push_str(&failed);
        }
        Reply::saved(&message, URL)
    }
}
