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
                    Resolved::Track(f) if is_audio(&f.relative) => {
                        let f = *f;
                        let name = f.relative.name().to_owned();
                        let info = self.track_info(&f.path, &f.relative, &f.metadata);
                        let entry = LibraryEntry {
                            name,
                            relative: f.relative,
                            path: f.path,
                            metadata: f.metadata,
                        };
                        let cover = track_cover(&entry, &info, None);
                        Ok(TrackItem { entry, info, cover })
                    }
                    Resolved::Track(_) => Err("not an audio file"),
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
