//! The HTML timeline as a browser shows it. The page of a made-up
//! intrusion (an SSH brute force, a login, a dropper that is known intel,
//! its DNS look-ups and connections to its C2) is written to a temporary
//! directory and opened by real headless Chromium, `/usr/bin/chromium`:
//! once to dump the DOM it built, once to take a screenshot.
//!
//! Chromium is required, not optional: when it is missing the tests fail
//! and name the command that installs it (`apt-get update && apt-get
//! install -y chromium fonts-dejavu-core`). Each run of the browser is
//! given 60 seconds, then killed with every process it started.
//!
//! Set `WAZUH_MISP_SCREENSHOT_OUT` to a path to keep the screenshot there
//! (`WAZUH_MISP_SCREENSHOT_OUT=learning/timeline-screenshot.png`).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::BufReader;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use wazuh_misp::timeline::model::{Incident, IntelHit, RelatedEvent, Step, Timeline, Value};
use wazuh_misp::timeline::render;

/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// What installs it.
const INSTALL: &str = "apt-get update && apt-get install -y chromium fonts-dejavu-core";

/// How long one run of the browser may take.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Where a kept screenshot goes.
const SCREENSHOT_OUT: &str = "WAZUH_MISP_SCREENSHOT_OUT";

/// The dropper's hash, known intel.
const DROPPER_SHA256: &str = "9c4e2b7a1f0d3e58a6b9c2d4e7f10a3b5c8d9e2f4a6b7c1d3e5f7a9b0c2d4e6f";

/// The dropper's C2.
const C2_IP: &str = "198.51.100.77";
const C2_DOMAIN: &str = "cdn-telemetry.example.net";

/// The brute force source.
const SCANNER_IP: &str = "203.0.113.45";

const AGENT: &str = "021 FIN-APP-01";

/// The intel event that the dropper and its C2 hit.
fn glass_heron(value: &str) -> IntelHit {
    IntelHit {
        value: value.into(),
        event_id: Some("17".into()),
        event_uuid: Some("5d1c2a9e-3f4b-4c8d-9e0f-1a2b3c4d5e6f".into()),
        event_info: "Glass Heron: svchost-update dropper and its C2".into(),
        threat_level: "high".into(),
        threat_actors: vec!["Glass Heron".into()],
        tags: vec![
            "tlp:amber".into(),
            "misp-galaxy:mitre-attack-pattern=\"Application Layer Protocol - T1071\"".into(),
        ],
    }
}

/// One step on the agent; `values` as `type value` pairs.
fn step(time: &str, rule: (&str, u64, &str), observation: &str, values: &[(&str, &str)]) -> Step {
    Step {
        time: format!("2026-11-18T{time}+00:00"),
        last_seen: None,
        agent: AGENT.into(),
        rule_id: rule.0.into(),
        rule_level: rule.1,
        rule_description: rule.2.into(),
        alert_id: format!("1794993242.{}", time.replace(':', "")),
        observation: observation.into(),
        values: values
            .iter()
            .map(|(k, v)| Value { kind: (*k).into(), value: (*v).into(), relation: None })
            .collect(),
        count: 1,
        intel: Vec::new(),
    }
}

/// `step` repeated `count` times until `last`.
fn repeated(mut step: Step, count: u64, last: &str) -> Step {
    step.count = count;
    step.last_seen = Some(format!("2026-11-18T{last}+00:00"));
    step
}

/// `step` with the intel its `values` hit.
fn hitting(mut step: Step, values: &[&str]) -> Step {
    step.intel = values.iter().map(|v| glass_heron(v)).collect();
    step
}

const BRUTE_FORCE: (&str, u64, &str) =
    ("5712", 10, "sshd: brute force trying to get access to the system. Non existent user.");
const LOGIN: (&str, u64, &str) =
    ("40112", 12, "Multiple authentication failures followed by a success.");
const FILE_ADDED: (&str, u64, &str) = ("554", 5, "File added to the system.");
const FILE_CHANGED: (&str, u64, &str) = ("550", 7, "Integrity checksum changed.");
const FILE_DELETED: (&str, u64, &str) = ("553", 7, "File deleted.");
const PROCESS: (&str, u64, &str) = ("61603", 3, "Sysmon - Event 1: Process creation.");
const CONNECTION: (&str, u64, &str) = ("61605", 3, "Sysmon - Event 3: Network connection.");
const DNS: (&str, u64, &str) = ("61650", 3, "Sysmon - Event 22: DNS query.");
const USER_ADDED: (&str, u64, &str) = ("60109", 8, "User account enabled or created.");

/// The twelve steps of the intrusion, in time order.
fn steps() -> Vec<Step> {
    let dropper = "file C:\\ProgramData\\svchost-update.exe";
    vec![
        repeated(
            step(
                "09:14:02",
                BRUTE_FORCE,
                "authentication-failure-report",
                &[("ip-src", SCANNER_IP)],
            ),
            37,
            "09:20:41",
        ),
        step("09:21:30", LOGIN, "authentication deploy", &[("ip-src", SCANNER_IP)]),
        hitting(
            step(
                "09:23:10",
                FILE_ADDED,
                dropper,
                &[("sha256", DROPPER_SHA256), ("md5", "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e")],
            ),
            &[DROPPER_SHA256],
        ),
        hitting(
            step(
                "09:23:12",
                PROCESS,
                "process svchost-update.exe -k netsvc",
                &[("sha256", DROPPER_SHA256), ("imphash", "b7d3e1f9a2c4e6b8d0f2a4c6e8b0d2f4")],
            ),
            &[DROPPER_SHA256],
        ),
        hitting(
            step("09:23:14", DNS, "dns-record", &[("domain", C2_DOMAIN), ("ip-dst", C2_IP)]),
            &[C2_DOMAIN, C2_IP],
        ),
        hitting(
            repeated(
                step(
                    "09:23:15",
                    CONNECTION,
                    "network-connection 198.51.100.77:443",
                    &[("ip-dst", C2_IP)],
                ),
                14,
                "09:36:15",
            ),
            &[C2_IP],
        ),
        step(
            "09:31:40",
            PROCESS,
            "process cmd.exe /c whoami /all",
            &[("sha256", "1e8b5f3a7c9d2e4f6a8b0c1d3e5f7a9b2c4d6e8f0a1b3c5d7e9f2a4b6c8d0e1f")],
        ),
        step(
            "09:33:05",
            FILE_CHANGED,
            "file C:\\Windows\\System32\\drivers\\etc\\hosts",
            &[("sha256", "a0c2e4f6b8d1f3a5c7e9b2d4f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6")],
        ),
        step("09:38:20", USER_ADDED, "user-account svc-update", &[("target-user", "svc-update")]),
        repeated(
            step(
                "09:44:30",
                BRUTE_FORCE,
                "authentication-failure-report",
                &[("ip-src", SCANNER_IP)],
            ),
            12,
            "09:49:10",
        ),
        hitting(
            step(
                "09:55:12",
                CONNECTION,
                "network-connection 198.51.100.77:8443",
                &[("ip-dst", C2_IP)],
            ),
            &[C2_IP],
        ),
        step("09:58:40", FILE_DELETED, dropper, &[]),
    ]
}

/// The incident: the agent's day in MISP, with what correlation links to it.
fn incident() -> Timeline {
    Timeline {
        incident: Incident {
            id: Some("42".into()),
            uuid: "0b9f4c6e-8d1a-4f5b-9a63-2c7e1d4b5a90".into(),
            info: "Wazuh incident: agent 021 FIN-APP-01, 2026-11-18".into(),
            date: Some("2026-11-18".into()),
            threat_level: "high".into(),
            agent: AGENT.into(),
            tags: vec![
                "tlp:amber".into(),
                "wazuh:agent-id=\"021\"".into(),
                "misp-galaxy:mitre-attack-pattern=\"Brute Force - T1110\"".into(),
                "misp-galaxy:threat-actor=\"Glass Heron\"".into(),
            ],
        },
        steps: steps(),
        related: vec![
            RelatedEvent {
                id: Some("9".into()),
                uuid: Some("7e6d5c4b-3a29-4817-9605-f4e3d2c1b0a9".into()),
                info: "SSH scanning botnet".into(),
                org: Some("CIRCL".into()),
                date: Some("2026-10-02".into()),
                shared_values: vec![SCANNER_IP.into()],
            },
            RelatedEvent {
                id: Some("17".into()),
                uuid: Some("5d1c2a9e-3f4b-4c8d-9e0f-1a2b3c4d5e6f".into()),
                info: "Glass Heron: svchost-update dropper and its C2".into(),
                org: Some("Example CERT".into()),
                date: Some("2026-11-02".into()),
                shared_values: vec![DROPPER_SHA256.into(), C2_DOMAIN.into(), C2_IP.into()],
            },
        ],
    }
}

/// The page written to a fresh directory, which also holds the browser's
/// profiles and output.
struct Page {
    /// The directory, removed when the page is dropped.
    dir: TempDir,
    /// The page's `file://` URL.
    url: String,
}

/// The incident's page, written to a fresh directory.
fn written_page() -> Page {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let path = dir.path().join("timeline.html");
    fs::write(&path, render::html(&incident())).expect("writing the page");
    let url = format!("file://{}", path.display());
    Page { dir, url }
}

/// Runs Chromium headless on `page` with `args`, in a fresh profile named
/// `run`, and returns what it printed. Fails when Chromium is missing,
/// fails, or takes longer than [`RUN_LIMIT`].
fn chromium(page: &Page, run: &str, args: &[&str]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: these tests need Debian's Chromium, install it with `{INSTALL}`"
    );
    let profile = page.dir.path().join(format!("profile-{run}"));
    let out = page.dir.path().join(format!("{run}.stdout"));
    let err = page.dir.path().join(format!("{run}.stderr"));
    let mut command = Command::new(CHROMIUM);
    command
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(&page.url)
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("creating the browser's stdout"))
        .stderr(File::create(&err).expect("creating the browser's stderr"))
        // Its own process group, so that a browser that fails or runs past
        // its time is killed with every process it forked.
        .process_group(0);
    let child = command.spawn().unwrap_or_else(|e| panic!("starting {CHROMIUM}: {e}"));
    wait_bounded(child, run, &err);
    fs::read_to_string(&out).expect("reading the browser's stdout")
}

/// Waits for the browser run `run` to exit successfully within
/// [`RUN_LIMIT`]; otherwise kills its process group and fails with the
/// end of its log `err`.
fn wait_bounded(mut child: Child, run: &str, err: &Path) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the browser") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {run}: still running after {RUN_LIMIT:?}, killed\n{}", tail(err));
        }
        thread::sleep(Duration::from_millis(100));
    };
    if !status.success() {
        kill_group(child.id());
        panic!("chromium {run}: {status}\n{}", tail(err));
    }
}

/// Kills the process group led by `pid`.
fn kill_group(pid: u32) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
}

/// The last lines of a log file, to explain a failure.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[test]
fn the_browser_builds_every_step_the_intel_and_the_related_events() {
    let page = written_page();
    let dom = chromium(&page, "dump-dom", &["--dump-dom"]);
    assert!(dom.contains("<title>Wazuh incident timeline: Wazuh incident: agent 021"), "{dom}");
    let t = incident();
    for (n, step) in t.steps.iter().enumerate() {
        let n = n + 1;
        let row = format!("id=\"step-{n}\"");
        let at = dom.find(&row).unwrap_or_else(|| panic!("no row {row} in the DOM"));
        let row_tag = &dom[at..at + dom[at..].find('>').unwrap_or(0)];
        assert!(row_tag.contains(&format!("data-rule=\"{}\"", step.rule_id)), "{row_tag}");
        assert!(row_tag.contains(&format!("data-time=\"{}\"", step.time)), "{row_tag}");
        assert!(dom.contains(&format!("data-step=\"{n}\"")), "no marker for step {n}");
    }
    for rule in ["5712", "40112", "554", "61603", "61650", "61605", "550", "60109", "553"] {
        assert!(dom.contains(&format!("<span class=\"rule-id\">{rule}</span>")), "rule {rule}");
    }
    assert!(dom.contains(DROPPER_SHA256));
    assert!(dom.contains("Glass Heron: svchost-update dropper and its C2"));
    assert!(dom.contains("SSH scanning botnet"));
    assert!(dom.contains("id=\"related-1\""));
}

#[test]
fn the_screenshot_shows_a_drawn_page_with_intel_in_its_own_colour() {
    let page = written_page();
    let shot = page.dir.path().join("shot.png");
    let screenshot = format!("--screenshot={}", shot.display());
    chromium(&page, "screenshot", &[&screenshot, "--window-size=1280,900", "--hide-scrollbars"]);
    assert!(shot.exists(), "chromium wrote no screenshot at {}", shot.display());
    if let Some(out) = std::env::var_os(SCREENSHOT_OUT) {
        keep_screenshot(&shot, &PathBuf::from(out));
    }
    let image = decode(&shot);
    assert_eq!((image.width, image.height), (1280, 900));
    let colours = colour_counts(&image.pixels);
    assert!(colours.len() > 16, "only {} colours: the page looks blank", colours.len());
    let background = colours.iter().max_by_key(|(_, n)| **n).map(|(c, _)| *c).unwrap_or_default();
    let drawn = image.pixels.iter().filter(|p| **p != background).count();
    let share = drawn as f64 / image.pixels.len() as f64;
    assert!(share > 0.01, "only {:.2}% of the pixels differ from the background", share * 100.0);
    let red = image.pixels.iter().filter(|[r, g, b]| *r > 150 && *g < 90 && *b < 90).count();
    assert!(red > 200, "intel hits are not drawn in red ({red} red pixels)");
}

/// Copies the screenshot to where `WAZUH_MISP_SCREENSHOT_OUT` says.
fn keep_screenshot(shot: &Path, out: &Path) {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    fs::copy(shot, out)
        .unwrap_or_else(|e| panic!("copying the screenshot to {}: {e}", out.display()));
}

/// A decoded screenshot, one RGB triple per pixel.
struct Image {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 3]>,
}

/// Reads an 8-bit RGB or RGBA PNG.
fn decode(path: &Path) -> Image {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", path.display()));
    let size = reader.output_buffer_size().expect("the PNG's size fits in memory");
    let mut buffer = vec![0; size];
    let frame = reader.next_frame(&mut buffer).expect("decoding the screenshot");
    assert_eq!(frame.bit_depth, png::BitDepth::Eight, "an 8-bit screenshot");
    let samples = frame.color_type.samples();
    assert!(samples >= 3, "a colour screenshot, not {:?}", frame.color_type);
    let pixels = buffer[..frame.buffer_size()].chunks_exact(samples).map(|p| [p[0], p[1], p[2]]);
    Image { width: frame.width, height: frame.height, pixels: pixels.collect() }
}

/// How many pixels have each colour.
fn colour_counts(pixels: &[[u8; 3]]) -> HashMap<[u8; 3], usize> {
    let mut counts = HashMap::new();
    for p in pixels {
        *counts.entry(*p).or_insert(0) += 1;
    }
    counts
}
