//! Lists: `getAlbumList`/`getAlbumList2` (random, newest, alphabetical, by
//! year, by genre, and from the user's listening state: frequent, recent,
//! starred, highest), `getRandomSongs`, `getSongsByGenre`.

use std::collections::HashMap;

use super::Call;
use super::error::ApiError;
use super::model;
use super::node::{Node, Payload};
use crate::catalog::albums::Album;
use crate::catalog::{AlbumIndex, fold, natural_cmp};
use crate::ids::Id;
use crate::library::RelPath;
use crate::state::{Store, StoreError};

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
        // From the user's listening state: albums played (their songs'
        // plays summed), starred or rated, the most or latest first.
        "frequent" => {
            albums.retain(|a| call.album_plays(&a.folder).is_some());
            albums.sort_by_key(|a| std::cmp::Reverse(call.album_plays(&a.folder)));
        }
        "recent" => {
            albums.retain(|a| call.album_plays(&a.folder).is_some());
            albums.sort_by_key(|a| std::cmp::Reverse(call.album_plays(&a.folder).map(|p| p.1)));
        }
        // One read of the user's stars or ratings, not one per album.
        "starred" => {
            let stars = albums_by_folder(call, |s, user| {
                let stars = s.stars(user)?;
                Ok(stars.into_iter().map(|s| (s.id, s.at_ms)).collect())
            });
            albums.retain(|a| stars.contains_key(&a.folder));
            albums.sort_by_key(|a| std::cmp::Reverse(stars.get(&a.folder)));
        }
        "highest" => {
            let ratings = albums_by_folder(call, |s, user| {
                let ratings = s.ratings(user)?;
                Ok(ratings.into_iter().map(|r| (r.id, r.rating)).collect())
            });
            albums.retain(|a| ratings.contains_key(&a.folder));
            albums.sort_by_key(|a| std::cmp::Reverse(ratings.get(&a.folder)));
        }
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
            Node::new().list("album", page.map(|a| model::album_id3(call, a)).collect()),
        )
    } else {
        Payload::One(
            "albumList",
            Node::new().list("album", page.map(|a| model::album_child(call, a)).collect()),
        )
    })
}

/// The user's values of albums (stars, ratings) by album folder, from
/// `read`, which lists (item ID, value) pairs of the store; empty without
/// a store or when it cannot be read.
fn albums_by_folder<V>(
    call: &Call<'_>,
    read: impl FnOnce(&Store, &str) -> Result<Vec<(String, V)>, StoreError>,
) -> HashMap<RelPath, V> {
    let Some(store) = &call.ctx.app.state else {
        return HashMap::new();
    };
    read(store, &call.user.name)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(id, v)| match Id::decode(&id) {
            Ok(Id::Album(folder)) => Some((folder, v)),
            _ => None,
        })
        .collect()
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
