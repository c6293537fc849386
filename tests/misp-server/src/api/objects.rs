//! `/objects/add/{event}/{template uuid}`.

use serde_json::{json, Value};

use super::attributes::unpublish;
use super::{Call, Reply};
use crate::intake::{self, Rules};
use crate::store::{Store, LOCAL_ORG_ID};
use crate::templates::Template;
use crate::{fields, ids, render};

/// `POST /objects/add/{event}/{template uuid}` with `{"Object": {...}}`.
pub fn add(call: &Call) -> Reply {
    let template_ref = call.args.get(1).cloned().unwrap_or_default();
    let template = match url_template(call, &template_ref) {
        Ok(template) => template,
        Err(reply) => return reply,
    };
    let mut store = call.store();
    let event_id = match modifiable_event(&store, call.arg().unwrap_or("")) {
        Ok(event_id) => event_id,
        Err(reply) => return reply,
    };
    let (object, attributes) = split_payload(call.data.as_ref());
    let form = Form { event_id, template_ref: &template_ref };
    if template.is_none() && !template_ref.is_empty() {
        return form.error("No valid template found to edit the object.");
    }
    let create_tags = call.api.can_create_tags();
    let rules = Rules { unique: true, check_values: true, create_tags };
    if let Err(message) = intake::check_object_attributes(&store, event_id, &attributes, rules) {
        return form.error(&message);
    }
    let template = template.or_else(|| payload_template(call, &object));
    if let Err(message) = conformity(template.as_ref(), &object, &attributes) {
        return Reply::save_failed("Object", "add", "/objects/add", json!(message));
    }
    let fields = intake::object_fields(&object, event_id, template.as_ref());
    match intake::capture_object(&mut store, fields, &attributes, rules) {
        Ok(object_id) => {
            unpublish(&mut store, event_id);
            Reply::ok(saved_object(&store, object_id))
        }
        Err(message) => form.error(&message),
    }
}

/// The template named in the URL: `None` when the URL names none or
/// names it other than by uuid; 404 for a uuid the server does not know.
fn url_template(call: &Call, template_ref: &str) -> Result<Option<Template>, Reply> {
    if !ids::is_uuid(template_ref) {
        return Ok(None);
    }
    match call.api.template(template_ref) {
        Some(template) => Ok(Some(template)),
        None => Err(Reply::exception(404, "Invalid template.")),
    }
}

/// The template an object names itself by `template_uuid`.
fn payload_template(call: &Call, object: &Value) -> Option<Template> {
    let uuid = fields::text(object.get("template_uuid"))?;
    call.api.template(&uuid)
}

fn modifiable_event(store: &Store, reference: &str) -> Result<u64, Reply> {
    let Some(event) = store.event_by_ref(reference) else {
        return Err(Reply::exception(404, "Invalid event."));
    };
    if event.orgc_id != LOCAL_ORG_ID {
        return Err(Reply::exception(403, "You do not have permission to do that."));
    }
    Ok(event.id)
}

/// The error shape of MISP's object form, addressed by event and
/// template as in the URL.
struct Form<'a> {
    event_id: u64,
    template_ref: &'a str,
}

impl Form<'_> {
    fn error(&self, message: &str) -> Reply {
        let id = format!("{}/{}", self.event_id, self.template_ref);
        let url = format!("/objects/add/{id}");
        Reply::save_failed("object", "add", &url, json!(message)).with_id(json!(id))
    }
}

/// The template's rules, or without a template, the fields MISP needs
/// to describe the object itself.
fn conformity(
    template: Option<&Template>,
    object: &Value,
    attributes: &[Value],
) -> Result<(), String> {
    let Some(template) = template else {
        let needed = ["name", "meta-category", "description", "template_version", "template_uuid"];
        return match needed.iter().find(|key| object.get(**key).is_none_or(Value::is_null)) {
            Some(key) => Err(format!(
                "Object could not be saved.\ntemplate: No valid template found and object \
                 lacking template information. ({key})"
            )),
            None => Ok(()),
        };
    };
    let relations: Vec<String> = attributes
        .iter()
        .map(|a| fields::text(a.get("object_relation")).unwrap_or_default())
        .collect();
    let relations: Vec<&str> = relations.iter().map(String::as_str).collect();
    template.check(&relations)
}

/// The object and its attributes from `{"Object": {..., "Attribute"}}`,
/// `{"Object": {...}, "Attribute": [...]}` or the bare object.
fn split_payload(data: Option<&Value>) -> (Value, Vec<Value>) {
    let empty = json!({});
    let data = data.unwrap_or(&empty);
    let data = data.get("request").unwrap_or(data);
    let object = fields::unwrap(data, "Object").clone();
    let attributes = match data.get("Attribute") {
        Some(list) if data.get("Object").is_some() => fields::list(Some(list)),
        _ => fields::list(object.get("Attribute")),
    };
    (object, attributes)
}

/// `{"Object": {..., "Attribute": [rows]}}` as MISP returns a new object.
fn saved_object(store: &Store, object_id: u64) -> Value {
    let object = store.object(object_id).expect("just stored");
    let event = store.event(object.event_id).expect("object of a live event");
    let rows: Vec<Value> = store
        .event_attributes(event)
        .into_iter()
        .filter(|a| a.object_id == object_id)
        .map(|a| Value::Object(render::attribute_row(a)))
        .collect();
    let mut row = render::object_columns(object);
    row.insert("Attribute".to_owned(), Value::Array(rows));
    json!({ "Object": row })
}
