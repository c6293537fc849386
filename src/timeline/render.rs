//! The printed forms of a timeline: text for a terminal, JSON for other
//! programs, and one self-contained HTML page to open from disk or attach
//! to a ticket.
//!
//! Every text in a timeline comes from alerts and MISP events, so none of
//! it is trusted: the text form shows control and direction-changing
//! characters as `\u{..}` escapes, the HTML form escapes everything.

use serde_json::json;

use super::html;
use super::model::{IntelHit, RelatedEvent, Step, Timeline};

/// The narrowest text form: a smaller width is taken as this one.
pub const MIN_WIDTH: usize = 40;

/// Where a step's description, values and intel continue when wrapped.
const HANG: usize = 6;

/// Where the facts of the header start, after their names.
const FACT_COLUMN: usize = 15;

/// The timeline as text for a terminal, ending with a newline.
///
/// No line is longer than `width` characters (at least [`MIN_WIDTH`]):
/// long descriptions and values wrap with an indent, at spaces, so that a
/// hash is only cut when it alone is longer than a line. Steps come in the
/// order given; a step that hit known intel has `!` in the left margin.
pub fn text(t: &Timeline, width: usize) -> String {
    let width = width.max(MIN_WIDTH);
    let mut lines = header(t, width);
    lines.push(String::new());
    lines.extend(steps(&t.steps, width));
    lines.push(String::new());
    lines.extend(related(&t.related, width));
    lines.push(String::new());
    lines.extend(fill("", 0, &summary(t), width));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The timeline as pretty-printed JSON, the model as it is, ending with a
/// newline. Serialising the model cannot fail; should it all the same,
/// the answer is a JSON object whose `error` names the failure.
pub fn json(t: &Timeline) -> String {
    let mut out = serde_json::to_string_pretty(t).unwrap_or_else(|err| {
        json!({"error": format!("serialising the timeline: {err}")}).to_string()
    });
    out.push('\n');
    out
}

/// The timeline as one self-contained HTML page: inline style, an inline
/// SVG time axis, the table of steps and the related events. It loads
/// nothing and runs no script. Every text from the timeline is escaped.
pub fn html(t: &Timeline) -> String {
    html::page(t)
}

/// The incident's info line, then its facts in a column.
fn header(t: &Timeline, width: usize) -> Vec<String> {
    let i = &t.incident;
    let mut lines = fill("", 2, &i.info, width);
    let tags: Vec<String> = i.tags.iter().map(|t| tag_label(t)).collect();
    let tags = if tags.is_empty() { "none".to_string() } else { tags.join(", ") };
    let facts = [
        ("MISP event", i.id.as_deref()),
        ("uuid", Some(i.uuid.as_str())),
        ("agent", Some(i.agent.as_str())),
        ("date", i.date.as_deref()),
        ("threat level", Some(i.threat_level.as_str())),
        ("tags", Some(tags.as_str())),
    ];
    for (name, value) in facts {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            let first = format!("  {name:<width$}", width = FACT_COLUMN - 2);
            lines.extend(fill(&first, FACT_COLUMN, value, width));
        }
    }
    lines
}

/// The steps section: a title, then one block per step, blank-separated.
fn steps(steps: &[Step], width: usize) -> Vec<String> {
    let title = if steps.is_empty() {
        "Steps".to_string()
    } else {
        format!("Steps ({}, in time order; ! marks a step that hit known intel)", steps.len())
    };
    let mut lines = fill("", 2, &title, width);
    if steps.is_empty() {
        lines.push("  none recorded".to_string());
    }
    for (n, step) in steps.iter().enumerate() {
        if n > 0 {
            lines.push(String::new());
        }
        lines.extend(step_block(step, width));
    }
    lines
}

/// One step: time and rule, the observation, its values, the repeats and
/// one line per intel hit.
fn step_block(step: &Step, width: usize) -> Vec<String> {
    let mark = if step.intel.is_empty() { ' ' } else { '!' };
    let first = format!("{mark} {}  ", show_time(&step.time));
    let rule = format!("{} {}", rule_words(step), step.rule_description);
    let mut lines = fill(&first, HANG, &rule, width);
    if !step.observation.trim().is_empty() {
        lines.extend(fill("    ", HANG, &step.observation, width));
    }
    for v in &step.values {
        lines.extend(fill("    ", HANG, &format!("{} {}", v.label(), v.value), width));
    }
    if let Some(repeats) = repeats(step) {
        lines.extend(fill("    ", HANG, &repeats, width));
    }
    for hits in hits_by_event(step) {
        lines.extend(fill("  ! intel: ", HANG, &intel_words(step, &hits), width));
    }
    lines
}

/// `rule 5712 (level 10)`.
pub(super) fn rule_words(step: &Step) -> String {
    format!("rule {} (level {})", step.rule_id, step.rule_level)
}

/// `x37, last seen 2026-11-18 09:20:41 UTC`, or nothing for a step seen
/// once.
fn repeats(step: &Step) -> Option<String> {
    let last = step.last_seen.as_deref().filter(|l| *l != step.time).map(show_time);
    match (step.count > 1, last) {
        (true, Some(last)) => Some(format!("x{}, last seen {last}", step.count)),
        (true, None) => Some(format!("x{}", step.count)),
        (false, Some(last)) => Some(format!("last seen {last}")),
        (false, None) => None,
    }
}

/// `sha256 50b8... in MISP event 17 "Glass Heron: ..." (high; Glass
/// Heron; tlp:amber)`: the values of `step` that hit one intel event.
fn intel_words(step: &Step, hits: &[&IntelHit]) -> String {
    let values: Vec<String> = hits
        .iter()
        .map(|h| match value_kind(step, &h.value) {
            Some(kind) => format!("{kind} {}", h.value),
            None => h.value.clone(),
        })
        .collect();
    let Some(hit) = hits.first() else {
        return String::new();
    };
    let mut words = format!("{} in {}", values.join(", "), intel_source(hit));
    if !hit.event_info.is_empty() {
        words.push_str(&format!(" \"{}\"", hit.event_info));
    }
    let details = intel_details(hit);
    if !details.is_empty() {
        words.push_str(&format!(" ({})", details.join("; ")));
    }
    words
}

/// The intel hits of `step` grouped by the event they hit, in the order
/// they come.
pub(super) fn hits_by_event(step: &Step) -> Vec<Vec<&IntelHit>> {
    let mut groups: Vec<Vec<&IntelHit>> = Vec::new();
    for hit in &step.intel {
        let same = |h: &&IntelHit| {
            (&h.event_id, &h.event_uuid, &h.event_info)
                == (&hit.event_id, &hit.event_uuid, &hit.event_info)
        };
        match groups.iter_mut().find(|g| g.first().is_some_and(same)) {
            Some(group) => group.push(hit),
            None => groups.push(vec![hit]),
        }
    }
    groups
}

/// The MISP attribute type under which `step` recorded `value`.
pub(super) fn value_kind<'a>(step: &'a Step, value: &str) -> Option<&'a str> {
    let v = step.values.iter().find(|v| v.value == value)?;
    Some(v.kind.as_str()).filter(|k| !k.is_empty())
}

/// How the intel event is named: by id, else by uuid.
pub(super) fn intel_source(hit: &IntelHit) -> String {
    match (hit.event_id.as_deref(), hit.event_uuid.as_deref()) {
        (Some(id), _) if !id.is_empty() => format!("MISP event {id}"),
        (_, Some(uuid)) if !uuid.is_empty() => format!("MISP event {uuid}"),
        _ => "a MISP event".to_string(),
    }
}

/// The intel event's threat level, threat actors and tags, each group
/// joined by commas; empty groups left out.
pub(super) fn intel_details(hit: &IntelHit) -> Vec<String> {
    let tags = hit.tags.iter().map(|t| tag_label(t)).collect();
    let groups = [vec![hit.threat_level.clone()], hit.threat_actors.clone(), tags];
    groups
        .into_iter()
        .map(|g| g.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", "))
        .filter(|g| !g.is_empty())
        .collect()
}

/// A tag as an analyst reads it: a galaxy cluster tag
/// `misp-galaxy:threat-actor="Glass Heron"` as `threat-actor: Glass
/// Heron` (ATT&CK's `mitre-` left off), any other tag as it is.
pub(super) fn tag_label(tag: &str) -> String {
    let Some((galaxy, value)) = tag.strip_prefix("misp-galaxy:").and_then(|t| t.split_once('='))
    else {
        return tag.to_string();
    };
    let galaxy = galaxy.strip_prefix("mitre-").unwrap_or(galaxy);
    format!("{galaxy}: {}", value.trim_matches('"'))
}

/// The related events section.
fn related(related: &[RelatedEvent], width: usize) -> Vec<String> {
    let mut lines = vec!["Related events (MISP correlation)".to_string()];
    if related.is_empty() {
        lines.push("  none".to_string());
    }
    for r in related {
        lines.extend(fill("  ", HANG, &related_title(r), width));
        let facts = related_facts(r);
        if !facts.is_empty() {
            lines.extend(fill("    ", HANG, &facts.join(", "), width));
        }
        if !r.shared_values.is_empty() {
            lines.extend(fill("    shares ", HANG, &r.shared_values.join(", "), width));
        }
    }
    lines
}

/// `MISP event 9 "SSH scanning botnet"`.
pub(super) fn related_title(r: &RelatedEvent) -> String {
    let id = r.id.as_deref().or(r.uuid.as_deref()).filter(|s| !s.is_empty());
    let name = id.map(|id| format!("MISP event {id}")).unwrap_or_else(|| "MISP event".into());
    format!("{name} \"{}\"", r.info)
}

/// `org CIRCL`, `date 2026-10-02`: what is known of a related event.
pub(super) fn related_facts(r: &RelatedEvent) -> Vec<String> {
    let facts = [("org", r.org.as_deref()), ("date", r.date.as_deref())];
    facts
        .into_iter()
        .filter_map(|(name, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{name} {v}")))
        .collect()
}

/// `12 steps, 4 hit intel, 1 related event`.
pub(super) fn summary(t: &Timeline) -> String {
    let hits = t.steps.iter().filter(|s| !s.intel.is_empty()).count();
    format!(
        "{}, {hits} hit intel, {}",
        plural(t.steps.len(), "step"),
        plural(t.related.len(), "related event")
    )
}

/// `1 step`, `2 steps`.
pub(super) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `text` filled into lines of at most `width` characters: the first line
/// starts with `first`, the others with `indent` spaces. Words move whole
/// to the next line; only a word longer than a whole line is cut.
/// Whitespace in `text` (newlines too) is one space; control characters
/// are shown escaped.
fn fill(first: &str, indent: usize, text: &str, width: usize) -> Vec<String> {
    let mut line = clean(first);
    if line.chars().count() > width {
        // A start longer than a line (a time that did not read) is
        // filled like the text, keeping only its leading spaces.
        let lead: String = first.chars().take_while(|c| *c == ' ').collect();
        return fill(&lead, indent, &format!("{first} {text}"), width);
    }
    let mut lines = Vec::new();
    let mut has_word = false;
    for word in text.split_whitespace().map(clean) {
        let len = word.chars().count();
        let used = line.chars().count();
        let gap = usize::from(has_word);
        if used + gap + len <= width {
            if has_word {
                line.push(' ');
            }
            line.push_str(&word);
        } else if len <= width - indent {
            push_line(&mut lines, &line);
            line = format!("{}{word}", " ".repeat(indent));
        } else {
            line = cut_word(&mut lines, line, gap, &word, indent, width);
        }
        has_word = true;
    }
    push_line(&mut lines, &line);
    lines
}

/// Writes a word longer than a line over as many lines as it needs,
/// starting on the current one, and returns the unfinished last line.
fn cut_word(
    lines: &mut Vec<String>,
    mut line: String,
    gap: usize,
    word: &str,
    indent: usize,
    width: usize,
) -> String {
    if gap == 1 && line.chars().count() + 2 <= width {
        line.push(' ');
    }
    for c in word.chars() {
        if line.chars().count() >= width {
            push_line(lines, &line);
            line = " ".repeat(indent);
        }
        line.push(c);
    }
    line
}

/// Adds `line` without its trailing spaces, unless it holds nothing.
fn push_line(lines: &mut Vec<String>, line: &str) {
    let line = line.trim_end();
    if !line.is_empty() {
        lines.push(line.to_string());
    }
}

/// `s` safe for a terminal: control characters and the characters that
/// reorder or hide text are shown as `\u{1b}` escapes.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || is_invisible(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Bidirectional overrides, isolates and zero-width characters: they
/// change how the text around them reads.
pub(super) fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || c == '\u{feff}'
}

/// A time read from ISO 8601 (`2026-11-18T09:14:02.123+00:00`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Moment {
    /// `2026-11-18`.
    pub date: String,
    /// `09:14:02`, without fractions of a second.
    pub clock: String,
    /// Minutes east of UTC, when the time names its offset.
    pub offset: Option<i32>,
    /// Seconds since 1970-01-01 00:00 UTC (a time without offset is
    /// taken as UTC).
    pub epoch: f64,
}

impl Moment {
    /// `UTC`, `+01:00`, or nothing for a time without offset.
    pub fn zone(&self) -> String {
        match self.offset {
            Some(0) => "UTC".to_string(),
            Some(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                format!("{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60)
            }
            None => String::new(),
        }
    }
}

/// `2026-11-18 09:14:02 UTC` for `2026-11-18T09:14:02+00:00`; an offset
/// other than UTC is kept (`2026-11-18 10:14:02 +01:00`). A time that does
/// not read as ISO 8601 is shown as given.
pub(super) fn show_time(s: &str) -> String {
    match parse_time(s) {
        Some(m) => format!("{} {} {}", m.date, m.clock, m.zone()).trim_end().to_string(),
        None => s.to_string(),
    }
}

/// Reads an ISO 8601 date and time: `T` or a space between them, seconds
/// required, fractions optional, offset `Z`, `+HH:MM`, `+HHMM`, `+HH` or
/// none. `None` for anything else.
pub(super) fn parse_time(s: &str) -> Option<Moment> {
    let s = s.trim();
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, rest) = (rest.get(..8)?, rest.get(8..)?);
    let (fraction, zone) = split_fraction(rest)?;
    let offset = parse_offset(zone)?;
    let days = parse_date(date)?;
    let seconds = parse_clock(clock)?;
    let epoch = (days * 86_400 + seconds - i64::from(offset.unwrap_or(0)) * 60) as f64 + fraction;
    Some(Moment { date: date.to_string(), clock: clock.to_string(), offset, epoch })
}

/// `.123+00:00` into `0.123` and `+00:00`.
fn split_fraction(rest: &str) -> Option<(f64, &str)> {
    let Some(digits) = rest.strip_prefix(['.', ',']) else {
        return Some((0.0, rest));
    };
    let len = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    let fraction = format!("0.{}", &digits[..len]).parse().ok()?;
    Some((fraction, &digits[len..]))
}

/// The offset in minutes east of UTC: `Some(None)` when there is none,
/// `None` when it does not read.
fn parse_offset(zone: &str) -> Option<Option<i32>> {
    if zone.is_empty() {
        return Some(None);
    }
    if zone.eq_ignore_ascii_case("z") {
        return Some(Some(0));
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if !matches!(digits.len(), 2 | 4) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits.get(2..).filter(|m| !m.is_empty()).map_or(Ok(0), str::parse).ok()?;
    (hours < 24 && minutes < 60).then_some(Some(sign * (hours * 60 + minutes)))
}

/// `2026-11-18` as days since 1970-01-01.
fn parse_date(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = number(&date[..4])?;
    let month = number(&date[5..7])?;
    let day = number(&date[8..])?;
    ((1..=12).contains(&month) && (1..=31).contains(&day))
        .then(|| days_from_civil(year, month, day))
}

/// `09:14:02` as seconds since midnight.
fn parse_clock(clock: &str) -> Option<i64> {
    let b = clock.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (number(&clock[..2])?, number(&clock[3..5])?, number(&clock[6..])?);
    (h < 24 && m < 60 && s <= 60).then_some(h * 3600 + m * 60 + s)
}

/// A run of ASCII digits as a number.
fn number(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date, as (year, month, day), that is `days` after 1970-01-01.
pub(super) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::model::{Incident, Value};

    const SHA256: &str = "50891aee36f2848c5e92dfd7d4b376fcbb5ccae6b130817eaae3340162fdb07f";

    fn incident() -> Incident {
        Incident {
            id: Some("42".into()),
            uuid: "0b9f4c6e-8d1a-4f5b-9a63-2c7e1d4b5a90".into(),
            info: "Wazuh incident: agent 021 FIN-APP-01, 2026-11-18".into(),
            date: Some("2026-11-18".into()),
            threat_level: "high".into(),
            agent: "021 FIN-APP-01".into(),
            tags: vec!["tlp:amber".into(), "wazuh:agent=\"021\"".into()],
        }
    }

    fn step(time: &str, rule: &str, observation: &str, values: &[(&str, &str)]) -> Step {
        Step {
            time: time.into(),
            last_seen: None,
            agent: "021 FIN-APP-01".into(),
            rule_id: rule.into(),
            rule_level: 5,
            rule_description: format!("description of rule {rule}"),
            alert_id: "1763457242.1001".into(),
            observation: observation.into(),
            values: values
                .iter()
                .map(|(k, v)| Value { kind: k.to_string(), value: v.to_string(), relation: None })
                .collect(),
            count: 1,
            intel: Vec::new(),
        }
    }

    fn hit(value: &str) -> IntelHit {
        IntelHit {
            value: value.into(),
            event_id: Some("17".into()),
            event_uuid: Some("5d1c2a9e-3f4b-4c8d-9e0f-1a2b3c4d5e6f".into()),
            event_info: "Glass Heron: svchost-update dropper and its C2".into(),
            threat_level: "high".into(),
            threat_actors: vec!["Glass Heron".into()],
            tags: vec!["tlp:amber".into()],
        }
    }

    fn timeline() -> Timeline {
        let mut brute = step(
            "2026-11-18T09:14:02+00:00",
            "5712",
            "authentication-failure-report",
            &[("ip-src", "203.0.113.45")],
        );
        brute.rule_level = 10;
        brute.rule_description =
            "sshd: brute force trying to get access to the system. Authentication failed.".into();
        brute.count = 37;
        brute.last_seen = Some("2026-11-18T09:20:41.000000+00:00".into());
        let mut dropped = step(
            "2026-11-18T09:23:10+00:00",
            "554",
            "file C:\\Users\\Public\\svchost-update.exe",
            &[("sha256", SHA256), ("md5", "928707c1b135e2925b40603cf0475b70")],
        );
        dropped.intel = vec![hit(SHA256)];
        let login = step(
            "2026-11-18T09:21:30+00:00",
            "40112",
            "authentication",
            &[("ip-src", "203.0.113.45")],
        );
        Timeline {
            incident: incident(),
            steps: vec![brute, login, dropped],
            related: vec![RelatedEvent {
                id: Some("9".into()),
                uuid: Some("7e6d5c4b-3a29-4817-9605-f4e3d2c1b0a9".into()),
                info: "SSH scanning botnet".into(),
                org: Some("CIRCL".into()),
                date: Some("2026-10-02".into()),
                shared_values: vec!["203.0.113.45".into()],
            }],
        }
    }

    fn empty() -> Timeline {
        Timeline { incident: incident(), steps: Vec::new(), related: Vec::new() }
    }

    fn longest_line(text: &str) -> usize {
        text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn text_lines_never_pass_the_width() {
        let mut t = timeline();
        t.steps[0].rule_description = "word ".repeat(80);
        t.steps[1].values.push(Value {
            kind: "url".into(),
            value: "x".repeat(250),
            relation: None,
        });
        t.incident
            .tags
            .extend((0..30).map(|n| format!("misp-galaxy:mitre-attack-pattern=\"T{n}\"")));
        for width in [100, 60] {
            let text = text(&t, width);
            assert!(longest_line(&text) <= width, "a line is over {width}:\n{text}");
        }
    }

    #[test]
    fn a_hash_moves_whole_to_the_next_line_rather_than_being_cut() {
        let text = text(&timeline(), 100);
        assert!(text.lines().any(|l| l.trim() == format!("sha256 {SHA256}")), "{text}");
        let intel = text.lines().find(|l| l.starts_with("  ! intel:")).unwrap();
        assert!(intel.contains(SHA256), "{text}");
    }

    #[test]
    fn a_hash_longer_than_a_line_is_cut_at_the_width() {
        let lines = fill("    ", 6, &format!("sha256 {SHA256}"), 40);
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:?}");
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[1].starts_with("      ") && lines[2].starts_with("      "));
        let joined: String = lines.concat().split_whitespace().collect();
        assert_eq!(joined, format!("sha256{SHA256}"));
    }

    #[test]
    fn text_shows_the_header_then_the_steps_in_order_then_related_events_and_a_summary() {
        let text = text(&timeline(), 100);
        let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}:\n{text}"));
        assert!(text.starts_with("Wazuh incident: agent 021 FIN-APP-01, 2026-11-18\n"), "{text}");
        assert!(at("  MISP event   42") < at("  uuid         0b9f4c6e"));
        assert!(at("  threat level high") < at("  tags         tlp:amber, wazuh:agent=\"021\""));
        let brute = at("  2026-11-18 09:14:02 UTC  rule 5712 (level 10) sshd: brute force");
        let login = at("  2026-11-18 09:21:30 UTC  rule 40112 (level 5)");
        let dropped = at("! 2026-11-18 09:23:10 UTC  rule 554 (level 5)");
        let related =
            at("Related events (MISP correlation)\n  MISP event 9 \"SSH scanning botnet\"");
        assert!(brute < login && login < dropped && dropped < related);
        assert!(at("    x37, last seen 2026-11-18 09:20:41 UTC") < login);
        assert!(at("    org CIRCL, date 2026-10-02\n    shares 203.0.113.45") > related);
        assert!(text.ends_with("\n3 steps, 1 hit intel, 1 related event\n"), "{text}");
    }

    #[test]
    fn a_step_that_hit_intel_is_marked_in_the_margin_and_names_the_intel() {
        let text = text(&timeline(), 100);
        let marked: Vec<&str> = text.lines().filter(|l| l.starts_with('!')).collect();
        assert_eq!(marked.len(), 1, "{text}");
        assert!(marked[0].contains("rule 554"));
        let expected = format!(
            "  ! intel: sha256 {SHA256} in MISP event 17\n      \"Glass Heron: svchost-update \
             dropper and its C2\" (high; Glass Heron; tlp:amber)"
        );
        assert!(text.contains(&expected), "{text}");
        assert!(
            text.contains("\n  2026-11-18 09:14:02 UTC"),
            "an unmarked step starts with a space"
        );
    }

    #[test]
    fn values_that_hit_one_intel_event_share_one_intel_line() {
        let mut t = timeline();
        t.steps[2].intel.push(hit("928707c1b135e2925b40603cf0475b70"));
        let mut other = hit(SHA256);
        other.event_id = Some("23".into());
        other.event_info = "Commodity loaders".into();
        t.steps[2].intel.push(other);
        let text = text(&t, 100);
        let intel: Vec<&str> = text.lines().filter(|l| l.starts_with("  ! intel:")).collect();
        assert_eq!(intel.len(), 2, "{text}");
        assert!(intel[0].starts_with(&format!("  ! intel: sha256 {SHA256}, md5")), "{text}");
        assert!(text.contains("928707c1b135e2925b40603cf0475b70 in MISP event 17"), "{text}");
        assert!(intel[1].ends_with(&format!("{SHA256} in MISP event 23")), "{text}");
    }

    #[test]
    fn galaxy_tags_read_as_their_galaxy_and_value() {
        let actor = "misp-galaxy:threat-actor=\"Glass Heron\"";
        assert_eq!(tag_label(actor), "threat-actor: Glass Heron");
        let pattern = "misp-galaxy:mitre-attack-pattern=\"Brute Force - T1110\"";
        assert_eq!(tag_label(pattern), "attack-pattern: Brute Force - T1110");
        assert_eq!(tag_label("tlp:amber"), "tlp:amber");
        assert_eq!(tag_label("misp-galaxy:odd"), "misp-galaxy:odd");
    }

    #[test]
    fn times_keep_an_offset_other_than_utc() {
        assert_eq!(show_time("2026-11-18T09:14:02+00:00"), "2026-11-18 09:14:02 UTC");
        assert_eq!(show_time("2026-11-18T09:14:02.123456Z"), "2026-11-18 09:14:02 UTC");
        assert_eq!(show_time("2026-11-18T10:14:02+0100"), "2026-11-18 10:14:02 +01:00");
        assert_eq!(show_time("2026-11-18 04:14:02-05:00"), "2026-11-18 04:14:02 -05:00");
        assert_eq!(show_time("2026-11-18T09:14:02"), "2026-11-18 09:14:02");
        assert_eq!(show_time("yesterday"), "yesterday");
        assert_eq!(show_time("2026-13-18T09:14:02Z"), "2026-13-18T09:14:02Z");
    }

    #[test]
    fn times_with_offsets_read_as_the_same_instant() {
        let utc = parse_time("2026-11-18T09:14:02Z").unwrap().epoch;
        assert_eq!(parse_time("2026-11-18T10:14:02+01:00").unwrap().epoch, utc);
        assert_eq!(utc, 1_794_993_242.0);
        assert_eq!(civil_from_days(utc as i64 / 86_400), (2026, 11, 18));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn control_characters_from_alerts_do_not_reach_the_terminal() {
        let mut t = timeline();
        t.steps[0].rule_description = "evil \u{1b}[2J\u{1b}]0;owned\u{7} \u{202e}txt.exe".into();
        let text = text(&t, 100);
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'), "{text}");
        assert!(text.contains("evil \\u{1b}[2J\\u{1b}]0;owned\\u{7} \\u{202e}txt.exe"), "{text}");
    }

    #[test]
    fn json_is_the_model_as_it_is() {
        let t = timeline();
        let parsed: serde_json::Value = serde_json::from_str(&json(&t)).unwrap();
        assert_eq!(parsed, serde_json::to_value(&t).unwrap());
        assert_eq!(parsed["steps"][2]["intel"][0]["threat_actors"][0], "Glass Heron");
        assert!(json(&t).contains("\n  \"incident\": {"), "pretty printed");
    }

    #[test]
    fn html_escapes_every_text_from_alerts_and_misp() {
        let mut t = timeline();
        t.incident.info = "</title><script>alert(1)</script>".into();
        t.incident.tags = vec!["<svg onload=alert(2)>".into()];
        t.steps[0].rule_id = "5712\" onmouseover=\"alert(3)".into();
        t.steps[0].rule_description = "'><img src=x onerror=alert(4)>".into();
        t.steps[1].values[0].value = "a&b<c>\"d'e".into();
        t.steps[2].intel[0].event_info = "<iframe src=//example.net>".into();
        t.related[0].info = "<b>bold</b> & co".into();
        let page = html(&t);
        for raw in ["<script", "<img", "<iframe", "<svg onload", "<b>bold", "\" onmouseover"] {
            assert!(!page.contains(raw), "{raw} is not escaped");
        }
        let title = "<title>Wazuh incident timeline: \
                     &lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>";
        assert!(page.contains(title));
        assert!(page.contains("data-rule=\"5712&quot; onmouseover=&quot;alert(3)\""));
        assert!(page.contains("&#39;&gt;&lt;img src=x onerror=alert(4)&gt;"));
        assert!(page.contains("<code>a&amp;b&lt;c&gt;&quot;d&#39;e</code>"));
        assert!(page.contains("&lt;b&gt;bold&lt;/b&gt; &amp; co"));
    }

    #[test]
    fn html_shows_every_step_as_a_row_and_a_marker() {
        let page = html(&timeline());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<meta name=\"generator\" content=\"wazuh-misp\">"));
        assert!(page.contains("<title>Wazuh incident timeline: Wazuh incident: agent 021"));
        for (n, rule) in [(1, "5712"), (2, "40112"), (3, "554")] {
            let row = format!("<tr id=\"step-{n}\"");
            let row_at = page.find(&row).unwrap_or_else(|| panic!("{row}"));
            assert!(page[row_at..].contains(&format!("data-rule=\"{rule}\"")));
            assert!(page.contains(&format!("data-step=\"{n}\"")), "marker {n}");
        }
        assert!(page.contains("<tr id=\"step-1\" data-time=\"2026-11-18T09:14:02+00:00\""));
        assert!(page.contains("<path class=\"m hit\" data-step=\"3\""), "intel is a diamond");
        assert!(page.contains("<circle class=\"m\" data-step=\"1\""));
        assert!(page.contains("SSH scanning botnet"));
    }

    #[test]
    fn html_loads_nothing_from_outside() {
        let page = html(&timeline());
        for outside in ["<script", "<link", "src=", "@import", "url(", "http://", "https://"] {
            assert!(!page.contains(outside), "{outside}");
        }
        assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    }

    #[test]
    fn an_empty_timeline_renders_in_every_form() {
        let t = empty();
        let text = text(&t, 60);
        assert!(text.contains("Steps\n  none recorded\n"), "{text}");
        assert!(text.contains("Related events (MISP correlation)\n  none\n"), "{text}");
        assert!(text.ends_with("\n0 steps, 0 hit intel, 0 related events\n"), "{text}");
        let parsed: serde_json::Value = serde_json::from_str(&json(&t)).unwrap();
        assert_eq!(parsed["steps"], serde_json::json!([]));
        let page = html(&t);
        assert!(page.contains("No steps recorded"));
        assert!(page.contains("No related events."));
        assert!(!page.contains("id=\"step-"));
        assert!(page.ends_with("</html>\n"));
    }
}
