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
//! A job is encoded in segments ([`crate::transcode::layout`]): the first
//! worker to take it plans it and writes the head of `<key>.part`; idle
//! workers are called in to encode other segments of a play at the same
//! time, and a reader waiting for a segment has it encoded next. Between
//! segments a worker leaves background work (or a job others are on) when
//! a play is waiting. [`JobReader`]s read the same inode with `pread` and
//! block only until the segment holding their bytes is written. When the
//! last segment is written, the `.part` is committed to the cache.

mod hold;
mod job;
mod run;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select_biased};

#[doc(hidden)]
pub use hold::{Hold, Progress};
pub use job::{Availability, Job, JobReader, JobSpec, Outcome, Priority};

use crate::cache::{Cache, Key};
use job::{Take, TranscodeState};

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

/// The senders of the interactive and background queues.
type Queues = (Sender<Arc<Job>>, Sender<Arc<Job>>);

struct Shared {
    /// Set when the worker set is dropped: jobs in progress stop at their
    /// next segment and leave no `.part` behind.
    stopping: std::sync::atomic::AtomicBool,
    /// The senders of the interactive and background queues; taken away
    /// when the worker set is dropped, which ends the threads.
    queues: Mutex<Option<Queues>>,
    interactive_rx: Receiver<Arc<Job>>,
    cache: Arc<Cache>,
    jobs: Mutex<HashMap<Key, Arc<Job>>>,
    failed: Mutex<HashMap<Key, Instant>>,
    stats: WorkerStats,
    settings: Settings,
    /// Closed only while a test holds the workers ([`Workers::hold`]).
    gate: hold::Gate,
}

/// The worker set. Cheap to share by reference; dropped at exit.
pub struct Workers {
    shared: Arc<Shared>,
    background_rx: Receiver<Arc<Job>>,
}

impl Shared {
    /// Queues `job` (again); false when the worker set is stopping or the
    /// queue refused it.
    fn send(&self, job: &Arc<Job>, priority: Priority) -> bool {
        let queues = lock(&self.queues);
        let Some((interactive, background)) = queues.as_ref() else {
            return false;
        };
        let queue = match priority {
            Priority::Interactive => interactive,
            Priority::Background => background,
        };
        queue.try_send(Arc::clone(job)).is_ok()
    }

    /// Calls an idle worker (if any) in to help with `job`.
    pub(super) fn call_idle_worker(&self, job: &Arc<Job>) {
        let running = self.stats.running.load(Ordering::Relaxed) as usize;
        if a_worker_is_idle(running, self.interactive_rx.len(), self.settings.workers) {
            self.send(job, Priority::Interactive);
        }
    }

    /// Queues a job its last worker left unfinished.
    pub(super) fn requeue(&self, job: &Arc<Job>, priority: Priority) {
        if !self.send(job, priority) {
            // The worker set is stopping: end the job, leaving nothing.
            job.publish(|st| {
                if let Some(caching) = st.caching.take() {
                    let _ = std::fs::remove_file(&caching.part);
                }
                st.outcome.get_or_insert(Outcome::Cancelled);
            });
            lock(&self.jobs).remove(&job.spec.key);
        }
    }

    /// Counts and logs how `job` ended, remembers a failure for the
    /// negative cache, and drops the job from the dedupe map: all before
    /// its outcome is published, so whoever sees the outcome also sees
    /// this.
    pub(super) fn record_end(&self, job: &Job, outcome: &Outcome) {
        match outcome {
            Outcome::Failed(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                lock(&self.failed).insert(job.spec.key, Instant::now());
                log::warn!("{e}");
            }
            Outcome::Cancelled => {}
            Outcome::NoRoom { short_bytes } => log::info!(
                "not warming {:?}: the budget is full of recent entries ({short_bytes} bytes short)",
                job.spec.relative
            ),
            _ => {
                self.stats.done.fetch_add(1, Ordering::Relaxed);
                let ms = job.lock().started_at.map_or(0, |t| t.elapsed().as_millis());
                log::info!(
                    "transcoded {:?} at {} kbit/s in {ms} ms{}",
                    job.spec.relative,
                    job.spec.opts.bitrate_kbps,
                    if *outcome == Outcome::NotCached {
                        " (not cached)"
                    } else {
                        ""
                    }
                );
            }
        }
        lock(&self.jobs).remove(&job.spec.key);
    }

    /// Jobs waiting in the interactive queue.
    pub(super) fn interactive_waiting(&self) -> usize {
        self.interactive_rx.len()
    }
}

/// True when `workers` (at least one) are more than the `running` jobs
/// and the plays `waiting` in the interactive queue: a job queued now is
/// taken at once.
fn a_worker_is_idle(running: usize, waiting: usize, workers: usize) -> bool {
    running + waiting < workers.max(1)
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
            queues: Mutex::new(Some((interactive, background))),
            interactive_rx: interactive_rx.clone(),
            cache,
            jobs: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            stats: WorkerStats::default(),
            settings: settings.clone(),
            gate: hold::Gate::default(),
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
        self.shared.interactive_rx.len() + self.background_rx.len()
    }

    /// Number of worker threads.
    pub fn count(&self) -> usize {
        self.shared.settings.workers.max(1)
    }

    /// For tests: holds every worker before its next segment until the
    /// guard is dropped, or lets them go a segment at a time
    /// ([`Hold::allow`]). Jobs are still planned while held.
    #[doc(hidden)]
    pub fn hold(&self) -> Hold {
        Hold::new(&self.shared)
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
            if priority == Priority::Interactive && job.lock().promote() {
                self.shared.send(job, Priority::Interactive);
            }
            return Ok(Arc::clone(job));
        }
        if priority == Priority::Interactive
            && self.shared.interactive_rx.len() >= self.shared.settings.max_queue
        {
            return Err(Refused::Busy);
        }
        let job = Arc::new(Job {
            spec,
            state: Mutex::new(TranscodeState {
                interactive: priority == Priority::Interactive,
                ..TranscodeState::default()
            }),
            changed: Condvar::new(),
            workers: Arc::downgrade(&self.shared),
        });
        if !self.shared.send(&job, priority) {
            return Err(Refused::Busy);
        }
        jobs.insert(job.spec.key, Arc::clone(&job));
        Ok(job)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // The queues close with the senders; running jobs see the flag.
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.shared.gate.wake();
        lock(&self.shared.queues).take();
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
        let take = job.lock().take();
        let first = match take {
            Take::Run { first } => first,
            Take::Skip => continue,
            Take::Cancel => {
                job.changed.notify_all();
                lock(&shared.jobs).remove(&job.spec.key);
                continue;
            }
        };
        shared.stats.running.fetch_add(1, Ordering::Relaxed);
        run::run(shared, &job, first);
        shared.stats.running.fetch_sub(1, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::transcode::Options;
    use crate::transcode::segment::tests::write_wav;

    #[test]
    fn an_idle_worker_is_one_neither_running_nor_spoken_for() {
        // (running, waiting, workers, idle)
        for (running, waiting, workers, idle) in [
            (0, 0, 2, true),
            (1, 0, 2, true),
            (2, 0, 2, false),
            (1, 1, 2, false),
            (0, 2, 2, false),
            // No workers configured still means one thread.
            (0, 0, 0, true),
            (1, 0, 0, false),
        ] {
            assert_eq!(
                a_worker_is_idle(running, waiting, workers),
                idle,
                "{running} running, {waiting} waiting, {workers} workers"
            );
        }
    }

    /// Waits (without sleeping) until `done`, failing after 30 s.
    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::yield_now();
        }
    }

    fn settings() -> Settings {
        Settings {
            workers: 1,
            nice: 0,
            max_queue: 8,
            retry_failed_after: Duration::from_secs(3600),
            finish_abandoned: true,
            abandon_grace: ABANDON_GRACE,
        }
    }

    fn start(dir: &Path, settings: Settings) -> Workers {
        let cache = Cache::open(&dir.join("cache"), 64 << 20).expect("the cache opens");
        Workers::start(cache, settings).expect("the workers start")
    }

    /// A job for the file `name` in `dir`.
    fn spec(dir: &Path, name: &str) -> JobSpec {
        let key = job::tests::test_key(name);
        JobSpec {
            key,
            input: dir.join(name),
            relative: name.to_owned(),
            opts: Options {
                bitrate_kbps: 64,
                lame_algorithm: 9,
                max_art_bytes: 0,
            },
            cache: true,
            protect: None,
        }
    }

    /// A job for a one-second WAV `name`, written into `dir`.
    fn track(dir: &Path, name: &str) -> JobSpec {
        write_wav(&dir.join(name), 32_000, 1, 32_000);
        spec(dir, name)
    }

    /// Keeps the one worker busy: its job's source is a FIFO, whose
    /// open(2) blocks until [`Blocker::release`] opens the other end.
    struct Blocker {
        fifo: PathBuf,
        job: Arc<Job>,
    }

    impl Blocker {
        fn new(workers: &Workers, dir: &Path) -> Blocker {
            let fifo = dir.join("blocker.wav");
            let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("a C path");
            // SAFETY: mkfifo reads the NUL-terminated path and nothing else.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
            let job = workers
                .request(spec(dir, "blocker.wav"), Priority::Interactive)
                .expect("the blocker is queued");
            // Once claimed it is off the queue, and its worker blocks.
            wait_for("the worker to take the blocker", || job.lock().claimed);
            Blocker { fifo, job }
        }

        /// Lets the worker go on: the FIFO reads as an empty file.
        fn release(self) {
            drop(std::fs::File::options().write(true).open(&self.fifo));
            assert!(matches!(self.job.wait_done(), Outcome::Failed(_)));
        }
    }

    fn started_at(job: &Job) -> Instant {
        job.lock().started_at.expect("the job was started")
    }

    #[test]
    fn a_play_runs_before_background_work_queued_earlier() {
        let dir = tempfile::tempdir().expect("temp dir");
        let workers = start(dir.path(), settings());
        let blocker = Blocker::new(&workers, dir.path());
        let warm = workers
            .request(track(dir.path(), "warm.wav"), Priority::Background)
            .expect("queued");
        let play = workers
            .request(track(dir.path(), "play.wav"), Priority::Interactive)
            .expect("queued");
        blocker.release();
        assert!(matches!(play.wait_done(), Outcome::Cached(_)));
        assert!(matches!(warm.wait_done(), Outcome::Cached(_)));
        assert!(started_at(&play) < started_at(&warm));
    }

    #[test]
    fn identical_requests_share_one_job() {
        let dir = tempfile::tempdir().expect("temp dir");
        let workers = start(dir.path(), settings());
        let blocker = Blocker::new(&workers, dir.path());
        let a = workers
            .request(track(dir.path(), "a.wav"), Priority::Background)
            .expect("queued");
        let again = workers
            .request(spec(dir.path(), "a.wav"), Priority::Interactive)
            .expect("the same job");
        assert!(Arc::ptr_eq(&a, &again));
        blocker.release();
        assert!(matches!(a.wait_done(), Outcome::Cached(_)));
        assert_eq!(workers.stats().done.load(Ordering::Relaxed), 1);
        // Once ended, the same request is a hit for the caller, not a job.
        assert!(workers.cache().contains(&a.spec.key));
    }

    #[test]
    fn background_work_asked_for_interactively_moves_ahead_of_other_background_work() {
        let dir = tempfile::tempdir().expect("temp dir");
        let workers = start(dir.path(), settings());
        let blocker = Blocker::new(&workers, dir.path());
        let first = workers
            .request(track(dir.path(), "first.wav"), Priority::Background)
            .expect("queued");
        let second = workers
            .request(track(dir.path(), "second.wav"), Priority::Background)
            .expect("queued");
        workers
            .request(spec(dir.path(), "second.wav"), Priority::Interactive)
            .expect("the same job, now a play");
        blocker.release();
        assert!(matches!(second.wait_done(), Outcome::Cached(_)));
        assert!(matches!(first.wait_done(), Outcome::Cached(_)));
        assert!(started_at(&second) < started_at(&first));
        // Taken from both queues, it ran once.
        assert_eq!(workers.stats().done.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_full_interactive_queue_turns_new_plays_away_but_not_background_work() {
        let dir = tempfile::tempdir().expect("temp dir");
        let workers = start(
            dir.path(),
            Settings {
                max_queue: 1,
                ..settings()
            },
        );
        let blocker = Blocker::new(&workers, dir.path());
        let queued = workers
            .request(track(dir.path(), "one.wav"), Priority::Interactive)
            .expect("room for one");
        let refused = workers.request(track(dir.path(), "two.wav"), Priority::Interactive);
        assert_eq!(refused.err(), Some(Refused::Busy));
        let warm = workers
            .request(spec(dir.path(), "two.wav"), Priority::Background)
            .expect("background work is never turned away");
        // A play of a job already queued is no new miss.
        let same = workers
            .request(spec(dir.path(), "one.wav"), Priority::Interactive)
            .expect("the queued job");
        assert!(Arc::ptr_eq(&queued, &same));
        blocker.release();
        assert!(matches!(queued.wait_done(), Outcome::Cached(_)));
        assert!(matches!(warm.wait_done(), Outcome::Cached(_)));
    }

    #[test]
    fn a_background_job_cancelled_while_queued_ends_without_running() {
        let dir = tempfile::tempdir().expect("temp dir");
        let workers = start(dir.path(), settings());
        let blocker = Blocker::new(&workers, dir.path());
        let warm = workers
            .request(track(dir.path(), "warm.wav"), Priority::Background)
            .expect("queued");
        warm.cancel_background();
        blocker.release();
        assert_eq!(warm.wait_done(), Outcome::Cancelled);
        assert!(warm.lock().started_at.is_none(), "never planned");
        assert!(!workers.cache().part_path(&warm.spec.key).exists());
        assert_eq!(
            workers.stats().failed.load(Ordering::Relaxed),
            1,
            "the blocker only"
        );
    }

    #[test]
    fn a_failed_source_is_refused_until_its_retry_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("bad.wav"), b"not a RIFF file at all").expect("write");
        let workers = start(dir.path(), settings());
        let job = workers
            .request(spec(dir.path(), "bad.wav"), Priority::Interactive)
            .expect("queued");
        assert!(matches!(job.wait_done(), Outcome::Failed(_)));
        // The failure is remembered before the outcome is published.
        let again = workers.request(spec(dir.path(), "bad.wav"), Priority::Interactive);
        assert_eq!(again.err(), Some(Refused::FailedRecently));
        assert_eq!(workers.stats().failed.load(Ordering::Relaxed), 1);

        let retrying = start(
            dir.path(),
            Settings {
                retry_failed_after: Duration::ZERO,
                ..settings()
            },
        );
        let first = retrying
            .request(spec(dir.path(), "bad.wav"), Priority::Interactive)
            .expect("queued");
        assert!(matches!(first.wait_done(), Outcome::Failed(_)));
        let second = retrying
            .request(spec(dir.path(), "bad.wav"), Priority::Interactive)
            .expect("tried again at once");
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(matches!(second.wait_done(), Outcome::Failed(_)));
    }
}
