//! `search2` and `search3`: artists, albums and songs matching every word
//! of a query (case and accents ignored), each kind paged by its own count
//! and offset. An empty query (or `""` as two quote characters, as some
//! clients send it) returns everything, in library order: Symfonium and
//! other apps sync a whole library that way, 500 songs a page, so songs are
//! paged by the album index's song counts without listing the folders they
//! skip.

use super::Call;
use super::error::ApiError;
use super::model;
use super::node::{Node, Payload};
use crate::catalog::fold;

/// Largest page of one kind.
const MAX_COUNT: i64 = 10_000;

/// `search2` (`id3 = false`: artists as `Artist`, albums as `Child`) and
/// `search3` (`ArtistID3`, `AlbumID3`).
///
/// Errors: 10 without `query`, 0 for a bad count or offset, 70 for an
/// unknown music folder.
pub fn search(call: &Call<'_>, id3: bool) -> Result<Payload, ApiError> {
    let p = &call.params;
    let query = p.required("query")?.trim();
    let query = if query == "\"\"" { "" } else { query };
    let page = |count: &'static str, offset: &'static str| -> Result<(usize, usize), ApiError> {
        Ok((
            p.int(count, 20, 0, MAX_COUNT)? as usize,
            p.int(offset, 0, 0, i64::from(u32::MAX))? as usize,
        ))
    };
    let (artist_count, artist_offset) = page("artistCount", "artistOffset")?;
    let (album_count, album_offset) = page("albumCount", "albumOffset")?;
    let (song_count, song_offset) = page("songCount", "songOffset")?;
    super::browse::check_folder(call)?;
    let words: Vec<String> = fold(query).split_whitespace().map(str::to_owned).collect();
    let matches = |hay: &str| {
        let hay = fold(hay);
        words.iter().all(|w| hay.contains(w.as_str()))
    };
    let index = call.ctx.app.catalog.index();

    let artists: Vec<Node> = index
        .artists
        .iter()
        .filter(|a| matches(&a.name))
        .skip(artist_offset)
        .take(artist_count)
        .map(|a| {
            if id3 {
                model::artist_id3(call, a, &index)
            } else {
                model::artist(call, a)
            }
        })
        .collect();
    let albums: Vec<Node> = index
        .albums
        .iter()
        .filter(|a| words.is_empty() || matches(&format!("{}\n{}", a.name, a.artist)))
        .skip(album_offset)
        .take(album_count)
        .map(|a| {
            if id3 {
                model::album_id3(call, a)
            } else {
                model::album_child(call, a)
            }
        })
        .collect();

    let mut songs = Vec::new();
    if song_count > 0 {
        if words.is_empty() {
            let mut skip = song_offset;
            for a in &index.albums {
                if songs.len() >= song_count {
                    break;
                }
                let n = a.songs as usize;
                if skip >= n {
                    skip -= n;
                    continue;
                }
                let Ok(listing) = call.ctx.app.catalog.list(&a.folder) else {
                    continue;
                };
                for t in listing.tracks.iter().skip(skip) {
                    if songs.len() >= song_count {
                        break;
                    }
                    songs.push(model::song(call, t, &index));
                }
                skip = 0;
            }
        } else {
            let hits = call.ctx.app.catalog.search(query, song_offset + song_count);
            songs = hits
                .tracks
                .iter()
                .skip(song_offset)
                .take(song_count)
                .map(|t| model::song(call, t, &index))
                .collect();
        }
    }
    let node = Node::new()
        .list("artist", artists)
        .list("album", albums)
        .list("song", songs);
    Ok(Payload::One(
        if id3 {
            "searchResult3"
        } else {
            "searchResult2"
        },
        node,
    ))
}
