//! HTTP/1.1 by hand: reading requests (with `Content-Length` or chunked
//! bodies, and `Expect: 100-continue`) and writing responses, so that
//! faults can cut a reply at any byte.

use std::io::{self, BufRead, BufReader, Read, Write};

/// The longest request head accepted, request line and headers together.
const MAX_HEAD: usize = 64 * 1024;
/// The largest request body accepted.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// One request as read off the wire.
#[derive(Debug, Clone)]
pub struct Request {
    /// As sent, e.g. `POST`.
    pub method: String,
    /// The request target as sent: path and query.
    pub target: String,
    /// The path without the query.
    pub path: String,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Whether the client wants the connection closed after the reply.
    pub close: bool,
}

impl Request {
    /// The first header called `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection between requests.
    Closed,
    /// The bytes were not an HTTP/1.x request; the text says how.
    Malformed(&'static str),
    /// The connection failed or timed out.
    Io,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> ReadError {
        ReadError::Io
    }
}

/// Reads one request from `conn`, answering `100 Continue` when the
/// client waits for it before sending the body.
pub fn read_request<S: Read + Write>(conn: &mut BufReader<S>) -> Result<Request, ReadError> {
    let mut budget = MAX_HEAD;
    let line = read_line(conn, &mut budget)?.ok_or(ReadError::Closed)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed("bad request line"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(ReadError::Malformed("bad request line"));
    }
    let headers = read_headers(conn, &mut budget)?;
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        path: target.split('?').next().unwrap_or(target).to_owned(),
        close: wants_close(version, &headers),
        headers,
        body: Vec::new(),
    };
    if request.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        conn.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        conn.get_mut().flush()?;
    }
    request.body = read_body(conn, &request)?;
    Ok(request)
}

fn wants_close(version: &str, headers: &[(String, String)]) -> bool {
    let connection = headers.iter().find(|(k, _)| k == "connection").map(|(_, v)| v.as_str());
    match connection {
        Some(v) if v.eq_ignore_ascii_case("close") => true,
        Some(v) if v.eq_ignore_ascii_case("keep-alive") => false,
        _ => version == "HTTP/1.0",
    }
}

/// Reads a CRLF-terminated line; `None` on a clean end of stream.
fn read_line<R: BufRead>(conn: &mut R, budget: &mut usize) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let read = conn.by_ref().take(*budget as u64 + 1).read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if read > *budget || !line.ends_with(b"\n") {
        return Err(ReadError::Malformed("request head too long or cut"));
    }
    *budget -= read;
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line).map(Some).map_err(|_| ReadError::Malformed("head is not UTF-8"))
}

fn read_headers<R: BufRead>(
    conn: &mut R,
    budget: &mut usize,
) -> Result<Vec<(String, String)>, ReadError> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(conn, budget)?.ok_or(ReadError::Malformed("head cut short"))?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (name, value) = line.split_once(':').ok_or(ReadError::Malformed("bad header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
}

fn read_body<R: BufRead>(conn: &mut R, request: &Request) -> Result<Vec<u8>, ReadError> {
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.split(',').any(|coding| coding.trim().eq_ignore_ascii_case("chunked")));
    if chunked {
        return read_chunked(conn);
    }
    let length = match request.header("content-length") {
        Some(text) => text.parse::<usize>().map_err(|_| ReadError::Malformed("bad length"))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err(ReadError::Malformed("body too large"));
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body)?;
    Ok(body)
}

fn read_chunked<R: BufRead>(conn: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_HEAD;
        let line = read_line(conn, &mut budget)?.ok_or(ReadError::Malformed("chunk cut"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| ReadError::Malformed("bad chunk"))?;
        if size == 0 {
            skip_trailers(conn)?;
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(ReadError::Malformed("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        conn.read_exact(&mut crlf)?;
    }
}

fn skip_trailers<R: BufRead>(conn: &mut R) -> Result<(), ReadError> {
    let mut budget = MAX_HEAD;
    while let Some(line) = read_line(conn, &mut budget)? {
        if line.is_empty() {
            break;
        }
    }
    Ok(())
}

/// A reply before it goes on the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers besides `Date`, `Server`, `Content-Length` and `Connection`.
    pub headers: Vec<(String, String)>,
    /// The whole body, sent with its length.
    pub body: Vec<u8>,
}

impl Response {
    /// A reply with `content_type` and `body`.
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body,
        }
    }

    /// A JSON reply, typed as CakePHP types it.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status, "application/json; charset=UTF-8", body.into())
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The status line and headers announcing `length` body bytes.
    pub fn head(&self, length: usize, keep_alive: bool) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        head.push_str(&format!("Date: {}\r\n", crate::clock::http_date(crate::clock::now())));
        head.push_str("Server: Apache\r\n");
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {length}\r\n"));
        let connection = if keep_alive { "keep-alive" } else { "close" };
        head.push_str(&format!("Connection: {connection}\r\n\r\n"));
        head.into_bytes()
    }
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A byte source that also swallows writes, like a socket would.
    struct Wire(Cursor<Vec<u8>>, Vec<u8>);

    impl Read for Wire {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for Wire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn parse(bytes: &[u8]) -> Result<Request, ReadError> {
        let mut conn = BufReader::new(Wire(Cursor::new(bytes.to_vec()), Vec::new()));
        read_request(&mut conn)
    }

    #[test]
    fn a_content_length_body_is_read_whole() {
        let request = parse(
            b"POST /attributes/restSearch?x=1 HTTP/1.1\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(request.path, "/attributes/restSearch");
        assert_eq!(request.target, "/attributes/restSearch?x=1");
        assert_eq!(request.header("x-a"), Some("b"));
        assert_eq!(request.body, b"{}");
        assert!(!request.close);
    }

    #[test]
    fn a_chunked_body_is_reassembled() {
        let wire = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                     3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse(wire).unwrap().body, b"{\"a\":1}");
    }

    #[test]
    fn a_closed_connection_is_not_an_error() {
        assert!(matches!(parse(b""), Err(ReadError::Closed)));
        assert!(matches!(parse(b"GARBAGE\r\n\r\n"), Err(ReadError::Malformed(_))));
    }
}
