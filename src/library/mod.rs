//! The music root as a safe file tree.
//!
//! Every path that names something in the library arrives as a
//! [`RelPath`] (checked segment by segment where it entered the program)
//! and goes through [`Library::resolve`] or [`Library::resolve_dir`] before
//! anything is opened: it is joined onto the canonical root, canonicalized
//! and checked again to lie inside the root (a symlink may lead elsewhere).
//! A client cannot tell a rejected path from a missing one, and never learns
//! where the root is on disk.

mod relpath;

use std::fmt;
use std::fs::{File, Metadata};
use std::io;
use std::path::{Component, Path, PathBuf};

pub use relpath::{PathRejected, RelPath};

/// The music root and the rules for reaching files below it.
#[derive(Debug, Clone)]
pub struct Library {
    root: PathBuf,
    follow_symlinks: bool,
}

/// A regular file inside the library, as it was when resolved. It is not
/// opened: a cache hit needs only its size and time (a Range reply of a
/// cached transcode is mostly syscalls); [`LibraryFile::open`] opens it.
#[derive(Debug)]
pub struct LibraryFile {
    /// Path relative to the root (for logs, cache keys and answers).
    pub relative: RelPath,
    /// Absolute canonical path on disk. Never sent to a client.
    pub path: PathBuf,
    pub metadata: Metadata,
}

impl LibraryFile {
    /// Opens the file; returns it with its metadata as of now (the file
    /// may have changed since it was resolved).
    ///
    /// Errors: [`ResolveError::NotFound`] when it is gone or no longer a
    /// regular file, [`ResolveError::Io`] for another failure.
    pub fn open(&self) -> Result<(File, Metadata), ResolveError> {
        let file = File::open(&self.path).map_err(|e| not_found_or_io(&self.relative, e))?;
        let metadata = file.metadata().map_err(|err| ResolveError::Io {
            relative: self.relative.to_string(),
            err,
        })?;
        if !metadata.is_file() {
            return Err(ResolveError::NotFound);
        }
        Ok((file, metadata))
    }
}

/// Why a path did not resolve to a servable file or folder.
#[derive(Debug)]
pub enum ResolveError {
    /// The path breaks a rule (traversal, dotfile, bad encoding, a symlink
    /// out of the root...). The reason is for the log only.
    Rejected(&'static str),
    /// Nothing servable is there (no such file, or the wrong kind).
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

impl From<PathRejected> for ResolveError {
    fn from(e: PathRejected) -> ResolveError {
        ResolveError::Rejected(e.0)
    }
}

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

    /// Opens the regular file at `relative`.
    ///
    /// Errors: [`ResolveError::Rejected`] for a symlink that is off or leads
    /// out of the root or into a hidden name, [`ResolveError::NotFound`]
    /// for a missing file or a directory, [`ResolveError::Io`] when the
    /// file exists but cannot be opened.
    pub fn resolve(&self, relative: &RelPath) -> Result<LibraryFile, ResolveError> {
        if relative.is_root() {
            return Err(ResolveError::NotFound);
        }
        let (canonical, seen) = self.locate_with_metadata(relative)?;
        let metadata = match seen {
            Some(m) => m,
            None => std::fs::metadata(&canonical).map_err(|e| not_found_or_io(relative, e))?,
        };
        if !metadata.is_file() {
            return Err(ResolveError::NotFound);
        }
        Ok(LibraryFile {
            relative: relative.clone(),
            path: canonical,
            metadata,
        })
    }

    /// Like [`Library::resolve`] for a directory; the root is one.
    ///
    /// Errors: as for [`Library::resolve`]; a file gives
    /// [`ResolveError::NotFound`].
    pub fn resolve_dir(&self, relative: &RelPath) -> Result<LibraryDir, ResolveError> {
        if relative.is_root() {
            return Ok(LibraryDir {
                relative: RelPath::root(),
                path: self.root.clone(),
            });
        }
        let canonical = self.locate(relative)?;
        match std::fs::metadata(&canonical) {
            Ok(m) if m.is_dir() => Ok(LibraryDir {
                relative: relative.clone(),
                path: canonical,
            }),
            Ok(_) => Err(ResolveError::NotFound),
            Err(e) => Err(not_found_or_io(relative, e)),
        }
    }

    /// The visible entries of `dir`: no dotfiles, no names that are not
    /// UTF-8 (a URL path could not name them), no symlinks when
    /// `follow_symlinks` is off, and no symlink leading outside the root or
    /// into a hidden directory. Unsorted.
    ///
    /// Errors: reading the directory itself fails.
    pub fn entries(&self, dir: &LibraryDir) -> io::Result<Vec<LibraryEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir.path)? {
            let Ok(entry) = entry else { continue };
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(relative) = dir.relative.join(&name) else {
                continue;
            };
            let Ok(file_type) = entry.file_type() else {
                continue;
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
            out.push(LibraryEntry {
                name,
                relative,
                path,
                metadata,
            });
        }
        Ok(out)
    }

    /// The canonical path of `relative`, refusing symlinks when they are
    /// off and anything that resolves outside the root or into a hidden
    /// name.
    fn locate(&self, relative: &RelPath) -> Result<PathBuf, ResolveError> {
        self.locate_with_metadata(relative).map(|(path, _)| path)
    }

    /// [`Library::locate`], with the metadata of what the path names when
    /// the walk saw it (no symlink on the way).
    fn locate_with_metadata(
        &self,
        relative: &RelPath,
    ) -> Result<(PathBuf, Option<Metadata>), ResolveError> {
        let mut candidate = self.root.clone();
        let mut through_symlink = false;
        let mut last = None;
        for segment in relative.segments() {
            candidate.push(segment);
            last = None;
            match std::fs::symlink_metadata(&candidate) {
                Ok(m) if m.file_type().is_symlink() => {
                    if !self.follow_symlinks {
                        return Err(ResolveError::Rejected(
                            "symlink while follow_symlinks = false",
                        ));
                    }
                    through_symlink = true;
                }
                Ok(m) => last = Some(m),
                Err(e) => return Err(not_found_or_io(relative, e)),
            }
        }
        // No symlink on the way: the root is canonical and every segment a
        // plain name (RelPath's rules), so the path is canonical already,
        // and one lstat per segment spared a readlink per component of the
        // whole absolute path (a cached Range reply's largest cost).
        if !through_symlink {
            return Ok((candidate, last));
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
        Ok((canonical, None))
    }
}

/// A directory inside the library.
#[derive(Debug, Clone)]
pub struct LibraryDir {
    /// Path relative to the root; the root itself for the root.
    pub relative: RelPath,
    /// Absolute canonical path on disk. Never sent to a client.
    pub path: PathBuf,
}

/// One visible entry of a library directory (see [`Library::entries`]).
#[derive(Debug, Clone)]
pub struct LibraryEntry {
    /// The file name.
    pub name: String,
    /// Path relative to the root.
    pub relative: RelPath,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(p: &str) -> RelPath {
        RelPath::new(p).unwrap()
    }

    #[test]
    fn resolve_finds_files_and_refuses_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("Album")).unwrap();
        std::fs::write(dir.path().join("Album/01 é.flac"), b"fLaC").unwrap();
        let lib = Library::new(dir.path(), true).unwrap();
        let f = lib.resolve(&rel("Album/01 é.flac")).unwrap();
        assert_eq!(f.relative, "Album/01 é.flac");
        assert_eq!(f.metadata.len(), 4);
        assert!(matches!(
            lib.resolve(&rel("Album")),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            lib.resolve(&RelPath::root()),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            lib.resolve(&rel("Album/nope.flac")),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            lib.resolve(&rel("Album/01 é.flac/x")),
            Err(ResolveError::NotFound)
        ));
        assert_eq!(lib.resolve_dir(&rel("Album")).unwrap().relative, "Album");
        assert!(
            lib.resolve_dir(&RelPath::root())
                .unwrap()
                .relative
                .is_root()
        );
        assert!(matches!(
            lib.resolve_dir(&rel("Album/01 é.flac")),
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
            lib.resolve(&rel("in.flac")).is_ok(),
            "a link inside the root is followed"
        );
        assert!(matches!(
            lib.resolve(&rel("out.txt")),
            Err(ResolveError::Rejected(_))
        ));
        assert!(matches!(
            lib.resolve(&rel("outdir/secret.txt")),
            Err(ResolveError::Rejected(_))
        ));
        assert!(matches!(
            lib.resolve(&rel("peek/p.flac")),
            Err(ResolveError::Rejected(_))
        ));

        let strict = Library::new(&root, false).unwrap();
        assert!(matches!(
            strict.resolve(&rel("in.flac")),
            Err(ResolveError::Rejected(_))
        ));
        assert!(strict.resolve(&rel("Album/a.flac")).is_ok());
    }
}
