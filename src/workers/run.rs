//! What a worker does with a job: the first worker plans it (the layout,
//! the room in the budget, the `.part` file with its head written), then
//! every worker on it claims segments one at a time and writes each at its
//! place (`pwrite`). Whoever writes the last segment commits the entry.
//!
//! A failed write to the cache (a full disk, an I/O error) does not fail
//! the job: the `.part` is dropped, and the segments from then on are kept
//! in memory for the readers, so every announced byte still reaches them.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::job::{Caching, Segment};
use super::{Job, Outcome, Shared};
use crate::transcode::{self, PcmSource, Plan};

/// Runs `job` on this worker until it has no segment left to claim, it
/// ends, or other work should go first. `first`: this worker plans it.
pub(super) fn run(shared: &Shared, job: &Arc<Job>, first: bool) {
    let (plan, mut src) = if first {
        match start(shared, job) {
            Ok(started) => started,
            Err(outcome) => return end(shared, job, outcome),
        }
    } else {
        let Some(plan) = job.lock().plan.clone() else {
            return leave(shared, job);
        };
        match plan.open_source() {
            Ok(src) => (plan, src),
            Err(e) => {
                // Alone on the job, it would only be queued again for the
                // next worker to fail the same way: end it.
                let alone = job.lock().workers_on == 1;
                if alone {
                    return end(shared, job, Outcome::Failed(e.to_string()));
                }
                log::warn!("a helper cannot open the source: {e}");
                return leave(shared, job);
            }
        }
    };
    loop {
        shared.gate.pass(&shared.stopping);
        if let Some(why) = stop_reason(shared, job) {
            log::info!("stopped transcoding {:?}: {why}", job.spec.relative);
            return end(shared, job, Outcome::Cancelled);
        }
        let claimed = {
            let mut st = job.lock();
            if !st.ended() {
                st.claim_segment()
            } else {
                None
            }
        };
        let Some(k) = claimed else {
            return leave(shared, job);
        };
        let bytes = match plan.encode_segment(&mut src, k) {
            Ok(bytes) => bytes,
            Err(e) => return end(shared, job, Outcome::Failed(e.to_string())),
        };
        if store(job, &plan, k, bytes) {
            return commit(shared, job, &plan, &src);
        }
        if should_yield(shared, job) {
            return leave(shared, job);
        }
    }
}

/// Plans the job, reserves its room, creates the `.part` with its head
/// written, and publishes it to readers; calls idle workers in.
fn start(shared: &Shared, job: &Arc<Job>) -> Result<(Arc<Plan>, PcmSource), Outcome> {
    let spec = &job.spec;
    let (plan, src) = transcode::plan(&spec.input, &spec.relative, &spec.opts)
        .map_err(|e| Outcome::Failed(e.to_string()))?;
    let plan = Arc::new(plan);
    let total = plan.total_bytes();
    let cache = &shared.cache;
    let reservation = if spec.cache
        && let Some(protect) = &spec.protect
    {
        match cache.reserve_sparing(total, protect) {
            Ok(r) => Some(r),
            // Someone is waiting to play it: stream it without keeping it.
            Err(_) if job.lock().interactive => None,
            Err(short_bytes) => return Err(Outcome::NoRoom { short_bytes }),
        }
    } else if spec.cache {
        let r = cache.reserve(total);
        if r.is_none() {
            log::info!(
                "not caching {:?}: {total} bytes do not fit the {}-byte budget",
                spec.relative,
                cache.budget_bytes()
            );
        }
        r
    } else {
        None
    };
    let part = cache.part_path(&spec.key);
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&part)
        .and_then(|f| {
            f.write_all_at(&plan.head, 0)?;
            Ok(f)
        });
    let (file, caching) = match file {
        Ok(f) => match reservation {
            Some(reservation) => (Some(Arc::new(f)), Some(Caching { part, reservation })),
            None => {
                // Streamed from an unlinked file: readers keep the inode.
                let _ = fs::remove_file(&part);
                (Some(Arc::new(f)), None)
            }
        },
        Err(e) => {
            let _ = fs::remove_file(&part);
            log::error!(
                "not caching {:?}: cannot write {}: {e}; streaming it from memory",
                spec.relative,
                part.display()
            );
            (None, None)
        }
    };
    let segments = plan.layout.segments();
    let interactive = {
        let mut st = job.lock();
        st.plan = Some(Arc::clone(&plan));
        st.file = file;
        st.caching = caching;
        st.segments = vec![Segment::Missing; segments as usize];
        st.started_at = Some(Instant::now());
        st.interactive
    };
    job.changed.notify_all();
    if interactive {
        // Split a play across the idle workers.
        for _ in 0..helpers_to_call(segments, shared.settings.workers) {
            shared.call_idle_worker(job);
        }
    }
    Ok((plan, src))
}

/// Idle workers a play of `segments` calls in to help the one that
/// planned it: one per further segment, up to the other `workers`.
fn helpers_to_call(segments: u64, workers: usize) -> u64 {
    segments.min(workers.max(1) as u64).saturating_sub(1)
}

/// Writes segment `k` at its place (or to memory once the file has
/// failed) and marks it done. Returns true when it was the last one.
fn store(job: &Job, plan: &Plan, k: u64, bytes: Vec<u8>) -> bool {
    let at = plan.layout.segment_bytes(k).start;
    let file = job.lock().file.clone();
    let written = match &file {
        Some(f) => f.write_all_at(&bytes, at),
        None => Err(std::io::Error::other("no file")),
    };
    let mut st = job.lock();
    if let Err(e) = written {
        if let Some(caching) = st.caching.take() {
            let _ = fs::remove_file(&caching.part);
            log::error!(
                "not caching {:?}: writing {} failed: {e}; streaming the rest from memory",
                job.spec.relative,
                caching.part.display()
            );
        }
        st.in_memory.insert(k, bytes.into());
    }
    // From the last one on, the job is not stopped: this worker commits it.
    let last = st.segment_written(k);
    drop(st);
    job.changed.notify_all();
    last
}

/// Every segment is written: commit the entry (or not) and end the job.
fn commit(shared: &Shared, job: &Arc<Job>, plan: &Plan, src: &PcmSource) {
    let report = plan.report(src);
    if report.skipped_packets > 0 {
        log::warn!(
            "transcoding {:?}: skipped {} corrupt packets",
            job.spec.relative,
            report.skipped_packets
        );
    }
    let (caching, file) = {
        let mut st = job.lock();
        (st.caching.take(), st.file.clone())
    };
    let outcome = match (caching, file) {
        (Some(c), Some(file)) => match shared.cache.commit(c.reservation, &job.spec.key, &file) {
            Ok(path) => Outcome::Cached(path),
            Err(e) => {
                log::error!("cache: cannot store {:?}: {e}", job.spec.relative);
                Outcome::NotCached
            }
        },
        _ => Outcome::NotCached,
    };
    end(shared, job, outcome)
}

/// Ends the job with `outcome` unless another worker already did; removes
/// the `.part` of a job that did not commit. The end is recorded
/// ([`Shared::record_end`]) before the outcome is published.
fn end(shared: &Shared, job: &Job, outcome: Outcome) {
    {
        let mut st = job.lock();
        if let Some(caching) = st.caching.take() {
            let _ = fs::remove_file(&caching.part);
        }
        if !st.begin_end() {
            return;
        }
    }
    shared.record_end(job, &outcome);
    job.publish(|st| st.outcome = Some(outcome));
}

/// This worker stops working on the job, which goes on without it. If it
/// was the last worker on it and segments are still missing, the job is
/// queued again.
fn leave(shared: &Shared, job: &Arc<Job>) {
    let requeue = job.lock().leave();
    if let Some(priority) = requeue {
        shared.requeue(job, priority);
    }
}

/// Why the job should stop now, if it should.
fn stop_reason(shared: &Shared, job: &Job) -> Option<&'static str> {
    if shared.stopping.load(Ordering::Relaxed) {
        return Some("the server is stopping");
    }
    job.lock().stop_reason(Instant::now(), &shared.settings)
}

/// Between segments: leave a job when a play is waiting in the queue and
/// this job is background work, or has other workers on it.
fn should_yield(shared: &Shared, job: &Job) -> bool {
    job.lock().should_yield(shared.interactive_waiting())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_play_calls_in_one_helper_per_further_segment_up_to_the_other_workers() {
        // (segments, workers, helpers called)
        for (segments, workers, helpers) in [
            (1, 4, 0),
            (2, 4, 1),
            (3, 4, 2),
            (10, 4, 3),
            (10, 1, 0),
            (10, 0, 0),
            (0, 4, 0),
        ] {
            assert_eq!(
                helpers_to_call(segments, workers),
                helpers,
                "{segments} segments, {workers} workers"
            );
        }
    }
}
