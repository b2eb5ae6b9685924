//! The music root as a safe file tree.
//!
//! Every path a client sends goes through [`Library::resolve`] before anything
//! is opened: it is percent-decoded once as UTF-8, checked segment by segment
//! (no `..`, no dotfiles, no backslashes, no NUL), joined onto the canonical
//! root, canonicalized and checked again to lie inside the root. A client
//! cannot tell a rejected path from a missing one, and never learns where the
//! root is on disk.

use std::fmt;
use std::fs::{File, Metadata};
use std::io;
use std::path::{Component, Path, PathBuf};

use percent_encoding::percent_decode_str;

/// The music root and the rules for reaching files below it.
#[derive(Debug, Clone)]
pub struct Library {
    root: PathBuf,
    follow_symlinks: bool,
}

/// A regular file inside the library, opened.
#[derive(Debug)]
pub struct LibraryFile {
    /// Path relative to the root, `/`-separated, as the client named it
    /// (for logs and cache keys).
    pub relative: String,
    /// Absolute canonical path on disk. Never sent to a client.
    pub path: PathBuf,
    pub file: File,
    pub metadata: Metadata,
}

/// Why a path did not resolve to a servable file.
#[derive(Debug)]
pub enum ResolveError {
    /// The path breaks a rule (traversal, dotfile, bad encoding, a symlink
    /// out of the root...). The reason is for the log only.
    Rejected(&'static str),
    /// Nothing servable is there (no such file, or a directory).
    NotFound,
    /// The file is there but could not be opened or examined.
    Io { relative: String, err: io::Error },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Rejected(why) => write!(f, "path rejected: {why}"),
            ResolveError::NotFound => f.write_str("no such file in the library"),
            ResolveError::Io { relative, err } => write!(f, "opening {relative:?}: {err}"),
        }
    }
}

impl std::error::Error for ResolveError {}

impl Library {
    /// A library rooted at `root`, which is canonicalized here.
    ///
    /// Errors: whatever `canonicalize` reports (missing root, permissions).
    pub fn new(root: &Path, follow_symlinks: bool) -> io::Result<Library> {
        Ok(Library {
            root: std::fs::canonicalize(root)?,
            follow_symlinks,
        })
    }

    /// The canonical music root. Never put it in a response.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Turns a still-percent-encoded URL path (the part after the route
    /// prefix, e.g. `Artist/Album/01%20Song.flac`) into an opened regular
    /// file inside the root.
    ///
    /// Errors: [`ResolveError::Rejected`] for any path that breaks a rule,
    /// [`ResolveError::NotFound`] for a missing file or a directory,
    /// [`ResolveError::Io`] when the file exists but cannot be opened.
    pub fn resolve(&self, url_path: &str) -> Result<LibraryFile, ResolveError> {
        self.resolve_relative(&decode_relative(url_path)?)
    }

    /// Like [`Library::resolve`] for a path that is already decoded
    /// (`Artist/Album/01 Song.flac`), under the same segment rules.
    ///
    /// Errors: as for [`Library::resolve`].
    pub fn resolve_relative(&self, relative: &str) -> Result<LibraryFile, ResolveError> {
        let relative = check_relative(relative.to_owned())?;
        let canonical = self.locate(&relative)?;
        let file = File::open(&canonical).map_err(|e| not_found_or_io(&relative, e))?;
        let metadata = file.metadata().map_err(|err| ResolveError::Io {
            relative: relative.clone(),
            err,
        })?;
        if !metadata.is_file() {
            return Err(ResolveError::NotFound);
        }
        Ok(LibraryFile {
            relative,
            path: canonical,
            file,
            metadata,
        })
    }

    /// Like [`Library::resolve`] for a directory: `""` is the root.
    ///
    /// Errors: as for [`Library::resolve`]; a file gives
    /// [`ResolveError::NotFound`].
    pub fn resolve_dir(&self, url_path: &str) -> Result<LibraryDir, ResolveError> {
        self.resolve_dir_relative(&percent_decode_utf8(url_path)?)
    }

    /// Like [`Library::resolve_dir`] for a path that is already decoded;
    /// `""` is the root.
    ///
    /// Errors: as for [`Library::resolve_dir`].
    pub fn resolve_dir_relative(&self, relative: &str) -> Result<LibraryDir, ResolveError> {
        let relative = relative.trim_end_matches('/');
        if relative.is_empty() {
            return Ok(LibraryDir {
                relative: String::new(),
                path: self.root.clone(),
            });
        }
        let relative = check_relative(relative.to_owned())?;
        let canonical = self.locate(&relative)?;
        match std::fs::metadata(&canonical) {
            Ok(m) if m.is_dir() => Ok(LibraryDir {
                relative,
                path: canonical,
            }),
            Ok(_) => Err(ResolveError::NotFound),
            Err(e) => Err(not_found_or_io(&relative, e)),
        }
    }

    /// The visible entries of `dir`: no dotfiles, no names that are not
    /// UTF-8 (a URL path could not name them), no symlinks when
    /// `follow_symlinks` is off, and no symlink leading outside the root or
    /// into a hidden directory. Unsorted.
    ///
    /// Errors: reading the directory itself fails.
    pub fn entries(&self, dir: &LibraryDir) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir.path)? {
            let Ok(entry) = entry else { continue };
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || name.contains('\\') || name.chars().any(char::is_control) {
                continue;
            }
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let relative = if dir.relative.is_empty() {
                name.clone()
            } else {
                format!("{}/{name}", dir.relative)
            };
            let path = if file_type.is_symlink() {
                if !self.follow_symlinks {
                    continue;
                }
                match self.locate(&relative) {
                    Ok(p) => p,
                    Err(_) => continue,
                }
            } else {
                entry.path()
            };
            let Ok(metadata) = (if file_type.is_symlink() {
                std::fs::metadata(&path)
            } else {
                entry.metadata()
            }) else {
                continue;
            };
            if !(metadata.is_dir() || metadata.is_file()) {
                continue;
            }
            out.push(DirEntry {
                name,
                relative,
                path,
                metadata,
            });
        }
        Ok(out)
    }

    /// The canonical path of `relative` (already decoded and checked by
    /// [`decode_relative`]), refusing symlinks when they are off and
    /// anything that resolves outside the root or into a hidden name.
    fn locate(&self, relative: &str) -> Result<PathBuf, ResolveError> {
        let mut candidate = self.root.clone();
        for segment in relative.split('/') {
            candidate.push(segment);
            if !self.follow_symlinks {
                match std::fs::symlink_metadata(&candidate) {
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(ResolveError::Rejected(
                            "symlink while follow_symlinks = false",
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(not_found_or_io(relative, e)),
                }
            }
        }
        let canonical =
            std::fs::canonicalize(&candidate).map_err(|e| not_found_or_io(relative, e))?;
        let inside = canonical
            .strip_prefix(&self.root)
            .map_err(|_| ResolveError::Rejected("resolves outside the music root"))?;
        // A symlink inside the root may still lead into a dot-directory.
        if inside.components().any(|c| match c {
            Component::Normal(name) => name.as_encoded_bytes().starts_with(b"."),
            _ => true,
        }) {
            return Err(ResolveError::Rejected(
                "resolves into a hidden file or directory",
            ));
        }
        Ok(canonical)
    }
}

/// A directory inside the library.
#[derive(Debug, Clone)]
pub struct LibraryDir {
    /// Path relative to the root, `/`-separated; `""` for the root.
    pub relative: String,
    /// Absolute canonical path on disk. Never sent to a client.
    pub path: PathBuf,
}

/// One visible entry of a library directory (see [`Library::entries`]).
#[derive(Debug)]
pub struct DirEntry {
    /// The file name.
    pub name: String,
    /// Path relative to the root, `/`-separated.
    pub relative: String,
    /// Absolute path on disk (canonical for a followed symlink).
    pub path: PathBuf,
    /// The metadata of what the entry leads to (a file or a directory).
    pub metadata: Metadata,
}

/// A file's modification time in nanoseconds since the Unix epoch: the
/// precision cache keys, ETags and the metadata cache compare at.
pub fn mtime_ns(meta: &Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt;
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

fn not_found_or_io(relative: &str, err: io::Error) -> ResolveError {
    match err.kind() {
        // ENOTDIR: a segment in the middle is a file. Permission errors are
        // reported as missing too, so nothing is learnt about the tree.
        io::ErrorKind::NotFound
        | io::ErrorKind::NotADirectory
        | io::ErrorKind::PermissionDenied
        | io::ErrorKind::InvalidFilename => ResolveError::NotFound,
        _ if err.raw_os_error() == Some(libc::ELOOP) => ResolveError::Rejected("symlink loop"),
        _ => ResolveError::Io {
            relative: relative.to_owned(),
            err,
        },
    }
}

/// Percent-decodes `url_path` once as UTF-8 and checks every segment.
/// Returns the relative path, `/`-separated.
///
/// Rules: the result must be valid UTF-8 (which also refuses overlong
/// encodings such as `%c0%ae`), non-empty, not absolute, and every segment
/// must be non-empty, must not start with `.` (refusing `.`, `..` and
/// dotfiles), and must not contain a backslash, NUL or other control
/// character. Decoding happens exactly once, so `%252e%252e` stays the
/// literal name `%2e%2e`.
pub fn decode_relative(url_path: &str) -> Result<String, ResolveError> {
    check_relative(percent_decode_utf8(url_path)?)
}

/// Percent-decodes `url_path`, without the segment rules.
fn percent_decode_utf8(url_path: &str) -> Result<String, ResolveError> {
    let bytes: Vec<u8> = percent_decode_str(url_path).collect();
    String::from_utf8(bytes).map_err(|_| ResolveError::Rejected("not valid UTF-8"))
}

/// The segment rules of [`decode_relative`], on a decoded path.
fn check_relative(decoded: String) -> Result<String, ResolveError> {
    if decoded.is_empty() {
        return Err(ResolveError::Rejected("empty path"));
    }
    if decoded.starts_with('/') {
        return Err(ResolveError::Rejected("absolute path"));
    }
    for segment in decoded.split('/') {
        if segment.is_empty() {
            return Err(ResolveError::Rejected("empty path segment"));
        }
        if segment.starts_with('.') {
            return Err(ResolveError::Rejected("dot segment or hidden file"));
        }
        if segment.contains('\\') {
            return Err(ResolveError::Rejected("backslash"));
        }
        if segment.chars().any(char::is_control) {
            return Err(ResolveError::Rejected("NUL or control character"));
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_accepts_plain_and_non_ascii_names() {
        for (raw, want) in [
            ("a.flac", "a.flac"),
            ("Artist/Album/01%20Song.flac", "Artist/Album/01 Song.flac"),
            (
                "Caf%C3%A9/%E6%97%A5%E6%9C%AC%E8%AA%9E.flac",
                "Café/日本語.flac",
            ),
            ("%F0%9F%8E%B5.mp3", "🎵.mp3"),
            ("100%25%20pure.flac", "100% pure.flac"),
            ("a+b.flac", "a+b.flac"),
            ("x..y.flac", "x..y.flac"),
        ] {
            assert_eq!(decode_relative(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn decode_refuses_every_trick() {
        for raw in [
            "..",
            "../x",
            "a/../b",
            "%2e%2e/x",
            "%2E%2E/x",
            "..%2fx",
            "a%2f..%2fx",
            ".%2e/x",
            "./x",
            "/etc/passwd",
            "%2fetc%2fpasswd",
            "a//b",
            "a/",
            "",
            "..%5cx",
            "a\\b",
            "%00",
            "a%00.flac",
            "%c0%ae%c0%ae/x",
            "%e0%80%ae%e0%80%ae/x",
            "%c0%af",
            ".hidden.flac",
            "a/.git/config",
            "%ff.flac",
            "a%0ab.flac",
        ] {
            assert!(
                matches!(decode_relative(raw), Err(ResolveError::Rejected(_))),
                "{raw:?} must be rejected"
            );
        }
    }

    #[test]
    fn double_encoding_is_decoded_once_only() {
        assert_eq!(decode_relative("%252e%252e/x").unwrap(), "%2e%2e/x");
    }

    #[test]
    fn resolve_finds_files_and_refuses_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("Album")).unwrap();
        std::fs::write(dir.path().join("Album/01 é.flac"), b"fLaC").unwrap();
        let lib = Library::new(dir.path(), true).unwrap();
        let f = lib.resolve("Album/01%20%C3%A9.flac").unwrap();
        assert_eq!(f.relative, "Album/01 é.flac");
        assert_eq!(f.metadata.len(), 4);
        assert!(matches!(lib.resolve("Album"), Err(ResolveError::NotFound)));
        assert!(matches!(
            lib.resolve("Album/nope.flac"),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            lib.resolve("Album/01%20%C3%A9.flac/x"),
            Err(ResolveError::NotFound)
        ));
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("music");
        std::fs::create_dir_all(root.join("Album")).unwrap();
        std::fs::create_dir(root.join(".private")).unwrap();
        std::fs::write(outer.path().join("secret.txt"), b"secret").unwrap();
        std::fs::write(root.join("Album/a.flac"), b"fLaC").unwrap();
        std::fs::write(root.join(".private/p.flac"), b"fLaC").unwrap();
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, root.join(name)).unwrap()
        };
        link(&outer.path().join("secret.txt"), "out.txt");
        link(outer.path(), "outdir");
        link(&root.join("Album/a.flac"), "in.flac");
        link(&root.join(".private"), "peek");

        let lib = Library::new(&root, true).unwrap();
        assert!(
            lib.resolve("in.flac").is_ok(),
            "a link inside the root is followed"
        );
        assert!(matches!(
            lib.resolve("out.txt"),
            Err(ResolveError::Rejected(_))
        ));
        assert!(matches!(
            lib.resolve("outdir/secret.txt"),
            Err(ResolveError::Rejected(_))
        ));
        assert!(matches!(
            lib.resolve("peek/p.flac"),
            Err(ResolveError::Rejected(_))
        ));

        let strict = Library::new(&root, false).unwrap();
        assert!(matches!(
            strict.resolve("in.flac"),
            Err(ResolveError::Rejected(_))
        ));
        assert!(strict.resolve("Album/a.flac").is_ok());
    }
}
