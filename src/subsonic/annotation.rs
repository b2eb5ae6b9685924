//! Listening state over the Subsonic API: `scrobble` and `getNowPlaying`,
//! `star`/`unstar` and `getStarred`/`getStarred2`, `setRating`, the saved
//! play queue and bookmarks. The store is [`crate::state::Store`]: every
//! change is on disk before the answer goes out.
//!
//! A folder is starred and rated as its album (`dr-` IDs are stored as
//! `al-`), so the folder view and the ID3 view agree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Call;
use super::error::ApiError;
use super::model;
use super::node::{Node, Payload};
use crate::catalog::{TrackItem, is_audio};
use crate::ids::Id;
use crate::library::RelPath;
use crate::state::{PlayQueue, StoreError, millis};

/// Longest play queue saved, in songs.
const MAX_QUEUE: usize = 10_000;

fn store_error(e: StoreError) -> ApiError {
    log::error!("{e}");
    ApiError::Generic(format!("{e}"))
}

/// The song an ID names, checked to be an audio file of the library
/// (tags are not read).
///
/// Errors: 70 when it is not.
fn song_path(call: &Call<'_>, id: &str) -> Result<RelPath, ApiError> {
    let file = call.song_file(id)?;
    if !is_audio(&file.relative) {
        return Err(ApiError::NotFound("song"));
    }
    Ok(file.relative)
}

/// [`song_path`] as the song's canonical ID, the store's key.
fn song_id(call: &Call<'_>, id: &str) -> Result<String, ApiError> {
    song_path(call, id).map(|p| Id::Song(p).encode())
}

/// The track a song ID names, with its tags, for an answer.
///
/// Errors: 70 when it is not a song of the library.
fn song(call: &Call<'_>, id: &str) -> Result<TrackItem, ApiError> {
    let file = call.song_file(id)?;
    call.ctx
        .app
        .catalog
        .track_item_of(file)
        .ok_or(ApiError::NotFound("song"))
}

/// The item a star or rating is kept under: a song, an album (a folder
/// is its album) or an artist, checked to exist.
///
/// Errors: 70 for anything else.
fn item(call: &Call<'_>, id: &str) -> Result<Id, ApiError> {
    let catalog = &call.ctx.app.catalog;
    match Id::decode(id) {
        Ok(Id::Song(_)) => song_path(call, id).map(Id::Song),
        Ok(Id::Dir(path) | Id::Album(path)) if !path.is_root() => {
            catalog
                .library()
                .resolve_dir(&path)
                .map_err(|_| ApiError::NotFound("album"))?;
            Ok(Id::Album(path))
        }
        Ok(Id::Artist(name)) => {
            catalog
                .index()
                .artist(&name)
                .ok_or(ApiError::NotFound("artist"))?;
            Ok(Id::Artist(name))
        }
        _ => Err(ApiError::NotFound("item")),
    }
}

/// `scrobble`: with `submission` (the default) each `id` counts one play
/// at its `time` (ms since the epoch; now when absent); without, it is
/// what the user plays now (kept in memory, for `getNowPlaying`).
///
/// Errors: 10 without `id`, 70 for an unknown song, 0 for a bad time or
/// when the store cannot be written.
pub fn scrobble(call: &Call<'_>) -> Result<Payload, ApiError> {
    let ids = call.params.all("id");
    if ids.is_empty() {
        return Err(ApiError::Missing("id"));
    }
    let times = call.params.all("time");
    let submission = call.params.bool("submission", true)?;
    let store = call.store()?;
    let client = call.params.get("c").unwrap_or("unknown");
    for (i, id) in ids.iter().enumerate() {
        let id = song_id(call, id)?;
        if submission {
            let at = match times.get(i).map(|t| t.trim()) {
                None | Some("") => SystemTime::now(),
                Some(t) => t
                    .parse::<u64>()
                    .ok()
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
                    .ok_or_else(|| {
                        ApiError::Invalid(format!("time {t:?} is not milliseconds since 1970"))
                    })?,
            };
            store
                .scrobble(&call.user.name, &id, at)
                .map_err(store_error)?;
        } else {
            store.now_playing(&call.user.name, &id, client);
        }
    }
    Ok(Payload::Empty)
}

/// `getNowPlaying`: what every user reported playing in the last 15
/// minutes.
pub fn now_playing(call: &Call<'_>) -> Result<Payload, ApiError> {
    let index = call.ctx.app.catalog.index();
    let mut entries = Vec::new();
    if let Some(store) = &call.ctx.app.state {
        for (n, p) in store.playing().into_iter().enumerate() {
            let Ok(track) = song(call, &p.id) else {
                continue;
            };
            let minutes = p.since.elapsed().map_or(0, |d| d.as_secs() / 60);
            entries.push(
                model::song(call, &track, &index)
                    .attr("username", p.user.as_str())
                    .attr("minutesAgo", minutes)
                    .attr("playerId", n)
                    .attr("playerName", p.client.as_str()),
            );
        }
    }
    Ok(Payload::One(
        "nowPlaying",
        Node::new().list("entry", entries),
    ))
}

/// `star` (`on`) and `unstar`: the items named by `id` (songs, folders,
/// albums, artists), `albumId` and `artistId`, each repeatable.
///
/// Errors: 10 when none is given, 70 for an unknown item, 0 when the
/// store cannot be written.
pub fn star(call: &Call<'_>, on: bool) -> Result<Payload, ApiError> {
    let p = &call.params;
    let given: Vec<&str> = ["id", "albumId", "artistId"]
        .iter()
        .flat_map(|name| p.all(name))
        .collect();
    if given.is_empty() {
        return Err(ApiError::Missing("id"));
    }
    let ids = given
        .iter()
        .map(|id| item(call, id).map(|i| i.encode()))
        .collect::<Result<Vec<String>, ApiError>>()?;
    let store = call.store()?;
    let done = if on {
        store.star(&call.user.name, &ids, SystemTime::now())
    } else {
        store.unstar(&call.user.name, &ids)
    };
    done.map_err(store_error)?;
    Ok(Payload::Empty)
}

/// `setRating`: `rating` 1 to 5 for the item `id`, 0 to remove it.
///
/// Errors: 10 without `id` or `rating`, 70 for an unknown item, 0 for a
/// rating out of range or when the store cannot be written.
pub fn set_rating(call: &Call<'_>) -> Result<Payload, ApiError> {
    let id = item(call, call.params.required("id")?)?;
    call.params.required("rating")?;
    let rating = call.params.int("rating", 0, 0, 5)?;
    call.store()?
        .set_rating(&call.user.name, &id.encode(), rating as u8)
        .map_err(store_error)?;
    Ok(Payload::Empty)
}

/// `getStarred` (`id3 = false`: the folder view's `Artist` and `Child`)
/// and `getStarred2` (`ArtistID3`, `AlbumID3`, `Child`): the user's
/// starred items, the latest first. Items no longer in the library are
/// left out.
pub fn starred(call: &Call<'_>, id3: bool) -> Result<Payload, ApiError> {
    let mut stars = match &call.ctx.app.state {
        Some(store) => store.stars(&call.user.name).map_err(store_error)?,
        None => Vec::new(),
    };
    stars.sort_by_key(|s| std::cmp::Reverse(s.at_ms));
    let index = call.ctx.app.catalog.index();
    let (mut artists, mut albums, mut songs) = (Vec::new(), Vec::new(), Vec::new());
    for s in &stars {
        match Id::decode(&s.id) {
            Ok(Id::Song(path)) => {
                if let Ok(t) = call.ctx.app.catalog.track_item(&path) {
                    songs.push(model::song(call, &t, &index));
                }
            }
            Ok(Id::Album(folder)) => {
                if let Some(a) = index.album(&folder) {
                    albums.push(if id3 {
                        model::album_id3(call, a)
                    } else {
                        model::album_child(call, a)
                    });
                }
            }
            Ok(Id::Artist(name)) => {
                if let Some(a) = index.artist(&name) {
                    artists.push(if id3 {
                        model::artist_id3(call, a, &index)
                    } else {
                        model::artist(call, a)
                    });
                }
            }
            _ => {}
        }
    }
    let node = Node::new()
        .list("artist", artists)
        .list("album", albums)
        .list("song", songs);
    Ok(Payload::One(if id3 { "starred2" } else { "starred" }, node))
}

/// `getPlayQueue` (`by_index = false`: `current` is a song ID) and the
/// OpenSubsonic `getPlayQueueByIndex` (`currentIndex`): the queue the user
/// saved last, with its songs (those still in the library). With none
/// saved, an empty queue changed at the epoch (the schema wants one),
/// which no client takes as newer than its own.
pub fn play_queue(call: &Call<'_>, by_index: bool) -> Result<Payload, ApiError> {
    let q = call
        .store()?
        .queue(&call.user.name)
        .map_err(store_error)?
        .unwrap_or(PlayQueue {
            ids: Vec::new(),
            current: None,
            current_index: None,
            position_ms: 0,
            changed_ms: 0,
            changed_by: String::new(),
        });
    let index = call.ctx.app.catalog.index();
    // (place in the saved queue, ID, track) of the songs still there.
    let tracks: Vec<(usize, &String, TrackItem)> = q
        .ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| song(call, id).ok().map(|t| (i, id, t)))
        .collect();
    // OpenSubsonic: with entries, the current one must be one of them.
    let at = tracks
        .iter()
        .position(|(i, id, _)| match q.current_index {
            Some(c) => *i == c,
            None => q.current.as_ref() == Some(*id),
        })
        .or((!tracks.is_empty()).then_some(0));
    let entries = tracks
        .iter()
        .map(|(_, _, t)| model::song(call, t, &index))
        .collect();
    let node = if by_index {
        Node::new().opt("currentIndex", at)
    } else {
        Node::new().opt("current", at.map(|a| tracks[a].1.as_str()))
    };
    let node = node
        .attr("position", q.position_ms)
        .attr("username", call.user.name.as_str())
        .attr("changed", model::date_ms(q.changed_ms))
        .attr("changedBy", q.changed_by.as_str())
        .list("entry", entries);
    Ok(Payload::One(
        if by_index {
            "playQueueByIndex"
        } else {
            "playQueue"
        },
        node,
    ))
}

/// `savePlayQueue` (`by_index = false`: the `current` song, the first
/// when not given) and the OpenSubsonic `savePlayQueueByIndex`
/// (`currentIndex`, 0-based): the songs `id` in order and the `position`
/// in the current one (ms). No `id` clears the saved queue.
///
/// Errors: 10 without `currentIndex` (by index, with songs), 70 for an
/// unknown song, 0 for a bad position, a current song or index not in the
/// queue, over 10 000 songs, or when the store cannot be written.
pub fn save_play_queue(call: &Call<'_>, by_index: bool) -> Result<Payload, ApiError> {
    let p = &call.params;
    let given = p.all("id");
    if given.len() > MAX_QUEUE {
        return Err(ApiError::Invalid(format!(
            "a play queue holds at most {MAX_QUEUE} songs"
        )));
    }
    let ids = given
        .iter()
        .map(|id| song_id(call, id))
        .collect::<Result<Vec<String>, ApiError>>()?;
    let current_index = if ids.is_empty() {
        None
    } else if by_index {
        p.required("currentIndex")?;
        Some(p.int("currentIndex", 0, 0, ids.len() as i64 - 1)? as usize)
    } else {
        match p.get("current").filter(|c| !c.is_empty()) {
            None => Some(0),
            Some(c) => {
                let c = song_id(call, c)?;
                Some(ids.iter().position(|id| *id == c).ok_or_else(|| {
                    ApiError::Invalid("current is not one of the queue's songs".to_owned())
                })?)
            }
        }
    };
    let queue = PlayQueue {
        current: current_index.map(|i| ids[i].clone()),
        current_index,
        ids,
        position_ms: p.int("position", 0, 0, i64::MAX)? as u64,
        changed_ms: millis(SystemTime::now()),
        changed_by: p.get("c").unwrap_or("unknown").to_owned(),
    };
    call.store()?
        .save_queue(&call.user.name, &queue)
        .map_err(store_error)?;
    Ok(Payload::Empty)
}

/// `getBookmarks`: the user's bookmarks with their songs.
pub fn bookmarks(call: &Call<'_>) -> Result<Payload, ApiError> {
    let list = match &call.ctx.app.state {
        Some(store) => store.bookmarks(&call.user.name).map_err(store_error)?,
        None => Vec::new(),
    };
    let index = call.ctx.app.catalog.index();
    let nodes = list
        .iter()
        .filter_map(|b| {
            let t = song(call, &b.id).ok()?;
            Some(
                Node::new()
                    .attr("position", b.position_ms)
                    .attr("username", call.user.name.as_str())
                    .opt("comment", b.comment.as_deref())
                    .attr("created", model::date_ms(b.created_ms))
                    .attr("changed", model::date_ms(b.changed_ms))
                    .child("entry", model::song(call, &t, &index)),
            )
        })
        .collect();
    Ok(Payload::One(
        "bookmarks",
        Node::new().list("bookmark", nodes),
    ))
}

/// `createBookmark`: a `position` (ms) in the song `id`, with an optional
/// `comment`; replaces the user's bookmark there.
///
/// Errors: 10 without `id` or `position`, 70 for an unknown song, 0 for a
/// bad position or when the store cannot be written.
pub fn create_bookmark(call: &Call<'_>) -> Result<Payload, ApiError> {
    let id = song_id(call, call.params.required("id")?)?;
    call.params.required("position")?;
    let position = call.params.int("position", 0, 0, i64::MAX)? as u64;
    let comment = call
        .params
        .get("comment")
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    call.store()?
        .create_bookmark(&call.user.name, &id, position, comment, SystemTime::now())
        .map_err(store_error)?;
    Ok(Payload::Empty)
}

/// `deleteBookmark`: the user's bookmark in the song `id`.
///
/// Errors: 10 without `id`, 70 for an unknown song or no bookmark there,
/// 0 when the store cannot be written.
pub fn delete_bookmark(call: &Call<'_>) -> Result<Payload, ApiError> {
    let id = song_id(call, call.params.required("id")?)?;
    let deleted = call
        .store()?
        .delete_bookmark(&call.user.name, &id)
        .map_err(store_error)?;
    if deleted {
        Ok(Payload::Empty)
    } else {
        Err(ApiError::NotFound("bookmark"))
    }
}
