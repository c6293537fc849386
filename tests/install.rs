//! Runs `integration/install.sh` into a temporary prefix, as an operator
//! would on a Wazuh manager, and checks what it leaves behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    repo().join("integration/install.sh")
}

/// Runs the installer with `args` from a folder outside the repository,
/// so that it has to find its own files.
fn install(args: &[&str]) -> Output {
    let elsewhere = TempDir::new().unwrap();
    Command::new("sh")
        .arg(script())
        .args(args)
        .current_dir(elsewhere.path())
        .output()
        .expect("sh runs the installer")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode()
        & 0o7777
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A prefix laid out like a manager's /var/ossec, without ossec.conf.
fn manager_prefix() -> TempDir {
    let prefix = TempDir::new().unwrap();
    fs::create_dir_all(prefix.path().join("integrations")).unwrap();
    fs::create_dir_all(prefix.path().join("etc/rules")).unwrap();
    prefix
}

fn installed(prefix: &TempDir) -> Output {
    let binary = env!("CARGO_BIN_EXE_custom-misp");
    let prefix = prefix.path().to_str().unwrap();
    install(&["--prefix", prefix, "--no-chown", "--binary", binary])
}

#[test]
fn the_installer_puts_the_program_rules_feed_and_samples_in_place() {
    let prefix = manager_prefix();
    let output = installed(&prefix);
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status.code(),
        text(&output.stderr)
    );
    let root = prefix.path();

    let program = root.join("integrations/custom-misp");
    assert_eq!(mode(&program), 0o750);
    assert_eq!(fs::read(&program).unwrap(), fs::read(env!("CARGO_BIN_EXE_custom-misp")).unwrap());

    let rules = root.join("etc/rules/misp_rules.xml");
    assert_eq!(mode(&rules), 0o660);
    assert_eq!(
        fs::read(&rules).unwrap(),
        fs::read(repo().join("ossec-snippets/misp_rules.xml")).unwrap()
    );

    let state = root.join("var/custom-misp");
    assert_eq!(mode(&state), 0o750, "the state directory");

    let data = root.join("integrations/custom-misp.d");
    for file in ["manifest.json", "hashes.csv", "c41e9d06-7b2a-4f83-a5e6-0d9b38f1c724.json"] {
        let installed = data.join("feed").join(file);
        assert_eq!(
            fs::read(&installed).unwrap(),
            fs::read(repo().join("integration/feed").join(file)).unwrap()
        );
        assert_eq!(mode(&installed), 0o640, "{file}");
    }
    assert!(data.join("sample-alerts/sysmon-1-dropper.json").is_file());
    assert_eq!(mode(&data.join("feed")), 0o750);
}

#[test]
fn the_installer_never_creates_or_touches_ossec_conf() {
    let prefix = manager_prefix();
    let output = installed(&prefix);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert!(!prefix.path().join("etc/ossec.conf").exists());
    let stdout = text(&output.stdout);
    assert!(stdout.contains("ossec.conf was not changed"));
    assert!(stdout.contains("<name>custom-misp</name>"), "the block to paste is printed");
}

#[test]
fn the_installer_says_how_to_try_the_program_by_hand_and_that_command_works() {
    let prefix = manager_prefix();
    let output = installed(&prefix);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("owner left as is (--no-chown)"),
        "it says what it did about ownership"
    );
    let command = stdout
        .lines()
        .map(str::trim)
        .find(|line| line.contains("custom-misp --stdout"))
        .expect("a command to try by hand");
    let words: Vec<&str> = command.split_whitespace().collect();
    let tried =
        Command::new(words[0]).args(&words[1..]).output().expect("the installed program runs");
    assert!(tried.status.success(), "stderr: {}", text(&tried.stderr));
    let datagrams = text(&tried.stdout);
    assert!(datagrams.lines().count() >= 1, "the sample alert matches the bundled feed");
    assert!(datagrams.lines().all(|l| l.starts_with("1:[007] (WKS-FIN-0142) 10.40.12.42->misp:{")));
}

#[test]
fn running_the_installer_twice_replaces_the_files_in_place() {
    let prefix = manager_prefix();
    assert!(installed(&prefix).status.success());
    let stale = prefix.path().join("integrations/custom-misp.d/feed/stale.json");
    fs::write(&stale, "{}").unwrap();
    let again = installed(&prefix);
    assert!(again.status.success(), "stderr: {}", text(&again.stderr));
    assert!(!stale.exists(), "the feed folder is replaced whole");
    assert_eq!(mode(&prefix.path().join("integrations/custom-misp")), 0o750);
}

/// Asserts that `output` failed with one line on standard error that
/// contains `wanted`.
fn assert_one_line_error(output: &Output, wanted: &str) {
    assert!(!output.status.success(), "the installer must fail");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("install.sh: ") && stderr.contains(wanted), "{stderr:?}");
}

#[test]
fn a_missing_binary_is_one_line_error_and_nothing_is_installed() {
    let prefix = manager_prefix();
    let missing = prefix.path().join("no-such-binary");
    let output = install(&[
        "--prefix",
        prefix.path().to_str().unwrap(),
        "--no-chown",
        "--binary",
        missing.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, "binary not found");
    assert!(!prefix.path().join("integrations/custom-misp").exists());
    assert!(!prefix.path().join("etc/rules/misp_rules.xml").exists());
}

#[test]
fn a_prefix_that_is_not_a_directory_is_one_line_error() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, "").unwrap();
    let binary = env!("CARGO_BIN_EXE_custom-misp");
    let output = install(&["--prefix", file.to_str().unwrap(), "--no-chown", "--binary", binary]);
    assert_one_line_error(&output, "prefix is not a directory");
}

#[test]
fn an_unknown_argument_is_a_usage_error() {
    let output = install(&["--frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("usage: install.sh"));
}
