//! `/play/<path>?quality=high|medium|low`: a cache hit is served like any
//! file; a miss starts (or joins) a transcode and streams it while it is
//! encoded, with the exact final length announced up front so the player
//! can seek on first play: a Range request into bytes not yet written has
//! the segment that holds them encoded next, by an idle worker when there
//! is one. Returns `None` whenever the original should be served
//! instead: nothing to gain, a recent failure, a full queue with
//! `on_busy = "original"`, or a failed transcode.

use std::fs::File;
use std::time::Duration;

use log::{debug, info, warn};

use crate::app::App;
use crate::config::OnBusy;
use crate::http::files;
use crate::http::range::{self, RangeOutcome};
use crate::http::reply::{Body, Reply, Stream};
use crate::library::LibraryFile;
use crate::policy;
use crate::quality::Quality;
use crate::transcode::Layout;
use crate::workers::{Availability, JobSpec, Outcome, Priority, Refused};

/// How long a request waits for its job to leave the queue.
const QUEUE_WAIT: Duration = Duration::from_secs(60);
/// How long a reader waits for the encoder to reach the bytes it needs.
const STALL: Duration = Duration::from_secs(60);

/// Serves `file` transcoded to `quality`, or `None` for the original.
///
/// With a non-zero `start` (the Subsonic `timeOffset`) the MP3 starts that
/// far into the track: the bytes of the whole track's transcode from the
/// frame that holds `start` (every frame decodes alone), served from the
/// cache entry when there is one, else from the track's transcode, whose
/// segments from there are encoded first and which is cached in turn. It
/// is made even where the whole track would be served as the original (an
/// MP3 source at its own bit rate), so that the position is right.
pub fn serve<'a>(
    app: &App,
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    file: &LibraryFile,
    quality: Quality,
    start: Duration,
) -> Option<Reply> {
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
    let cache = workers.cache();
    let entry = if app.config.cache.enabled {
        cache.lookup(&key)
    } else {
        None
    };
    if let Some(entry) = entry {
        debug!("cache hit {} {quality}", file.relative);
        if let Some(p) = &app.prefetcher {
            p.note_hit(&key);
        }
        if start.is_zero() {
            return Some(serve_entry(header, entry, &disposition));
        }
        if let Some(reply) = serve_entry_from(header, entry, start, &disposition) {
            return Some(reply);
        }
    }
    if start.is_zero() {
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
    } else {
        info!(
            "cache miss {} {quality} from {:.1} s",
            file.relative,
            start.as_secs_f64()
        );
    }
    let spec = JobSpec {
        key,
        input: file.path.clone(),
        relative: file.relative.to_string(),
        opts,
        cache: app.config.cache.enabled,
        protect: None,
    };
    stream_job(app, header, file, spec, start, &disposition)
}

/// The bytes of a transcode that play from `start`: from the frame that
/// holds it to the end (all of it for a zero `start`).
fn from_start(layout: &Layout, start: Duration) -> u64 {
    if start.is_zero() {
        0
    } else {
        layout.frame_offset(layout.frame_at_time(start.as_secs_f64()))
    }
}

/// The status, body range and headers for a body of `len` bytes given
/// the request's Range: `Err` is the 416 reply.
fn ranged<'a>(
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    len: u64,
) -> Result<(u16, u64, u64), Reply> {
    match header("Range").map(|v| range::evaluate(v, len)) {
        None | Some(RangeOutcome::Full) => Ok((200, 0, len)),
        Some(RangeOutcome::Partial { start, end }) => Ok((206, start, end + 1)),
        // The body is a JSON error, so none of the audio fields.
        Some(RangeOutcome::Unsatisfiable) => Err(Reply::error(416, "range not satisfiable")
            .header("Content-Range", format!("bytes */{len}"))
            .header("Accept-Ranges", "bytes")),
    }
}

/// The reply for bytes `[a, b)` of a body of `len` bytes.
fn partial_reply(
    status: u16,
    (a, b): (u64, u64),
    len: u64,
    body: Body,
    disposition: &str,
) -> Reply {
    let mut reply = headers(Reply::new(status, body), disposition).header("Accept-Ranges", "bytes");
    if status == 206 {
        reply = reply.header("Content-Range", format!("bytes {a}-{}/{len}", b - 1));
    }
    reply
}

/// A cache entry from `start` on, with Range into that; `None` when the
/// entry's layout cannot be read back (it is then transcoded again).
fn serve_entry_from<'a>(
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    entry: File,
    start: Duration,
    disposition: &str,
) -> Option<Reply> {
    use std::os::unix::fs::FileExt;
    let file_len = entry.metadata().ok()?.len();
    let mut head = vec![0u8; 10];
    entry.read_exact_at(&mut head, 0).ok()?;
    let want = (crate::mp3::id3v2_len(&head) + 2048).min(file_len) as usize;
    head.resize(want, 0);
    entry.read_exact_at(&mut head, 0).ok()?;
    let layout = Layout::of_file(&head, file_len)?;
    let from = from_start(&layout, start);
    let len = file_len - from;
    Some(match ranged(header, len) {
        Ok((status, a, b)) => {
            let body = Body::File {
                file: entry,
                start: from + a,
                len: b - a,
            };
            partial_reply(status, (a, b), len, body, disposition)
        }
        Err(reply) => reply,
    })
}

/// Queues (or joins) the transcode `spec` and streams it from `start` as
/// its segments are written, with the exact length and Range. `None`
/// (serve the original) when it failed recently, the queue is full
/// (unless `on_busy = "503"`) or it ended without output.
fn stream_job<'a>(
    app: &App,
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    file: &LibraryFile,
    spec: JobSpec,
    start: Duration,
    disposition: &str,
) -> Option<Reply> {
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
                match app.config.transcode.on_busy {
                    OnBusy::Unavailable => "answering 503",
                    OnBusy::ServeOriginal => "serving the original",
                }
            );
            if app.config.transcode.on_busy == OnBusy::Unavailable {
                return Some(
                    Reply::error(503, "all transcoders are busy; retry shortly")
                        .header("Retry-After", "5"),
                );
            }
            return None;
        }
    };
    let (total, layout) = match job.wait_available(QUEUE_WAIT) {
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
            if start.is_zero() {
                return Some(serve_entry(header, entry, disposition));
            }
            return serve_entry_from(header, entry, start, disposition);
        }
        Some(Availability::Finished(_)) => return None,
        Some(Availability::Streaming { layout }) => (layout.total_bytes(), layout),
    };
    let from = from_start(&layout, start);
    let len = total - from;
    Some(match ranged(header, len) {
        Ok((status, a, b)) => {
            let body = Body::Stream {
                reader: Stream(Box::new(job.reader(from + a, from + b, STALL))),
                len: Some(b - a),
            };
            partial_reply(status, (a, b), len, body, disposition)
        }
        Err(reply) => reply,
    })
}

/// Headers of a reply for a transcode in progress. No validators yet:
/// the bytes are the entry's, but the entry's file (whose mtime and size
/// make the ETag) does not exist until the last segment is written.
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
