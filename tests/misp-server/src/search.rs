//! restSearch filters as MISP reads them and applies them to attributes
//! and events.
//!
//! A filter is a string (`"a&&!b"`), a list (`["a", "!b"]`) or an object
//! (`{"OR": [...], "NOT": [...]}`); `!` negates. Values compare without
//! regard to case, as MySQL does; a term that starts or ends with `%` is
//! a LIKE pattern (`%` any run, `_` one character).

use serde_json::Value;

use crate::render::Extras;
use crate::store::{Attribute, Event, Store};
use crate::{clock, fields, ids, values};

/// One filter: terms that may match, and terms that must not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Terms of which one must match, when there are any.
    pub any: Vec<String>,
    /// Terms none of which may match.
    pub not: Vec<String>,
}

impl Filter {
    /// Parses a filter; `None` when it filters nothing (PHP `empty()`).
    pub fn parse(value: Option<&Value>) -> Option<Filter> {
        let value = value.filter(|v| !fields::is_empty(Some(v)))?;
        let mut filter = Filter::default();
        match value {
            Value::String(text) => text.split("&&").for_each(|t| filter.add(t)),
            Value::Object(map) => {
                for (key, terms) in map {
                    let negated = key.eq_ignore_ascii_case("NOT");
                    for term in
                        fields::list(Some(terms)).iter().filter_map(|t| fields::text(Some(t)))
                    {
                        if negated {
                            filter.not.push(term);
                        } else {
                            filter.any.push(term);
                        }
                    }
                }
            }
            other => fields::list(Some(other))
                .iter()
                .filter_map(|t| fields::text(Some(t)))
                .for_each(|t| filter.add(&t)),
        }
        (!filter.any.is_empty() || !filter.not.is_empty()).then_some(filter)
    }

    fn add(&mut self, term: &str) {
        match term.strip_prefix('!') {
            Some(negated) => self.not.push(negated.to_owned()),
            None if !term.is_empty() => self.any.push(term.to_owned()),
            None => {}
        }
    }

    /// Whether some text in `texts` fits: one `any` term matches one of
    /// them (when there are `any` terms) and no `not` term matches any.
    pub fn accepts(&self, texts: &[&str]) -> bool {
        let hit = |term: &String| texts.iter().any(|t| term_matches(term, t));
        (self.any.is_empty() || self.any.iter().any(hit)) && !self.not.iter().any(hit)
    }
}

/// Whether `term` matches `text`: LIKE for a pattern, else equality.
pub fn term_matches(term: &str, text: &str) -> bool {
    if term.starts_with('%') || term.ends_with('%') {
        like(term.as_bytes(), text.as_bytes()) || term.eq_ignore_ascii_case(text)
    } else {
        term.eq_ignore_ascii_case(text)
    }
}

/// Whether `text` is LIKE `pattern`, as MySQL compares tag names.
pub fn like_matches(pattern: &str, text: &str) -> bool {
    like(pattern.as_bytes(), text.as_bytes())
}

/// SQL LIKE without regard to ASCII case.
fn like(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'%', rest)) => (0..=text.len()).any(|skip| like(rest, &text[skip..])),
        Some((b'_', rest)) => !text.is_empty() && like(rest, &text[1..]),
        Some((b'\\', rest)) if !rest.is_empty() => {
            text.first() == rest.first() && like(&rest[1..], &text[1..])
        }
        Some((c, rest)) => {
            text.first().is_some_and(|t| t.eq_ignore_ascii_case(c)) && like(rest, &text[1..])
        }
    }
}

/// Tag names to look for, resolved against the store's tags.
#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    /// `None` when the filter has no positive term.
    any: Option<Vec<u64>>,
    not: Vec<u64>,
}

impl TagFilter {
    /// Resolves a `tags` filter; a positive list naming no known tag
    /// matches nothing, as in MISP.
    pub fn parse(store: &Store, value: Option<&Value>) -> Option<TagFilter> {
        let filter = Filter::parse(value)?;
        let resolve = |terms: &[String]| -> Vec<u64> {
            let named = |tag: &&crate::store::Tag| terms.iter().any(|t| tag_matches(t, tag));
            store.tags.iter().filter(named).map(|t| t.id).collect()
        };
        let any = (!filter.any.is_empty()).then(|| resolve(&filter.any));
        Some(TagFilter { any, not: resolve(&filter.not) })
    }

    /// Whether tags on the thing or around it (`tag_ids`) pass.
    pub fn accepts(&self, tag_ids: &[u64]) -> bool {
        let positive =
            self.any.as_ref().is_none_or(|any| any.iter().any(|id| tag_ids.contains(id)));
        positive && !self.not.iter().any(|id| tag_ids.contains(id))
    }
}

fn tag_matches(term: &str, tag: &crate::store::Tag) -> bool {
    match term.parse::<u64>() {
        Ok(id) => tag.id == id,
        Err(_) => like(term.as_bytes(), tag.name.as_bytes()),
    }
}

/// A time filter: a lower bound, or a range from a two-element list.
#[derive(Debug, Clone, Copy)]
pub struct TimeFilter {
    from: i64,
    to: Option<i64>,
}

impl TimeFilter {
    /// Parses seconds, `7d`/`12h`/`30m`/`10s` ages, ISO dates, or a
    /// `[from, to]` pair. An unreadable value matches nothing, as MISP's
    /// fallback to "now + 1" does.
    pub fn parse(value: Option<&Value>) -> Option<TimeFilter> {
        let value = value.filter(|v| !fields::is_empty(Some(v)))?;
        if let Some([from, to]) = value.as_array().map(Vec::as_slice) {
            let (a, b) = (resolve_time(from), resolve_time(to));
            return Some(TimeFilter { from: a.min(b), to: Some(a.max(b)) });
        }
        Some(TimeFilter { from: resolve_time(value), to: None })
    }

    /// Whether `time` falls inside.
    pub fn accepts(&self, time: i64) -> bool {
        time >= self.from && self.to.is_none_or(|to| time <= to)
    }
}

fn resolve_time(value: &Value) -> i64 {
    if let Some(seconds) = fields::int(Some(value)) {
        return seconds;
    }
    let text = fields::text(Some(value)).unwrap_or_default();
    let unit = match text.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('d') => 86_400,
        Some('h') => 3_600,
        Some('m') => 60,
        Some('s') => 1,
        _ => 0,
    };
    let amount = text[..text.len().saturating_sub(1)].parse::<i64>().ok();
    match (unit, amount) {
        (unit, Some(amount)) if unit > 0 => clock::now() - amount * unit,
        _ => clock::parse_iso(&text).map_or(clock::now() + 1, |micros| micros / 1_000_000),
    }
}

/// Which values a flag filter (`to_ids`, `published`) lets through.
fn flag_filter(value: Option<&Value>) -> Option<Vec<bool>> {
    let value = value.filter(|v| !v.is_null())?;
    if value.as_str() == Some("exclude") {
        return Some(vec![false]);
    }
    let flags: Vec<bool> =
        fields::list(Some(value)).iter().filter_map(|v| fields::flag(Some(v))).collect();
    let both = flags.contains(&true) && flags.contains(&false);
    (!flags.is_empty() && !both).then_some(flags)
}

/// The `deleted` filter: absent or empty, live attributes only; `only`,
/// deleted ones only; else the flags listed (`[0, 1]` for both).
fn deleted_filter(value: Option<&Value>) -> Vec<bool> {
    let Some(value) = value.filter(|v| !fields::is_empty(Some(v))) else {
        return vec![false];
    };
    if value.as_str() == Some("only") {
        return vec![true];
    }
    let flags: Vec<bool> =
        fields::list(Some(value)).iter().filter_map(|v| fields::flag(Some(v))).collect();
    if flags.is_empty() {
        vec![false]
    } else {
        flags
    }
}

/// Whether a PHP `!empty()` option is on.
fn on(data: &Value, key: &str) -> bool {
    !fields::is_empty(data.get(key))
}

/// The filters shared by attribute and event searches.
#[derive(Debug, Clone, Default)]
struct Common {
    value: Option<Filter>,
    type_: Option<Filter>,
    category: Option<Filter>,
    eventid: Option<Filter>,
    uuid: Option<Filter>,
    tags: Option<TagFilter>,
    to_ids: Option<Vec<bool>>,
    published: Option<Vec<bool>>,
    /// Which deletion states to return; MISP returns deleted attributes
    /// only when asked and only to a sync user, which this server's user
    /// is.
    deleted: Vec<bool>,
    timestamp: Option<TimeFilter>,
    event_timestamp: Option<TimeFilter>,
    publish_timestamp: Option<TimeFilter>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    page: usize,
}

impl Common {
    fn parse(store: &Store, data: &Value) -> Common {
        let mut value = Filter::parse(data.get("value"));
        if let Some(value) = value.as_mut() {
            value.any = value.any.iter().map(|v| values::compress_ipv6(v)).collect();
        }
        let publish = data.get("publish_timestamp").or(data.get("last"));
        let limit = fields::int(data.get("limit")).filter(|l| *l > 0).map(|l| l as usize);
        Common {
            value,
            type_: Filter::parse(data.get("type")).map(with_email_alias),
            category: Filter::parse(data.get("category")),
            eventid: Filter::parse(data.get("eventid")).filter(|f| f.any != ["all"]),
            uuid: Filter::parse(data.get("uuid")),
            tags: TagFilter::parse(store, data.get("tags")),
            to_ids: flag_filter(data.get("to_ids")),
            published: flag_filter(data.get("published")),
            deleted: deleted_filter(data.get("deleted")),
            timestamp: TimeFilter::parse(data.get("timestamp")),
            event_timestamp: TimeFilter::parse(data.get("event_timestamp")),
            publish_timestamp: TimeFilter::parse(publish),
            from: fields::text(data.get("from")).filter(|f| !f.is_empty()),
            to: fields::text(data.get("to")).filter(|t| !t.is_empty()),
            limit,
            page: fields::int(data.get("page")).filter(|p| *p > 0).unwrap_or(1) as usize,
        }
    }

    /// Whether the event-level filters let `event` through.
    fn event_passes(&self, event: &Event) -> bool {
        let id = event.id.to_string();
        let eventid_ok = self.eventid.as_ref().is_none_or(|f| {
            let key = |term: &str| if ids::is_uuid(term) { event.uuid.clone() } else { id.clone() };
            let hit = |term: &String| term_matches(term, &key(term));
            (f.any.is_empty() || f.any.iter().any(hit)) && !f.not.iter().any(hit)
        });
        eventid_ok
            && self.published.as_ref().is_none_or(|p| p.contains(&event.published))
            && self.event_timestamp.is_none_or(|t| t.accepts(event.timestamp))
            && self.publish_timestamp.is_none_or(|t| t.accepts(event.publish_timestamp))
            && self.from.as_ref().is_none_or(|from| event.date.as_str() >= from.as_str())
            && self.to.as_ref().is_none_or(|to| event.date.as_str() <= to.as_str())
    }

    /// Whether the attribute-level filters let `a` through.
    fn attribute_passes(&self, a: &Attribute) -> bool {
        let (first, second) = a.halves();
        self.deleted.contains(&a.deleted)
            && self.value.as_ref().is_none_or(|f| f.accepts(&[first, second]))
            && self.type_.as_ref().is_none_or(|f| f.accepts(&[&a.type_]))
            && self.category.as_ref().is_none_or(|f| f.accepts(&[&a.category]))
            && self.to_ids.as_ref().is_none_or(|flags| flags.contains(&a.to_ids))
    }

    fn paginate<T>(&self, items: Vec<T>) -> Vec<T> {
        match self.limit {
            Some(limit) => items.into_iter().skip((self.page - 1) * limit).take(limit).collect(),
            None => items,
        }
    }
}

/// MISP widens a type filter naming `email-src` or `email-dst` to
/// `email`.
fn with_email_alias(mut filter: Filter) -> Filter {
    for list in [&mut filter.any, &mut filter.not] {
        let wants = list.iter().any(|t| t == "email-src" || t == "email-dst");
        if wants && !list.iter().any(|t| t == "email") {
            list.push("email".to_owned());
        }
    }
    filter
}

/// A parsed `/attributes/restSearch` body.
#[derive(Debug, Clone, Default)]
pub struct AttributeQuery {
    common: Common,
    object_relation: Option<Filter>,
    /// Drop attributes that hit an enabled warninglist.
    pub enforce_warninglist: bool,
    /// What to add to each attribute.
    pub extras: Extras,
}

impl AttributeQuery {
    /// Reads the filters MISP knows from `data`; others are ignored.
    pub fn parse(store: &Store, data: &Value) -> AttributeQuery {
        AttributeQuery {
            common: Common::parse(store, data),
            object_relation: Filter::parse(data.get("object_relation")),
            enforce_warninglist: on(data, "enforceWarninglist"),
            extras: Extras {
                context: on(data, "includeContext"),
                event_tags: on(data, "includeEventTags") || on(data, "includeDecayScore"),
                sightings: on(data, "includeSightings"),
                correlations: on(data, "includeCorrelations"),
                warninglist_hits: on(data, "includeWarninglistHits"),
                event_uuid: on(data, "includeEventUuid") || on(data, "include_event_uuid"),
            },
        }
    }

    /// The first value asked for, if any: the `HugeAttributes` fault
    /// repeats it.
    pub fn first_value(&self) -> Option<&str> {
        self.common.value.as_ref()?.any.first().map(String::as_str)
    }

    /// The first type asked for, if any.
    pub fn first_type(&self) -> Option<&str> {
        self.common.type_.as_ref()?.any.first().map(String::as_str)
    }

    /// The matching attributes in id order, after paging and the
    /// warninglist drop (which MISP applies page by page).
    pub fn run<'s>(&self, store: &'s Store) -> Vec<&'s Attribute> {
        let matching: Vec<&Attribute> =
            self.candidates(store).into_iter().filter(|a| self.passes(store, a)).collect();
        let page = self.common.paginate(matching);
        if !self.enforce_warninglist {
            return page;
        }
        page.into_iter().filter(|a| !on_warninglist(store, a)).collect()
    }

    /// Attributes worth checking: the value index when every term is an
    /// exact value, else everything.
    fn candidates<'s>(&self, store: &'s Store) -> Vec<&'s Attribute> {
        let exact = self.common.value.as_ref().filter(|f| {
            !f.any.is_empty() && f.any.iter().all(|t| !t.starts_with('%') && !t.ends_with('%'))
        });
        let Some(filter) = exact else {
            return store.attributes().collect();
        };
        let mut ids: Vec<u64> = filter
            .any
            .iter()
            .flat_map(|t| store.attributes_with_value(t).iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().filter_map(|id| store.attribute(id)).collect()
    }

    fn passes(&self, store: &Store, a: &Attribute) -> bool {
        let Some(event) = store.event(a.event_id) else { return false };
        let relation = a.object_relation.as_deref().unwrap_or("");
        self.common.attribute_passes(a)
            && self.object_relation.as_ref().is_none_or(|f| f.accepts(&[relation]))
            && self.common.timestamp.is_none_or(|t| t.accepts(a.timestamp))
            && self.uuid_passes(store, a)
            && self.common.event_passes(event)
            && self.common.tags.as_ref().is_none_or(|t| t.accepts(&tags_around(a, event)))
    }

    /// MISP's `uuid` filter on attributes: the attribute's own uuid, or
    /// the uuid of its event.
    fn uuid_passes(&self, store: &Store, a: &Attribute) -> bool {
        let Some(filter) = &self.common.uuid else { return true };
        let event_uuid = store.event(a.event_id).map(|e| e.uuid.as_str()).unwrap_or("");
        let own = |t: &String| t.eq_ignore_ascii_case(&a.uuid);
        let either = |t: &String| own(t) || t.eq_ignore_ascii_case(event_uuid);
        (filter.any.is_empty() || filter.any.iter().any(either)) && !filter.not.iter().any(own)
    }
}

fn tags_around(a: &Attribute, event: &Event) -> Vec<u64> {
    a.tags.iter().chain(&event.tags).map(|l| l.tag_id).collect()
}

/// Whether any enabled warninglist holds the attribute's value.
pub fn on_warninglist(store: &Store, a: &Attribute) -> bool {
    store.warninglists.iter().any(|list| list.hit_attribute(&a.type_, &a.value).is_some())
}

/// A parsed `/events/restSearch` body.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    common: Common,
}

impl EventQuery {
    /// Reads the filters MISP knows from `data`.
    pub fn parse(store: &Store, data: &Value) -> EventQuery {
        let mut common = Common::parse(store, data);
        // On events, `timestamp` is the event's own timestamp.
        common.event_timestamp = common.event_timestamp.or(common.timestamp.take());
        EventQuery { common }
    }

    /// The matching events in id order, paged.
    pub fn run<'s>(&self, store: &'s Store) -> Vec<&'s Event> {
        let matching = store.events().filter(|e| self.passes(store, e)).collect();
        self.common.paginate(matching)
    }

    fn passes(&self, store: &Store, event: &Event) -> bool {
        if !self.common.event_passes(event) {
            return false;
        }
        let attributes = store.event_attributes(event);
        let by_attribute = self.common.value.is_some()
            || self.common.type_.is_some()
            || self.common.category.is_some()
            || self.common.to_ids.is_some();
        let attribute_ok =
            !by_attribute || attributes.iter().any(|a| self.common.attribute_passes(a));
        let mut tag_ids: Vec<u64> = event.tags.iter().map(|l| l.tag_id).collect();
        tag_ids.extend(attributes.iter().flat_map(|a| a.tags.iter().map(|l| l.tag_id)));
        let uuid_ok = self.common.uuid.as_ref().is_none_or(|f| {
            let mut uuids: Vec<&str> = attributes.iter().map(|a| a.uuid.as_str()).collect();
            uuids.push(&event.uuid);
            f.accepts(&uuids)
        });
        attribute_ok && uuid_ok && self.common.tags.as_ref().is_none_or(|t| t.accepts(&tag_ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_is_an_or_and_a_bang_negates() {
        let filter = Filter::parse(Some(&json!(["a", "!b"]))).unwrap();
        assert_eq!(filter, Filter { any: vec!["a".into()], not: vec!["b".into()] });
        let filter = Filter::parse(Some(&json!("a&&!b"))).unwrap();
        assert_eq!(filter.not, vec!["b".to_owned()]);
        assert!(Filter::parse(Some(&json!([]))).is_none());
    }

    #[test]
    fn percent_is_a_wildcard_only_at_either_end() {
        assert!(term_matches("%.example.org", "Evil.EXAMPLE.org"));
        assert!(term_matches("evil%", "evil.example"));
        assert!(!term_matches("ev%il", "evXil"));
        assert!(term_matches("ev%il", "ev%il"));
        assert!(term_matches("%e_il%", "devil"));
    }

    #[test]
    fn ages_count_back_from_now() {
        let filter = TimeFilter::parse(Some(&json!("1d"))).unwrap();
        assert!(filter.accepts(clock::now() - 3_600));
        assert!(!filter.accepts(clock::now() - 2 * 86_400));
        let nothing = TimeFilter::parse(Some(&json!("whenever"))).unwrap();
        assert!(!nothing.accepts(clock::now()));
    }
}
