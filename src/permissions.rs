//! What the program asks of the files it trusts: a key file that other
//! users can read or change, or a state directory that every user can
//! write, is refused, the way ssh refuses a private key that others can
//! read. The files the program creates itself (the state database, the
//! log file, a timeline) are made 0640, for its owner and group only.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The mode of the files the program creates, before the umask.
pub const FILE_MODE: u32 = 0o640;

/// Checks that other users may neither read nor change the key file and
/// its group may not change it: Wazuh's own layout, `root:wazuh` `0640`,
/// passes. Fails naming the file, its mode and the fix.
pub fn check_key_file(path: &Path) -> Result<()> {
    let metadata =
        fs::metadata(path).with_context(|| format!("API key file {}", path.display()))?;
    let mode = metadata.permissions().mode() & 0o7777;
    let why = if mode & 0o004 != 0 {
        "lets every user read it"
    } else if mode & 0o022 != 0 {
        "lets other users change it"
    } else {
        return Ok(());
    };
    bail!(
        "API key file {}: mode {mode:04o} {why}; chmod 640 it (owner root, group wazuh)",
        path.display()
    )
}

/// Checks that not every user may write the state directory: one who can
/// would replace the remembered answers and the datagrams kept for Wazuh.
/// A directory that does not exist yet passes: the run creates it.
pub fn check_state_dir(path: &Path) -> Result<()> {
    let Ok(metadata) = fs::metadata(path) else { return Ok(()) };
    let mode = metadata.permissions().mode() & 0o7777;
    if metadata.is_dir() && mode & 0o002 != 0 {
        bail!(
            "state directory {}: mode {mode:04o} lets every user write it; \
             chmod 750 it (owner wazuh)",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_mode(dir: &Path, name: &str, mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        fs::write(&path, "key\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_key_file_of_its_owner_and_group_passes_and_others_fail() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o400, 0o600, 0o640, 0o440] {
            assert!(check_key_file(&with_mode(dir.path(), "ok", mode)).is_ok(), "{mode:o}");
        }
        for (mode, why) in [
            (0o644, "0644 lets every user read it"),
            (0o604, "0604 lets every user read it"),
            (0o660, "0660 lets other users change it"),
            (0o602, "0602 lets other users change it"),
        ] {
            let path = with_mode(dir.path(), "bad", mode);
            let err = format!("{:#}", check_key_file(&path).unwrap_err());
            assert_eq!(
                err,
                format!(
                    "API key file {}: mode {why}; chmod 640 it (owner root, group wazuh)",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn only_a_state_directory_every_user_may_write_fails() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert!(check_state_dir(&state).is_ok(), "a missing directory is made by the run");
        fs::create_dir(&state).unwrap();
        for (mode, ok) in [(0o750, true), (0o770, true), (0o777, false), (0o1777, false)] {
            fs::set_permissions(&state, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(check_state_dir(&state).is_ok(), ok, "{mode:o}");
        }
    }
}
