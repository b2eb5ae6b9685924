//! The fixed set of transcoding threads: two priority queues, dedupe of
//! identical jobs, the negative cache of failed sources, and the shared
//! state that lets any number of clients stream an entry while it is being
//! written.
//!
//! Threads are created once at start; each lowers its own priority with
//! `setpriority(PRIO_PROCESS, tid, nice)` (Linux applies it per thread) so
//! request threads stay responsive while every worker is busy. Interactive
//! jobs (someone is waiting) are always taken before background ones.
//!
//! A job writes `<key>.part` through a writer that keeps the file inside
//! its budget reservation and publishes how many bytes are written;
//! [`JobReader`]s read the same inode with `pread` and block until the
//! bytes they need exist. On success the `.part` is committed to the cache;
//! if the budget cannot hold it, the file is unlinked and the job carries
//! on for the clients already reading it.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, select_biased};

use crate::cache::{Cache, Key, Protected, Reservation};
use crate::transcode::{self, Options};

/// Bytes reserved for a job whose size cannot be predicted; grown as it
/// writes.
const UNPREDICTED_RESERVATION: u64 = 1 << 20;

/// Which queue a job goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Someone is waiting to play it.
    Interactive,
    /// Warming and prefetch.
    Background,
}

/// What to transcode.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub key: Key,
    /// Absolute path of the source.
    pub input: PathBuf,
    /// Path relative to the music root, for logs and errors.
    pub relative: String,
    pub opts: Options,
    /// Whether the result is kept in the cache.
    pub cache: bool,
    /// Entries this job may not evict (warming): when the budget cannot
    /// hold the result without them, the job ends with
    /// [`Outcome::NoRoom`] instead of transcoding. `None`: plain LRU.
    pub protect: Option<Arc<Protected>>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The entry is in the cache at this path.
    Cached(PathBuf),
    /// Streamed to its readers but not kept (budget too small, or the
    /// cache is disabled).
    Streamed,
    /// The transcode failed; the message names the file.
    Failed(String),
    /// Stopped because every listener left (`finish_abandoned` off), the
    /// server is stopping, or the warm job that queued it was cancelled;
    /// nothing is kept and nothing counts as failed.
    Cancelled,
    /// Not transcoded: the budget cannot hold the result without evicting
    /// entries [`JobSpec::protect`] spares; `short_bytes` more would have
    /// been needed.
    NoRoom { short_bytes: u64 },
}

#[derive(Debug, Default)]
struct JobState {
    /// A worker has taken the job (it may be queued twice).
    claimed: bool,
    /// Set when the output file exists and its predicted length is known.
    started: bool,
    /// Exact final length in bytes, when predictable.
    predicted_bytes: Option<u64>,
    /// Bytes written so far (the highest offset reached).
    written: u64,
    /// A handle on the output file for readers (`pread`).
    file: Option<Arc<File>>,
    /// Bytes as first written at an offset the encoder later rewrote (the
    /// Info tag frame): readers see these, so every streaming client gets
    /// identical bytes whenever it reads.
    frozen: Option<(u64, Arc<[u8]>)>,
    outcome: Option<Outcome>,
    /// Readers streaming the output now, and when the last one left.
    readers: usize,
    had_readers: bool,
    last_reader_left: Option<Instant>,
    /// Someone asked for it interactively (a play, not warming).
    interactive: bool,
    /// Its background requester gave up: stop at the next write unless
    /// someone is listening or asked for it interactively.
    cancel: bool,
}

/// One transcode, shared by every client waiting for it.
#[derive(Debug)]
pub struct Job {
    pub spec: JobSpec,
    state: Mutex<JobState>,
    changed: Condvar,
}

/// What a waiting client sees once a job has started or ended.
#[derive(Debug)]
pub enum Started {
    /// Stream it: read with a [`JobReader`]; `predicted_bytes` is the exact
    /// final length when known.
    Streaming { predicted_bytes: Option<u64> },
    /// It already ended.
    Ended(Outcome),
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, JobState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits up to `timeout` until `ready` returns a value for the job's
    /// state; `None` on timeout.
    fn wait_until<T>(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&JobState) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if let Some(v) = ready(&st) {
                return Some(v);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits up to `timeout` for the job to start writing (or to end).
    /// `None` on timeout (still queued).
    pub fn wait_started(&self, timeout: Duration) -> Option<Started> {
        self.wait_until(timeout, |st| match &st.outcome {
            Some(o) => Some(Started::Ended(o.clone())),
            None => st.started.then_some(Started::Streaming {
                predicted_bytes: st.predicted_bytes,
            }),
        })
    }

    /// Waits up to `timeout` for the job to end; `None` if it has not.
    pub fn wait_done_for(&self, timeout: Duration) -> Option<Outcome> {
        self.wait_until(timeout, |st| st.outcome.clone())
    }

    /// Cancels a job queued in the background, unless someone asked for it
    /// interactively or is streaming it: it is then skipped if still
    /// queued, or stopped at its next write (its `.part` removed).
    pub fn cancel_background(&self) {
        self.publish(|st| st.cancel = true);
    }

    /// Waits for the job to end and returns how.
    pub fn wait_done(&self) -> Outcome {
        let mut st = self.lock();
        loop {
            if let Some(o) = &st.outcome {
                return o.clone();
            }
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// A reader over bytes `start..end` of the output (`end` = `None`: to
    /// the end, whatever length it turns out to have), blocking up to
    /// `stall` for bytes not yet written. Only valid after
    /// [`Started::Streaming`].
    pub fn reader(self: &Arc<Self>, start: u64, end: Option<u64>, stall: Duration) -> JobReader {
        self.publish(|st| {
            st.readers += 1;
            st.had_readers = true;
        });
        JobReader {
            job: Arc::clone(self),
            pos: start,
            end,
            stall,
        }
    }

    fn publish(&self, f: impl FnOnce(&mut JobState)) {
        let mut st = self.lock();
        f(&mut st);
        drop(st);
        self.changed.notify_all();
    }
}

/// Reads a job's output while it is written.
pub struct JobReader {
    job: Arc<Job>,
    pos: u64,
    end: Option<u64>,
    stall: Duration,
}

impl Drop for JobReader {
    fn drop(&mut self) {
        self.job.publish(|st| {
            st.readers = st.readers.saturating_sub(1);
            if st.readers == 0 {
                st.last_reader_left = Some(Instant::now());
            }
        });
    }
}

impl Read for JobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.end.is_some_and(|e| self.pos >= e) || buf.is_empty() {
            return Ok(0);
        }
        let deadline = Instant::now() + self.stall;
        let (file, available, frozen) = {
            let mut st = self.job.lock();
            loop {
                if st.written > self.pos {
                    break;
                }
                match &st.outcome {
                    Some(Outcome::Failed(e)) => {
                        return Err(io::Error::other(format!("transcode failed: {e}")));
                    }
                    // Ended: nothing more will come.
                    Some(_) => return Ok(0),
                    None => {}
                }
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the transcode did not reach the requested position in time",
                    ));
                };
                st = self
                    .job
                    .changed
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            let Some(file) = st.file.clone() else {
                return Err(io::Error::other("transcode output missing"));
            };
            (file, st.written, st.frozen.clone())
        };
        let mut want = (available - self.pos).min(buf.len() as u64);
        if let Some(end) = self.end {
            want = want.min(end - self.pos);
        }
        let n = file.read_at(&mut buf[..want as usize], self.pos)?;
        if let Some((at, old)) = frozen {
            // Overlay the bytes as first written.
            let (a, b) = (
                self.pos.max(at),
                (self.pos + n as u64).min(at + old.len() as u64),
            );
            if a < b {
                buf[(a - self.pos) as usize..(b - self.pos) as usize]
                    .copy_from_slice(&old[(a - at) as usize..(b - at) as usize]);
            }
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "transcode output shorter than announced",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Counters for `/admin/cache/stats`.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub done: AtomicU64,
    pub failed: AtomicU64,
    pub running: AtomicU64,
}

/// Settings of the worker set.
#[derive(Debug, Clone)]
pub struct Settings {
    pub workers: usize,
    pub nice: i32,
    /// Interactive jobs allowed to wait in the queue before new misses are
    /// turned away.
    pub max_queue: usize,
    /// How long a failed source is not retried.
    pub retry_failed_after: Duration,
    /// Whether a transcode every listener has left runs to the end (to
    /// fill the cache) or stops once nobody has read it for
    /// `abandon_grace`.
    pub finish_abandoned: bool,
    /// How long a transcode with no listener left keeps going before it is
    /// stopped when `finish_abandoned` is off: a player that seeks closes
    /// one request and opens the next.
    pub abandon_grace: Duration,
}

/// The server's [`Settings::abandon_grace`].
pub const ABANDON_GRACE: Duration = Duration::from_secs(5);

/// Why a job was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The interactive queue is full.
    Busy,
    /// The source failed recently; serve the original.
    FailedRecently,
}

struct Shared {
    /// Set when the worker set is dropped: jobs in progress stop at their
    /// next write and leave no `.part` behind.
    stopping: std::sync::atomic::AtomicBool,
    cache: Arc<Cache>,
    jobs: Mutex<HashMap<Key, Arc<Job>>>,
    failed: Mutex<HashMap<Key, Instant>>,
    stats: WorkerStats,
    settings: Settings,
}

/// The worker set. Cheap to share by reference; dropped at exit.
pub struct Workers {
    shared: Arc<Shared>,
    interactive: Sender<Arc<Job>>,
    background: Sender<Arc<Job>>,
    interactive_rx: Receiver<Arc<Job>>,
    background_rx: Receiver<Arc<Job>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Workers {
    /// Starts `settings.workers` threads (at least one) writing into `cache`.
    ///
    /// Errors: a thread cannot be spawned.
    pub fn start(cache: Arc<Cache>, settings: Settings) -> io::Result<Workers> {
        let (interactive, interactive_rx) = crossbeam_channel::unbounded();
        let (background, background_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            stopping: std::sync::atomic::AtomicBool::new(false),
            cache,
            jobs: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            stats: WorkerStats::default(),
            settings: settings.clone(),
        });
        for n in 0..settings.workers.max(1) {
            let shared = Arc::clone(&shared);
            let (i, b) = (interactive_rx.clone(), background_rx.clone());
            thread::Builder::new()
                .name(format!("transcode-{n}"))
                .spawn(move || worker(&shared, &i, &b))?;
        }
        Ok(Workers {
            shared,
            interactive,
            background,
            interactive_rx,
            background_rx,
        })
    }

    /// The cache the workers fill.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.shared.cache
    }

    /// Counters.
    pub fn stats(&self) -> &WorkerStats {
        &self.shared.stats
    }

    /// Jobs waiting in both queues.
    pub fn queue_depth(&self) -> usize {
        self.interactive_rx.len() + self.background_rx.len()
    }

    /// Number of worker threads.
    pub fn count(&self) -> usize {
        self.shared.settings.workers.max(1)
    }

    /// The job for `spec.key`: the one already queued or running (dedupe),
    /// or a new one queued at `priority`. An interactive request for a job
    /// queued in the background moves it ahead by queueing it again.
    ///
    /// Errors: [`Refused::FailedRecently`] within the negative-cache
    /// window, [`Refused::Busy`] when the interactive queue is full.
    pub fn request(&self, spec: JobSpec, priority: Priority) -> Result<Arc<Job>, Refused> {
        {
            let mut failed = lock(&self.shared.failed);
            if let Some(at) = failed.get(&spec.key) {
                if at.elapsed() < self.shared.settings.retry_failed_after {
                    return Err(Refused::FailedRecently);
                }
                failed.remove(&spec.key);
            }
        }
        let mut jobs = lock(&self.shared.jobs);
        if let Some(job) = jobs.get(&spec.key) {
            if priority == Priority::Interactive {
                let mut st = job.lock();
                st.interactive = true;
                if !st.claimed {
                    // Taking it from either queue runs it once: the worker
                    // skips a job that has already started.
                    let _ = self.interactive.try_send(Arc::clone(job));
                }
            }
            return Ok(Arc::clone(job));
        }
        if priority == Priority::Interactive
            && self.interactive_rx.len() >= self.shared.settings.max_queue
        {
            return Err(Refused::Busy);
        }
        let job = Arc::new(Job {
            spec,
            state: Mutex::new(JobState {
                interactive: priority == Priority::Interactive,
                ..JobState::default()
            }),
            changed: Condvar::new(),
        });
        let queue = match priority {
            Priority::Interactive => &self.interactive,
            Priority::Background => &self.background,
        };
        match queue.try_send(Arc::clone(&job)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                return Err(Refused::Busy);
            }
        }
        jobs.insert(job.spec.key, Arc::clone(&job));
        Ok(job)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // The queues close with the senders; running jobs see the flag.
        self.shared.stopping.store(true, Ordering::Relaxed);
    }
}

fn worker(shared: &Shared, interactive: &Receiver<Arc<Job>>, background: &Receiver<Arc<Job>>) {
    set_nice(shared.settings.nice);
    loop {
        let job = select_biased! {
            recv(interactive) -> j => j,
            recv(background) -> j => j,
        };
        let Ok(job) = job else { return };
        let skip = {
            let mut st = job.lock();
            if st.claimed {
                continue; // queued twice to move it ahead; already taken
            }
            st.claimed = true;
            st.cancel && !st.interactive
        };
        shared.stats.running.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = if skip {
            Outcome::Cancelled
        } else {
            run(shared, &job)
        };
        shared.stats.running.fetch_sub(1, Ordering::Relaxed);
        match &outcome {
            Outcome::Failed(e) => {
                shared.stats.failed.fetch_add(1, Ordering::Relaxed);
                lock(&shared.failed).insert(job.spec.key, Instant::now());
                log::warn!("{e}");
            }
            Outcome::Cancelled => {}
            Outcome::NoRoom { short_bytes } => log::info!(
                "not warming {:?}: the budget is full of recent entries ({short_bytes} bytes short)",
                job.spec.relative
            ),
            _ => {
                shared.stats.done.fetch_add(1, Ordering::Relaxed);
                log::info!(
                    "transcoded {:?} at {} kbit/s in {} ms{}",
                    job.spec.relative,
                    job.spec.opts.bitrate_kbps,
                    started.elapsed().as_millis(),
                    if outcome == Outcome::Streamed {
                        " (not cached)"
                    } else {
                        ""
                    }
                );
            }
        }
        lock(&shared.jobs).remove(&job.spec.key);
        job.publish(|st| st.outcome = Some(outcome));
    }
}

/// Lowers the calling thread's priority (Linux: per-thread nice); logs
/// a warning when the kernel refuses.
pub fn set_nice(nice: i32) {
    // SAFETY: gettid and setpriority have no memory-safety preconditions.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    if rc != 0 {
        log::warn!(
            "{}: cannot set nice {nice}: {}",
            std::thread::current().name().unwrap_or("thread"),
            io::Error::last_os_error()
        );
    }
}

/// Where a job's bytes go: the output file, kept within the reservation,
/// with the written length published to readers.
struct JobWriter<'a> {
    job: &'a Job,
    /// `None` when abandoned transcodes finish; else the grace period.
    abandon_after: Option<Duration>,
    /// Set when a write was refused because the job was cancelled.
    cancelled: bool,
    stopping: &'a std::sync::atomic::AtomicBool,
    file: File,
    pos: u64,
    written: u64,
    reservation: Option<Reservation>,
    /// Path while the file is still linked as a `.part`.
    part: Option<PathBuf>,
}

impl JobWriter<'_> {
    /// Stops caching: unlinks the `.part` (readers keep their handle) and
    /// releases the reservation.
    fn uncache(&mut self, why: &str) {
        if let Some(part) = self.part.take() {
            let _ = fs::remove_file(&part);
            log::info!("not caching {:?}: {why}", self.job.spec.relative);
        }
        self.reservation = None;
    }
}

impl Write for JobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.stopping.load(Ordering::Relaxed) {
            self.cancelled = true;
            return Err(io::Error::other("the server is stopping"));
        }
        {
            let st = self.job.lock();
            if st.cancel && !st.interactive && st.readers == 0 {
                drop(st);
                self.cancelled = true;
                return Err(io::Error::other("its warm job was cancelled"));
            }
        }
        if let Some(grace) = self.abandon_after {
            let st = self.job.lock();
            if st.readers == 0
                && st.had_readers
                && st.last_reader_left.is_some_and(|t| t.elapsed() >= grace)
            {
                drop(st);
                self.cancelled = true;
                return Err(io::Error::other("every listener left"));
            }
        }
        let end = self.pos + buf.len() as u64;
        if self.pos < self.written {
            // A rewrite of published bytes: keep what readers have seen.
            let keep = (self.written.min(end) - self.pos) as usize;
            let mut old = vec![0u8; keep];
            self.file.read_exact_at(&mut old, self.pos)?;
            let at = self.pos;
            self.job.publish(|st| st.frozen = Some((at, old.into())));
        }
        if let Some(r) = &mut self.reservation
            && end > r.bytes()
            && !r.grow_to(end.max(r.bytes() + UNPREDICTED_RESERVATION))
        {
            self.uncache("the cache budget cannot hold it");
        }
        self.file.write_all(buf)?;
        self.pos = end;
        if end > self.written {
            self.written = end;
            self.job.publish(|st| st.written = end);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for JobWriter<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.file.seek(to)?;
        Ok(self.pos)
    }
}

fn run(shared: &Shared, job: &Job) -> Outcome {
    let spec = &job.spec;
    let prepared = match transcode::prepare(&spec.input, &spec.relative, &spec.opts) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let predicted = prepared.predicted_bytes;
    let cache = &shared.cache;
    let part = cache.part_path(&spec.key);
    let wanted = predicted.unwrap_or(UNPREDICTED_RESERVATION);
    let reservation = if spec.cache
        && let Some(protect) = &spec.protect
    {
        match cache.reserve_sparing(wanted, protect) {
            Ok(r) => Some(r),
            // Someone is waiting to play it: stream it without keeping it.
            Err(_) if job.lock().interactive => None,
            Err(short_bytes) => return Outcome::NoRoom { short_bytes },
        }
    } else if spec.cache {
        let r = cache.reserve(wanted);
        if r.is_none() {
            log::info!(
                "not caching {:?}: {} bytes do not fit the {}-byte budget",
                spec.relative,
                predicted.unwrap_or(UNPREDICTED_RESERVATION),
                cache.budget_bytes()
            );
        }
        r
    } else {
        None
    };
    let file = match File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&part)
    {
        Ok(f) => f,
        Err(e) => {
            return Outcome::Failed(format!(
                "transcoding {:?}: cannot create {}: {e}",
                spec.relative,
                part.display()
            ));
        }
    };
    let reader = match file.try_clone() {
        Ok(f) => Arc::new(f),
        Err(e) => return Outcome::Failed(format!("transcoding {:?}: {e}", spec.relative)),
    };
    let mut w = JobWriter {
        job,
        abandon_after: (!shared.settings.finish_abandoned).then_some(shared.settings.abandon_grace),
        cancelled: false,
        stopping: &shared.stopping,
        file,
        pos: 0,
        written: 0,
        reservation,
        part: Some(part.clone()),
    };
    if w.reservation.is_none() {
        w.uncache("not kept");
    }
    job.publish(|st| {
        st.file = Some(reader);
        st.predicted_bytes = predicted;
        st.started = true;
    });
    let result = prepared.run(&mut w, |_, _| {});
    match result {
        Ok(report) => {
            if predicted.is_some_and(|p| p != report.bytes) {
                log::warn!(
                    "transcoding {:?}: predicted {} bytes, wrote {} (streaming clients got a short or long body)",
                    spec.relative,
                    predicted.unwrap_or(0),
                    report.bytes
                );
            }
            match (w.reservation.take(), w.part.take()) {
                (Some(r), Some(_)) => match cache.commit(r, &spec.key, &w.file) {
                    Ok(path) => Outcome::Cached(path),
                    Err(e) => {
                        log::error!("cache: cannot store {:?}: {e}", spec.relative);
                        Outcome::Streamed
                    }
                },
                _ => Outcome::Streamed,
            }
        }
        Err(e) => {
            if let Some(part) = w.part.take() {
                let _ = fs::remove_file(part);
            }
            if w.cancelled {
                log::info!("stopped transcoding {:?}: {e}", spec.relative);
                Outcome::Cancelled
            } else {
                Outcome::Failed(e.to_string())
            }
        }
    }
}
