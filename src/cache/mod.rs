//! The on-disk cache of transcoded MP3s: keys, entries, the hard size
//! budget and least-recently-used eviction. Knows nothing of HTTP or of
//! how entries are produced.
//!
//! Layout: `<dir>/<key>.mp3` for complete entries, `<dir>/<key>.part` while
//! one is written; names come from the SHA-256 key only, never from user
//! text. An entry becomes visible only by `rename` after `fsync`, so a
//! power cut leaves either a complete entry or a `.part`, and `.part` files
//! are deleted at start.
//!
//! Budget: the bytes of all entries plus all reservations for in-flight
//! writes never exceed `budget_bytes`. A writer reserves its predicted size
//! before writing (evicting to make room), may grow the reservation, and
//! commits or abandons it.
//!
//! Recency: eviction takes the entry least recently *used* by a counter
//! bumped on every use (a hit, a new entry), in memory, so its order never
//! depends on the wall clock: a Raspberry Pi without a real-time clock
//! steps its clock at boot, and two uses within one clock tick are still
//! ordered. Across restarts the order is seeded from the entry files'
//! mtimes, which record the last use, rewritten at most once an hour per
//! entry (SD cards are mounted noatime and wear). Rules about age (what
//! [`Protected`] spares, [`Cache::clear`] by age) use those wall-clock
//! times, as they must.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

mod key;
mod lock;

pub use key::{FORMAT_VERSION, Key, KeyParts};
pub use lock::{DirLock, LockError, lock_dir, lock_holder};

/// How often a hit rewrites an entry's mtime, at most.
const TOUCH_INTERVAL: Duration = Duration::from_secs(3600);

/// What an entry holds; its file name ends in the kind's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A transcoded MP3 (`<key>.mp3`).
    Mp3,
    /// A scaled-down cover picture (`<key>.jpg`).
    Jpeg,
}

impl EntryKind {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            EntryKind::Mp3 => "mp3",
            EntryKind::Jpeg => "jpg",
        }
    }

    fn of_name(name: &str) -> Option<(EntryKind, &str)> {
        if let Some(stem) = name.strip_suffix(".mp3") {
            Some((EntryKind::Mp3, stem))
        } else {
            name.strip_suffix(".jpg")
                .map(|stem| (EntryKind::Jpeg, stem))
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    kind: EntryKind,
    size: u64,
    /// The use counter at its last use: the eviction order.
    use_seq: u64,
    /// When it was last used, by the wall clock: for rules about age.
    last_use: SystemTime,
    created: SystemTime,
    /// When the file's mtime was last written by us.
    touched: SystemTime,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// The use counter: the last [`Entry::use_seq`] handed out.
    uses: u64,
    used_bytes: u64,
    reserved_bytes: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
}

impl State {
    /// Bumps the use counter: the [`Entry::use_seq`] of a use now.
    fn next_use(&mut self) -> u64 {
        self.uses += 1;
        self.uses
    }
}

/// The cache's sizes and counters now (what `/admin/cache/stats`
/// reports, as `reports::CacheStats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of complete entries.
    pub size_bytes: u64,
    /// Bytes reserved by in-flight writes.
    pub reserved_bytes: u64,
    pub files: u64,
    pub budget_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

/// The transcode cache. Shared between threads as `Arc<Cache>`.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    budget_bytes: u64,
    state: Mutex<State>,
}

/// Room set aside in the budget for one in-flight write. Dropping it
/// without [`Cache::commit`] releases the room.
#[derive(Debug)]
pub struct Reservation {
    cache: Arc<Cache>,
    bytes: u64,
    /// Entries this reservation may not evict when it grows.
    protected: Option<Arc<Protected>>,
}

/// Entries a background writer (a warm job) must not evict to make room:
/// the ones it made itself, and any entry used (played or written) within
/// `recent`. Warming that would have to evict them stops instead of
/// thrashing the cache.
#[derive(Debug)]
pub struct Protected {
    keys: Mutex<HashSet<Key>>,
    recent: Duration,
}

impl Protected {
    /// Protects entries used within `recent`, plus those [`Protected::add`]ed.
    pub fn new(recent: Duration) -> Protected {
        Protected {
            keys: Mutex::new(HashSet::new()),
            recent,
        }
    }

    /// Protects `key` from now on.
    pub fn add(&self, key: Key) {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
    }

    fn spares(&self, key: &Key, entry: &Entry, now: SystemTime) -> bool {
        now.duration_since(entry.last_use)
            .map_or(true, |age| age < self.recent)
            || self
                .keys
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(key)
    }
}

/// What [`Cache::verify`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub checked: u64,
    /// Bytes of the entries checked.
    pub bytes: u64,
    /// Entries found broken and removed: key (hex) and why.
    pub removed: Vec<(String, String)>,
}

impl Reservation {
    /// Bytes currently reserved.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Grows the reservation to `total` bytes, evicting as needed.
    /// Returns false (reservation unchanged) if the budget cannot hold it.
    pub fn grow_to(&mut self, total: u64) -> bool {
        if total <= self.bytes {
            return true;
        }
        let extra = total - self.bytes;
        let mut st = self.cache.lock();
        if self
            .cache
            .make_room(&mut st, extra, self.protected.as_deref())
            .is_err()
        {
            return false;
        }
        st.reserved_bytes += extra;
        self.bytes = total;
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut st = self.cache.lock();
        st.reserved_bytes = st.reserved_bytes.saturating_sub(self.bytes);
    }
}

impl Cache {
    /// Opens (creating if needed) the cache in `dir` with a hard budget of
    /// `budget_bytes`: deletes leftover `.part` files, rebuilds sizes and
    /// use order from the directory, and evicts down to the budget if it
    /// shrank since the last run.
    ///
    /// Errors: the directory cannot be created or listed.
    pub fn open(dir: &Path, budget_bytes: u64) -> io::Result<Arc<Cache>> {
        fs::create_dir_all(dir)?;
        let mut st = State::default();
        for item in fs::read_dir(dir)? {
            let item = item?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".part") {
                match fs::remove_file(item.path()) {
                    Ok(()) => log::info!("cache: removed unfinished {name}"),
                    Err(e) => log::warn!("cache: cannot remove unfinished {name}: {e}"),
                }
                continue;
            }
            let Some((kind, key)) = EntryKind::of_name(name)
                .and_then(|(kind, stem)| Some((kind, Key::from_hex(stem)?)))
            else {
                continue;
            };
            let Ok(meta) = item.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let last_use = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            st.used_bytes += meta.len();
            st.entries.insert(
                key,
                Entry {
                    kind,
                    size: meta.len(),
                    use_seq: 0,
                    last_use,
                    created: meta.created().unwrap_or(last_use),
                    touched: last_use,
                },
            );
        }
        seed_use_order(&mut st);
        let cache = Arc::new(Cache {
            dir: dir.to_owned(),
            budget_bytes,
            state: Mutex::new(State::default()),
        });
        {
            let mut guard = cache.lock();
            *guard = st;
            if guard.used_bytes > budget_bytes {
                let _ = cache.make_room(&mut guard, 0, None);
            }
            log::info!(
                "cache: {} entries, {} of {} bytes in {}",
                guard.entries.len(),
                guard.used_bytes,
                budget_bytes,
                dir.display()
            );
        }
        Ok(cache)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters that are still
        // usable; never let it take the cache down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The directory entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hard budget, in bytes.
    pub fn budget_bytes(&self) -> u64 {
        self.budget_bytes
    }

    /// Path of the complete entry for `key` (whether or not it exists).
    pub fn entry_path(&self, key: &Key) -> PathBuf {
        self.file_of(key, EntryKind::Mp3)
    }

    fn file_of(&self, key: &Key, kind: EntryKind) -> PathBuf {
        self.dir.join(format!("{}.{}", key.hex(), kind.extension()))
    }

    /// Path of the in-flight file for `key`.
    pub fn part_path(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}.part", key.hex()))
    }

    /// Looks `key` up, counting a hit or a miss. On a hit, returns the
    /// entry's open file and records the use (rewriting the file's mtime
    /// at most once an hour).
    pub fn lookup(&self, key: &Key) -> Option<File> {
        // The file is opened outside the lock: every hit of every handler
        // thread takes it, and an open is a path walk in the kernel.
        let kind = {
            let mut st = self.lock();
            match st.entries.get(key) {
                Some(entry) => entry.kind,
                None => {
                    st.misses += 1;
                    return None;
                }
            }
        };
        let opened = File::open(self.file_of(key, kind));
        let mut guard = self.lock();
        let st = &mut *guard;
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                // Deleted behind our back: forget it.
                log::warn!("cache: entry {} vanished: {e}", key.hex());
                if let Some(entry) = st.entries.remove(key) {
                    st.used_bytes = st.used_bytes.saturating_sub(entry.size);
                }
                st.misses += 1;
                return None;
            }
        };
        st.hits += 1;
        // Evicted between the two locks: the open file is still whole.
        let Some(entry) = st.entries.get_mut(key) else {
            return Some(file);
        };
        let now = SystemTime::now();
        st.uses += 1;
        entry.use_seq = st.uses;
        entry.last_use = now;
        let touch = now
            .duration_since(entry.touched)
            .is_ok_and(|d| d >= TOUCH_INTERVAL);
        if touch {
            entry.touched = now;
        }
        drop(guard);
        if touch && let Err(e) = file.set_modified(now) {
            log::debug!("cache: cannot record use of {}: {e}", key.hex());
        }
        Some(file)
    }

    /// True if a complete entry exists for `key` (no hit or miss counted).
    pub fn contains(&self, key: &Key) -> bool {
        self.lock().entries.contains_key(key)
    }

    /// Reserves `bytes` for a new entry, evicting the least recently used
    /// entries to make room. `None` if the budget cannot hold it even empty
    /// of entries (the caller streams without caching).
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        let mut st = self.lock();
        self.make_room(&mut st, bytes, None).ok()?;
        st.reserved_bytes += bytes;
        Some(Reservation {
            cache: Arc::clone(self),
            bytes,
            protected: None,
        })
    }

    /// Like [`Cache::reserve`], but evicts only entries `protected` does not
    /// spare, here and whenever the reservation grows.
    ///
    /// Errors: the bytes still missing when every evictable entry is gone;
    /// nothing is evicted then.
    pub fn reserve_sparing(
        self: &Arc<Self>,
        bytes: u64,
        protected: &Arc<Protected>,
    ) -> Result<Reservation, u64> {
        let mut st = self.lock();
        self.make_room(&mut st, bytes, Some(protected))?;
        st.reserved_bytes += bytes;
        Ok(Reservation {
            cache: Arc::clone(self),
            bytes,
            protected: Some(Arc::clone(protected)),
        })
    }

    /// Bytes a writer sparing `protected` could still reserve: free room
    /// plus every entry it may evict.
    pub fn room_sparing(&self, protected: &Protected) -> u64 {
        let st = self.lock();
        let now = SystemTime::now();
        let kept: u64 = st
            .entries
            .iter()
            .filter(|(k, e)| protected.spares(k, e, now))
            .map(|(_, e)| e.size)
            .sum();
        self.budget_bytes
            .saturating_sub(st.reserved_bytes)
            .saturating_sub(kept)
    }

    /// Evicts least recently used entries (by the use counter) until
    /// `extra` more bytes fit, skipping any that `protected` spares.
    ///
    /// Errors: the bytes still missing when other reservations and spared
    /// entries hold the room; nothing is evicted then.
    fn make_room(
        &self,
        st: &mut State,
        extra: u64,
        protected: Option<&Protected>,
    ) -> Result<(), u64> {
        let now = SystemTime::now();
        let spared = |k: &Key, e: &Entry| protected.is_some_and(|p| p.spares(k, e, now));
        let kept: u64 = match protected {
            None => 0,
            Some(_) => st
                .entries
                .iter()
                .filter(|(k, e)| spared(k, e))
                .map(|(_, e)| e.size)
                .sum(),
        };
        let floor = st.reserved_bytes + kept + extra;
        if floor > self.budget_bytes {
            return Err(floor - self.budget_bytes);
        }
        while st.used_bytes + st.reserved_bytes + extra > self.budget_bytes {
            let Some((&key, &entry)) = st
                .entries
                .iter()
                .filter(|(k, e)| !spared(k, e))
                .min_by_key(|(_, e)| e.use_seq)
            else {
                return Err(st.used_bytes + st.reserved_bytes + extra - self.budget_bytes);
            };
            let path = self.file_of(&key, entry.kind);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    log::error!("cache: cannot evict {}: {e}", path.display());
                    return Err(st.used_bytes + st.reserved_bytes + extra - self.budget_bytes);
                }
            }
            st.entries.remove(&key);
            st.used_bytes = st.used_bytes.saturating_sub(entry.size);
            st.evictions += 1;
            log::debug!("cache: evicted {} ({} bytes)", key.hex(), entry.size);
        }
        Ok(())
    }

    /// Makes the written `.part` file for `key` the entry: fsyncs it,
    /// renames it into place and fsyncs the directory, then moves its size
    /// from the reservation to the entries. `file` is the written file.
    ///
    /// Errors: fsync or rename failures (the `.part` is removed; the
    /// reservation is released either way).
    pub fn commit(&self, reservation: Reservation, key: &Key, file: &File) -> io::Result<PathBuf> {
        let part = self.part_path(key);
        let entry = self.entry_path(key);
        let result = (|| {
            file.sync_all()?;
            let size = file.metadata()?.len();
            fs::rename(&part, &entry)?;
            File::open(&self.dir)?.sync_all()?;
            Ok(size)
        })();
        let size = match result {
            Ok(size) => size,
            Err(e) => {
                let _ = fs::remove_file(&part);
                return Err(e);
            }
        };
        self.admit(reservation, key, EntryKind::Mp3, size);
        Ok(entry)
    }

    /// Counts a file just renamed into place as the entry `key` of `size`
    /// bytes, in place of `reservation`: atomically under the lock, so the
    /// budget never counts both or neither.
    fn admit(&self, mut reservation: Reservation, key: &Key, kind: EntryKind, size: u64) {
        let now = SystemTime::now();
        let mut st = self.lock();
        st.reserved_bytes = st.reserved_bytes.saturating_sub(reservation.bytes);
        reservation.bytes = 0;
        let entry = Entry {
            kind,
            size,
            use_seq: st.next_use(),
            last_use: now,
            created: now,
            touched: now,
        };
        if let Some(old) = st.entries.insert(*key, entry) {
            st.used_bytes = st.used_bytes.saturating_sub(old.size);
        }
        st.used_bytes += size;
        // Release the lock before the (now empty) reservation's Drop takes it.
        drop(st);
        drop(reservation);
    }

    /// Stores a small entry of `kind` made in memory (a scaled cover),
    /// within the budget like any other: written as `.part`, synced and
    /// renamed. Returns false when the budget cannot hold it.
    ///
    /// Errors: writing or renaming the file fails (nothing is left).
    pub fn store_bytes(
        self: &Arc<Self>,
        key: &Key,
        kind: EntryKind,
        bytes: &[u8],
    ) -> io::Result<bool> {
        let Some(reservation) = self.reserve(bytes.len() as u64) else {
            return Ok(false);
        };
        let part = self.part_path(key);
        let entry = self.file_of(key, kind);
        let written = (|| {
            let mut f = File::create(&part)?;
            std::io::Write::write_all(&mut f, bytes)?;
            f.sync_all()?;
            fs::rename(&part, &entry)?;
            File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&part);
            return Err(e);
        }
        self.admit(reservation, key, kind, bytes.len() as u64);
        Ok(true)
    }

    /// Deletes entries last used more than `older_than` ago, or all when
    /// `None`. Returns (files deleted, bytes freed).
    pub fn clear(&self, older_than: Option<Duration>) -> (u64, u64) {
        let now = SystemTime::now();
        let mut st = self.lock();
        let victims: Vec<(Key, Entry)> = st
            .entries
            .iter()
            .filter(|(_, e)| {
                older_than.is_none_or(|age| now.duration_since(e.last_use).is_ok_and(|d| d > age))
            })
            .map(|(k, e)| (*k, *e))
            .collect();
        let (mut files, mut bytes) = (0, 0);
        for (key, entry) in victims {
            match fs::remove_file(self.file_of(&key, entry.kind)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    log::error!("cache: cannot delete {}: {e}", key.hex());
                    continue;
                }
            }
            st.entries.remove(&key);
            st.used_bytes = st.used_bytes.saturating_sub(entry.size);
            files += 1;
            bytes += entry.size;
        }
        (files, bytes)
    }

    /// Checks every complete entry with `check(path)` (which returns why
    /// an entry is broken) and removes the broken ones. Entries are
    /// checked without holding the cache lock, so serving goes on.
    pub fn verify(&self, mut check: impl FnMut(&Path) -> Result<(), String>) -> VerifyReport {
        // Pictures are not MP3s; a broken one only fails to decode.
        let snapshot: Vec<(Key, u64)> = self
            .lock()
            .entries
            .iter()
            .filter(|(_, e)| e.kind == EntryKind::Mp3)
            .map(|(k, e)| (*k, e.size))
            .collect();
        let mut report = VerifyReport::default();
        for (key, size) in snapshot {
            let path = self.entry_path(&key);
            report.checked += 1;
            report.bytes += size;
            let why = match check(&path) {
                Ok(()) => continue,
                Err(_) if !path.exists() => continue, // evicted meanwhile
                Err(why) => why,
            };
            log::warn!("cache: entry {} is broken ({why}); removing it", key.hex());
            let mut st = self.lock();
            if let Err(e) = fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                log::error!("cache: cannot remove {}: {e}", path.display());
                continue;
            }
            if let Some(old) = st.entries.remove(&key) {
                st.used_bytes = st.used_bytes.saturating_sub(old.size);
            }
            report.removed.push((key.hex(), why));
        }
        report
    }

    /// Current sizes and counters.
    pub fn stats(&self) -> Usage {
        let st = self.lock();
        Usage {
            size_bytes: st.used_bytes,
            reserved_bytes: st.reserved_bytes,
            files: st.entries.len() as u64,
            budget_bytes: self.budget_bytes,
            hits: st.hits,
            misses: st.misses,
            evictions: st.evictions,
        }
    }
}

/// Numbers the entries found at start in the order they were last used,
/// as their files' mtimes say (creation time breaking ties); uses from
/// now on count from there.
fn seed_use_order(st: &mut State) {
    let mut order: Vec<(SystemTime, SystemTime, Key)> = st
        .entries
        .iter()
        .map(|(k, e)| (e.last_use, e.created, *k))
        .collect();
    order.sort_by_key(|&(last_use, created, _)| (last_use, created));
    for (_, _, key) in order {
        let seq = st.next_use();
        if let Some(e) = st.entries.get_mut(&key) {
            e.use_seq = seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::Quality;
    use std::io::Write;

    fn key(n: u8) -> Key {
        Key::from_bytes([n; 32])
    }

    /// Writes a committed entry of `size` bytes for `key`.
    fn put(cache: &Arc<Cache>, k: &Key, size: u64) -> bool {
        let Some(r) = cache.reserve(size) else {
            return false;
        };
        let mut f = File::create(cache.part_path(k)).unwrap();
        f.write_all(&vec![0u8; size as usize]).unwrap();
        cache.commit(r, k, &f).unwrap();
        true
    }

    fn dir_bytes(dir: &Path) -> u64 {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    }

    #[test]
    fn keys_change_with_every_input_and_are_hex_file_names() {
        let base = KeyParts {
            relative: "A/b.flac",
            source_size: 10,
            source_mtime_ns: 5,
            quality: Quality::Medium,
            bitrate_kbps: 192,
            lame_algorithm: 3,
            max_art_bytes: 1 << 20,
        };
        let k = Key::new(&base);
        assert_eq!(k.hex().len(), 64);
        assert!(k.hex().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(Key::from_hex(&k.hex()), Some(k));
        for other in [
            KeyParts {
                relative: "A/c.flac",
                ..base.clone()
            },
            KeyParts {
                source_size: 11,
                ..base.clone()
            },
            KeyParts {
                source_mtime_ns: 6,
                ..base.clone()
            },
            KeyParts {
                quality: Quality::High,
                ..base.clone()
            },
            KeyParts {
                bitrate_kbps: 160,
                ..base.clone()
            },
            KeyParts {
                lame_algorithm: 2,
                ..base.clone()
            },
        ] {
            assert_ne!(Key::new(&other), k, "{other:?}");
        }
    }

    #[test]
    fn eviction_removes_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 300).unwrap();
        for n in 1..=3 {
            assert!(put(&cache, &key(n), 100));
        }
        // Use 1: now 2 is the least recently used.
        assert!(cache.lookup(&key(1)).is_some());
        assert!(put(&cache, &key(4), 100));
        assert!(cache.contains(&key(1)) && !cache.contains(&key(2)));
        assert!(!cache.entry_path(&key(2)).exists());
        assert_eq!(cache.stats().evictions, 1);
        assert!(dir_bytes(dir.path()) <= 300);
    }

    /// Sets the wall-clock time `key` was last used, as a clock that
    /// stepped would have stamped it.
    fn stamp(cache: &Cache, k: &Key, last_use: SystemTime) {
        if let Some(e) = cache.lock().entries.get_mut(k) {
            e.last_use = last_use;
        }
    }

    #[test]
    fn eviction_order_ignores_the_wall_clock() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 300).unwrap();
        for n in 1..=3 {
            assert!(put(&cache, &key(n), 100));
        }
        // The clock stepped between the uses: 1 looks used in the
        // future, 3 at the epoch. Use order alone decides.
        stamp(
            &cache,
            &key(1),
            SystemTime::now() + Duration::from_secs(86_400 * 365),
        );
        stamp(&cache, &key(3), SystemTime::UNIX_EPOCH);
        assert!(put(&cache, &key(4), 100));
        assert!(!cache.contains(&key(1)), "1 was used first");
        assert!(put(&cache, &key(5), 100));
        assert!(!cache.contains(&key(2)));
        assert!(cache.contains(&key(3)) && cache.contains(&key(4)) && cache.contains(&key(5)));
    }

    #[test]
    fn looking_an_entry_up_is_a_use_but_asking_whether_it_exists_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 300).unwrap();
        for n in 1..=3 {
            assert!(put(&cache, &key(n), 100));
        }
        assert!(cache.contains(&key(1)));
        assert!(cache.lookup(&key(2)).is_some());
        assert!(put(&cache, &key(4), 100));
        assert!(!cache.contains(&key(1)), "contains did not save 1");
        assert!(put(&cache, &key(5), 100));
        assert!(!cache.contains(&key(3)), "the lookup saved 2");
        assert!(cache.contains(&key(2)));
    }

    #[test]
    fn uses_after_a_restart_count_after_the_order_the_files_give() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cache = Cache::open(dir.path(), 1000).unwrap();
            for n in 1..=3 {
                put(&cache, &key(n), 100);
            }
            // On disk, 3 was used longest ago, then 1, then 2.
            let now = SystemTime::now();
            for (n, hours) in [(3, 3), (1, 2), (2, 1)] {
                File::options()
                    .write(true)
                    .open(cache.entry_path(&key(n)))
                    .unwrap()
                    .set_modified(now - Duration::from_secs(3600 * hours))
                    .unwrap();
            }
        }
        let cache = Cache::open(dir.path(), 300).unwrap();
        // Used now: after every entry found at start.
        assert!(cache.lookup(&key(3)).is_some());
        assert!(put(&cache, &key(4), 100));
        assert!(!cache.contains(&key(1)));
        assert!(put(&cache, &key(5), 100));
        assert!(!cache.contains(&key(2)));
        assert!(cache.contains(&key(3)));
    }

    #[test]
    fn reservations_count_against_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 1000).unwrap();
        let a = cache.reserve(600).unwrap();
        assert!(cache.reserve(500).is_none(), "600 + 500 > 1000");
        let mut b = cache.reserve(400).unwrap();
        assert!(!b.grow_to(401));
        drop(a);
        assert!(b.grow_to(900));
        assert!(cache.reserve(1001).is_none(), "larger than the budget");
        assert_eq!(cache.stats().reserved_bytes, 900);
    }

    #[test]
    fn restart_drops_parts_and_keeps_use_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cache = Cache::open(dir.path(), 1000).unwrap();
            put(&cache, &key(1), 100);
            put(&cache, &key(2), 100);
            let old = SystemTime::now() - Duration::from_secs(86_400);
            File::options()
                .write(true)
                .open(cache.entry_path(&key(2)))
                .unwrap()
                .set_modified(old)
                .unwrap();
            fs::write(cache.part_path(&key(3)), b"half").unwrap();
            fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
        }
        let cache = Cache::open(dir.path(), 150).unwrap();
        assert!(!cache.part_path(&key(3)).exists());
        // The budget shrank to 150: the entry used longest ago (2) went.
        assert!(cache.contains(&key(1)) && !cache.contains(&key(2)));
        assert!(dir.path().join("notes.txt").exists());
        assert_eq!(cache.stats().size_bytes, 100);
    }

    #[test]
    fn a_sparing_reservation_evicts_only_old_entries_it_does_not_protect() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 300).unwrap();
        for n in 1..=3 {
            assert!(put(&cache, &key(n), 100));
        }
        // 1 was last used two hours ago; 2 and 3 just now.
        cache.lock().entries.get_mut(&key(1)).unwrap().last_use =
            SystemTime::now() - Duration::from_secs(7200);
        let protected = Arc::new(Protected::new(Duration::from_secs(3600)));
        let r = cache.reserve_sparing(100, &protected).unwrap();
        assert!(!cache.contains(&key(1)), "the old entry made room");
        drop(r);
        // Only recent entries are left: nothing more may go, nothing does.
        assert_eq!(cache.room_sparing(&protected), 100);
        assert_eq!(cache.reserve_sparing(150, &protected).unwrap_err(), 50);
        assert!(cache.contains(&key(2)) && cache.contains(&key(3)));
        // Protected by key, even when old.
        cache.lock().entries.get_mut(&key(2)).unwrap().last_use =
            SystemTime::now() - Duration::from_secs(7200);
        protected.add(key(2));
        assert_eq!(cache.reserve_sparing(150, &protected).unwrap_err(), 50);
        // A plain reservation still evicts by LRU.
        assert!(cache.reserve(150).is_some());
        assert!(!cache.contains(&key(2)));
        assert_eq!(cache.stats().evictions, 2);
    }

    #[test]
    fn the_cache_lock_is_exclusive_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_dir(dir.path(), "serve", false).unwrap();
        match lock_dir(dir.path(), "warm", false) {
            Err(LockError::Held { holder }) => {
                assert_eq!(
                    holder,
                    format!("pid {} (tapedeck serve)", std::process::id())
                );
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        assert!(lock_dir(dir.path(), "warm", false).is_ok());
        // The lock file is not mistaken for an entry.
        let cache = Cache::open(dir.path(), 100).unwrap();
        assert_eq!(cache.stats().files, 0);
        assert!(dir.path().join(".lock").exists());
    }

    #[test]
    fn clear_by_age_and_all() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 1000).unwrap();
        put(&cache, &key(1), 100);
        put(&cache, &key(2), 50);
        assert_eq!(cache.clear(Some(Duration::from_secs(3600))), (0, 0));
        assert_eq!(cache.clear(None), (2, 150));
        assert_eq!(cache.stats().files, 0);
    }
}
