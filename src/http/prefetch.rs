//! Next-track prefetch: when a track starts playing at a transcoded level,
//! the one after it (in its folder's disc/track order, or in the playlist
//! named by `?playlist=`) is queued at background priority at the same
//! level, so the next tap is a cache hit. Interactive requests still go
//! first (see [`crate::workers`]).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use log::{debug, info};

use super::App;
use super::api::encode_path;
use crate::cache::Key;
use crate::catalog::{TrackItem, parent_of};
use crate::keys;
use crate::library::LibraryFile;
use crate::quality::Quality;
use crate::workers::{JobSpec, Priority};

/// Keys remembered as prefetched, to count the plays they served; past
/// this many the oldest memory is dropped (counts only, nothing else).
const REMEMBERED: usize = 4096;

/// Prefetch counters, reported by `/admin/cache/stats`.
#[derive(Default)]
pub struct Prefetch {
    /// Transcodes queued by prefetch.
    pub prefetched: AtomicU64,
    /// Plays served from an entry that prefetch made.
    pub hits: AtomicU64,
    keys: Mutex<HashSet<Key>>,
}

impl Prefetch {
    /// Counts a cache hit on `key` if prefetch made that entry (once).
    pub fn note_hit(&self, key: &Key) {
        let removed = self
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        if removed {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn remember(&self, key: Key) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= REMEMBERED {
            keys.clear();
        }
        keys.insert(key);
    }
}

/// The track after `current` in `playlist` (a decoded path relative to the
/// root), or in `current`'s folder.
fn next_track(app: &App, current: &str, playlist: Option<&str>) -> Option<TrackItem> {
    let tracks: Vec<TrackItem> = match playlist {
        Some(p) => app
            .catalog
            .playlist(&encode_path(p))
            .ok()?
            .entries
            .into_iter()
            .filter_map(|e| e.track.ok())
            .collect(),
        None => {
            app.catalog
                .list(&encode_path(parent_of(current)))
                .ok()?
                .tracks
        }
    };
    let at = tracks.iter().position(|t| t.entry.relative == current)?;
    tracks.into_iter().nth(at + 1)
}

/// Queues the track after `file` at `quality` in the background, unless
/// prefetch is off, the level is the original, or it is cached or queued
/// already. Errors are logged at debug level and otherwise ignored: a
/// prefetch that does not happen only costs a miss later.
pub fn after(app: &App, file: &LibraryFile, quality: Quality, playlist: Option<&str>) {
    if !app.config.warm.prefetch_next || quality == Quality::Original || !app.config.cache.enabled {
        return;
    }
    let Some(workers) = app.workers.as_ref() else {
        return;
    };
    let Some(next) = next_track(app, &file.relative, playlist) else {
        return;
    };
    let Ok(next_file) = app.library.resolve_relative(&next.entry.relative) else {
        return;
    };
    let Some((key, opts)) = keys::job_key(&app.config, &next_file, quality) else {
        return;
    };
    if workers.cache().contains(&key) {
        return;
    }
    let spec = JobSpec {
        key,
        input: next_file.path.clone(),
        relative: next_file.relative.clone(),
        opts,
        cache: true,
        protect: None,
    };
    match workers.request(spec, Priority::Background) {
        Ok(_) => {
            app.prefetch.prefetched.fetch_add(1, Ordering::Relaxed);
            app.prefetch.remember(key);
            info!("prefetch {} {quality}", next_file.relative);
        }
        Err(why) => debug!("prefetch {} {quality}: {why:?}", next_file.relative),
    }
}
