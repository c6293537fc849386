//! Permissions: a key file that other users can read or change and a state
//! directory that every user can write are refused with one line and exit
//! code 4; the files the program creates (the state database and its
//! journal, the log file, the HTML timeline) can be changed by their owner
//! alone and read by no user outside their group, whatever the umask.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chrono::{TimeZone, Utc};
use common::hostile::{Behaviour, Hostile};
use common::{sample, Manager};
use misp_test_server::{MispServer, ServerOptions, TEST_API_KEY};
use serde_json::{json, Value};
use wazuh_misp::incident::incident_uuid;

fn misp() -> MispServer {
    let server = MispServer::start(ServerOptions::default());
    server.load_feed(&common::feed()).unwrap();
    server
}

fn options(server: &MispServer) -> Value {
    options_for(&server.url())
}

fn options_for(url: &str) -> Value {
    json!({"misp_url": url, "api_key": TEST_API_KEY, "flood_control": false})
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Asserts that `run` failed on its configuration with `failure` as its
/// one log line and its one line on standard error.
fn assert_refused(run: &common::Run, failure: &str) {
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(run.log_lines(), vec![format!("custom-misp ERROR: {failure}")]);
    assert_eq!(run.stderr, format!("custom-misp: {failure}\n"));
    assert!(run.datagrams.is_empty());
}

#[test]
fn a_key_file_other_users_can_read_or_change_is_refused_before_any_request() {
    let server = misp();
    let manager = Manager::new();
    let key_file = manager.dir.path().join("misp.key");
    fs::write(&key_file, format!("{TEST_API_KEY}\n")).unwrap();
    let mut options = options(&server);
    options.as_object_mut().unwrap().remove("api_key");
    options["api_key_file"] = json!(key_file);
    let alert = sample("sshd-5712-bruteforce.json");
    for (mode, why) in [(0o644, "lets every user read it"), (0o660, "lets other users change it")] {
        set_mode(&key_file, mode);
        let run = manager.integratord(&alert, options.clone(), "5", "0");
        assert_refused(
            &run,
            &format!(
                "API key file {}: mode {mode:04o} {why}; chmod 640 it (owner root, group wazuh)",
                key_file.display()
            ),
        );
    }
    assert!(server.requests().is_empty());
    set_mode(&key_file, 0o640);
    let run = manager.integratord(&alert, options, "5", "0");
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_state_directory_every_user_may_write_is_refused_by_runs_and_tasks() {
    let server = misp();
    let manager = Manager::new();
    let state = manager.dir.path().join("state");
    fs::create_dir(&state).unwrap();
    set_mode(&state, 0o777);
    let failure = format!(
        "state directory {}: mode 0777 lets every user write it; chmod 750 it (owner wazuh)",
        state.display()
    );
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options(&server), "5", "0");
    assert_refused(&run, &failure);
    assert!(server.requests().is_empty());
    let options = manager.write(".options", &manager.options(options(&server)).to_string());
    let task = manager.run(&["store", "info", "--options", options.to_str().unwrap()]);
    assert_refused(&task, &failure);
}

/// The modes of the state database and its journal files while a first
/// run under `umask 000` is waiting on a MISP that never answers: the
/// journal files go when the run ends, and their mode is decided when
/// they are made.
fn journal_modes_during_a_first_run(manager: &Manager) -> Vec<(String, u32)> {
    let misp = Hostile::start(Behaviour::Silent);
    let mut options = options_for(&misp.url());
    options["record"] = json!(false);
    let alert = manager.write(".alert", &sample("sshd-5712-bruteforce.json"));
    let options = manager.write(".options", &manager.options(options).to_string());
    let args = [alert.to_str().unwrap(), "", "", "", options.to_str().unwrap(), "2", "0"];
    let state = manager.dir.path().join("state");
    let names = ["custom-misp.db", "custom-misp.db-shm", "custom-misp.db-wal"];
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| manager.run_under_umask("000", &args));
        let seen = loop {
            let all_there = names.iter().all(|n| state.join(n).exists());
            if all_there || waiting.is_finished() {
                break all_there;
            }
            std::thread::yield_now();
        };
        let modes = names.iter().map(|n| (n.to_string(), mode_of(&state.join(n)))).collect();
        assert!(seen, "the journal files never appeared");
        assert_eq!(waiting.join().unwrap().code, 5);
        modes
    })
}

#[test]
fn files_the_program_creates_are_its_owner_s_and_group_s_alone_even_under_umask_0() {
    let server = misp();
    let manager = Manager::new();
    for (name, mode) in journal_modes_during_a_first_run(&manager) {
        assert_eq!(mode & 0o027, 0, "{name}: mode {mode:04o}");
    }

    let alert = manager.write(".alert", &sample("sshd-5712-bruteforce.json"));
    let options = manager.write(".options", &manager.options(options(&server)).to_string());
    let options = options.to_str().unwrap();
    let run = manager.run_under_umask("000", &[alert.to_str().unwrap(), "", "", "", options]);
    assert_eq!(run.code, 0, "{run:?}");
    // The first run's writes, kept while MISP was silent, go out after.
    let summary = run.log_lines().pop().unwrap_or_default();
    assert!(summary.contains(" recorded=created datagrams=1 kept_writes_sent=1 "), "{summary}");

    let day = Utc.with_ymd_and_hms(2026, 10, 14, 0, 0, 0).unwrap();
    let incident = incident_uuid("wazuh-manager", "004", &day);
    let page = manager.dir.path().join("incident.html");
    let page_arg = page.to_str().unwrap();
    let args = ["timeline", "--format", "html", "-o", page_arg, "--options", options, &incident];
    let task = manager.run_under_umask("000", &args);
    assert_eq!(task.code, 0, "{task:?}");

    let state = manager.dir.path().join("state");
    for path in [state.join("custom-misp.db"), state, manager.log.clone(), page] {
        assert_eq!(mode_of(&path) & 0o027, 0, "{}: mode {:04o}", path.display(), mode_of(&path));
    }
}
