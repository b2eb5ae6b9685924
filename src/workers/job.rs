//! One transcode as clients see it: what is asked for ([`JobSpec`]), how
//! it ends ([`Outcome`]), the shared state a worker publishes while it
//! writes, and [`JobReader`], which streams the output while it grows.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cache::{Key, Protected};
use crate::transcode::Options;

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
    /// Where in the source the MP3 starts (zero: the whole track; else the
    /// Subsonic `timeOffset`, never cached).
    pub start: Duration,
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
    /// small, or the cache is disabled).
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

#[derive(Debug, Default)]
pub(super) struct TranscodeState {
    /// A worker has taken the job (it may be queued twice).
    pub(super) claimed: bool,
    /// Set when the output file exists and its predicted length is known.
    pub(super) started: bool,
    /// Exact final length in bytes, when predictable.
    pub(super) predicted_bytes: Option<u64>,
    /// Bytes written so far (the highest offset reached).
    pub(super) written: u64,
    /// A handle on the output file for readers (`pread`).
    pub(super) file: Option<Arc<File>>,
    /// Bytes as first written at an offset the encoder later rewrote (the
    /// Info tag frame): readers see these, so every streaming client gets
    /// identical bytes whenever it reads.
    pub(super) frozen: Option<(u64, Arc<[u8]>)>,
    pub(super) outcome: Option<Outcome>,
    /// Readers streaming the output now, and when the last one left.
    pub(super) readers: usize,
    pub(super) had_readers: bool,
    pub(super) last_reader_left: Option<Instant>,
    /// Someone asked for it interactively (a play, not warming).
    pub(super) interactive: bool,
    /// Its background requester gave up: stop at the next write unless
    /// someone is listening or asked for it interactively.
    pub(super) cancel: bool,
}

/// One transcode, shared by every client waiting for it.
#[derive(Debug)]
pub struct Job {
    pub spec: JobSpec,
    pub(super) state: Mutex<TranscodeState>,
    pub(super) changed: Condvar,
}

/// What a waiting client sees once a job has output to read, or has
/// finished without (or before) that.
#[derive(Debug)]
pub enum Availability {
    /// Stream it: read with a [`JobReader`]; `predicted_bytes` is the exact
    /// final length when known.
    Streaming { predicted_bytes: Option<u64> },
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

    /// Waits up to `timeout` for the job to start writing (or to end).
    /// `None` on timeout (still queued).
    pub fn wait_available(&self, timeout: Duration) -> Option<Availability> {
        self.wait_until(timeout, |st| match &st.outcome {
            Some(o) => Some(Availability::Finished(o.clone())),
            None => st.started.then_some(Availability::Streaming {
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
    /// [`Availability::Streaming`].
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

    pub(super) fn publish(&self, f: impl FnOnce(&mut TranscodeState)) {
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
