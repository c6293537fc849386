//! The misp-modules client: module discovery (`GET /modules`, remembered
//! between runs) and queries (`POST /query`), in the legacy form or the
//! misp_standard form as each module declares, always with `config`.
//!
//! misp-modules answers its errors with HTTP 200 and `{"error": ...}`; a
//! dead server, a timeout and an unknown module are errors of one module,
//! never of the run.

use std::io::Read;
use std::time::Duration;

use log::debug;
use reqwest::blocking::Client;
use serde_json::{json, Map, Value};

use crate::cache::Cache;
use crate::misp::{innermost, one_line};
use crate::secret::Secret;

/// How long the module list is remembered.
const LIST_TTL: Duration = Duration::from_secs(24 * 3600);

/// The largest module answer read.
const MAX_ANSWER_BYTES: u64 = 4 * 1024 * 1024;

/// What a module declares about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The module name, e.g. `hashlookup`.
    pub name: String,
    /// The MISP attribute types it takes.
    pub input: Vec<String>,
    /// True for the misp_standard format (an `attribute` in, MISP objects
    /// out); false for the legacy one.
    pub standard: bool,
}

/// The answer of one module to one value.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The module's `results`.
    Results(Value),
    /// The module, or the server, said no.
    Failed {
        /// `error`, `timeout`, `unknown_module` or `unreachable`.
        kind: &'static str,
        /// One line.
        message: String,
    },
}

/// A misp-modules server.
pub struct ModulesClient {
    http: Client,
    url: String,
}

impl ModulesClient {
    /// A client for the server at `url` (no trailing slash).
    pub fn new(url: &str) -> anyhow::Result<ModulesClient> {
        let http = Client::builder()
            .user_agent(concat!("wazuh-misp/", env!("CARGO_PKG_VERSION")))
            .tls_built_in_root_certs(url.starts_with("https:"))
            .build()?;
        Ok(ModulesClient { http, url: url.trim_end_matches('/').to_string() })
    }

    /// The server's expansion modules, asked now and remembered for a
    /// day. Fails with the kind of failure (`timeout`, `unreachable` or
    /// `error`) and one line naming the server.
    pub fn modules(
        &self,
        cache: &Cache,
        timeout: Duration,
    ) -> Result<Vec<Module>, (&'static str, String)> {
        let list = self
            .get_json("/modules", timeout)
            .map_err(|(kind, why)| (kind, format!("misp-modules at {}: {why}", self.url)))?;
        cache.put(&list_key(&self.url), &list, LIST_TTL);
        Ok(parse_modules(&list))
    }

    /// Asks `module` about `value` of MISP type `kind`. `config` holds
    /// the module's settings (API keys); it is sent, never logged.
    pub fn query(
        &self,
        module: &Module,
        kind: &str,
        value: &str,
        config: &Value,
        timeout: Duration,
    ) -> Answer {
        let mut body =
            json!({"module": module.name, "config": config, "timeout": server_timeout(timeout)});
        if module.standard {
            let uuid = uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("{kind}|{value}").as_bytes(),
            );
            body["attribute"] = json!({"type": kind, "value": value, "uuid": uuid.to_string()});
        } else {
            body[kind] = json!(value);
        }
        debug!("misp-modules query: {} {kind} {value}", module.name);
        let reply = self
            .http
            .post(format!("{}/query", self.url))
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .map_err(|e| failure(&e))
            .and_then(|r| read_json(r).map_err(|m| Answer::Failed { kind: "error", message: m }));
        match reply {
            Ok(reply) => answer_of(without_settings(reply, config)),
            Err(failed) => failed,
        }
    }

    /// GETs `path`: its JSON, or the kind of failure and why.
    fn get_json(&self, path: &str, timeout: Duration) -> Result<Value, (&'static str, String)> {
        let url = format!("{}{path}", self.url);
        let response = self.http.get(url).timeout(timeout).send().map_err(|e| {
            if e.is_timeout() {
                ("timeout", format!("no answer within {} ms", timeout.as_millis()))
            } else {
                ("unreachable", one_line(&innermost(&e)))
            }
        })?;
        read_json(response).map_err(|why| ("error", why))
    }
}

/// The modules of the server at `url`, when a run listed them within a
/// day.
pub fn remembered(cache: &Cache, url: &str) -> Option<Vec<Module>> {
    cache.get(&list_key(url.trim_end_matches('/'))).map(|list| parse_modules(&list))
}

fn list_key(url: &str) -> String {
    format!("misp-modules|list|{url}")
}

fn read_json(response: reqwest::blocking::Response) -> Result<Value, String> {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    response
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the answer: {e}"))?;
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("answer is not JSON: {e}"))
}

/// A module's answer to `POST /query`: its `results`, or its `error`
/// (a "not found" error read as no results). Any JSON value is read; one
/// with neither member is a failure.
pub fn answer_of(reply: Value) -> Answer {
    if let Some(error) = reply.get("error") {
        let message = error.as_str().map_or_else(|| error.to_string(), str::to_string);
        // Lookup modules (hashlookup, virustotal) answer "not found" as an
        // error: it is an answer, not a failure.
        let lower = message.to_ascii_lowercase();
        if lower.contains("non existing") || lower.contains("not found") {
            return Answer::Results(Value::Array(Vec::new()));
        }
        let kind = if message == "Timeout." { "timeout" } else { "error" };
        return Answer::Failed { kind, message: one_line(&message) };
    }
    match reply.get("results") {
        Some(results) => Answer::Results(results.clone()),
        None => Answer::Failed { kind: "error", message: "answer without results".into() },
    }
}

/// The `timeout` asked of the server: whole seconds (it truncates), one
/// less than ours so that its "Timeout." arrives before our own gives up.
fn server_timeout(ours: Duration) -> u64 {
    ours.as_secs().saturating_sub(1).max(1)
}

fn failure(err: &reqwest::Error) -> Answer {
    if err.is_timeout() {
        return Answer::Failed {
            kind: "timeout",
            message: "no answer within the module timeout".into(),
        };
    }
    Answer::Failed { kind: "unreachable", message: one_line(&innermost(err)) }
}

/// `reply` with every setting of the module's `config` written
/// `(redacted)` in its error: a module that quotes its API key back in
/// an error must not put it into a datagram.
fn without_settings(mut reply: Value, config: &Value) -> Value {
    let Some(Value::String(error)) = reply.get_mut("error") else { return reply };
    let settings = config.as_object().into_iter().flat_map(|c| c.values());
    for setting in settings.filter_map(Value::as_str).filter(|s| !s.is_empty()) {
        *error = Secret::new(setting).redact(error).into_owned();
    }
    reply
}

/// The expansion modules of a `/modules` list.
pub fn parse_modules(list: &Value) -> Vec<Module> {
    let entries = list.as_array().map(Vec::as_slice).unwrap_or_default();
    entries
        .iter()
        // `type` is the module's folder; hover modules live among the
        // expansion ones and answer the same queries.
        .filter(|m| {
            let folder = m.get("type").and_then(Value::as_str);
            folder.is_none_or(|t| t == "expansion" || t == "hover")
        })
        .filter_map(|m| {
            let attributes = m.get("mispattributes").unwrap_or(&Value::Null);
            let input = attributes.get("input").and_then(Value::as_array)?;
            Some(Module {
                name: m.get("name")?.as_str()?.to_string(),
                input: input.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                standard: attributes.get("format").and_then(Value::as_str) == Some("misp_standard"),
            })
        })
        .collect()
}

/// An empty config object, for modules that need no settings.
pub fn no_config() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_list_gives_inputs_and_format() {
        let list = json!([
            {"name": "hashlookup", "type": "expansion", "mispattributes": {"input": ["md5", "sha1"], "format": "misp_standard"}},
            {"name": "dns", "type": "expansion", "mispattributes": {"input": ["hostname", "domain"], "output": ["ip-src"]}},
            {"name": "cef_export", "type": "export", "mispattributes": {"input": ["md5"]}}
        ]);
        let modules = parse_modules(&list);
        assert_eq!(modules.len(), 2);
        assert!(modules[0].standard);
        assert_eq!(modules[1].input, vec!["hostname", "domain"]);
        assert!(!modules[1].standard);
    }

    #[test]
    fn errors_in_http_200_answers_are_failures_of_their_kind() {
        let err = answer_of(json!({"error": "Timeout."}));
        assert_eq!(err, Answer::Failed { kind: "timeout", message: "Timeout.".into() });
        let raised = answer_of(
            json!({"error": "Something went wrong, look in the server logs for details"}),
        );
        assert!(matches!(raised, Answer::Failed { kind: "error", .. }));
        assert_eq!(answer_of(json!({"error": "Non existing hash"})), Answer::Results(json!([])));
        assert_eq!(server_timeout(Duration::from_secs(3)), 2);
        assert_eq!(server_timeout(Duration::from_millis(900)), 1);
        assert_eq!(answer_of(json!({"results": []})), Answer::Results(json!([])));
    }

    #[test]
    fn a_module_error_quoting_its_api_key_is_redacted() {
        let config = json!({"apikey": "vt-key-0123456789", "retries": 2});
        let quoted = json!({"error": "key vt-key-0123456789 refused upstream"});
        assert_eq!(
            answer_of(without_settings(quoted, &config)),
            Answer::Failed { kind: "error", message: "key (redacted) refused upstream".into() }
        );
        let results = json!({"results": []});
        assert_eq!(without_settings(results.clone(), &config), results);
    }
}
