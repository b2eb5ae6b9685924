//! Playlists: the library's `.m3u`/`.m3u8` files (read-only, owned by
//! "tapedeck", public) and the ones users make in their apps
//! (`createPlaylist`, `updatePlaylist`, `deletePlaylist`), kept as M3U8
//! files in the state directory ([`crate::state::playlists`]). A user sees
//! the library's, their own, and other users' public ones; only the owner
//! (or an admin) changes one.

use std::time::SystemTime;

use super::Call;
use super::error::ApiError;
use super::model;
use super::node::{Node, Payload};
use crate::catalog::{PlaylistView, TrackItem, file_stem};
use crate::ids::Id;
use crate::library::RelPath;
use crate::playlist::{self, Resolved};
use crate::state::playlists::{Change, UserPlaylist};

/// The tracks of a playlist as clients see them: its playable entries.
struct Shown {
    tracks: Vec<TrackItem>,
    /// For each shown track, its index among the stored entries (for
    /// `songIndexToRemove`, which counts shown tracks).
    raw_index: Vec<usize>,
}

fn summary(id: Id, name: &str, tracks: &[TrackItem], changed: SystemTime) -> Node {
    let duration: f64 = tracks.iter().filter_map(|t| t.info.duration_s).sum();
    Node::new()
        .attr("id", id.encode())
        .attr("name", name)
        .attr("songCount", tracks.len())
        .attr("duration", duration.round() as u64)
        .attr("changed", model::date(changed))
        .opt(
            "coverArt",
            tracks
                .iter()
                .find(|t| t.cover.is_some())
                .map(|t| Id::Song(t.entry.relative.clone()).encode()),
        )
}

/// A library playlist's summary node (`Playlist`).
fn library_node(view: &PlaylistView, changed: SystemTime) -> Node {
    let tracks: Vec<TrackItem> = view
        .entries
        .iter()
        .filter_map(|e| e.track.as_ref().ok().cloned())
        .collect();
    summary(
        Id::Playlist(view.relative.clone()),
        &view.name,
        &tracks,
        changed,
    )
    .attr("owner", "tapedeck")
    .attr("public", true)
    .attr("created", model::date(changed))
    // The library's own files cannot be edited from an app.
    .attr("readonly", true)
}

/// A user playlist's entries resolved inside the music root.
fn shown(call: &Call<'_>, p: &UserPlaylist) -> Shown {
    let catalog = &call.ctx.app.catalog;
    // Entries are absolute paths; the playlist's own place does not matter.
    let here = RelPath::new("playlist.m3u8").unwrap_or_else(|_| RelPath::root());
    let mut out = Shown {
        tracks: Vec::new(),
        raw_index: Vec::new(),
    };
    for (i, entry) in p.entries.iter().enumerate() {
        if let Resolved::Track(f) = playlist::resolve(catalog.library(), &here, entry)
            && let Some(t) = catalog.track_item_of(*f)
        {
            out.tracks.push(t);
            out.raw_index.push(i);
        }
    }
    out
}

fn user_node(p: &UserPlaylist, shown: &Shown) -> Node {
    summary(
        Id::UserPlaylist {
            owner: p.owner.clone(),
            number: p.number,
        },
        &p.name,
        &shown.tracks,
        p.changed,
    )
    .opt("comment", p.comment.as_deref())
    .attr("owner", p.owner.as_str())
    .attr("public", p.public)
    .attr("created", model::date(p.created))
    .attr("readonly", false)
}

/// `getPlaylists`: the library's playlists, the user's own and other
/// users' public ones (with `username`, an admin sees that user's).
///
/// Errors: 50 when a user who is not admin asks for another user's.
pub fn playlists(call: &Call<'_>) -> Result<Payload, ApiError> {
    let asked = call.params.get("username").filter(|n| !n.is_empty());
    if let Some(name) = asked
        && name != call.user.name
        && !call.user.admin
    {
        return Err(ApiError::NotAuthorized(
            "only an admin may list another user's playlists",
        ));
    }
    let catalog = &call.ctx.app.catalog;
    let mut nodes: Vec<Node> = catalog
        .playlists()
        .into_iter()
        .filter_map(|e| {
            let changed = e.metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            match catalog.playlist(&e.relative) {
                Ok(view) => Some(library_node(&view, changed)),
                Err(err) => {
                    log::debug!("getPlaylists: {} left out: {err}", file_stem(&e.name));
                    None
                }
            }
        })
        .collect();
    if let Some(store) = &call.ctx.app.state {
        let me = asked.unwrap_or(&call.user.name);
        for owner in store.playlists.owners() {
            for p in store.playlists.of(&owner) {
                if owner == me || (p.public && asked.is_none()) {
                    nodes.push(user_node(&p, &shown(call, &p)));
                }
            }
        }
    }
    Ok(Payload::One(
        "playlists",
        Node::new().list("playlist", nodes),
    ))
}

/// The user playlist `owner`/`number` if this user may see it.
fn visible(call: &Call<'_>, owner: &str, number: u64) -> Result<UserPlaylist, ApiError> {
    let store = call.store()?;
    let p = store
        .playlists
        .get(owner, number)
        .map_err(|e| ApiError::Generic(format!("playlist: {e}")))?
        .ok_or(ApiError::NotFound("playlist"))?;
    if p.owner != call.user.name && !p.public && !call.user.admin {
        return Err(ApiError::NotFound("playlist"));
    }
    Ok(p)
}

/// The user playlist `id` names, which this user may change, as read.
fn owned(call: &Call<'_>, id: &str) -> Result<UserPlaylist, ApiError> {
    match Id::decode(id) {
        Ok(Id::UserPlaylist { owner, number }) => {
            let p = visible(call, &owner, number)?;
            if p.owner != call.user.name && !call.user.admin {
                return Err(ApiError::NotAuthorized(
                    "only its owner may change a playlist",
                ));
            }
            Ok(p)
        }
        Ok(Id::Playlist(_)) => Err(ApiError::NotAuthorized(
            "the library's playlists are files in the music folder and cannot be changed from an app",
        )),
        _ => Err(ApiError::NotFound("playlist")),
    }
}

/// `getPlaylist`: a playlist and its playable entries.
///
/// Errors: 10 without `id`, 70 for an unknown playlist (or another
/// user's private one).
pub fn playlist(call: &Call<'_>) -> Result<Payload, ApiError> {
    let catalog = &call.ctx.app.catalog;
    let index = catalog.index();
    let (node, tracks) = match Id::decode(call.params.required("id")?) {
        Ok(Id::Playlist(path)) => {
            let view = catalog.playlist(&path)?;
            let changed = catalog
                .library()
                .resolve(&path)
                .ok()
                .and_then(|f| f.metadata.modified().ok())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let tracks = view
                .entries
                .iter()
                .filter_map(|e| e.track.as_ref().ok().cloned())
                .collect();
            (library_node(&view, changed), tracks)
        }
        Ok(Id::UserPlaylist { owner, number }) => {
            let p = visible(call, &owner, number)?;
            let s = shown(call, &p);
            (user_node(&p, &s), s.tracks)
        }
        _ => return Err(ApiError::NotFound("playlist")),
    };
    let entries = tracks
        .iter()
        .map(|t| model::song(call, t, &index))
        .collect();
    Ok(Payload::One("playlist", node.list("entry", entries)))
}

/// The absolute paths of the songs `ids` name, in order.
///
/// Errors: 70 for an ID that is not a song of the library.
fn song_paths(call: &Call<'_>, ids: &[&str]) -> Result<Vec<String>, ApiError> {
    ids.iter()
        .map(|id| {
            call.song_file(id)
                .map(|f| f.path.to_string_lossy().into_owned())
        })
        .collect()
}

/// `createPlaylist`: a new playlist of the user named `name` holding
/// `songId`s, or with `playlistId`, that playlist's songs replaced (and
/// renamed when `name` is given). Answers the playlist.
///
/// Errors: 10 without `name` or `playlistId`, 70 for an unknown song or
/// playlist, 50 for a playlist of the library or of another user, 0 when
/// it cannot be written.
pub fn create(call: &Call<'_>) -> Result<Payload, ApiError> {
    let store = call.store()?;
    let songs = song_paths(call, &call.params.all("songId"))?;
    let name = call.params.get("name").filter(|n| !n.trim().is_empty());
    let written = match call.params.get("playlistId") {
        Some(id) => {
            let p = owned(call, id)?;
            store.playlists.replace(&p.owner, p.number, name, songs)
        }
        None => {
            let name = name.ok_or(ApiError::Missing("name"))?;
            store.playlists.create(&call.user.name, name, songs)
        }
    };
    let p = written.map_err(|e| write_error(&e))?;
    let s = shown(call, &p);
    let index = call.ctx.app.catalog.index();
    let entries = s
        .tracks
        .iter()
        .map(|t| model::song(call, t, &index))
        .collect();
    Ok(Payload::One(
        "playlist",
        user_node(&p, &s).list("entry", entries),
    ))
}

/// `updatePlaylist`: renames, comments, makes public or private, appends
/// `songIdToAdd`s and removes `songIndexToRemove`s (0-based, of the
/// entries `getPlaylist` shows).
///
/// Errors: 10 without `playlistId`, 70 for an unknown song or playlist,
/// 50 for a playlist of the library or of another user, 0 for a bad index
/// or when it cannot be written.
pub fn update(call: &Call<'_>) -> Result<Payload, ApiError> {
    let store = call.store()?;
    let current = owned(call, call.params.required("playlistId")?)?;
    let s = shown(call, &current);
    let mut remove = Vec::new();
    for i in call.params.all("songIndexToRemove") {
        let i: usize = i
            .trim()
            .parse()
            .map_err(|_| ApiError::Invalid(format!("songIndexToRemove {i:?} is not an index")))?;
        let raw = s.raw_index.get(i).ok_or_else(|| {
            ApiError::Invalid(format!(
                "songIndexToRemove {i} is past the playlist's {} songs",
                s.tracks.len()
            ))
        })?;
        remove.push(*raw);
    }
    let change = Change {
        name: call
            .params
            .get("name")
            .filter(|n| !n.trim().is_empty())
            .map(str::to_owned),
        comment: call.params.get("comment").map(str::to_owned),
        public: match call.params.get("public") {
            None | Some("") => None,
            Some(_) => Some(call.params.bool("public", false)?),
        },
        add: song_paths(call, &call.params.all("songIdToAdd"))?,
        remove,
    };
    store
        .playlists
        .update(&current.owner, current.number, change)
        .map_err(|e| write_error(&e))?;
    Ok(Payload::Empty)
}

/// `deletePlaylist`.
///
/// Errors: 10 without `id`, 70 for an unknown playlist, 50 for a playlist
/// of the library or of another user, 0 when it cannot be removed.
pub fn delete(call: &Call<'_>) -> Result<Payload, ApiError> {
    let store = call.store()?;
    let p = owned(call, call.params.required("id")?)?;
    store
        .playlists
        .delete(&p.owner, p.number)
        .map_err(|e| write_error(&e))?;
    Ok(Payload::Empty)
}

/// The first song with a picture of the user playlist `owner`/`number`.
pub fn cover_song(call: &Call<'_>, owner: &str, number: u64) -> Option<RelPath> {
    let p = visible(call, owner, number).ok()?;
    shown(call, &p)
        .tracks
        .into_iter()
        .find(|t| t.cover.is_some())
        .map(|t| t.entry.relative)
}

fn write_error(e: &std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::NotFound {
        return ApiError::NotFound("playlist");
    }
    log::error!("playlist: {e}");
    ApiError::Generic(format!("the playlist could not be saved: {e}"))
}
