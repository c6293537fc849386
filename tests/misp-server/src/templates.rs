//! The object templates the server knows, addressed by uuid as MISP
//! addresses them, with the rules MISP checks before saving an object:
//! required relations, one-of requirements, and relations that may
//! appear only once.

/// One object template.
#[derive(Debug, Clone)]
pub struct Template {
    /// How MISP addresses the template.
    pub uuid: String,
    /// `None` for a template known only by uuid: the object keeps the
    /// name and meta-category it was sent with.
    pub name: Option<&'static str>,
    /// The object's `meta-category`.
    pub meta_category: &'static str,
    /// The object's `template_version`.
    pub version: i64,
    /// Relations every object must have.
    pub required: &'static [&'static str],
    /// Relations of which every object must have one.
    pub required_one_of: &'static [&'static str],
    /// Relations that may appear at most once in an object.
    pub single: &'static [&'static str],
}

/// The templates of one server.
#[derive(Debug, Clone)]
pub struct Templates {
    list: Vec<Template>,
}

impl Templates {
    /// The templates named by `uuids`, or the long-standing ones.
    pub fn new(uuids: Option<&[String]>) -> Templates {
        let builtin = builtin();
        let list = match uuids {
            None => builtin,
            Some(uuids) => uuids.iter().map(|uuid| known_or_bare(&builtin, uuid)).collect(),
        };
        Templates { list }
    }

    /// The template with `uuid`.
    pub fn find(&self, uuid: &str) -> Option<&Template> {
        self.list.iter().find(|t| t.uuid.eq_ignore_ascii_case(uuid))
    }
}

impl Template {
    /// Gives `object` the template's identity, as MISP's save does. The
    /// description stays as sent.
    pub fn apply(&self, object: &mut crate::store::MispObject) {
        object.template_uuid = self.uuid.clone();
        if let Some(name) = self.name {
            object.name = name.to_owned();
            object.meta_category = self.meta_category.to_owned();
            object.template_version = self.version;
        }
    }

    /// MISP's conformity check over the relations of an object's
    /// attributes; the error is MISP's message.
    pub fn check(&self, relations: &[&str]) -> Result<(), String> {
        if let Some(missing) = self.required.iter().find(|r| !relations.contains(r)) {
            return Err(format!(
                "Could not save the object as a required attribute is not set ({missing})"
            ));
        }
        let has_one = self.required_one_of.iter().any(|r| relations.contains(r));
        if !self.required_one_of.is_empty() && !has_one {
            return Err(format!(
                "Could not save the object as it requires at least one of the following \
                 attributes to be set: {}",
                self.required_one_of.join(", ")
            ));
        }
        let repeated = self.single.iter().any(|s| relations.iter().filter(|r| *r == s).count() > 1);
        if repeated {
            return Err("Could not save the object as a unique relationship within the object \
                        was assigned to more than one attribute. This is only allowed if the \
                        multiple flag is set in the object template."
                .to_owned());
        }
        Ok(())
    }
}

fn known_or_bare(builtin: &[Template], uuid: &str) -> Template {
    builtin.iter().find(|t| t.uuid.eq_ignore_ascii_case(uuid)).cloned().unwrap_or(Template {
        uuid: uuid.to_lowercase(),
        name: None,
        meta_category: "",
        version: 1,
        required: &[],
        required_one_of: &[],
        single: &[],
    })
}

fn builtin() -> Vec<Template> {
    vec![
        Template {
            uuid: "688c46fb-5edb-40a3-8273-1af7923e2215".to_owned(),
            name: Some("file"),
            meta_category: "file",
            version: 25,
            required: &[],
            required_one_of: &[
                "filename",
                "size-in-bytes",
                "authentihash",
                "ssdeep",
                "md5",
                "sha1",
                "sha224",
                "sha256",
                "sha384",
                "sha512",
                "sha512/224",
                "sha512/256",
                "sha3-224",
                "sha3-256",
                "sha3-384",
                "sha3-512",
                "tlsh",
                "telfhash",
                "imphash",
                "pattern-in-file",
                "certificate",
                "malware-sample",
                "attachment",
                "path",
                "fullpath",
            ],
            single: &[
                "access-time",
                "attachment",
                "authentihash",
                "certificate",
                "compilation-timestamp",
                "creation-time",
                "dom-hash",
                "entropy",
                "file-encoding",
                "imphash",
                "magic",
                "malware-sample",
                "md5",
                "mimetype",
                "modification-time",
                "sha1",
                "sha224",
                "sha256",
                "sha3-224",
                "sha3-256",
                "sha3-384",
                "sha3-512",
                "sha384",
                "sha512",
                "sha512/224",
                "sha512/256",
                "size-in-bytes",
                "ssdeep",
                "telfhash",
                "tlsh",
                "vhash",
            ],
        },
        Template {
            uuid: "af16764b-f8e5-4603-9de1-de34d272f80b".to_owned(),
            name: Some("network-connection"),
            meta_category: "network",
            version: 7,
            required: &[],
            required_one_of: &[
                "first-packet-seen",
                "ip-src",
                "ip-dst",
                "src-port",
                "dst-port",
                "community-id",
            ],
            single: &[
                "community-id",
                "count",
                "dst-bytes-count",
                "dst-packets-count",
                "dst-port",
                "first-packet-seen",
                "hostname-dst",
                "hostname-src",
                "ip-dst",
                "ip-src",
                "last-packet-seen",
                "layer3-protocol",
                "layer4-protocol",
                "mac-dst",
                "mac-src",
                "src-bytes-count",
                "src-packets-count",
                "src-port",
            ],
        },
        Template {
            uuid: "43b3b146-77eb-4931-b4cc-b66c60f28734".to_owned(),
            name: Some("domain-ip"),
            meta_category: "network",
            version: 11,
            required: &[],
            required_one_of: &["ip", "domain", "hostname"],
            single: &["first-seen", "hostname", "last-seen", "registration-date", "text"],
        },
        Template {
            uuid: "9f8cea74-16fe-4968-a2b4-026676949ac6".to_owned(),
            name: Some("ip-port"),
            meta_category: "network",
            version: 10,
            required: &[],
            required_one_of: &[
                "dst-port", "src-port", "domain", "hostname", "ip", "ip-src", "ip-dst",
            ],
            single: &["country-code", "first-seen", "last-seen", "protocol", "ptr-record", "text"],
        },
        Template {
            uuid: "9b39afe0-9809-4fe0-8a0b-4cec2b140dd2".to_owned(),
            name: Some("authentication-failure-report"),
            meta_category: "network",
            version: 4,
            required: &["total", "type"],
            required_one_of: &["ip-src", "ip-dst", "username"],
            single: &["ip-dst", "ip-src", "total", "type", "username"],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authentication_failure_report_needs_total_and_type() {
        let templates = Templates::new(None);
        let report = templates.find("9b39afe0-9809-4fe0-8a0b-4cec2b140dd2").unwrap();
        assert_eq!(
            report.check(&["ip-src", "type"]).unwrap_err(),
            "Could not save the object as a required attribute is not set (total)"
        );
        assert!(report.check(&["ip-src", "type", "total"]).is_ok());
    }

    #[test]
    fn a_custom_list_knows_only_its_uuids() {
        let templates = Templates::new(Some(&["11111111-2222-3333-4444-555555555555".to_owned()]));
        assert!(templates.find("688c46fb-5edb-40a3-8273-1af7923e2215").is_none());
        assert!(templates.find("11111111-2222-3333-4444-555555555555").unwrap().name.is_none());
    }
}
