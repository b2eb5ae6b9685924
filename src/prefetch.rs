//! Next-track prefetch: when a track starts playing at a transcoded level,
//! the one after it (in its folder's disc/track order, or in the playlist
//! it was started from) is queued at background priority at the same
//! level, so the next tap is a cache hit. Interactive requests still go
//! first (see [`crate::workers`]).
//!
//! Finding the next track reads a folder's tags or a playlist and may probe
//! a file, so it happens on a thread of its own after the play's reply has
//! been handed over: a slow disk or a broken next file never delays or
//! breaks the track that was asked for.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Sender, TrySendError};
use log::{debug, info, warn};

use crate::cache::Key;
use crate::catalog::{Catalog, TrackItem};
use crate::config::Config;
use crate::library::RelPath;
use crate::policy;
use crate::quality::Quality;
use crate::workers::{JobSpec, Priority, Workers};

/// Keys remembered as prefetched, to count the plays they served; past
/// this many the oldest memory is dropped (counts only, nothing else).
const REMEMBERED: usize = 4096;

/// Plays waiting for their next track to be looked up; more are dropped
/// (a prefetch that does not happen only costs a miss later).
const PENDING: usize = 16;

/// Prefetch counters, reported by `/admin/cache/stats`.
#[derive(Default)]
pub struct PrefetchStats {
    /// Plays whose next track was looked up.
    pub considered: AtomicU64,
    /// Transcodes queued by prefetch.
    pub prefetched: AtomicU64,
    /// Plays served from an entry that prefetch made.
    pub hits: AtomicU64,
}

/// A play that may want its next track prefetched.
struct Played {
    /// The track played, relative to the music root.
    track: RelPath,
    quality: Quality,
    /// The playlist it was started from, if any.
    playlist: Option<RelPath>,
}

struct Shared {
    config: Config,
    catalog: Arc<Catalog>,
    workers: Arc<Workers>,
    stats: PrefetchStats,
    keys: Mutex<HashSet<Key>>,
}

/// The prefetch service and its thread.
pub struct Prefetcher {
    shared: Arc<Shared>,
    queue: Sender<Played>,
}

impl Prefetcher {
    /// Starts the `prefetch` thread (at the workers' nice level: it reads
    /// tags).
    ///
    /// Errors: the thread cannot be spawned.
    pub fn start(
        config: Config,
        catalog: Arc<Catalog>,
        workers: Arc<Workers>,
    ) -> std::io::Result<Prefetcher> {
        let (queue, rx) = crossbeam_channel::bounded::<Played>(PENDING);
        let shared = Arc::new(Shared {
            config,
            catalog,
            workers,
            stats: PrefetchStats::default(),
            keys: Mutex::new(HashSet::new()),
        });
        let s = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("prefetch".into())
            .spawn(move || {
                crate::workers::set_nice(s.config.transcode.nice);
                for played in rx {
                    let what = played.track.to_string();
                    if let Err(panic) =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.after(&played)))
                    {
                        warn!(
                            "prefetch after {what:?} crashed: {}",
                            crate::panic_message(&*panic)
                        );
                    }
                }
            })?;
        Ok(Prefetcher { shared, queue })
    }

    /// Asks for the track after `track` (in `playlist`, else in its folder)
    /// to be transcoded at `quality` in the background. Returns at once;
    /// nothing happens when prefetch is off, the level is the original, or
    /// too many plays are already waiting.
    pub fn after(&self, track: &RelPath, quality: Quality, playlist: Option<RelPath>) {
        let cfg = &self.shared.config;
        if !cfg.warm.prefetch_next || quality == Quality::Original || !cfg.cache.enabled {
            return;
        }
        let played = Played {
            track: track.clone(),
            quality,
            playlist,
        };
        match self.queue.try_send(played) {
            Ok(()) => {}
            Err(TrySendError::Full(p)) => debug!("prefetch after {}: too many waiting", p.track),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Counts a cache hit on `key` if prefetch made that entry (once).
    pub fn note_hit(&self, key: &Key) {
        let removed = self
            .shared
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        if removed {
            self.shared.stats.hits.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters.
    pub fn stats(&self) -> &PrefetchStats {
        &self.shared.stats
    }
}

impl Shared {
    fn remember(&self, key: Key) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= REMEMBERED {
            keys.clear();
        }
        keys.insert(key);
    }

    /// The track after `current` in `playlist`, or in `current`'s folder.
    fn next_track(&self, current: &RelPath, playlist: Option<&RelPath>) -> Option<TrackItem> {
        let tracks: Vec<TrackItem> = match playlist {
            Some(p) => self
                .catalog
                .playlist(p)
                .ok()?
                .entries
                .into_iter()
                .filter_map(|e| e.track.ok())
                .collect(),
            None => self.catalog.list(&current.parent()).ok()?.tracks,
        };
        let at = tracks.iter().position(|t| t.entry.relative == *current)?;
        tracks.into_iter().nth(at + 1)
    }

    /// Queues the track after `played` in the background unless it is
    /// cached or queued already. Errors are logged at debug level and
    /// otherwise ignored.
    fn after(&self, played: &Played) {
        self.stats.considered.fetch_add(1, Ordering::Relaxed);
        let quality = played.quality;
        let Some(next) = self.next_track(&played.track, played.playlist.as_ref()) else {
            return;
        };
        let Ok(next_file) = self.catalog.library().resolve(&next.entry.relative) else {
            return;
        };
        let (key, opts) = match policy::job_key(&self.config, &next_file, quality) {
            Ok(Some(k)) => k,
            Ok(None) => return,
            Err(e) => {
                debug!("prefetch: {e}");
                return;
            }
        };
        if self.workers.cache().contains(&key) {
            return;
        }
        let spec = JobSpec {
            key,
            input: next_file.path.clone(),
            relative: next_file.relative.to_string(),
            opts,
            cache: true,
            protect: None,
        };
        match self.workers.request(spec, Priority::Background) {
            Ok(_) => {
                self.stats.prefetched.fetch_add(1, Ordering::Relaxed);
                self.remember(key);
                info!("prefetch {} {quality}", next_file.relative);
            }
            Err(why) => debug!("prefetch {} {quality}: {why:?}", next_file.relative),
        }
    }
}
