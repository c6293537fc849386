//! The MISP REST client: one attribute search per alert, inside the run's
//! time budget.
//!
//! Every failure ends as a [`MispError`] with one of a few kinds, so that
//! the answer to Wazuh names it and a rule can fire on it.

pub mod reply;

use std::fmt;
use std::io::Read;
use std::time::Duration;

use log::debug;
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde_json::{json, Value};

use crate::budget::Deadline;
use crate::ioc::{Ioc, IocType};
use crate::secret::Secret;
use reply::{Attribute, ErrorBody, SearchReply};

/// The largest reply body read; a larger one is a `bad_reply`.
pub const MAX_REPLY_BYTES: u64 = 16 * 1024 * 1024;

/// The first pause between two attempts; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What went wrong talking to MISP, as rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The key was refused (403, 401).
    AuthFailed,
    /// The key's user may not do this (403 "You do not have permission").
    Forbidden,
    /// The event's uuid is on MISP's event blocklist (403).
    Blocklisted,
    /// MISP refused to save the data (403 with `saved: false` and
    /// per-field errors).
    Refused,
    /// MISP's rate limit was hit (429).
    RateLimited,
    /// No complete reply within the time budget.
    Timeout,
    /// No connection: refused, reset, DNS failure.
    Unreachable,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// MISP failed (5xx).
    ServerError,
    /// MISP does not know the path or object (404).
    NotFound,
    /// MISP refused the request (400, 405 and other 4xx).
    BadRequest,
    /// The reply is not what MISP sends: HTML, cut JSON, too large.
    BadReply,
    /// The alert lacks what recording needs (a valid timestamp).
    BadAlert,
}

impl ErrorKind {
    /// The name used in datagrams and logs.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::AuthFailed => "auth_failed",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Blocklisted => "blocklisted",
            ErrorKind::Refused => "refused",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Tls => "tls",
            ErrorKind::ServerError => "server_error",
            ErrorKind::NotFound => "not_found",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::BadReply => "bad_reply",
            ErrorKind::BadAlert => "bad_alert",
        }
    }

    /// True for failures that another attempt may cure.
    fn retryable(self) -> bool {
        matches!(self, ErrorKind::Unreachable | ErrorKind::RateLimited | ErrorKind::ServerError)
    }
}

/// A failed MISP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MispError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// The HTTP status, when MISP answered at all.
    pub status: Option<u16>,
    /// A one-line description without secrets.
    pub message: String,
    /// How long MISP asked us to wait (429 `Retry-After`).
    retry_after: Option<Duration>,
}

impl MispError {
    /// A failure of `kind` described by `message`.
    pub fn new(kind: ErrorKind, status: Option<u16>, message: impl Into<String>) -> MispError {
        MispError { kind, status, message: one_line(&message.into()), retry_after: None }
    }
}

impl fmt::Display for MispError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} (HTTP {status}): {}", self.kind.name(), self.message),
            None => write!(f, "{}: {}", self.kind.name(), self.message),
        }
    }
}

impl std::error::Error for MispError {}

/// How to reach a MISP server.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Base URL without a trailing slash.
    pub url: String,
    /// The API key.
    pub key: Secret,
    /// Check the server certificate.
    pub verify_tls: bool,
    /// Extra trusted certificates (PEM), for a self-signed MISP.
    pub ca_pem: Option<Vec<u8>>,
    /// Further attempts after a connection failure, 429 or 5xx.
    pub retries: u32,
}

/// Filters of the attribute search.
#[derive(Debug, Clone)]
pub struct SearchFilters {
    /// Only attributes with this `to_ids` flag; `None` for any.
    pub to_ids: Option<bool>,
    /// Drop attributes that sit on an enabled MISP warninglist.
    pub enforce_warninglist: bool,
    /// Only attributes of published events.
    pub published_only: bool,
    /// Only attributes carrying one of these tags (event or attribute).
    pub tags: Vec<String>,
    /// The most attributes MISP returns for one search.
    pub limit: usize,
}

impl SearchFilters {
    /// A short text that differs when the filters differ, so that answers
    /// remembered under other filters are not reused.
    pub fn fingerprint(&self) -> String {
        let text = format!(
            "{:?}|{}|{}|{}|{}",
            self.to_ids,
            self.enforce_warninglist,
            self.published_only,
            self.tags.join(","),
            self.limit
        );
        crate::feed::md5_hex(&text)
    }
}

impl Default for SearchFilters {
    fn default() -> SearchFilters {
        SearchFilters {
            to_ids: Some(true),
            enforce_warninglist: true,
            published_only: false,
            tags: Vec::new(),
            limit: 100,
        }
    }
}

/// A MISP client for one run.
pub struct MispClient {
    /// Built on the first request: a run whose answers are all remembered
    /// never pays for it (it starts a thread and a TLS configuration).
    http: std::cell::OnceCell<Client>,
    connection: Connection,
    requests: std::cell::Cell<usize>,
}

impl MispClient {
    /// Builds the client. Fails when the CA file content is not PEM.
    pub fn new(connection: Connection) -> anyhow::Result<MispClient> {
        if let Some(pem) = &connection.ca_pem {
            reqwest::Certificate::from_pem_bundle(pem)?;
        }
        let http = std::cell::OnceCell::new();
        Ok(MispClient { http, connection, requests: std::cell::Cell::new(0) })
    }

    /// The HTTP client, built on first use.
    fn http(&self) -> Result<&Client, MispError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let built = build_http(&self.connection).map_err(|e| {
            MispError::new(ErrorKind::Tls, None, format!("building the HTTP client: {e}"))
        })?;
        Ok(self.http.get_or_init(|| built))
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.connection.url
    }

    /// How many HTTP requests this client has sent.
    pub fn requests(&self) -> usize {
        self.requests.get()
    }

    /// Searches the attributes matching any of `iocs` in one request.
    pub fn search(
        &self,
        iocs: &[Ioc],
        filters: &SearchFilters,
        deadline: &Deadline,
    ) -> Result<Vec<Attribute>, MispError> {
        let body = search_body(iocs, filters);
        let reply = self.post("/attributes/restSearch", &body, deadline)?;
        let parsed: SearchReply = serde_json::from_slice(&reply).map_err(|e| {
            let what = if e.is_eof() { "truncated JSON" } else { "unexpected JSON" };
            MispError::new(ErrorKind::BadReply, Some(200), format!("{what} in search reply: {e}"))
        })?;
        Ok(parsed.into_attributes())
    }

    /// POSTs `body` to `path`, retrying connection failures, 429 and 5xx
    /// while the deadline allows. Returns the body of a 2xx reply.
    pub fn post(
        &self,
        path: &str,
        body: &Value,
        deadline: &Deadline,
    ) -> Result<Vec<u8>, MispError> {
        self.request(Method::POST, path, Some(body), deadline)
    }

    /// GETs `path`, with the retries of [`MispClient::post`].
    pub fn get(&self, path: &str, deadline: &Deadline) -> Result<Vec<u8>, MispError> {
        self.request(Method::GET, path, None, deadline)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        deadline: &Deadline,
    ) -> Result<Vec<u8>, MispError> {
        if !is_plain_path(path) {
            let why = format!("request path {path:?} refused: not plain words, ids and uuids");
            return Err(MispError::new(ErrorKind::BadRequest, None, why));
        }
        let url = format!("{}{}", self.connection.url, path);
        let text = body.map(Value::to_string);
        let mut pause = FIRST_BACKOFF;
        for attempt in 0.. {
            debug!("MISP request {attempt}: {method} {url} {}", text.as_deref().unwrap_or(""));
            let mut err = match self.attempt(&method, &url, text.as_deref(), deadline) {
                Ok(reply) => return Ok(reply),
                Err(err) => err,
            };
            err.message = self.connection.key.redact(&err.message).into_owned();
            debug!("MISP request {attempt} failed: {err}");
            let wait = err.retry_after.unwrap_or(pause);
            let can_retry = err.kind.retryable() && attempt < self.connection.retries;
            if !can_retry || wait >= deadline.remaining() {
                return Err(err);
            }
            std::thread::sleep(wait);
            pause = (pause * 2).min(MAX_BACKOFF);
        }
        unreachable!("the retry loop returns")
    }

    fn attempt(
        &self,
        method: &Method,
        url: &str,
        body: Option<&str>,
        deadline: &Deadline,
    ) -> Result<Vec<u8>, MispError> {
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            return Err(MispError::new(
                ErrorKind::Timeout,
                None,
                "time budget spent before the request",
            ));
        }
        self.requests.set(self.requests.get() + 1);
        let mut builder = self.http()?.request(method.clone(), url);
        if let Some(body) = body {
            builder = builder.body(body.to_string());
        }
        let response = builder
            .timeout(remaining)
            .header(AUTHORIZATION, self.connection.key.expose())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .send()
            .map_err(|e| transport_error(&e, deadline))?;
        read_reply(response, deadline, &self.connection.key)
    }
}

/// True for a path of MISP's API as this program builds them: segments of
/// letters, digits and dashes (`/events/view/12`, `/objects/add/<uuid>/
/// <uuid>`). Parts of paths come from replies (event ids, a module's
/// object template); none may climb the path (`..`, `%2e`), add a query or
/// carry anything the URL parser would rewrite.
fn is_plain_path(path: &str) -> bool {
    let mut segments = path.split('/');
    segments.next() == Some("")
        && segments
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// The HTTP client for `connection`.
fn build_http(connection: &Connection) -> reqwest::Result<Client> {
    let https = connection.url.starts_with("https:");
    let mut builder = Client::builder()
        .user_agent(concat!("wazuh-misp/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        // Plain HTTP needs no trust store; skipping it saves start-up.
        .tls_built_in_root_certs(https)
        .danger_accept_invalid_certs(!connection.verify_tls);
    if let Some(pem) = &connection.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build()
}

/// The restSearch body for `iocs`: every value in one list, restricted to
/// the attribute types those values can match.
pub fn search_body(iocs: &[Ioc], filters: &SearchFilters) -> Value {
    let values: Vec<&str> = iocs.iter().map(|i| i.value.as_str()).collect();
    let mut types: Vec<&str> = Vec::new();
    for kind in IocType::ALL.iter().filter(|k| iocs.iter().any(|i| i.kind == **k)) {
        for t in kind.misp_types() {
            if !types.contains(t) {
                types.push(t);
            }
        }
    }
    let mut body = json!({
        "returnFormat": "json",
        "value": values,
        "type": types,
        "enforceWarninglist": filters.enforce_warninglist,
        "includeEventTags": true,
        "includeContext": true,
        "limit": filters.limit,
        "page": 1,
    });
    if let Some(to_ids) = filters.to_ids {
        body["to_ids"] = json!(to_ids);
    }
    if filters.published_only {
        body["published"] = json!(true);
    }
    if !filters.tags.is_empty() {
        body["tags"] = json!(filters.tags);
    }
    body
}

/// Reads a reply: the body of a 2xx, or the error it stands for. A reply
/// that says it is larger than [`MAX_REPLY_BYTES`] is refused unread; one
/// that does not say is read up to that size. The key is taken out of the
/// body before anything reads it.
fn read_reply(response: Response, deadline: &Deadline, key: &Secret) -> Result<Vec<u8>, MispError> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let too_large = || {
        let limit = MAX_REPLY_BYTES / (1024 * 1024);
        MispError::new(ErrorKind::BadReply, Some(status), format!("reply larger than {limit} MiB"))
    };
    if let Some(announced) = response.content_length().filter(|n| *n > MAX_REPLY_BYTES) {
        debug!("MISP reply: HTTP {status}, {announced} bytes announced");
        return Err(too_large());
    }
    let mut body = Vec::new();
    response
        .take(MAX_REPLY_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| body_error(&e, status, deadline))?;
    let body = without_key(body, key);
    debug!("MISP reply: HTTP {status}, {} bytes: {}", body.len(), preview(&body));
    if body.len() as u64 > MAX_REPLY_BYTES {
        return Err(too_large());
    }
    if (200..300).contains(&status) {
        if is_html(&headers, &body) {
            let msg = "reply is HTML, not JSON (a proxy or login page?)";
            return Err(MispError::new(ErrorKind::BadReply, Some(status), msg));
        }
        return Ok(body);
    }
    Err(status_error(status, &headers, &body))
}

/// `body` with the key written `(redacted)` wherever the server quoted
/// it, so that it reaches no log line, datagram or remembered answer.
fn without_key(body: Vec<u8>, key: &Secret) -> Vec<u8> {
    match key.redact(&String::from_utf8_lossy(&body)) {
        std::borrow::Cow::Owned(redacted) => redacted.into_bytes(),
        std::borrow::Cow::Borrowed(_) => body,
    }
}

fn is_html(headers: &HeaderMap, body: &[u8]) -> bool {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    content_type.contains("html") || body.trim_ascii_start().starts_with(b"<")
}

/// The error for a non-2xx reply, with MISP's own message (and its
/// per-field errors, when it sends them) when the body is MISP's JSON.
/// Any body is read: one that is not MISP's JSON leaves a message naming
/// what came instead.
pub fn status_error(status: u16, headers: &HeaderMap, body: &[u8]) -> MispError {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    let said = parsed.as_ref().map(ErrorBody::describe).filter(|s| !s.is_empty());
    let kind = match status {
        401 => ErrorKind::AuthFailed,
        403 => forbidden_kind(parsed.as_ref()),
        404 => ErrorKind::NotFound,
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::ServerError,
        300..=399 => ErrorKind::BadReply,
        _ => ErrorKind::BadRequest,
    };
    let message = match (said, status) {
        (Some(said), _) => said,
        (None, 300..=399) => {
            let to = headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("?");
            format!("redirected to {to} (is misp_url the API's address?)")
        }
        (None, _) if is_html(headers, body) => "HTML error page instead of MISP's JSON".to_string(),
        (None, _) => "reply without MISP's error message".to_string(),
    };
    let mut err = MispError::new(kind, Some(status), message);
    err.retry_after = headers
        .get(RETRY_AFTER)
        .or_else(|| headers.get("x-rate-limit-reset"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    err
}

/// MISP answers 403 for a bad key, a missing permission, a blocklisted
/// event and data it refuses to save; the body tells which.
fn forbidden_kind(body: Option<&ErrorBody>) -> ErrorKind {
    let Some(body) = body else { return ErrorKind::AuthFailed };
    let text = body.describe().to_ascii_lowercase();
    if body.saved == Some(false) || body.errors.is_some() {
        ErrorKind::Refused
    } else if text.contains("blocklist") {
        ErrorKind::Blocklisted
    } else if text.is_empty() || text.starts_with("authentication failed") {
        ErrorKind::AuthFailed
    } else {
        ErrorKind::Forbidden
    }
}

/// The error for a request that got no complete reply.
fn transport_error(err: &reqwest::Error, deadline: &Deadline) -> MispError {
    let detail = innermost(err);
    if err.is_timeout() || deadline.expired() {
        let ms = deadline.elapsed().as_millis();
        return MispError::new(ErrorKind::Timeout, None, format!("no reply after {ms} ms"));
    }
    if is_tls_failure(err) {
        // rustls names an untrusted certificate by the bare variant name.
        let hint = if detail.ends_with("UnknownIssuer") {
            " (a self-signed or private CA: name it in ca_file)"
        } else {
            ""
        };
        return MispError::new(ErrorKind::Tls, None, format!("{detail}{hint}"));
    }
    let what = if err.is_connect() { "cannot connect" } else { "connection lost" };
    MispError::new(ErrorKind::Unreachable, None, format!("{what}: {detail}"))
}

/// The error for a reply whose body could not be read to the end.
fn body_error(err: &std::io::Error, status: u16, deadline: &Deadline) -> MispError {
    if deadline.expired()
        || err.kind() == std::io::ErrorKind::TimedOut
        || format!("{err}").contains("timed out")
    {
        let ms = deadline.elapsed().as_millis();
        return MispError::new(
            ErrorKind::Timeout,
            Some(status),
            format!("reply not complete after {ms} ms"),
        );
    }
    MispError::new(
        ErrorKind::Unreachable,
        Some(status),
        format!("connection lost while reading the reply: {}", innermost(err)),
    )
}

fn is_tls_failure(err: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return true;
        }
        source = e.source();
    }
    false
}

/// The message of the innermost error of the chain, which names the cause
/// (`Connection refused (os error 111)`), never the URL.
pub(crate) fn innermost(err: &dyn std::error::Error) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// The start of a reply body for the debug log.
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(2000)]);
    one_line(&text)
}

/// `text` on one line, at most 300 characters.
pub(crate) fn one_line(text: &str) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let flat = flat.trim();
    if flat.chars().count() > 300 {
        format!("{}...", flat.chars().take(300).collect::<String>())
    } else {
        flat.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ioc(kind: IocType, value: &str) -> Ioc {
        Ioc { kind, value: value.into(), field: "f".into(), file: None }
    }

    #[test]
    fn the_search_body_lists_every_value_and_only_their_types() {
        let iocs = [ioc(IocType::Ip, "198.51.100.1"), ioc(IocType::Sha256, &"a".repeat(64))];
        let body = search_body(&iocs, &SearchFilters::default());
        assert_eq!(body["value"], json!(["198.51.100.1", "a".repeat(64)]));
        assert_eq!(
            body["type"],
            json!([
                "sha256",
                "filename|sha256",
                "ip-src",
                "ip-dst",
                "ip-src|port",
                "ip-dst|port",
                "domain|ip"
            ])
        );
        assert_eq!(body["to_ids"], json!(true));
        assert_eq!(body["enforceWarninglist"], json!(true));
        assert_eq!(body.get("published"), None);
    }

    #[test]
    fn statuses_map_to_error_kinds_with_misp_s_message() {
        let headers = HeaderMap::new();
        let auth = br#"{"name":"Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.","message":"Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.","url":"/attributes/restSearch"}"#;
        let err = status_error(403, &headers, auth);
        assert_eq!(err.kind, ErrorKind::AuthFailed);
        assert!(err.message.starts_with("Authentication failed."));
        assert_eq!(status_error(429, &headers, b"{}").kind, ErrorKind::RateLimited);
        assert_eq!(
            status_error(502, &headers, b"<html>").message,
            "HTML error page instead of MISP's JSON"
        );
        assert_eq!(status_error(405, &headers, b"").kind, ErrorKind::BadRequest);
    }

    #[test]
    fn rate_limit_headers_set_the_pause_before_the_next_attempt() {
        let mut headers = HeaderMap::new();
        headers.insert("x-rate-limit-reset", "2".parse().unwrap());
        assert_eq!(status_error(429, &headers, b"{}").retry_after, Some(Duration::from_secs(2)));
    }

    #[test]
    fn only_plain_api_paths_are_requested() {
        for path in [
            "/attributes/restSearch",
            "/events/view/12",
            "/objects/add/8f3c2b71-4d5e-4a9b-9c1d-2e7f60a4b315/688c46fb-5edb-40a3-8273-1af7923e2215",
        ] {
            assert!(is_plain_path(path), "{path}");
        }
        for path in [
            "/events/view/../../admin/users",
            "/events/view/%2e%2e",
            "/events/view/1?limit=1",
            "/events/view/1;x",
            "/events/view/",
            "events/view/1",
            "/events//view",
            "/events/view/1\n",
        ] {
            assert!(!is_plain_path(path), "{path}");
        }
    }

    #[test]
    fn messages_are_one_line_and_bounded() {
        assert_eq!(one_line("a\nb\r\nc"), "a b  c");
        assert_eq!(one_line(&"x".repeat(400)).len(), 303);
    }
}
