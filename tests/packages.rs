//! Builds the .deb and the .rpm as README.md's "Packages" says (the
//! release binary once, then `cargo deb --no-build` and `cargo
//! generate-rpm`) and checks what each would install: every path with its
//! owner, group and mode, the package's header, the maintainer scripts run
//! against stand-in commands, and the unpacked program itself.
//!
//! The tools are required, not optional: a missing one fails the test with
//! the command that installs it (.ci/run installs them all).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `command` and returns its standard output; fails the test with
/// the command's standard error when it does not succeed.
fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: exit {:?}, stderr: {}",
        output.status.code(),
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    command.current_dir(repo());
    command
}

/// Fails the test, saying how to install `tool`, unless `probe` runs.
fn require(tool: &str, mut probe: Command, install: &str) {
    let found = probe.stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !found.is_ok_and(|status| status.success()) {
        panic!("{tool} is missing: install it with `{install}` (.ci/run does)");
    }
}

fn require_tools() {
    let cargo_install = "cargo install --locked cargo-deb@3.8.0 cargo-generate-rpm@0.21.1";
    for (tool, subcommand) in [("cargo-deb", "deb"), ("cargo-generate-rpm", "generate-rpm")] {
        let mut probe = cargo();
        probe.args([subcommand, "--version"]);
        require(tool, probe, cargo_install);
    }
    let apt = "apt-get install -y rpm rpm2cpio cpio";
    for tool in ["dpkg-deb", "rpm", "rpm2cpio", "cpio"] {
        let mut probe = Command::new("sh");
        probe.args(["-c", &format!("command -v {tool}")]);
        require(tool, probe, apt);
    }
}

/// The two packages, built once for all the tests of this file.
struct Packages {
    _dir: TempDir,
    deb: PathBuf,
    rpm: PathBuf,
}

fn packages() -> &'static Packages {
    static PACKAGES: OnceLock<Packages> = OnceLock::new();
    PACKAGES.get_or_init(|| {
        require_tools();
        // One release build for both packages; cargo deb would make its
        // own otherwise.
        run(cargo().args(["build", "--release", "--locked", "--bin", "custom-misp"]));
        let dir = TempDir::new().unwrap();
        let out = format!("{}/", dir.path().display());
        run(cargo().args(["deb", "--no-build", "--fast", "--output", &out]));
        run(cargo().args(["generate-rpm", "--output", &out]));
        let find = |extension: &str| {
            let mut found = fs::read_dir(dir.path())
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension() == Some(OsStr::new(extension)));
            let path = found.next().unwrap_or_else(|| panic!("no .{extension} was built"));
            assert!(found.next().is_none(), "one .{extension}");
            path
        };
        let (deb, rpm) = (find("deb"), find("rpm"));
        Packages { _dir: dir, deb, rpm }
    })
}

/// What a package installs that is not a directory: path, then
/// permissions (ls notation), owner, group and, for the .rpm, RPM's file
/// flags (`c` configuration, `n` noreplace, `d` documentation).
type Listing = BTreeMap<String, String>;

fn entry(permissions: &str, owner: &str, flags: &str) -> String {
    format!("{permissions} {owner} {flags}").trim_end().to_string()
}

/// The files both packages install, from the repository's own lists of
/// feed files and sample alerts, with the owner the package itself gives
/// the program and the rules (the .deb's comes from postinst).
fn expected(wazuh_owner: &str, config: &str, doc: &str) -> Listing {
    let mut files = Listing::new();
    let program = "/var/ossec/integrations/custom-misp";
    files.insert(program.into(), entry("-rwxr-x---", wazuh_owner, ""));
    let rules = "/var/ossec/etc/rules/misp_rules.xml";
    files.insert(rules.into(), entry("-rw-rw----", wazuh_owner, config));
    for (folder, into) in [
        ("integration/feed", "/var/ossec/integrations/custom-misp.d/feed"),
        ("integration/sample-alerts", "/var/ossec/integrations/custom-misp.d/sample-alerts"),
    ] {
        for file in fs::read_dir(repo().join(folder)).unwrap() {
            let name = file.unwrap().file_name().into_string().unwrap();
            files.insert(format!("{into}/{name}"), entry("-rw-r--r--", "root root", ""));
        }
    }
    for name in
        ["README.md", "examples/ossec.conf-integration.xml", "examples/sysmon_raise_base_rules.xml"]
    {
        let path = format!("/usr/share/doc/wazuh-misp/{name}");
        files.insert(path, entry("-rw-r--r--", "root root", doc));
    }
    files
}

/// Installed files (relative to the root) and the repository files they
/// are copies of.
const COPIES: [(&str, &str); 6] = [
    ("var/ossec/etc/rules/misp_rules.xml", "ossec-snippets/misp_rules.xml"),
    ("var/ossec/integrations/custom-misp.d/feed/manifest.json", "integration/feed/manifest.json"),
    ("var/ossec/integrations/custom-misp.d/feed/hashes.csv", "integration/feed/hashes.csv"),
    (
        "var/ossec/integrations/custom-misp.d/sample-alerts/sysmon-1-dropper.json",
        "integration/sample-alerts/sysmon-1-dropper.json",
    ),
    (
        "usr/share/doc/wazuh-misp/examples/ossec.conf-integration.xml",
        "ossec-snippets/ossec.conf-integration.xml",
    ),
    ("usr/share/doc/wazuh-misp/README.md", "README.md"),
];

/// Checks an unpacked package under `root`: the files are the
/// repository's, and the program runs and prints its version.
fn assert_unpacked(root: &Path) {
    for (installed, source) in COPIES {
        let unpacked =
            fs::read(root.join(installed)).unwrap_or_else(|e| panic!("{installed}: {e}"));
        assert!(unpacked == fs::read(repo().join(source)).unwrap(), "{installed} is {source}");
    }
    let program = root.join("var/ossec/integrations/custom-misp");
    assert_eq!(run(Command::new(&program).arg("--version")), format!("custom-misp {VERSION}\n"));
}

fn deb_field(field: &str) -> String {
    run(Command::new("dpkg-deb").arg("--field").arg(&packages().deb).arg(field))
        .trim_end()
        .to_string()
}

/// `dpkg-deb -R`: the files under the returned folder, the control files
/// under its DEBIAN/.
fn unpacked_deb() -> TempDir {
    let root = TempDir::new().unwrap();
    run(Command::new("dpkg-deb").arg("-R").arg(&packages().deb).arg(root.path()));
    root
}

#[test]
fn the_deb_installs_each_file_where_install_sh_does_with_its_mode() {
    let listing = run(Command::new("dpkg-deb").arg("--contents").arg(&packages().deb));
    let mut files = Listing::new();
    for line in listing.lines() {
        // drwxr-xr-x 0/0 0 2026-12-03 00:00 ./var/ossec/
        let words: Vec<&str> = line.split_whitespace().collect();
        let (permissions, owner, path) = (words[0], words[1], words[5]);
        assert_eq!(owner, "0/0", "{line}: a .deb holds root-owned files only");
        if permissions.starts_with('d') {
            // An existing folder keeps its own mode and owner: dpkg only
            // makes the missing ones.
            assert_eq!(permissions, "drwxr-xr-x", "{line}");
        } else {
            files.insert(path.trim_start_matches('.').into(), entry(permissions, "root root", ""));
        }
    }
    let mut wanted = expected("root root", "", "");
    let copyright = "/usr/share/doc/wazuh-misp/copyright";
    wanted.insert(copyright.into(), entry("-rw-r--r--", "root root", ""));
    assert_eq!(files, wanted);
}

#[test]
fn the_deb_names_itself_from_cargo_toml_and_needs_nothing_from_wazuh_s_repository() {
    assert_eq!(deb_field("Package"), "wazuh-misp");
    assert_eq!(deb_field("Version"), format!("{VERSION}-1"));
    let description = deb_field("Description");
    assert_eq!(description.lines().next(), Some(env!("CARGO_PKG_DESCRIPTION")));
    assert!(description.contains("It does not change ossec.conf"), "{description}");
    let depends = deb_field("Depends");
    assert!(depends.starts_with("libc6 (>= "), "{depends}");
    assert!(!depends.contains("wazuh"), "{depends}");
    assert_eq!(deb_field("Enhances"), "wazuh-manager");
    assert_eq!(deb_field("Pre-Depends"), "");
}

#[test]
fn the_deb_keeps_an_edited_rule_file_and_runs_the_packaging_scripts() {
    let root = unpacked_deb();
    let control = root.path().join("DEBIAN");
    let conffiles = fs::read_to_string(control.join("conffiles")).unwrap();
    assert_eq!(conffiles, "/var/ossec/etc/rules/misp_rules.xml\n");
    for script in ["preinst", "postinst", "postrm"] {
        let packaged = control.join(script);
        assert_eq!(
            fs::read_to_string(&packaged).unwrap(),
            fs::read_to_string(repo().join("packaging/scripts").join(script)).unwrap(),
            "{script}"
        );
        assert_eq!(fs::metadata(&packaged).unwrap().permissions().mode() & 0o7777, 0o755);
    }
    assert!(!control.join("prerm").exists());
}

#[test]
fn the_unpacked_deb_holds_the_repository_s_files_and_a_program_that_runs() {
    assert_unpacked(unpacked_deb().path());
}

fn rpm_query(format: &str) -> String {
    run(Command::new("rpm").args(["-qp", "--queryformat", format]).arg(&packages().rpm))
}

#[test]
fn the_rpm_installs_each_file_where_install_sh_does_with_owner_group_and_mode() {
    let format =
        "[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags}\n]";
    let mut files = Listing::new();
    for line in rpm_query(format).lines() {
        // /var/ossec/etc/rules/misp_rules.xml -rw-rw---- root wazuh cn
        let (path, attributes) = line.split_once(' ').unwrap();
        assert!(!attributes.starts_with('d'), "{line}: the package owns no folder");
        files.insert(path.into(), attributes.trim_end().into());
    }
    assert_eq!(files, expected("root wazuh", "cn", "d"));
}

#[test]
fn the_rpm_names_itself_from_cargo_toml_and_needs_nothing_from_wazuh_s_repository() {
    let header = rpm_query("%{NAME}\n%{VERSION}\n%{RELEASE}\n%{LICENSE}\n%{SUMMARY}\n");
    let wanted =
        ["wazuh-misp", VERSION, "1", env!("CARGO_PKG_LICENSE"), env!("CARGO_PKG_DESCRIPTION")];
    assert_eq!(header.lines().collect::<Vec<_>>(), wanted);
    let requires = run(Command::new("rpm").args(["-qp", "--requires"]).arg(&packages().rpm));
    assert!(requires.lines().any(|r| r.starts_with("libc.so.6")), "{requires}");
    assert!(!requires.lines().any(|r| r.starts_with("wazuh")), "{requires}");
    let enhances = run(Command::new("rpm").args(["-qp", "--enhances"]).arg(&packages().rpm));
    assert_eq!(enhances, "wazuh-manager\n");
}

#[test]
fn the_rpm_runs_the_packaging_scripts() {
    for (tag, script) in [("PREIN", "preinst"), ("POSTIN", "postinst"), ("POSTUN", "postun")] {
        let packaged = rpm_query(&format!("%{{{tag}}}"));
        let source = fs::read_to_string(repo().join("packaging/scripts").join(script)).unwrap();
        assert_eq!(packaged.trim_end(), source.trim_end(), "{tag}");
    }
    assert_eq!(rpm_query("%{PREUN}"), "(none)");
}

#[test]
fn the_unpacked_rpm_holds_the_repository_s_files_and_a_program_that_runs() {
    let root = TempDir::new().unwrap();
    let rpm = packages().rpm.display();
    let unpack = format!("rpm2cpio '{rpm}' | cpio --quiet -idm");
    run(Command::new("sh").args(["-c", &unpack]).current_dir(root.path()));
    assert_unpacked(root.path());
}

/// A folder of stand-ins for the commands a maintainer script runs, each
/// writing its name and arguments to a log, and a PATH of that folder
/// only: a command the script runs without a stand-in fails, so nothing
/// on this host is ever changed.
struct StandIns {
    dir: TempDir,
}

impl StandIns {
    /// `commands`: the name of each stand-in and the shell command whose
    /// exit status it returns (`true`, `false`, a test on its arguments).
    fn new(commands: &[(&str, &str)]) -> StandIns {
        let dir = TempDir::new().unwrap();
        for (name, status) in commands {
            let path = dir.path().join(name);
            let log = dir.path().join("log").display().to_string();
            let body = format!("#!/bin/sh\necho \"${{0##*/}} $*\" >> '{log}'\n{status}\n");
            fs::write(&path, body).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        StandIns { dir }
    }

    /// Runs packaging/scripts/`script` with `args` as dpkg or rpm would.
    fn run(&self, script: &str, args: &[&str]) -> Output {
        Command::new("/bin/sh")
            .arg(repo().join("packaging/scripts").join(script))
            .args(args)
            .env_clear()
            .env("PATH", self.dir.path())
            .output()
            .unwrap()
    }

    fn log(&self) -> Vec<String> {
        let log = fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        log.lines().map(str::to_string).collect()
    }
}

const STATE_DIRECTORY: [&str; 3] = [
    "mkdir -p /var/ossec/var/custom-misp",
    "chown wazuh:wazuh /var/ossec/var/custom-misp",
    "chmod 0750 /var/ossec/var/custom-misp",
];

#[test]
fn the_preinst_refuses_a_host_without_the_wazuh_user_and_group_in_one_line() {
    let without = StandIns::new(&[("getent", "false")]);
    for args in [["install"], ["1"]] {
        let output = without.run("preinst", &args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(
            text(&output.stderr),
            "wazuh-misp: no wazuh user and group on this host: \
             install the Wazuh manager (4.8 or later) first\n"
        );
    }
    let with = StandIns::new(&[("getent", "true")]);
    for args in [["install"], ["upgrade"], ["1"], ["2"]] {
        let output = with.run("preinst", &args);
        assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
    }
    assert_eq!(with.log()[..2], ["getent group wazuh", "getent passwd wazuh"]);
}

#[test]
fn the_deb_postinst_registers_wazuh_s_ownership_with_dpkg_and_makes_the_state_directory() {
    // No override yet: dpkg-statoverride --list fails.
    let stand_ins = StandIns::new(&[
        ("dpkg-statoverride", r#"[ "$1" != --list ]"#),
        ("mkdir", "true"),
        ("chown", "true"),
        ("chmod", "true"),
    ]);
    let output = stand_ins.run("postinst", &["configure", ""]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    let mut wanted = vec![
        "dpkg-statoverride --list /var/ossec/integrations/custom-misp",
        "dpkg-statoverride --update --add root wazuh 0750 /var/ossec/integrations/custom-misp",
        "dpkg-statoverride --list /var/ossec/etc/rules/misp_rules.xml",
        "dpkg-statoverride --update --add root wazuh 0660 /var/ossec/etc/rules/misp_rules.xml",
    ];
    wanted.extend(STATE_DIRECTORY);
    assert_eq!(stand_ins.log(), wanted);
}

#[test]
fn the_deb_postinst_keeps_an_override_the_administrator_set() {
    let stand_ins = StandIns::new(&[
        ("dpkg-statoverride", "true"),
        ("mkdir", "true"),
        ("chown", "true"),
        ("chmod", "true"),
    ]);
    let output = stand_ins.run("postinst", &["configure", "0.1.0-1"]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert!(stand_ins.log().iter().all(|call| !call.contains("--add")), "{:?}", stand_ins.log());
}

#[test]
fn the_rpm_post_makes_the_state_directory_only() {
    let stand_ins = StandIns::new(&[("mkdir", "true"), ("chown", "true"), ("chmod", "true")]);
    for count in ["1", "2"] {
        let output = stand_ins.run("postinst", &[count]);
        assert!(output.status.success(), "{count}: {}", text(&output.stderr));
    }
    assert_eq!(stand_ins.log(), [STATE_DIRECTORY, STATE_DIRECTORY].concat());
}

#[test]
fn the_deb_postrm_forgets_ownership_and_state_only_on_purge() {
    let stand_ins = StandIns::new(&[("dpkg-statoverride", "true"), ("rm", "true")]);
    let output = stand_ins.run("postrm", &["remove"]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert!(stand_ins.log().is_empty(), "{:?}", stand_ins.log());
    let output = stand_ins.run("postrm", &["purge"]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert_eq!(
        stand_ins.log(),
        [
            "dpkg-statoverride --list /var/ossec/integrations/custom-misp",
            "dpkg-statoverride --remove /var/ossec/integrations/custom-misp",
            "dpkg-statoverride --list /var/ossec/etc/rules/misp_rules.xml",
            "dpkg-statoverride --remove /var/ossec/etc/rules/misp_rules.xml",
            "rm -rf /var/ossec/var/custom-misp",
        ]
    );
}

#[test]
fn the_rpm_postun_removes_only_empty_folders_and_only_on_the_last_erase() {
    let stand_ins = StandIns::new(&[("rmdir", "false")]);
    let output = stand_ins.run("postun", &["1"]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    assert!(stand_ins.log().is_empty(), "an upgrade removes nothing");
    let output = stand_ins.run("postun", &["0"]);
    assert!(output.status.success(), "a folder still in use is no failure");
    let removed: Vec<String> = stand_ins.log();
    assert_eq!(removed.len(), 5, "{removed:?}");
    assert!(removed.iter().all(|call| call.starts_with("rmdir /")));
    assert!(!removed.iter().any(|call| call.contains("/var/ossec/var/custom-misp")));
}
