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

mod job;
mod run;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, select_biased};

pub use job::{Availability, Job, JobReader, JobSpec, Outcome, Priority};

use crate::cache::{Cache, Key};
use job::TranscodeState;

/// Bytes reserved for a job whose size cannot be predicted; grown as it
/// writes.
const UNPREDICTED_RESERVATION: u64 = 1 << 20;

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
            state: Mutex::new(TranscodeState {
                interactive: priority == Priority::Interactive,
                ..TranscodeState::default()
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
            run::run(shared, &job)
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
                    if outcome == Outcome::NotCached {
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
