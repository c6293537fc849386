//! Identifiers the server makes up: uuids for new events, attributes,
//! objects and sightings, and colours for tags created on the fly.

use uuid::Uuid;

/// The namespace of uuids derived from names, fixed so that they repeat
/// from run to run.
const NAMESPACE: Uuid = Uuid::from_u128(0x6d69_7370_2d74_6573_742d_7365_7276_6572);

/// A fresh random uuid in MISP's lower-case form.
pub fn random_uuid() -> String {
    Uuid::new_v4().to_string()
}

/// A uuid derived from `name`: the same name always gives the same uuid.
pub fn stable_uuid(name: &str) -> String {
    Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

/// Whether `text` is a uuid as MISP's `Validation::uuid` accepts it.
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36 && Uuid::parse_str(text).is_ok()
}

/// A colour for a new tag, derived from its name as `#rrggbb`.
pub fn colour_for(name: &str) -> String {
    let hash = Uuid::new_v5(&NAMESPACE, name.as_bytes()).as_u128();
    format!("#{:06x}", hash as u32 & 0x00ff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_always_gives_the_same_uuid() {
        assert_eq!(stable_uuid("x"), stable_uuid("x"));
        assert_ne!(stable_uuid("x"), stable_uuid("y"));
        assert!(is_uuid(&stable_uuid("x")));
        assert!(!is_uuid("12"));
    }
}
