//! `/play/<path>?quality=high|medium|low`: a cache hit is served like any
//! file; a miss starts (or joins) a transcode and streams it while it is
//! encoded, with the exact final length announced up front so the player
//! can seek on first play (Range requests into bytes not yet written wait
//! for the encoder). Returns `None` whenever the original should be served
//! instead: nothing to gain, a recent failure, a full queue with
//! `on_busy = "original"`, or a failed transcode.

use std::fs::File;
use std::time::Duration;

use log::{debug, info, warn};

use super::Context;
use super::files;
use super::range::{self, RangeOutcome};
use super::reply::{Body, Reply, Stream};
use crate::cache::Key;
use crate::library::LibraryFile;
use crate::policy;
use crate::quality::Quality;
use crate::workers::{Availability, JobSpec, Outcome, Priority, Refused};

/// How long a request waits for its job to leave the queue.
const QUEUE_WAIT: Duration = Duration::from_secs(60);
/// How long a reader waits for the encoder to reach the bytes it needs.
const STALL: Duration = Duration::from_secs(60);

/// Serves `file` transcoded to `quality`, or `None` for the original.
///
/// With a non-zero `start` (the Subsonic `timeOffset`) the MP3 starts that
/// far into the track: a transcode of the rest, started at once, streamed
/// with its exact length (and Range into it) and never cached, whether or
/// not the whole track is. It is made even where the whole track would be
/// served as the original (an MP3 source at its own bit rate), so that
/// the position is right.
pub fn serve<'a>(
    ctx: &Context,
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    file: &LibraryFile,
    quality: Quality,
    start: Duration,
) -> Option<Reply> {
    let app = &ctx.app;
    let workers = app.workers.as_ref()?;
    let bitrate_kbps = app.config.transcode.bitrate_kbps.for_quality(quality)?;
    if !policy::transcodable(&file.relative) {
        return None;
    }
    let (key, opts) = policy::cache_key(
        &app.config,
        &file.relative,
        &file.metadata,
        quality,
        bitrate_kbps,
    );
    let disposition = files::content_disposition(&mp3_name(&file.relative));
    if !start.is_zero() {
        // One job per track, level and offset (in ms), so two requests for
        // the same seek share it.
        let ms = u64::try_from(start.as_millis()).unwrap_or(u64::MAX);
        let spec = JobSpec {
            key: Key::derived("offset", &[key.hex().as_bytes(), &ms.to_le_bytes()]),
            input: file.path.clone(),
            relative: file.relative.to_string(),
            opts,
            start,
            cache: false,
            protect: None,
        };
        info!(
            "{} {quality} from {:.1} s (not cached)",
            file.relative,
            start.as_secs_f64()
        );
        return stream_job(ctx, header, file, spec, &disposition);
    }
    let cache = workers.cache();
    if app.config.cache.enabled
        && let Some(entry) = cache.lookup(&key)
    {
        info!("cache hit {} {quality}", file.relative);
        if let Some(p) = &app.prefetcher {
            p.note_hit(&key);
        }
        return Some(serve_entry(header, entry, &disposition));
    }
    // An entry exists only for files worth transcoding, so the MP3 probe
    // is needed on a miss alone.
    match policy::mp3_worth_reencoding(file, bitrate_kbps) {
        Ok(true) => {}
        Ok(false) => {
            debug!(
                "{}: {quality} would not be smaller; serving the original",
                file.relative
            );
            return None;
        }
        Err(e) => {
            info!("{e}; serving the original");
            return None;
        }
    }
    info!("cache miss {} {quality}", file.relative);
    let spec = JobSpec {
        key,
        input: file.path.clone(),
        relative: file.relative.to_string(),
        opts,
        start: Duration::ZERO,
        cache: app.config.cache.enabled,
        protect: None,
    };
    stream_job(ctx, header, file, spec, &disposition)
}

/// Queues (or joins) the transcode `spec` and streams it as it is written:
/// with the exact length and Range when the length is known, else
/// chunked. `None` (serve the original) when it failed recently, the queue
/// is full (unless `on_busy = "503"`) or it ended without output.
fn stream_job<'a>(
    ctx: &Context,
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    file: &LibraryFile,
    spec: JobSpec,
    disposition: &str,
) -> Option<Reply> {
    let app = &ctx.app;
    let workers = app.workers.as_ref()?;
    let job = match workers.request(spec, Priority::Interactive) {
        Ok(job) => job,
        Err(Refused::FailedRecently) => {
            debug!("{}: failed recently; serving the original", file.relative);
            return None;
        }
        Err(Refused::Busy) => {
            warn!(
                "{}: {} transcodes waiting; {}",
                file.relative,
                workers.queue_depth(),
                if app.config.transcode.on_busy_503 {
                    "answering 503"
                } else {
                    "serving the original"
                }
            );
            if app.config.transcode.on_busy_503 {
                return Some(
                    Reply::error(503, "all transcoders are busy; retry shortly")
                        .header("Retry-After", "5"),
                );
            }
            return None;
        }
    };
    let (len, start, end) = match job.wait_available(QUEUE_WAIT) {
        None => {
            warn!(
                "{}: still queued after {} s; serving the original",
                file.relative,
                QUEUE_WAIT.as_secs()
            );
            return None;
        }
        Some(Availability::Finished(Outcome::Cached(path))) => {
            let entry = File::open(path).ok()?;
            return Some(serve_entry(header, entry, disposition));
        }
        Some(Availability::Finished(_)) => return None,
        Some(Availability::Streaming {
            predicted_bytes: None,
        }) => {
            // Length unknown: chunked, and no seeking until it is cached.
            let body = Body::Stream {
                reader: Stream(Box::new(job.reader(0, None, STALL))),
                len: None,
            };
            return Some(headers(Reply::new(200, body), disposition));
        }
        Some(Availability::Streaming {
            predicted_bytes: Some(len),
        }) => match header("Range").map(|v| range::evaluate(v, len)) {
            None | Some(RangeOutcome::Full) => (len, 0, len),
            Some(RangeOutcome::Partial { start, end }) => (len, start, end + 1),
            Some(RangeOutcome::Unsatisfiable) => {
                return Some(
                    headers(Reply::error(416, "range not satisfiable"), disposition)
                        .header("Content-Range", format!("bytes */{len}"))
                        .header("Accept-Ranges", "bytes"),
                );
            }
        },
    };
    let body = Body::Stream {
        reader: Stream(Box::new(job.reader(start, Some(end), STALL))),
        len: Some(end - start),
    };
    let partial = start > 0 || end < len;
    let mut reply = headers(
        Reply::new(if partial { 206 } else { 200 }, body),
        disposition,
    )
    .header("Accept-Ranges", "bytes");
    if partial {
        reply = reply.header("Content-Range", format!("bytes {start}-{}/{len}", end - 1));
    }
    Some(reply)
}

/// Headers of a reply for a transcode in progress. No validators: the
/// first frame (the Info tag) is rewritten when the encode ends, so these
/// bytes are not yet the entry's.
fn headers(reply: Reply, disposition: &str) -> Reply {
    reply
        .header("Content-Type", "audio/mpeg")
        .header("Cache-Control", "no-cache")
        .header("Content-Disposition", disposition.to_owned())
        .header("X-Content-Type-Options", "nosniff")
}

fn serve_entry<'a>(
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    entry: File,
    disposition: &str,
) -> Reply {
    match entry.metadata() {
        Ok(meta) => files::serve(header, entry, &meta, "audio/mpeg")
            .header("Content-Disposition", disposition.to_owned())
            .header("X-Content-Type-Options", "nosniff"),
        Err(e) => {
            log::error!("reading a cache entry: {e}");
            Reply::error(500, "the cache entry could not be read")
        }
    }
}

/// `Artist/Album/01 x.flac` -> `Artist/Album/01 x.mp3` (for the download
/// name).
fn mp3_name(relative: &str) -> String {
    match relative.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => format!("{stem}.mp3"),
        _ => format!("{relative}.mp3"),
    }
}
