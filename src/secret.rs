//! A wrapper for the MISP API key and other credentials that cannot be
//! printed by accident: its `Debug` and `Display` show `(redacted)`.

use std::borrow::Cow;
use std::fmt;

/// A credential. The only way to read it is [`Secret::expose`], which is
/// called where the value goes on the wire and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`; surrounding white space is removed.
    pub fn new(value: &str) -> Secret {
        Secret(value.trim().to_string())
    }

    /// The credential itself, for the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the credential is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every occurrence of the credential written
    /// `(redacted)`: for text that comes back from a server, which may
    /// quote the request it answers (a verbose error page, a debugging
    /// proxy).
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.0.is_empty() || !text.contains(&self.0) {
            return Cow::Borrowed(text);
        }
        Cow::Owned(text.replace(&self.0, "(redacted)"))
    }

    /// True when the credential has the shape of a MISP key: exactly 40
    /// letters and digits.
    pub fn looks_like_misp_key(&self) -> bool {
        self.0.len() == 40 && self.0.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let key = Secret::new("abcdefghijABCDEFGHIJ0123456789abcdefghij");
        assert_eq!(format!("{key} {key:?}"), "(redacted) (redacted)");
        assert!(key.looks_like_misp_key());
    }

    #[test]
    fn text_quoting_a_secret_is_redacted_and_other_text_left_alone() {
        let key = Secret::new("abcdefghijABCDEFGHIJ0123456789abcdefghij");
        let echoed = format!("refused: Authorization: {} twice {}", key.expose(), key.expose());
        assert_eq!(key.redact(&echoed), "refused: Authorization: (redacted) twice (redacted)");
        assert!(matches!(key.redact("nothing secret"), Cow::Borrowed(_)));
        assert_eq!(
            Secret::new("").redact("an empty key hides nothing"),
            "an empty key hides nothing"
        );
    }

    #[test]
    fn a_key_of_the_wrong_shape_is_recognised() {
        assert!(!Secret::new("short").looks_like_misp_key());
        assert!(!Secret::new(&"a".repeat(39).to_string().replace('a', "-")).looks_like_misp_key());
    }
}
