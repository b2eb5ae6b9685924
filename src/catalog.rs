//! What the library holds, for browsing and search: each track's tags and
//! stream parameters, read with symphonia and kept in a bounded in-memory
//! LRU keyed by path and checked against the file's size and mtime, so a
//! folder browsed twice costs one `stat` per file the second time and a
//! changed file is read again.
//!
//! Directory walks go through [`Library::entries`], so a listing or a
//! search shows exactly what `/play` would serve: nothing hidden, nothing
//! outside the root.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use log::{info, warn};
use symphonia::core::codecs::audio::well_known as codecs;
use symphonia::core::meta::StandardTag;

use crate::library::{DirEntry, Library, LibraryDir, ResolveError, mtime_ns};
use crate::playlist::{self, RawEntry, Resolved};
use crate::transcode::{self, TranscodeError, tags};

/// File extensions listed as tracks (compared without case).
pub const AUDIO_EXTENSIONS: [&str; 13] = [
    "flac", "wav", "wave", "aif", "aiff", "aifc", "m4a", "mp4", "ogg", "oga", "opus", "mp3", "aac",
];

/// File extensions listed as playlists (compared without case).
pub const PLAYLIST_EXTENSIONS: [&str; 2] = ["m3u", "m3u8"];

/// Folders deeper than this below the root are not walked (a guard against
/// symlink cycles that the visited set does not catch).
const MAX_DEPTH: usize = 32;

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

/// A track's tags and stream parameters. Every field is optional in the
/// source; a file whose tags cannot be read has `readable == false` and
/// nothing else set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackInfo {
    pub title: Option<Box<str>>,
    pub artist: Option<Box<str>>,
    pub album: Option<Box<str>>,
    pub album_artist: Option<Box<str>>,
    pub genre: Option<Box<str>>,
    /// Track number within its disc (1-based).
    pub track: Option<u32>,
    /// Disc number (1-based).
    pub disc: Option<u32>,
    pub year: Option<u32>,
    /// Length in seconds, from the container's frame count.
    pub duration_s: Option<f64>,
    /// Codec: "flac", "alac", "aac", "vorbis", "opus", "mp3", "pcm" or
    /// "unknown".
    pub format: &'static str,
    pub sample_rate_hz: Option<u32>,
    /// Bits per sample of the decoded audio (lossless and PCM sources).
    pub bits: Option<u32>,
    pub channels: Option<u32>,
    /// Whether the file carries a picture of its own.
    pub has_art: bool,
    pub readable: bool,
}

/// Reads the tags and stream parameters of the audio file at `path`
/// (headers and tags only, no audio is decoded). `relative` names it in
/// errors.
///
/// Errors: as for [`transcode::probe`]; a decoder panic on a hostile file
/// is contained and reported as [`TranscodeError::Corrupt`].
pub fn read_track_info(path: &Path, relative: &str) -> Result<TrackInfo, TranscodeError> {
    transcode::contain(relative, || {
        let mut probed = transcode::probe(path, relative)?;
        let p = &probed.params;
        let mut info = TrackInfo {
            format: codec_name(p.codec),
            sample_rate_hz: p.sample_rate,
            bits: p.bits_per_sample,
            channels: p.channels.as_ref().map(|c| c.count() as u32),
            duration_s: match (probed.total_frames, p.sample_rate) {
                (Some(n), Some(rate)) if rate > 0 => Some(n as f64 / f64::from(rate)),
                _ => None,
            },
            readable: true,
            ..TrackInfo::default()
        };
        let track_id = u64::from(probed.track_id);
        let mut log = probed.format.metadata();
        loop {
            if let Some(rev) = log.current() {
                let per_track = rev
                    .per_track
                    .iter()
                    .filter(|t| t.track_id == track_id)
                    .map(|t| &t.metadata);
                for container in std::iter::once(&rev.media).chain(per_track) {
                    for tag in container.tags.iter().filter_map(|t| t.std.as_ref()) {
                        info.add(tag);
                    }
                    info.has_art |= container.visuals.iter().any(|v| !v.data.is_empty());
                }
            }
            if log.pop().is_none() {
                break;
            }
        }
        Ok(info)
    })
}

/// The picture embedded in the audio file at `path` (front cover
/// preferred), or `None` when it has none or cannot be read.
pub fn embedded_cover(path: &Path, relative: &str) -> Option<tags::Cover> {
    transcode::contain(relative, || {
        let mut probed = transcode::probe(path, relative)?;
        let mut t = tags::Tags::default();
        let mut log = probed.format.metadata();
        loop {
            if let Some(rev) = log.current() {
                t.add_revision(rev, probed.track_id);
            }
            if log.pop().is_none() {
                break;
            }
        }
        Ok(t.embedded_cover().cloned())
    })
    .ok()
    .flatten()
}

fn codec_name(id: symphonia::core::codecs::audio::AudioCodecId) -> &'static str {
    match id {
        codecs::CODEC_ID_FLAC => "flac",
        codecs::CODEC_ID_ALAC => "alac",
        codecs::CODEC_ID_AAC => "aac",
        codecs::CODEC_ID_VORBIS => "vorbis",
        codecs::CODEC_ID_OPUS => "opus",
        codecs::CODEC_ID_MP3 => "mp3",
        id if (codecs::CODEC_ID_PCM_S32LE..=codecs::CODEC_ID_PCM_MULAW).contains(&id) => "pcm",
        _ => "unknown",
    }
}

fn text(v: &str) -> Option<Box<str>> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.into())
}

fn small(n: u64) -> Option<u32> {
    u32::try_from(n).ok().filter(|n| *n > 0)
}

impl TrackInfo {
    fn add(&mut self, tag: &StandardTag) {
        use StandardTag as S;
        match tag {
            S::TrackTitle(v) => self.title = text(v).or(self.title.take()),
            S::Artist(v) => self.artist = text(v).or(self.artist.take()),
            S::Album(v) => self.album = text(v).or(self.album.take()),
            S::AlbumArtist(v) => self.album_artist = text(v).or(self.album_artist.take()),
            S::Genre(v) => self.genre = text(v).or(self.genre.take()),
            S::TrackNumber(n) => self.track = small(*n).or(self.track),
            S::DiscNumber(n) => self.disc = small(*n).or(self.disc),
            S::RecordingYear(y) | S::ReleaseYear(y) => {
                self.year = self.year.or(Some(u32::from(*y)));
            }
            S::RecordingDate(d) | S::ReleaseDate(d) => {
                let year = d.trim().get(..4).and_then(|y| y.parse::<u32>().ok());
                self.year = self.year.or(year);
            }
            _ => {}
        }
    }
}

/// Counters and size of the metadata cache, for `/admin/cache/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataStats {
    pub entries: usize,
    pub capacity: usize,
    pub hits: u64,
    pub misses: u64,
}

/// An LRU of [`TrackInfo`] by absolute path: the map holds the entries,
/// the B-tree orders them by last use.
struct Lru {
    map: HashMap<Arc<Path>, Slot>,
    by_use: BTreeMap<u64, Arc<Path>>,
    tick: u64,
}

struct Slot {
    size: u64,
    mtime_ns: i128,
    used: u64,
    info: Arc<TrackInfo>,
}

/// Where a cover comes from: the track's own picture, or a folder-art
/// file. `version` changes when the picture's file changes, so cover URLs
/// can be cached for a long time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverRef {
    /// Relative path to put after `/api/cover/`: a track, or a folder.
    pub path: String,
    pub version: String,
}

/// A sub-folder in a listing.
#[derive(Debug)]
pub struct DirItem {
    pub entry: DirEntry,
    pub cover: Option<CoverRef>,
}

/// A track in a listing or a search result.
#[derive(Debug)]
pub struct TrackItem {
    pub entry: DirEntry,
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
    pub playlists: Vec<DirEntry>,
}

/// What a search found, at most `limit` of each kind.
#[derive(Debug, Default)]
pub struct SearchHits {
    pub dirs: Vec<DirItem>,
    pub tracks: Vec<TrackItem>,
    /// More matched than were returned.
    pub truncated: bool,
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
    capacity: usize,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
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
            capacity,
            lru: Mutex::new(Lru {
                map: HashMap::new(),
                by_use: BTreeMap::new(),
                tick: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The library this catalog reads.
    pub fn library(&self) -> &Library {
        &self.library
    }

    fn lru(&self) -> MutexGuard<'_, Lru> {
        // A panic while holding the lock leaves a consistent map: every
        // mutation below is a single insert or remove.
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tags of the track at `path` (absolute) whose metadata is
    /// `meta`: from memory when its size and mtime are unchanged, else
    /// read from the file (a miss). Never fails: an unreadable file gives
    /// a [`TrackInfo`] with `readable == false`, logged once per change.
    pub fn track_info(&self, path: &Path, relative: &str, meta: &Metadata) -> Arc<TrackInfo> {
        let (size, mtime) = (meta.len(), mtime_ns(meta));
        {
            let mut lru = self.lru();
            lru.tick += 1;
            let tick = lru.tick;
            if let Some(slot) = lru.map.get_mut(path)
                && slot.size == size
                && slot.mtime_ns == mtime
            {
                let old = std::mem::replace(&mut slot.used, tick);
                let info = Arc::clone(&slot.info);
                if let Some(key) = lru.by_use.remove(&old) {
                    lru.by_use.insert(tick, key);
                }
                self.hits.fetch_add(1, Ordering::Relaxed);
                return info;
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(read_track_info(path, relative).unwrap_or_else(|e| {
            warn!("reading tags of {relative:?}: {e}; listing it by file name");
            TrackInfo {
                format: "unknown",
                ..TrackInfo::default()
            }
        }));
        if self.capacity > 0 {
            let mut lru = self.lru();
            lru.tick += 1;
            let tick = lru.tick;
            let key: Arc<Path> = Arc::from(path);
            if let Some(old) = lru.map.insert(
                Arc::clone(&key),
                Slot {
                    size,
                    mtime_ns: mtime,
                    used: tick,
                    info: Arc::clone(&info),
                },
            ) {
                lru.by_use.remove(&old.used);
            }
            lru.by_use.insert(tick, key);
            while lru.map.len() > self.capacity {
                let Some((_, oldest)) = lru.by_use.pop_first() else {
                    break;
                };
                lru.map.remove(&oldest);
            }
        }
        info
    }

    /// Hit and miss counts and the number of tracks held.
    pub fn stats(&self) -> MetadataStats {
        MetadataStats {
            entries: self.lru().map.len(),
            capacity: self.capacity,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Lists the folder at `url_path` (still percent-encoded; `""` is the
    /// root), reading the tags of every track in it.
    ///
    /// Errors: as for [`Library::resolve_dir`]; [`ResolveError::Io`] when
    /// the folder cannot be read.
    pub fn list(&self, url_path: &str) -> Result<Listing, ResolveError> {
        let dir = self.library.resolve_dir(url_path)?;
        let entries = self.library.entries(&dir).map_err(|err| ResolveError::Io {
            relative: dir.relative.clone(),
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
    fn dir_cover(&self, entry: &DirEntry) -> Option<CoverRef> {
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
    /// a folder (its art, else its first track's picture). `url_path` is
    /// still percent-encoded.
    ///
    /// Errors: [`ResolveError::NotFound`] when there is no cover, and as
    /// for [`Library::resolve`].
    pub fn cover(&self, url_path: &str) -> Result<CoverImage, ResolveError> {
        let (dir, track) = match self.library.resolve(url_path) {
            Ok(file) => {
                if !is_audio(&file.relative) {
                    return Err(ResolveError::NotFound);
                }
                let parent = file.relative.rsplit_once('/').map_or("", |(p, _)| p);
                let dir = LibraryDir {
                    relative: parent.to_owned(),
                    path: file
                        .path
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                };
                (dir, Some((file.path, file.relative, file.metadata)))
            }
            Err(ResolveError::NotFound) => (self.library.resolve_dir(url_path)?, None),
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
            relative: dir.relative.clone(),
            err,
        })?;
        if let Some(art) = folder_art(&entries) {
            let data = std::fs::read(&art.path).map_err(|err| ResolveError::Io {
                relative: art.relative.clone(),
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

    /// Folders and tracks whose name, title, artist, album or album artist
    /// contain every word of `query` (case and accents ignored), at most
    /// `limit` of each, in library order. Walks the whole tree; tags come
    /// from the metadata cache.
    pub fn search(&self, query: &str, limit: usize) -> SearchHits {
        let words: Vec<String> = fold(query).split_whitespace().map(str::to_owned).collect();
        let mut hits = SearchHits::default();
        if words.is_empty() || limit == 0 {
            return hits;
        }
        let matches = |hay: &str| words.iter().all(|w| hay.contains(w.as_str()));
        self.walk(|entry, folder_cover| {
            if entry.metadata.is_dir() {
                if matches(&fold(&entry.name)) {
                    if hits.dirs.len() < limit {
                        hits.dirs.push(DirItem { entry, cover: None });
                    } else {
                        hits.truncated = true;
                    }
                }
            } else if is_audio(&entry.name) {
                let info = self.track_info(&entry.path, &entry.relative, &entry.metadata);
                let mut hay = fold(&entry.name);
                for field in [&info.title, &info.artist, &info.album, &info.album_artist]
                    .into_iter()
                    .flatten()
                {
                    hay.push('\n');
                    hay.push_str(&fold(field));
                }
                if matches(&hay) {
                    if hits.tracks.len() < limit {
                        let cover = track_cover(&entry, &info, folder_cover);
                        hits.tracks.push(TrackItem { entry, info, cover });
                    } else {
                        hits.truncated = true;
                    }
                }
            }
            !(hits.truncated && hits.dirs.len() >= limit && hits.tracks.len() >= limit)
        });
        for d in &mut hits.dirs {
            d.cover = self.dir_cover(&d.entry);
        }
        hits
    }

    /// Reads the tags of every track into the metadata cache (up to its
    /// capacity), so the first search is as fast as the next. Meant for a
    /// background thread at start; logs what it did.
    pub fn scan(&self) {
        let started = Instant::now();
        let before = self.stats().misses;
        let (mut tracks, mut dirs) = (0u64, 0u64);
        self.walk(|entry, _| {
            if entry.metadata.is_dir() {
                dirs += 1;
            } else if is_audio(&entry.name) {
                tracks += 1;
                self.track_info(&entry.path, &entry.relative, &entry.metadata);
            }
            true
        });
        info!(
            "library scan: {tracks} tracks in {dirs} folders, {} read, in {:.1} s",
            self.stats().misses - before,
            started.elapsed().as_secs_f64()
        );
    }

    /// Visits every folder, audio file and playlist below the root, breadth first,
    /// folders in natural order. `visit(entry, folder_cover)` gets the
    /// folder art of the entry's folder and returns false to stop. Each
    /// folder is entered once even through symlinks, at most
    /// [`MAX_DEPTH`] deep.
    fn walk(&self, visit: impl FnMut(DirEntry, Option<&CoverRef>) -> bool) {
        let root = LibraryDir {
            relative: String::new(),
            path: self.library.root().to_path_buf(),
        };
        self.walk_from(root, visit);
    }

    /// [`Catalog::walk`] below `start` only.
    fn walk_from(
        &self,
        start: LibraryDir,
        mut visit: impl FnMut(DirEntry, Option<&CoverRef>) -> bool,
    ) {
        let mut seen = HashSet::new();
        let mut queue = std::collections::VecDeque::new();
        queue.push_back((start, 0usize));
        while let Some((dir, depth)) = queue.pop_front() {
            let Ok(meta) = std::fs::metadata(&dir.path) else {
                continue;
            };
            if !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            let Ok(mut entries) = self.library.entries(&dir) else {
                continue;
            };
            entries.sort_by(|a, b| natural_cmp(&a.name, &b.name));
            let folder_cover = folder_art(&entries).map(|art| CoverRef {
                path: dir.relative.clone(),
                version: version_of(&art.metadata),
            });
            for entry in entries {
                if entry.metadata.is_dir() {
                    if depth < MAX_DEPTH {
                        queue.push_back((
                            LibraryDir {
                                relative: entry.relative.clone(),
                                path: entry.path.clone(),
                            },
                            depth + 1,
                        ));
                    }
                } else if !is_audio(&entry.name) && !is_playlist(&entry.name) {
                    continue;
                }
                if !visit(entry, folder_cover.as_ref()) {
                    return;
                }
            }
        }
    }
}

impl Catalog {
    /// Every track in folder `relative` (decoded; `""` is the root) and
    /// below it: folder by folder, breadth first in natural order, each
    /// folder's tracks in album order (see [`sort_tracks`]). Tags are read
    /// through the metadata cache. No covers are looked up.
    ///
    /// Errors: as for [`Library::resolve_dir_relative`].
    pub fn tracks_under(&self, relative: &str) -> Result<Vec<TrackItem>, ResolveError> {
        let start = self.library.resolve_dir_relative(relative)?;
        let mut out = Vec::new();
        let mut folder: Vec<TrackItem> = Vec::new();
        let flush = |folder: &mut Vec<TrackItem>, out: &mut Vec<TrackItem>| {
            sort_tracks(folder);
            out.append(folder);
        };
        self.walk_from(start, |entry, _| {
            if entry.metadata.is_file() && is_audio(&entry.name) {
                if folder
                    .last()
                    .is_some_and(|t| parent_of(&t.entry.relative) != parent_of(&entry.relative))
                {
                    flush(&mut folder, &mut out);
                }
                let info = self.track_info(&entry.path, &entry.relative, &entry.metadata);
                folder.push(TrackItem {
                    entry,
                    info,
                    cover: None,
                });
            }
            true
        });
        flush(&mut folder, &mut out);
        Ok(out)
    }

    /// [`Catalog::playlist`] for a path that is already decoded.
    ///
    /// Errors: as for [`Catalog::playlist`].
    pub fn playlist_relative(&self, relative: &str) -> Result<PlaylistView, PlaylistError> {
        let file = self
            .library
            .resolve_relative(relative)
            .map_err(PlaylistError::NotFound)?;
        self.read_playlist(file)
    }
}

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
    pub relative: String,
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
    Io(std::io::Error),
}

impl Catalog {
    /// Every playlist in the library, in walk order.
    pub fn playlists(&self) -> Vec<DirEntry> {
        let mut out = Vec::new();
        self.walk(|entry, _| {
            if entry.metadata.is_file() && is_playlist(&entry.name) {
                out.push(entry);
            }
            true
        });
        out
    }

    /// Reads the playlist at `url_path` (still percent-encoded) and
    /// resolves its entries inside the root (see [`crate::playlist`]).
    ///
    /// Errors: [`PlaylistError::NotFound`] for a path that does not
    /// resolve to a `.m3u`/`.m3u8` file, [`PlaylistError::TooLarge`],
    /// [`PlaylistError::Io`] when it cannot be read.
    pub fn playlist(&self, url_path: &str) -> Result<PlaylistView, PlaylistError> {
        let file = self
            .library
            .resolve(url_path)
            .map_err(PlaylistError::NotFound)?;
        self.read_playlist(file)
    }

    fn read_playlist(
        &self,
        file: crate::library::LibraryFile,
    ) -> Result<PlaylistView, PlaylistError> {
        if !is_playlist(&file.relative) {
            return Err(PlaylistError::NotFound(ResolveError::NotFound));
        }
        if file.metadata.len() > playlist::MAX_PLAYLIST_BYTES {
            return Err(PlaylistError::TooLarge(file.metadata.len()));
        }
        let bytes = std::fs::read(&file.path).map_err(PlaylistError::Io)?;
        let m3u8 = file.relative.to_ascii_lowercase().ends_with(".m3u8");
        let parsed = playlist::parse(&playlist::decode(&bytes, m3u8));
        let file_name = file.relative.rsplit('/').next().unwrap_or_default();
        let name = parsed
            .name
            .clone()
            .unwrap_or_else(|| file_stem(file_name).to_owned());
        let entries = parsed
            .entries
            .into_iter()
            .map(|raw| {
                let track = match playlist::resolve(&self.library, &file.relative, &raw.location) {
                    Resolved::Track(f) if is_audio(&f.relative) => {
                        let f = *f;
                        let name = f.relative.rsplit('/').next().unwrap_or_default().to_owned();
                        let info = self.track_info(&f.path, &f.relative, &f.metadata);
                        let entry = DirEntry {
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

/// A track's cover: its own picture when it has one, else `folder_cover`.
fn track_cover(
    entry: &DirEntry,
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
fn folder_art(entries: &[DirEntry]) -> Option<&DirEntry> {
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
fn first_track(entries: &[DirEntry]) -> Option<&DirEntry> {
    entries
        .iter()
        .filter(|e| e.metadata.is_file() && is_audio(&e.name))
        .min_by(|a, b| natural_cmp(&a.name, &b.name))
}

/// Album order: disc (missing = 1), track number, then file name in
/// natural order; tracks without a number come after all numbered ones.
/// A track without a track-number tag takes the number its file name
/// starts with (`02 Aberrations.ogg`, `1-04 x.wav` as disc 1 track 4), so
/// an album whose formats carry tags unevenly still plays in order.
pub fn sort_tracks(tracks: &mut [TrackItem]) {
    tracks.sort_by(|a, b| {
        let key = |t: &TrackItem| match (t.info.disc, t.info.track) {
            (disc, Some(n)) => (disc.unwrap_or(1), n),
            (disc, None) => match number_from_name(&t.entry.name) {
                (name_disc, Some(n)) => (disc.or(name_disc).unwrap_or(1), n),
                _ => (u32::MAX, u32::MAX),
            },
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| natural_cmp(&a.entry.name, &b.entry.name))
    });
}

/// The (disc, track) numbers a file name starts with: `07 x` is track 7,
/// `2-03 x` or `2.03 x` disc 2 track 3. Four digits or more (a year) are
/// not a track number.
fn number_from_name(name: &str) -> (Option<u32>, Option<u32>) {
    let digits = |s: &str| -> Option<(u32, usize)> {
        let len = s.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 3 {
            return None;
        }
        Some((s[..len].parse().ok()?, len))
    };
    let Some((first, len)) = digits(name) else {
        return (None, None);
    };
    let rest = &name[len..];
    if let Some(after) = rest.strip_prefix('-').or_else(|| rest.strip_prefix('.'))
        && let Some((second, n)) = digits(after)
        && !after[n..].starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return (Some(first), Some(second));
    }
    if rest.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return (None, None);
    }
    (None, Some(first))
}

/// Compares names the way people count: runs of digits by value
/// ("2 x" < "10 x"), everything else without case; ties broken bytewise
/// so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> CmpOrdering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return CmpOrdering::Less,
            (Some(_), None) => return CmpOrdering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let take = |it: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut digits = String::new();
                    while let Some(c) = it.next_if(char::is_ascii_digit) {
                        digits.push(c);
                    }
                    digits
                };
                let (m, n) = (take(&mut x), take(&mut y));
                let (m, n) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                let ord = m.len().cmp(&n.len()).then_with(|| m.cmp(n));
                if ord != CmpOrdering::Equal {
                    return ord;
                }
            }
            (Some(c), Some(d)) => {
                let ord = c.to_lowercase().cmp(d.to_lowercase());
                if ord != CmpOrdering::Equal {
                    return ord;
                }
                x.next();
                y.next();
            }
        }
    }
}

/// Base letters of U+00C0..=U+017F (Latin-1 Supplement and Latin
/// Extended-A) after lower-casing, from their Unicode canonical
/// decompositions; `.` where there is none.
const LATIN_BASE: &[u8; 192] = b"aaaaaa.ceeeeiiii.nooooo..uuuuy..aaaaaa.ceeeeiiii.nooooo..uuuuy.y\
aaaaaaccccccccdd..eeeeeeeeeegggggggghh..iiiiiiii....jjkk.llllll.\
...nnnnnn...oooooo..rrrrrrsssssssstttt..uuuuuuuuuuuuwwyyyzzzzzz.";

/// Lower-cases `s` and strips accents, for matching: "Café Ölüm" and
/// "cafe olum" fold alike. Covers Latin letters with diacritics
/// (precomposed, or decomposed as macOS writes file names) and the usual
/// ligatures (æ, œ, ß); other scripts are only lower-cased.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            // Combining diacritical marks (NFD input).
            '\u{300}'..='\u{36f}' => {}
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ß' => out.push_str("ss"),
            'ĳ' => out.push_str("ij"),
            'þ' => out.push_str("th"),
            'ø' => out.push('o'),
            'ð' | 'đ' => out.push('d'),
            'ł' | 'ŀ' => out.push('l'),
            'ħ' => out.push('h'),
            'ı' => out.push('i'),
            '\u{c0}'..='\u{17f}' => match LATIN_BASE[c as usize - 0xc0] {
                b'.' => out.push(c),
                base => out.push(char::from(base)),
            },
            _ => out.push(c),
        }
    }
    out
}

/// The folder of `relative` (`""` for a file at the root).
pub fn parent_of(relative: &str) -> &str {
    relative.rsplit_once('/').map_or("", |(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_numbers_are_read_from_file_names_when_tags_have_none() {
        assert_eq!(number_from_name("02 Aberrations.ogg"), (None, Some(2)));
        assert_eq!(number_from_name("2-03 x.flac"), (Some(2), Some(3)));
        assert_eq!(number_from_name("1.04 - x.wav"), (Some(1), Some(4)));
        assert_eq!(number_from_name("07.flac"), (None, Some(7)));
        assert_eq!(number_from_name("1999 live.flac"), (None, None));
        assert_eq!(number_from_name("4ever.flac"), (None, None));
        assert_eq!(number_from_name("Intro.flac"), (None, None));
    }
    use std::path::PathBuf;

    #[test]
    fn natural_order_counts_numbers() {
        let mut v = vec![
            "10 Ten.flac",
            "2 two.flac",
            "1 One.flac",
            "b.flac",
            "A.flac",
            "02 b.flac",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "1 One.flac",
                "02 b.flac",
                "2 two.flac",
                "10 Ten.flac",
                "A.flac",
                "b.flac"
            ]
        );
        assert_eq!(natural_cmp("Disc 9", "Disc 10"), CmpOrdering::Less);
        assert_eq!(natural_cmp("a", "a"), CmpOrdering::Equal);
    }

    #[test]
    fn fold_strips_case_and_accents() {
        assert_eq!(fold("Café Ölüm"), "cafe olum");
        assert_eq!(fold("Cafe\u{301} O\u{308}lu\u{308}m"), "cafe olum");
        assert_eq!(fold("Straße Æon Łódź Øre"), "strasse aeon lodz ore");
        assert_eq!(fold("ŽLUŤOUČKÝ KŮŇ"), "zlutoucky kun");
        assert_eq!(fold("Ελληνικά"), "ελληνικά");
        assert_eq!(fold("日本語"), "日本語");
    }

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
