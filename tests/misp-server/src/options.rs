//! How a test server is set up: its API key, how it renders numbers,
//! whether it speaks TLS and with which certificate, and what the user
//! behind the key may do.

/// The API key every test server accepts unless told otherwise: 40
/// letters and digits, like a real MISP key.
pub const TEST_API_KEY: &str = "MispTestServerKey00000000000000000000abc";

/// How ids, timestamps, levels and counts appear in replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numbers {
    /// `"id": "12"`: MISP on a database layer that stringifies, and what
    /// MISP's documentation shows.
    #[default]
    Strings,
    /// `"id": 12`: MISP 2.5 on PHP 8.1 and later.
    Integers,
}

/// The certificate a TLS server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Valid for 127.0.0.1 and localhost, signed by the test CA.
    Valid,
    /// Signed by the test CA but for `misp.invalid` only.
    WrongHost,
    /// Signed by the test CA for 127.0.0.1, but expired.
    Expired,
    /// A self-signed certificate for 127.0.0.1; it is its own CA.
    SelfSigned,
}

/// Everything [`crate::MispServer::start`] needs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The only key the server accepts in `Authorization`.
    pub api_key: String,
    /// How numbers are rendered.
    pub numbers: Numbers,
    /// `None` for plain HTTP.
    pub tls: Option<TlsMode>,
    /// Whether the user may add events, attributes and objects (MISP's
    /// `perm_add`); without it those endpoints answer 403.
    pub can_create_events: bool,
    /// Whether the user may create tags that do not exist yet (MISP's
    /// `perm_tag_editor`); without it unknown tags are dropped.
    pub can_create_tags: bool,
    /// The object template uuids the server knows; `None` means the
    /// long-standing `file`, `network-connection`, `domain-ip`, `ip-port`
    /// and `authentication-failure-report` templates.
    pub templates: Option<Vec<String>>,
    /// How many restSearch requests the server answers before it answers
    /// 429, over its whole lifetime. MISP limits only restSearch.
    pub rate_limit: Option<u32>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            api_key: TEST_API_KEY.to_owned(),
            numbers: Numbers::Strings,
            tls: None,
            can_create_events: true,
            can_create_tags: true,
            templates: None,
            rate_limit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_key_looks_like_a_misp_key() {
        assert_eq!(TEST_API_KEY.len(), 40);
        assert!(TEST_API_KEY.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
