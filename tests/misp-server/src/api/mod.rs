//! MISP's REST API: routing a request to its controller action through
//! the same gates MISP puts first (API detection, the `Authorization`
//! key, role permissions, the search rate limit, JSON decoding).
//!
//! The gates run in MISP's order, so a request failing two of them gets
//! the error MISP would give: a bad key beats a malformed body.

mod attributes;
mod events;
mod objects;
mod reply;
mod sightings;
mod tags;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Instant;

use serde_json::{json, Value};

use crate::http::{Request, Response};
use crate::options::ServerOptions;
use crate::store::Store;

pub use crate::templates::{Template, Templates};
pub use reply::Reply;

/// The message MISP gives for a missing or wrong key.
pub const AUTH_FAILED: &str = "Authentication failed. Please make sure you pass the API key of \
                               an API enabled user along in the Authorization header.";

/// The message of MISP's role check.
const NO_PERMISSION: &str = "You do not have permission to use this functionality.";

/// How long MISP's rate-limit window lasts, in seconds.
const RATE_WINDOW_SECS: u64 = 900;

/// Controllers MISP has: requests to any other are 404 before any check.
const CONTROLLERS: &[&str] = &[
    "access_logs",
    "allowedlists",
    "analyst_data",
    "attributes",
    "audit_logs",
    "auth_keys",
    "benchmarks",
    "bookmarks",
    "cerebrates",
    "collections",
    "correlation_exclusions",
    "correlations",
    "cryptographic_keys",
    "dashboards",
    "decaying_model",
    "event_blocklists",
    "event_delegations",
    "event_graph",
    "event_reports",
    "events",
    "favourite_tags",
    "feeds",
    "galaxies",
    "galaxy_clusters",
    "jobs",
    "logs",
    "modules",
    "news",
    "noticelists",
    "object_references",
    "object_templates",
    "objects",
    "org_blocklists",
    "organisations",
    "pages",
    "posts",
    "regexp",
    "roles",
    "servers",
    "shadow_attributes",
    "sharing_groups",
    "sighting_blocklists",
    "sightingdb",
    "sightings",
    "tag_collections",
    "tags",
    "tasks",
    "taxonomies",
    "templates",
    "threads",
    "user_settings",
    "users",
    "warninglists",
    "workflows",
];

/// Actions that need MISP's `perm_add`.
const NEEDS_PERM_ADD: &[(&str, &str)] = &[
    ("events", "add"),
    ("events", "edit"),
    ("attributes", "add"),
    ("attributes", "edit"),
    ("objects", "add"),
];

/// Controllers whose records MISP also serves as REST resources:
/// `/events/{id}` and `/attributes/{id}`, the action chosen by method.
const RESOURCES: &[&str] = &["events", "attributes"];

/// The server's MISP: options, data and the rate-limit window.
pub struct Api {
    /// The options the server was started with. The permissions and
    /// templates in them are only the starting values: read the live
    /// ones with [`Api::can_create_events`], [`Api::can_create_tags`]
    /// and [`Api::template`].
    pub options: ServerOptions,
    /// The server's own URL, for `Location` headers.
    pub base_url: String,
    /// The intel; see [`Api::lock_store`].
    pub store: Mutex<Store>,
    can_create_events: AtomicBool,
    can_create_tags: AtomicBool,
    templates: RwLock<Templates>,
    rate: Mutex<RateWindow>,
}

#[derive(Debug, Default)]
struct RateWindow {
    started: Option<Instant>,
    used: u32,
}

/// One request on its way to an action.
pub struct Call<'a> {
    /// The server's MISP.
    pub api: &'a Api,
    /// The request being answered.
    pub request: &'a Request,
    /// The path segments after the action.
    pub args: Vec<String>,
    /// The decoded JSON body, when there was one.
    pub data: Option<Value>,
    /// Set by the `HugeAttributes` fault.
    pub huge_attributes: Option<usize>,
}

impl Call<'_> {
    /// The store, locked.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.api.lock_store()
    }

    /// The first path argument.
    pub fn arg(&self) -> Option<&str> {
        self.args.first().map(String::as_str)
    }

    /// The search filters: the JSON body of a POST, or CakePHP's named
    /// parameters (`/value:1.2.3.4/type:ip-dst`) of other requests.
    pub fn filters(&self) -> Option<Value> {
        if self.request.method == "POST" {
            return self.data.clone().filter(|d| !crate::fields::is_empty(Some(d)));
        }
        let named: serde_json::Map<String, Value> = self
            .args
            .iter()
            .filter_map(|arg| arg.split_once(':'))
            .map(|(key, value)| (key.to_owned(), json!(value)))
            .collect();
        (!named.is_empty()).then_some(Value::Object(named))
    }
}

struct Route {
    controller: String,
    /// Lower-cased, for matching.
    action: String,
    /// As in the URL, for error bodies.
    action_as_sent: String,
    args: Vec<String>,
    json_extension: bool,
}

impl Api {
    /// A MISP with no intel yet.
    pub fn new(options: ServerOptions, base_url: String) -> Api {
        let templates = Templates::new(options.templates.as_deref());
        Api {
            can_create_events: AtomicBool::new(options.can_create_events),
            can_create_tags: AtomicBool::new(options.can_create_tags),
            options,
            base_url,
            store: Mutex::new(Store::new()),
            templates: RwLock::new(templates),
            rate: Mutex::new(RateWindow::default()),
        }
    }

    /// Whether the user may add and edit events, attributes and objects
    /// (MISP's `perm_add`).
    pub fn can_create_events(&self) -> bool {
        self.can_create_events.load(Ordering::SeqCst)
    }

    /// Grants or withdraws `perm_add` for the requests that follow.
    pub fn set_can_create_events(&self, allowed: bool) {
        self.can_create_events.store(allowed, Ordering::SeqCst);
    }

    /// Whether the user may create tags that do not exist yet (MISP's
    /// `perm_tag_editor`).
    pub fn can_create_tags(&self) -> bool {
        self.can_create_tags.load(Ordering::SeqCst)
    }

    /// Grants or withdraws `perm_tag_editor` for the requests that follow.
    pub fn set_can_create_tags(&self, allowed: bool) {
        self.can_create_tags.store(allowed, Ordering::SeqCst);
    }

    /// The object template with `uuid`, if the server knows it.
    pub fn template(&self, uuid: &str) -> Option<Template> {
        let templates = self.templates.read().unwrap_or_else(|e| e.into_inner());
        templates.find(uuid).cloned()
    }

    /// Replaces the known templates: those named by `uuids`, or the
    /// long-standing ones for `None`, as [`ServerOptions::templates`].
    pub fn set_templates(&self, uuids: Option<&[String]>) {
        let mut templates = self.templates.write().unwrap_or_else(|e| e.into_inner());
        *templates = Templates::new(uuids);
    }

    /// The store, locked; a panic in another thread does not poison it
    /// for the tests.
    pub fn lock_store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers `request` as MISP would.
    pub fn handle(&self, request: &Request, huge_attributes: Option<usize>) -> Response {
        let reply = self.reply(request, huge_attributes);
        reply.encode(self.options.numbers, &request.target)
    }

    /// The reply that `fault` `Status(status)` stands for: MISP's own
    /// error for that status.
    pub fn status_reply(&self, status: u16, request: &Request) -> Response {
        let reply = match status {
            403 => Reply::exception(403, AUTH_FAILED),
            429 => {
                let limit = self.options.rate_limit.unwrap_or(0);
                self.rate_exceeded(&action_url(&request.path), limit, 0, RATE_WINDOW_SECS)
            }
            500..=599 => Reply::exception(status, "An Internal Error Has Occurred."),
            _ => Reply::exception(status, crate::http::reason(status)),
        };
        reply.encode(self.options.numbers, &request.target)
    }

    fn reply(&self, request: &Request, huge_attributes: Option<usize>) -> Reply {
        let Some(route) = route(&request.method, &request.path) else {
            return Reply::exception(404, "Not Found");
        };
        if !is_rest(request, &route) {
            return self.login_redirect();
        }
        if request.header("authorization") != Some(self.options.api_key.as_str()) {
            return Reply::exception(403, AUTH_FAILED);
        }
        let permitted = self.can_create_events()
            || !NEEDS_PERM_ADD.contains(&(route.controller.as_str(), route.action.as_str()));
        if !permitted {
            return Reply::exception(403, NO_PERMISSION);
        }
        let rate_headers = match self.rate_check(&route) {
            Ok(headers) => headers,
            Err(reply) => return reply,
        };
        let data = match decode_body(request) {
            Ok(data) => data,
            Err(reply) => return reply,
        };
        let call = Call { api: self, request, args: route.args.clone(), data, huge_attributes };
        let mut reply = dispatch(&route, &call);
        for (name, value) in rate_headers {
            reply = reply.with_header(name, value);
        }
        reply
    }

    fn login_redirect(&self) -> Reply {
        let location = format!("{}/users/login", self.base_url);
        let response = Response::new(302, "text/html; charset=UTF-8", Vec::new());
        Reply::Raw(response.with_header("Location", location))
    }

    /// MISP's search rate limit: only restSearch counts, in a window of
    /// fifteen minutes from the first counted request.
    fn rate_check(&self, route: &Route) -> Result<Vec<(&'static str, String)>, Reply> {
        let Some(limit) = self.options.rate_limit else {
            return Ok(Vec::new());
        };
        if route.action != "restsearch"
            || !matches!(route.controller.as_str(), "attributes" | "events")
        {
            return Ok(Vec::new());
        }
        if limit == 0 {
            return Err(Reply::exception(405, "API searches are not allowed for this user role."));
        }
        let mut window = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = window.started.map_or(0, |t| t.elapsed().as_secs());
        if window.started.is_none() || elapsed >= RATE_WINDOW_SECS {
            *window = RateWindow { started: Some(Instant::now()), used: 0 };
        }
        let reset = RATE_WINDOW_SECS - window.started.map_or(0, |t| t.elapsed().as_secs());
        if window.used >= limit {
            let url = format!("/{}/{}", route.controller, route.action_as_sent);
            return Err(self.rate_exceeded(&url, limit, limit - window.used, reset));
        }
        window.used += 1;
        Ok(rate_headers(limit, limit - window.used, reset))
    }

    fn rate_exceeded(&self, url: &str, limit: u32, remaining: u32, reset: u64) -> Reply {
        let mut reply = Reply::thrown(429, "Rate limit exceeded.", url);
        for (name, value) in rate_headers(limit, remaining, reset) {
            reply = reply.with_header(name, value);
        }
        reply
    }
}

fn rate_headers(limit: u32, remaining: u32, reset: u64) -> Vec<(&'static str, String)> {
    vec![
        ("X-Rate-Limit-Limit", limit.to_string()),
        ("X-Rate-Limit-Remaining", remaining.to_string()),
        ("X-Rate-Limit-Reset", reset.to_string()),
    ]
}

/// Splits `/controller/action/args...` as CakePHP routes it; `None` when
/// the controller does not exist. MISP's resource routes come first:
/// `/events/{id or uuid}` is the view for `GET` and the edit for `POST`
/// and `PUT`, and likewise for attributes.
fn route(method: &str, path: &str) -> Option<Route> {
    let mut segments: Vec<String> =
        path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    let mut json_extension = false;
    if let Some(last) = segments.last_mut() {
        if let Some(stem) = last.strip_suffix(".json") {
            *last = stem.to_owned();
            json_extension = true;
        }
    }
    if let Some(route) = resource_route(method, &segments, json_extension) {
        return Some(route);
    }
    let controller = segments.first()?.to_ascii_lowercase();
    if !CONTROLLERS.contains(&controller.as_str()) {
        return None;
    }
    let action_as_sent = segments.get(1).cloned().unwrap_or_else(|| "index".to_owned());
    let action = action_as_sent.to_ascii_lowercase();
    let args = segments.into_iter().skip(2).collect();
    Some(Route { controller, action, action_as_sent, args, json_extension })
}

/// The action CakePHP's resource map gives `method` on `/{controller}`
/// or `/{controller}/{id or uuid}`; its templates are case-sensitive.
fn resource_route(method: &str, segments: &[String], json_extension: bool) -> Option<Route> {
    let (controller, id) = match segments {
        [controller] => (controller, None),
        [controller, id] if is_resource_id(id) => (controller, Some(id)),
        _ => return None,
    };
    if !RESOURCES.contains(&controller.as_str()) {
        return None;
    }
    let action = match (method, id.is_some()) {
        ("GET", false) => "index",
        ("POST", false) => "add",
        ("GET", true) => "view",
        ("PUT" | "POST", true) => "edit",
        ("DELETE", true) => "delete",
        _ => return None,
    };
    Some(Route {
        controller: controller.clone(),
        action: action.to_owned(),
        action_as_sent: action.to_owned(),
        args: id.into_iter().cloned().collect(),
        json_extension,
    })
}

/// CakePHP's `Router::ID` or `Router::UUID`.
fn is_resource_id(segment: &str) -> bool {
    let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    let uuid = segment.len() == 36
        && segment.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    digits || uuid
}

/// `/controller/action` of a path, as MISP's own error bodies name it.
pub fn action_url(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).take(2).collect();
    format!("/{}", segments.join("/"))
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether MISP treats the request as an API call: the exact JSON
/// `Accept` value (or JSON as the preferred type), a `.json` extension,
/// or one of the actions that are always API calls.
fn is_rest(request: &Request, route: &Route) -> bool {
    let accept = request.header("accept").unwrap_or("");
    let preferred = accept.split(',').next().unwrap_or("").split(';').next().unwrap_or("");
    let always = route.action == "restsearch"
        && matches!(route.controller.as_str(), "attributes" | "events" | "objects");
    accept == "application/json"
        || preferred.trim() == "application/json"
        || route.json_extension
        || always
}

/// The JSON body, decoded only when sent as JSON, as CakePHP does.
fn decode_body(request: &Request) -> Result<Option<Value>, Reply> {
    let content_type = request.header("content-type").unwrap_or("");
    let is_json = content_type.split(';').next().unwrap_or("").trim() == "application/json";
    if !is_json || request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Null) => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(_) => Err(Reply::exception(
            405,
            "Invalid JSON input. Make sure that the JSON input is a correctly formatted JSON \
             string. This request has been blocked to avoid an unfiltered request.",
        )),
    }
}

fn dispatch(route: &Route, call: &Call) -> Reply {
    match (route.controller.as_str(), route.action.as_str()) {
        ("servers", "getversion") => version(),
        ("events", "view") => events::view(call),
        ("events", "add") => events::add(call),
        ("events", "edit") => events::edit(call),
        ("events", "restsearch") => events::rest_search(call),
        ("attributes", "add") => attributes::add(call),
        ("attributes", "edit") => attributes::edit(call),
        ("attributes", "restsearch") => attributes::rest_search(call),
        ("objects", "add") => objects::add(call),
        ("sightings", "add") => sightings::add(call),
        ("sightings", "restsearch") => sightings::rest_search(call),
        ("tags", "attachtagtoobject") => tags::attach(call),
        ("warninglists", "checkvalue") => check_warninglists(call),
        _ => Reply::exception(404, "Not Found"),
    }
}

/// `GET /servers/getVersion`.
fn version() -> Reply {
    Reply::ok(json!({
        "version": "2.5.1",
        "pymisp_recommended_version": "2.5.1",
        "perm_sync": false,
        "perm_sighting": true,
        "perm_galaxy_editor": false,
        "perm_analyst_data": true,
        "uuid": "-",
        "request_encoding": ["gzip", "br"],
        "filter_sightings": true,
    }))
}

/// `POST /warninglists/checkValue`: hits per value, or `[]` for none.
fn check_warninglists(call: &Call) -> Reply {
    let Some(data) = &call.data else {
        return Reply::exception(404, "No valid data received.");
    };
    let data = data.get("Warninglist").unwrap_or(data);
    let values: Vec<String> = crate::fields::list(Some(data))
        .iter()
        .filter_map(|v| crate::fields::text(Some(v)))
        .collect();
    let store = call.store();
    let mut hits = serde_json::Map::new();
    for value in values.iter().map(|v| v.trim()) {
        for list in &store.warninglists {
            let Some(matched) = list.hit(value) else { continue };
            let entry = json!({"id": list.id, "name": list.name, "matched": matched});
            let slot = hits.entry(value.to_owned()).or_insert_with(|| json!([]));
            slot.as_array_mut().expect("hit lists are arrays").push(entry);
        }
    }
    if hits.is_empty() {
        return Reply::ok(json!([]));
    }
    Reply::ok(Value::Object(hits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_ignore_case_and_a_json_extension() {
        let search = route("POST", "/Attributes/restSearch.json").unwrap();
        assert_eq!(
            (search.controller.as_str(), search.action.as_str()),
            ("attributes", "restsearch")
        );
        assert_eq!(search.action_as_sent, "restSearch");
        assert!(search.json_extension);
        assert_eq!(route("GET", "/events/view/5").unwrap().args, vec!["5".to_owned()]);
        assert!(route("GET", "/nonsense/x").is_none());
    }

    #[test]
    fn an_event_resource_is_viewed_by_get_and_edited_by_post_or_put() {
        let action = |method: &str, path: &str| route(method, path).map(|r| r.action);
        assert_eq!(action("GET", "/events/12").as_deref(), Some("view"));
        assert_eq!(action("POST", "/events/12.json").as_deref(), Some("edit"));
        let uuid = "/events/33333333-3333-4333-8333-33333333333A";
        assert_eq!(action("PUT", uuid).as_deref(), Some("edit"));
        assert_eq!(action("POST", "/events").as_deref(), Some("add"));
        assert_eq!(route("PUT", "/events/12").unwrap().args, vec!["12".to_owned()]);
        assert_eq!(action("POST", "/events/twelve").as_deref(), Some("twelve"));
        assert_eq!(action("POST", "/Events/12").as_deref(), Some("12"));
    }

    #[test]
    fn error_bodies_name_the_controller_and_action() {
        assert_eq!(action_url("/attributes/restSearch/extra"), "/attributes/restSearch");
    }
}
