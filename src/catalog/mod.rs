//! What the library holds, for browsing and search: each track's tags and
//! stream parameters (see [`info`]), kept in a bounded in-memory LRU keyed
//! by path and checked against the file's size and mtime, so a folder
//! browsed twice costs one `stat` per file the second time and a changed
//! file is read again.
//!
//! Directory walks go through [`Library::entries`], so a listing or a
//! search shows exactly what `/play` would serve: nothing hidden, nothing
//! outside the root.

pub mod albums;
pub mod covers;
mod info;
mod order;
mod playlists;
mod scan;
mod search;
mod walk;

use std::fs::Metadata;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use log::warn;

pub use albums::AlbumIndex;
pub use info::{TrackInfo, embedded_cover, read_track_info};
pub use order::{natural_cmp, sort_tracks};
pub use playlists::{PlaylistEntry, PlaylistError, PlaylistView};
pub use scan::{RESCAN_EVERY, ScanStatus, Scanner};
pub use search::{SearchHits, fold};

use crate::library::{Library, LibraryDir, LibraryEntry, RelPath, ResolveError, mtime_ns};
use crate::transcode::tags;

/// File extensions listed as tracks (compared without case).
pub const AUDIO_EXTENSIONS: [&str; 13] = [
    "flac", "wav", "wave", "aif", "aiff", "aifc", "m4a", "mp4", "ogg", "oga", "opus", "mp3", "aac",
];

/// File extensions listed as playlists (compared without case).
pub const PLAYLIST_EXTENSIONS: [&str; 2] = ["m3u", "m3u8"];

fn has_extension(name: &str, list: &[&str]) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && list.iter().any(|e| e.eq_ignore_ascii_case(ext))
    })
}

/// True for a file name with one of [`AUDIO_EXTENSIONS`].
pub fn is_audio(name: &str) -> bool {
    has_extension(name, &AUDIO_EXTENSIONS)
}

/// True for a file name with one of [`PLAYLIST_EXTENSIONS`].
pub fn is_playlist(name: &str) -> bool {
    has_extension(name, &PLAYLIST_EXTENSIONS)
}

/// Counters and size of the metadata cache, for `/admin/cache/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataStats {
    pub entries: usize,
    pub capacity: usize,
    pub hits: u64,
    pub misses: u64,
}

/// A remembered [`TrackInfo`] and the size and mtime it was read at.
struct Slot {
    size: u64,
    mtime_ns: i128,
    info: Arc<TrackInfo>,
}

/// Where a cover comes from: the track's own picture, or a folder-art
/// file. `version` changes when the picture's file changes, so cover URLs
/// can be cached for a long time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverRef {
    /// Relative path to put after `/api/cover/`: a track, or a folder.
    pub path: RelPath,
    pub version: String,
}

/// A sub-folder in a listing.
#[derive(Debug)]
pub struct DirItem {
    pub entry: LibraryEntry,
    pub cover: Option<CoverRef>,
}

/// A track in a listing or a search result.
#[derive(Debug, Clone)]
pub struct TrackItem {
    pub entry: LibraryEntry,
    pub info: Arc<TrackInfo>,
    pub cover: Option<CoverRef>,
}

impl TrackItem {
    /// The title, else the file name without its extension.
    pub fn title(&self) -> &str {
        match &self.info.title {
            Some(t) => t,
            None => file_stem(&self.entry.name),
        }
    }
}

/// The name without its last extension.
pub fn file_stem(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    }
}

/// A folder's content, sorted: folders and playlists by name (natural
/// order), tracks by disc, track number, then name.
#[derive(Debug)]
pub struct Listing {
    pub dir: LibraryDir,
    /// The folder's own cover: its folder art, else the first track's
    /// picture.
    pub cover: Option<CoverRef>,
    pub dirs: Vec<DirItem>,
    pub tracks: Vec<TrackItem>,
    pub playlists: Vec<LibraryEntry>,
}

/// A cover picture ready to send.
#[derive(Debug)]
pub struct CoverImage {
    pub mime_type: String,
    pub data: Vec<u8>,
    /// Strong validator: changes when the picture's file changes.
    pub etag: String,
}

/// The library's metadata: listings, search and covers.
pub struct Catalog {
    library: Library,
    /// `None` when tags are read every time (capacity 0).
    lru: Option<Mutex<lru::LruCache<Arc<Path>, Slot>>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    /// The ID3 view as of the last scan.
    index: RwLock<Arc<AlbumIndex>>,
    scanning: AtomicBool,
    /// Tracks seen by the current (else the last) scan.
    scanned: AtomicU64,
    /// Scans finished since start.
    scans: AtomicU64,
}

/// A short version string for a file: size and mtime in hex.
fn version_of(m: &Metadata) -> String {
    format!("{:x}-{:x}", m.len(), mtime_ns(m))
}

impl Catalog {
    /// A catalog over `library` keeping the tags of up to `capacity`
    /// tracks in memory (0 = read every time).
    pub fn new(library: Library, capacity: usize) -> Catalog {
        Catalog {
            library,
            // Unbounded and trimmed by hand: `LruCache::new` would allocate
            // the whole capacity (20 000 slots by default) up front.
            lru: (capacity > 0).then(|| Mutex::new(lru::LruCache::unbounded())),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            index: RwLock::new(Arc::new(AlbumIndex::default())),
            scanning: AtomicBool::new(false),
            scanned: AtomicU64::new(0),
            scans: AtomicU64::new(0),
        }
    }

    /// The library this catalog reads.
    pub fn library(&self) -> &Library {
        &self.library
    }

    fn lru(&self) -> Option<MutexGuard<'_, lru::LruCache<Arc<Path>, Slot>>> {
        // A panic while holding the lock leaves a consistent map: every
        // mutation below is a single insert or lookup.
        self.lru
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The tags of the track at `path` (absolute) whose metadata is
    /// `meta`: from memory when its size and mtime are unchanged, else
    /// read from the file (a miss). Never fails: an unreadable file gives
    /// a [`TrackInfo`] with `readable == false`, logged once per change.
    pub fn track_info(&self, path: &Path, relative: &str, meta: &Metadata) -> Arc<TrackInfo> {
        let (size, mtime) = (meta.len(), mtime_ns(meta));
        if let Some(mut lru) = self.lru()
            && let Some(slot) = lru.get(path)
            && slot.size == size
            && slot.mtime_ns == mtime
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Arc::clone(&slot.info);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(read_track_info(path, relative).unwrap_or_else(|e| {
            warn!("reading tags of {relative:?}: {e}; listing it by file name");
            TrackInfo {
                format: "unknown",
                ..TrackInfo::default()
            }
        }));
        if let Some(mut lru) = self.lru() {
            lru.put(
                Arc::from(path),
                Slot {
                    size,
                    mtime_ns: mtime,
                    info: Arc::clone(&info),
                },
            );
            while lru.len() > self.capacity {
                lru.pop_lru();
            }
        }
        info
    }

    /// Hit and miss counts and the number of tracks held.
    pub fn stats(&self) -> MetadataStats {
        MetadataStats {
            entries: self.lru().map_or(0, |l| l.len()),
            capacity: self.capacity,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Lists the folder at `relative` (the root included), reading the
    /// tags of every track in it.
    ///
    /// Errors: as for [`Library::resolve_dir`]; [`ResolveError::Io`] when
    /// the folder cannot be read.
    pub fn list(&self, relative: &RelPath) -> Result<Listing, ResolveError> {
        let dir = self.library.resolve_dir(relative)?;
        let entries = self.library.entries(&dir).map_err(|err| ResolveError::Io {
            relative: dir.relative.to_string(),
            err,
        })?;
        let folder_cover = folder_art(&entries).map(|art| CoverRef {
            path: dir.relative.clone(),
            version: version_of(&art.metadata),
        });
        let mut dirs = Vec::new();
        let mut tracks = Vec::new();
        let mut playlists = Vec::new();
        for entry in entries {
            if entry.metadata.is_dir() {
                dirs.push(entry);
            } else if is_audio(&entry.name) {
                let info = self.track_info(&entry.path, &entry.relative, &entry.metadata);
                let cover = track_cover(&entry, &info, folder_cover.as_ref());
                tracks.push(TrackItem { entry, info, cover });
            } else if is_playlist(&entry.name) {
                playlists.push(entry);
            }
        }
        dirs.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        playlists.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        sort_tracks(&mut tracks);
        let cover = folder_cover.or_else(|| {
            tracks
                .iter()
                .find(|t| t.info.has_art)
                .and_then(|t| t.cover.clone())
        });
        let dirs = dirs
            .into_iter()
            .map(|entry| {
                let cover = self.dir_cover(&entry);
                DirItem { entry, cover }
            })
            .collect();
        Ok(Listing {
            dir,
            cover,
            dirs,
            tracks,
            playlists,
        })
    }

    /// A sub-folder's cover: its folder art, else the picture of its first
    /// track when that has one.
    fn dir_cover(&self, entry: &LibraryEntry) -> Option<CoverRef> {
        let dir = LibraryDir {
            relative: entry.relative.clone(),
            path: entry.path.clone(),
        };
        let entries = self.library.entries(&dir).ok()?;
        let version = match folder_art(&entries) {
            Some(art) => version_of(&art.metadata),
            None => {
                let first = first_track(&entries)?;
                let info = self.track_info(&first.path, &first.relative, &first.metadata);
                if !info.has_art {
                    return None;
                }
                version_of(&first.metadata)
            }
        };
        Some(CoverRef {
            path: entry.relative.clone(),
            version,
        })
    }

    /// The cover of a track (its own picture, else its folder's art) or of
    /// a folder (its art, else its first track's picture).
    ///
    /// Errors: [`ResolveError::NotFound`] when there is no cover, and as
    /// for [`Library::resolve`].
    pub fn cover(&self, relative: &RelPath) -> Result<CoverImage, ResolveError> {
        let (dir, track) = match self.library.resolve(relative) {
            Ok(file) => {
                if !is_audio(&file.relative) {
                    return Err(ResolveError::NotFound);
                }
                let dir = LibraryDir {
                    relative: file.relative.parent(),
                    path: file
                        .path
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                };
                (dir, Some((file.path, file.relative, file.metadata)))
            }
            Err(ResolveError::NotFound) => (self.library.resolve_dir(relative)?, None),
            Err(e) => return Err(e),
        };
        let embedded = |path: &Path, relative: &str, meta: &Metadata| {
            embedded_cover(path, relative).map(|c| CoverImage {
                mime_type: c.mime_type,
                data: c.data,
                etag: format!("\"e{}\"", version_of(meta)),
            })
        };
        if let Some((path, relative, meta)) = &track
            && let Some(img) = embedded(path, relative, meta)
        {
            return Ok(img);
        }
        let entries = self.library.entries(&dir).map_err(|err| ResolveError::Io {
            relative: dir.relative.to_string(),
            err,
        })?;
        if let Some(art) = folder_art(&entries) {
            let data = std::fs::read(&art.path).map_err(|err| ResolveError::Io {
                relative: art.relative.to_string(),
                err,
            })?;
            return Ok(CoverImage {
                mime_type: tags::sniff_image(&data).to_owned(),
                data,
                etag: format!("\"f{}\"", version_of(&art.metadata)),
            });
        }
        if track.is_none()
            && let Some(first) = first_track(&entries)
            && let Some(img) = embedded(&first.path, &first.relative, &first.metadata)
        {
            return Ok(img);
        }
        Err(ResolveError::NotFound)
    }
}

/// A track's cover: its own picture when it has one, else `folder_cover`.
fn track_cover(
    entry: &LibraryEntry,
    info: &TrackInfo,
    folder_cover: Option<&CoverRef>,
) -> Option<CoverRef> {
    if info.has_art {
        Some(CoverRef {
            path: entry.relative.clone(),
            version: version_of(&entry.metadata),
        })
    } else {
        folder_cover.cloned()
    }
}

/// The first of [`tags::FOLDER_ART`] among `entries`.
fn folder_art(entries: &[LibraryEntry]) -> Option<&LibraryEntry> {
    entries
        .iter()
        .filter(|e| e.metadata.is_file())
        .filter_map(|e| {
            let lower = e.name.to_ascii_lowercase();
            tags::FOLDER_ART
                .iter()
                .position(|n| *n == lower)
                .map(|rank| (rank, e))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, e)| e)
}

/// The audio file that sorts first by name among `entries`.
fn first_track(entries: &[LibraryEntry]) -> Option<&LibraryEntry> {
    entries
        .iter()
        .filter(|e| e.metadata.is_file() && is_audio(&e.name))
        .min_by(|a, b| natural_cmp(&a.name, &b.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn extensions_are_matched_without_case() {
        assert!(is_audio("a.FLAC") && is_audio("b.m4a") && !is_audio("flac"));
        assert!(!is_audio("cover.jpg") && is_playlist("x.M3U8") && !is_playlist(".m3u"));
    }

    #[test]
    fn lru_drops_least_recently_used_and_rereads_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::new(dir.path(), true).unwrap();
        let cat = Catalog::new(lib, 2);
        let paths: Vec<PathBuf> = (0..3)
            .map(|i| {
                let p = dir.path().join(format!("{i}.flac"));
                std::fs::write(&p, b"not audio").unwrap();
                p
            })
            .collect();
        let get = |i: usize| {
            let m = std::fs::metadata(&paths[i]).unwrap();
            cat.track_info(&paths[i], "x", &m)
        };
        assert!(!get(0).readable, "garbage lists without tags");
        get(1);
        get(0); // 0 is now the most recent; 1 is dropped next
        get(2);
        let s = cat.stats();
        assert_eq!((s.entries, s.hits, s.misses), (2, 1, 3));
        get(0);
        assert_eq!(cat.stats().hits, 2, "0 stayed");
        get(1);
        assert_eq!(cat.stats().misses, 4, "1 was dropped");
        std::fs::write(&paths[0], b"changed, longer").unwrap();
        get(0);
        assert_eq!(cat.stats().misses, 5, "a changed file is read again");
    }
}
