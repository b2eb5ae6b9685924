//! Routing: one plain function from a request to a [`Reply`], testable
//! without a socket (tiny_http's `TestRequest` builds requests for it).

use std::borrow::Cow;

use log::{debug, error};
use serde_json::json;
use tiny_http::{Method, Request};

use super::App;
use super::files;
use super::reply::Reply;
use super::transcoded;
use super::{api, assets, prefetch};
use crate::library::ResolveError;
use crate::quality::Quality;

/// The request-target split into its still-encoded path and query.
pub struct Target<'a> {
    pub path: &'a str,
    pub query: &'a str,
}

impl<'a> Target<'a> {
    /// Splits a request-target (origin-form `/p?q`, or absolute-form
    /// `http://host/p?q` as some proxies send it).
    pub fn parse(url: &'a str) -> Target<'a> {
        let url = url.split_once('#').map_or(url, |(u, _)| u);
        let url = match url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
        {
            Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => url,
        };
        match url.split_once('?') {
            Some((path, query)) => Target { path, query },
            None => Target {
                path: url,
                query: "",
            },
        }
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn param(&self, name: &str) -> Option<Cow<'a, str>> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Looks up a request header by name (ASCII case-insensitive).
pub fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Answers one request. Never panics on client input; a bug that does
/// panic is turned into a 500 by the caller.
pub fn handle(app: &App, req: &mut Request) -> Reply {
    let url = req.url().to_owned();
    let target = Target::parse(&url);
    if let Some(rest) = target.path.strip_prefix("/play/") {
        return only_get_or_head(req).unwrap_or_else(|| play(app, req, rest, &target));
    }
    if target.path.starts_with("/admin/") {
        return super::admin::handle(app, req, &target);
    }
    if let Some(rest) = target
        .path
        .strip_prefix("/api/browse/")
        .or_else(|| (target.path == "/api/browse").then_some(""))
    {
        return only_get_or_head(req).unwrap_or_else(|| api::browse(app, rest));
    }
    if let Some(rest) = target.path.strip_prefix("/api/playlists/") {
        return only_get_or_head(req).unwrap_or_else(|| api::playlist(app, rest));
    }
    if let Some(rest) = target.path.strip_prefix("/api/cover/") {
        return only_get_or_head(req)
            .unwrap_or_else(|| api::cover(app, |name| header(req, name), rest, &target));
    }
    if let Some(asset) = assets::find(target.path) {
        return only_get_or_head(req)
            .unwrap_or_else(|| assets::serve(asset, |name| header(req, name)));
    }
    match target.path {
        "/api/search" => only_get_or_head(req).unwrap_or_else(|| api::search(app, &target)),
        "/api/playlists" => only_get_or_head(req).unwrap_or_else(|| api::playlists(app)),
        "/api/version" => only_get_or_head(req).unwrap_or_else(|| {
            Reply::json(
                200,
                &json!({ "name": "tapedeck", "version": env!("CARGO_PKG_VERSION") }),
            )
        }),
        _ => Reply::error(404, "not found"),
    }
}

/// `None` for GET and HEAD; otherwise the 405 to send, with `Allow`.
fn only_get_or_head(req: &Request) -> Option<Reply> {
    match req.method() {
        Method::Get | Method::Head => None,
        _ => Some(
            Reply::error(405, format!("method {} not allowed here", req.method()))
                .header("Allow", "GET, HEAD"),
        ),
    }
}

/// `GET|HEAD /play/<path>?quality=<q>`: a track (or any file) of the library.
fn play(app: &App, req: &Request, rest: &str, target: &Target) -> Reply {
    let quality = match target.param("quality") {
        None => app.config.transcode.default_quality,
        Some(q) => match q.parse::<Quality>() {
            Ok(q) => q,
            Err(e) => {
                return Reply::json(
                    400,
                    &json!({
                        "error": e.to_string(),
                        "status": 400,
                        "valid": Quality::ALL.map(Quality::as_str),
                    }),
                );
            }
        },
    };
    let file = match app.library.resolve(rest) {
        Ok(f) => f,
        Err(e @ (ResolveError::Rejected(_) | ResolveError::NotFound)) => {
            debug!("/play/{}: {e}", rest.escape_debug());
            return Reply::error(404, "not found");
        }
        Err(e) => {
            error!("serving /play/{}: {e}", rest.escape_debug());
            return Reply::error(500, "the file could not be read");
        }
    };
    if quality != Quality::Original
        && let Some(reply) = transcoded::serve(app, |name| header(req, name), &file, quality)
    {
        // A player asks for the start once per play, then for ranges as it
        // seeks: prefetch on the first request only.
        let from_start = header(req, "Range").is_none_or(|r| r.trim() == "bytes=0-");
        if from_start && matches!(reply.status, 200 | 206) && *req.method() == Method::Get {
            prefetch::after(app, &file, quality, target.param("playlist").as_deref());
        }
        return reply;
    }
    let content_type = files::content_type(&file.path);
    let disposition = files::content_disposition(&file.relative);
    files::serve(
        |name| header(req, name),
        file.file,
        &file.metadata,
        &content_type,
    )
    .header("Content-Disposition", disposition)
    // A file from the library must never run as a page on our origin.
    .header("Content-Security-Policy", "sandbox")
    .header("X-Content-Type-Options", "nosniff")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_splits_path_and_query() {
        let t = Target::parse("/play/a%20b.flac?quality=low&x=1");
        assert_eq!(t.path, "/play/a%20b.flac");
        assert_eq!(t.param("quality").as_deref(), Some("low"));
        assert_eq!(t.param("nope"), None);
        let t = Target::parse("http://pi.local:8340/play/x?quality=high");
        assert_eq!(t.path, "/play/x");
        assert_eq!(t.param("quality").as_deref(), Some("high"));
        assert_eq!(Target::parse("/a#frag").path, "/a");
        assert_eq!(Target::parse("http://host").path, "/");
    }
}
