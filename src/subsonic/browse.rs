//! Browsing: the folder view (`getIndexes`, `getMusicDirectory`) and the
//! ID3 view (`getArtists`, `getArtist`, `getAlbum`, `getSong`,
//! `getGenres`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::Call;
use super::error::ApiError;
use super::model;
use super::node::{Node, Payload};
use crate::catalog::{AlbumIndex, natural_cmp};
use crate::ids::{Id, MUSIC_FOLDER_ID};
use crate::library::RelPath;
use crate::state::millis;

/// Articles left out when artists are sorted and grouped by letter (sent
/// to clients as `ignoredArticles`).
pub const IGNORED_ARTICLES: &str = "The El La Los Las Le Les";

/// `name` without a leading ignored article, for sorting and grouping.
fn sort_name(name: &str) -> &str {
    for article in IGNORED_ARTICLES.split(' ') {
        if let Some(rest) = name
            .get(..article.len())
            .filter(|head| head.eq_ignore_ascii_case(article))
            .and_then(|_| name[article.len()..].strip_prefix(' '))
        {
            return rest.trim_start();
        }
    }
    name
}

/// The index letter of `name`: its first letter upper-cased (accents
/// folded), `#` for anything else.
fn letter(name: &str) -> String {
    match crate::catalog::fold(sort_name(name)).chars().next() {
        Some(c) if c.is_alphabetic() => c.to_uppercase().collect(),
        _ => "#".to_owned(),
    }
}

/// Groups `items` (with their names) into `index` nodes by letter, `#`
/// first, then in order.
fn by_letter<T>(items: Vec<(String, T)>, node: impl Fn(T) -> Node) -> Vec<Node> {
    let mut groups: BTreeMap<String, Vec<(String, T)>> = BTreeMap::new();
    for (name, item) in items {
        groups.entry(letter(&name)).or_default().push((name, item));
    }
    groups
        .into_iter()
        .map(|(l, mut members)| {
            members.sort_by(|a, b| natural_cmp(sort_name(&a.0), sort_name(&b.0)));
            Node::new().attr("name", l).list(
                "artist",
                members.into_iter().map(|(_, i)| node(i)).collect(),
            )
        })
        .collect()
}

/// Milliseconds since the epoch.
/// Errors: 70 for a music folder other than ours.
pub(super) fn check_folder(call: &Call<'_>) -> Result<(), ApiError> {
    match call.params.get("musicFolderId") {
        None | Some("") => Ok(()),
        Some(id) if id.trim().parse::<i64>() == Ok(MUSIC_FOLDER_ID) => Ok(()),
        Some(_) => Err(ApiError::NotFound("music folder")),
    }
}

/// `getIndexes`: the top-level folders by letter, and the tracks at the top.
///
/// Errors: 70 for an unknown music folder; a library that cannot be read.
pub fn indexes(call: &Call<'_>) -> Result<Payload, ApiError> {
    check_folder(call)?;
    let index = call.ctx.app.catalog.index();
    let changed = millis(index.built.unwrap_or(SystemTime::UNIX_EPOCH));
    let mut node = Node::new()
        .attr("lastModified", changed)
        .attr("ignoredArticles", IGNORED_ARTICLES);
    if let Some(since) = call.params.opt_int("ifModifiedSince", 0, i64::MAX)?
        && since > 0
        && since >= changed
    {
        return Ok(Payload::One("indexes", node));
    }
    let listing = call.ctx.app.catalog.list(&RelPath::root())?;
    let folders = listing
        .dirs
        .iter()
        .map(|d| (d.entry.name.clone(), &d.entry))
        .collect();
    node = node.list("index", by_letter(folders, model::folder_artist));
    let songs = listing
        .tracks
        .iter()
        .map(|t| model::song(call, t, &index))
        .collect();
    Ok(Payload::One("indexes", node.list("child", songs)))
}

/// `getMusicDirectory`: a folder's sub-folders and tracks; for an artist,
/// its albums.
///
/// Errors: 10 without `id`, 70 for an ID that is not a folder, album or
/// artist of the library.
pub fn music_directory(call: &Call<'_>) -> Result<Payload, ApiError> {
    let id = call.params.required("id")?;
    let index = call.ctx.app.catalog.index();
    let folder = match Id::decode(id) {
        Ok(Id::Dir(p) | Id::Album(p)) => p,
        Ok(Id::Artist(name)) => {
            let artist = index.artist(&name).ok_or(ApiError::NotFound("artist"))?;
            let albums = artist
                .albums
                .iter()
                .map(|&i| model::album_child(call, &index.albums[i as usize]))
                .collect();
            let dir = Node::new()
                .attr("id", Id::Artist(artist.name.to_string()).encode())
                .attr("name", &*artist.name)
                .list("child", albums);
            return Ok(Payload::One("directory", dir));
        }
        _ => return Err(ApiError::NotFound("directory")),
    };
    let listing = call.ctx.app.catalog.list(&folder)?;
    let rel = &listing.dir.relative;
    let mut children: Vec<Node> = listing
        .dirs
        .iter()
        .map(|d| model::dir_child(call, d, rel, &index))
        .collect();
    children.extend(listing.tracks.iter().map(|t| model::song(call, t, &index)));
    let dir = Node::new()
        .attr("id", Id::Dir(rel.clone()).encode())
        .opt(
            "parent",
            (!rel.is_root()).then(|| Id::Dir(rel.parent()).encode()),
        )
        .attr("name", if rel.is_root() { "Music" } else { rel.name() })
        .list("child", children);
    Ok(Payload::One("directory", dir))
}

/// `getArtists`: the ID3 view's artists by letter.
///
/// Errors: 70 for an unknown music folder.
pub fn artists(call: &Call<'_>) -> Result<Payload, ApiError> {
    check_folder(call)?;
    let index = call.ctx.app.catalog.index();
    let items = index
        .artists
        .iter()
        .map(|a| (a.name.to_string(), a))
        .collect();
    let groups = by_letter(items, |a| model::artist_id3(call, a, &index));
    Ok(Payload::One(
        "artists",
        Node::new()
            .attr("ignoredArticles", IGNORED_ARTICLES)
            .list("index", groups),
    ))
}

/// `getArtist`: an artist and its albums.
///
/// Errors: 10 without `id`, 70 for an unknown artist.
pub fn artist(call: &Call<'_>) -> Result<Payload, ApiError> {
    let index = call.ctx.app.catalog.index();
    let Ok(Id::Artist(name)) = Id::decode(call.params.required("id")?) else {
        return Err(ApiError::NotFound("artist"));
    };
    let artist = index.artist(&name).ok_or(ApiError::NotFound("artist"))?;
    let albums = artist
        .albums
        .iter()
        .map(|&i| model::album_id3(call, &index.albums[i as usize]))
        .collect();
    Ok(Payload::One(
        "artist",
        model::artist_id3(call, artist, &index).list("album", albums),
    ))
}

/// `getAlbum`: an album and its songs in album order.
///
/// Errors: 10 without `id`, 70 for an unknown album.
pub fn album(call: &Call<'_>) -> Result<Payload, ApiError> {
    let index = call.ctx.app.catalog.index();
    let folder = match Id::decode(call.params.required("id")?) {
        Ok(Id::Album(p) | Id::Dir(p)) => p,
        _ => return Err(ApiError::NotFound("album")),
    };
    let album = index.album(&folder).ok_or(ApiError::NotFound("album"))?;
    let listing = call.ctx.app.catalog.list(&folder)?;
    let songs = songs_of(call, &listing.tracks, &index);
    Ok(Payload::One(
        "album",
        model::album_id3(call, album).list("song", songs),
    ))
}

fn songs_of(
    call: &Call<'_>,
    tracks: &[crate::catalog::TrackItem],
    index: &AlbumIndex,
) -> Vec<Node> {
    tracks.iter().map(|t| model::song(call, t, index)).collect()
}

/// `getSong`: one track.
///
/// Errors: 10 without `id`, 70 for an unknown song.
pub fn song(call: &Call<'_>) -> Result<Payload, ApiError> {
    let Ok(Id::Song(path)) = Id::decode(call.params.required("id")?) else {
        return Err(ApiError::NotFound("song"));
    };
    let index = call.ctx.app.catalog.index();
    let listing = call.ctx.app.catalog.list(&path.parent())?;
    let track = listing
        .tracks
        .iter()
        .find(|t| t.entry.relative == path)
        .ok_or(ApiError::NotFound("song"))?;
    Ok(Payload::One("song", model::song(call, track, &index)))
}

/// `getGenres`: every genre with its song and album counts, by name.
pub fn genres(call: &Call<'_>) -> Payload {
    let index = call.ctx.app.catalog.index();
    let mut genres: Vec<_> = index.genres.iter().collect();
    genres.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let nodes = genres
        .into_iter()
        .map(|g| {
            Node::new()
                .attr("songCount", g.songs)
                .attr("albumCount", g.albums)
                .text(&*g.name)
        })
        .collect();
    Payload::One("genres", Node::new().list("genre", nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_are_ignored_for_letters_and_order() {
        assert_eq!(sort_name("The Beatles"), "Beatles");
        assert_eq!(sort_name("Los Lobos"), "Lobos");
        assert_eq!(sort_name("Theory"), "Theory");
        assert_eq!(sort_name("The"), "The");
        assert_eq!(letter("The Beatles"), "B");
        assert_eq!(letter("Ólafur"), "O");
        assert_eq!(letter("10cc"), "#");
        let groups = by_letter(
            vec![
                ("The Beatles".to_owned(), 1),
                ("abba".to_owned(), 2),
                ("Björk".to_owned(), 3),
            ],
            |i| Node::new().attr("n", i as i64),
        );
        assert_eq!(groups.len(), 2);
    }
}
