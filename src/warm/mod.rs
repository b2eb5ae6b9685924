//! Warm jobs: transcode folders, tracks and playlists into the cache
//! before anyone presses play, at background priority on the existing
//! worker set (interactive requests always go first), with progress that
//! any number of listeners can follow.
//!
//! One `warm` thread runs jobs one after another; each keeps at most as
//! many transcodes queued as there are workers, so a play that arrives
//! mid-job waits for at most the transcodes already running. A job that
//! crashes fails alone: the thread goes on with the next.
//!
//! Budget rule: a job may evict only entries that are neither its own nor
//! used within the last hour ([`Protected`](crate::cache::Protected)).
//! When the next track cannot fit without evicting one of those, the job
//! stops as `done` with a `budget_full` note saying how many more bytes it
//! would have needed, instead of evicting what it just warmed (thrashing).

mod job;
mod run;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

pub use job::{Event, Next, WarmJob};

use crate::catalog::{Catalog, is_playlist};
use crate::config::Config;
use crate::library::{RelPath, ResolveError};
use crate::quality::Quality;
use crate::reports::{JobState, WarmRequest};
use crate::workers::Workers;

/// Entries used this recently are never evicted by warming.
pub const RECENT_USE: Duration = Duration::from_secs(3600);

/// Finished jobs kept for `GET /admin/jobs`; older ones are forgotten.
const FINISHED_KEPT: usize = 20;

/// How often a waiting job checks whether it was cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// Splits `entries` into playlists (by extension) and other paths: a warm
/// request for `levels`.
pub fn request_for(entries: &[String], qualities: Vec<Quality>) -> WarmRequest {
    let (playlists, paths) = entries.iter().cloned().partition(|e| is_playlist(e));
    WarmRequest {
        paths,
        playlists,
        qualities,
    }
}

/// Why a warm request was refused before it was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Nothing to warm, or a level that is never transcoded.
    Invalid(String),
    /// These entries are not in the library (or are refused), with why.
    NotFound(Vec<(String, String)>),
    /// The cache is disabled or unusable.
    NoCache,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Invalid(m) => f.write_str(m),
            RequestError::NotFound(list) => {
                let shown: Vec<String> = list
                    .iter()
                    .map(|(p, why)| format!("{p:?}: {why}"))
                    .collect();
                write!(f, "not in the library: {}", shown.join("; "))
            }
            RequestError::NoCache => {
                f.write_str("the cache is disabled, so there is nothing to warm")
            }
        }
    }
}

impl std::error::Error for RequestError {}

struct Shared {
    config: Config,
    catalog: Arc<Catalog>,
    workers: Arc<Workers>,
    jobs: Mutex<VecDeque<Arc<WarmJob>>>,
    next_id: AtomicU64,
}

/// The warm queue and its thread.
pub struct Warmer {
    shared: Arc<Shared>,
    queue: Sender<Arc<WarmJob>>,
}

impl Warmer {
    /// Starts the `warm` thread (at the workers' nice level: it reads tags
    /// and walks folders).
    ///
    /// Errors: the thread cannot be spawned.
    pub fn start(
        config: Config,
        catalog: Arc<Catalog>,
        workers: Arc<Workers>,
    ) -> std::io::Result<Warmer> {
        let (queue, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            config,
            catalog,
            workers,
            jobs: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
        });
        let s = Arc::clone(&shared);
        thread::Builder::new()
            .name("warm".into())
            .spawn(move || warm_thread(&s, &rx))?;
        Ok(Warmer { shared, queue })
    }

    /// Entries of `req` that are not in the library, with why.
    pub fn check(&self, req: &WarmRequest) -> Vec<(String, String)> {
        let lib = self.shared.catalog.library();
        let mut bad = Vec::new();
        for p in &req.paths {
            // "" (or "/") is the whole library.
            let found = RelPath::new(p.trim_matches('/'))
                .map_err(ResolveError::from)
                .and_then(|r| match lib.resolve(&r) {
                    Ok(_) => Ok(()),
                    Err(ResolveError::NotFound) => lib.resolve_dir(&r).map(|_| ()),
                    Err(e) => Err(e),
                });
            if let Err(e) = found {
                bad.push((p.clone(), reason(&e)));
            }
        }
        for p in &req.playlists {
            match RelPath::new(p)
                .map_err(ResolveError::from)
                .and_then(|r| lib.resolve(&r))
            {
                Ok(f) if is_playlist(&f.relative) => {}
                Ok(_) => bad.push((p.clone(), "not a .m3u or .m3u8 playlist".to_owned())),
                Err(e) => bad.push((p.clone(), reason(&e))),
            }
        }
        bad
    }

    /// Queues `req` (levels: the request's, else `[warm] qualities`).
    ///
    /// Errors: [`RequestError::Invalid`] for an empty request,
    /// [`RequestError::NotFound`] naming every entry not in the library,
    /// [`RequestError::NoCache`] when the cache is disabled.
    pub fn submit(&self, mut req: WarmRequest) -> Result<Arc<WarmJob>, RequestError> {
        if !self.shared.config.cache.enabled {
            return Err(RequestError::NoCache);
        }
        if req.paths.is_empty() && req.playlists.is_empty() {
            return Err(RequestError::Invalid(
                "name at least one entry in \"paths\" or \"playlists\"".to_owned(),
            ));
        }
        if req.qualities.contains(&Quality::Original) {
            return Err(RequestError::Invalid(
                "\"original\" is never transcoded, so there is nothing to warm".to_owned(),
            ));
        }
        if req.qualities.is_empty() {
            req.qualities = self.shared.config.warm.qualities.clone();
        }
        let mut seen = Vec::new();
        req.qualities.retain(|q| {
            let new = !seen.contains(q);
            seen.push(*q);
            new
        });
        let bad = self.check(&req);
        if !bad.is_empty() {
            return Err(RequestError::NotFound(bad));
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let job = Arc::new(WarmJob::new(id, req));
        {
            let mut jobs = lock(&self.shared.jobs);
            jobs.push_back(Arc::clone(&job));
            while jobs.len() > FINISHED_KEPT
                && let Some(at) = jobs.iter().position(|j| j.status().state.is_finished())
            {
                jobs.remove(at);
            }
        }
        if self.queue.send(Arc::clone(&job)).is_err() {
            job.finish(JobState::Failed, Some("the warm thread is gone".to_owned()));
        }
        Ok(job)
    }

    /// Queues `[warm] on_start` at `[warm] qualities`, leaving out (with a
    /// warning) entries that are not in the library. `None` when there is
    /// nothing to warm.
    pub fn submit_on_start(&self) -> Option<Arc<WarmJob>> {
        let warm = &self.shared.config.warm;
        if warm.on_start.is_empty() {
            return None;
        }
        let request = request_for(&warm.on_start, warm.qualities.clone());
        let bad = self.check(&request);
        for (entry, why) in &bad {
            log::warn!("warm.on_start: {entry:?} {why}; left out");
        }
        let keep: Vec<String> = warm
            .on_start
            .iter()
            .filter(|e| !bad.iter().any(|(b, _)| b == *e))
            .cloned()
            .collect();
        if keep.is_empty() {
            return None;
        }
        match self.submit(request_for(&keep, warm.qualities.clone())) {
            Ok(job) => {
                log::info!(
                    "warm.on_start: job {} queued ({} entries)",
                    job.id(),
                    keep.len()
                );
                Some(job)
            }
            Err(e) => {
                log::warn!("warm.on_start: {e}");
                None
            }
        }
    }

    /// The job numbered `id`, if it is still remembered.
    pub fn job(&self, id: u64) -> Option<Arc<WarmJob>> {
        lock(&self.shared.jobs)
            .iter()
            .find(|j| j.id() == id)
            .cloned()
    }

    /// Every remembered job, oldest first.
    pub fn jobs(&self) -> Vec<Arc<WarmJob>> {
        lock(&self.shared.jobs).iter().cloned().collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why an entry cannot be warmed, in a few words.
fn reason(e: &ResolveError) -> String {
    match e {
        ResolveError::NotFound => "not found".to_owned(),
        ResolveError::Rejected(why) => format!("refused ({why})"),
        ResolveError::Io { err, .. } => format!("cannot be read ({err})"),
    }
}

fn warm_thread(shared: &Shared, queue: &Receiver<Arc<WarmJob>>) {
    crate::workers::set_nice(shared.config.transcode.nice);
    for job in queue {
        if job.cancelled() {
            job.finish(
                JobState::Cancelled,
                Some("cancelled before it started".to_owned()),
            );
            continue;
        }
        run_contained(&job, || run::run(shared, &job));
    }
}

/// Runs one job; a panic (a bug, or a decoder crash that slipped past its
/// guard) fails that job instead of killing the warm thread, so every
/// later job still runs.
fn run_contained(job: &WarmJob, f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let what = crate::panic_message(&*panic);
        log::error!("warm job {} crashed: {what}", job.id());
        job.finish(JobState::Failed, Some(format!("internal error: {what}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::EventKind;

    #[test]
    fn a_job_that_panics_ends_failed_with_a_done_event() {
        let job = WarmJob::new(7, WarmRequest::default());
        run_contained(&job, || panic!("boom"));
        let status = job.status();
        assert_eq!(status.state, JobState::Failed);
        assert_eq!(status.message.as_deref(), Some("internal error: boom"));
        let Next::Events(events) = job.next_events(0, Duration::ZERO) else {
            panic!("a done event")
        };
        assert_eq!(events.last().map(|e| e.kind), Some(EventKind::Done));
    }
}
