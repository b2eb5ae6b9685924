//! Warm jobs: transcode folders, tracks and playlists into the cache
//! before anyone presses play, at background priority on the existing
//! worker set (interactive requests always go first), with progress that
//! any number of listeners can follow.
//!
//! One `warm` thread runs jobs one after another; each keeps at most as
//! many transcodes queued as there are workers, so a play that arrives
//! mid-job waits for at most the transcodes already running.
//!
//! Budget rule: a job may evict only entries that are neither its own nor
//! used within the last hour ([`Protected`]). When the next track cannot
//! fit without evicting one of those, the job stops as `done` with a
//! `budget_full` note saying how many more bytes it would have needed,
//! instead of evicting what it just warmed (thrashing).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cache::Protected;
use crate::catalog::{Catalog, PlaylistError, is_playlist};
use crate::config::Config;
use crate::keys;
use crate::library::ResolveError;
use crate::quality::Quality;
use crate::workers::{JobSpec, Outcome, Priority, Refused, Workers};

/// Entries used this recently are never evicted by warming.
pub const RECENT_USE: Duration = Duration::from_secs(3600);

/// Finished jobs kept for `GET /admin/jobs`; older ones are forgotten.
const FINISHED_KEPT: usize = 20;

/// Events kept per job for listeners that fall behind; one that falls
/// further behind gets a fresh `state` event instead.
const EVENTS_KEPT: usize = 256;

/// Errors listed per job; further failures are only counted.
const ERRORS_KEPT: usize = 100;

/// How often a waiting job checks whether it was cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// What to warm. Paths are relative to the music root, `/`-separated and
/// not percent-encoded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WarmRequest {
    /// Tracks, or folders (warmed with everything below them).
    pub paths: Vec<String>,
    /// `.m3u`/`.m3u8` files.
    pub playlists: Vec<String>,
    /// Levels to warm each track at (never `original`).
    pub qualities: Vec<Quality>,
}

impl WarmRequest {
    /// Splits `entries` into playlists (by extension) and other paths.
    pub fn from_entries(entries: &[String], qualities: Vec<Quality>) -> WarmRequest {
        let (playlists, paths) = entries.iter().cloned().partition(|e| is_playlist(e));
        WarmRequest {
            paths,
            playlists,
            qualities,
        }
    }
}

/// Where a warm job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    /// The lowercase name used in JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Done, failed or cancelled: nothing more will happen.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A track that failed, or an entry that could not be warmed.
#[derive(Debug, Clone, Serialize)]
pub struct TrackError {
    pub path: String,
    pub error: String,
}

/// A warm job as `GET /admin/jobs/<id>` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub id: u64,
    pub state: JobState,
    /// Track × level pairs to warm (known once the job has listed them).
    pub total: u64,
    /// Pairs transcoded into the cache by this job.
    pub done: u64,
    /// Pairs not transcoded: already cached, never transcoded (an MP3 no
    /// larger than the level), or missing from a playlist.
    pub skipped: u64,
    /// Of `skipped`, those already in the cache.
    pub already_cached: u64,
    pub failed: u64,
    /// The track being transcoded (the oldest still running).
    pub current: Option<String>,
    /// Bytes of the entries this job wrote.
    pub bytes_cached: u64,
    /// Bytes of the originals of those entries (what playing them
    /// untranscoded would have sent).
    pub source_bytes: u64,
    /// Seconds since the Unix epoch.
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    /// Estimated seconds left, from the audio seconds transcoded so far
    /// and those still to do; `None` until one transcode finished.
    pub eta_s: Option<u64>,
    pub errors: Vec<TrackError>,
    /// `"budget_full"` when the job stopped because the cache could not
    /// hold more without evicting recent entries; `"cache_disabled"`.
    pub note: Option<&'static str>,
    /// With `budget_full`: about how many more bytes of budget would let
    /// the job finish.
    pub needed_bytes: Option<u64>,
    /// A sentence for people.
    pub message: Option<String>,
    pub request: WarmRequest,
}

/// The kind of a job event (the SSE `event:` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A track × level pair finished (cached, or skipped).
    Progress,
    /// A track × level pair failed.
    Error,
    /// The job finished; the data is the final [`Status`].
    Done,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Progress => "progress",
            EventKind::Error => "error",
            EventKind::Done => "done",
        }
    }
}

/// One job event, numbered from 1 in the order it happened.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: u64,
    pub kind: EventKind,
    /// JSON object: the track, what happened, and the job's counters.
    pub data: Value,
}

/// What [`WarmJob::next_events`] found.
#[derive(Debug)]
pub enum Next {
    /// Events after the one asked for, in order.
    Events(Vec<Event>),
    /// Some were dropped before the listener read them: start again from
    /// a fresh [`WarmJob::snapshot`].
    Lagged,
    /// Nothing new within the timeout.
    Idle,
}

struct Inner {
    status: Status,
    events: VecDeque<Event>,
    last_seq: u64,
    /// Audio seconds transcoded by this job and still to do, and when it
    /// started transcoding: the ETA assumes the same speed for the rest.
    audio_done_s: f64,
    audio_left_s: f64,
    since: Option<Instant>,
}

/// One warm job, shared by the warm thread and every listener.
pub struct WarmJob {
    id: u64,
    cancel: AtomicBool,
    inner: Mutex<Inner>,
    changed: Condvar,
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl WarmJob {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The job's number, unique in this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The job as it is now.
    pub fn status(&self) -> Status {
        self.lock().status.clone()
    }

    /// The job now and the number of the last event it includes: a late
    /// listener sends this, then follows with [`WarmJob::next_events`].
    pub fn snapshot(&self) -> (Status, u64) {
        let st = self.lock();
        (st.status.clone(), st.last_seq)
    }

    /// Asks the job to stop: nothing more is queued, its queued transcodes
    /// are dropped and running ones stopped (unless someone is playing
    /// them), leaving no `.part`. Returns false if it had finished.
    pub fn cancel(&self) -> bool {
        if self.lock().status.state.is_finished() {
            return false;
        }
        self.cancel.store(true, Ordering::Release);
        self.changed.notify_all();
        true
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    /// Events numbered above `after`, waiting up to `timeout` for one.
    pub fn next_events(&self, after: u64, timeout: Duration) -> Next {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if st.last_seq > after {
                let first = st.events.front().map_or(st.last_seq + 1, |e| e.seq);
                if first > after + 1 {
                    return Next::Lagged;
                }
                return Next::Events(
                    st.events
                        .iter()
                        .filter(|e| e.seq > after)
                        .cloned()
                        .collect(),
                );
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Next::Idle;
            };
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits up to `timeout` for the job to finish; its status either way.
    pub fn wait_finished(&self, timeout: Duration) -> Status {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while !st.status.state.is_finished() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        st.status.clone()
    }

    fn update(&self, f: impl FnOnce(&mut Inner)) {
        let mut st = self.lock();
        f(&mut st);
        drop(st);
        self.changed.notify_all();
    }

    /// Applies `f` and records an event whose data is `data` plus the
    /// job's counters after `f`.
    fn event(&self, kind: EventKind, f: impl FnOnce(&mut Inner), data: Value) {
        self.update(|st| {
            f(st);
            st.status.eta_s = eta(st);
            let mut data = data;
            if let Value::Object(map) = &mut data {
                let s = &st.status;
                for (k, v) in [
                    ("id", json!(s.id)),
                    ("state", json!(s.state)),
                    ("total", json!(s.total)),
                    ("done", json!(s.done)),
                    ("skipped", json!(s.skipped)),
                    ("failed", json!(s.failed)),
                    ("bytes_cached", json!(s.bytes_cached)),
                    ("eta_s", json!(s.eta_s)),
                    ("current", json!(s.current)),
                ] {
                    map.entry(k).or_insert(v);
                }
            }
            st.last_seq += 1;
            let seq = st.last_seq;
            st.events.push_back(Event { seq, kind, data });
            if st.events.len() > EVENTS_KEPT {
                st.events.pop_front();
            }
        });
    }

    fn finish(&self, state: JobState, message: Option<String>) {
        self.update(|st| {
            st.status.state = state;
            st.status.current = None;
            st.status.finished_at = Some(now_s());
            st.status.eta_s = None;
            if message.is_some() {
                st.status.message = message;
            }
        });
        let status = self.status();
        log::info!(
            "warm job {}: {} ({} cached, {} skipped, {} failed of {}; {} bytes){}",
            self.id,
            status.state.as_str(),
            status.done,
            status.skipped,
            status.failed,
            status.total,
            status.bytes_cached,
            status
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        let data = serde_json::to_value(&status).unwrap_or(Value::Null);
        self.event(EventKind::Done, |_| {}, data);
    }
}

fn eta(st: &Inner) -> Option<u64> {
    if st.status.state != JobState::Running || st.audio_done_s <= 0.0 {
        return None;
    }
    let elapsed = st.since?.elapsed().as_secs_f64().max(1e-3);
    let speed = st.audio_done_s / elapsed;
    Some((st.audio_left_s / speed).ceil() as u64)
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
            let found = match lib.resolve_relative(p) {
                // "" (or "/") is the whole library.
                Err(_) if is_root(p) => Ok(()),
                Ok(_) => Ok(()),
                Err(ResolveError::NotFound) => lib.resolve_dir_relative(p).map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = found {
                bad.push((p.clone(), reason(&e)));
            }
        }
        for p in &req.playlists {
            match lib.resolve_relative(p) {
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
        let job = Arc::new(WarmJob {
            id,
            cancel: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                status: Status {
                    id,
                    state: JobState::Queued,
                    total: 0,
                    done: 0,
                    skipped: 0,
                    already_cached: 0,
                    failed: 0,
                    current: None,
                    bytes_cached: 0,
                    source_bytes: 0,
                    started_at: None,
                    finished_at: None,
                    eta_s: None,
                    errors: Vec::new(),
                    note: None,
                    needed_bytes: None,
                    message: None,
                    request: req,
                },
                events: VecDeque::new(),
                last_seq: 0,
                audio_done_s: 0.0,
                audio_left_s: 0.0,
                since: None,
            }),
            changed: Condvar::new(),
        });
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
        let request = WarmRequest::from_entries(&warm.on_start, warm.qualities.clone());
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
        match self.submit(WarmRequest::from_entries(&keep, warm.qualities.clone())) {
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
        lock(&self.shared.jobs).iter().find(|j| j.id == id).cloned()
    }

    /// Every remembered job, oldest first.
    pub fn jobs(&self) -> Vec<Arc<WarmJob>> {
        lock(&self.shared.jobs).iter().cloned().collect()
    }

    /// Cancels every job not finished (at shutdown).
    pub fn cancel_all(&self) {
        for job in self.jobs() {
            job.cancel();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a request path names the music root itself.
fn is_root(p: &str) -> bool {
    p.trim_matches('/').is_empty()
}

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
        run(shared, &job);
    }
}

/// One track to warm.
struct Track {
    relative: String,
    duration_s: f64,
}

/// A pair still to do, for the budget estimate.
fn estimate_bytes(duration_s: f64, kbps: u32) -> u64 {
    // CBR frames plus the ID3 tag and Info frame.
    (duration_s * f64::from(kbps) * 125.0) as u64 + 4096
}

/// Lists the request's tracks, in order, each once. Entries that went
/// missing since the request was checked become errors.
fn list_tracks(shared: &Shared, job: &WarmJob) -> (Vec<Track>, Vec<TrackError>, u64) {
    let req = job.status().request;
    let catalog = &shared.catalog;
    let mut seen = HashSet::new();
    let mut tracks = Vec::new();
    let mut errors = Vec::new();
    let mut missing = 0;
    let mut add = |relative: String, duration_s: Option<f64>, tracks: &mut Vec<Track>| {
        if seen.insert(relative.clone()) {
            tracks.push(Track {
                relative,
                duration_s: duration_s.unwrap_or(0.0),
            });
        }
    };
    for p in &req.paths {
        let file = if is_root(p) {
            Err(ResolveError::NotFound)
        } else {
            catalog.library().resolve_relative(p)
        };
        match file {
            Ok(f) if crate::catalog::is_audio(&f.relative) => {
                let info = catalog.track_info(&f.path, &f.relative, &f.metadata);
                add(f.relative, info.duration_s, &mut tracks);
            }
            Ok(f) => errors.push(TrackError {
                path: f.relative,
                error: "not an audio file".to_owned(),
            }),
            Err(ResolveError::NotFound) => match catalog.tracks_under(p) {
                Ok(list) => {
                    for t in list {
                        add(t.entry.relative, t.info.duration_s, &mut tracks);
                    }
                }
                Err(e) => errors.push(TrackError {
                    path: p.clone(),
                    error: reason(&e),
                }),
            },
            Err(e) => errors.push(TrackError {
                path: p.clone(),
                error: reason(&e),
            }),
        }
    }
    for p in &req.playlists {
        match catalog.playlist_relative(p) {
            Ok(view) => {
                for entry in view.entries {
                    match entry.track {
                        Ok(t) => add(t.entry.relative, t.info.duration_s, &mut tracks),
                        Err(_) => missing += 1,
                    }
                }
            }
            Err(e) => errors.push(TrackError {
                path: p.clone(),
                error: match e {
                    PlaylistError::NotFound(e) => reason(&e),
                    PlaylistError::TooLarge(n) => format!("{n} bytes is too large for a playlist"),
                    PlaylistError::Io(e) => format!("cannot be read ({e})"),
                },
            }),
        }
    }
    (tracks, errors, missing)
}

/// A transcode this job queued and has not yet seen end.
struct InFlight {
    job: Arc<crate::workers::Job>,
    relative: String,
    quality: Quality,
    duration_s: f64,
    source_bytes: u64,
}

fn run(shared: &Shared, job: &WarmJob) {
    job.update(|st| {
        st.status.state = JobState::Running;
        st.status.started_at = Some(now_s());
    });
    let (tracks, errors, missing) = list_tracks(shared, job);
    let qualities = job.status().request.qualities;
    let pairs: Vec<(&Track, Quality)> = qualities
        .iter()
        .flat_map(|&q| tracks.iter().map(move |t| (t, q)))
        .collect();
    let kbps = |q: Quality| {
        shared
            .config
            .transcode
            .bitrate_kbps
            .for_quality(q)
            .unwrap_or(0)
    };
    job.update(|st| {
        st.status.total = pairs.len() as u64 + missing;
        st.status.skipped = missing;
        st.status.failed = errors.len() as u64;
        st.status.errors = errors;
        st.audio_left_s = pairs.iter().map(|(t, _)| t.duration_s).sum();
        st.since = Some(Instant::now());
    });
    log::info!(
        "warm job {}: {} tracks × {} levels{}",
        job.id,
        tracks.len(),
        qualities.len(),
        if missing > 0 {
            format!(", {missing} playlist entries missing")
        } else {
            String::new()
        }
    );
    if tracks.is_empty() && job.status().failed > 0 {
        job.finish(
            JobState::Failed,
            Some("nothing in the request could be read".to_owned()),
        );
        return;
    }

    let workers = &shared.workers;
    let cache = workers.cache();
    let protect = Arc::new(Protected::new(RECENT_USE));
    let window = workers.count();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut no_room: Option<u64> = None;
    let mut next = 0;
    while next < pairs.len() || !in_flight.is_empty() {
        if job.cancelled() || no_room.is_some() {
            break;
        }
        if next < pairs.len() && in_flight.len() < window {
            let (track, quality) = pairs[next];
            next += 1;
            if let Some(f) = queue(shared, job, &protect, track, quality) {
                in_flight.push_back(f);
                let current = in_flight.front().map(|f| f.relative.clone());
                job.update(|st| st.status.current = current);
            }
            continue;
        }
        let Some(front) = in_flight.front() else {
            continue;
        };
        let Some(outcome) = front.job.wait_done_for(CANCEL_POLL) else {
            continue;
        };
        let Some(f) = in_flight.pop_front() else {
            continue;
        };
        let current = in_flight.front().map(|f| f.relative.clone());
        job.update(|st| st.status.current = current);
        match outcome {
            Outcome::Cached(path) => {
                protect.add(f.job.spec.key);
                let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                job.event(
                    EventKind::Progress,
                    |st| {
                        st.status.done += 1;
                        st.status.bytes_cached += bytes;
                        st.status.source_bytes += f.source_bytes;
                        st.audio_done_s += f.duration_s;
                        st.audio_left_s = (st.audio_left_s - f.duration_s).max(0.0);
                    },
                    json!({"path": f.relative, "quality": f.quality, "result": "cached", "bytes": bytes}),
                );
            }
            Outcome::Failed(e) => fail(job, &f.relative, f.quality, f.duration_s, e),
            Outcome::NoRoom { short_bytes } => {
                no_room = Some(short_bytes);
                in_flight.push_front(f); // still to do
            }
            // Kept out of the cache after all (its reservation could not
            // grow without evicting protected entries).
            Outcome::Streamed => {
                no_room = Some(0);
                in_flight.push_front(f);
            }
            Outcome::Cancelled => {
                if !job.cancelled() {
                    // The server is stopping.
                    job.cancel.store(true, Ordering::Release);
                }
            }
        }
    }

    // Stop what is still queued or running, and wait for it to leave no
    // `.part` behind.
    for f in &in_flight {
        f.job.cancel_background();
    }
    for f in &in_flight {
        f.job.wait_done();
    }
    if let Some(short) = no_room {
        let left: u64 = in_flight
            .iter()
            .map(|f| estimate_bytes(f.duration_s, kbps(f.quality)))
            .chain(
                pairs[next..]
                    .iter()
                    .filter(|(t, q)| !is_cached(shared, t, *q))
                    .map(|(t, q)| estimate_bytes(t.duration_s, kbps(*q))),
            )
            .sum();
        let needed = left.saturating_sub(cache.room_sparing(&protect)).max(short);
        let message = format!(
            "stopped: the {} cache budget is full of entries this job warmed or that were played in the last hour; about {} more would let it finish",
            bytesize::ByteSize(cache.budget_bytes()),
            bytesize::ByteSize(needed)
        );
        job.update(|st| {
            st.status.note = Some("budget_full");
            st.status.needed_bytes = Some(needed);
        });
        job.finish(JobState::Done, Some(message));
    } else if job.cancelled() {
        job.finish(JobState::Cancelled, Some("cancelled".to_owned()));
    } else {
        job.finish(JobState::Done, None);
    }
}

fn is_cached(shared: &Shared, track: &Track, quality: Quality) -> bool {
    let Ok(file) = shared.catalog.library().resolve_relative(&track.relative) else {
        return false;
    };
    keys::job_key(&shared.config, &file, quality)
        .is_none_or(|(key, _)| shared.workers.cache().contains(&key))
}

fn fail(job: &WarmJob, relative: &str, quality: Quality, duration_s: f64, error: String) {
    job.event(
        EventKind::Error,
        |st| {
            st.status.failed += 1;
            st.audio_left_s = (st.audio_left_s - duration_s).max(0.0);
            if st.status.errors.len() < ERRORS_KEPT {
                st.status.errors.push(TrackError {
                    path: relative.to_owned(),
                    error: error.clone(),
                });
            }
        },
        json!({"path": relative, "quality": quality, "error": error}),
    );
}

fn skip(job: &WarmJob, relative: &str, quality: Quality, duration_s: f64, cached: bool) {
    job.event(
        EventKind::Progress,
        |st| {
            st.status.skipped += 1;
            st.status.already_cached += u64::from(cached);
            st.audio_left_s = (st.audio_left_s - duration_s).max(0.0);
        },
        json!({
            "path": relative,
            "quality": quality,
            "result": if cached { "already_cached" } else { "not_transcoded" },
            "bytes": 0,
        }),
    );
}

/// Queues one track × level, or records at once why it needs no
/// transcode (skipped) or cannot have one (failed).
fn queue(
    shared: &Shared,
    job: &WarmJob,
    protect: &Arc<Protected>,
    track: &Track,
    quality: Quality,
) -> Option<InFlight> {
    let relative = &track.relative;
    let file = match shared.catalog.library().resolve_relative(relative) {
        Ok(f) => f,
        Err(e) => {
            fail(job, relative, quality, track.duration_s, reason(&e));
            return None;
        }
    };
    let Some((key, opts)) = keys::job_key(&shared.config, &file, quality) else {
        skip(job, relative, quality, track.duration_s, false);
        return None;
    };
    if shared.workers.cache().contains(&key) {
        // Part of this job's set: never evicted to make room for the rest.
        protect.add(key);
        skip(job, relative, quality, track.duration_s, true);
        return None;
    }
    let spec = JobSpec {
        key,
        input: file.path.clone(),
        relative: relative.clone(),
        opts,
        cache: true,
        protect: Some(Arc::clone(protect)),
    };
    match shared.workers.request(spec, Priority::Background) {
        Ok(j) => Some(InFlight {
            job: j,
            relative: relative.clone(),
            quality,
            duration_s: track.duration_s,
            source_bytes: file.metadata.len(),
        }),
        Err(Refused::FailedRecently) => {
            fail(
                job,
                relative,
                quality,
                track.duration_s,
                "its last transcode failed recently; not retried yet".to_owned(),
            );
            None
        }
        Err(Refused::Busy) => {
            fail(
                job,
                relative,
                quality,
                track.duration_s,
                "the transcoders are stopping".to_owned(),
            );
            None
        }
    }
}
