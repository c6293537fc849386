//! Enrichment of IoCs by misp-modules: which modules run for which IoC,
//! all of them at once so that a run costs the slowest module, each inside
//! its own timeout and the run's budget, their answers remembered for a
//! while, and a short verdict per module for rules and analysts.

use std::collections::BTreeMap;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::budget::Deadline;
use crate::cache::Cache;
use crate::ioc::{Ioc, IocType};
use crate::modules::{Answer, Module, ModulesClient};
use crate::secret::Secret;

/// When IoCs are enriched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Only IoCs that matched intel.
    Matched,
    /// Every extracted IoC.
    All,
}

/// Enrichment settings.
#[derive(Debug, Clone)]
pub struct EnrichSettings {
    /// The misp-modules server.
    pub url: String,
    /// Module names per IoC kind (`hash`, `ip`, `domain`, `url`).
    pub modules: BTreeMap<String, Vec<String>>,
    /// Each module's settings; sent to the module, never logged.
    pub config: BTreeMap<String, Secret>,
    /// Which IoCs.
    pub when: When,
    /// Enrich every IoC of alerts at or above this rule level.
    pub min_level: Option<u64>,
    /// Each module's timeout.
    pub timeout: Duration,
    /// How long answers are remembered.
    pub ttl: Duration,
    /// The share of detecting engines from which a hash is malicious.
    pub threshold: f64,
}

impl EnrichSettings {
    /// True when some module is configured.
    pub fn enabled(&self) -> bool {
        self.modules.values().any(|m| !m.is_empty())
    }

    /// Whether the IoC (matched or not) of an alert at `level` is
    /// enriched.
    pub fn wants(&self, matched: bool, level: u64) -> bool {
        matched || self.when == When::All || self.min_level.is_some_and(|min| level >= min)
    }
}

/// What one module said about one IoC.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The module.
    pub module: String,
    /// `ok`, `empty`, or a failure kind: `error`, `timeout`,
    /// `unknown_module`, `unreachable`.
    pub status: String,
    /// `malicious`, `suspicious`, `clean`, `known`, or `info`.
    pub verdict: Option<&'static str>,
    /// `52/71`, when the module reports engines.
    pub detection_ratio: Option<String>,
    /// `AS64500`, when the module reports one.
    pub asn: Option<String>,
    /// The AS's owner, the text a module gives beside the AS number.
    pub as_owner: Option<String>,
    /// A few values of the answer, for the analyst.
    pub summary: Vec<String>,
    /// The module's error message.
    pub error: Option<String>,
    /// The answer came from the cache.
    pub cached: bool,
    /// The module's raw results, for the incident event.
    pub results: Value,
}

/// The MISP attribute type an IoC is sent to modules as.
fn misp_type(ioc: &Ioc) -> &'static str {
    match ioc.kind {
        IocType::Ip if ioc.field.ends_with("srcip") || ioc.field.ends_with("src_ip") => "ip-src",
        IocType::Ip => "ip-dst",
        other => other.name(),
    }
}

/// One module to ask about one IoC.
struct Job<'a> {
    ioc: usize,
    module: Module,
    kind: &'a str,
    value: &'a str,
}

/// Enriches `iocs` (those selected by `wanted`), all modules at once.
/// Returns the verdicts per IoC index.
pub fn enrich(
    settings: &EnrichSettings,
    iocs: &[Ioc],
    wanted: &[bool],
    cache: &Cache,
    deadline: &Deadline,
) -> BTreeMap<usize, Vec<Verdict>> {
    // The HTTP client is built only when something must be asked: a run
    // whose answers are all remembered talks to no server.
    let client = std::sync::OnceLock::new();
    let connect =
        || client.get_or_init(|| ModulesClient::new(&settings.url).map_err(|e| e.to_string()));
    let known = match crate::modules::remembered(cache, &settings.url) {
        Some(known) => known,
        None => {
            let timeout = settings.timeout.min(deadline.remaining());
            let listed = connect()
                .as_ref()
                .map_err(|e| ("unreachable", e.clone()))
                .and_then(|c| c.modules(cache, timeout));
            match listed {
                Ok(known) => known,
                Err((kind, err)) => {
                    log::warn!("{err}; IoCs not enriched");
                    return failed_all(settings, iocs, wanted, kind, &err);
                }
            }
        }
    };
    let mut out: BTreeMap<usize, Vec<Verdict>> = BTreeMap::new();
    let mut jobs = Vec::new();
    for (index, ioc) in iocs.iter().enumerate().filter(|(i, _)| wanted[*i]) {
        for name in settings.modules.get(ioc.kind.kind()).into_iter().flatten() {
            let kind = misp_type(ioc);
            match known.iter().find(|m| &m.name == name) {
                Some(module) if accepts(module, kind, ioc.kind) => jobs.push(Job {
                    ioc: index,
                    module: module.clone(),
                    kind: pick_type(module, kind, ioc.kind),
                    value: &ioc.value,
                }),
                Some(_) => {}
                None => out.entry(index).or_default().push(failed(
                    name,
                    "unknown_module",
                    "misp-modules has no such module",
                )),
            }
        }
    }
    let (answered, asked) = remembered_answers(settings, &jobs, cache);
    let mut verdicts = answered;
    if !asked.is_empty() {
        match connect() {
            Ok(client) => verdicts.extend(run_jobs(client, settings, &asked, cache, deadline)),
            Err(err) => verdicts
                .extend(asked.iter().map(|j| (j.ioc, failed(&j.module.name, "unreachable", err)))),
        }
    }
    verdicts.sort_by_key(|(index, verdict)| (*index, job_order(&jobs, *index, &verdict.module)));
    for (index, verdict) in verdicts {
        out.entry(index).or_default().push(verdict);
    }
    out
}

/// Where a module stands in the configured order for an IoC.
fn job_order(jobs: &[Job], ioc: usize, module: &str) -> usize {
    jobs.iter().position(|j| j.ioc == ioc && j.module.name == module).unwrap_or(usize::MAX)
}

fn cache_key(settings: &EnrichSettings, job: &Job) -> String {
    format!("misp-modules|{}|{}|{}|{}", settings.url, job.module.name, job.kind, job.value)
}

/// The verdicts of jobs whose answers are remembered, and the jobs left
/// to ask.
fn remembered_answers<'a>(
    settings: &EnrichSettings,
    jobs: &'a [Job<'a>],
    cache: &Cache,
) -> (Vec<(usize, Verdict)>, Vec<&'a Job<'a>>) {
    let mut answered = Vec::new();
    let mut asked = Vec::new();
    for job in jobs {
        match cache.get(&cache_key(settings, job)) {
            Some(results) => {
                let mut verdict = verdict_of(&job.module.name, &results, settings.threshold);
                verdict.cached = true;
                answered.push((job.ioc, verdict));
            }
            None => asked.push(job),
        }
    }
    (answered, asked)
}

/// True when the module takes the IoC as one of its input types.
fn accepts(module: &Module, kind: &str, ioc: IocType) -> bool {
    module.input.iter().any(|t| t == kind || (ioc == IocType::Domain && t == "hostname"))
}

fn pick_type<'a>(module: &Module, kind: &'a str, ioc: IocType) -> &'a str {
    if module.input.iter().any(|t| t == kind) || ioc != IocType::Domain {
        kind
    } else {
        "hostname"
    }
}

/// Asks the modules, each job on a thread of its own. Each thread's
/// timeout is the module timeout, cut to what is left of the budget.
fn run_jobs(
    client: &ModulesClient,
    settings: &EnrichSettings,
    jobs: &[&Job],
    cache: &Cache,
    deadline: &Deadline,
) -> Vec<(usize, Verdict)> {
    thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|job| {
                scope.spawn(move || {
                    let config = settings.config.get(&job.module.name).map_or_else(
                        crate::modules::no_config,
                        |c| {
                            serde_json::from_str(c.expose())
                                .unwrap_or_else(|_| crate::modules::no_config())
                        },
                    );
                    let timeout =
                        settings.timeout.min(deadline.remaining()).max(Duration::from_millis(1));
                    match client.query(&job.module, job.kind, job.value, &config, timeout) {
                        Answer::Results(results) => {
                            cache.put(&cache_key(settings, job), &results, settings.ttl);
                            (job.ioc, verdict_of(&job.module.name, &results, settings.threshold))
                        }
                        Answer::Failed { kind, message } => {
                            (job.ioc, failed(&job.module.name, kind, &message))
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

fn failed_all(
    settings: &EnrichSettings,
    iocs: &[Ioc],
    wanted: &[bool],
    kind: &'static str,
    message: &str,
) -> BTreeMap<usize, Vec<Verdict>> {
    let mut out = BTreeMap::new();
    for (index, ioc) in iocs.iter().enumerate().filter(|(i, _)| wanted[*i]) {
        let names = settings.modules.get(ioc.kind.kind()).cloned().unwrap_or_default();
        let verdicts: Vec<Verdict> = names.iter().map(|n| failed(n, kind, message)).collect();
        if !verdicts.is_empty() {
            out.insert(index, verdicts);
        }
    }
    out
}

fn failed(module: &str, kind: &str, message: &str) -> Verdict {
    Verdict {
        module: module.to_string(),
        status: kind.to_string(),
        verdict: None,
        detection_ratio: None,
        asn: None,
        as_owner: None,
        summary: Vec::new(),
        error: Some(message.to_string()),
        cached: false,
        results: Value::Null,
    }
}

/// Reads a module's results: legacy `[{types, values}]` or misp_standard
/// `{Attribute, Object}`.
pub fn verdict_of(module: &str, results: &Value, threshold: f64) -> Verdict {
    let mut typed: Vec<(String, String)> = Vec::new();
    collect_values(results, &mut typed);
    let ratio = typed.iter().find(|(k, _)| k == "detection-ratio").map(|(_, v)| v.clone());
    let asn = typed.iter().find(|(k, _)| k == "AS" || k == "asn").map(|(_, v)| v.clone());
    let as_owner = asn.as_ref().and_then(|_| {
        let owner =
            typed.iter().find(|(k, _)| k == "text" || k == "description" || k == "as-owner");
        owner.map(|(_, v)| v.clone())
    });
    let summary: Vec<String> = typed
        .iter()
        .filter(|(k, _)| k != "detection-ratio")
        .map(|(k, v)| format!("{k}: {v}"))
        .take(5)
        .map(|s| s.chars().take(160).collect())
        .collect();
    let empty = typed.is_empty();
    let verdict = match ratio.as_deref().and_then(parse_ratio) {
        Some((0, _)) => Some("clean"),
        Some((hits, engines)) if hits as f64 / engines.max(1) as f64 >= threshold => {
            Some("malicious")
        }
        Some(_) => Some("suspicious"),
        None if empty => None,
        None if module == "malwarebazaar" => Some("malicious"),
        None if module == "hashlookup" => Some("known"),
        None => Some("info"),
    };
    Verdict {
        module: module.to_string(),
        status: if empty { "empty" } else { "ok" }.to_string(),
        verdict,
        detection_ratio: ratio,
        asn,
        as_owner,
        summary,
        error: None,
        cached: false,
        results: results.clone(),
    }
}

/// `(relation or type, value)` of every value in a module's results.
fn collect_values(results: &Value, out: &mut Vec<(String, String)>) {
    match results {
        Value::Array(items) => {
            for item in items {
                let kinds = item["types"].as_array().cloned().unwrap_or_default();
                let kind = kinds.first().and_then(Value::as_str).unwrap_or("text").to_string();
                for value in legacy_values(item) {
                    out.push((kind.clone(), value));
                }
            }
        }
        Value::Object(map) => {
            for object in map.get("Object").and_then(Value::as_array).into_iter().flatten() {
                for attribute in object["Attribute"].as_array().into_iter().flatten() {
                    let kind = attribute["object_relation"].as_str().or(attribute["type"].as_str());
                    if let (Some(kind), Some(value)) = (kind, attribute["value"].as_str()) {
                        out.push((kind.to_string(), value.to_string()));
                    }
                }
            }
        }
        _ => {}
    }
}

/// The `values` of one legacy result: a list, or (as some modules send
/// it) a single string.
pub fn legacy_values(item: &Value) -> Vec<String> {
    match &item["values"] {
        Value::Array(values) => values
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        Value::String(value) => vec![value.clone()],
        _ => Vec::new(),
    }
}

/// `52/71` as (52, 71).
fn parse_ratio(text: &str) -> Option<(u64, u64)> {
    let (hits, engines) = text.split_once('/')?;
    Some((hits.trim().parse().ok()?, engines.trim().parse().ok()?))
}

/// The order of verdicts, worst last.
const SEVERITY: [&str; 5] = ["info", "known", "clean", "suspicious", "malicious"];

/// The `enrichment` section of a datagram: the worst verdict, its
/// detection ratio, the AS, and a line per module.
pub fn section(verdicts: &[Verdict]) -> Value {
    let worst = verdicts
        .iter()
        .filter_map(|v| v.verdict)
        .max_by_key(|v| SEVERITY.iter().position(|s| s == v));
    let ratio =
        verdicts.iter().find(|v| v.verdict == worst).and_then(|v| v.detection_ratio.clone());
    let modules: Vec<Value> = verdicts
        .iter()
        .map(|v| {
            let mut entry = json!({"module": v.module, "status": v.status});
            if let Some(verdict) = v.verdict {
                entry["verdict"] = json!(verdict);
            }
            if let Some(ratio) = &v.detection_ratio {
                entry["detection_ratio"] = json!(ratio);
            }
            if !v.summary.is_empty() {
                entry["summary"] = json!(v.summary.join("; "));
            }
            if let Some(error) = &v.error {
                entry["error"] = json!(error);
            }
            entry
        })
        .collect();
    let mut out = json!({"modules": modules, "errors": verdicts.iter().filter(|v| v.error.is_some()).count()});
    if let Some(worst) = worst {
        out["verdict"] = json!(worst);
    }
    if let Some(ratio) = ratio {
        out["detection_ratio"] = json!(ratio);
    }
    if let Some(with_asn) = verdicts.iter().find(|v| v.asn.is_some()) {
        out["asn"] = json!(with_asn.asn);
        if let Some(owner) = &with_asn.as_owner {
            out["as_owner"] = json!(owner);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detection_ratio_over_the_threshold_is_malicious() {
        let results = json!({"Object": [{"name": "virustotal-report", "Attribute": [
            {"object_relation": "detection-ratio", "type": "text", "value": "52/71"},
            {"object_relation": "permalink", "type": "link", "value": "https://reputation.example.net/x"}
        ]}]});
        let verdict = verdict_of("virustotal_public", &results, 0.2);
        assert_eq!(verdict.verdict, Some("malicious"));
        assert_eq!(verdict.detection_ratio.as_deref(), Some("52/71"));
        assert_eq!(verdict.summary, vec!["permalink: https://reputation.example.net/x"]);
        assert_eq!(verdict_of("v", &json!({"Object": [{"Attribute": [{"object_relation": "detection-ratio", "value": "3/70"}]}]}), 0.2).verdict, Some("suspicious"));
    }

    #[test]
    fn legacy_results_give_the_as_and_a_summary() {
        let results = json!([{"types": ["AS"], "values": ["AS64500"]}, {"types": ["text"], "values": ["Example Transit Ltd, NL"]}]);
        let verdict = verdict_of("ipasn", &results, 0.2);
        assert_eq!(verdict.asn.as_deref(), Some("AS64500"));
        assert_eq!(verdict.as_owner.as_deref(), Some("Example Transit Ltd, NL"));
        assert_eq!(verdict.verdict, Some("info"));
        assert_eq!(verdict.summary, vec!["AS: AS64500", "text: Example Transit Ltd, NL"]);
        assert_eq!(verdict_of("ipasn", &json!([]), 0.2).status, "empty");
    }

    #[test]
    fn the_section_names_the_worst_verdict_and_counts_errors() {
        let good = verdict_of("asn", &json!([{"types": ["AS"], "values": ["AS64500"]}]), 0.2);
        let bad = verdict_of(
            "vt",
            &json!({"Object": [{"Attribute": [{"object_relation": "detection-ratio", "value": "52/71"}]}]}),
            0.2,
        );
        let broken = failed("dns", "error", "quota exceeded");
        let section = section(&[good, bad, broken]);
        assert_eq!(section["verdict"], json!("malicious"));
        assert_eq!(section["detection_ratio"], json!("52/71"));
        assert_eq!(section["asn"], json!("AS64500"));
        assert_eq!(section["errors"], json!(1));
        assert_eq!(
            section["modules"][2],
            json!({"module": "dns", "status": "error", "error": "quota exceeded"})
        );
    }
}
