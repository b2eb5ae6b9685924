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
use job::TranscodeState;

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
        let busy = self.stats.running.load(Ordering::Relaxed) as usize + self.interactive_rx.len();
        if busy < self.settings.workers.max(1) {
            self.send(job, Priority::Interactive);
        }
    }

    /// Queues a job its last worker left unfinished.
    pub(super) fn requeue(&self, job: &Arc<Job>, interactive: bool) {
        let priority = if interactive {
            Priority::Interactive
        } else {
            Priority::Background
        };
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
            if priority == Priority::Interactive {
                let mut st = job.lock();
                st.interactive = true;
                if !st.claimed || (st.workers_on == 0 && st.has_missing()) {
                    // Taking it from either queue runs it once: a worker
                    // skips a job with nothing left to claim.
                    drop(st);
                    self.shared.send(job, Priority::Interactive);
                }
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
        let first = {
            let mut st = job.lock();
            if st.ended() {
                continue;
            }
            let first = !st.claimed;
            if first {
                st.claimed = true;
                if st.cancel && !st.interactive {
                    st.outcome = Some(Outcome::Cancelled);
                    drop(st);
                    job.changed.notify_all();
                    lock(&shared.jobs).remove(&job.spec.key);
                    continue;
                }
            } else if st.plan.is_none() || !st.has_missing() {
                continue; // queued again to move it ahead, or nothing left
            }
            st.workers_on += 1;
            first
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
