//! The ways MISP answers, and how each is encoded.
//!
//! MISP answers through two paths. Data and save results go through its
//! REST response component, which encodes JSON with slashes and Unicode
//! left as they are. Exceptions go through CakePHP's error renderer,
//! which HTML-escapes the message and URL and encodes with PHP's default
//! flags, so slashes come out as `\/`.

use serde_json::{json, Value};

use crate::http::Response;
use crate::options::Numbers;
use crate::render;

/// A reply before encoding.
#[derive(Debug)]
pub enum Reply {
    /// Data through the REST response component.
    Data { status: u16, body: Value, headers: Vec<(String, String)> },
    /// A CakePHP exception; the URL is the request's.
    Exception { status: u16, message: String, headers: Vec<(String, String)> },
    /// Bytes already encoded.
    Raw(Response),
}

impl Reply {
    /// A 200 data reply.
    pub fn ok(body: Value) -> Reply {
        Reply::Data { status: 200, body, headers: Vec::new() }
    }

    /// An exception with `status` and `message`.
    pub fn exception(status: u16, message: &str) -> Reply {
        Reply::Exception { status, message: message.to_owned(), headers: Vec::new() }
    }

    /// MISP's `saveFailResponse`: 403 with `saved: false` and `errors`.
    pub fn save_failed(model: &str, action: &str, url: &str, errors: Value) -> Reply {
        let message = format!("Could not {action} {model}");
        let body = json!({
            "saved": false,
            "name": message,
            "message": message,
            "url": url,
            "errors": errors,
        });
        Reply::Data { status: 403, body, headers: Vec::new() }
    }

    /// MISP's `saveSuccessResponse`: 200 with `saved: true`.
    pub fn saved(message: &str, url: &str) -> Reply {
        let body = json!({
            "saved": true,
            "success": true,
            "name": message,
            "message": message,
            "url": url,
        });
        Reply::ok(body)
    }

    /// MISP's `throwException`: an error body sent as data, with `url`
    /// naming the controller and action.
    pub fn thrown(status: u16, message: &str, url: &str) -> Reply {
        let body = json!({"name": message, "message": message, "url": url});
        Reply::Data { status, body, headers: Vec::new() }
    }

    /// Adds MISP's `id` member to a save result.
    pub fn with_id(mut self, id: Value) -> Reply {
        if let Reply::Data { body, .. } = &mut self {
            body["id"] = id;
        }
        self
    }

    /// Adds a header to the reply.
    pub fn with_header(mut self, name: &str, value: String) -> Reply {
        match &mut self {
            Reply::Data { headers, .. } | Reply::Exception { headers, .. } => {
                headers.push((name.to_owned(), value));
            }
            Reply::Raw(response) => response.headers.push((name.to_owned(), value)),
        }
        self
    }

    /// Encodes the reply for a request to `target`.
    pub fn encode(self, numbers: Numbers, target: &str) -> Response {
        match self {
            Reply::Data { status, mut body, headers } => {
                render::apply_numbers(numbers, &mut body);
                let bytes = serde_json::to_vec(&body).expect("JSON values always encode");
                with_headers(Response::json(status, bytes), headers)
            }
            Reply::Exception { status, message, headers } => {
                with_headers(Response::json(status, exception_body(&message, target)), headers)
            }
            Reply::Raw(response) => response,
        }
    }
}

fn with_headers(mut response: Response, headers: Vec<(String, String)>) -> Response {
    response.headers.extend(headers);
    response
}

/// The body CakePHP's error renderer makes for `message` at `url`.
pub fn exception_body(message: &str, url: &str) -> String {
    let message = escape_html(message);
    let body = json!({"name": message, "message": message, "url": escape_html(url)});
    php_json(&body)
}

/// JSON as PHP's `json_encode` writes it without flags: slashes escaped.
pub fn php_json(value: &Value) -> String {
    value.to_string().replace('/', "\\/")
}

/// CakePHP's `h()`: HTML special characters, quotes included.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exception_body_escapes_slashes_and_quotes_like_php() {
        let body = exception_body("You don't", "/events/view/1");
        assert_eq!(
            body,
            r#"{"message":"You don&#039;t","name":"You don&#039;t","url":"\/events\/view\/1"}"#
        );
    }
}
