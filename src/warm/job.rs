//! One warm job as everyone sees it: its [`JobStatus`], the numbered
//! events it emits, and the waits listeners and the warm thread do on it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::quality::Quality;
use crate::reports::{
    EventData, EventKind, JobCounters, JobState, JobStatus, TrackError, TrackEvent, TrackResult,
    WarmRequest,
};

/// Events kept per job for listeners that fall behind; one that falls
/// further behind gets a fresh `state` event instead.
const EVENTS_KEPT: usize = 256;

/// Errors listed per job; further failures are only counted.
const ERRORS_KEPT: usize = 100;

/// One job event, numbered from 1 in the order it happened.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: u64,
    pub kind: EventKind,
    pub data: EventData,
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

pub(super) struct Inner {
    pub(super) status: JobStatus,
    events: VecDeque<Event>,
    last_seq: u64,
    /// Audio seconds transcoded by this job and still to do, and when it
    /// started transcoding: the ETA assumes the same speed for the rest.
    pub(super) audio_done_s: f64,
    pub(super) audio_left_s: f64,
    pub(super) since: Option<Instant>,
}

/// One warm job, shared by the warm thread and every listener.
pub struct WarmJob {
    id: u64,
    cancel: AtomicBool,
    inner: Mutex<Inner>,
    changed: Condvar,
}

/// Seconds since the Unix epoch.
pub(super) fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl WarmJob {
    /// A queued job numbered `id` for `request`.
    pub(super) fn new(id: u64, request: WarmRequest) -> WarmJob {
        WarmJob {
            id,
            cancel: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                status: JobStatus {
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
                    request,
                },
                events: VecDeque::new(),
                last_seq: 0,
                audio_done_s: 0.0,
                audio_left_s: 0.0,
                since: None,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The job's number, unique in this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The job as it is now.
    pub fn status(&self) -> JobStatus {
        self.lock().status.clone()
    }

    /// The job now and the number of the last event it includes: a late
    /// listener sends this, then follows with [`WarmJob::next_events`].
    pub fn snapshot(&self) -> (JobStatus, u64) {
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

    pub(super) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    /// Marks the job cancelled without a request (the server is stopping).
    pub(super) fn set_cancelled(&self) {
        self.cancel.store(true, Ordering::Release);
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

    pub(super) fn update(&self, f: impl FnOnce(&mut Inner)) {
        let mut st = self.lock();
        f(&mut st);
        drop(st);
        self.changed.notify_all();
    }

    /// Applies `f`, then records an event of `kind` whose data `make`
    /// builds from the job's counters after `f`.
    fn event(
        &self,
        kind: EventKind,
        f: impl FnOnce(&mut Inner),
        make: impl FnOnce(&JobStatus, JobCounters) -> EventData,
    ) {
        self.update(|st| {
            f(st);
            st.status.eta_s = eta(st);
            let data = make(&st.status, st.status.counters());
            st.last_seq += 1;
            let seq = st.last_seq;
            st.events.push_back(Event { seq, kind, data });
            if st.events.len() > EVENTS_KEPT {
                st.events.pop_front();
            }
        });
    }

    /// Records a pair transcoded into the cache: `bytes` of entry made
    /// from `source_bytes` of original and `duration_s` of audio.
    pub(super) fn cached(
        &self,
        relative: &str,
        quality: Quality,
        bytes: u64,
        source_bytes: u64,
        duration_s: f64,
    ) {
        self.event(
            EventKind::Progress,
            |st| {
                st.status.done += 1;
                st.status.bytes_cached += bytes;
                st.status.source_bytes += source_bytes;
                st.audio_done_s += duration_s;
                st.audio_left_s = (st.audio_left_s - duration_s).max(0.0);
            },
            |_, counters| {
                EventData::Track(TrackEvent {
                    path: relative.to_owned(),
                    quality,
                    result: Some(TrackResult::Cached),
                    bytes: Some(bytes),
                    error: None,
                    counters,
                })
            },
        );
    }

    /// Records a pair that needed no transcode: already `cached`, or not
    /// transcoded at this level.
    pub(super) fn skipped(&self, relative: &str, quality: Quality, duration_s: f64, cached: bool) {
        self.event(
            EventKind::Progress,
            |st| {
                st.status.skipped += 1;
                st.status.already_cached += u64::from(cached);
                st.audio_left_s = (st.audio_left_s - duration_s).max(0.0);
            },
            |_, counters| {
                EventData::Track(TrackEvent {
                    path: relative.to_owned(),
                    quality,
                    result: Some(if cached {
                        TrackResult::AlreadyCached
                    } else {
                        TrackResult::NotTranscoded
                    }),
                    bytes: Some(0),
                    error: None,
                    counters,
                })
            },
        );
    }

    /// Records a pair that failed with `error`.
    pub(super) fn failed(&self, relative: &str, quality: Quality, duration_s: f64, error: String) {
        let listed = TrackError {
            path: relative.to_owned(),
            error: error.clone(),
        };
        self.event(
            EventKind::Error,
            |st| {
                st.status.failed += 1;
                st.audio_left_s = (st.audio_left_s - duration_s).max(0.0);
                if st.status.errors.len() < ERRORS_KEPT {
                    st.status.errors.push(listed);
                }
            },
            |_, counters| {
                EventData::Track(TrackEvent {
                    path: relative.to_owned(),
                    quality,
                    result: None,
                    bytes: None,
                    error: Some(error),
                    counters,
                })
            },
        );
    }

    /// Ends the job in `state` (with `message` for people, if any), logs
    /// it and sends `done`.
    pub(super) fn finish(&self, state: JobState, message: Option<String>) {
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
        self.event(
            EventKind::Done,
            |_| {},
            |status, _| EventData::Status(Box::new(status.clone())),
        );
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
