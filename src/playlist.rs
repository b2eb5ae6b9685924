//! M3U and M3U8 playlists in the library: parsing and resolving entries to
//! tracks inside the music root.
//!
//! Accepted: plain and extended M3U (`#EXTM3U`, `#EXTINF:<seconds>,<title>`,
//! `#PLAYLIST:<name>`; other `#` lines are comments), CRLF or LF line ends,
//! UTF-8 (with or without a BOM; always for `.m3u8`) or, for an `.m3u` that
//! is not valid UTF-8, Latin-1 (as Winamp wrote them). An entry is a path
//! relative to the playlist's folder, an absolute path (used only when it
//! lies under the music root), or a `file://` URL; backslashes are taken as
//! folder separators. Entries that are missing, remote (`http://`...) or
//! outside the root are reported as missing and never opened.

use std::path::{Component, Path};

// A `file://` entry is a URI written in the playlist file (RFC 8089), so
// its path is percent-encoded there; this is the one place that decodes
// one, and what it yields still goes through `RelPath` and the resolver.
use percent_encoding::percent_decode_str;

use crate::library::{Library, LibraryFile, RelPath, ResolveError};

/// Playlists larger than this are refused: no real one comes near it.
pub const MAX_PLAYLIST_BYTES: u64 = 4 * 1024 * 1024;

/// One entry as written in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEntry {
    /// The location line, trimmed.
    pub location: String,
    /// `#EXTINF` title, when given.
    pub title: Option<String>,
    /// `#EXTINF` duration in seconds, when given and not -1.
    pub duration_s: Option<f64>,
}

/// A parsed playlist file.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// `#PLAYLIST:` name, when given.
    pub name: Option<String>,
    pub entries: Vec<RawEntry>,
}

/// Decodes playlist bytes: UTF-8 when they are (a BOM is dropped), else
/// Latin-1 for `.m3u` (each byte is the code point of the same value).
/// An `.m3u8` is UTF-8 by definition; invalid sequences become U+FFFD.
pub fn decode(bytes: &[u8], m3u8: bool) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) if m3u8 => String::from_utf8_lossy(bytes).into_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parses the text of an M3U/M3U8 file (see the module docs).
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed {
        name: None,
        entries: Vec::new(),
    };
    let mut pending: Option<(Option<f64>, Option<String>)> = None;
    for line in text.lines() {
        let line = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        if line.is_empty() {
            continue;
        }
        if let Some(info) = line.strip_prefix("#EXTINF:") {
            // "#EXTINF:<seconds>[ attributes],<title>"
            let (head, title) = info.split_once(',').unwrap_or((info, ""));
            let secs = head
                .split_whitespace()
                .next()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| *s >= 0.0 && s.is_finite());
            let title = Some(title.trim().to_owned()).filter(|t| !t.is_empty());
            pending = Some((secs, title));
            continue;
        }
        if let Some(name) = line.strip_prefix("#PLAYLIST:") {
            parsed.name = Some(name.trim().to_owned()).filter(|n| !n.is_empty());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (duration_s, title) = pending.take().unwrap_or((None, None));
        parsed.entries.push(RawEntry {
            location: line.to_owned(),
            title,
            duration_s,
        });
    }
    parsed
}

/// Where an entry leads.
#[derive(Debug)]
pub enum Resolved {
    /// A file inside the music root.
    Track(Box<LibraryFile>),
    /// Nothing playable; the reason is for the listing.
    Missing(&'static str),
}

/// Resolves `entry` of the playlist at `playlist` to a file inside the
/// root, or says why not.
pub fn resolve(library: &Library, playlist: &RelPath, entry: &str) -> Resolved {
    let location = entry.trim();
    let lower = location.to_ascii_lowercase();
    let path: String = if let Some(rest) = lower.strip_prefix("file://").map(|_| &location[7..]) {
        // file:///abs/path or file://localhost/abs/path
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        match String::from_utf8(percent_decode_str(rest).collect()) {
            Ok(p) => p,
            Err(_) => return Resolved::Missing("not valid UTF-8"),
        }
    } else if lower.contains("://") {
        return Resolved::Missing("a remote stream, not a library file");
    } else {
        location.replace('\\', "/")
    };
    let relative = if path.starts_with('/') {
        match Path::new(&path).strip_prefix(library.root()) {
            Ok(inside) => match inside.to_str() {
                Some(s) => s.to_owned(),
                None => return Resolved::Missing("not valid UTF-8"),
            },
            Err(_) => return Resolved::Missing("outside the music root"),
        }
    } else if path.len() > 1 && path.as_bytes()[1] == b':' {
        return Resolved::Missing("a Windows drive path");
    } else {
        format!("{}/{path}", playlist.parent())
    };
    // Fold "." and ".." lexically; climbing above the root is refused
    // before anything on disk is looked at.
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(&relative).components() {
        match c {
            Component::Normal(s) => match s.to_str() {
                Some(s) => parts.push(s),
                None => return Resolved::Missing("not valid UTF-8"),
            },
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Resolved::Missing("outside the music root");
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    if parts.is_empty() {
        return Resolved::Missing("an empty path");
    }
    let relative = match RelPath::new(&parts.join("/")) {
        Ok(r) => r,
        Err(why) => return Resolved::Missing(why.0),
    };
    match library.resolve(&relative) {
        Ok(file) => Resolved::Track(Box::new(file)),
        Err(ResolveError::NotFound) => Resolved::Missing("no such file"),
        Err(ResolveError::Rejected(why)) => Resolved::Missing(why),
        Err(ResolveError::Io { .. }) => Resolved::Missing("cannot be read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_m3u_with_crlf_titles_and_comments() {
        let p = parse(
            "\u{feff}#EXTM3U\r\n#PLAYLIST:Evening\r\n#EXTINF:123,Artist - Song\r\na.flac\r\n\r\n# a comment\r\n#EXTINF:-1,Stream\r\nb.mp3\r\nc.ogg\r\n",
        );
        assert_eq!(p.name.as_deref(), Some("Evening"));
        assert_eq!(
            p.entries,
            [
                RawEntry {
                    location: "a.flac".into(),
                    title: Some("Artist - Song".into()),
                    duration_s: Some(123.0)
                },
                RawEntry {
                    location: "b.mp3".into(),
                    title: Some("Stream".into()),
                    duration_s: None
                },
                RawEntry {
                    location: "c.ogg".into(),
                    title: None,
                    duration_s: None
                },
            ]
        );
    }

    #[test]
    fn plain_m3u_is_just_locations() {
        let p = parse("x/1.flac\n  x/2.flac  \n");
        assert_eq!(p.name, None);
        let locs: Vec<&str> = p.entries.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(locs, ["x/1.flac", "x/2.flac"]);
    }

    #[test]
    fn encodings() {
        assert_eq!(decode("Café.flac".as_bytes(), false), "Café.flac");
        assert_eq!(decode(b"\xEF\xBB\xBFa", true), "a");
        // Latin-1 "Café" in a .m3u.
        assert_eq!(decode(b"Caf\xE9.flac", false), "Café.flac");
        assert_eq!(decode(b"Caf\xE9.flac", true), "Caf\u{FFFD}.flac");
    }
}
