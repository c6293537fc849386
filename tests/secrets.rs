//! The MISP API key and the modules' keys go into requests and nowhere
//! else: runs that match, that meet MISP errors quoting the request back,
//! that log at debug level, that fail, and that take the key from the
//! command line leave neither key in their output, log lines, datagrams or
//! state files. And each way of giving the key reaches MISP.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::hostile::{Behaviour, Hostile};
use common::{sample, Manager, Run};
use misp_test_server::{MispServer, ServerOptions};
use serde_json::{json, Value};

/// A key no other text contains, shaped like a MISP key.
const KEY: &str = "LeakCanaryKey00000000000000000000000Zz42";

/// A misp-modules module's API key.
const MODULE_KEY: &str = "module-key-LeakCanary-314159";

const WARNING_OF_ARGV: &str = "custom-misp WARN: the API key came on the command line, where \
                               `ps` shows it: put it in <options> as api_key";

/// A MISP test server that takes [`KEY`], holding the bundled feed.
fn misp() -> MispServer {
    let server =
        MispServer::start(ServerOptions { api_key: KEY.into(), ..ServerOptions::default() });
    server.load_feed(&common::feed()).unwrap();
    server
}

/// How a run gets its key and asks for debug logging.
#[derive(Clone, Copy)]
enum Given {
    /// `api_key` in the options.
    Options,
    /// `api_key_file`, mode 0640.
    File,
    /// The `MISP_API_KEY` environment variable.
    Environment,
    /// integratord's argv[2].
    Argv,
}

/// A run of `alert` as integratord makes it, with `options` (the key
/// added as `given` says), argv[4] `debug` when `debug` is set, budget
/// 5 s and no retries.
fn run(manager: &Manager, alert: &str, mut options: Value, given: Given, debug: bool) -> Run {
    match given {
        Given::Options => options["api_key"] = json!(KEY),
        Given::File => options["api_key_file"] = json!(key_file(manager, 0o640)),
        Given::Environment | Given::Argv => {}
    }
    let alert = manager.write(".alert", alert);
    let options = manager.write(".options", &manager.options(options).to_string());
    let key = if matches!(given, Given::Argv) { KEY } else { "" };
    let debug = if debug { "debug" } else { "" };
    let args = [alert.to_str().unwrap(), key, "", debug, options.to_str().unwrap(), "5", "0"];
    let env: &[(&str, &str)] =
        if matches!(given, Given::Environment) { &[("MISP_API_KEY", KEY)] } else { &[] };
    manager.run_with_env(&args, env)
}

/// A key file holding [`KEY`] and a newline, with `mode`.
fn key_file(manager: &Manager, mode: u32) -> PathBuf {
    let path = manager.dir.path().join("misp.key");
    fs::write(&path, format!("{KEY}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Every file under `dir`, with its content.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if path.is_file() {
            found.push((path.clone(), fs::read(&path).unwrap()));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Asserts that no key is in what `run` printed, logged or sent.
fn assert_no_key_in(case: &str, run: &Run) {
    let texts = [&run.stdout, &run.stderr, &run.log.join("\n"), &run.datagrams.join("\n")];
    for key in [KEY, MODULE_KEY] {
        assert!(texts.iter().all(|t| !t.contains(key)), "{case}: a key leaked: {run:?}");
    }
}

fn lookup(url: &str) -> Value {
    json!({"misp_url": url, "flood_control": false})
}

#[test]
fn no_run_leaves_a_key_in_its_output_log_datagrams_or_state() {
    let (misp, manager) = (misp(), Manager::new());
    let alert = sample("sysmon-1-dropper.json");
    let brute_force = sample("sshd-5712-bruteforce.json");
    let mut runs = Vec::new();

    // A match that records the alert, sights the intel and reads the
    // event's context, at debug level.
    let matched = run(&manager, &alert, lookup(&misp.url()), Given::Options, true);
    assert_eq!(matched.code, 0, "{matched:?}");
    assert!(matched.log.iter().any(|l| l.contains(" DEBUG: MISP reply: ")), "{matched:?}");
    runs.push(("match", matched));

    // MISP errors that quote the request, the Authorization header in it.
    for status in [403, 500] {
        let echo = Hostile::start(Behaviour::Echo(status));
        let failed = run(&manager, &brute_force, lookup(&echo.url()), Given::Options, true);
        assert_eq!(failed.code, 5, "{failed:?}");
        assert!(echo.requests()[0].head.contains(KEY), "the server was given the key");
        let message = failed.message(0)["misp"]["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains("authorization: (redacted)"), "{message}");
        runs.push(("MISP error quoting the request", failed));
    }

    // The same error while the socket is gone: its datagram is kept in
    // the state database and delivered by the next run.
    let echo = Hostile::start(Behaviour::Echo(403));
    manager.remove_socket();
    let kept = run(&manager, &brute_force, lookup(&echo.url()), Given::Environment, false);
    assert_eq!(kept.code, 6, "{kept:?}");
    runs.push(("error kept for the next run", kept));
    manager.restore_socket();

    // A module that quotes its configuration back in its error.
    let modules = Hostile::start(Behaviour::EchoModules);
    let mut enriched = lookup(&misp.url());
    enriched["enrichment"] = json!({"ip": ["echo"]});
    enriched["modules_url"] = json!(modules.url());
    enriched["module_config"] = json!({"echo": {"apikey": MODULE_KEY}});
    let quoted = run(&manager, &brute_force, enriched, Given::File, true);
    assert_eq!(quoted.code, 0, "{quoted:?}");
    let body = modules.requests().last().unwrap().body.clone();
    assert!(body.contains(MODULE_KEY), "the module was given its key: {body}");
    let module = &quoted.datagrams.iter().find(|d| d.contains("\"echo\"")).unwrap();
    assert!(module.contains("\\\"apikey\\\":\\\"(redacted)\\\""), "{module}");
    runs.push(("module error quoting its config", quoted));

    // Failures before and after the request: MISP down, a bad CA file.
    let dead = run(&manager, &brute_force, lookup("http://127.0.0.1:9"), Given::File, true);
    assert_eq!(dead.code, 5, "{dead:?}");
    runs.push(("MISP down", dead));
    let mut bad_ca = lookup(&misp.url());
    bad_ca["ca_file"] = json!(manager.dir.path().join("no-such-ca.pem"));
    let refused = run(&manager, &brute_force, bad_ca, Given::Options, true);
    assert_eq!(refused.code, 4, "{refused:?}");
    runs.push(("bad CA file", refused));

    // The key on the command line: warned about, and printed nowhere.
    let argv = run(&manager, &brute_force, lookup(&misp.url()), Given::Argv, true);
    assert_eq!(argv.code, 0, "{argv:?}");
    assert_eq!(argv.log_lines()[0], WARNING_OF_ARGV);
    runs.push(("key on argv", argv));

    for (case, run) in &runs {
        assert_no_key_in(case, run);
    }
    let mut state = files_under(&manager.dir.path().join("state"));
    state.push((manager.log.clone(), fs::read(&manager.log).unwrap()));
    assert!(state.len() > 1, "{state:?}");
    for (path, content) in state {
        for key in [KEY, MODULE_KEY] {
            assert!(!contains(&content, key), "{}: holds a key", path.display());
        }
    }
    assert!(misp.requests().iter().all(|r| r.headers["authorization"] == KEY));
}

#[test]
fn each_way_of_giving_the_key_reaches_misp_and_only_argv_is_warned_about() {
    let misp = misp();
    let alert = sample("sshd-5712-bruteforce.json");
    for given in [Given::Options, Given::File, Given::Environment, Given::Argv] {
        let manager = Manager::new();
        let answered = run(&manager, &alert, lookup(&misp.url()), given, false);
        assert_eq!(answered.code, 0, "{answered:?}");
        assert_eq!(answered.message(0)["misp"]["status"], json!("match"));
        let warned = answered.log_lines().contains(&WARNING_OF_ARGV.to_string());
        assert_eq!(warned, matches!(given, Given::Argv), "{:?}", answered.log);
    }
    assert!(misp.requests().iter().all(|r| r.headers["authorization"] == KEY));
    assert!(misp.count("POST", "/attributes/restSearch") >= 4);
}

#[test]
fn the_options_key_comes_before_the_file_the_environment_and_argv() {
    let misp = misp();
    let manager = Manager::new();
    let mut options = lookup(&misp.url());
    options["api_key"] = json!(KEY);
    options["api_key_file"] = json!(manager.dir.path().join("no-such-file"));
    let alert = manager.write(".alert", &sample("sshd-5712-bruteforce.json"));
    let options = manager.write(".options", &manager.options(options).to_string());
    let args = [alert.to_str().unwrap(), "argv-key", "", "", options.to_str().unwrap(), "5", "0"];
    let answered = manager.run_with_env(&args, &[("MISP_API_KEY", "environment-key")]);
    assert_eq!(answered.code, 0, "{answered:?}");
    assert!(misp.requests().iter().all(|r| r.headers["authorization"] == KEY));
}

#[test]
fn a_key_no_http_header_can_carry_is_a_configuration_error_that_does_not_print_it() {
    let misp = misp();
    let manager = Manager::new();
    let mut options = lookup(&misp.url());
    options["api_key"] = json!("LeakCanary\u{1}Key");
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options, "5", "3");
    let failure = "MISP API key: holds a character no HTTP header can carry (a control character?)";
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(run.log_lines(), vec![format!("custom-misp ERROR: {failure}")]);
    assert_eq!(run.stderr, format!("custom-misp: {failure}\n"));
    assert!(misp.requests().is_empty());
}
