//! The HTML form of a timeline: one page that holds everything it shows
//! (style, an SVG time axis, the table of steps, the related events), so
//! that it reads the same opened from disk, attached to a ticket or
//! printed. It loads nothing and runs no script; its content security
//! policy forbids both.
//!
//! Each step row is `id="step-N"` (N counts from 1) with `data-time` and
//! `data-rule`; each marker on the axis is `data-step="N"` and links to
//! its row.

use super::model::{IntelHit, RelatedEvent, Step, Timeline};
use super::render::{
    civil_from_days, hits_by_event, intel_details, intel_source, is_invisible, parse_time, plural,
    related_facts, rule_words, show_time, summary, tag_label, value_kind, Moment,
};

/// The drawing's width in SVG units; it scales to the page.
const VIEW_W: f64 = 1200.0;
/// Room left and right of the axis, for labels of the first and last steps.
const PAD_X: f64 = 70.0;
/// Where the markers' area starts, below the tick labels.
const TOP: f64 = 40.0;
/// The least distance between two markers in one lane.
const MARK_GAP: f64 = 15.0;
/// The height of one lane of markers stacked above the axis.
const LANE_H: f64 = 16.0;
/// Most lanes; past them markers overlap in the emptiest lane.
const MAX_LANES: usize = 8;
/// From the axis down to the first row of labels' baseline.
const LABEL_TOP: f64 = 28.0;
/// The height of one row of labels.
const ROW_H: f64 = 16.0;
/// Most rows of labels; a label that finds no room is left out.
const MAX_ROWS: usize = 4;
/// The width of one character of a label, as drawn at 11 px.
const CHAR_W: f64 = 6.8;
/// The widest group of markers that one label names.
const GROUP_SPAN: f64 = 32.0;
/// Rule ids a label names before it counts the rest.
const LABEL_RULES: usize = 2;
/// Tick intervals to choose from, in seconds.
const TICKS: [u32; 21] = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
    172_800, 604_800, 2_592_000,
];
/// Most ticks on the axis.
const MAX_TICKS: f64 = 12.0;

/// Nothing may be loaded and no script run, whatever the page holds.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// The page for `t`.
pub(super) fn page(t: &Timeline) -> String {
    let title = format!("Wazuh incident timeline: {}", t.incident.info);
    let body =
        [header(t), timeline_section(&t.steps), steps_section(t), related_section(t), footer(t)]
            .concat();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{POLICY}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"wazuh-misp\">\n<title>{}</title>\n\
         <style>\n{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(&title)
    )
}

/// `s` as HTML text or a double-quoted attribute value: markup characters
/// as entities, control characters replaced by U+FFFD, characters that
/// reorder or hide text shown as `\u{202e}`-style escapes.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' | '\r' => out.push(' '),
            c if c.is_control() => out.push('\u{fffd}'),
            c if is_invisible(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The incident: info line, facts, tags and the counts.
fn header(t: &Timeline) -> String {
    let i = &t.incident;
    let level = format!(
        "<span class=\"tl {}\">{}</span>",
        threat_class(&i.threat_level),
        escape(&i.threat_level)
    );
    let facts = [
        ("MISP event", i.id.as_deref().map(escape)),
        ("uuid", Some(format!("<code>{}</code>", escape(&i.uuid)))),
        ("agent", Some(escape(&i.agent))),
        ("date", i.date.as_deref().map(escape)),
        ("threat level", Some(level)),
    ];
    let facts: String = facts
        .into_iter()
        .filter_map(|(name, v)| v.filter(|v| !v.is_empty()).map(|v| (name, v)))
        .map(|(name, v)| format!("<div><dt>{name}</dt><dd>{v}</dd></div>"))
        .collect();
    format!(
        "<header>\n<p class=\"kicker\">Wazuh incident timeline</p>\n<h1>{}</h1>\n\
         <dl class=\"facts\">{facts}</dl>\n<div class=\"tags\">{}</div>\n{}</header>\n",
        escape(&i.info),
        tags(&i.tags),
        stats(t)
    )
}

/// The counts at a glance: steps, steps that hit intel, related events,
/// and how long the incident lasted.
fn stats(t: &Timeline) -> String {
    let hits = t.steps.iter().filter(|s| !s.intel.is_empty()).count();
    let mut out = String::from("<div class=\"stats\">");
    out.push_str(&stat("", t.steps.len(), if t.steps.len() == 1 { "step" } else { "steps" }));
    out.push_str(&stat(if hits > 0 { " hit" } else { "" }, hits, "hit known intel"));
    out.push_str(&stat("", t.related.len(), "related by MISP"));
    if let Some((first, last)) = span(&t.steps) {
        out.push_str(&format!(
            "<div class=\"stat\"><b>{}</b>{} to {}</div>",
            duration(last.epoch - first.epoch),
            escape(&first.clock),
            escape(format!("{} {}", last.clock, last.zone()).trim_end()),
        ));
    }
    out.push_str("</div>\n");
    out
}

/// One count.
fn stat(class: &str, n: usize, what: &str) -> String {
    format!("<div class=\"stat{class}\"><b>{n}</b>{what}</div>")
}

/// The first and the last time of the steps that read.
fn span(steps: &[Step]) -> Option<(Moment, Moment)> {
    let firsts = steps.iter().filter_map(|s| parse_time(&s.time));
    let lasts = steps.iter().filter_map(|s| s.last_seen.as_deref().and_then(parse_time));
    let first = firsts.clone().min_by(|a, b| a.epoch.total_cmp(&b.epoch))?;
    let last = firsts.chain(lasts).max_by(|a, b| a.epoch.total_cmp(&b.epoch))?;
    Some((first, last))
}

/// `37 s`, `44 min`, `2 h 5 min`, `3 d 4 h`.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Tags as chips, coloured for TLP, threat actors and ATT&CK.
fn tags(tags: &[String]) -> String {
    tags.iter()
        .map(|t| {
            let (class, full, short) = (tag_class(t), escape(t), escape(&tag_label(t)));
            format!("<span class=\"tag {class}\" title=\"{full}\">{short}</span>")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The style class of a tag.
fn tag_class(tag: &str) -> &'static str {
    let lower = tag.trim().to_ascii_lowercase();
    match lower.as_str() {
        "tlp:red" => "tlp-red",
        "tlp:amber" | "tlp:amber+strict" => "tlp-amber",
        "tlp:green" => "tlp-green",
        "tlp:clear" | "tlp:white" => "tlp-clear",
        _ if lower.starts_with("misp-galaxy:threat-actor") => "actor",
        _ if lower.contains("attack-pattern") => "attack",
        _ => "",
    }
}

/// The style class of a MISP threat level.
fn threat_class(level: &str) -> &'static str {
    match level.trim().to_ascii_lowercase().as_str() {
        "high" => "tl-high",
        "medium" => "tl-medium",
        "low" => "tl-low",
        _ => "tl-undefined",
    }
}

/// The style class of a Wazuh rule level: 12 and up high, 7 and up
/// medium.
fn level_class(level: u64) -> &'static str {
    match level {
        12.. => "lv-high",
        7..=11 => "lv-mid",
        _ => "lv-low",
    }
}

/// The time axis: legend, drawing and caption.
fn timeline_section(steps: &[Step]) -> String {
    if steps.is_empty() {
        return format!(
            "<section class=\"timeline\">\n<h2>Timeline</h2>\n{}</section>\n",
            chart(steps)
        );
    }
    format!(
        "<section class=\"timeline\">\n<h2>Timeline</h2>\n{LEGEND}\n\
         <div class=\"scroll\">{}</div>\n\
         <p class=\"caption\">{}</p>\n</section>\n",
        chart(steps),
        escape(&caption(steps))
    )
}

/// What the legend says the shapes mean.
const LEGEND: &str = r#"<ul class="legend">
<li><svg width="14" height="14" viewBox="0 0 14 14">
<circle class="m" cx="7" cy="7" r="5.5"/></svg>step</li>
<li><svg width="16" height="16" viewBox="0 0 16 16">
<path class="m hit" d="M8 1 L15 8 L8 15 L1 8 Z"/></svg>step that hit known intel</li>
<li><svg width="28" height="14" viewBox="0 0 28 14">
<line class="bar" x1="4" y1="7" x2="24" y2="7"/></svg>repeats, first to last seen</li>
<li><b>5712, 554 +2</b> Wazuh rule ids, and how many more close by</li>
</ul>"#;

/// The line under the drawing: the time zone and the span it covers.
fn caption(steps: &[Step]) -> String {
    let Some((first, last)) = span(steps) else {
        return "The steps' times do not read as ISO 8601: they are drawn in recorded order."
            .to_string();
    };
    let end = if first.date == last.date {
        last.clock.clone()
    } else {
        format!("{} {}", last.date, last.clock)
    };
    format!(
        "Axis in UTC, from {} {} to {end} ({}). Click a marker to go to its step.",
        first.date,
        first.clock,
        duration(last.epoch - first.epoch)
    )
}

/// A step as drawn: where its marker sits and how far its repeats reach.
#[derive(Debug, Clone, PartialEq)]
struct Placed {
    /// Index into the steps.
    step: usize,
    /// The marker's centre.
    x: f64,
    /// Where the last repeat sits (`x` when there are none).
    x_end: f64,
    /// Which lane above the axis, 0 on the axis.
    lane: usize,
}

/// A label under the axis for markers close together.
#[derive(Debug, Clone, PartialEq)]
struct Label {
    /// The text: rule ids.
    text: String,
    /// Where the markers it names are centred.
    x: f64,
    /// Which row under the axis.
    row: usize,
    /// Whether one of its steps hit intel.
    hit: bool,
}

/// The time scale: the span of the steps mapped onto the drawing.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    /// The earliest time, in seconds since 1970.
    start: f64,
    /// The latest time.
    end: f64,
    /// Whether the times read at all (else they are step numbers).
    timed: bool,
}

impl Scale {
    /// The x of a time.
    fn x(&self, t: f64) -> f64 {
        PAD_X + (t - self.start) / (self.end - self.start) * (VIEW_W - 2.0 * PAD_X)
    }
}

/// The SVG drawing of the steps on a time axis.
fn chart(steps: &[Step]) -> String {
    if steps.is_empty() {
        return "<svg class=\"chart\" viewBox=\"0 0 1200 60\" role=\"img\" \
                aria-label=\"no steps\"><text class=\"empty\" x=\"600\" y=\"35\" \
                text-anchor=\"middle\">No steps recorded</text></svg>\n"
            .to_string();
    }
    let (times, scale) = step_times(steps);
    let placed = place_markers(&times, &scale);
    let labels = place_labels(steps, &placed);
    let lanes = placed.iter().map(|p| p.lane).max().unwrap_or(0);
    let rows = labels.iter().map(|l| l.row + 1).max().unwrap_or(0);
    let axis_y = TOP + 10.0 + lanes as f64 * LANE_H;
    let height = axis_y + LABEL_TOP + rows.saturating_sub(1) as f64 * ROW_H + 14.0;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {VIEW_W} {height}\" role=\"img\" \
         aria-label=\"{} on a time axis\">\n",
        plural(steps.len(), "step")
    );
    svg.push_str(&grid(&scale, axis_y));
    svg.push_str(&format!(
        "<line class=\"axis\" x1=\"{PAD_X}\" y1=\"{axis_y}\" x2=\"{}\" y2=\"{axis_y}\"/>\n",
        VIEW_W - PAD_X
    ));
    svg.push_str(&leaders(&labels, axis_y));
    svg.push_str(&markers(steps, &placed, axis_y));
    svg.push_str(&label_texts(&labels, axis_y));
    svg.push_str("</svg>\n");
    svg
}

/// Each step's first and last time in seconds, and the scale over them.
/// A time that does not read takes the one before it (or the first that
/// reads); when none reads, steps are a minute apart in recorded order.
fn step_times(steps: &[Step]) -> (Vec<(f64, f64)>, Scale) {
    let read: Vec<Option<f64>> =
        steps.iter().map(|s| parse_time(&s.time).map(|m| m.epoch)).collect();
    let first = read.iter().flatten().next().copied();
    let mut previous = first.unwrap_or(0.0);
    let mut times = Vec::with_capacity(steps.len());
    for (n, (step, t)) in steps.iter().zip(&read).enumerate() {
        let start = match (first, t) {
            (None, _) => n as f64 * 60.0,
            (Some(_), Some(t)) => *t,
            (Some(_), None) => previous,
        };
        previous = start;
        let last = step.last_seen.as_deref().and_then(parse_time).map(|m| m.epoch);
        times.push((start, last.filter(|l| *l > start).unwrap_or(start)));
    }
    let scale = scale_over(&times, first.is_some());
    (times, scale)
}

/// The scale over `times`, at least a minute wide, centred when shorter.
fn scale_over(times: &[(f64, f64)], timed: bool) -> Scale {
    let start = times.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
    let end = times.iter().map(|t| t.1).fold(f64::NEG_INFINITY, f64::max);
    if end - start >= 60.0 {
        return Scale { start, end, timed };
    }
    let middle = (start + end) / 2.0;
    Scale { start: middle - 30.0, end: middle + 30.0, timed }
}

/// Puts each marker in the lowest lane where it keeps clear of the
/// markers and repeat bars before it; past [`MAX_LANES`] in the lane that
/// frees up first.
fn place_markers(times: &[(f64, f64)], scale: &Scale) -> Vec<Placed> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|a, b| times[*a].0.total_cmp(&times[*b].0));
    let mut lane_end: Vec<f64> = Vec::new();
    let mut placed = Vec::with_capacity(times.len());
    for step in order {
        let (x, x_end) = (scale.x(times[step].0), scale.x(times[step].1));
        let free = lane_end.iter().position(|end| end + MARK_GAP <= x);
        let lane = match free {
            Some(lane) => lane,
            None if lane_end.len() < MAX_LANES => {
                lane_end.push(f64::NEG_INFINITY);
                lane_end.len() - 1
            }
            None => emptiest(&lane_end),
        };
        lane_end[lane] = lane_end[lane].max(x_end);
        placed.push(Placed { step, x, x_end, lane });
    }
    placed
}

/// The lane whose last marker is furthest left.
fn emptiest(lane_end: &[f64]) -> usize {
    let mut best = 0;
    for (lane, end) in lane_end.iter().enumerate() {
        if *end < lane_end[best] {
            best = lane;
        }
    }
    best
}

/// One label for each group of markers that touch, in the first row under
/// the axis where it keeps clear of the others; left out when no row has
/// room (the table below still lists every step).
fn place_labels(steps: &[Step], placed: &[Placed]) -> Vec<Label> {
    let mut row_end: Vec<f64> = Vec::new();
    let mut labels = Vec::new();
    for group in groups(placed) {
        let text = label_text(steps, group);
        let x = (group[0].x + group[group.len() - 1].x) / 2.0;
        let width = text.chars().count() as f64 * CHAR_W + 6.0;
        let left = (x - width / 2.0).clamp(2.0, VIEW_W - 2.0 - width);
        let free = row_end.iter().position(|end| end + 6.0 <= left);
        let row = match free {
            Some(row) => row,
            None if row_end.len() < MAX_ROWS => {
                row_end.push(f64::NEG_INFINITY);
                row_end.len() - 1
            }
            None => continue,
        };
        row_end[row] = left + width;
        let hit = group.iter().any(|p| !steps[p.step].intel.is_empty());
        labels.push(Label { text, x: left + width / 2.0, row, hit });
    }
    labels
}

/// Runs of markers, in x order, each closer than [`MARK_GAP`] to the one
/// before it and none further than [`GROUP_SPAN`] from the first, so that
/// a long chain of close markers still gets several labels.
fn groups(placed: &[Placed]) -> Vec<&[Placed]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for n in 1..=placed.len() {
        if n == placed.len()
            || placed[n].x - placed[n - 1].x >= MARK_GAP
            || placed[n].x - placed[start].x >= GROUP_SPAN
        {
            groups.push(&placed[start..n]);
            start = n;
        }
    }
    groups
}

/// `5712`, `5712, 40112`, `554, 92000 +3`: the distinct rule ids of a
/// group of markers.
fn label_text(steps: &[Step], group: &[Placed]) -> String {
    let mut rules: Vec<&str> = Vec::new();
    for p in group {
        let rule = steps[p.step].rule_id.as_str();
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    let shown = rules[..rules.len().min(LABEL_RULES)].join(", ");
    match rules.len().saturating_sub(LABEL_RULES) {
        0 => shown,
        more => format!("{shown} +{more}"),
    }
}

/// Vertical grid lines at round times, labelled above the markers.
fn grid(scale: &Scale, axis_y: f64) -> String {
    let mut out = String::new();
    if !scale.timed {
        return out;
    }
    for (t, label) in ticks(scale) {
        let x = scale.x(t);
        out.push_str(&format!(
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"22\" x2=\"{x:.1}\" y2=\"{axis_y}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"16\" text-anchor=\"middle\">{label}</text>\n"
        ));
    }
    out
}

/// Round times across the scale, at most [`MAX_TICKS`], with their labels
/// in UTC: seconds when ticks are less than a minute apart, the date where
/// a day starts when the scale spans days.
fn ticks(scale: &Scale) -> Vec<(f64, String)> {
    let span = scale.end - scale.start;
    let every = TICKS.iter().map(|i| f64::from(*i)).find(|i| span / i <= MAX_TICKS);
    let every = every.unwrap_or(2_592_000.0);
    let days_differ = day_of(scale.start) != day_of(scale.end);
    let mut ticks = Vec::new();
    let mut t = (scale.start / every).ceil() * every;
    let mut last_day = None;
    while t <= scale.end {
        let day = day_of(t);
        let with_date = every >= 86_400.0 || (days_differ && last_day != Some(day));
        ticks.push((t, tick_label(t, every, with_date)));
        last_day = Some(day);
        t += every;
    }
    ticks
}

/// Days since 1970 of a time in seconds.
fn day_of(t: f64) -> i64 {
    (t / 86_400.0).floor() as i64
}

/// `09:14`, `09:14:30`, `11-18 09:14` or `11-18`.
fn tick_label(t: f64, every: f64, with_date: bool) -> String {
    let day = day_of(t);
    let (_, month, date) = civil_from_days(day);
    let seconds = (t - day as f64 * 86_400.0).round() as i64;
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let clock =
        if every < 60.0 { format!("{h:02}:{m:02}:{s:02}") } else { format!("{h:02}:{m:02}") };
    match (every >= 86_400.0, with_date) {
        (true, _) => format!("{month:02}-{date:02}"),
        (false, true) => format!("{month:02}-{date:02} {clock}"),
        (false, false) => clock,
    }
}

/// Dotted lines from the axis down to each label.
fn leaders(labels: &[Label], axis_y: f64) -> String {
    labels
        .iter()
        .map(|l| {
            let bottom = axis_y + LABEL_TOP + l.row as f64 * ROW_H - 10.0;
            format!(
                "<line class=\"leader\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>\n",
                axis_y + 7.0,
                x = l.x
            )
        })
        .collect()
}

/// The labels' texts.
fn label_texts(labels: &[Label], axis_y: f64) -> String {
    labels
        .iter()
        .map(|l| {
            let class = if l.hit { "label hit" } else { "label" };
            format!(
                "<text class=\"{class}\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                l.x,
                axis_y + LABEL_TOP + l.row as f64 * ROW_H,
                escape(&l.text)
            )
        })
        .collect()
}

/// Repeat bars first, then the markers over them: a circle per step, a
/// diamond for a step that hit intel, each linking to its row.
fn markers(steps: &[Step], placed: &[Placed], axis_y: f64) -> String {
    let mut bars = String::new();
    let mut marks = String::new();
    for p in placed {
        let step = &steps[p.step];
        let y = axis_y - p.lane as f64 * LANE_H;
        let hit = !step.intel.is_empty();
        if p.x_end - p.x >= 1.0 {
            let class = if hit { "bar hit" } else { "bar" };
            bars.push_str(&format!(
                "<line class=\"{class}\" x1=\"{:.1}\" y1=\"{y}\" x2=\"{:.1}\" y2=\"{y}\"/>\n",
                p.x, p.x_end
            ));
        }
        marks.push_str(&marker(step, p.step + 1, p.x, y));
    }
    bars + &marks
}

/// One marker, with its step as a tooltip.
fn marker(step: &Step, n: usize, x: f64, y: f64) -> String {
    let shape = if step.intel.is_empty() {
        format!("<circle class=\"m\" data-step=\"{n}\" cx=\"{x:.1}\" cy=\"{y}\" r=\"6\">")
    } else {
        format!(
            "<path class=\"m hit\" data-step=\"{n}\" \
             d=\"M{x:.1} {} L{:.1} {y} L{x:.1} {} L{:.1} {y} Z\">",
            y - 8.0,
            x + 8.0,
            y + 8.0,
            x - 8.0
        )
    };
    let close = if step.intel.is_empty() { "</circle>" } else { "</path>" };
    let tip: Vec<String> = tooltip(step, n).iter().map(|line| escape(line)).collect();
    format!("<a href=\"#step-{n}\">{shape}<title>{}</title>{close}</a>\n", tip.join("\n"))
}

/// What hovering over a marker tells, line by line.
fn tooltip(step: &Step, n: usize) -> Vec<String> {
    let mut lines = vec![
        format!("#{n} {}", show_time(&step.time)),
        format!("{} {}", rule_words(step), step.rule_description),
    ];
    if !step.observation.is_empty() {
        lines.push(step.observation.clone());
    }
    if step.count > 1 {
        lines.push(format!("x{}", step.count));
    }
    for hit in &step.intel {
        lines.push(format!("intel: {} \"{}\"", intel_source(hit), hit.event_info));
    }
    lines
}

/// The table of steps, one row each.
fn steps_section(t: &Timeline) -> String {
    if t.steps.is_empty() {
        return "<section class=\"steps\">\n<h2>Steps</h2>\n\
                <p class=\"none\">No steps recorded.</p>\n\
                </section>\n"
            .to_string();
    }
    let day = t.incident.date.as_deref();
    let order = match day {
        Some(day) => format!("in time order, on {} unless dated", escape(day)),
        None => "in time order".to_string(),
    };
    let rows: String = t.steps.iter().enumerate().map(|(n, s)| step_row(s, n + 1, day)).collect();
    format!(
        "<section class=\"steps\">\n<h2>Steps <span class=\"sub\">{order}</span></h2>\n\
         <div class=\"scroll\"><table>\n<colgroup><col class=\"c-n\"><col class=\"c-time\">\
         <col class=\"c-rule\"><col class=\"c-level\"><col class=\"c-obs\"><col class=\"c-values\">\
         <col class=\"c-intel\">\
         </colgroup>\n<thead><tr><th>#</th><th>Time</th><th>Rule</th><th>Level</th>\
         <th>Observation</th><th>Values</th><th>Intel</th></tr></thead>\n<tbody>\n{rows}</tbody>\n\
         </table></div>\n</section>\n"
    )
}

/// One step's row; `day` is the incident's date.
fn step_row(step: &Step, n: usize, day: Option<&str>) -> String {
    let class = if step.intel.is_empty() { "" } else { " class=\"hit\"" };
    format!(
        "<tr id=\"step-{n}\"{class} data-time=\"{}\" data-rule=\"{}\">\n<td class=\"n\">{n}</td>\
         <td class=\"time\">{}</td>\n<td class=\"rule\"><span class=\"rule-id\">{}</span> \
         <span class=\"desc\">{}</span></td>\n\
         <td class=\"level\"><span class=\"lv {}\">{}</span></td>\n<td class=\"obs\">{}</td>\n\
         <td class=\"values\">{}</td>\n<td class=\"intel\">{}</td>\n</tr>\n",
        escape(&step.time),
        escape(&step.rule_id),
        time_cell(step, day),
        escape(&step.rule_id),
        escape(&step.rule_description),
        level_class(step.rule_level),
        step.rule_level,
        escape(&step.observation),
        values_cell(step),
        intel_cell(step)
    )
}

/// The time, its date under it unless it is `day`, and the repeats.
fn time_cell(step: &Step, day: Option<&str>) -> String {
    let first = parse_time(&step.time);
    let mut out = match &first {
        Some(m) => {
            let date = if day == Some(m.date.as_str()) {
                String::new()
            } else {
                format!("<span class=\"date\">{}</span>", escape(&m.date))
            };
            format!(
                "<span class=\"clock\">{}</span> <span class=\"zone\">{}</span>{date}",
                escape(&m.clock),
                escape(&m.zone())
            )
        }
        None => format!("<span class=\"clock\">{}</span>", escape(&step.time)),
    };
    if step.count > 1 {
        out.push_str(&format!("<span class=\"repeat\">&times;{}</span>", step.count));
    }
    if let Some(last) = step.last_seen.as_deref().filter(|l| *l != step.time) {
        out.push_str(&format!(
            "<span class=\"last\">last seen {}</span>",
            escape(&last_seen(first.as_ref(), last))
        ));
    }
    out
}

/// The last seen time, without its date when that is the first's.
fn last_seen(first: Option<&Moment>, last: &str) -> String {
    match (first, parse_time(last)) {
        (Some(f), Some(l)) if f.date == l.date => {
            format!("{} {}", l.clock, l.zone()).trim_end().to_string()
        }
        _ => show_time(last),
    }
}

/// The values, the ones that hit intel marked.
fn values_cell(step: &Step) -> String {
    step.values
        .iter()
        .map(|v| {
            let hit = step.intel.iter().any(|h| h.value == v.value);
            format!(
                "<div class=\"value{}\"><span class=\"kind\">{}</span> <code>{}</code></div>",
                if hit { " matched" } else { "" },
                escape(v.label()),
                escape(&v.value)
            )
        })
        .collect()
}

/// The intel the step's values hit, one box per intel event.
fn intel_cell(step: &Step) -> String {
    hits_by_event(step).iter().map(|hits| intel_event(step, hits)).collect()
}

/// One intel event that values of `step` hit: the event, what matched,
/// threat level, actors, tags.
fn intel_event(step: &Step, hits: &[&IntelHit]) -> String {
    let Some(hit) = hits.first() else {
        return String::new();
    };
    let matched: Vec<String> = hits
        .iter()
        .map(|h| match value_kind(step, &h.value) {
            Some(kind) => escape(kind),
            None => format!("<code>{}</code>", escape(&h.value)),
        })
        .collect();
    let mut meta = vec![format!("{} matched", matched.join(", "))];
    meta.extend(intel_details(hit).iter().take(2).map(|d| escape(d)));
    let info = if hit.event_info.is_empty() {
        String::new()
    } else {
        format!("<div class=\"info\">{}</div>", escape(&hit.event_info))
    };
    format!(
        "<div class=\"hit\"><div class=\"src\">! {}</div>{info}<div class=\"meta\">{}</div>\
         <div class=\"tags\">{}</div></div>",
        escape(&intel_source(hit)),
        meta.join(" &middot; "),
        tags(&hit.tags)
    )
}

/// The events MISP's correlation links to the incident.
fn related_section(t: &Timeline) -> String {
    let body = if t.related.is_empty() {
        "<p class=\"none\">No related events.</p>\n".to_string()
    } else {
        let items: String =
            t.related.iter().enumerate().map(|(n, r)| related_item(r, n + 1)).collect();
        format!("<ul>\n{items}</ul>\n")
    };
    format!(
        "<section class=\"related\">\n<h2>Related events <span class=\"sub\">(MISP correlation)\
         </span></h2>\n{body}</section>\n"
    )
}

/// One related event.
fn related_item(r: &RelatedEvent, n: usize) -> String {
    let id = r.id.as_deref().or(r.uuid.as_deref()).unwrap_or("");
    let mut facts = related_facts(r);
    if let (Some(_), Some(uuid)) = (&r.id, &r.uuid) {
        facts.push(format!("uuid {uuid}"));
    }
    let facts: Vec<String> = facts.iter().map(|f| escape(f)).collect();
    let shared: Vec<String> =
        r.shared_values.iter().map(|v| format!("<code>{}</code>", escape(v))).collect();
    format!(
        "<li id=\"related-{n}\"><div class=\"ev\"><b>MISP event {}</b> {}</div>\
         <div class=\"meta\">{}</div><div class=\"shared\">shares {}</div></li>\n",
        escape(id),
        escape(&r.info),
        facts.join(" &middot; "),
        if shared.is_empty() { "no listed value".to_string() } else { shared.join(" ") }
    )
}

/// Where the page came from.
fn footer(t: &Timeline) -> String {
    format!(
        "<footer>Generated by wazuh-misp from MISP event <code>{}</code>: {}.</footer>\n",
        escape(&t.incident.uuid),
        escape(&summary(t))
    )
}

/// The page's style: system fonts only, colours kept when printed.
const STYLE: &str = r#":root { --ink: #1d2430; --muted: #5b6577; --line: #d9dee7; --panel: #f5f7fa;
  --step: #2f6db5; --hit: #c0262d; --hit-bg: #fdeeee; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0 auto; max-width: 1240px; padding: 20px 20px 40px; color: var(--ink);
  background: #fff; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
  "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
h1 { font-size: 22px; margin: 2px 0 10px; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 26px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h2 .sub { font-weight: normal; color: var(--muted); font-size: 14px; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono",
  "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.kicker { margin: 0; text-transform: uppercase; letter-spacing: .08em; font-size: 12px;
  color: var(--muted); }
.facts { display: flex; flex-wrap: wrap; gap: 4px 28px; margin: 0 0 8px; }
.facts div { display: flex; gap: 8px; align-items: baseline; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.tags { display: flex; flex-wrap: wrap; gap: 4px; margin: 4px 0; }
.tag { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px;
  background: #e9edf3; border: 1px solid #d3d9e3; overflow-wrap: anywhere; }
.tag.tlp-red { background: #ff2b2b; border-color: #cc1f1f; color: #fff; }
.tag.tlp-amber { background: #ffc000; border-color: #d9a300; color: #000; }
.tag.tlp-green { background: #33a532; border-color: #2a8a29; color: #fff; }
.tag.tlp-clear { background: #fff; border-color: #8a93a3; color: #000; }
.tag.actor { background: #fde3e4; border-color: #f2b8bb; color: #8c1d22; font-weight: 600; }
.tag.attack { background: #eceffb; border-color: #cfd4f3; color: #2c3a8c; }
.stats { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 12px; }
.stat { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 6px 14px; color: var(--muted); }
.stat b { display: block; font-size: 20px; color: var(--ink); }
.stat.hit { background: var(--hit-bg); border-color: #f2b8bb; color: var(--hit); }
.stat.hit b { color: var(--hit); }
.tl { padding: 0 6px; border-radius: 3px; color: #fff; }
.tl-high { background: var(--hit); }
.tl-medium { background: #d9780f; }
.tl-low { background: #3d8b40; }
.tl-undefined { background: #8a93a3; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 22px; list-style: none; padding: 0;
  margin: 0 0 6px; color: var(--muted); font-size: 13px; }
.legend svg { vertical-align: middle; margin-right: 5px; }
.legend b { color: var(--ink); margin-right: 4px; font-size: 12px; }
svg .m { fill: var(--step); stroke: #fff; stroke-width: 1.5; }
svg .m.hit { fill: var(--hit); stroke: #5e0f13; stroke-width: 1; }
svg .bar { stroke: #a9c3e3; stroke-width: 6; stroke-linecap: round; }
svg .bar.hit { stroke: #eeaaad; }
.scroll { overflow-x: auto; }
.scroll .chart { min-width: 760px; }
.scroll table { min-width: 900px; }
.chart { display: block; width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 6px; background: #fbfcfe; }
.chart text { font-size: 11px; fill: var(--muted); }
.chart .grid { stroke: #e3e7ee; stroke-width: 1; }
.chart .axis { stroke: #7d8796; stroke-width: 1.5; }
.chart .leader { stroke: #b3bcc8; stroke-width: 1; stroke-dasharray: 2 2; }
.chart .label { fill: var(--ink); font-weight: 600; paint-order: stroke; stroke: #fbfcfe;
  stroke-width: 4px; stroke-linejoin: round; }
.chart .label.hit { fill: var(--hit); }
.chart .empty { font-size: 14px; font-style: italic; }
.chart a:hover .m { stroke: #000; stroke-width: 2; }
.caption { color: var(--muted); font-size: 12.5px; margin: 6px 0 0; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
col.c-n { width: 3%; } col.c-time { width: 10%; } col.c-rule { width: 22%; }
col.c-level { width: 6%; } col.c-obs { width: 17%; } col.c-values { width: 22%; }
col.c-intel { width: 20%; }
th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .03em;
  color: var(--muted); border-bottom: 2px solid var(--line); padding: 6px 8px; }
td { vertical-align: top; padding: 7px 8px; border-bottom: 1px solid var(--line);
  overflow-wrap: break-word; }
td code { overflow-wrap: anywhere; }
tr.hit td { background: var(--hit-bg); }
tr.hit td:first-child { box-shadow: inset 4px 0 0 var(--hit); }
tr:target td { background: #fff4cc; }
td.n { color: var(--muted); }
.time .clock { font-weight: 600; white-space: nowrap; }
.time .zone { color: var(--muted); font-size: 12px; }
.time .date, .time .last { display: block; color: var(--muted); font-size: 12px; }
.repeat { display: block; width: fit-content; margin-top: 2px; padding: 0 5px; border-radius: 3px;
  background: #e1ebf8; color: #1f4f8a; font-size: 12px; font-weight: 600; }
.rule-id { font-weight: 700; }
.lv { display: inline-block; min-width: 2.2em; text-align: center; border-radius: 3px;
  font-weight: 600; }
.lv-low { background: #e9edf3; }
.lv-mid { background: #ffe2b8; color: #7a4300; }
.lv-high { background: #f9c6c8; color: #8c1d22; }
.values .value { margin: 1px 0; }
.values .kind { color: var(--muted); font-size: 12px; }
.values .matched code { background: #f9c6c8; color: #7a1419; border-radius: 3px;
  padding: 0 3px; font-weight: 600; }
.intel .hit + .hit { margin-top: 8px; }
.intel .src { color: var(--hit); font-weight: 700; }
.intel .meta { color: var(--muted); font-size: 12px; }
.none { color: var(--muted); font-style: italic; }
.related ul { list-style: none; padding: 0; margin: 0; }
.related li { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px;
  margin-bottom: 8px; background: var(--panel); overflow-wrap: anywhere; }
.related .meta { color: var(--muted); font-size: 12.5px; }
footer { margin-top: 30px; padding-top: 8px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 12px; }
@page { size: landscape; margin: 10mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-after: avoid; }
  tr, .related li, .chart { break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
  tr:target td { background: inherit; }
  .scroll { overflow: visible; }
  .scroll .chart, .scroll table { min-width: 0; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::model::Value;

    fn step(time: &str, rule: &str) -> Step {
        Step {
            time: time.into(),
            last_seen: None,
            agent: "021 FIN-APP-01".into(),
            rule_id: rule.into(),
            rule_level: 5,
            rule_description: "a rule".into(),
            alert_id: "1".into(),
            observation: "x".into(),
            values: vec![Value {
                kind: "ip-src".into(),
                value: "203.0.113.45".into(),
                relation: None,
            }],
            count: 1,
            intel: Vec::new(),
        }
    }

    /// Two hundred steps: a burst of 150 in three minutes, then the rest
    /// spread over an hour.
    fn crowded() -> Vec<Step> {
        let burst = (0..150).map(|n| {
            step(
                &format!("2026-11-18T09:{:02}:{:02}Z", 10 + n / 60, n % 60),
                &format!("57{:02}", n % 9),
            )
        });
        let spread = (0..50).map(|n| {
            step(&format!("2026-11-18T{:02}:{:02}:00Z", 9 + (13 + n) / 60, (13 + n) % 60), "92000")
        });
        burst.chain(spread).collect()
    }

    /// Each label's left and right edge, by row.
    fn extents(labels: &[Label]) -> Vec<(usize, f64, f64)> {
        let half = |l: &Label| (l.text.chars().count() as f64 * CHAR_W + 6.0) / 2.0;
        labels.iter().map(|l| (l.row, l.x - half(l), l.x + half(l))).collect()
    }

    #[test]
    fn escaping_leaves_no_markup_and_no_control_characters() {
        let hostile = "<script>alert('x')</script> & \"q\" \u{0}\u{1b}[31m\u{202e}gpj.exe";
        assert_eq!(
            escape(hostile),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; \
             \u{fffd}\u{fffd}[31m\\u{202e}gpj.exe"
        );
        assert_eq!(escape("a\nb\tc"), "a b c");
        assert_eq!(escape("Grüße, 東京"), "Grüße, 東京");
    }

    #[test]
    fn labels_in_one_row_never_overlap_even_with_two_hundred_steps() {
        let steps = crowded();
        let (times, scale) = step_times(&steps);
        let placed = place_markers(&times, &scale);
        let labels = place_labels(&steps, &placed);
        assert!(labels.len() >= 10, "{labels:?}");
        assert!(labels.iter().all(|l| l.row < MAX_ROWS));
        let extents = extents(&labels);
        for (n, a) in extents.iter().enumerate() {
            for b in &extents[n + 1..] {
                assert!(a.0 != b.0 || a.2 <= b.1 || b.2 <= a.1, "{a:?} overlaps {b:?}");
            }
        }
        assert!(extents.iter().all(|e| e.1 >= 0.0 && e.2 <= VIEW_W));
    }

    #[test]
    fn every_step_has_a_marker_on_the_drawing_even_when_crowded() {
        let steps = crowded();
        let svg = chart(&steps);
        for n in 1..=steps.len() {
            assert!(svg.contains(&format!(" data-step=\"{n}\" ")), "marker {n}");
        }
        let (times, scale) = step_times(&steps);
        let placed = place_markers(&times, &scale);
        assert!(placed.iter().all(|p| p.lane < MAX_LANES && p.x >= PAD_X && p.x <= VIEW_W - PAD_X));
    }

    #[test]
    fn markers_at_one_time_stack_in_lanes_above_the_axis() {
        let steps: Vec<Step> = (0..6).map(|_| step("2026-11-18T09:14:02Z", "5712")).collect();
        let (times, scale) = step_times(&steps);
        let lanes: Vec<usize> = place_markers(&times, &scale).iter().map(|p| p.lane).collect();
        assert_eq!(lanes, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn markers_far_enough_apart_share_the_axis() {
        let steps: Vec<Step> =
            (0..6).map(|n| step(&format!("2026-11-18T09:14:0{n}Z"), "5712")).collect();
        let (times, scale) = step_times(&steps);
        let lanes: Vec<usize> = place_markers(&times, &scale).iter().map(|p| p.lane).collect();
        assert_eq!(lanes, vec![0; 6]);
    }

    #[test]
    fn a_repeat_bar_keeps_its_lane_until_the_last_repeat() {
        let mut steps = vec![
            step("2026-11-18T09:00:00Z", "5712"),
            step("2026-11-18T09:30:00Z", "40112"),
            step("2026-11-18T10:00:00Z", "554"),
        ];
        steps[0].last_seen = Some("2026-11-18T09:45:00Z".into());
        let (times, scale) = step_times(&steps);
        let lanes: Vec<usize> = place_markers(&times, &scale).iter().map(|p| p.lane).collect();
        assert_eq!(lanes, vec![0, 1, 0]);
    }

    #[test]
    fn ticks_fall_on_round_times_and_name_the_day_when_the_span_crosses_midnight() {
        let start = 1_794_993_242.0; // 2026-11-18 09:14:02 UTC
        let scale = Scale { start, end: start + 44.0 * 60.0, timed: true };
        let labels: Vec<String> = ticks(&scale).into_iter().map(|t| t.1).collect();
        let expected =
            ["09:15", "09:20", "09:25", "09:30", "09:35", "09:40", "09:45", "09:50", "09:55"];
        assert_eq!(labels, expected);
        let start = 1_795_044_600.0; // 2026-11-18 23:30 UTC
        let night = Scale { start, end: start + 4.0 * 3600.0, timed: true };
        let labels: Vec<String> = ticks(&night).into_iter().map(|t| t.1).collect();
        assert_eq!(labels[0], "11-18 23:30");
        assert!(labels.contains(&"11-19 00:00".to_string()), "{labels:?}");
        assert!(labels.contains(&"01:00".to_string()), "{labels:?}");
    }

    #[test]
    fn durations_read_in_the_largest_sensible_unit() {
        assert_eq!(duration(37.0), "37 s");
        assert_eq!(duration(44.0 * 60.0 + 8.0), "44 min");
        assert_eq!(duration(7500.0), "2 h 5 min");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3 d 4 h");
    }

    #[test]
    fn steps_whose_time_does_not_read_are_drawn_in_recorded_order() {
        let steps = vec![step("soon", "1"), step("later", "2")];
        let (times, scale) = step_times(&steps);
        assert!(!scale.timed);
        assert!(times[0].0 < times[1].0);
        assert!(!chart(&steps).contains("class=\"tick\""));
        assert!(caption(&steps).contains("recorded order"));
    }
}
