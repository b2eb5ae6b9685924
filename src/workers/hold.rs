//! A test hook: the workers held before each segment, so that a test can
//! look at a transcode that cannot have progressed, then let it go one
//! segment at a time or all at once.
//!
//! Why it exists: the integration tests used to bet that LAME is slower
//! than they are (a seek "answered before the encoder gets there", a job
//! "still running" when the next request comes). Held, they assert it
//! instead. It is compiled in always: a worker nobody holds pays one
//! atomic load per segment, next to the tens of milliseconds of encoding
//! it, and there is no second build to keep working.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::job::Segment;
use super::{Shared, lock};

/// Where the workers stop while a [`Hold`] lives.
#[derive(Debug, Default)]
pub(super) struct Gate {
    /// Holds alive; changed only under `state`'s lock, so that a worker
    /// about to wait cannot miss its release.
    holds: AtomicUsize,
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    /// Segments the workers may still start while held.
    permits: u64,
    /// Workers waiting in [`Gate::pass`] now.
    stopped: usize,
}

impl Gate {
    /// Called by a worker before each segment: returns at once unless
    /// held; else waits for a permit, the last hold to go, or `stopping`.
    pub(super) fn pass(&self, stopping: &AtomicBool) {
        // Acquire: a hold taken before a job was queued is seen by the
        // worker that takes the job.
        if self.holds.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut st = lock(&self.state);
        st.stopped += 1;
        while self.holds.load(Ordering::Relaxed) > 0 && !stopping.load(Ordering::Relaxed) {
            if st.permits > 0 {
                st.permits -= 1;
                break;
            }
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.stopped -= 1;
    }

    /// Wakes the stopped workers to look again (the worker set is
    /// stopping).
    pub(super) fn wake(&self) {
        let _st = lock(&self.state);
        self.changed.notify_all();
    }
}

/// Holds the workers before their next segment until dropped (see
/// [`super::Workers::hold`]). Planning a job is not held: a held job
/// still gets its length and head, so readers get their answer headers
/// and then wait for segments.
#[doc(hidden)]
#[must_use = "the workers go on as soon as the hold is dropped"]
pub struct Hold {
    shared: Arc<Shared>,
}

/// A job's segments as a test sees them.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Segments in the job.
    pub segments: u64,
    /// The segments written, in order of their index.
    pub done: Vec<u64>,
    /// The missing segments a reader waits for, the most urgent last.
    pub wanted: Vec<u64>,
    /// Its background requester gave up ([`super::Job::cancel_background`]).
    pub cancelled: bool,
}

impl Hold {
    pub(super) fn new(shared: &Arc<Shared>) -> Hold {
        let gate = &shared.gate;
        let _st = lock(&gate.state);
        gate.holds.fetch_add(1, Ordering::Release);
        Hold {
            shared: Arc::clone(shared),
        }
    }

    /// Lets the held workers start `segments` more segments.
    pub fn allow(&self, segments: u64) {
        let gate = &self.shared.gate;
        let mut st = lock(&gate.state);
        st.permits += segments;
        gate.changed.notify_all();
    }

    /// Workers stopped before a segment that no permit is left for.
    pub fn waiting(&self) -> usize {
        let st = lock(&self.shared.gate.state);
        st.stopped.saturating_sub(st.permits as usize)
    }

    /// The segments of the job transcoding `relative` (the path under the
    /// music root); `None` before it is planned and once it has ended.
    pub fn progress(&self, relative: &str) -> Option<Progress> {
        let jobs = lock(&self.shared.jobs);
        let job = jobs.values().find(|j| j.spec.relative == relative)?;
        let st = job.lock();
        st.plan.as_ref()?;
        let indices = |of: Segment| {
            (0..st.segments.len() as u64)
                .filter(|&k| st.segments[k as usize] == of)
                .collect::<Vec<u64>>()
        };
        Some(Progress {
            segments: st.segments.len() as u64,
            done: indices(Segment::Done),
            wanted: st
                .wanted
                .iter()
                .copied()
                .filter(|&k| st.segments.get(k as usize) == Some(&Segment::Missing))
                .collect(),
            cancelled: st.cancel,
        })
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let gate = &self.shared.gate;
        let mut st = lock(&gate.state);
        if gate.holds.fetch_sub(1, Ordering::Release) == 1 {
            st.permits = 0;
        }
        gate.changed.notify_all();
    }
}
