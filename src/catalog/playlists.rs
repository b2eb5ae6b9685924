//! A library playlist (`.m3u`/`.m3u8`) read and its entries resolved to
//! tracks inside the root (parsing is [`crate::playlist`]'s).

use std::fmt;

use super::{Catalog, TrackItem, file_stem, is_audio, is_playlist, track_cover};
use crate::library::{LibraryEntry, LibraryFile, RelPath, ResolveError};
use crate::playlist::{self, RawEntry, Resolved};

/// One entry of a playlist, resolved.
#[derive(Debug)]
pub struct PlaylistEntry {
    pub raw: RawEntry,
    /// The track, or why there is none.
    pub track: Result<TrackItem, &'static str>,
}

/// A playlist file read and resolved.
#[derive(Debug)]
pub struct PlaylistView {
    /// Path of the playlist file, relative to the root.
    pub relative: RelPath,
    /// `#PLAYLIST:` name, else the file name without extension.
    pub name: String,
    pub entries: Vec<PlaylistEntry>,
}

/// Why a playlist could not be read.
#[derive(Debug)]
pub enum PlaylistError {
    /// Not found, refused, or not a playlist: a 404.
    NotFound(ResolveError),
    /// Over [`playlist::MAX_PLAYLIST_BYTES`].
    TooLarge(u64),
    /// The file is there but could not be read.
    Io {
        relative: RelPath,
        err: std::io::Error,
    },
}

impl fmt::Display for PlaylistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlaylistError::NotFound(e) => write!(f, "playlist: {e}"),
            PlaylistError::TooLarge(len) => write!(
                f,
                "the playlist is {len} bytes; at most {} are read",
                playlist::MAX_PLAYLIST_BYTES
            ),
            PlaylistError::Io { relative, err } => {
                write!(f, "reading playlist {relative:?}: {err}")
            }
        }
    }
}

impl std::error::Error for PlaylistError {}

impl Catalog {
    /// The track at `relative`, with its tags and its own cover (folder
    /// art is the album's).
    ///
    /// Errors: the path does not resolve to a file of the library, or it
    /// is not audio ([`ResolveError::NotFound`]).
    pub fn track_item(&self, relative: &RelPath) -> Result<TrackItem, ResolveError> {
        let file = self.library.resolve(relative)?;
        self.track_item_of(file).ok_or(ResolveError::NotFound)
    }

    /// `file` as a track; `None` when it is not audio.
    pub fn track_item_of(&self, file: LibraryFile) -> Option<TrackItem> {
        if !is_audio(&file.relative) {
            return None;
        }
        let info = self.track_info(&file.path, &file.relative, &file.metadata);
        let entry = LibraryEntry {
            name: file.relative.name().to_owned(),
            relative: file.relative,
            path: file.path,
            metadata: file.metadata,
        };
        let cover = track_cover(&entry, &info, None);
        Some(TrackItem { entry, info, cover })
    }

    /// Reads the playlist at `relative` and resolves its entries inside
    /// the root (see [`crate::playlist`]).
    ///
    /// Errors: [`PlaylistError::NotFound`] for a path that does not
    /// resolve to a `.m3u`/`.m3u8` file, [`PlaylistError::TooLarge`],
    /// [`PlaylistError::Io`] when it cannot be read.
    pub fn playlist(&self, relative: &RelPath) -> Result<PlaylistView, PlaylistError> {
        let file = self
            .library
            .resolve(relative)
            .map_err(PlaylistError::NotFound)?;
        self.read_playlist(file)
    }

    fn read_playlist(&self, file: LibraryFile) -> Result<PlaylistView, PlaylistError> {
        if !is_playlist(&file.relative) {
            return Err(PlaylistError::NotFound(ResolveError::NotFound));
        }
        if file.metadata.len() > playlist::MAX_PLAYLIST_BYTES {
            return Err(PlaylistError::TooLarge(file.metadata.len()));
        }
        let bytes = std::fs::read(&file.path).map_err(|err| PlaylistError::Io {
            relative: file.relative.clone(),
            err,
        })?;
        let m3u8 = file.relative.to_ascii_lowercase().ends_with(".m3u8");
        let parsed = playlist::parse(&playlist::decode(&bytes, m3u8));
        let name = parsed
            .name
            .clone()
            .unwrap_or_else(|| file_stem(file.relative.name()).to_owned());
        let entries = parsed
            .entries
            .into_iter()
            .map(|raw| {
                let track = match playlist::resolve(&self.library, &file.relative, &raw.location) {
                    Resolved::Track(f) => self.track_item_of(*f).ok_or("not an audio file"),
                    Resolved::Missing(why) => Err(why),
                };
                PlaylistEntry { raw, track }
            })
            .collect();
        Ok(PlaylistView {
            relative: file.relative,
            name,
            entries,
        })
    }
}
