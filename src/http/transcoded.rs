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

use super::App;
use super::files;
use super::range::{self, RangeOutcome};
use super::reply::{Body, Reply, Stream};
use crate::cache::{Key, KeyParts};
use crate::library::{LibraryFile, mtime_ns};
use crate::quality::Quality;
use crate::transcode::Options;
use crate::workers::{JobSpec, Outcome, Priority, Refused, Started};

/// Extensions the transcoder is tried on; anything else plays as it is.
const TRANSCODABLE: [&str; 12] = [
    "flac", "wav", "wave", "aif", "aiff", "aifc", "m4a", "mp4", "ogg", "oga", "mp3", "aac",
];

/// How long a request waits for its job to leave the queue.
const QUEUE_WAIT: Duration = Duration::from_secs(60);
/// How long a reader waits for the encoder to reach the bytes it needs.
const STALL: Duration = Duration::from_secs(60);

/// An MP3 source is re-encoded only when it is at least this much larger
/// than the requested level.
const MP3_REENCODE_RATIO: f64 = 1.3;

/// Serves `file` transcoded to `quality`, or `None` for the original.
pub fn serve<'a>(
    app: &App,
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    file: &LibraryFile,
    quality: Quality,
) -> Option<Reply> {
    let workers = app.workers.as_ref()?;
    let bitrate_kbps = app.config.transcode.bitrate_kbps.for_quality(quality)?;
    if !transcodable(&file.relative) {
        return None;
    }
    let (key, opts) = cache_key(app, &file.relative, &file.metadata, quality, bitrate_kbps);
    let disposition = files::content_disposition(&mp3_name(&file.relative));
    let cache = workers.cache();
    if app.config.cache.enabled
        && let Some(entry) = cache.lookup(&key)
    {
        info!("cache hit {} {quality}", file.relative);
        app.prefetch.note_hit(&key);
        return Some(serve_entry(header, entry, &disposition));
    }
    // An entry exists only for files worth transcoding, so the MP3 probe
    // is needed on a miss alone.
    if !mp3_worth_reencoding(file, bitrate_kbps) {
        debug!(
            "{}: {quality} would not be smaller; serving the original",
            file.relative
        );
        return None;
    }
    info!("cache miss {} {quality}", file.relative);
    let spec = JobSpec {
        key,
        input: file.path.clone(),
        relative: file.relative.clone(),
        opts,
        cache: app.config.cache.enabled,
    };
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
    let (len, start, end) = match job.wait_started(QUEUE_WAIT) {
        None => {
            warn!(
                "{}: still queued after {} s; serving the original",
                file.relative,
                QUEUE_WAIT.as_secs()
            );
            return None;
        }
        Some(Started::Ended(Outcome::Cached(path))) => {
            let entry = File::open(path).ok()?;
            return Some(serve_entry(header, entry, &disposition));
        }
        Some(Started::Ended(_)) => return None,
        Some(Started::Streaming {
            predicted_bytes: None,
        }) => {
            // Length unknown: chunked, and no seeking until it is cached.
            let body = Body::Stream {
                reader: Stream(Box::new(job.reader(0, None, STALL))),
                len: None,
            };
            return Some(headers(Reply::new(200, body), &disposition));
        }
        Some(Started::Streaming {
            predicted_bytes: Some(len),
        }) => match header("Range").map(|v| range::evaluate(v, len)) {
            None | Some(RangeOutcome::Full) => (len, 0, len),
            Some(RangeOutcome::Partial { start, end }) => (len, start, end + 1),
            Some(RangeOutcome::Unsatisfiable) => {
                return Some(
                    headers(Reply::error(416, "range not satisfiable"), &disposition)
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
        &disposition,
    )
    .header("Accept-Ranges", "bytes");
    if partial {
        reply = reply.header("Content-Range", format!("bytes {start}-{}/{len}", end - 1));
    }
    Some(reply)
}

/// The cache key of `relative` (whose metadata is `meta`) at
/// `quality` (`bitrate_kbps`), and the transcode options it stands for.
fn cache_key(
    app: &App,
    relative: &str,
    meta: &std::fs::Metadata,
    quality: Quality,
    bitrate_kbps: u32,
) -> (Key, Options) {
    let opts = Options {
        bitrate_kbps,
        encoder_quality: app.config.transcode.encoder_quality,
        max_art_bytes: app.config.transcode.max_art_bytes,
    };
    let key = Key::new(&KeyParts {
        relative,
        source_size: meta.len(),
        source_mtime_ns: mtime_ns(meta),
        quality,
        bitrate_kbps,
        encoder_quality: opts.encoder_quality,
        max_art_bytes: opts.max_art_bytes,
    });
    (key, opts)
}

/// The cache key and options for transcoding `file` to `quality`, or
/// `None` when it would be served as it is (the original level, a file the
/// transcoder is not tried on, an MP3 not well above the level).
pub fn job_key(app: &App, file: &LibraryFile, quality: Quality) -> Option<(Key, Options)> {
    let kbps = app.config.transcode.bitrate_kbps.for_quality(quality)?;
    if !transcodable(&file.relative) || !mp3_worth_reencoding(file, kbps) {
        return None;
    }
    Some(cache_key(
        app,
        &file.relative,
        &file.metadata,
        quality,
        kbps,
    ))
}

/// Whether `relative` (whose metadata is `meta`) has a cache entry at
/// `quality`; always false for the original and without a cache.
pub fn is_cached(app: &App, relative: &str, meta: &std::fs::Metadata, quality: Quality) -> bool {
    let (Some(workers), Some(kbps)) = (
        app.workers.as_ref(),
        app.config.transcode.bitrate_kbps.for_quality(quality),
    ) else {
        return false;
    };
    app.config.cache.enabled
        && transcodable(relative)
        && workers
            .cache()
            .contains(&cache_key(app, relative, meta, quality, kbps).0)
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

fn extension(relative: &str) -> String {
    relative
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether `relative` has an extension the transcoder is tried on.
fn transcodable(relative: &str) -> bool {
    TRANSCODABLE.contains(&extension(relative).as_str())
}

/// False for an MP3 whose average bitrate is not well above
/// `bitrate_kbps` (re-encoding it gains nothing); true for anything else.
fn mp3_worth_reencoding(file: &LibraryFile, bitrate_kbps: u32) -> bool {
    if extension(&file.relative) != "mp3" {
        return true;
    }
    let Ok(d) = crate::transcode::open(&file.path, &file.relative) else {
        return false;
    };
    let (Some(frames), Some(rate)) = (d.total_frames, d.params.sample_rate) else {
        return false;
    };
    if frames == 0 || rate == 0 {
        return false;
    }
    let seconds = frames as f64 / f64::from(rate);
    let kbps = file.metadata.len() as f64 * 8.0 / seconds / 1000.0;
    kbps >= f64::from(bitrate_kbps) * MP3_REENCODE_RATIO
}

/// `Artist/Album/01 x.flac` -> `Artist/Album/01 x.mp3` (for the download
/// name).
fn mp3_name(relative: &str) -> String {
    match relative.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => format!("{stem}.mp3"),
        _ => format!("{relative}.mp3"),
    }
}
