//! Media: `stream` (the same cache, workers and streaming path as `/play`,
//! with Range), `download` (the original file), and `getCoverArt`
//! (the picture, or with `size` a JPEG scaled down to fit, kept in the
//! cache directory under the same budget so phone list views stay fast).

use std::time::Duration;

use super::Call;
use super::error::ApiError;
use super::model;
use crate::catalog::{CoverImage, covers};
use crate::http::{Body, Reply};
use crate::ids::Id;
use crate::library::{LibraryFile, RelPath};
use crate::play;
use crate::quality::Quality;

/// Largest `size` a cover is scaled to, in pixels.
const MAX_COVER_SIZE: i64 = 2048;

fn song_file(call: &Call<'_>) -> Result<LibraryFile, ApiError> {
    call.song_file(call.params.required("id")?)
}

/// The level a `stream` call plays at: `format=raw` is the original; a bit
/// rate limit of 0 (none) or at least the high level's is the user's
/// default level; at least medium's, medium; below, low (never above the
/// user's default). Any other `format` is MP3: an original default becomes
/// high.
pub fn stream_quality(call: &Call<'_>) -> Result<Quality, ApiError> {
    let rates = call.ctx.app.config.transcode.bitrate_kbps;
    let default = model::user_quality(call);
    let format = call.params.get("format").filter(|f| !f.is_empty());
    if format == Some("raw") {
        return Ok(Quality::Original);
    }
    let max = call.params.int("maxBitRate", 0, 0, i64::from(u32::MAX))?;
    let capped = if max == 0 || max >= i64::from(rates.high) {
        default
    } else {
        let cap = if max >= i64::from(rates.medium) {
            Quality::Medium
        } else {
            Quality::Low
        };
        // The lower of the two, by bit rate (the original is the highest).
        match (rates.for_quality(default), rates.for_quality(cap)) {
            (Some(d), Some(c)) if d < c => default,
            _ => cap,
        }
    };
    Ok(match (capped, format) {
        (Quality::Original, Some(_)) => Quality::High,
        (q, _) => q,
    })
}

/// `stream`: the song at the level [`stream_quality`] picks, as `/play`
/// serves it (a cache hit with validators and Range, or a transcode
/// streamed while it runs with its exact length and Range into it). Not a
/// play: nothing is counted.
///
/// `timeOffset` (seconds, OpenSubsonic `transcodeOffset`): an MP3 that
/// starts that far into the song, transcoded at once and not cached, with
/// its exact length. `format=raw` ignores it (the original is served
/// whole, as the Subsonic API says for music).
///
/// Errors: 10 without `id`, 70 for an unknown song, 0 for a bad bit rate
/// or offset, or an offset at or past the end of the song.
pub fn stream(call: &Call<'_>) -> Result<Reply, ApiError> {
    let quality = stream_quality(call)?;
    let file = song_file(call)?;
    let start = time_offset(call)?;
    if !start.is_zero()
        && quality != Quality::Original
        && let Some(duration) = call
            .ctx
            .app
            .catalog
            .track_info(&file.path, &file.relative, &file.metadata)
            .duration_s
        && start.as_secs_f64() >= duration
    {
        return Err(ApiError::Invalid(format!(
            "timeOffset {} is past the end of the song ({duration:.0} s)",
            start.as_secs_f64()
        )));
    }
    Ok(play::serve_track(
        &call.ctx.app,
        call.req,
        file,
        quality,
        None,
        start,
    ))
}

/// The `timeOffset` parameter: seconds, whole or decimal, from 0 to a day.
fn time_offset(call: &Call<'_>) -> Result<Duration, ApiError> {
    match call.params.get("timeOffset").map(str::trim) {
        None | Some("") => Ok(Duration::ZERO),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| (0.0..=86_400.0).contains(s))
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                ApiError::Invalid(format!(
                    "timeOffset must be seconds from 0 to 86400, not {v:?}"
                ))
            }),
    }
}

/// `download`: the original file, with Range.
///
/// Errors: 10 without `id`, 70 for an unknown song.
pub fn download(call: &Call<'_>) -> Result<Reply, ApiError> {
    let file = song_file(call)?;
    Ok(play::original(call.req, file, "attachment"))
}

/// The library path whose cover an ID names: a song or folder itself, an
/// album's folder, an artist's first album with art, a playlist's first
/// song with art.
fn cover_path(call: &Call<'_>, id: &str) -> Result<RelPath, ApiError> {
    let catalog = &call.ctx.app.catalog;
    match Id::decode(id) {
        Ok(Id::Song(p) | Id::Dir(p) | Id::Album(p)) => Ok(p),
        Ok(Id::Artist(name)) => {
            let index = catalog.index();
            let artist = index.artist(&name).ok_or(ApiError::NotFound("cover art"))?;
            artist
                .albums
                .iter()
                .map(|&i| &index.albums[i as usize])
                .find(|a| a.has_cover)
                .map(|a| a.folder.clone())
                .ok_or(ApiError::NotFound("cover art"))
        }
        Ok(Id::UserPlaylist { owner, number }) => {
            super::playlists::cover_song(call, &owner, number)
                .ok_or(ApiError::NotFound("cover art"))
        }
        Ok(Id::Playlist(p)) => catalog
            .playlist(&p)?
            .entries
            .into_iter()
            .filter_map(|e| e.track.ok())
            .find(|t| t.cover.is_some())
            .map(|t| t.entry.relative)
            .ok_or(ApiError::NotFound("cover art")),
        Err(_) => Err(ApiError::NotFound("cover art")),
    }
}

/// `getCoverArt`: the picture of a song, album, folder, artist or
/// playlist; with `size`, a JPEG whose longest side is at most `size`
/// pixels (never enlarged), kept in the cache.
///
/// Errors: 10 without `id`, 70 when there is no picture, 0 for a bad size.
pub fn cover_art(call: &Call<'_>) -> Result<Reply, ApiError> {
    let path = cover_path(call, call.params.required("id")?)?;
    let size = call.params.opt_int("size", 1, MAX_COVER_SIZE)?;
    let cover = call
        .ctx
        .app
        .catalog
        .cover(&path)
        .map_err(|_| ApiError::NotFound("cover art"))?;
    let cover = match size {
        None => cover,
        Some(side) => {
            let app = &call.ctx.app;
            let cache = app.workers.as_ref().map(|w| w.cache());
            covers::scaled(cover, side as u32, cache, app.config.cache.enabled)
        }
    };
    let CoverImage {
        mime_type: mime,
        data,
        etag,
    } = cover;
    let reply = if crate::http::conditional::none_match(|n| call.req.header(n), &etag) {
        Reply::new(304, Body::Empty)
    } else {
        Reply::new(200, Body::Bytes(data)).header("Content-Type", mime)
    };
    Ok(reply
        .header("ETag", etag)
        .header("Cache-Control", "public, max-age=86400")
        .header("X-Content-Type-Options", "nosniff"))
}
