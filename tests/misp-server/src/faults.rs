//! Fault injection: rules that make the server misbehave on chosen
//! paths (hang, stall, reset, cut or swell its replies, or answer with an
//! error or a proxy's page) and the byte-level writers behind them.

use std::io::{self, Write};
use std::time::Duration;

use crate::http::Response;
use crate::shutdown::Shutdown;

/// One way to misbehave. `Hang`, `Reset`, `Status`, `Html` and `Body`
/// answer in MISP's place, so the request changes nothing; the others
/// shape the reply of a request that MISP handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Read the request and never answer; the socket stays open until
    /// the server is dropped.
    Hang,
    /// Answer normally after this delay.
    Delay(Duration),
    /// Send the head at once, then the real body at this rate.
    SlowBody { bytes_per_second: u32 },
    /// Close the connection right after reading the request, sending no
    /// byte.
    Reset,
    /// Send the head with the full `Content-Length`, then half the body,
    /// then close.
    CloseMidBody,
    /// Answer with this status and MISP's own error body for it.
    Status(u16),
    /// Answer with a reverse proxy's HTML error page and this status.
    Html(u16),
    /// The real JSON reply cut in half, its `Content-Length` the cut
    /// length, so that the reply is complete but the JSON is not.
    Truncated,
    /// Any status, type and body.
    Body { status: u16, content_type: String, body: Vec<u8> },
    /// restSearch answers with this many matching attributes.
    HugeAttributes(usize),
    /// A 200 JSON reply padded to this many bytes and streamed.
    HugeBody(usize),
    /// Answer normally: a rule of this fault lets its `times` requests
    /// through untouched, so that the rules after it strike later ones
    /// (the third page of a sync, say).
    Pass,
}

/// A fault and the requests it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Requests whose path starts with this; `""` matches every request.
    pub path_prefix: String,
    /// What to do to those requests.
    pub fault: Fault,
    /// How many requests it applies to; `None` for all of them.
    pub times: Option<usize>,
}

/// The rules in force, consulted in the order they were pushed.
#[derive(Debug, Default)]
pub struct FaultBook {
    rules: Vec<FaultRule>,
}

impl FaultBook {
    /// Adds a rule after the existing ones.
    pub fn push(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The fault of the first rule matching `path` that has uses left,
    /// using one of them up.
    pub fn take(&mut self, path: &str) -> Option<Fault> {
        let position = self.rules.iter().position(|rule| {
            path.starts_with(&rule.path_prefix) && rule.times.is_none_or(|left| left > 0)
        })?;
        let rule = &mut self.rules[position];
        if let Some(left) = rule.times.as_mut() {
            *left -= 1;
        }
        Some(rule.fault.clone())
    }
}

/// A reverse proxy's error page.
pub fn html_page(status: u16) -> Response {
    let title = format!("{status} {}", crate::http::reason(status));
    let page = format!(
        "<!DOCTYPE html>\n<html>\n<head><title>{title}</title></head>\n<body>\n\
         <h1>{title}</h1>\n<p>The proxy server could not handle the request.</p>\n\
         <hr>\n<address>reverse proxy at 127.0.0.1</address>\n</body>\n</html>\n"
    );
    Response::new(status, "text/html; charset=iso-8859-1", page.into_bytes())
}

/// `response` with its body cut in half and its length saying so.
pub fn truncated(mut response: Response) -> Response {
    let half = response.body.len() / 2;
    response.body.truncate(half);
    response
}

/// Writes the head and half the body; the caller then closes.
pub fn write_half(out: &mut impl Write, response: &Response) -> io::Result<()> {
    out.write_all(&response.head(response.body.len(), false))?;
    out.write_all(&response.body[..response.body.len() / 2])?;
    out.flush()
}

/// Writes the head, then the body at `bytes_per_second` in tenths of a
/// second, stopping early when the server stops.
pub fn write_slow(
    out: &mut impl Write,
    response: &Response,
    bytes_per_second: u32,
    keep_alive: bool,
    shutdown: &Shutdown,
) -> io::Result<()> {
    out.write_all(&response.head(response.body.len(), keep_alive))?;
    out.flush()?;
    let step = (bytes_per_second as usize / 10).max(1);
    let pause = Duration::from_secs_f64(step as f64 / f64::from(bytes_per_second.max(1)));
    for chunk in response.body.chunks(step) {
        if !shutdown.sleep(pause) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "server stopping"));
        }
        out.write_all(chunk)?;
        out.flush()?;
    }
    Ok(())
}

/// Writes `response` padded with spaces to `size` bytes: the padding
/// goes inside a `"padding"` member of the top-level JSON object and is
/// streamed, never held in memory.
pub fn write_huge(
    out: &mut impl Write,
    response: &Response,
    size: usize,
    keep_alive: bool,
) -> io::Result<()> {
    let body = &response.body;
    let trimmed = trim_end(body);
    let (prefix, suffix): (&[u8], &[u8]) = match trimmed.split_last() {
        Some((b'}', head)) if head.len() > 1 => (head, b",\"padding\":\""),
        _ => (b"{\"response\": {\"Attribute\": []}", b",\"padding\":\""),
    };
    let fixed = prefix.len() + suffix.len() + 2;
    let pad = size.saturating_sub(fixed);
    out.write_all(&response.head(fixed + pad, keep_alive))?;
    out.write_all(prefix)?;
    out.write_all(suffix)?;
    let block = [b' '; 64 * 1024];
    let mut left = pad;
    while left > 0 {
        let n = left.min(block.len());
        out.write_all(&block[..n])?;
        left -= n;
    }
    out.write_all(b"\"}")?;
    out.flush()
}

fn trim_end(body: &[u8]) -> &[u8] {
    let end = body.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |p| p + 1);
    &body[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str, fault: Fault, times: Option<usize>) -> FaultRule {
        FaultRule { path_prefix: prefix.to_owned(), fault, times }
    }

    #[test]
    fn rules_apply_in_order_and_wear_out() {
        let mut book = FaultBook::default();
        book.push(rule("/attributes", Fault::Reset, Some(1)));
        book.push(rule("", Fault::Status(500), None));
        assert_eq!(book.take("/attributes/restSearch"), Some(Fault::Reset));
        assert_eq!(book.take("/attributes/restSearch"), Some(Fault::Status(500)));
        assert_eq!(book.take("/events/view/1"), Some(Fault::Status(500)));
        book.clear();
        assert_eq!(book.take("/events/view/1"), None);
    }

    #[test]
    fn a_huge_body_is_valid_json_of_the_asked_size() {
        let response = Response::json(200, &b"{\"response\": {\"Attribute\": []}}\n"[..]);
        let mut wire = Vec::new();
        write_huge(&mut wire, &response, 1000, true).unwrap();
        let split = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let body = &wire[split..];
        assert_eq!(body.len(), 1000);
        let parsed: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(parsed["response"]["Attribute"], serde_json::json!([]));
    }
}
