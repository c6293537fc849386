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
    let tags = if i.tags.is_empty() { "none".to_string() } else { i.tags.join(", ") };
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
        lines.extend(fill("    ", HANG, &format!("{} {}", v.kind, v.value), width));
    }
    if let Some(repeats) = repeats(step) {
        lines.extend(fill("    ", HANG, &repeats, width));
    }
    for hit in &step.intel {
        lines.extend(fill("  ! intel: ", HANG, &intel_words(step, hit), width));
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
/// Heron; tlp:amber)`.
fn intel_words(step: &Step, hit: &IntelHit) -> String {
    let kind = value_kind(step, &hit.value).map(|k| format!("{k} ")).unwrap_or_default();
    let mut words = format!("{kind}{} in {}", hit.value, intel_source(hit));
    if !hit.event_info.is_empty() {
        words.push_str(&format!(" \"{}\"", hit.event_info));
    }
    let details = intel_details(hit);
    if !details.is_empty() {
        words.push_str(&format!(" ({})", details.join("; ")));
    }
    words
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
    let groups = [vec![hit.threat_level.clone()], hit.threat_actors.clone(), hit.tags.clone()];
    groups
        .into_iter()
        .map(|g| g.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", "))
        .filter(|g| !g.is_empty())
        .collect()
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
fn is_invisible(c: char) -> bool {
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
