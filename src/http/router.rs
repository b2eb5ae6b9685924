//! Routing: one plain function from a [`Request`] to a [`Reply`], testable
//! without a socket. Library paths in URLs are decoded here, once, into a
//! [`RelPath`](crate::library::RelPath); errors become replies in
//! [`super::error`], nowhere else.

use std::time::Duration;

use serde::Serialize;

use super::error::HttpError;
use super::reply::Reply;
use super::request::{Method, Request, decode_dir_path, decode_path};
use super::{Context, admin, api, assets, files, listening, transcoded};
use crate::library::{LibraryFile, RelPath};
use crate::quality::Quality;

/// `GET /api/version`.
#[derive(Serialize)]
struct Version {
    name: &'static str,
    version: &'static str,
    /// Serving the demo library: the player says where to point tapedeck.
    demo: bool,
}

/// Answers one request. Never panics on client input; a bug that does
/// panic is turned into a 500 by the caller.
pub fn handle(ctx: &Context, req: &Request) -> Reply {
    let what = || format!("{} {}", req.method, super::request::log_path(&req.path));
    route(ctx, req).unwrap_or_else(|e| e.into_reply(&what()))
}

fn route(ctx: &Context, req: &Request) -> Result<Reply, HttpError> {
    let path = req.path.as_str();
    if let Some(rest) = path.strip_prefix("/play/") {
        only_get_or_head(req)?;
        return play(ctx, req, rest);
    }
    if path.starts_with("/admin/") {
        return admin::handle(ctx, req);
    }
    if let Some(method) = path.strip_prefix("/rest/") {
        return super::subsonic::handle(ctx, req, method);
    }
    if let Some(rest) = path
        .strip_prefix("/api/browse/")
        .or_else(|| (path == "/api/browse").then_some(""))
    {
        only_get_or_head(req)?;
        return api::browse(ctx, &decode_dir_path(rest)?);
    }
    if let Some(rest) = path.strip_prefix("/api/playlists/") {
        only_get_or_head(req)?;
        return api::playlist(ctx, &decode_path(rest)?);
    }
    if let Some(rest) = path.strip_prefix("/api/cover/") {
        only_get_or_head(req)?;
        return api::cover(ctx, req, &decode_dir_path(rest)?);
    }
    if let Some(asset) = assets::find(path) {
        only_get_or_head(req)?;
        return Ok(assets::serve(asset, |name| req.header(name)));
    }
    match path {
        "/api/search" => {
            only_get_or_head(req)?;
            api::search(ctx, req)
        }
        "/api/playlists" => {
            only_get_or_head(req)?;
            Ok(api::playlists(ctx))
        }
        "/api/listening" => {
            only_get_or_head(req)?;
            listening::listening(ctx)
        }
        "/api/star" => {
            only_post(req)?;
            listening::star(ctx, req)
        }
        "/api/scrobble" => {
            only_post(req)?;
            listening::scrobble(ctx, req)
        }
        "/api/version" => {
            only_get_or_head(req)?;
            Ok(Reply::json(
                200,
                &Version {
                    name: "tapedeck",
                    version: env!("CARGO_PKG_VERSION"),
                    demo: ctx.app.config.library.demo,
                },
            ))
        }
        _ => Err(HttpError::not_found()),
    }
}

/// `Ok` for POST; otherwise the 405 to send, with `Allow`.
fn only_post(req: &Request) -> Result<(), HttpError> {
    if req.method == Method::Post {
        Ok(())
    } else {
        Err(HttpError::method_not_allowed(&req.method, "POST"))
    }
}

/// `Ok` for GET and HEAD; otherwise the 405 to send, with `Allow`.
fn only_get_or_head(req: &Request) -> Result<(), HttpError> {
    if req.is_get_or_head() {
        Ok(())
    } else {
        Err(HttpError::method_not_allowed(&req.method, "GET, HEAD"))
    }
}

/// `GET|HEAD /play/<path>?quality=<q>[&playlist=<path>]`: a track (or any
/// file) of the library.
fn play(ctx: &Context, req: &Request, rest: &str) -> Result<Reply, HttpError> {
    let app = &ctx.app;
    let quality = match req.param("quality") {
        None => app.config.transcode.default_quality,
        Some(q) => q.parse::<Quality>()?,
    };
    let file = app.library.resolve(&decode_path(rest)?)?;
    // The playlist is a hint (query parameters arrive decoded): one that
    // breaks a path rule is ignored.
    let playlist = req.param("playlist").and_then(|p| RelPath::new(&p).ok());
    Ok(serve_track(
        ctx,
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
    ctx: &Context,
    req: &Request,
    file: LibraryFile,
    quality: Quality,
    playlist: Option<RelPath>,
    start: Duration,
) -> Reply {
    let app = &ctx.app;
    if quality != Quality::Original
        && let Some(reply) = transcoded::serve(ctx, |name| req.header(name), &file, quality, start)
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
    let content_type = files::content_type(&file.path);
    let disposition = files::content_disposition_as(disposition, &file.relative);
    files::serve(
        |name| req.header(name),
        file.file,
        &file.metadata,
        &content_type,
    )
    .header("Content-Disposition", disposition)
    // A file from the library must never run as a page on our origin.
    .header("Content-Security-Policy", "sandbox")
    .header("X-Content-Type-Options", "nosniff")
}
