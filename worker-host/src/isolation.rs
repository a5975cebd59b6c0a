//! Keeping tasks away from the worker and from each other.
//!
//! The worker makes itself non-dumpable at start, so no task — not even one
//! under the worker's own uid — can read its memory or `/proc/<pid>/environ`
//! (where its AWS credentials are). A root worker runs each process or
//! script task under a uid of its own from `--task-uids`, with no
//! supplementary groups: concurrent tasks cannot read each other's files or
//! signal each other's processes, and nothing of root's (its home, the
//! Docker socket) is theirs. Before an attempt starts and after it ends,
//! every process under its uid is killed, so no attempt meets another's
//! leftovers.

use std::str::FromStr;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Makes this process non-dumpable (`PR_SET_DUMPABLE` 0): its memory and
/// `/proc/<pid>/environ` are closed to every unprivileged process.
pub fn make_non_dumpable() -> std::io::Result<()> {
    nix::sys::prctl::set_dumpable(false).map_err(std::io::Error::from)
}

/// A range of uids, `FIRST-LAST` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    pub first: u32,
    pub last: u32,
}

impl FromStr for UidRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |n: &str| {
            n.trim()
                .parse::<u32>()
                .map_err(|_| format!("{n:?} is not a uid"))
        };
        let (first, last) = s
            .split_once('-')
            .ok_or_else(|| format!("expected FIRST-LAST, got {s:?}"))?;
        let (first, last) = (parse(first)?, parse(last)?);
        if first == 0 || first > last {
            return Err(format!("{s:?}: uids must be above 0 and FIRST ≤ LAST"));
        }
        Ok(UidRange { first, last })
    }
}

impl UidRange {
    /// How many uids the range holds.
    pub fn count(&self) -> usize {
        (self.last - self.first + 1) as usize
    }
}

/// Where workers on one host take their task uids: a lock file per uid,
/// so several workers (or a restarted one) never hand out the same uid.
const UID_LOCK_DIR: &str = "/run/wharf/task-uids";

/// Why a worker cannot isolate its tasks, or an attempt gets no task uid.
#[derive(Debug, thiserror::Error)]
pub enum UidError {
    #[error("--task-uids {}-{} holds {} uids, fewer than the {slots} task slots", range.first, range.last, range.count())]
    TooFew { range: UidRange, slots: usize },
    #[error("cannot create {UID_LOCK_DIR}: {0}")]
    LockDir(std::io::Error),
    #[error("cannot open {}: {err}", path.display())]
    LockFile { path: PathBuf, err: std::io::Error },
    #[error("every task uid of {}-{} is in use on this host", .0.first, .0.last)]
    AllInUse(UidRange),
    /// The blocking lock search panicked or was cancelled.
    #[error("{0}")]
    Search(tokio::task::JoinError),
}

/// Who process and script tasks run as.
#[derive(Debug, Clone)]
pub enum TaskUsers {
    /// A root worker: each running task under a uid of its own from the
    /// range, held by a lock shared with every worker on the host.
    Isolated(UidRange),
    /// Tasks run as the worker's own user: a non-root worker, or a root one
    /// told `--task-user root`. Tasks are then not isolated from each other.
    Shared,
}

impl TaskUsers {
    /// What this worker can do: per-task uids from `range` when it runs as
    /// root (unless `as_root` opts out), enough for `slots` tasks at once.
    pub fn new(range: UidRange, slots: usize, as_root: bool) -> Result<TaskUsers, UidError> {
        if !nix::unistd::geteuid().is_root() {
            tracing::warn!("the worker does not run as root: tasks run as its own user and are not isolated from each other");
            return Ok(TaskUsers::Shared);
        }
        if as_root {
            tracing::warn!("--task-user root: process and script tasks run as root, with full access to this host");
            return Ok(TaskUsers::Shared);
        }
        if range.count() < slots {
            return Err(UidError::TooFew { range, slots });
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(UID_LOCK_DIR)
            .map_err(UidError::LockDir)?;
        Ok(TaskUsers::Isolated(range))
    }

    /// A uid for one attempt, with nothing left running under it; `None`
    /// when tasks share the worker's user.
    pub async fn acquire(&self) -> Result<Option<TaskUid>, UidError> {
        let TaskUsers::Isolated(range) = self else {
            return Ok(None);
        };
        let range = *range;
        let task_uid = tokio::task::spawn_blocking(move || lock_free_uid(range))
            .await
            .map_err(UidError::Search)??;
        // A worker that crashed may have left processes under it.
        task_uid.reap().await;
        Ok(Some(task_uid))
    }
}

/// The first uid of `range` whose lock no one holds.
fn lock_free_uid(range: UidRange) -> Result<TaskUid, UidError> {
    for uid in range.first..=range.last {
        let path = Path::new(UID_LOCK_DIR).join(uid.to_string());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| UidError::LockFile {
                path: path.clone(),
                err,
            })?;
        if let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            return Ok(TaskUid { uid, _lock: lock });
        }
    }
    Err(UidError::AllInUse(range))
}

/// A uid held by one attempt, until dropped.
#[derive(Debug)]
pub struct TaskUid {
    uid: u32,
    _lock: Flock<std::fs::File>,
}

impl TaskUid {
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Kills every process running under this uid (a task may have left
    /// its process group), so the next attempt given it meets nothing.
    pub async fn reap(&self) {
        let uid = self.uid;
        let reaped = tokio::task::spawn_blocking(move || kill_all_of(uid)).await;
        if let Ok(Err(err)) | Err(err) = reaped.map_err(std::io::Error::other) {
            tracing::warn!(uid, error = %err, "cannot reap the task uid's processes");
        }
    }
}

/// The work directory of an isolating worker: others may pass through it
/// (each task to its own attempt directory) but not list it. Refused, with
/// what to do, when a directory on the way to it is closed to others: no task
/// uid could then reach its attempt directory.
pub fn close_work_dir(work_dir: &Path) -> std::io::Result<()> {
    // Its parents are checked before it is changed: a refused directory is
    // left as it was.
    if let Some(closed) = work_dir.parent().and_then(closed_on_the_way) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "the task uids cannot reach the work directory {}: {closed}. Use a --work-dir \
                 every parent of which others may search (e.g. `install -d -m 0711 \
                 /var/lib/wharf/work`), or `chmod o+x` that directory",
                work_dir.display(),
            ),
        ));
    }
    std::fs::set_permissions(work_dir, std::fs::Permissions::from_mode(0o711))
}

/// A directory that others may not search (no `o+x`).
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub dir: PathBuf,
    pub mode: u32,
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is mode {:04o}, which others may not search",
            self.dir.display(),
            self.mode
        )
    }
}

/// The first directory on the way to `path` (an absolute path; `path`
/// itself too when it is a directory) that a uid neither owning it nor in its
/// group cannot pass through, as a task uid is to the worker's directories.
pub fn closed_on_the_way(path: &Path) -> Option<Closed> {
    path.ancestors()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|dir| {
            let metadata = std::fs::metadata(dir).ok().filter(|m| m.is_dir())?;
            let mode = metadata.permissions().mode() & 0o7777;
            (mode & 0o001 == 0).then(|| Closed {
                dir: dir.to_path_buf(),
                mode,
            })
        })
}

/// `kill(-1, SIGKILL)` from a child that has become `uid`: it reaches every
/// process of that uid, and nothing else.
fn kill_all_of(uid: u32) -> std::io::Result<()> {
    use nix::sys::wait::waitpid;
    use nix::unistd::{fork, setgid, setuid, ForkResult, Gid, Uid};
    // SAFETY: the child only makes async-signal-safe calls (setgid, setuid,
    // kill, _exit) before it ends.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let dropped = setgid(Gid::from_raw(uid)).and_then(|()| setuid(Uid::from_raw(uid)));
            let code = match dropped {
                // Linux never delivers kill(-1) to the caller itself.
                Ok(()) => kill(Pid::from_raw(-1), Signal::SIGKILL).map_or(1, |()| 0),
                Err(_) => 2,
            };
            // SAFETY: ends the forked child without running the parent's
            // atexit handlers or destructors.
            unsafe { nix::libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            waitpid(child, None)?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_ranges_are_parsed_and_checked() {
        let range: UidRange = "61000-61999".parse().unwrap();
        assert_eq!(
            (range.first, range.last, range.count()),
            (61000, 61999, 1000)
        );
        assert!("0-10".parse::<UidRange>().is_err());
        assert!("20-10".parse::<UidRange>().is_err());
        assert!("61000".parse::<UidRange>().is_err());
        assert!("a-b".parse::<UidRange>().is_err());
    }

    #[test]
    fn uid_errors_name_the_range() {
        let range = UidRange {
            first: 61000,
            last: 61001,
        };
        assert_eq!(
            UidError::TooFew { range, slots: 4 }.to_string(),
            "--task-uids 61000-61001 holds 2 uids, fewer than the 4 task slots"
        );
        assert_eq!(
            UidError::AllInUse(range).to_string(),
            "every task uid of 61000-61001 is in use on this host"
        );
    }

    #[test]
    fn the_first_directory_closed_to_others_on_the_way_is_named() {
        let base = std::env::temp_dir().join(format!("wharf-closed-{}", std::process::id()));
        let work = base.join("clone/work");
        std::fs::create_dir_all(&work).unwrap();
        let mode = |dir: &Path, mode| {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        mode(&base, 0o711);
        mode(&base.join("clone"), 0o755);
        mode(&work, 0o711);
        assert_eq!(closed_on_the_way(&work), None);

        mode(&base.join("clone"), 0o700);
        let closed = closed_on_the_way(&work).unwrap();
        assert_eq!(
            closed,
            Closed {
                dir: base.join("clone"),
                mode: 0o700
            }
        );
        assert!(closed.to_string().contains("is mode 0700"), "{closed}");

        // The first one counts; a closed directory itself is named too.
        mode(&base, 0o750);
        assert_eq!(closed_on_the_way(&work).unwrap().dir, base);
        mode(&base, 0o711);
        mode(&base.join("clone"), 0o711);
        mode(&work, 0o700);
        assert_eq!(closed_on_the_way(&work).unwrap().dir, work);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
