//! The ID3 view of the library (albums, artists, genres), derived from the
//! folder tree and the tags during the library scan, with no database:
//!
//! - an album is a folder that directly holds tracks; its name is the album
//!   tag when its tracks agree, else the folder's name;
//! - its artist is the album-artist tag when the tracks agree, else the
//!   artist tag when they agree, else the parent folder's name;
//! - artists are albums grouped by artist name (case and accents folded).
//!
//! A few hundred bytes per album: names and counts, not tracks (a track's
//! tags stay in the metadata cache; an album's tracks are its folder's
//! listing).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::{TrackInfo, fold, natural_cmp};
use crate::library::RelPath;

/// One album.
#[derive(Debug, Clone, PartialEq)]
pub struct Album {
    /// The folder holding its tracks (its ID).
    pub folder: RelPath,
    pub name: Box<str>,
    /// The album artist, as shown.
    pub artist: Box<str>,
    /// Index of its artist in [`AlbumIndex::artists`].
    pub artist_index: u32,
    pub year: Option<u32>,
    /// The genre most of its tracks have.
    pub genre: Option<Box<str>>,
    /// Every genre any of its tracks has (indices into
    /// [`AlbumIndex::genres`]).
    pub genres: Box<[u16]>,
    pub songs: u32,
    pub duration_s: u32,
    /// The folder's modification time: when the album was added, as near
    /// as the file system says.
    pub created: SystemTime,
    /// It has art: folder art, or a picture in a track.
    pub has_cover: bool,
}

/// One artist: the albums that name it.
#[derive(Debug, Clone, PartialEq)]
pub struct Artist {
    pub name: Box<str>,
    /// Indices into [`AlbumIndex::albums`], by name.
    pub albums: Vec<u32>,
}

/// One genre and how much of the library has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Genre {
    pub name: Box<str>,
    pub songs: u32,
    pub albums: u32,
}

/// The whole ID3 view, as of one scan.
#[derive(Debug, Default)]
pub struct AlbumIndex {
    /// In library order (folders breadth first, natural order).
    pub albums: Vec<Album>,
    /// By name, case and accents folded.
    pub artists: Vec<Artist>,
    /// By name.
    pub genres: Vec<Genre>,
    pub songs: u64,
    /// When the scan that built it ended.
    pub built: Option<SystemTime>,
    by_folder: HashMap<RelPath, u32>,
    by_artist: HashMap<String, u32>,
}

impl AlbumIndex {
    /// The album whose tracks are in `folder`.
    pub fn album(&self, folder: &RelPath) -> Option<&Album> {
        self.by_folder
            .get(folder)
            .map(|&i| &self.albums[i as usize])
    }

    /// The artist called `name` (case and accents folded).
    pub fn artist(&self, name: &str) -> Option<&Artist> {
        self.by_artist
            .get(&fold(name))
            .map(|&i| &self.artists[i as usize])
    }
}

/// Builds the index from the scan's folders, in the order given: each is
/// the folder, its name, its parent's name, its mtime, whether it has
/// folder art, and its tracks (folders without tracks are left out).
pub fn build(folders: Vec<ScannedFolder>, built: SystemTime) -> AlbumIndex {
    let mut index = AlbumIndex {
        built: Some(built),
        ..AlbumIndex::default()
    };
    let mut genre_ids: HashMap<String, u16> = HashMap::new();
    for f in folders {
        if f.tracks.is_empty() {
            continue;
        }
        let infos: Vec<&TrackInfo> = f.tracks.iter().map(|t| &**t).collect();
        let name = agreed(infos.iter().map(|i| i.album.as_deref()))
            .map(Box::from)
            .unwrap_or_else(|| {
                if f.folder.is_root() {
                    Box::from("Music")
                } else {
                    Box::from(f.folder.name())
                }
            });
        let artist = agreed(infos.iter().map(|i| i.album_artist.as_deref()))
            .or_else(|| agreed(infos.iter().map(|i| i.artist.as_deref())))
            .map(Box::from)
            .unwrap_or_else(|| {
                let parent = f.folder.parent();
                Box::from(if parent.is_root() {
                    "Unknown Artist"
                } else {
                    parent.name()
                })
            });
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for g in infos.iter().filter_map(|i| i.genre.as_deref()) {
            *counts.entry(g).or_insert(0) += 1;
        }
        let genre = counts
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(g, _)| Box::<str>::from(*g));
        let mut genres: Vec<u16> = Vec::with_capacity(counts.len());
        for (g, n) in &counts {
            let next = u16::try_from(genre_ids.len()).unwrap_or(u16::MAX);
            let id = *genre_ids.entry((*g).to_owned()).or_insert(next);
            if usize::from(id) == index.genres.len() {
                index.genres.push(Genre {
                    name: Box::from(*g),
                    songs: 0,
                    albums: 0,
                });
            }
            if let Some(entry) = index.genres.get_mut(usize::from(id)) {
                entry.songs += n;
                entry.albums += 1;
            }
            genres.push(id);
        }
        let duration_s = infos.iter().filter_map(|i| i.duration_s).sum::<f64>();
        let songs = u32::try_from(infos.len()).unwrap_or(u32::MAX);
        index.songs += u64::from(songs);
        index.albums.push(Album {
            folder: f.folder,
            name,
            artist,
            artist_index: 0,
            year: most_common(infos.iter().filter_map(|i| i.year)),
            genre,
            genres: genres.into_boxed_slice(),
            songs,
            duration_s: duration_s.round() as u32,
            created: f.mtime,
            has_cover: f.has_folder_art || infos.iter().any(|i| i.has_art),
        });
    }
    // Artists by folded name, their albums by name.
    let mut artists: HashMap<String, Vec<u32>> = HashMap::new();
    for (i, a) in index.albums.iter().enumerate() {
        artists
            .entry(fold(&a.artist))
            .or_default()
            .push(u32::try_from(i).unwrap_or(u32::MAX));
    }
    let mut list: Vec<(String, Vec<u32>)> = artists.into_iter().collect();
    list.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    for (folded, mut albums) in list {
        albums.sort_by(|&x, &y| {
            natural_cmp(
                &index.albums[x as usize].name,
                &index.albums[y as usize].name,
            )
        });
        let at = u32::try_from(index.artists.len()).unwrap_or(u32::MAX);
        let name = index.albums[albums[0] as usize].artist.clone();
        for &a in &albums {
            index.albums[a as usize].artist_index = at;
        }
        index.by_artist.insert(folded, at);
        index.artists.push(Artist { name, albums });
    }
    for (i, a) in index.albums.iter().enumerate() {
        index
            .by_folder
            .insert(a.folder.clone(), u32::try_from(i).unwrap_or(u32::MAX));
    }
    index
}

/// A folder as the scan found it.
pub struct ScannedFolder {
    pub folder: RelPath,
    pub mtime: SystemTime,
    pub has_folder_art: bool,
    /// The tags of its tracks.
    pub tracks: Vec<Arc<TrackInfo>>,
}

/// The value every track that has one agrees on; `None` when none has one
/// or two differ.
fn agreed<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Option<&'a str> {
    let mut found: Option<&str> = None;
    for v in values.flatten() {
        match found {
            None => found = Some(v),
            Some(f) if f == v => {}
            Some(_) => return None,
        }
    }
    found
}

/// The value seen most often (the smallest of a tie).
fn most_common(values: impl Iterator<Item = u32>) -> Option<u32> {
    let mut counts: HashMap<u32, u32> = HashMap::new();
    for v in values {
        *counts.entry(v).or_insert(0) += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(
        album: Option<&str>,
        artist: Option<&str>,
        album_artist: Option<&str>,
        genre: Option<&str>,
    ) -> Arc<TrackInfo> {
        Arc::new(TrackInfo {
            album: album.map(Box::from),
            artist: artist.map(Box::from),
            album_artist: album_artist.map(Box::from),
            genre: genre.map(Box::from),
            duration_s: Some(60.4),
            year: Some(1999),
            readable: true,
            ..TrackInfo::default()
        })
    }

    fn folder(path: &str, tracks: Vec<Arc<TrackInfo>>) -> ScannedFolder {
        ScannedFolder {
            folder: RelPath::new(path).unwrap(),
            mtime: SystemTime::UNIX_EPOCH,
            has_folder_art: false,
            tracks,
        }
    }

    #[test]
    fn albums_and_artists_come_from_agreeing_tags_else_folders() {
        let index = build(
            vec![
                folder(
                    "Zoë/Tagged",
                    vec![
                        track(Some("The Album"), Some("Zoë"), None, Some("Rock")),
                        track(
                            Some("The Album"),
                            Some("Zoë feat. X"),
                            Some("Zoë"),
                            Some("Rock"),
                        ),
                    ],
                ),
                folder("Band/Untagged", vec![track(None, None, None, None)]),
                folder(
                    "Mixed/Comp",
                    vec![
                        track(Some("A"), Some("One"), None, Some("Jazz")),
                        track(Some("B"), Some("Two"), None, Some("Rock")),
                    ],
                ),
                folder("Empty", vec![]),
                folder(
                    "zoe/Second",
                    vec![track(Some("Second"), Some("ZOE"), None, None)],
                ),
            ],
            SystemTime::UNIX_EPOCH,
        );
        let names: Vec<(&str, &str)> = index
            .albums
            .iter()
            .map(|a| (&*a.name, &*a.artist))
            .collect();
        assert_eq!(
            names,
            [
                ("The Album", "Zoë"),
                ("Untagged", "Band"),
                ("Comp", "Mixed"),
                ("Second", "ZOE")
            ]
        );
        assert_eq!(index.songs, 6);
        assert_eq!(index.albums[0].songs, 2);
        assert_eq!(index.albums[0].duration_s, 121);
        assert_eq!(index.albums[0].year, Some(1999));
        // "Zoë" and "ZOE" fold alike: one artist with two albums, by name.
        let zoe = index.artist("zoe").unwrap();
        assert_eq!(zoe.albums.len(), 2);
        assert_eq!(&*index.albums[zoe.albums[0] as usize].name, "Second");
        let artist_names: Vec<&str> = index.artists.iter().map(|a| &*a.name).collect();
        assert_eq!(artist_names, ["Band", "Mixed", "ZOE"]);
        let rock = index.genres.iter().find(|g| &*g.name == "Rock").unwrap();
        assert_eq!((rock.songs, rock.albums), (3, 2));
        assert_eq!(
            index
                .album(&RelPath::new("Mixed/Comp").unwrap())
                .unwrap()
                .genres
                .len(),
            2
        );
        assert!(index.album(&RelPath::new("Empty").unwrap()).is_none());
    }
}
