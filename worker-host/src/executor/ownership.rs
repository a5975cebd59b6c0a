//! Who owns an attempt's files while a task under a uid of its own runs:
//! handed to the task before it starts, taken back before its outputs
//! upload ([`crate::isolation`] says why).

use std::os::unix::fs::PermissionsExt;

use super::Run;

/// Gives the task its home and output directory (mode 0700: no other task
/// can look in), its payload (readable by its group only) and its secret
/// files (its own, read-only). The attempt
/// directory and `io/` stay the worker's, so the task cannot replace what
/// the worker opens there (the log, the output directory itself).
pub fn hand_over(run: &Run, uid: u32) -> std::io::Result<()> {
    for dir in [run.home(), run.output_dir()] {
        std::os::unix::fs::chown(&dir, Some(uid), Some(uid))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let payload = run.payload_file();
    std::os::unix::fs::chown(&payload, Some(0), Some(uid))?;
    std::fs::set_permissions(&payload, std::fs::Permissions::from_mode(0o640))?;
    hand_secrets_over(run, uid, 0o500)
}

/// Gives the task its `as: file` secrets (the directory with `dir_mode`,
/// each file 0400 as written), if it has any.
pub fn hand_secrets_over(run: &Run, uid: u32, dir_mode: u32) -> std::io::Result<()> {
    if run.secrets.files.is_empty() {
        return Ok(());
    }
    let dir = run.secrets_dir();
    for (name, _) in &run.secrets.files {
        std::os::unix::fs::chown(dir.join(name), Some(uid), Some(uid))?;
    }
    std::os::unix::fs::chown(&dir, Some(uid), Some(uid))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(dir_mode))
}

/// Takes the output directory back from the task (everything in it, links
/// not followed) before its uid goes to another attempt, which could
/// otherwise change the files while they upload.
pub fn take_back(run: &Run) -> std::io::Result<()> {
    let mut pending = vec![run.output_dir()];
    while let Some(path) = pending.pop() {
        std::os::unix::fs::lchown(&path, Some(0), Some(0))?;
        let metadata = std::fs::symlink_metadata(&path)?;
        if metadata.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(())
}
