//! One writer per checkpoint: a run holds an exclusive lock on its checkpoint (and on its file
//! output) from before it reads them until it ends.
//!
//! The checkpoint itself cannot carry the lock: it is replaced by a rename at every save, and a
//! lock belongs to the file it was taken on, so a second run opening the new file would find it
//! unlocked. The lock is taken on a sidecar, `<checkpoint>.lock`, which is created once, never
//! renamed and never removed (removing it while another run waits to open it would let two runs
//! lock two different files of the same name). A file `--output` is only ever appended to or
//! cut, never replaced, so it is locked itself.
//!
//! The locks are `flock(2)` locks: the kernel releases them when the process ends, however it
//! ends, so a crashed run never leaves a stale lock behind. (`std::fs::File::try_lock` does the
//! same but needs Rust 1.89; the MSRV is 1.88, hence `libc::flock`.) They are advisory, and on
//! network file systems only as good as the server's support for them. On other platforms no
//! lock is taken.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Locks held for the whole run; dropping them (or the process ending) releases them.
///
/// ```
/// use asana_audit_log_pipeline::{Error, Locks};
///
/// let dir = tempfile::tempdir().unwrap();
/// let checkpoint = dir.path().join("events.ckpt");
/// let mut held = Locks::default();
/// held.checkpoint(&checkpoint).unwrap();
/// let second = Locks::default().checkpoint(&checkpoint).unwrap_err();
/// assert!(matches!(second, Error::Locked { .. }));
/// drop(held);
/// Locks::default().checkpoint(&checkpoint).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct Locks {
    held: Vec<File>,
}

impl Locks {
    /// Locks the checkpoint at `checkpoint` through its sidecar `<checkpoint>.lock`.
    pub fn checkpoint(&mut self, checkpoint: &Path) -> Result<(), Error> {
        let sidecar = sidecar(checkpoint);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&sidecar)
            .map_err(|e| {
                Error::refused(format!(
                    "cannot open the lock file {} of checkpoint {}: {e}",
                    sidecar.display(),
                    checkpoint.display()
                ))
            })?;
        self.hold(file, || {
            format!(
                "another run holds checkpoint {} (locked through {}); wait for it to end, or \
                 use another --checkpoint",
                checkpoint.display(),
                sidecar.display()
            )
        })
    }

    /// Locks the file output at `path`, creating it empty when it does not exist (opening it
    /// for the run would create it anyway). When it cannot be opened, nothing is locked: the
    /// output's own open then reports why.
    pub fn output(&mut self, path: &Path) -> Result<(), Error> {
        let Ok(file) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
        else {
            return Ok(());
        };
        self.hold(file, || {
            format!(
                "another run is writing output {}; wait for it to end, or use another --output",
                path.display()
            )
        })
    }

    fn hold(&mut self, file: File, held_by_another: impl FnOnce() -> String) -> Result<(), Error> {
        match try_lock(&file) {
            Ok(true) => {
                self.held.push(file);
                Ok(())
            }
            Ok(false) => Err(Error::Locked {
                message: held_by_another(),
            }),
            Err(e) => Err(Error::io("lock", e)),
        }
    }
}

/// `<checkpoint>.lock`, beside the checkpoint.
pub fn sidecar(checkpoint: &Path) -> PathBuf {
    let mut name = checkpoint.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes an exclusive lock without waiting: `Ok(false)` when another open file holds one.
#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: `flock` only reads the descriptor, which `file` keeps open during the call.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(error)
    }
}

/// No lock off Unix (see the module's documentation).
#[cfg(not(unix))]
fn try_lock(_file: &File) -> io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        type Take = fn(&mut Locks, &Path) -> Result<(), Error>;
        let kinds: [(&str, Take, &str); 2] = [
            (
                "run.ckpt",
                Locks::checkpoint,
                "another run holds checkpoint",
            ),
            (
                "events.ndjson",
                Locks::output,
                "another run is writing output",
            ),
        ];
        for (name, take, held_by_another) in kinds {
            let path = dir.path().join(name);
            let mut first = Locks::default();
            take(&mut first, &path).unwrap();
            let refused = take(&mut Locks::default(), &path).unwrap_err();
            assert!(
                matches!(&refused, Error::Locked { message } if message.contains(held_by_another)),
                "{refused:?}"
            );
            drop(first);
            take(&mut Locks::default(), &path).unwrap();
        }
    }

    #[test]
    fn a_checkpoint_is_locked_through_its_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = dir.path().join("run.ckpt");
        let mut held = Locks::default();
        held.checkpoint(&checkpoint).unwrap();
        assert!(sidecar(&checkpoint).exists());
        assert!(!checkpoint.exists(), "the checkpoint itself is not created");
    }

    #[test]
    fn an_output_that_cannot_be_opened_is_left_for_its_own_open_to_report() {
        let dir = tempfile::tempdir().unwrap();
        Locks::default()
            .output(&dir.path().join("missing/events.ndjson"))
            .unwrap();
    }
}
