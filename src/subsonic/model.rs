//! The library's items as Subsonic entities (`Child`, `AlbumID3`,
//! `ArtistID3`, `Artist`, `Directory`), with the fields clients rely on and
//! the OpenSubsonic additions tapedeck knows (`samplingRate`,
//! `channelCount`, `bitDepth`, `mediaType`). An OpenSubsonic field a
//! server supports must always be present, so those are sent with 0 when
//! unknown.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Call;
use super::node::Node;
use crate::catalog::albums::{Album, Artist};
use crate::catalog::{AlbumIndex, DirItem, TrackItem};
use crate::http::files;
use crate::ids::Id;
use crate::library::{LibraryEntry, RelPath};
use crate::policy;
use crate::quality::Quality;
use crate::state::Annotation;

/// `t` as ISO 8601 in UTC, to the second, ending in `Z` (JSON's
/// `date-time` needs the zone; xs:dateTime accepts it).
pub fn date(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// The level `stream` plays for this user when the app sets no limit.
pub fn user_quality(call: &Call<'_>) -> Quality {
    call.user
        .quality
        .unwrap_or(call.ctx.app.config.transcode.default_quality)
}

/// `ms` since the Unix epoch as [`date`].
pub(super) fn date_ms(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    date(t)
}

/// The user's `starred` and `userRating` of an item.
fn starred_rated(node: Node, a: &Annotation) -> Node {
    node.opt("starred", a.starred_ms.map(date_ms))
        .opt("userRating", a.rating.map(u32::from))
}

/// `playCount` and `played` (the last play), when there were plays.
fn plays(node: Node, plays: Option<(u64, i64)>) -> Node {
    match plays {
        Some((count, last_ms)) if count > 0 => node
            .attr("playCount", count)
            .attr("played", date_ms(last_ms)),
        _ => node,
    }
}

/// An album's stars, rating and plays (a folder is starred as its album).
fn album_state(call: &Call<'_>, node: Node, folder: &RelPath) -> Node {
    let node = starred_rated(node, &call.annotation(&Id::Album(folder.clone())));
    plays(node, call.album_plays(folder))
}

/// A track as a `Child` (`isDir = false`).
pub fn song(call: &Call<'_>, t: &TrackItem, index: &AlbumIndex) -> Node {
    let e = &t.entry;
    let i = &t.info;
    let folder = e.relative.parent();
    let album = index.album(&folder);
    let suffix = policy::extension(&e.name);
    let duration_s = i.duration_s.unwrap_or(0.0);
    let bit_rate_kbps = if duration_s > 0.0 {
        (e.metadata.len() as f64 * 8.0 / duration_s / 1000.0).round() as u32
    } else {
        0
    };
    let transcoded = user_quality(call) != Quality::Original
        && policy::transcodable(&e.relative)
        && suffix != "mp3";
    let mut node = Node::new()
        .attr("id", Id::Song(e.relative.clone()).encode())
        .attr("parent", Id::Dir(folder.clone()).encode())
        .attr("isDir", false)
        .attr("title", t.title())
        .attr(
            "album",
            i.album
                .as_deref()
                .or(album.map(|a| &*a.name))
                .unwrap_or_default(),
        )
        .attr(
            "artist",
            i.artist
                .as_deref()
                .or(album.map(|a| &*a.artist))
                .unwrap_or_default(),
        )
        .opt("track", i.track)
        .opt("year", i.year)
        .opt("genre", i.genre.as_deref())
        .opt(
            "coverArt",
            t.cover
                .as_ref()
                .map(|_| Id::Song(e.relative.clone()).encode())
                .or_else(|| {
                    album
                        .filter(|a| a.has_cover)
                        .map(|a| Id::Album(a.folder.clone()).encode())
                }),
        )
        .attr("size", e.metadata.len())
        .attr("contentType", files::content_type(&e.path))
        .attr("suffix", suffix.as_str());
    if transcoded {
        node = node
            .attr("transcodedContentType", "audio/mpeg")
            .attr("transcodedSuffix", "mp3");
    }
    node = node
        .attr("duration", duration_s.round() as u64)
        .attr("bitRate", bit_rate_kbps)
        .attr("path", e.relative.as_str())
        .attr("isVideo", false)
        .opt("discNumber", i.disc)
        .opt("created", e.metadata.modified().ok().map(date))
        .attr("albumId", Id::Album(folder).encode());
    if let Some(a) = album {
        node = node.attr("artistId", Id::Artist(a.artist.to_string()).encode());
    }
    let state = call.annotation(&Id::Song(e.relative.clone()));
    let node = plays(
        starred_rated(node, &state),
        state.played_ms.map(|last| (state.play_count, last)),
    );
    node.attr("type", "music")
        .attr("mediaType", "song")
        .attr("samplingRate", i.sample_rate_hz.unwrap_or(0))
        .attr("channelCount", i.channels.unwrap_or(0))
        .attr("bitDepth", i.bits.unwrap_or(0))
}

/// A folder as a `Child` (`isDir = true`), inside `parent`.
pub fn dir_child(call: &Call<'_>, d: &DirItem, parent: &RelPath, index: &AlbumIndex) -> Node {
    let album = index.album(&d.entry.relative);
    let node = dir_entry(&d.entry, parent, album, d.cover.is_some());
    album_state(call, node, &d.entry.relative)
}

fn dir_entry(e: &LibraryEntry, parent: &RelPath, album: Option<&Album>, cover: bool) -> Node {
    Node::new()
        .attr("id", Id::Dir(e.relative.clone()).encode())
        .attr("parent", Id::Dir(parent.clone()).encode())
        .attr("isDir", true)
        .attr("title", e.name.as_str())
        .opt("album", album.map(|a| &*a.name))
        .opt("artist", album.map(|a| &*a.artist))
        .opt("year", album.and_then(|a| a.year))
        .opt("genre", album.and_then(|a| a.genre.as_deref()))
        .opt(
            "coverArt",
            (cover || album.is_some_and(|a| a.has_cover))
                .then(|| Id::Dir(e.relative.clone()).encode()),
        )
        .opt("created", e.metadata.modified().ok().map(date))
        .attr("mediaType", "album")
}

/// An album as a `Child` (`isDir = true`): the folder view's album, for
/// `getAlbumList` and `search2`.
pub fn album_child(call: &Call<'_>, a: &Album) -> Node {
    let node = Node::new()
        .attr("id", Id::Dir(a.folder.clone()).encode())
        .attr("parent", Id::Dir(a.folder.parent()).encode())
        .attr("isDir", true)
        .attr("title", &*a.name)
        .attr("album", &*a.name)
        .attr("artist", &*a.artist)
        .opt("year", a.year)
        .opt("genre", a.genre.as_deref())
        .opt(
            "coverArt",
            a.has_cover.then(|| Id::Album(a.folder.clone()).encode()),
        )
        .attr("duration", a.duration_s)
        .attr("created", date(a.created))
        .attr("albumId", Id::Album(a.folder.clone()).encode())
        .attr("artistId", Id::Artist(a.artist.to_string()).encode())
        .attr("mediaType", "album");
    album_state(call, node, &a.folder)
}

/// An album as an `AlbumID3`.
pub fn album_id3(call: &Call<'_>, a: &Album) -> Node {
    let node = Node::new()
        .attr("id", Id::Album(a.folder.clone()).encode())
        .attr("name", &*a.name)
        .attr("artist", &*a.artist)
        .attr("artistId", Id::Artist(a.artist.to_string()).encode())
        .opt(
            "coverArt",
            a.has_cover.then(|| Id::Album(a.folder.clone()).encode()),
        )
        .attr("songCount", a.songs)
        .attr("duration", a.duration_s)
        .attr("created", date(a.created))
        .opt("year", a.year)
        .opt("genre", a.genre.as_deref());
    album_state(call, node, &a.folder)
}

/// An artist as an `ArtistID3`.
pub fn artist_id3(call: &Call<'_>, a: &Artist, index: &AlbumIndex) -> Node {
    let cover = a
        .albums
        .iter()
        .map(|&i| &index.albums[i as usize])
        .find(|al| al.has_cover)
        .map(|al| Id::Album(al.folder.clone()).encode());
    let id = Id::Artist(a.name.to_string());
    Node::new()
        .attr("id", id.encode())
        .attr("name", &*a.name)
        .opt("coverArt", cover)
        .attr("albumCount", a.albums.len())
        .opt("starred", call.annotation(&id).starred_ms.map(date_ms))
}

/// An artist as the folder view's `Artist` (`search2`): its ID opens its
/// albums in `getMusicDirectory`.
pub fn artist(call: &Call<'_>, a: &Artist) -> Node {
    let id = Id::Artist(a.name.to_string());
    let state = call.annotation(&id);
    starred_rated(
        Node::new().attr("id", id.encode()).attr("name", &*a.name),
        &state,
    )
}

/// A top-level folder as the folder view's `Artist` (`getIndexes`).
pub fn folder_artist(e: &LibraryEntry) -> Node {
    Node::new()
        .attr("id", Id::Dir(e.relative.clone()).encode())
        .attr("name", e.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_to_the_second() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(date(t), "2023-11-14T22:13:20Z");
        assert_eq!(date(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
