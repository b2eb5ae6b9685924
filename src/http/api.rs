//! The JSON API the phone player uses: `/api/browse/<folder>`,
//! `/api/cover/<track or folder>` and `/api/search?q=`.
//!
//! Paths in requests follow the `/play` rules (percent-encoded, resolved
//! inside the music root, 404 for anything refused or missing). Paths in
//! answers are relative to the root, `/`-separated and not encoded; the
//! `cover` fields are ready-made URLs.

use log::{debug, error};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::App;
use super::reply::{Body, Reply};
use super::router::Target;
use crate::catalog::{CoverRef, DirItem, PlaylistError, TrackItem, parent_of};
use crate::keys;
use crate::library::{DirEntry, ResolveError};
use crate::quality::Quality;

/// Search results per kind unless `limit` says otherwise, and its ceiling.
const SEARCH_LIMIT: usize = 50;
const SEARCH_LIMIT_MAX: usize = 500;

/// Everything but RFC 3986 unreserved characters is encoded in a segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `relative` as a URL path: each segment percent-encoded, `/` kept.
pub fn encode_path(relative: &str) -> String {
    relative
        .split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn cover_url(c: &CoverRef) -> String {
    format!(
        "/api/cover/{}?v={}",
        encode_path(&c.path),
        utf8_percent_encode(&c.version, SEGMENT)
    )
}

fn not_found_or_500(what: &str, rest: &str, e: ResolveError) -> Reply {
    match e {
        ResolveError::Rejected(_) | ResolveError::NotFound => {
            debug!("{what} {}: {e}", rest.escape_debug());
            Reply::error(404, "not found")
        }
        ResolveError::Io { .. } => {
            error!("{what} {}: {e}", rest.escape_debug());
            Reply::error(500, "the library could not be read")
        }
    }
}

/// `GET /api/browse/<folder>`: the folder's sub-folders, tracks (with
/// tags, stream parameters and which levels are cached) and playlists.
pub fn browse(app: &App, rest: &str) -> Reply {
    let listing = match app.catalog.list(rest) {
        Ok(l) => l,
        Err(e) => return not_found_or_500("browsing", rest, e),
    };
    let rel = &listing.dir.relative;
    let name = rel.rsplit('/').next().unwrap_or_default();
    Reply::json(
        200,
        &json!({
            "path": rel,
            "name": if rel.is_empty() { "Library" } else { name },
            "parent": (!rel.is_empty()).then(|| parent_of(rel)),
            "cover": listing.cover.as_ref().map(cover_url),
            "dirs": listing.dirs.iter().map(dir_json).collect::<Vec<_>>(),
            "tracks": listing.tracks.iter().map(|t| track_json(app, t)).collect::<Vec<_>>(),
            "playlists": listing.playlists.iter().map(entry_json).collect::<Vec<_>>(),
        }),
    )
    .header("Cache-Control", "no-cache")
}

fn dir_json(d: &DirItem) -> Value {
    json!({
        "name": d.entry.name,
        "path": d.entry.relative,
        "cover": d.cover.as_ref().map(cover_url),
    })
}

fn entry_json(e: &DirEntry) -> Value {
    json!({ "name": e.name, "path": e.relative })
}

fn track_json(app: &App, t: &TrackItem) -> Value {
    let i = &t.info;
    let cached = |q| {
        app.workers.as_ref().is_some_and(|w| {
            keys::is_cached(
                &app.config,
                w.cache(),
                &t.entry.relative,
                &t.entry.metadata,
                q,
            )
        })
    };
    json!({
        "path": t.entry.relative,
        "file": t.entry.name,
        "title": t.title(),
        "artist": i.artist,
        "album": i.album,
        "album_artist": i.album_artist,
        "genre": i.genre,
        "year": i.year,
        "track": i.track,
        "disc": i.disc,
        "duration_s": i.duration_s.map(|d| (d * 1000.0).round() / 1000.0),
        "format": i.format,
        "sample_rate_hz": i.sample_rate_hz,
        "bits": i.bits,
        "channels": i.channels,
        "size_bytes": t.entry.metadata.len(),
        "cover": t.cover.as_ref().map(cover_url),
        "cached": {
            "low": cached(Quality::Low),
            "medium": cached(Quality::Medium),
            "high": cached(Quality::High),
        },
    })
}

/// `GET /api/cover/<track or folder>`: the picture, with a strong ETag.
/// With `?v=` (as the listing's URLs carry) it may be cached for a year,
/// since the URL changes with the picture; without, for a day.
pub fn cover<'a>(
    app: &App,
    header: impl Fn(&str) -> Option<&'a str>,
    rest: &str,
    target: &Target,
) -> Reply {
    let img = match app.catalog.cover(rest) {
        Ok(img) => img,
        Err(e) => return not_found_or_500("cover of", rest, e),
    };
    let caching = if target.param("v").is_some() {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=86400"
    };
    let reply = if super::conditional::none_match(header, &img.etag) {
        Reply::new(304, Body::Empty)
    } else {
        Reply::new(200, Body::Bytes(img.data)).header("Content-Type", img.mime_type)
    };
    reply
        .header("ETag", img.etag)
        .header("Cache-Control", caching)
        .header("X-Content-Type-Options", "nosniff")
}

/// `GET /api/search?q=<words>[&limit=N]`: folders and tracks matching every
/// word (see [`crate::catalog::Catalog::search`]).
pub fn search(app: &App, target: &Target) -> Reply {
    let q = target.param("q").unwrap_or_default();
    if q.chars().count() > 200 {
        return Reply::error(400, "the query is too long (200 characters at most)");
    }
    let limit = match target.param("limit") {
        None => SEARCH_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=SEARCH_LIMIT_MAX).contains(&n) => n,
            _ => {
                return Reply::error(
                    400,
                    format!("limit must be a whole number from 1 to {SEARCH_LIMIT_MAX}"),
                );
            }
        },
    };
    let started = std::time::Instant::now();
    let hits = app.catalog.search(&q, limit);
    debug!(
        "search {q:?}: {} folders, {} tracks in {} ms",
        hits.dirs.len(),
        hits.tracks.len(),
        started.elapsed().as_millis()
    );
    Reply::json(
        200,
        &json!({
            "query": q,
            "dirs": hits.dirs.iter().map(dir_json).collect::<Vec<_>>(),
            "tracks": hits.tracks.iter().map(|t| track_json(app, t)).collect::<Vec<_>>(),
            "truncated": hits.truncated,
        }),
    )
    .header("Cache-Control", "no-cache")
}

/// `GET /api/playlists`: every `.m3u`/`.m3u8` file in the library.
pub fn playlists(app: &App) -> Reply {
    let list = app.catalog.playlists();
    Reply::json(
        200,
        &json!({
            "playlists": list.iter().map(|e| json!({
                "name": crate::catalog::file_stem(&e.name),
                "file": e.name,
                "path": e.relative,
            })).collect::<Vec<_>>(),
        }),
    )
    .header("Cache-Control", "no-cache")
}

/// `GET /api/playlists/<path>`: a playlist's entries in order, each with
/// its track (the `/api/browse` shape) or why it is missing; `tracks`
/// holds the playable ones alone.
pub fn playlist(app: &App, rest: &str) -> Reply {
    let view = match app.catalog.playlist(rest) {
        Ok(v) => v,
        Err(PlaylistError::NotFound(e)) => return not_found_or_500("playlist", rest, e),
        Err(PlaylistError::TooLarge(len)) => {
            return Reply::error(
                413,
                format!(
                    "the playlist is {len} bytes; at most {} are read",
                    crate::playlist::MAX_PLAYLIST_BYTES
                ),
            );
        }
        Err(PlaylistError::Io(e)) => {
            error!("reading playlist {}: {e}", rest.escape_debug());
            return Reply::error(500, "the playlist could not be read");
        }
    };
    let entries: Vec<Value> = view
        .entries
        .iter()
        .map(|e| {
            json!({
                "location": e.raw.location,
                "title": e.raw.title,
                "duration_s": e.raw.duration_s,
                "missing": e.track.as_ref().err(),
                "track": e.track.as_ref().ok().map(|t| track_json(app, t)),
            })
        })
        .collect();
    let tracks: Vec<Value> = view
        .entries
        .iter()
        .filter_map(|e| e.track.as_ref().ok())
        .map(|t| track_json(app, t))
        .collect();
    Reply::json(
        200,
        &json!({
            "path": view.relative,
            "name": view.name,
            "parent": parent_of(&view.relative),
            "missing": entries.iter().filter(|e| !e["missing"].is_null()).count(),
            "entries": entries,
            "tracks": tracks,
        }),
    )
    .header("Cache-Control", "no-cache")
}
