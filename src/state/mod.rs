//! Listening state: play counts, stars, ratings, bookmarks and saved play
//! queues, per user, in an LMDB environment (through `heed`) under the
//! state directory (`<state dir>/listening/`). Playlists users make are
//! M3U8 files beside it ([`playlists`]); "now playing" lives in memory.
//!
//! Crash safety comes from LMDB: a commit writes new pages, syncs them,
//! then flips a meta page and syncs that, so after a `kill -9` or a power
//! cut the store is at the last commit that returned, whole. Every write
//! here commits before it returns, so an answer that says "saved" is on
//! disk. Reads never write, and a plain stream writes nothing.
//!
//! LMDB's own locking (a lock file of robust process-shared mutexes) is
//! off (`MDB_NOLOCK`): musl refuses robust mutexes where the kernel's
//! `get_robust_list` is missing, as under qemu-user, and one process is
//! the only user anyway. In its place: an exclusive `flock` on the
//! environment directory (a second server on the same state directory is
//! refused), and one mutex around every transaction, so that no read is
//! open while a write reuses pages (what LMDB asks of `MDB_NOLOCK`
//! users). Transactions here are microseconds long.
//!
//! Keys are the user name, a 0 byte and the SHA-256 of the item's ID (IDs
//! name paths, which can be longer than LMDB's 511-byte keys); the values
//! are small JSON records that carry the ID itself. An item is a song, an
//! album or an artist by its Subsonic ID, so a renamed or moved file loses
//! its state.

pub mod playlists;

pub use playlists::UserPlaylists;

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The environment's maximum size: LMDB maps it whole into the address
/// space, so 32-bit Pis get less. Plays are kept per song, not per event:
/// 100 000 songs played by three users take about 30 MB.
#[cfg(target_pointer_width = "64")]
const MAP_SIZE: usize = 1 << 30;
#[cfg(not(target_pointer_width = "64"))]
const MAP_SIZE: usize = 128 << 20;

/// How long a "now playing" report stays listed without a new one.
const NOW_PLAYING_FOR: Duration = Duration::from_secs(15 * 60);

/// A store that could not be opened, read or written.
#[derive(Debug)]
pub enum StoreError {
    /// LMDB or the file system failed; the message names the store.
    Io(String),
    /// Another process has the store open.
    InUse(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io(what) | StoreError::InUse(what) => {
                write!(f, "listening state: {what}")
            }
        }
    }
}

impl std::error::Error for StoreError {}

impl From<heed::Error> for StoreError {
    fn from(e: heed::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// Play count and last play of one song, for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Play {
    pub id: String,
    pub count: u64,
    /// Milliseconds since the Unix epoch.
    pub last_ms: i64,
}

/// When one item was starred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Star {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// A user's rating of one item, 1 to 5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    pub id: String,
    pub rating: u8,
}

/// A position saved in a song.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    pub id: String,
    pub position_ms: u64,
    pub comment: Option<String>,
    pub created_ms: i64,
    pub changed_ms: i64,
}

/// A saved play queue (one per user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayQueue {
    /// Song IDs in play order.
    pub ids: Vec<String>,
    /// The song playing when it was saved.
    pub current: Option<String>,
    /// Its place in `ids` (a song may be queued twice; OpenSubsonic
    /// `indexBasedQueue`).
    #[serde(default)]
    pub current_index: Option<usize>,
    /// Milliseconds into `current`.
    pub position_ms: u64,
    pub changed_ms: i64,
    /// The client that saved it (Subsonic `c`).
    pub changed_by: String,
}

/// Someone playing something now (in memory only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NowPlaying {
    pub user: String,
    pub id: String,
    pub client: String,
    pub since: SystemTime,
}

/// What one user's state says of one item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotation {
    pub play_count: u64,
    /// Last play, milliseconds since the Unix epoch.
    pub played_ms: Option<i64>,
    /// When starred, milliseconds since the Unix epoch.
    pub starred_ms: Option<i64>,
    /// 1 to 5.
    pub rating: Option<u8>,
}

#[derive(Clone, Copy)]
struct Tables {
    plays: Database<Bytes, Bytes>,
    stars: Database<Bytes, Bytes>,
    ratings: Database<Bytes, Bytes>,
    bookmarks: Database<Bytes, Bytes>,
    queues: Database<Bytes, Bytes>,
}

/// The listening state of every user.
pub struct Store {
    env: Env<WithoutTls>,
    /// Held for every transaction (see the module's notes).
    gate: Mutex<()>,
    /// The exclusive `flock` on the environment directory.
    _lock: File,
    tables: Tables,
    now_playing: Mutex<Vec<NowPlaying>>,
    /// The playlists users make, under `<dir>/playlists`.
    pub playlists: UserPlaylists,
}

/// The key of `id` for `user`: the name, a 0 byte, SHA-256 of the ID.
fn key(user: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(user.len() + 33);
    k.extend_from_slice(user.as_bytes());
    k.push(0);
    k.extend_from_slice(&Sha256::digest(id.as_bytes()));
    k
}

/// The prefix of every key of `user`.
fn user_prefix(user: &str) -> Vec<u8> {
    let mut k = user.as_bytes().to_vec();
    k.push(0);
    k
}

/// Milliseconds since the Unix epoch.
pub fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

impl Store {
    /// Opens the store in `dir` (created when missing), or starts a fresh
    /// one when the existing store cannot be opened or read: the broken
    /// one is moved aside to `listening.broken-<unix ms>-<n>` (never
    /// deleted) and an error line names both paths.
    ///
    /// Errors: the directory cannot be created, or even a fresh store
    /// cannot be opened there (read-only or full file system).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let env_dir = dir.join("listening");
        match Store::open_at(dir, &env_dir) {
            Ok(store) => Ok(store),
            Err(e @ StoreError::InUse(_)) => Err(e),
            Err(e) if env_dir.exists() => {
                let stamp = millis(SystemTime::now());
                let aside = (0..)
                    .map(|n| dir.join(format!("listening.broken-{stamp}-{n}")))
                    .find(|p| !p.exists())
                    .unwrap_or_else(|| dir.join("listening.broken"));
                std::fs::rename(&env_dir, &aside).map_err(|err| {
                    StoreError::Io(format!(
                        "{} cannot be read ({e}) nor moved aside: {err}",
                        env_dir.display()
                    ))
                })?;
                log::error!(
                    "listening state: {} cannot be read ({e}); moved it to {} and started a fresh store",
                    env_dir.display(),
                    aside.display()
                );
                Store::open_at(dir, &env_dir)
            }
            Err(e) => Err(e),
        }
    }

    fn open_at(dir: &Path, env_dir: &Path) -> Result<Store, StoreError> {
        let io = |what: &str, err: std::io::Error| {
            StoreError::Io(format!("{what} {}: {err}", env_dir.display()))
        };
        std::fs::create_dir_all(env_dir).map_err(|e| io("cannot create", e))?;
        let lock = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(env_dir.join(".lock"))
            .map_err(|e| io("cannot create a lock file in", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::InUse(format!(
                    "{} is in use by another tapedeck",
                    env_dir.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(io("cannot lock", e)),
        }
        let data = env_dir.join("data.mdb");
        let file_len = std::fs::metadata(&data).map(|m| m.len()).ok();
        // SAFETY: heed requires that one environment is not opened twice in
        // a process at the same time, nor its files changed under the
        // mapping. tapedeck opens the state directory once, from App::new,
        // and one server owns its cache (and so its state) at a time.
        // SAFETY (flags): MDB_NOLOCK is sound with the flock above (one
        // process) and `gate` (no read open during a write).
        let env = unsafe {
            EnvOpenOptions::new()
                .read_txn_without_tls()
                .map_size(MAP_SIZE)
                .max_dbs(8)
                .flags(EnvFlags::NO_LOCK)
                .open(env_dir)
        }?;
        // A data file shorter than the pages its meta page names would
        // make reads fault (SIGBUS) instead of fail: a truncated store.
        if let Some(len) = file_len {
            let page = u64::from(env.stat().page_size);
            let needed = (env.info().last_page_number as u64 + 1) * page;
            if len < needed {
                return Err(StoreError::Io(format!(
                    "{} is truncated: {len} bytes, its pages need {needed}",
                    data.display()
                )));
            }
        }
        let mut tx = env.write_txn()?;
        let tables = Tables {
            plays: env.create_database(&mut tx, Some("plays"))?,
            stars: env.create_database(&mut tx, Some("stars"))?,
            ratings: env.create_database(&mut tx, Some("ratings"))?,
            bookmarks: env.create_database(&mut tx, Some("bookmarks"))?,
            queues: env.create_database(&mut tx, Some("queues"))?,
        };
        tx.commit()?;
        let store = Store {
            env,
            gate: Mutex::new(()),
            _lock: lock,
            tables,
            now_playing: Mutex::new(Vec::new()),
            playlists: UserPlaylists::new(dir.join("playlists")),
        };
        store.check()?;
        Ok(store)
    }

    /// Reads every record once: a damaged page or record fails here, at
    /// start, rather than in the middle of an answer.
    fn check(&self) -> Result<(), StoreError> {
        let _gate = self.gate();
        let tx = self.env.read_txn()?;
        let t = &self.tables;
        for db in [t.plays, t.stars, t.ratings, t.bookmarks, t.queues] {
            for item in db.iter(&tx)? {
                let (_, value) = item?;
                serde_json::from_slice::<serde_json::Value>(value)
                    .map_err(|e| StoreError::Io(format!("a damaged record: {e}")))?;
            }
        }
        Ok(())
    }

    /// The transaction gate (a panic elsewhere does not close it: LMDB
    /// aborts a transaction that is dropped).
    fn gate(&self) -> std::sync::MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in a write transaction and commits it (durable on return).
    fn write<T>(
        &self,
        f: impl FnOnce(&mut RwTxn<'_>, &Tables) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _gate = self.gate();
        let mut tx = self.env.write_txn()?;
        let out = f(&mut tx, &self.tables)?;
        tx.commit()?;
        Ok(out)
    }

    /// Counts a play of song `id` by `user` at `at`.
    pub fn scrobble(&self, user: &str, id: &str, at: SystemTime) -> Result<(), StoreError> {
        self.write(|tx, t| {
            let k = key(user, id);
            let mut play = get::<Play>(t.plays, tx, &k)?.unwrap_or(Play {
                id: id.to_owned(),
                count: 0,
                last_ms: 0,
            });
            play.count += 1;
            play.last_ms = play.last_ms.max(millis(at));
            put(t.plays, tx, &k, &play)
        })
    }

    /// Stars `ids` for `user` (an item already starred keeps its time).
    pub fn star(&self, user: &str, ids: &[String], at: SystemTime) -> Result<(), StoreError> {
        self.write(|tx, t| {
            for id in ids {
                let k = key(user, id);
                if get::<Star>(t.stars, tx, &k)?.is_none() {
                    let star = Star {
                        id: id.clone(),
                        at_ms: millis(at),
                    };
                    put(t.stars, tx, &k, &star)?;
                }
            }
            Ok(())
        })
    }

    /// Removes the stars of `ids` for `user`.
    pub fn unstar(&self, user: &str, ids: &[String]) -> Result<(), StoreError> {
        self.write(|tx, t| {
            for id in ids {
                t.stars.delete(tx, &key(user, id))?;
            }
            Ok(())
        })
    }

    /// Sets `user`'s rating of `id`: 1 to 5, or 0 to remove it.
    pub fn set_rating(&self, user: &str, id: &str, rating: u8) -> Result<(), StoreError> {
        self.write(|tx, t| {
            let k = key(user, id);
            if rating == 0 {
                t.ratings.delete(tx, &k)?;
                Ok(())
            } else {
                let r = Rating {
                    id: id.to_owned(),
                    rating: rating.min(5),
                };
                put(t.ratings, tx, &k, &r)
            }
        })
    }

    /// Saves `user`'s play queue, replacing the one before.
    pub fn save_queue(&self, user: &str, queue: &PlayQueue) -> Result<(), StoreError> {
        self.write(|tx, t| put(t.queues, tx, &user_prefix(user), queue))
    }

    /// `user`'s saved play queue, if any.
    pub fn queue(&self, user: &str) -> Result<Option<PlayQueue>, StoreError> {
        let _gate = self.gate();
        let tx = self.env.read_txn()?;
        get(self.tables.queues, &tx, &user_prefix(user))
    }

    /// Saves a bookmark of `user` in song `id` (replacing one there).
    pub fn create_bookmark(
        &self,
        user: &str,
        id: &str,
        position_ms: u64,
        comment: Option<String>,
        at: SystemTime,
    ) -> Result<(), StoreError> {
        self.write(|tx, t| {
            let k = key(user, id);
            let created_ms =
                get::<Bookmark>(t.bookmarks, tx, &k)?.map_or(millis(at), |b| b.created_ms);
            let b = Bookmark {
                id: id.to_owned(),
                position_ms,
                comment,
                created_ms,
                changed_ms: millis(at),
            };
            put(t.bookmarks, tx, &k, &b)
        })
    }

    /// Deletes `user`'s bookmark in song `id`; false when there was none.
    pub fn delete_bookmark(&self, user: &str, id: &str) -> Result<bool, StoreError> {
        self.write(|tx, t| Ok(t.bookmarks.delete(tx, &key(user, id))?))
    }

    /// Every record of `user` in one table, in key order.
    fn all<T: DeserializeOwned>(
        &self,
        db: Database<Bytes, Bytes>,
        user: &str,
    ) -> Result<Vec<T>, StoreError> {
        let _gate = self.gate();
        let tx = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in db.prefix_iter(&tx, &user_prefix(user))? {
            let (_, value) = item?;
            if let Ok(v) = serde_json::from_slice(value) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Every song `user` has played.
    pub fn plays(&self, user: &str) -> Result<Vec<Play>, StoreError> {
        self.all(self.tables.plays, user)
    }

    /// Everything `user` has starred.
    pub fn stars(&self, user: &str) -> Result<Vec<Star>, StoreError> {
        self.all(self.tables.stars, user)
    }

    /// Everything `user` has rated.
    pub fn ratings(&self, user: &str) -> Result<Vec<Rating>, StoreError> {
        self.all(self.tables.ratings, user)
    }

    /// `user`'s bookmarks.
    pub fn bookmarks(&self, user: &str) -> Result<Vec<Bookmark>, StoreError> {
        self.all(self.tables.bookmarks, user)
    }

    /// `user`'s state, for annotating the items of an answer (each
    /// lookup is its own short read).
    pub fn view<'a>(&'a self, user: &'a str) -> View<'a> {
        View { store: self, user }
    }

    /// Notes that `user` plays `id` now, from `client` (kept in memory).
    pub fn now_playing(&self, user: &str, id: &str, client: &str) {
        let mut list = self.now_playing.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|n| n.user != user || n.client != client);
        list.push(NowPlaying {
            user: user.to_owned(),
            id: id.to_owned(),
            client: client.to_owned(),
            since: SystemTime::now(),
        });
    }

    /// Who plays what now (reports of the last 15 minutes).
    pub fn playing(&self) -> Vec<NowPlaying> {
        let mut list = self.now_playing.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|n| n.since.elapsed().is_ok_and(|d| d < NOW_PLAYING_FOR));
        list.clone()
    }
}

/// One user's state.
pub struct View<'a> {
    store: &'a Store,
    user: &'a str,
}

impl View<'_> {
    /// What the state says of `id`; empty when nothing (or when a record
    /// cannot be read: [`Store::open`] reads them all at start).
    pub fn of(&self, id: &str) -> Annotation {
        let _gate = self.store.gate();
        let Ok(tx) = self.store.env.read_txn() else {
            return Annotation::default();
        };
        let k = key(self.user, id);
        let t = &self.store.tables;
        let play = get::<Play>(t.plays, &tx, &k).ok().flatten();
        Annotation {
            play_count: play.as_ref().map_or(0, |p| p.count),
            played_ms: play.map(|p| p.last_ms),
            starred_ms: get::<Star>(t.stars, &tx, &k)
                .ok()
                .flatten()
                .map(|s| s.at_ms),
            rating: get::<Rating>(t.ratings, &tx, &k)
                .ok()
                .flatten()
                .map(|r| r.rating),
        }
    }
}

fn get<T: DeserializeOwned>(
    db: Database<Bytes, Bytes>,
    tx: &RoTxn<'_>,
    k: &[u8],
) -> Result<Option<T>, StoreError> {
    match db.get(tx, k)? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(v)
            .map(Some)
            .map_err(|e| StoreError::Io(format!("a damaged record: {e}"))),
    }
}

fn put<T: Serialize>(
    db: Database<Bytes, Bytes>,
    tx: &mut RwTxn<'_>,
    k: &[u8],
    value: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Io(e.to_string()))?;
    db.put(tx, k, &bytes)?;
    Ok(())
}

/// Sums per key, for lists built from plays (albums by their songs).
pub fn tally<K: std::hash::Hash + Eq>(
    plays: impl IntoIterator<Item = (K, u64, i64)>,
) -> HashMap<K, (u64, i64)> {
    let mut out: HashMap<K, (u64, i64)> = HashMap::new();
    for (k, count, last) in plays {
        let e = out.entry(k).or_insert((0, 0));
        e.0 += count;
        e.1 = e.1.max(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    #[test]
    fn plays_stars_ratings_are_per_user_and_survive_reopening() {
        let (dir, s) = store();
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        s.scrobble("anna", "tr-a", t).unwrap();
        s.scrobble("anna", "tr-a", t + Duration::from_secs(60))
            .unwrap();
        s.scrobble("ben", "tr-a", t).unwrap();
        s.star("anna", &["al-x".into(), "tr-a".into()], t).unwrap();
        s.set_rating("anna", "tr-a", 4).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        let v = s.view("anna");
        let a = v.of("tr-a");
        assert_eq!(a.play_count, 2);
        assert_eq!(a.played_ms, Some(1_700_000_060_000));
        assert_eq!(a.starred_ms, Some(1_700_000_000_000));
        assert_eq!(a.rating, Some(4));
        assert_eq!(s.view("ben").of("tr-a").play_count, 1);
        assert_eq!(s.view("ben").of("tr-a").starred_ms, None);
        assert_eq!(s.stars("anna").unwrap().len(), 2);
        s.unstar("anna", &["al-x".into()]).unwrap();
        s.set_rating("anna", "tr-a", 0).unwrap();
        assert_eq!(s.stars("anna").unwrap().len(), 1);
        assert_eq!(s.view("anna").of("tr-a").rating, None);
    }

    #[test]
    fn long_ids_are_keys_too() {
        let (_dir, s) = store();
        let id = format!("tr-{}", "x".repeat(6000));
        s.scrobble("anna", &id, SystemTime::now()).unwrap();
        assert_eq!(s.plays("anna").unwrap()[0].id, id);
    }

    #[test]
    fn queue_and_bookmarks_round_trip() {
        let (_dir, s) = store();
        assert_eq!(s.queue("anna").unwrap(), None);
        let q = PlayQueue {
            ids: vec!["tr-a".into(), "tr-b".into()],
            current: Some("tr-b".into()),
            current_index: Some(1),
            position_ms: 12_345,
            changed_ms: 5,
            changed_by: "DSub".into(),
        };
        s.save_queue("anna", &q).unwrap();
        assert_eq!(s.queue("anna").unwrap(), Some(q));
        let t = SystemTime::now();
        s.create_bookmark("anna", "tr-a", 1000, Some("here".into()), t)
            .unwrap();
        s.create_bookmark("anna", "tr-a", 2000, None, t).unwrap();
        let b = s.bookmarks("anna").unwrap();
        assert_eq!((b.len(), b[0].position_ms), (1, 2000));
        assert!(s.delete_bookmark("anna", "tr-a").unwrap());
        assert!(!s.delete_bookmark("anna", "tr-a").unwrap());
    }

    #[test]
    fn a_garbage_or_truncated_store_is_moved_aside_and_a_fresh_one_starts() {
        let (dir, s) = store();
        s.scrobble("anna", "tr-a", SystemTime::now()).unwrap();
        drop(s);
        let data = dir.path().join("listening/data.mdb");
        let len = std::fs::metadata(&data).unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(&data)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.plays("anna").unwrap().is_empty(), "a fresh store");
        drop(s);
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("listening.broken-")
            })
            .collect();
        assert_eq!(aside.len(), 1, "the broken store is kept");
        // Garbage in place of the data file.
        std::fs::write(&data, vec![0x5a; 64 * 1024]).unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.scrobble("anna", "tr-a", SystemTime::now()).unwrap();
        assert_eq!(s.plays("anna").unwrap().len(), 1);
    }

    #[test]
    fn a_store_in_use_is_refused_and_left_alone() {
        let (dir, s) = store();
        s.scrobble("anna", "tr-a", SystemTime::now()).unwrap();
        match Store::open(dir.path()) {
            Err(StoreError::InUse(what)) => assert!(what.contains("in use"), "{what}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened twice"),
        }
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.plays("anna").unwrap().len(), 1, "nothing was moved aside");
    }

    #[test]
    fn now_playing_keeps_one_entry_per_user_and_client() {
        let (_dir, s) = store();
        s.now_playing("anna", "tr-a", "DSub");
        s.now_playing("anna", "tr-b", "DSub");
        s.now_playing("anna", "tr-c", "web");
        let ids: Vec<String> = s.playing().into_iter().map(|n| n.id).collect();
        assert_eq!(ids, ["tr-b", "tr-c"]);
    }
}
