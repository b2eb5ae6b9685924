//! Walking the library: breadth first, folders in natural order, each
//! folder entered once (symlink cycles) and at most [`MAX_DEPTH`] deep.
//! Used by the start-up scan, search, warm jobs and the playlist list.

use super::order::{natural_cmp, sort_tracks};
use super::{Catalog, CoverRef, TrackItem, folder_art, is_audio, is_playlist, version_of};
use crate::library::{LibraryDir, LibraryEntry, RelPath, ResolveError};
use std::collections::{HashSet, VecDeque};
use std::os::unix::fs::MetadataExt;

/// Folders deeper than this below the root are not walked (a guard against
/// symlink cycles that the visited set does not catch).
const MAX_DEPTH: usize = 32;

impl Catalog {
    /// Visits every folder, audio file and playlist below the root, breadth first,
    /// folders in natural order. `visit(entry, folder_cover)` gets the
    /// folder art of the entry's folder and returns false to stop. Each
    /// folder is entered once even through symlinks, at most
    /// [`MAX_DEPTH`] deep.
    pub(super) fn walk(&self, visit: impl FnMut(LibraryEntry, Option<&CoverRef>) -> bool) {
        let root = LibraryDir {
            relative: RelPath::root(),
            path: self.library.root().to_path_buf(),
        };
        self.walk_from(root, visit);
    }

    /// [`Catalog::walk`] below `start` only.
    fn walk_from(
        &self,
        start: LibraryDir,
        mut visit: impl FnMut(LibraryEntry, Option<&CoverRef>) -> bool,
    ) {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::new();
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

    /// Every track in folder `relative` (the root included) and below it:
    /// folder by folder, breadth first in natural order, each folder's
    /// tracks in album order (see [`sort_tracks`]). Tags are read through
    /// the metadata cache. No covers are looked up.
    ///
    /// Errors: as for [`crate::library::Library::resolve_dir`].
    pub fn tracks_under(&self, relative: &RelPath) -> Result<Vec<TrackItem>, ResolveError> {
        let start = self.library.resolve_dir(relative)?;
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
                    .is_some_and(|t| t.entry.relative.parent() != entry.relative.parent())
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

    /// Every playlist in the library, in walk order.
    pub fn playlists(&self) -> Vec<LibraryEntry> {
        let mut out = Vec::new();
        self.walk(|entry, _| {
            if entry.metadata.is_file() && is_playlist(&entry.name) {
                out.push(entry);
            }
            true
        });
        out
    }
}
