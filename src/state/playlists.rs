//! Playlists users make in their apps, kept as plain M3U8 files under
//! `<state dir>/playlists/<user>/<number>.m3u8`: a person can copy them
//! out, and any player on the Pi reads them (entries are absolute paths
//! inside the music root). The library's own playlists stay read-only.
//!
//! Besides the `#EXTM3U` header and `#PLAYLIST:` name, tapedeck writes its
//! own `#TAPEDECK-COMMENT:`, `#TAPEDECK-PUBLIC:` and `#TAPEDECK-CREATED:`
//! lines, which players skip as unknown directives. Every change is
//! written to a temporary file, synced and renamed over the old one (then
//! the directory is synced), one change at a time: after a power cut a
//! playlist is the old one or the new one, never half of each.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::millis;

/// Longest playlist file read, in bytes (about 10 000 entries).
const MAX_BYTES: u64 = 4 << 20;

/// A user's playlist as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPlaylist {
    pub owner: String,
    /// Its number, unique for the owner (the file name).
    pub number: u64,
    pub name: String,
    pub comment: Option<String>,
    pub public: bool,
    pub created: SystemTime,
    pub changed: SystemTime,
    /// Entries as written: absolute paths (normally inside the music root).
    pub entries: Vec<String>,
}

/// What an `updatePlaylist` changes.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub name: Option<String>,
    pub comment: Option<String>,
    pub public: Option<bool>,
    /// Entries to append.
    pub add: Vec<String>,
    /// 0-based indexes (of the playlist before the change) to remove.
    pub remove: Vec<usize>,
}

/// Every user's playlists.
pub struct UserPlaylists {
    dir: PathBuf,
    /// One change at a time, so two clients editing one playlist each see
    /// the other's change.
    edits: Mutex<()>,
}

fn valid_owner(owner: &str) -> bool {
    !owner.is_empty()
        && !owner.starts_with('.')
        && !owner.contains(['/', '\\', '\0'])
        && !owner.chars().any(char::is_control)
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

impl UserPlaylists {
    /// The playlists under `dir` (created on the first write).
    pub fn new(dir: PathBuf) -> UserPlaylists {
        UserPlaylists {
            dir,
            edits: Mutex::new(()),
        }
    }

    fn file(&self, owner: &str, number: u64) -> Option<PathBuf> {
        valid_owner(owner).then(|| self.dir.join(owner).join(format!("{number}.m3u8")))
    }

    /// The playlist `number` of `owner`, or `None` when there is none.
    ///
    /// Errors: it exists but cannot be read.
    pub fn get(&self, owner: &str, number: u64) -> io::Result<Option<UserPlaylist>> {
        let Some(path) = self.file(owner, number) else {
            return Ok(None);
        };
        read(&path, owner, number)
    }

    /// Every playlist of `owner`, by number (oldest first).
    pub fn of(&self, owner: &str) -> Vec<UserPlaylist> {
        let Some(dir) = valid_owner(owner).then(|| self.dir.join(owner)) else {
            return Vec::new();
        };
        let mut numbers: Vec<u64> = fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| {
                    let name = e.ok()?.file_name();
                    name.to_str()?.strip_suffix(".m3u8")?.parse().ok()
                })
                .collect()
            })
            .unwrap_or_default();
        numbers.sort_unstable();
        numbers
            .into_iter()
            .filter_map(|n| match self.get(owner, n) {
                Ok(p) => p,
                Err(e) => {
                    log::warn!("playlist {owner}/{n}: {e}");
                    None
                }
            })
            .collect()
    }

    /// Every owner with a playlist directory.
    pub fn owners(&self) -> Vec<String> {
        let mut out: Vec<String> = fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|o| valid_owner(o))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Creates a playlist of `owner` named `name` holding `entries`.
    ///
    /// Errors: it cannot be written (nothing is left behind).
    pub fn create(
        &self,
        owner: &str,
        name: &str,
        entries: Vec<String>,
    ) -> io::Result<UserPlaylist> {
        let _edit = self.edits.lock().unwrap_or_else(|e| e.into_inner());
        if !valid_owner(owner) {
            return Err(io::Error::other("not a user name a directory can hold"));
        }
        let now = SystemTime::now();
        // A number no other playlist of this owner has: the time in ms,
        // moved on while taken.
        let mut number = u64::try_from(millis(now)).unwrap_or(0);
        while self.file(owner, number).is_some_and(|p| p.exists()) {
            number += 1;
        }
        let p = UserPlaylist {
            owner: owner.to_owned(),
            number,
            name: one_line(name),
            comment: None,
            public: false,
            created: now,
            changed: now,
            entries,
        };
        self.write(&p)?;
        Ok(p)
    }

    /// Replaces the entries of `owner`'s playlist `number` (and its name
    /// when given): `createPlaylist` with an ID.
    ///
    /// Errors: [`io::ErrorKind::NotFound`] when there is no such playlist,
    /// else a read or write failure (the old playlist stays).
    pub fn replace(
        &self,
        owner: &str,
        number: u64,
        name: Option<&str>,
        entries: Vec<String>,
    ) -> io::Result<UserPlaylist> {
        self.edit(owner, number, |p| {
            if let Some(n) = name {
                p.name = one_line(n);
            }
            p.entries = entries;
        })
    }

    /// Applies `change` to `owner`'s playlist `number`.
    ///
    /// Errors: as for [`UserPlaylists::replace`].
    pub fn update(&self, owner: &str, number: u64, change: Change) -> io::Result<UserPlaylist> {
        self.edit(owner, number, |p| {
            if let Some(n) = &change.name {
                p.name = one_line(n);
            }
            if let Some(c) = &change.comment {
                let c = one_line(c);
                p.comment = (!c.is_empty()).then_some(c);
            }
            if let Some(public) = change.public {
                p.public = public;
            }
            let mut i = 0;
            p.entries.retain(|_| {
                let keep = !change.remove.contains(&i);
                i += 1;
                keep
            });
            p.entries.extend(change.add.iter().cloned());
        })
    }

    fn edit(
        &self,
        owner: &str,
        number: u64,
        f: impl FnOnce(&mut UserPlaylist),
    ) -> io::Result<UserPlaylist> {
        let _edit = self.edits.lock().unwrap_or_else(|e| e.into_inner());
        let mut p = self
            .get(owner, number)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        f(&mut p);
        p.changed = SystemTime::now();
        self.write(&p)?;
        Ok(p)
    }

    /// Deletes `owner`'s playlist `number`; false when there was none.
    ///
    /// Errors: it could not be removed.
    pub fn delete(&self, owner: &str, number: u64) -> io::Result<bool> {
        let _edit = self.edits.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = self.file(owner, number) else {
            return Ok(false);
        };
        match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    File::open(dir)?.sync_all()?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `p` whole: a temporary file, synced, renamed into place,
    /// then the directory synced.
    fn write(&self, p: &UserPlaylist) -> io::Result<()> {
        let path = self
            .file(&p.owner, p.number)
            .ok_or_else(|| io::Error::other("not a user name a directory can hold"))?;
        let dir = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(dir)?;
        let mut text = format!("#EXTM3U\n#PLAYLIST:{}\n", p.name);
        if let Some(c) = &p.comment {
            text.push_str(&format!("#TAPEDECK-COMMENT:{c}\n"));
        }
        text.push_str(&format!(
            "#TAPEDECK-PUBLIC:{}\n#TAPEDECK-CREATED:{}\n",
            p.public,
            millis(p.created)
        ));
        for e in &p.entries {
            text.push_str(e);
            text.push('\n');
        }
        let tmp = dir.join(format!(".{}.m3u8.tmp", p.number));
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

fn read(path: &Path, owner: &str, number: u64) -> io::Result<Option<UserPlaylist>> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.len() > MAX_BYTES {
        return Err(io::Error::other(format!(
            "{} bytes; at most {MAX_BYTES} are read",
            meta.len()
        )));
    }
    let text = crate::playlist::decode(&fs::read(path)?, true);
    let changed = meta.modified().unwrap_or(UNIX_EPOCH);
    let mut p = UserPlaylist {
        owner: owner.to_owned(),
        number,
        name: number.to_string(),
        comment: None,
        public: false,
        created: changed,
        changed,
        entries: Vec::new(),
    };
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("#PLAYLIST:") {
            p.name = name.trim().to_owned();
        } else if let Some(c) = line.strip_prefix("#TAPEDECK-COMMENT:") {
            p.comment = Some(c.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("#TAPEDECK-PUBLIC:") {
            p.public = v.trim() == "true";
        } else if let Some(v) = line.strip_prefix("#TAPEDECK-CREATED:") {
            if let Ok(ms) = v.trim().parse::<u64>() {
                p.created = UNIX_EPOCH + Duration::from_millis(ms);
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            p.entries.push(line.to_owned());
        }
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_update_and_delete_round_trip_through_plain_m3u8() {
        let dir = tempfile::tempdir().unwrap();
        let lists = UserPlaylists::new(dir.path().join("playlists"));
        let p = lists
            .create(
                "anna",
                "Road\ntrip",
                vec!["/m/a.flac".into(), "/m/b.flac".into()],
            )
            .unwrap();
        assert_eq!(p.name, "Road trip");
        let change = Change {
            comment: Some("for the car".into()),
            public: Some(true),
            add: vec!["/m/c.flac".into()],
            remove: vec![0],
            ..Change::default()
        };
        let q = lists.update("anna", p.number, change).unwrap();
        assert_eq!(q.entries, ["/m/b.flac", "/m/c.flac"]);
        let read = lists.get("anna", p.number).unwrap().unwrap();
        assert_eq!(
            (read.comment.as_deref(), read.public, read.entries.len()),
            (Some("for the car"), true, 2)
        );
        assert_eq!(millis(read.created), millis(p.created));
        let text = fs::read_to_string(dir.path().join(format!("playlists/anna/{}.m3u8", p.number)))
            .unwrap();
        assert!(text.starts_with("#EXTM3U\n#PLAYLIST:Road trip\n"), "{text}");
        assert_eq!(lists.of("anna").len(), 1);
        assert!(lists.of("ben").is_empty());
        assert!(lists.delete("anna", p.number).unwrap());
        assert!(lists.get("anna", p.number).unwrap().is_none());
        assert!(!lists.delete("anna", p.number).unwrap());
    }

    #[test]
    fn owners_that_are_not_directory_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lists = UserPlaylists::new(dir.path().to_owned());
        for bad in ["", "..", "a/b", ".hidden"] {
            assert!(lists.create(bad, "x", Vec::new()).is_err(), "{bad:?}");
            assert!(lists.get(bad, 1).unwrap().is_none());
        }
    }
}
