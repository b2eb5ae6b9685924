//! Lists: `getAlbumList`/`getAlbumList2` (random, newest, alphabetical, by
//! year, by genre; the listening-state lists are empty until tapedeck
//! keeps play state), `getRandomSongs`, `getSongsByGenre`, and the
//! library's playlists (`getPlaylists`, `getPlaylist`).

use std::time::SystemTime;

use super::Call;
use super::error::ApiError;
use super::ids::Id;
use super::model;
use super::node::{Node, Payload};
use crate::catalog::albums::Album;
use crate::catalog::{AlbumIndex, PlaylistView, file_stem, fold, natural_cmp};

/// Most items a list call returns (Subsonic's limit).
const MAX_SIZE: i64 = 500;

/// `getAlbumList` (`id3 = false`: albums as `Child`) and `getAlbumList2`
/// (`AlbumID3`).
///
/// Errors: 10 without `type` (or without `fromYear`/`toYear` for `byYear`,
/// `genre` for `byGenre`), 0 for an unknown type or a bad size or offset.
pub fn album_list(call: &Call<'_>, id3: bool) -> Result<Payload, ApiError> {
    let p = &call.params;
    let kind = p.required("type")?;
    let size = p.int("size", 10, 0, MAX_SIZE)? as usize;
    let offset = p.int("offset", 0, 0, i64::from(u32::MAX))? as usize;
    let index = call.ctx.app.catalog.index();
    let mut albums: Vec<&Album> = index.albums.iter().collect();
    match kind {
        "random" => fastrand::shuffle(&mut albums),
        "newest" => albums.sort_by_key(|a| std::cmp::Reverse(a.created)),
        "alphabeticalByName" => albums.sort_by(|a, b| natural_cmp(&fold(&a.name), &fold(&b.name))),
        "alphabeticalByArtist" => albums.sort_by(|a, b| {
            natural_cmp(&fold(&a.artist), &fold(&b.artist))
                .then_with(|| natural_cmp(&fold(&a.name), &fold(&b.name)))
        }),
        "byYear" => {
            let from = p
                .opt_int("fromYear", 0, 9999)?
                .ok_or(ApiError::Missing("fromYear"))?;
            let to = p
                .opt_int("toYear", 0, 9999)?
                .ok_or(ApiError::Missing("toYear"))?;
            let (lo, hi) = (from.min(to), from.max(to));
            albums.retain(|a| a.year.is_some_and(|y| (lo..=hi).contains(&i64::from(y))));
            albums.sort_by_key(|a| a.year);
            if from > to {
                albums.reverse();
            }
        }
        "byGenre" => {
            let genre = p.required("genre")?;
            albums.retain(|a| has_genre(&index, a, genre));
        }
        // Play counts, dates and stars come with the listening state.
        "frequent" | "recent" | "starred" | "highest" => albums.clear(),
        other => {
            return Err(ApiError::Invalid(format!(
                "unknown album list type {other:?}: use random, newest, alphabeticalByName, alphabeticalByArtist, byYear, byGenre, frequent, recent, starred or highest"
            )));
        }
    }
    let page = albums.into_iter().skip(offset).take(size);
    Ok(if id3 {
        Payload::One(
            "albumList2",
            Node::new().list("album", page.map(model::album_id3).collect()),
        )
    } else {
        Payload::One(
            "albumList",
            Node::new().list("album", page.map(model::album_child).collect()),
        )
    })
}

fn has_genre(index: &AlbumIndex, album: &Album, genre: &str) -> bool {
    album.genres.iter().any(|&g| {
        index
            .genres
            .get(usize::from(g))
            .is_some_and(|x| x.name.eq_ignore_ascii_case(genre))
    })
}

/// `getRandomSongs`: up to `size` songs drawn at random, optionally of a
/// genre and within years.
///
/// Errors: 0 for a bad size or year.
pub fn random_songs(call: &Call<'_>) -> Result<Payload, ApiError> {
    let p = &call.params;
    let size = p.int("size", 10, 0, MAX_SIZE)? as usize;
    let genre = p.get("genre").filter(|g| !g.is_empty());
    let from = p.opt_int("fromYear", 0, 9999)?;
    let to = p.opt_int("toYear", 0, 9999)?;
    let index = call.ctx.app.catalog.index();
    let in_years = |y: Option<u32>| match (from, to) {
        (None, None) => true,
        _ => y.is_some_and(|y| {
            let y = i64::from(y);
            from.is_none_or(|f| y >= f) && to.is_none_or(|t| y <= t)
        }),
    };
    let mut candidates: Vec<&Album> = index
        .albums
        .iter()
        .filter(|a| genre.is_none_or(|g| has_genre(&index, a, g)))
        .collect();
    fastrand::shuffle(&mut candidates);
    let mut songs = Vec::with_capacity(size);
    // Each round takes one random fitting track from every candidate album,
    // so a short list still mixes albums.
    let mut listings: Vec<Vec<crate::catalog::TrackItem>> = Vec::new();
    for a in candidates.iter().take(size.max(1) * 2) {
        let Ok(listing) = call.ctx.app.catalog.list(&a.folder) else {
            continue;
        };
        let mut fitting: Vec<_> = listing
            .tracks
            .into_iter()
            .filter(|t| in_years(t.info.year))
            .filter(|t| {
                genre.is_none_or(|g| {
                    t.info
                        .genre
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(g))
                })
            })
            .collect();
        fastrand::shuffle(&mut fitting);
        if !fitting.is_empty() {
            listings.push(fitting);
        }
    }
    while songs.len() < size && listings.iter().any(|l| !l.is_empty()) {
        for l in &mut listings {
            if songs.len() >= size {
                break;
            }
            if let Some(t) = l.pop() {
                songs.push(model::song(call, &t, &index));
            }
        }
    }
    Ok(Payload::One("randomSongs", Node::new().list("song", songs)))
}

/// `getSongsByGenre`: songs of `genre`, in library order, paged.
///
/// Errors: 10 without `genre`, 0 for a bad count or offset.
pub fn songs_by_genre(call: &Call<'_>) -> Result<Payload, ApiError> {
    let p = &call.params;
    let genre = p.required("genre")?;
    let count = p.int("count", 10, 0, MAX_SIZE)? as usize;
    let mut skip = p.int("offset", 0, 0, i64::from(u32::MAX))? as usize;
    let index = call.ctx.app.catalog.index();
    let mut songs = Vec::new();
    for a in index.albums.iter().filter(|a| has_genre(&index, a, genre)) {
        if songs.len() >= count {
            break;
        }
        let Ok(listing) = call.ctx.app.catalog.list(&a.folder) else {
            continue;
        };
        for t in listing.tracks.iter().filter(|t| {
            t.info
                .genre
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(genre))
        }) {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if songs.len() >= count {
                break;
            }
            songs.push(model::song(call, t, &index));
        }
    }
    Ok(Payload::One(
        "songsByGenre",
        Node::new().list("song", songs),
    ))
}

/// A playlist's summary node (`Playlist`).
fn playlist_node(view: &PlaylistView, changed: SystemTime) -> Node {
    let tracks: Vec<_> = view
        .entries
        .iter()
        .filter_map(|e| e.track.as_ref().ok())
        .collect();
    let duration: f64 = tracks.iter().filter_map(|t| t.info.duration_s).sum();
    Node::new()
        .attr("id", Id::Playlist(view.relative.clone()).encode())
        .attr("name", view.name.as_str())
        .attr("owner", "tapedeck")
        .attr("public", true)
        .attr("songCount", tracks.len())
        .attr("duration", duration.round() as u64)
        .attr("created", model::date(changed))
        .attr("changed", model::date(changed))
        .opt(
            "coverArt",
            tracks
                .iter()
                .find(|t| t.cover.is_some())
                .map(|t| Id::Song(t.entry.relative.clone()).encode()),
        )
        // The library's own files cannot be edited from an app.
        .attr("readonly", true)
}

/// `getPlaylists`: the library's `.m3u`/`.m3u8` playlists.
///
/// Errors: 50 when a user who is not admin asks for another user's.
pub fn playlists(call: &Call<'_>) -> Result<Payload, ApiError> {
    if let Some(name) = call.params.get("username")
        && name != call.user.name
        && !call.user.admin
    {
        return Err(ApiError::NotAuthorized(
            "only an admin may list another user's playlists",
        ));
    }
    let catalog = &call.ctx.app.catalog;
    let nodes = catalog
        .playlists()
        .into_iter()
        .filter_map(|e| {
            let changed = e.metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            match catalog.playlist(&e.relative) {
                Ok(view) => Some(playlist_node(&view, changed)),
                Err(err) => {
                    log::debug!("getPlaylists: {} left out: {err}", file_stem(&e.name));
                    None
                }
            }
        })
        .collect();
    Ok(Payload::One(
        "playlists",
        Node::new().list("playlist", nodes),
    ))
}

/// `getPlaylist`: a playlist and its playable entries.
///
/// Errors: 10 without `id`, 70 for an unknown playlist.
pub fn playlist(call: &Call<'_>) -> Result<Payload, ApiError> {
    let Ok(Id::Playlist(path)) = Id::decode(call.params.required("id")?) else {
        return Err(ApiError::NotFound("playlist"));
    };
    let catalog = &call.ctx.app.catalog;
    let view = catalog.playlist(&path)?;
    let changed = catalog
        .library()
        .resolve(&path)
        .ok()
        .and_then(|f| f.metadata.modified().ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let index = catalog.index();
    let entries = view
        .entries
        .iter()
        .filter_map(|e| e.track.as_ref().ok())
        .map(|t| model::song(call, t, &index))
        .collect();
    Ok(Payload::One(
        "playlist",
        playlist_node(&view, changed).list("entry", entries),
    ))
}
