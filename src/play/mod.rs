//! The play path: `/play/<path>` for the phone player, and the same
//! [`serve_track`] / [`original`] behind the Subsonic `stream` and
//! `download`. A track is the transcoded entry at the asked level (a cache
//! hit, or a transcode streamed while it runs, [`transcoded`]) or the
//! original file with Range and validators. Below both surfaces, so
//! neither imports the other.

pub mod transcoded;

use std::time::Duration;

use crate::app::App;
use crate::http::files;
use crate::http::{Method, Reply, Request};
use crate::library::{LibraryFile, RelPath};
use crate::quality::Quality;
use crate::surface::{HttpError, decode_path, only_get_or_head};

/// `GET|HEAD /play/<path>?quality=<q>[&playlist=<path>]`: a track (or any
/// file) of the library; `rest` is the path after `/play/`, still
/// percent-encoded.
///
/// Errors: 405 for another method, 400 for an unknown quality, 404 for a
/// path that is refused or missing.
pub fn play(app: &App, req: &Request, rest: &str) -> Result<Reply, HttpError> {
    only_get_or_head(req)?;
    let quality = match req.param("quality") {
        None => app.config.transcode.default_quality,
        Some(q) => q.parse::<Quality>()?,
    };
    let file = app.library.resolve(&decode_path(rest)?)?;
    // The playlist is a hint (query parameters arrive decoded): one that
    // breaks a path rule is ignored.
    let playlist = req.param("playlist").and_then(|p| RelPath::new(&p).ok());
    Ok(serve_track(
        app,
        req,
        file,
        quality,
        playlist,
        Duration::ZERO,
    ))
}

/// A library file at `quality`: the transcoded entry (a hit, or a
/// transcode streamed while it runs), else the original with Range and
/// validators. A play from the start queues the next track (of
/// `playlist`, else of its folder) for prefetch. A non-zero `start` makes
/// a transcoded MP3 begin that far into the track (see
/// [`transcoded::serve`]); the original is served whole. Shared by
/// `/play` and the Subsonic `stream`.
pub fn serve_track(
    app: &App,
    req: &Request,
    file: LibraryFile,
    quality: Quality,
    playlist: Option<RelPath>,
    start: Duration,
) -> Reply {
    if quality != Quality::Original
        && let Some(reply) = transcoded::serve(app, |name| req.header(name), &file, quality, start)
    {
        // A player asks for the start once per play, then for ranges as it
        // seeks: prefetch on the first request only.
        let from_start =
            start.is_zero() && req.header("Range").is_none_or(|r| r.trim() == "bytes=0-");
        if from_start
            && matches!(reply.status, 200 | 206)
            && req.method == Method::Get
            && let Some(prefetcher) = &app.prefetcher
        {
            prefetcher.after(&file.relative, quality, playlist);
        }
        return reply;
    }
    original(req, file, "inline")
}

/// The original file, with Range and validators; `disposition` is
/// `inline` (play) or `attachment` (download).
pub fn original(req: &Request, file: LibraryFile, disposition: &str) -> Reply {
    let (opened, metadata) = match file.open() {
        Ok(f) => f,
        Err(e) => {
            let what = format!("{} {}", req.method, file.relative);
            return HttpError::from(e).into_reply(&what);
        }
    };
    let content_type = files::content_type(&file.path);
    let disposition = files::content_disposition_as(disposition, &file.relative);
    files::serve(|name| req.header(name), opened, &metadata, &content_type)
        .header("Content-Disposition", disposition)
        // A file from the library must never run as a page on our origin.
        .header("Content-Security-Policy", "sandbox")
        .header("X-Content-Type-Options", "nosniff")
}
