//! The one-writer rule of a cache directory: an exclusive lock on its
//! `.lock` file, held by the server, or by `tapedeck warm`/`tapedeck cache`
//! when no server runs, with the holder's pid and role written inside for
//! whoever finds it taken.

use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::Path;

/// Name of the lock file in the cache directory.
const LOCK_FILE: &str = ".lock";

/// An exclusive `flock` on a cache directory's `.lock` file, held by the
/// one process allowed to write entries: the server, or `tapedeck
/// warm`/`tapedeck cache` when no server is running. Released when
/// dropped or when the process dies (the kernel drops `flock`s with the
/// descriptor, so a killed process never leaves a stale lock).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Why [`lock_dir`] did not lock.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; `holder` is what it wrote (`<pid> <role>`).
    Held {
        holder: String,
    },
    Io(io::Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { holder } => write!(f, "the cache is locked by {holder}"),
            LockError::Io(e) => write!(f, "cannot lock the cache directory: {e}"),
        }
    }
}

impl std::error::Error for LockError {}

/// Takes the exclusive lock on cache directory `dir` (created if needed)
/// for `role` (e.g. `serve`, `warm`), waiting for it when `wait` is true.
/// Writes `<pid> <role>` into the lock file for whoever finds it held.
///
/// Errors: [`LockError::Held`] when `wait` is false and another process
/// has it; [`LockError::Io`] when the directory or file cannot be used.
pub fn lock_dir(dir: &Path, role: &str, wait: bool) -> Result<DirLock, LockError> {
    fs::create_dir_all(dir).map_err(LockError::Io)?;
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(LockError::Io)?;
    // std's file locks are flock(2) on Linux: released with the
    // descriptor, so a killed process never leaves a stale lock.
    let locked = if wait {
        file.lock().map_err(LockError::Io)
    } else {
        file.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => LockError::Held {
                holder: lock_holder(dir).unwrap_or_else(|| "another process".to_owned()),
            },
            TryLockError::Error(e) => LockError::Io(e),
        })
    };
    locked?;
    let record = format!("{} {role}\n", std::process::id());
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(record.as_bytes()));
    if let Err(e) = written {
        log::debug!("cache: cannot record the lock holder: {e}");
    }
    Ok(DirLock { _file: file })
}

/// `pid <n> (<role>)` as recorded by the holder of `dir`'s lock.
pub fn lock_holder(dir: &Path) -> Option<String> {
    let mut text = String::new();
    File::open(dir.join(LOCK_FILE))
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    let (pid, role) = text.trim().split_once(' ')?;
    Some(format!("pid {pid} (tapedeck {role})"))
}
