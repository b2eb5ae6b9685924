//! [`RelPath`]: a path relative to the music root that has passed the
//! segment rules once, where it entered the program (the router decodes a
//! URL into one, the CLI builds one from an argument, a playlist from an
//! entry). Everything below the boundary takes a `RelPath`, so no code
//! there decodes or re-checks a path, and no unchecked string can reach
//! the resolver.

use std::fmt;
use std::ops::Deref;

/// A path relative to the music root, `/`-separated and not encoded:
/// every segment is non-empty, does not start with `.` (no `.`, `..` or
/// dotfiles), and holds no backslash, NUL or other control character.
/// The empty path is the root itself.
///
/// Holding one guarantees nothing about the disk: [`super::Library`] still
/// resolves it (symlinks, existence) before anything is opened.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

/// Why a path was refused (for the log only: a client cannot tell a
/// refused path from a missing one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRejected(pub &'static str);

impl fmt::Display for PathRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "path rejected: {}", self.0)
    }
}

impl std::error::Error for PathRejected {}

impl RelPath {
    /// The music root itself.
    pub fn root() -> RelPath {
        RelPath(String::new())
    }

    /// Checks `path` (already decoded) against the segment rules; `""` is
    /// the root.
    ///
    /// Errors: [`PathRejected`] naming the rule broken: absolute path,
    /// empty segment (`a//b`, a trailing `/`), dot segment or hidden file,
    /// backslash, NUL or control character.
    pub fn new(path: &str) -> Result<RelPath, PathRejected> {
        if path.is_empty() {
            return Ok(RelPath::root());
        }
        if path.starts_with('/') {
            return Err(PathRejected("absolute path"));
        }
        for segment in path.split('/') {
            check_segment(segment)?;
        }
        Ok(RelPath(path.to_owned()))
    }

    /// True for the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as text (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The folder holding this path (the root for a top-level name and for
    /// the root itself).
    pub fn parent(&self) -> RelPath {
        RelPath(self.0.rsplit_once('/').map_or("", |(p, _)| p).to_owned())
    }

    /// The last segment (`""` for the root).
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }

    /// This path with one more segment.
    ///
    /// Errors: `name` breaks a segment rule (it may not contain `/`).
    pub fn join(&self, name: &str) -> Result<RelPath, PathRejected> {
        if name.contains('/') {
            return Err(PathRejected("a name with a slash"));
        }
        check_segment(name)?;
        Ok(RelPath(if self.0.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.0)
        }))
    }

    /// The segments in order (none for the root).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }
}

fn check_segment(segment: &str) -> Result<(), PathRejected> {
    if segment.is_empty() {
        return Err(PathRejected("empty path segment"));
    }
    if segment.starts_with('.') {
        return Err(PathRejected("dot segment or hidden file"));
    }
    if segment.contains('\\') {
        return Err(PathRejected("backslash"));
    }
    if segment.chars().any(char::is_control) {
        return Err(PathRejected("NUL or control character"));
    }
    Ok(())
}

impl Deref for RelPath {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl PartialEq<str> for RelPath {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for RelPath {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl serde::Serialize for RelPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_non_ascii_names() {
        for p in [
            "a.flac",
            "Artist/Album/01 Song.flac",
            "Café/日本語.flac",
            "🎵.mp3",
            "100% pure.flac",
            "%2e%2e/x",
            "x..y.flac",
        ] {
            assert_eq!(RelPath::new(p).unwrap().as_str(), p);
        }
        assert!(RelPath::new("").unwrap().is_root());
    }

    #[test]
    fn refuses_every_segment_trick() {
        for p in [
            "..",
            "../x",
            "a/../b",
            "./x",
            "/etc/passwd",
            "a//b",
            "a/",
            "a\\b",
            "a\0.flac",
            ".hidden.flac",
            "a/.git/config",
            "a\nb.flac",
        ] {
            assert!(RelPath::new(p).is_err(), "{p:?} must be rejected");
        }
    }

    #[test]
    fn parent_name_and_join() {
        let p = RelPath::new("Artist/Album/01 x.flac").unwrap();
        assert_eq!(p.parent(), "Artist/Album");
        assert_eq!(p.name(), "01 x.flac");
        assert!(RelPath::new("x.flac").unwrap().parent().is_root());
        assert!(RelPath::root().parent().is_root());
        assert_eq!(RelPath::root().join("a").unwrap(), "a");
        assert_eq!(
            p.parent().join("02 y.flac").unwrap(),
            "Artist/Album/02 y.flac"
        );
        for bad in ["..", "", "a/b", ".x"] {
            assert!(RelPath::root().join(bad).is_err(), "{bad:?}");
        }
        assert_eq!(p.segments().count(), 3);
        assert_eq!(RelPath::root().segments().count(), 0);
    }
}
