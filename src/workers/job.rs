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

use super::{Settings, Shared};
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

impl Priority {
    /// The queue of a job someone asked for interactively, or not.
    pub(super) fn of(interactive: bool) -> Priority {
        if interactive {
            Priority::Interactive
        } else {
            Priority::Background
        }
    }
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

/// What a worker does with a job it took from a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Take {
    /// Work on it: `first`, plan it; else help encode its segments.
    Run { first: bool },
    /// Nothing to do: it ended, was queued again only to move it ahead,
    /// or has no segment left to claim.
    Skip,
    /// Its background requester gave up before any worker started it:
    /// it ends cancelled, untouched.
    Cancel,
}

/// What a reader at a segment found ([`TranscodeState::reader_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ReaderAt {
    /// The segment is written: read it now.
    pub(super) written: bool,
    /// A segment was asked for that was not before: an idle worker may
    /// help.
    pub(super) asked: bool,
}

impl TranscodeState {
    /// A worker took the job from a queue: claims it (the first worker
    /// plans it) and counts the worker on it, or says why not.
    pub(super) fn take(&mut self) -> Take {
        if self.ended() {
            return Take::Skip;
        }
        let first = !self.claimed;
        if first {
            self.claimed = true;
            if self.cancel && !self.interactive {
                self.outcome = Some(Outcome::Cancelled);
                return Take::Cancel;
            }
        } else if self.plan.is_none() || !self.has_missing() {
            return Take::Skip;
        }
        self.workers_on += 1;
        Take::Run { first }
    }

    /// Someone asked for the job interactively: it is a play from now on.
    /// True when it must be queued (again) in the interactive queue: no
    /// worker has taken it yet, or none is on it while segments are still
    /// missing. Taking it from either queue runs it once, as a worker
    /// skips a job with nothing left to claim.
    pub(super) fn promote(&mut self) -> bool {
        self.interactive = true;
        !self.claimed || (self.workers_on == 0 && self.has_missing())
    }

    /// A worker leaves the job, which goes on without it. The priority to
    /// queue it again at when that was its last worker and segments are
    /// still missing.
    pub(super) fn leave(&mut self) -> Option<Priority> {
        self.workers_on = self.workers_on.saturating_sub(1);
        let requeue = self.workers_on == 0 && !self.ended() && self.has_missing();
        requeue.then(|| Priority::of(self.interactive))
    }

    /// A worker ends the job. True when it is the one to record and
    /// publish the outcome: no other worker is ending it or has ended it.
    pub(super) fn begin_end(&mut self) -> bool {
        self.workers_on = self.workers_on.saturating_sub(1);
        if self.ended() {
            return false;
        }
        self.ending = true;
        true
    }

    /// Segment `k` is written. True when it was the last one: from then
    /// on the job is not stopped, its worker commits it.
    pub(super) fn segment_written(&mut self, k: u64) -> bool {
        if let Some(s) = self.segments.get_mut(k as usize) {
            *s = Segment::Done;
        }
        let last = self.all_done();
        self.committing |= last;
        last
    }

    /// Why the job should stop before its next segment, if it should, at
    /// `now`: its warm job was cancelled and nobody listens or asked for
    /// it interactively, or (unless `finish_abandoned`) its last listener
    /// left at least `abandon_grace` ago. Never once its last segment is
    /// written.
    pub(super) fn stop_reason(&self, now: Instant, settings: &Settings) -> Option<&'static str> {
        if self.committing {
            return None;
        }
        if self.cancel && !self.interactive && self.readers == 0 {
            return Some("its warm job was cancelled");
        }
        if !settings.finish_abandoned
            && self.readers == 0
            && self.had_readers
            && self
                .last_reader_left
                .is_some_and(|t| now.saturating_duration_since(t) >= settings.abandon_grace)
        {
            return Some("every listener left");
        }
        None
    }

    /// Between segments, with `plays_waiting` jobs in the interactive
    /// queue: true when this worker should leave the job for them, as it
    /// is background work or has other workers on it.
    pub(super) fn should_yield(&self, plays_waiting: usize) -> bool {
        plays_waiting > 0 && (!self.interactive || self.workers_on > 1)
    }

    /// A reader needs segment `k`: asks for `k + 1`, which it reads next,
    /// and, when `k` is not written yet, for `k` ahead of it.
    pub(super) fn reader_at(&mut self, k: u64) -> ReaderAt {
        let written = self.segments.get(k as usize) == Some(&Segment::Done);
        let mut asked = self.want(k + 1);
        if !written {
            asked |= self.want(k);
        }
        ReaderAt { written, asked }
    }

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

    /// A reader needs segment `k` ([`TranscodeState::reader_at`]); when
    /// that asked for a segment not asked for yet, calls an idle worker
    /// in. True when `k` is written.
    fn reader_at(self: &Arc<Self>, st: &mut TranscodeState, k: u64) -> bool {
        let at = st.reader_at(k);
        if at.asked
            && let Some(shared) = self.workers.upgrade()
        {
            shared.call_idle_worker(self);
        }
        at.written
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

/// Where the bytes a reader wants next are held.
enum Held {
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
                if self.job.reader_at(&mut st, k) {
                    let seg = layout.segment_bytes(k);
                    let source = match (st.in_memory.get(&k), &st.file) {
                        (Some(bytes), _) => Held::Memory(Arc::clone(bytes), seg.start),
                        (None, Some(file)) => Held::File(Arc::clone(file)),
                        (None, None) => return Err(io::Error::other("transcode output missing")),
                    };
                    break (source, seg.end.min(self.end));
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
        };
        let want = ((upto - self.pos) as usize).min(buf.len());
        let n = match source {
            Held::Memory(bytes, start) => {
                let at = (self.pos - start) as usize;
                buf[..want].copy_from_slice(&bytes[at..at + want]);
                want
            }
            Held::File(file) => file.read_at(&mut buf[..want], self.pos)?,
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

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::Segment::{Done, Encoding, Missing};
    use super::*;
    use crate::cache::KeyParts;
    use crate::quality::Quality;
    use crate::transcode::layout::SEGMENT_FRAMES;
    use crate::transcode::segment::tests::write_wav;

    fn state(segments: &[Segment]) -> TranscodeState {
        TranscodeState {
            segments: segments.to_vec(),
            ..TranscodeState::default()
        }
    }

    /// Claims segments until none is left; the order they came in.
    fn claims(st: &mut TranscodeState) -> Vec<u64> {
        std::iter::from_fn(|| st.claim_segment()).collect()
    }

    #[test]
    fn segments_are_claimed_in_order_when_no_reader_waits() {
        let mut st = state(&[Missing; 4]);
        assert_eq!(claims(&mut st), [0, 1, 2, 3]);
        assert!(!st.has_missing());
        assert_eq!(st.claim_segment(), None);
    }

    #[test]
    fn a_wanted_segment_is_claimed_before_the_first_missing_one() {
        let mut st = state(&[Missing; 4]);
        assert!(st.want(2));
        assert_eq!(claims(&mut st), [2, 0, 1, 3]);
    }

    #[test]
    fn the_segment_wanted_last_is_the_most_urgent() {
        let mut st = state(&[Missing; 5]);
        st.want(1);
        st.want(3);
        assert_eq!(claims(&mut st), [3, 1, 0, 2, 4]);
    }

    #[test]
    fn wanting_a_segment_twice_asks_once_but_moves_it_ahead() {
        let mut st = state(&[Missing; 4]);
        assert!(st.want(1));
        assert!(st.want(2));
        assert!(!st.want(1), "already asked for");
        assert_eq!(st.wanted, [2, 1]);
        assert_eq!(claims(&mut st), [1, 2, 0, 3]);
    }

    #[test]
    fn wanting_a_segment_out_of_range_or_not_missing_asks_for_nothing() {
        let mut st = state(&[Done, Encoding, Missing]);
        for k in [0, 1, 3, u64::MAX] {
            assert!(!st.want(k), "segment {k}");
        }
        assert!(st.wanted.is_empty());
    }

    #[test]
    fn wanted_segments_taken_meanwhile_are_passed_over() {
        let mut st = state(&[Missing; 3]);
        st.want(0);
        st.want(2);
        // Another worker took 2 after it was asked for.
        st.segments[2] = Encoding;
        assert_eq!(claims(&mut st), [0, 1]);
    }

    #[test]
    fn a_reader_at_a_missing_segment_asks_for_it_ahead_of_the_next() {
        let mut st = state(&[Missing; 4]);
        let at = st.reader_at(1);
        assert_eq!(
            at,
            ReaderAt {
                written: false,
                asked: true
            }
        );
        assert_eq!(claims(&mut st), [1, 2, 0, 3]);
    }

    #[test]
    fn a_reader_at_a_written_segment_asks_for_the_next_only() {
        let mut st = state(&[Done, Missing, Missing]);
        let at = st.reader_at(0);
        assert_eq!(
            at,
            ReaderAt {
                written: true,
                asked: true
            }
        );
        assert_eq!(st.wanted, [1]);
        // Reading on in the same segment asks for nothing new.
        assert!(!st.reader_at(0).asked);
    }

    #[test]
    fn a_reader_at_the_last_segment_asks_for_nothing_past_it() {
        let mut st = state(&[Done, Done, Done]);
        assert_eq!(
            st.reader_at(2),
            ReaderAt {
                written: true,
                asked: false
            }
        );
        assert!(st.wanted.is_empty());
    }

    #[test]
    fn the_last_segment_written_starts_the_commit() {
        let mut st = state(&[Encoding, Done, Encoding]);
        assert!(!st.segment_written(0));
        assert!(!st.committing);
        assert!(st.segment_written(2));
        assert!(st.committing && st.all_done());
    }

    #[test]
    fn only_the_first_worker_to_end_a_job_records_its_end() {
        let mut st = TranscodeState {
            workers_on: 2,
            ..state(&[Encoding, Encoding])
        };
        assert!(st.begin_end());
        assert!(st.ended());
        assert!(!st.begin_end(), "the second ender leaves it to the first");
        assert_eq!(st.workers_on, 0);
    }

    /// A planned job of `segments` segments: a WAV written into `dir`.
    fn planned(dir: &Path, segments: u64) -> Arc<Plan> {
        let path = dir.join("track.wav");
        let frames = segments * SEGMENT_FRAMES - 1;
        write_wav(&path, 32_000, 1, (frames - 1) * 1152);
        let opts = Options {
            bitrate_kbps: 64,
            lame_algorithm: 9,
            max_art_bytes: Options::DEFAULT_MAX_ART_BYTES,
        };
        let (plan, _) = crate::transcode::plan(&path, "track.wav", &opts).expect("the plan");
        assert_eq!(plan.layout.segments(), segments);
        Arc::new(plan)
    }

    #[test]
    fn a_worker_takes_a_job_by_its_rules() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = planned(dir.path(), 2);
        let fresh = TranscodeState::default();
        let planned_with = |segments: &[Segment]| TranscodeState {
            claimed: true,
            plan: Some(Arc::clone(&plan)),
            workers_on: 1,
            ..state(segments)
        };
        let cases = [
            (
                "the first worker plans it",
                fresh,
                Take::Run { first: true },
            ),
            (
                "queued again before it is planned",
                TranscodeState {
                    claimed: true,
                    workers_on: 1,
                    ..TranscodeState::default()
                },
                Take::Skip,
            ),
            (
                "planned, with a segment to claim: a helper",
                planned_with(&[Encoding, Missing]),
                Take::Run { first: false },
            ),
            (
                "planned, nothing left to claim",
                planned_with(&[Encoding, Done]),
                Take::Skip,
            ),
            (
                "ended",
                TranscodeState {
                    outcome: Some(Outcome::NotCached),
                    ..planned_with(&[Missing, Missing])
                },
                Take::Skip,
            ),
            (
                "being ended",
                TranscodeState {
                    ending: true,
                    ..planned_with(&[Missing, Missing])
                },
                Take::Skip,
            ),
            (
                "cancelled by its warm job before it started",
                TranscodeState {
                    cancel: true,
                    ..TranscodeState::default()
                },
                Take::Cancel,
            ),
            (
                "cancelled, but someone plays it",
                TranscodeState {
                    cancel: true,
                    interactive: true,
                    ..TranscodeState::default()
                },
                Take::Run { first: true },
            ),
        ];
        for (what, mut st, want) in cases {
            let before = st.workers_on;
            assert_eq!(st.take(), want, "{what}");
            assert!(st.claimed, "{what}: claimed");
            let counted = usize::from(matches!(want, Take::Run { .. }));
            assert_eq!(st.workers_on, before + counted, "{what}: workers on it");
            if want == Take::Cancel {
                assert_eq!(st.outcome, Some(Outcome::Cancelled));
            }
        }
    }

    #[test]
    fn an_interactive_request_queues_again_only_a_job_no_worker_is_on() {
        let cases = [
            ("not taken yet", TranscodeState::default(), true),
            (
                "left with segments missing",
                TranscodeState {
                    claimed: true,
                    ..state(&[Done, Missing])
                },
                true,
            ),
            (
                "a worker is on it",
                TranscodeState {
                    claimed: true,
                    workers_on: 1,
                    ..state(&[Encoding, Missing])
                },
                false,
            ),
            (
                "every segment taken",
                TranscodeState {
                    claimed: true,
                    ..state(&[Done, Encoding])
                },
                false,
            ),
        ];
        for (what, mut st, queue) in cases {
            assert_eq!(st.promote(), queue, "{what}");
            assert!(st.interactive, "{what}: a play from now on");
        }
    }

    #[test]
    fn the_last_worker_to_leave_queues_the_rest_again_at_its_priority() {
        let on = |workers_on, interactive, segments: &[Segment]| TranscodeState {
            claimed: true,
            workers_on,
            interactive,
            ..state(segments)
        };
        let cases = [
            (
                "last, play",
                on(1, true, &[Done, Missing]),
                Some(Priority::Interactive),
            ),
            (
                "last, warming",
                on(1, false, &[Done, Missing]),
                Some(Priority::Background),
            ),
            (
                "others still on it",
                on(2, true, &[Encoding, Missing]),
                None,
            ),
            ("nothing missing", on(1, true, &[Done, Encoding]), None),
            (
                "ended",
                TranscodeState {
                    outcome: Some(Outcome::Cancelled),
                    ..on(1, true, &[Done, Missing])
                },
                None,
            ),
        ];
        for (what, mut st, requeue) in cases {
            let before = st.workers_on;
            assert_eq!(st.leave(), requeue, "{what}");
            assert_eq!(st.workers_on, before - 1, "{what}");
        }
    }

    fn settings(finish_abandoned: bool) -> Settings {
        Settings {
            workers: 2,
            nice: 0,
            max_queue: 8,
            retry_failed_after: Duration::from_secs(600),
            finish_abandoned,
            abandon_grace: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_job_stops_between_segments_by_its_rules() {
        let now = Instant::now() + Duration::from_secs(60);
        let left = |ago: u64| TranscodeState {
            had_readers: true,
            last_reader_left: Some(now - Duration::from_secs(ago)),
            interactive: true,
            ..state(&[Done, Missing])
        };
        let cases = [
            (
                "running, nothing asked",
                state(&[Done, Missing]),
                true,
                None,
            ),
            (
                "warm job cancelled",
                TranscodeState {
                    cancel: true,
                    ..state(&[Done, Missing])
                },
                true,
                Some("its warm job was cancelled"),
            ),
            (
                "warm job cancelled, someone listens",
                TranscodeState {
                    readers: 1,
                    cancel: true,
                    ..state(&[Done, Missing])
                },
                true,
                None,
            ),
            (
                "warm job cancelled, someone plays it",
                TranscodeState {
                    interactive: true,
                    cancel: true,
                    ..state(&[Done, Missing])
                },
                true,
                None,
            ),
            ("listener left within the grace", left(4), false, None),
            (
                "listener left the grace ago",
                left(5),
                false,
                Some("every listener left"),
            ),
            ("listener left, finish_abandoned on", left(3600), true, None),
            (
                "a listener left but another listens",
                TranscodeState {
                    readers: 1,
                    ..left(3600)
                },
                false,
                None,
            ),
            (
                "never had a listener (warming)",
                TranscodeState {
                    interactive: true,
                    ..state(&[Done, Missing])
                },
                false,
                None,
            ),
            (
                "committing",
                TranscodeState {
                    committing: true,
                    cancel: true,
                    ..left(3600)
                },
                false,
                None,
            ),
        ];
        for (what, st, finish_abandoned, why) in cases {
            assert_eq!(
                st.stop_reason(now, &settings(finish_abandoned)),
                why,
                "{what}"
            );
        }
    }

    #[test]
    fn a_worker_leaves_background_work_and_shared_plays_to_a_waiting_play() {
        let job = |interactive, workers_on| TranscodeState {
            interactive,
            workers_on,
            ..TranscodeState::default()
        };
        for (interactive, workers_on, waiting, leaves) in [
            (false, 1, 0, false),
            (false, 1, 1, true),
            (true, 1, 1, false),
            (true, 2, 1, true),
            (true, 2, 0, false),
        ] {
            assert_eq!(
                job(interactive, workers_on).should_yield(waiting),
                leaves,
                "interactive {interactive}, {workers_on} workers on it, {waiting} waiting"
            );
        }
    }

    /// The cache key of a test job for the file `relative` (the other
    /// fields fixed): what the worker tests key their jobs by.
    pub(crate) fn test_key(relative: &str) -> crate::cache::Key {
        crate::cache::Key::new(&KeyParts {
            relative,
            source_size: 1,
            source_mtime_ns: 1,
            quality: Quality::Low,
            bitrate_kbps: 64,
            lame_algorithm: 9,
            max_art_bytes: 0,
        })
    }

    /// A job planned from `plan`, not in any worker set, with `state`
    /// laid over it; segments `done` are written, in memory, as a pattern.
    fn job_with(plan: &Arc<Plan>, done: &[u64], state: TranscodeState) -> Arc<Job> {
        let layout = &plan.layout;
        let mut st = TranscodeState {
            plan: Some(Arc::clone(plan)),
            segments: vec![Missing; layout.segments() as usize],
            claimed: true,
            ..state
        };
        for &k in done {
            st.segments[k as usize] = Done;
            st.in_memory.insert(k, segment_pattern(layout, k).into());
        }
        let key = test_key("track.wav");
        Arc::new(Job {
            spec: JobSpec {
                key,
                input: PathBuf::from("track.wav"),
                relative: "track.wav".to_owned(),
                opts: Options {
                    bitrate_kbps: 64,
                    lame_algorithm: 9,
                    max_art_bytes: 0,
                },
                cache: false,
                protect: None,
            },
            state: Mutex::new(st),
            changed: Condvar::new(),
            workers: Weak::new(),
        })
    }

    /// The bytes a test writes for segment `k`: its length, byte `i` of
    /// the file being `i % 251`.
    fn segment_pattern(layout: &crate::transcode::Layout, k: u64) -> Vec<u8> {
        layout.segment_bytes(k).map(|i| (i % 251) as u8).collect()
    }

    /// Reads until the reader fails or ends; what it read, and how.
    fn read_all(r: &mut JobReader) -> (Vec<u8>, io::Result<()>) {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (got, Ok(())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Err(e)),
            }
        }
    }

    #[test]
    fn a_reader_streams_the_head_and_written_segments_then_times_out_at_a_missing_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = planned(dir.path(), 3);
        let job = job_with(&plan, &[0], TranscodeState::default());
        let total = plan.layout.total_bytes();
        let mut r = job.reader(0, total, Duration::ZERO);
        let (got, end) = read_all(&mut r);
        let mut want = plan.head.clone();
        want.extend(segment_pattern(&plan.layout, 0));
        assert_eq!(got, want);
        let err = end.expect_err("segment 1 is not written");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // It asked for segment 1 first, then 2.
        assert_eq!(job.lock().wanted, [2, 1]);
        assert_eq!(job.lock().readers, 1);
        drop(r);
        let st = job.lock();
        assert_eq!(st.readers, 0);
        assert!(st.had_readers && st.last_reader_left.is_some());
    }

    #[test]
    fn a_reader_waits_for_its_segment_and_reads_it_once_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = planned(dir.path(), 2);
        let job = job_with(&plan, &[], TranscodeState::default());
        let seg = plan.layout.segment_bytes(1);
        let mut r = job.reader(seg.start, seg.end, Duration::from_secs(60));
        let reader = std::thread::spawn(move || read_all(&mut r));
        // The reader asks for its segment under the lock and waits.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !job.lock().wanted.contains(&1) {
            assert!(
                Instant::now() < deadline,
                "the reader never asked for segment 1"
            );
            std::thread::yield_now();
        }
        let bytes: Arc<[u8]> = segment_pattern(&plan.layout, 1).into();
        job.publish(|st| {
            st.in_memory.insert(1, Arc::clone(&bytes));
            st.segments[1] = Done;
        });
        let (got, end) = reader.join().expect("the reader thread");
        end.expect("read to the end");
        assert_eq!(got, &bytes[..]);
    }

    #[test]
    fn a_read_from_the_middle_of_a_segment_starts_at_its_byte() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = planned(dir.path(), 2);
        let job = job_with(&plan, &[0, 1], TranscodeState::default());
        let total = plan.layout.total_bytes();
        let from = plan.layout.segment_bytes(1).start + 17;
        let (got, end) = read_all(&mut job.reader(from, total, Duration::ZERO));
        end.expect("both segments are written");
        let want: Vec<u8> = (from..total).map(|i| (i % 251) as u8).collect();
        assert_eq!(got, want);
        let (got, end) = read_all(&mut job.reader(total, total, Duration::ZERO));
        assert!(got.is_empty() && end.is_ok(), "nothing past the end");
    }

    #[test]
    fn readers_of_a_job_that_failed_or_stopped_get_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = planned(dir.path(), 2);
        for (outcome, message) in [
            (
                Outcome::Failed("bad frame".to_owned()),
                "transcode failed: bad frame",
            ),
            (Outcome::Cancelled, "the transcode was stopped"),
            (
                Outcome::NoRoom { short_bytes: 1 },
                "the transcode was stopped",
            ),
        ] {
            let job = job_with(
                &plan,
                &[0],
                TranscodeState {
                    outcome: Some(outcome),
                    ..TranscodeState::default()
                },
            );
            let (got, end) = read_all(&mut job.reader(0, 10, Duration::ZERO));
            assert!(got.is_empty(), "{message}");
            let err = end.expect_err(message);
            assert_eq!(err.to_string(), message);
        }
    }
}
