//! What a worker does with one job: reserve room in the budget, write
//! `<key>.part` through a writer that keeps within the reservation and
//! publishes its progress to readers, then commit the entry or leave
//! nothing behind.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Job, Outcome, Shared, UNPREDICTED_RESERVATION};
use crate::cache::Reservation;
use crate::transcode;

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

pub(super) fn run(shared: &Shared, job: &Job) -> Outcome {
    let spec = &job.spec;
    let mut prepared = match transcode::prepare(&spec.input, &spec.relative, &spec.opts) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if !spec.start.is_zero()
        && let Err(e) = prepared.start_at(spec.start)
    {
        return Outcome::Failed(e.to_string());
    }
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
                        Outcome::NotCached
                    }
                },
                _ => Outcome::NotCached,
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
