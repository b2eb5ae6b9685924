//! One transcode as clients see it: what is asked for ([`JobSpec`]), how
//! it ends ([`Outcome`]), the shared state a worker publishes while it
//! writes, and [`JobReader`], which streams the output while it grows.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::Shared;
use crate::cache::{Key, Protected, Reservation};
use crate::transcode::{Options, Plan};

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
    /// Streamed to its readers but not kept in the cache (budget too
    /// small, the cache is disabled, or a write to the cache failed).
    NotCached,
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

/// Where a segment of the output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment {
    Missing,
    /// A worker is encoding it.
    Encoding,
    /// Written (to the file, or kept in memory after a failed write).
    Done,
}

/// The cache side of a job in progress: its `.part` file and its room in
/// the budget. Gone once the job stops caching.
#[derive(Debug)]
pub(super) struct Caching {
    pub(super) part: PathBuf,
    pub(super) reservation: Reservation,
}

#[derive(Debug, Default)]
pub(super) struct TranscodeState {
    /// A worker has taken the job to plan it (it may be queued again for
    /// helpers).
    pub(super) claimed: bool,
    pub(super) started_at: Option<Instant>,
    /// The layout and the head bytes (ID3 tag and Info frame); set once the
    /// job is planned and its output readable.
    pub(super) plan: Option<Arc<Plan>>,
    /// The output file (`pread` for readers, `pwrite` for workers); the
    /// `.part` while `caching` is set, else unlinked.
    pub(super) file: Option<Arc<File>>,
    pub(super) caching: Option<Caching>,
    pub(super) segments: Vec<Segment>,
    /// The last segment is written and its worker is committing the entry:
    /// no other worker may end the job now.
    pub(super) committing: bool,
    /// Segments written to memory instead of the file (after a write
    /// failure, or when there is no file at all).
    pub(super) in_memory: HashMap<u64, Arc<[u8]>>,
    /// Segments a reader is waiting for, the most urgent last.
    pub(super) wanted: Vec<u64>,
    /// Workers encoding segments of this job now.
    pub(super) workers_on: usize,
    pub(super) outcome: Option<Outcome>,
    /// A worker is ending the job: its outcome follows once recorded.
    pub(super) ending: bool,
    /// Readers streaming the output now, and when the last one left.
    pub(super) readers: usize,
    pub(super) had_readers: bool,
    pub(super) last_reader_left: Option<Instant>,
    /// Someone asked for it interactively (a play, not warming).
    pub(super) interactive: bool,
    /// Its background requester gave up: stop at the next segment unless
    /// someone is listening or asked for it interactively.
    pub(super) cancel: bool,
}

impl TranscodeState {
    /// Claims the segment to encode next: one a reader waits for, else
    /// the first missing one. `None` when none is left to claim.
    pub(super) fn claim_segment(&mut self) -> Option<u64> {
        while let Some(k) = self.wanted.pop() {
            if self.segments.get(k as usize) == Some(&Segment::Missing) {
                self.segments[k as usize] = Segment::Encoding;
                return Some(k);
            }
        }
        let k = self.segments.iter().position(|s| *s == Segment::Missing)?;
        self.segments[k] = Segment::Encoding;
        Some(k as u64)
    }

    /// True while some segment is neither written nor being encoded.
    pub(super) fn has_missing(&self) -> bool {
        self.segments.contains(&Segment::Missing)
    }

    /// True once a worker is ending the job, or it has ended.
    pub(super) fn ended(&self) -> bool {
        self.ending || self.outcome.is_some()
    }

    /// True when every segment is written.
    pub(super) fn all_done(&self) -> bool {
        self.segments.iter().all(|s| *s == Segment::Done)
    }

    /// Asks for segment `k` ahead of the others (a segment out of range or
    /// not missing is ignored); true if it was not asked for yet.
    fn want(&mut self, k: u64) -> bool {
        if self.segments.get(k as usize) != Some(&Segment::Missing) {
            return false;
        }
        let new = !self.wanted.contains(&k);
        self.wanted.retain(|w| *w != k);
        self.wanted.push(k);
        new
    }
}

/// One transcode, shared by every client waiting for it.
#[derive(Debug)]
pub struct Job {
    pub spec: JobSpec,
    pub(super) state: Mutex<TranscodeState>,
    pub(super) changed: Condvar,
    /// The worker set, to call idle workers in when a reader waits.
    pub(super) workers: Weak<Shared>,
}

/// What a waiting client sees once a job has output to read, or has
/// finished without (or before) that.
#[derive(Debug)]
pub enum Availability {
    /// Stream it: read with a [`JobReader`]. The layout says where each
    /// frame lies and the exact final length.
    Streaming { layout: crate::transcode::Layout },
    /// It already finished.
    Finished(Outcome),
}

impl Job {
    pub(super) fn lock(&self) -> MutexGuard<'_, TranscodeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits up to `timeout` until `ready` returns a value for the job's
    /// state; `None` on timeout.
    fn wait_until<T>(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&TranscodeState) -> Option<T>,
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

    /// Waits up to `timeout` for the job to be planned (its length and
    /// head known) or to end. `None` on timeout (still queued).
    pub fn wait_available(&self, timeout: Duration) -> Option<Availability> {
        self.wait_until(timeout, |st| match (&st.outcome, &st.plan) {
            (Some(Outcome::Cached(path)), _) => {
                Some(Availability::Finished(Outcome::Cached(path.clone())))
            }
            (_, Some(plan)) => Some(Availability::Streaming {
                layout: plan.layout.clone(),
            }),
            (Some(o), _) => Some(Availability::Finished(o.clone())),
            _ => None,
        })
    }

    /// Waits up to `timeout` for the job to end; `None` if it has not.
    pub fn wait_done_for(&self, timeout: Duration) -> Option<Outcome> {
        self.wait_until(timeout, |st| st.outcome.clone())
    }

    /// Cancels a job queued in the background, unless someone asked for it
    /// interactively or is streaming it: it is then skipped if still
    /// queued, or stopped before its next segment (its `.part` removed).
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

    /// A reader over bytes `start..end` of the output, blocking up to
    /// `stall` for a segment not yet written. A read of a missing segment
    /// asks for it (and the next) ahead of the rest. Only valid after
    /// [`Availability::Streaming`].
    pub fn reader(self: &Arc<Self>, start: u64, end: u64, stall: Duration) -> JobReader {
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

    pub(super) fn publish(&self, f: impl FnOnce(&mut TranscodeState)) {
        let mut st = self.lock();
        f(&mut st);
        drop(st);
        self.changed.notify_all();
    }

    /// Asks for segments `ks` first; when one was not asked for yet and a
    /// worker is idle, calls it in.
    fn want(self: &Arc<Self>, st: &mut TranscodeState, ks: &[u64]) {
        let mut any = false;
        for &k in ks.iter().rev() {
            any |= st.want(k);
        }
        if any && let Some(shared) = self.workers.upgrade() {
            shared.call_idle_worker(self);
        }
    }
}

/// Reads a job's output while its segments are written.
pub struct JobReader {
    job: Arc<Job>,
    pos: u64,
    end: u64,
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

/// Where the bytes a reader wants next are.
enum Source {
    Memory(Arc<[u8]>, u64),
    File(Arc<File>),
}

impl Read for JobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.end || buf.is_empty() {
            return Ok(0);
        }
        let deadline = Instant::now() + self.stall;
        let (source, upto) = {
            let mut st = self.job.lock();
            loop {
                match &st.outcome {
                    Some(Outcome::Failed(e)) => {
                        return Err(io::Error::other(format!("transcode failed: {e}")));
                    }
                    Some(Outcome::Cancelled | Outcome::NoRoom { .. }) => {
                        return Err(io::Error::other("the transcode was stopped"));
                    }
                    _ => {}
                }
                let Some(plan) = st.plan.clone() else {
                    return Err(io::Error::other("transcode output missing"));
                };
                let layout = &plan.layout;
                if self.pos < layout.head_bytes() {
                    let n = (layout.head_bytes().min(self.end) - self.pos).min(buf.len() as u64);
                    let at = self.pos as usize;
                    buf[..n as usize].copy_from_slice(&plan.head[at..at + n as usize]);
                    self.pos += n;
                    return Ok(n as usize);
                }
                let Some(k) = layout.segment_at(self.pos) else {
                    return Ok(0);
                };
                if st.segments.get(k as usize) == Some(&Segment::Done) {
                    // Read ahead: the next segment is wanted soon.
                    self.job.want(&mut st, &[k + 1]);
                    let seg = layout.segment_bytes(k);
                    let source = match (st.in_memory.get(&k), &st.file) {
                        (Some(bytes), _) => Source::Memory(Arc::clone(bytes), seg.start),
                        (None, Some(file)) => Source::File(Arc::clone(file)),
                        (None, None) => return Err(io::Error::other("transcode output missing")),
                    };
                    break (source, seg.end.min(self.end));
                }
                self.job.want(&mut st, &[k, k + 1]);
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
        };
        let want = ((upto - self.pos) as usize).min(buf.len());
        let n = match source {
            Source::Memory(bytes, start) => {
                let at = (self.pos - start) as usize;
                buf[..want].copy_from_slice(&bytes[at..at + want]);
                want
            }
            Source::File(file) => file.read_at(&mut buf[..want], self.pos)?,
        };
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
