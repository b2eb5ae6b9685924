//! The demo library: what tapedeck serves when it is started with no music
//! directory at all, so the README's first command works on a fresh
//! machine and shows the player, transcoding and the Subsonic API doing
//! something.
//!
//! It is used only when the built-in default (`~/Music`) is missing and no
//! root was given; a root given with `--music` or `library.root` that does
//! not exist stays an error (see `config`). It is four short tagged tracks,
//! gentle chords, in the three formats people have most (FLAC, WAV, MP3),
//! in one album folder with a cover, all computed here at first start: a
//! FLAC writer of our own ([`flac`]), a WAV writer and the picture
//! ([`sound`]), and tapedeck's own transcoder for the MP3, which so carries
//! the tags and cover the way every transcode does. About 2.2 MB on disk,
//! written once (0.3 s on an x86-64 desktop, syncs included); a few MB of
//! memory while it is made, one track at a time, handed back after.
//!
//! It lives in the cache directory (`<cache dir>/demo-library`): it can be
//! made again at any time, which is what a cache is for, and that directory
//! is one tapedeck may write to even under the systemd unit's
//! `ProtectSystem=strict`. It is written into a temporary directory beside
//! it and renamed into place when complete, so a start killed half-way
//! never leaves half a library that the next start would serve as whole;
//! the last file written lists every file and its size, and a library that
//! does not match it (a file deleted, truncated, or an older demo) is made
//! again.

mod flac;
mod sound;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::transcode;

/// The demo library's directory name in the cache directory.
pub const DIR_NAME: &str = "demo-library";
/// The album folder inside it.
pub const ALBUM_DIR: &str = "tapedeck - Demo Chords";
pub const ARTIST: &str = "tapedeck";
pub const ALBUM: &str = "Demo Chords";
/// The list of files written last (a dotfile: the library never serves it).
const MANIFEST: &str = ".tapedeck-demo";
/// The manifest's first line. Change it when the demo changes, and every
/// library made before is made again.
const MANIFEST_HEADER: &str = "tapedeck demo library 1";
/// Seconds of each track.
const TRACK_S: f64 = 4.0;
/// A temporary directory older than this is a start that died.
const STALE_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Flac,
    Wav,
    Mp3,
}

struct Track {
    number: u32,
    chord: &'static str,
    notes_hz: [f64; 3],
    format: Format,
}

/// I-vi-IV-V in C, one chord a track, in the three formats.
const TRACKS: [Track; 4] = [
    Track {
        number: 1,
        chord: "C major",
        notes_hz: [261.63, 329.63, 392.00],
        format: Format::Flac,
    },
    Track {
        number: 2,
        chord: "A minor",
        notes_hz: [220.00, 261.63, 329.63],
        format: Format::Wav,
    },
    Track {
        number: 3,
        chord: "F major",
        notes_hz: [174.61, 220.00, 261.63],
        format: Format::Mp3,
    },
    Track {
        number: 4,
        chord: "G major",
        notes_hz: [196.00, 246.94, 293.66],
        format: Format::Flac,
    },
];

impl Track {
    fn title(&self) -> String {
        let format = match self.format {
            Format::Flac => "FLAC",
            Format::Wav => "WAV",
            Format::Mp3 => "MP3",
        };
        format!("{} ({format})", self.chord)
    }

    fn file_name(&self) -> String {
        let ext = match self.format {
            Format::Flac => "flac",
            Format::Wav => "wav",
            Format::Mp3 => "mp3",
        };
        format!("{:02} {}.{ext}", self.number, self.chord)
    }
}

/// Where the demo library lives for the cache directory `cache_dir`.
pub fn location(cache_dir: &Path) -> PathBuf {
    cache_dir.join(DIR_NAME)
}

/// Whether [`ensure`] found the library or had to make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Found,
    Made,
}

/// Why the demo library could not be made.
#[derive(Debug)]
pub enum DemoError {
    /// A file or directory could not be written (or renamed, or removed).
    Io { path: PathBuf, err: io::Error },
    /// Encoding the MP3 track failed.
    Transcode(transcode::TranscodeError),
    /// Encoding the cover failed.
    Cover(String),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Io { path, err } => {
                write!(f, "writing the demo library at {}: {err}", path.display())
            }
            DemoError::Transcode(e) => write!(f, "making the demo library's MP3: {e}"),
            DemoError::Cover(e) => write!(f, "making the demo library's cover: {e}"),
        }
    }
}

impl std::error::Error for DemoError {}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> DemoError + '_ {
    move |err| DemoError::Io {
        path: path.to_owned(),
        err,
    }
}

/// Makes sure a complete demo library is at `dir`: leaves one that matches
/// its manifest alone, else writes a new one beside it and swaps it in.
///
/// Errors: [`DemoError::Io`] when the parent directory cannot be created
/// or written; the others are not expected (everything encoded is made
/// here).
pub fn ensure(dir: &Path) -> Result<Ensured, DemoError> {
    if is_complete(dir) {
        return Ok(Ensured::Found);
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_at(parent))?;
    remove_stale_temporaries(dir);
    let temp = sibling(dir, "part");
    if temp.exists() {
        remove_tree(&temp)?;
    }
    let written = write_library(&temp);
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&temp);
        return Err(e);
    }
    let old = sibling(dir, "old");
    if dir.exists() {
        fs::rename(dir, &old).map_err(io_at(dir))?;
    }
    if let Err(err) = fs::rename(&temp, dir) {
        let _ = fs::remove_dir_all(&temp);
        // Another start may have put a complete library in the meantime.
        if is_complete(dir) {
            let _ = fs::remove_dir_all(&old);
            return Ok(Ensured::Made);
        }
        return Err(DemoError::Io {
            path: dir.to_owned(),
            err,
        });
    }
    sync_dir(parent);
    if old.exists() {
        remove_tree(&old)?;
    }
    release_freed_memory();
    Ok(Ensured::Made)
}

/// glibc keeps the megabytes freed after making the library (PCM and
/// encoded tracks, one at a time) in its heap for reuse; a server that
/// will not need them again hands them back (measured on x86-64, RSS
/// after a first start: 8.6 MB without this, 6.7 MB with it; 6.0 MB after
/// a start that found the library).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it
    // takes the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether `dir` holds every file its manifest lists, at the listed sizes,
/// and the manifest is this version's.
pub fn is_complete(dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(dir.join(MANIFEST)) else {
        return false;
    };
    let mut lines = text.lines();
    if lines.next() != Some(MANIFEST_HEADER) {
        return false;
    }
    let mut files = 0;
    for line in lines {
        let Some((size, name)) = line.split_once(' ') else {
            return false;
        };
        let Ok(size) = size.parse::<u64>() else {
            return false;
        };
        match fs::metadata(dir.join(name)) {
            Ok(m) if m.is_file() && m.len() == size => files += 1,
            _ => return false,
        }
    }
    files == TRACKS.len() + 1
}

/// `<dir>.<what>-<pid>`: this process's own temporary beside `dir`.
fn sibling(dir: &Path, what: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{what}-{}", std::process::id()));
    dir.with_file_name(name)
}

/// Removes the temporaries of starts that died while making the library.
fn remove_stale_temporaries(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str()))
    else {
        return;
    };
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let prefixes = [format!("{name}.part-"), format!("{name}.old-")];
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(entry_name) = file_name.to_str() else {
            continue;
        };
        if !prefixes.iter().any(|p| entry_name.starts_with(p.as_str())) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if stale && let Err(e) = fs::remove_dir_all(entry.path()) {
            log::warn!("cannot remove {}: {e}", entry.path().display());
        }
    }
}

fn remove_tree(path: &Path) -> Result<(), DemoError> {
    fs::remove_dir_all(path).map_err(io_at(path))
}

/// Writes the whole library into `root` (which must not exist), the
/// manifest last.
fn write_library(root: &Path) -> Result<(), DemoError> {
    let album = root.join(ALBUM_DIR);
    fs::create_dir_all(&album).map_err(io_at(&album))?;
    let mut manifest = format!("{MANIFEST_HEADER}\n");
    let mut record = |relative: String, bytes: &[u8]| -> Result<(), DemoError> {
        write_synced(&root.join(&relative), bytes)?;
        manifest.push_str(&format!("{} {relative}\n", bytes.len()));
        Ok(())
    };

    // The cover first: the MP3's transcode embeds the folder's cover.
    let cover = sound::cover_jpeg().map_err(DemoError::Cover)?;
    record(format!("{ALBUM_DIR}/cover.jpg"), &cover)?;
    for track in &TRACKS {
        let pcm = sound::chord(&track.notes_hz, TRACK_S);
        let relative = format!("{ALBUM_DIR}/{}", track.file_name());
        let bytes = match track.format {
            Format::Flac => flac_of(track, &pcm),
            Format::Wav => {
                let (title, number) = (track.title(), track.number.to_string());
                sound::wav(
                    &pcm,
                    sound::CHANNELS as u16,
                    sound::SAMPLE_RATE_HZ,
                    &[
                        (b"INAM", title.as_str()),
                        (b"IART", ARTIST),
                        (b"IPRD", ALBUM),
                        (b"ITRK", number.as_str()),
                    ],
                )
            }
            Format::Mp3 => mp3_of(track, &pcm, &album)?,
        };
        record(relative, &bytes)?;
    }
    write_synced(&root.join(MANIFEST), manifest.as_bytes())?;
    sync_dir(&album);
    sync_dir(root);
    Ok(())
}

fn flac_of(track: &Track, pcm: &[i16]) -> Vec<u8> {
    let (title, number) = (track.title(), track.number.to_string());
    let total = TRACKS.len().to_string();
    flac::encode(
        pcm,
        sound::CHANNELS,
        sound::SAMPLE_RATE_HZ,
        concat!("tapedeck ", env!("CARGO_PKG_VERSION")),
        &[
            ("TITLE", title.as_str()),
            ("ARTIST", ARTIST),
            ("ALBUMARTIST", ARTIST),
            ("ALBUM", ALBUM),
            ("TRACKNUMBER", number.as_str()),
            ("TRACKTOTAL", total.as_str()),
            ("GENRE", "Demo"),
        ],
    )
}

/// The MP3 is what tapedeck makes of a FLAC: written beside the cover
/// under a hidden name, transcoded at 128 kbit/s, then removed.
fn mp3_of(track: &Track, pcm: &[i16], album: &Path) -> Result<Vec<u8>, DemoError> {
    let source = album.join(format!(".source-{}.flac", track.number));
    write_synced(&source, &flac_of(track, pcm))?;
    let opts = transcode::Options {
        bitrate_kbps: 128,
        lame_algorithm: 3,
        max_art_bytes: transcode::Options::DEFAULT_MAX_ART_BYTES,
    };
    let mut mp3 = Vec::new();
    let result = transcode::transcode(&source, &track.file_name(), &mut mp3, &opts, |_, _| {});
    fs::remove_file(&source).map_err(io_at(&source))?;
    result.map_err(DemoError::Transcode)?;
    Ok(mp3)
}

/// Writes `bytes` to a new file at `path` and syncs it: the rename that
/// publishes the library must not reach the disk before its files.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    let mut f = File::create(path).map_err(io_at(path))?;
    f.write_all(bytes).map_err(io_at(path))?;
    f.sync_all().map_err(io_at(path))
}

/// Syncs a directory's entries; a file system that cannot is not an error
/// (the worst case is a library made again after a power cut).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests;
