//! Threat intel for a set of IoCs: where it comes from (a MISP server or an
//! offline feed) and how its attributes are grouped per IoC into the
//! findings reported to Wazuh.

use std::cmp::Reverse;
use std::collections::HashSet;

use std::time::Duration;

use crate::budget::Deadline;
use crate::cache::Cache;
use crate::feed::Feed;
use crate::ioc::{self, Ioc, IocType};
use crate::misp::reply::Attribute;
use crate::misp::{ErrorKind, MispClient, MispError, SearchFilters};

/// Where the intel comes from.
pub enum IntelSource {
    /// A MISP server.
    Misp(MispClient),
    /// An offline MISP-format feed folder.
    Feed(Feed),
    /// The store's indicator index (imported feeds, a mirrored MISP).
    Index {
        /// The MISP server written back to, when one is named.
        client: Option<MispClient>,
        /// Ask `client` for the IoCs the index knows nothing of.
        then_live: bool,
    },
}

/// How lookups are remembered: matches for `matched`, no match for
/// `unmatched`, failures never.
#[derive(Debug, Clone, Copy)]
pub struct Remember {
    /// How long the attributes an IoC matched are remembered.
    pub matched: Duration,
    /// How long it is remembered that an IoC matched nothing.
    pub unmatched: Duration,
}

impl IntelSource {
    /// All attributes matching any of `iocs`: from MISP (those remembered
    /// in `cache` from earlier runs, and one request for the rest), from
    /// the feed, or from the index of `cache` and then MISP.
    pub fn search(
        &self,
        iocs: &[Ioc],
        filters: &SearchFilters,
        cache: &Cache,
        remember: Remember,
        deadline: &Deadline,
    ) -> Result<Vec<Attribute>, MispError> {
        match self {
            IntelSource::Misp(client) => live(client, iocs, filters, cache, remember, deadline),
            IntelSource::Feed(feed) => feed
                .search(iocs, filters)
                .map_err(|e| MispError::new(ErrorKind::BadReply, None, format!("feed: {e:#}"))),
            IntelSource::Index { client, then_live } => {
                let mut found = crate::index::search(cache, iocs, filters).map_err(|e| {
                    MispError::new(ErrorKind::BadReply, None, format!("indicator index: {e:#}"))
                })?;
                let Some(client) = client.as_ref().filter(|_| *then_live) else {
                    return Ok(found);
                };
                let unknown: Vec<Ioc> = iocs
                    .iter()
                    .filter(|ioc| !found.iter().any(|a| attribute_matches(ioc, a)))
                    .cloned()
                    .collect();
                if !unknown.is_empty() {
                    found.extend(live(client, &unknown, filters, cache, remember, deadline)?);
                }
                Ok(found)
            }
        }
    }

    /// The MISP server written back to, if any.
    pub fn client(&self) -> Option<&MispClient> {
        match self {
            IntelSource::Misp(client) => Some(client),
            IntelSource::Index { client, .. } => client.as_ref(),
            IntelSource::Feed(_) => None,
        }
    }

    /// How many MISP requests were made.
    pub fn requests(&self) -> usize {
        self.client().map_or(0, MispClient::requests)
    }
}

/// Asks MISP about `iocs`: what `cache` remembers from earlier runs, and
/// one request for the rest, whose answers are remembered in turn.
fn live(
    client: &MispClient,
    iocs: &[Ioc],
    filters: &SearchFilters,
    cache: &Cache,
    remember: Remember,
    deadline: &Deadline,
) -> Result<Vec<Attribute>, MispError> {
    let scope = format!("lookup|{}|{}", client.url(), filters.fingerprint());
    let key = |ioc: &Ioc| format!("{scope}|{}|{}", ioc.kind, ioc.value);
    let mut found = Vec::new();
    let mut ask = Vec::new();
    for ioc in iocs {
        match cache.get(&key(ioc)).and_then(|v| serde_json::from_value::<Vec<Attribute>>(v).ok()) {
            Some(remembered) => found.extend(remembered),
            None => ask.push(ioc.clone()),
        }
    }
    if ask.is_empty() {
        return Ok(found);
    }
    let fresh = client.search(&ask, filters, deadline)?;
    for ioc in &ask {
        let mine: Vec<&Attribute> = fresh.iter().filter(|a| attribute_matches(ioc, a)).collect();
        let ttl = if mine.is_empty() { remember.unmatched } else { remember.matched };
        if let Ok(value) = serde_json::to_value(&mine) {
            cache.put(&key(ioc), &value, ttl);
        }
    }
    found.extend(fresh);
    Ok(found)
}

/// The intel that matched one IoC.
#[derive(Debug, Clone)]
pub struct Finding<'a> {
    /// The IoC from the alert.
    pub ioc: &'a Ioc,
    /// The attribute reported: to_ids first, then the highest event threat
    /// level, then the most recent.
    pub best: &'a Attribute,
    /// How many attributes matched the IoC.
    pub attributes: usize,
    /// How many distinct events those attributes belong to.
    pub events: usize,
}

/// Groups `attributes` by the IoC they match, in the order of `iocs`;
/// IoCs without a matching attribute are left out.
pub fn findings<'a>(iocs: &'a [Ioc], attributes: &'a [Attribute]) -> Vec<Finding<'a>> {
    iocs.iter()
        .filter_map(|ioc| {
            let matched: Vec<&Attribute> =
                attributes.iter().filter(|a| attribute_matches(ioc, a)).collect();
            let best = matched.iter().copied().min_by_key(|a| rank(a))?;
            let events: HashSet<Option<&str>> = matched.iter().map(|a| event_key(a)).collect();
            Some(Finding { ioc, best, attributes: matched.len(), events: events.len() })
        })
        .collect()
}

/// The sort key of an attribute: lower is better.
fn rank(a: &Attribute) -> (bool, u8, Reverse<u64>) {
    let level = a
        .event
        .as_ref()
        .and_then(|e| e.threat_level_id.as_deref())
        .and_then(|l| l.parse().ok())
        .unwrap_or(4);
    let time = a.timestamp.as_deref().and_then(|t| t.parse().ok()).unwrap_or(0);
    (a.to_ids != Some(true), level, Reverse(time))
}

fn event_key(a: &Attribute) -> Option<&str> {
    a.event_id.as_deref().or_else(|| a.event.as_ref().and_then(|e| e.id.as_deref()))
}

/// True when the attribute's value (or either half of a composite value
/// such as `ip-dst|port`) is the IoC's value. Addresses compare as
/// addresses, everything else without regard to case, as MISP does.
pub fn attribute_matches(ioc: &Ioc, attribute: &Attribute) -> bool {
    let Some(value) = attribute.value.as_deref() else { return false };
    if let Some(kind) = attribute.kind.as_deref() {
        if !ioc.kind.misp_types().contains(&kind) {
            return false;
        }
    }
    let composite = attribute.kind.as_deref().is_some_and(|k| k.contains('|'));
    let mut parts: Vec<&str> = vec![value];
    if composite {
        parts = value.split('|').collect();
    }
    parts.iter().any(|part| same_value(ioc, part))
}

fn same_value(ioc: &Ioc, candidate: &str) -> bool {
    let candidate = candidate.trim();
    if ioc.kind == IocType::Ip {
        return ioc::parse_ip(candidate)
            .zip(ioc::parse_ip(&ioc.value))
            .is_some_and(|(a, b)| a == b);
    }
    let candidate =
        candidate.strip_suffix('.').filter(|_| ioc.kind == IocType::Domain).unwrap_or(candidate);
    candidate.eq_ignore_ascii_case(&ioc.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::misp::reply::Event;

    fn ioc(kind: IocType, value: &str) -> Ioc {
        Ioc { kind, value: value.into(), field: "data.srcip".into(), file: None }
    }

    fn attr(
        id: &str,
        kind: &str,
        value: &str,
        event: &str,
        level: &str,
        to_ids: bool,
    ) -> Attribute {
        Attribute {
            id: Some(id.into()),
            kind: Some(kind.into()),
            value: Some(value.into()),
            event_id: Some(event.into()),
            to_ids: Some(to_ids),
            event: Some(Event { threat_level_id: Some(level.into()), ..Event::default() }),
            ..Attribute::default()
        }
    }

    #[test]
    fn composite_values_match_on_either_half() {
        let ip = ioc(IocType::Ip, "203.0.113.9");
        assert!(attribute_matches(
            &ip,
            &attr("1", "ip-dst|port", "203.0.113.9|443", "1", "1", true)
        ));
        assert!(!attribute_matches(
            &ip,
            &attr("1", "ip-dst|port", "203.0.113.99|443", "1", "1", true)
        ));
        let hash = ioc(IocType::Md5, "4e73669498619133e45027923a37d96f");
        let named =
            attr("2", "filename|md5", "a.exe|4E73669498619133E45027923A37D96F", "1", "1", true);
        assert!(attribute_matches(&hash, &named));
    }

    #[test]
    fn a_value_of_another_type_does_not_match() {
        let domain = ioc(IocType::Domain, "203.0.113.9.example.com");
        assert!(!attribute_matches(
            &domain,
            &attr("1", "md5", "203.0.113.9.example.com", "1", "1", true)
        ));
    }

    #[test]
    fn the_best_attribute_is_an_ids_one_of_the_most_severe_event() {
        let iocs = [ioc(IocType::Ip, "198.51.100.1"), ioc(IocType::Ip, "198.51.100.2")];
        let attrs = [
            attr("10", "ip-src", "198.51.100.1", "1", "3", true),
            attr("11", "ip-dst", "198.51.100.1", "2", "1", false),
            attr("12", "ip-dst", "198.51.100.1", "2", "1", true),
        ];
        let found = findings(&iocs, &attrs);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].best.id.as_deref(), Some("12"));
        assert_eq!((found[0].attributes, found[0].events), (3, 2));
    }
}
