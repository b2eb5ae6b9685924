//! The JSON API the phone player uses: `/api/browse/<folder>`,
//! `/api/cover/<track or folder>`, `/api/search?q=` and the playlists.
//!
//! Paths in requests follow the `/play` rules (percent-encoded, resolved
//! inside the music root, 404 for anything refused or missing). Paths in
//! answers are relative to the root, `/`-separated and not encoded; the
//! `cover` fields are ready-made URLs.

use log::debug;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::app::App;
use crate::catalog::{CoverRef, DirItem, PlaylistEntry, TrackItem, file_stem};
use crate::http::{Body, Reply, Request};
use crate::library::{LibraryEntry, RelPath};
use crate::policy;
use crate::quality::Quality;
use crate::surface::HttpError;

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

/// A sub-folder in `/api/browse` and `/api/search`.
#[derive(Serialize)]
struct DirJson<'a> {
    name: &'a str,
    path: &'a RelPath,
    cover: Option<String>,
}

impl<'a> DirJson<'a> {
    fn new(d: &'a DirItem) -> DirJson<'a> {
        DirJson {
            name: &d.entry.name,
            path: &d.entry.relative,
            cover: d.cover.as_ref().map(cover_url),
        }
    }
}

/// Which transcoded levels of a track are in the cache.
#[derive(Serialize)]
struct CachedLevels {
    low: bool,
    medium: bool,
    high: bool,
}

/// A track in `/api/browse`, `/api/search` and `/api/playlists/<path>`.
#[derive(Serialize)]
pub(super) struct TrackJson<'a> {
    path: &'a RelPath,
    file: &'a str,
    title: &'a str,
    artist: Option<&'a str>,
    album: Option<&'a str>,
    album_artist: Option<&'a str>,
    genre: Option<&'a str>,
    year: Option<u32>,
    track: Option<u32>,
    disc: Option<u32>,
    /// Seconds, to the millisecond.
    duration_s: Option<f64>,
    format: &'static str,
    sample_rate_hz: Option<u32>,
    bits: Option<u32>,
    channels: Option<u32>,
    size_bytes: u64,
    cover: Option<String>,
    cached: CachedLevels,
    /// Starred by the web player's user (`server.web_user`).
    starred: bool,
}

impl<'a> TrackJson<'a> {
    pub(super) fn new(app: &App, t: &'a TrackItem) -> TrackJson<'a> {
        let i = &t.info;
        let cached = |q| {
            app.workers.as_ref().is_some_and(|w| {
                policy::is_cached(
                    &app.config,
                    w.cache(),
                    &t.entry.relative,
                    &t.entry.metadata,
                    q,
                )
            })
        };
        TrackJson {
            path: &t.entry.relative,
            file: &t.entry.name,
            title: t.title(),
            artist: i.artist.as_deref(),
            album: i.album.as_deref(),
            album_artist: i.album_artist.as_deref(),
            genre: i.genre.as_deref(),
            year: i.year,
            track: i.track,
            disc: i.disc,
            duration_s: i.duration_s.map(|d| (d * 1000.0).round() / 1000.0),
            format: i.format,
            sample_rate_hz: i.sample_rate_hz,
            bits: i.bits,
            channels: i.channels,
            size_bytes: t.entry.metadata.len(),
            cover: t.cover.as_ref().map(cover_url),
            cached: CachedLevels {
                low: cached(Quality::Low),
                medium: cached(Quality::Medium),
                high: cached(Quality::High),
            },
            starred: super::web_starred(app, &t.entry.relative),
        }
    }
}

/// A playlist file in a listing.
#[derive(Serialize)]
struct EntryJson<'a> {
    name: &'a str,
    path: &'a RelPath,
}

impl<'a> From<&'a LibraryEntry> for EntryJson<'a> {
    fn from(e: &'a LibraryEntry) -> EntryJson<'a> {
        EntryJson {
            name: &e.name,
            path: &e.relative,
        }
    }
}

/// `GET /api/browse/<folder>`.
#[derive(Serialize)]
struct Browse<'a> {
    path: &'a RelPath,
    name: &'a str,
    parent: Option<RelPath>,
    cover: Option<String>,
    dirs: Vec<DirJson<'a>>,
    tracks: Vec<TrackJson<'a>>,
    playlists: Vec<EntryJson<'a>>,
}

/// `GET /api/browse/<folder>`: the folder's sub-folders, tracks (with
/// tags, stream parameters and which levels are cached) and playlists.
///
/// Errors: as for [`crate::catalog::Catalog::list`].
pub fn browse(app: &App, folder: &RelPath) -> Result<Reply, HttpError> {
    let listing = app.catalog.list(folder)?;
    let rel = &listing.dir.relative;
    let answer = Browse {
        path: rel,
        name: if rel.is_root() { "Library" } else { rel.name() },
        parent: (!rel.is_root()).then(|| rel.parent()),
        cover: listing.cover.as_ref().map(cover_url),
        dirs: listing.dirs.iter().map(DirJson::new).collect(),
        tracks: listing
            .tracks
            .iter()
            .map(|t| TrackJson::new(app, t))
            .collect(),
        playlists: listing.playlists.iter().map(EntryJson::from).collect(),
    };
    Ok(Reply::json(200, &answer).header("Cache-Control", "no-cache"))
}

/// `GET /api/cover/<track or folder>`: the picture, with a strong ETag.
/// With `?v=` (as the listing's URLs carry) it may be cached for a year,
/// since the URL changes with the picture; without, for a day.
///
/// Errors: as for [`crate::catalog::Catalog::cover`].
pub fn cover(app: &App, req: &Request, relative: &RelPath) -> Result<Reply, HttpError> {
    let img = app.catalog.cover(relative)?;
    let caching = if req.param("v").is_some() {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=86400"
    };
    let reply = if crate::http::conditional::none_match(|n| req.header(n), &img.etag) {
        Reply::new(304, Body::Empty)
    } else {
        Reply::new(200, Body::Bytes(img.data)).header("Content-Type", img.mime_type)
    };
    Ok(reply
        .header("ETag", img.etag)
        .header("Cache-Control", caching)
        .header("X-Content-Type-Options", "nosniff"))
}

/// `GET /api/search`.
#[derive(Serialize)]
struct Search<'a> {
    query: &'a str,
    dirs: Vec<DirJson<'a>>,
    tracks: Vec<TrackJson<'a>>,
    truncated: bool,
}

/// `GET /api/search?q=<words>[&limit=N]`: folders and tracks matching every
/// word (see [`crate::catalog::Catalog::search`]).
///
/// Errors: 400 for a query over 200 characters or a bad `limit`.
pub fn search(app: &App, req: &Request) -> Result<Reply, HttpError> {
    let q = req.param("q").unwrap_or_default();
    if q.chars().count() > 200 {
        return Err(HttpError::BadRequest(
            "the query is too long (200 characters at most)".to_owned(),
        ));
    }
    let limit = match req.param("limit") {
        None => SEARCH_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=SEARCH_LIMIT_MAX).contains(&n) => n,
            _ => {
                return Err(HttpError::BadRequest(format!(
                    "limit must be a whole number from 1 to {SEARCH_LIMIT_MAX}"
                )));
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
    let answer = Search {
        query: &q,
        dirs: hits.dirs.iter().map(DirJson::new).collect(),
        tracks: hits.tracks.iter().map(|t| TrackJson::new(app, t)).collect(),
        truncated: hits.truncated,
    };
    Ok(Reply::json(200, &answer).header("Cache-Control", "no-cache"))
}

/// A playlist in `/api/playlists`.
#[derive(Serialize)]
struct PlaylistJson<'a> {
    name: &'a str,
    file: &'a str,
    path: &'a RelPath,
}

/// `GET /api/playlists`.
#[derive(Serialize)]
struct Playlists<'a> {
    playlists: Vec<PlaylistJson<'a>>,
}

/// `GET /api/playlists`: every `.m3u`/`.m3u8` file in the library.
pub fn playlists(app: &App) -> Reply {
    let list = app.catalog.playlists();
    let answer = Playlists {
        playlists: list
            .iter()
            .map(|e| PlaylistJson {
                name: file_stem(&e.name),
                file: &e.name,
                path: &e.relative,
            })
            .collect(),
    };
    Reply::json(200, &answer).header("Cache-Control", "no-cache")
}

/// One entry of `/api/playlists/<path>`.
#[derive(Serialize)]
struct PlaylistEntryJson<'a> {
    location: &'a str,
    title: Option<&'a str>,
    duration_s: Option<f64>,
    /// Why the entry does not play, when it does not.
    missing: Option<&'static str>,
    track: Option<TrackJson<'a>>,
}

/// `GET /api/playlists/<path>`.
#[derive(Serialize)]
struct Playlist<'a> {
    path: &'a RelPath,
    name: &'a str,
    parent: RelPath,
    missing: usize,
    entries: Vec<PlaylistEntryJson<'a>>,
    tracks: Vec<TrackJson<'a>>,
}

/// `GET /api/playlists/<path>`: a playlist's entries in order, each with
/// its track (the `/api/browse` shape) or why it is missing; `tracks`
/// holds the playable ones alone.
///
/// Errors: as for [`crate::catalog::Catalog::playlist`].
pub fn playlist(app: &App, relative: &RelPath) -> Result<Reply, HttpError> {
    let view = app.catalog.playlist(relative)?;
    fn entry(e: &PlaylistEntry) -> Option<&TrackItem> {
        e.track.as_ref().ok()
    }
    let entries: Vec<PlaylistEntryJson> = view
        .entries
        .iter()
        .map(|e| PlaylistEntryJson {
            location: &e.raw.location,
            title: e.raw.title.as_deref(),
            duration_s: e.raw.duration_s,
            missing: e.track.as_ref().err().copied(),
            track: entry(e).map(|t| TrackJson::new(app, t)),
        })
        .collect();
    let answer = Playlist {
        path: &view.relative,
        name: &view.name,
        parent: view.relative.parent(),
        missing: entries.iter().filter(|e| e.missing.is_some()).count(),
        tracks: view
            .entries
            .iter()
            .filter_map(entry)
            .map(|t| TrackJson::new(app, t))
            .collect(),
        entries,
    };
    Ok(Reply::json(200, &answer).header("Cache-Control", "no-cache"))
}
