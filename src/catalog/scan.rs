//! The library scan: one walk that reads every track's tags into the
//! metadata cache (so the first search is as fast as the next) and builds
//! the album index (see [`super::albums`]). The [`Scanner`] thread runs it
//! at start, again every [`RESCAN_EVERY`] (cheap: unchanged files are
//! metadata-cache hits) and whenever it is asked to (Subsonic `startScan`);
//! an index equal to the previous one is not swapped in, so its build time
//! only moves when the library changed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{RecvTimeoutError, Sender, TrySendError};
use log::{info, warn};

use super::albums::{self, AlbumIndex, ScannedFolder};
use super::{Catalog, is_audio};
use crate::library::RelPath;

/// How often the library is scanned again for added, removed or changed
/// files.
pub const RESCAN_EVERY: Duration = Duration::from_secs(10 * 60);

/// Where a scan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanStatus {
    pub scanning: bool,
    /// Tracks seen by the scan in progress, else by the last one.
    pub count: u64,
    /// Scans finished since start (0: the album index is still empty).
    pub completed: u64,
}

impl Catalog {
    /// Walks the whole library: reads the tags of every track into the
    /// metadata cache (up to its capacity) and rebuilds the album index.
    /// Logs what it did.
    pub fn scan(&self) {
        let started = Instant::now();
        self.scanning.store(true, Ordering::Release);
        self.scanned.store(0, Ordering::Release);
        let before = self.stats().misses;
        let mut folders: Vec<ScannedFolder> = Vec::new();
        let mut at: HashMap<RelPath, usize> = HashMap::new();
        let mut mtimes: HashMap<RelPath, SystemTime> = HashMap::new();
        let mut dirs = 0u64;
        self.walk(|entry, folder_cover| {
            if entry.metadata.is_dir() {
                dirs += 1;
                if let Ok(t) = entry.metadata.modified() {
                    mtimes.insert(entry.relative, t);
                }
            } else if is_audio(&entry.name) {
                let info = self.track_info(&entry.path, &entry.relative, &entry.metadata);
                let parent = entry.relative.parent();
                let i = *at.entry(parent.clone()).or_insert_with(|| {
                    folders.push(ScannedFolder {
                        folder: parent,
                        mtime: SystemTime::UNIX_EPOCH,
                        has_folder_art: folder_cover.is_some(),
                        tracks: Vec::new(),
                    });
                    folders.len() - 1
                });
                folders[i].tracks.push(info);
                self.scanned.fetch_add(1, Ordering::Relaxed);
            }
            true
        });
        for f in &mut folders {
            f.mtime = match mtimes.get(&f.folder) {
                Some(t) => *t,
                None => std::fs::metadata(self.library.root())
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH),
            };
        }
        let tracks = self.scanned.load(Ordering::Acquire);
        let fresh = albums::build(folders, SystemTime::now());
        let changed = {
            let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
            let changed = index.built.is_none() || index.albums != fresh.albums;
            if changed {
                *index = Arc::new(fresh);
            }
            changed
        };
        self.scans.fetch_add(1, Ordering::Release);
        self.scanning.store(false, Ordering::Release);
        info!(
            "library scan: {tracks} tracks in {dirs} folders, {} read, in {:.1} s{}",
            self.stats().misses - before,
            started.elapsed().as_secs_f64(),
            if changed { "" } else { " (no change)" }
        );
    }

    /// The album index as of the last scan (empty before the first one
    /// ends).
    pub fn index(&self) -> Arc<AlbumIndex> {
        Arc::clone(&self.index.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether a scan runs, and how many tracks it has seen.
    pub fn scan_status(&self) -> ScanStatus {
        ScanStatus {
            scanning: self.scanning.load(Ordering::Acquire),
            count: self.scanned.load(Ordering::Acquire),
            completed: self.scans.load(Ordering::Acquire),
        }
    }
}

/// The thread that scans the library.
pub struct Scanner {
    wake: Sender<()>,
}

impl Scanner {
    /// Starts the `library-scan` thread at `nice`: it scans at once, then
    /// every [`RESCAN_EVERY`] and on [`Scanner::request`].
    ///
    /// Errors: the thread cannot be spawned.
    pub fn start(catalog: Arc<Catalog>, nice: i32) -> std::io::Result<Scanner> {
        let (wake, rx) = crossbeam_channel::bounded::<()>(1);
        std::thread::Builder::new()
            .name("library-scan".into())
            .spawn(move || {
                crate::workers::set_nice(nice);
                loop {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        catalog.scan();
                    }));
                    if let Err(panic) = result {
                        catalog.scanning.store(false, Ordering::Release);
                        warn!("library scan crashed: {}", crate::panic_message(&*panic));
                    }
                    match rx.recv_timeout(RESCAN_EVERY) {
                        Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Scanner { wake })
    }

    /// Asks for a scan now (one more is queued at most).
    pub fn request(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}
