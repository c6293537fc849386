//! Permissions: a key file that other users can read or change and a state
//! directory that every user can write are refused with one line and exit
//! code 4.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{sample, Manager};
use misp_test_server::{MispServer, ServerOptions, TEST_API_KEY};
use serde_json::{json, Value};

fn misp() -> MispServer {
    let server = MispServer::start(ServerOptions::default());
    server.load_feed(&common::feed()).unwrap();
    server
}

fn options(server: &MispServer) -> Value {
    json!({"misp_url": server.url(), "api_key": TEST_API_KEY, "flood_control": false})
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
