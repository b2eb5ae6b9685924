//! The JSON shapes of the admin API: cache statistics, clearing and
//! verifying, warm requests, warm jobs and their events. The server
//! (`http::admin`, [`crate::warm`]) writes them and `tapedeck warm` /
//! `tapedeck cache` read them back, through these same types, so a renamed
//! field is a compile error on both sides instead of a silent zero.

use serde::{Deserialize, Serialize};

use crate::quality::Quality;

/// `GET /admin/cache/stats`, and `tapedeck cache stats` without a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheStats {
    /// The cache directory, as the server's config names it.
    pub cache_dir: String,
    pub cached_files: u64,
    /// Bytes of complete entries.
    pub cache_size_bytes: u64,
    pub budget_bytes: u64,
    /// What only a running server knows (counters since it started).
    #[serde(flatten)]
    pub server: Option<ServerStats>,
}

/// The counters of [`CacheStats`] a running server adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStats {
    /// `cache_size_bytes` in MiB (2^20 bytes), one decimal.
    pub cache_size_mib: f64,
    /// Bytes reserved by transcodes in progress.
    pub reserved_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses), 0 before the first lookup.
    pub hit_rate: f64,
    pub evictions: u64,
    pub transcodes_done: u64,
    pub transcodes_failed: u64,
    pub transcodes_running: u64,
    /// Transcodes waiting in both queues.
    pub queue_depth: u64,
    pub workers: u64,
    /// Plays whose next track was looked up for prefetch.
    pub prefetch_considered: u64,
    /// Transcodes queued by next-track prefetch.
    pub prefetched: u64,
    /// Plays served from an entry prefetch made.
    pub prefetch_hits: u64,
    pub metadata: MetadataCacheStats,
    pub library_scan: LibraryScanStats,
}

/// The library scan (see [`crate::catalog::Catalog::scan_status`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryScanStats {
    pub scanning: bool,
    /// Tracks seen by the scan in progress, else by the last one.
    pub tracks: u64,
    /// Scans finished since the server started (0: the album index, and
    /// so the Subsonic ID3 view, is still empty).
    pub completed: u64,
}

/// The tag cache (see [`crate::catalog::Catalog::stats`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataCacheStats {
    pub entries: u64,
    pub capacity: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_rate: f64,
}

/// hits / (hits + misses), 0 when there were none.
pub fn hit_rate(hits: u64, misses: u64) -> f64 {
    match hits + misses {
        0 => 0.0,
        n => hits as f64 / n as f64,
    }
}

/// `POST /admin/cache/clear[?older_than_days=N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleared {
    pub deleted_files: u64,
    pub freed_bytes: u64,
    /// A sentence for people.
    #[serde(default)]
    pub message: String,
}

/// `POST /admin/cache/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// Entries checked.
    pub checked: u64,
    /// Bytes of the entries checked.
    pub bytes: u64,
    /// Entries found broken and removed.
    pub removed: Vec<RemovedEntry>,
}

/// An entry [`Verified`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedEntry {
    /// The cache key, in hex.
    pub key: String,
    /// Why it was broken.
    pub error: String,
}

impl From<crate::cache::VerifyReport> for Verified {
    fn from(r: crate::cache::VerifyReport) -> Verified {
        Verified {
            checked: r.checked,
            bytes: r.bytes,
            removed: r
                .removed
                .into_iter()
                .map(|(key, error)| RemovedEntry { key, error })
                .collect(),
        }
    }
}

/// What to warm: the body of `POST /admin/cache/warm`. Paths are relative
/// to the music root, `/`-separated and not percent-encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmRequest {
    /// Tracks, or folders (warmed with everything below them); `""` is the
    /// whole library.
    #[serde(default)]
    pub paths: Vec<String>,
    /// `.m3u`/`.m3u8` files.
    #[serde(default)]
    pub playlists: Vec<String>,
    /// Levels to warm each track at (never `original`); none means the
    /// server's `[warm] qualities`.
    #[serde(default)]
    pub qualities: Vec<Quality>,
}

/// The `202` answer to a warm request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmAccepted {
    pub job_id: u64,
    pub state: JobState,
    pub status_url: String,
    pub events_url: String,
}

/// `GET /admin/jobs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobList {
    pub jobs: Vec<JobStatus>,
}

/// Where a warm job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    /// The lowercase name used in JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Done, failed or cancelled: nothing more will happen.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// Why a job stopped early although it counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobNote {
    /// The cache could not hold more without evicting recent entries.
    BudgetFull,
}

/// A track that failed, or an entry that could not be warmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackError {
    pub path: String,
    pub error: String,
}

/// A warm job as `GET /admin/jobs/<id>` shows it, and the data of its
/// `state` and `done` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub id: u64,
    pub state: JobState,
    /// Track × level pairs to warm (known once the job has listed them).
    pub total: u64,
    /// Pairs transcoded into the cache by this job.
    pub done: u64,
    /// Pairs not transcoded: already cached, never transcoded (an MP3 no
    /// larger than the level), or missing from a playlist.
    pub skipped: u64,
    /// Of `skipped`, those already in the cache.
    pub already_cached: u64,
    pub failed: u64,
    /// The track being transcoded (the oldest still running).
    pub current: Option<String>,
    /// Bytes of the entries this job wrote.
    pub bytes_cached: u64,
    /// Bytes of the originals of those entries (what playing them
    /// untranscoded would have sent).
    pub source_bytes: u64,
    /// Seconds since the Unix epoch.
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    /// Estimated seconds left, from the audio seconds transcoded so far
    /// and those still to do; `None` until one transcode finished.
    pub eta_s: Option<u64>,
    pub errors: Vec<TrackError>,
    pub note: Option<JobNote>,
    /// With `budget_full`: about how many more bytes of budget would let
    /// the job finish.
    pub needed_bytes: Option<u64>,
    /// A sentence for people.
    pub message: Option<String>,
    pub request: WarmRequest,
}

/// What happened to one track × level pair (a `progress` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackResult {
    /// Transcoded into the cache by this job.
    Cached,
    /// In the cache already.
    AlreadyCached,
    /// Played as it is at this level (an MP3 no larger than the level).
    NotTranscoded,
}

/// The data of a `progress` or `error` event: the pair, what happened,
/// and the job's counters after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackEvent {
    pub path: String,
    pub quality: Quality,
    /// For `progress`: what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TrackResult>,
    /// For `progress`: bytes of the entry written (0 when none was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// For `error`: why the pair failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub counters: JobCounters,
}

/// The running counters every track event carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobCounters {
    pub id: u64,
    pub state: JobState,
    pub total: u64,
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes_cached: u64,
    pub eta_s: Option<u64>,
    pub current: Option<String>,
}

impl JobStatus {
    /// The counters a track event carries.
    pub fn counters(&self) -> JobCounters {
        JobCounters {
            id: self.id,
            state: self.state,
            total: self.total,
            done: self.done,
            skipped: self.skipped,
            failed: self.failed,
            bytes_cached: self.bytes_cached,
            eta_s: self.eta_s,
            current: self.current.clone(),
        }
    }
}

/// The SSE `event:` name of a job event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The job as it is (first for every listener, and after a lag).
    State,
    /// A track × level pair finished (cached, or skipped).
    Progress,
    /// A track × level pair failed.
    Error,
    /// The job finished; the data is the final [`JobStatus`].
    Done,
}

impl EventKind {
    /// The SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::State => "state",
            EventKind::Progress => "progress",
            EventKind::Error => "error",
            EventKind::Done => "done",
        }
    }

    /// The kind named `name` (an SSE `event:` field).
    pub fn parse(name: &str) -> Option<EventKind> {
        Some(match name {
            "state" => EventKind::State,
            "progress" => EventKind::Progress,
            "error" => EventKind::Error,
            "done" => EventKind::Done,
            _ => return None,
        })
    }
}

/// The data of a job event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventData {
    /// `state` and `done`.
    Status(Box<JobStatus>),
    /// `progress` and `error`.
    Track(TrackEvent),
}

impl EventData {
    /// The job's counters as of this event.
    pub fn counters(&self) -> JobCounters {
        match self {
            EventData::Status(s) => s.counters(),
            EventData::Track(t) => t.counters.clone(),
        }
    }
}

/// An error answer: `{"error": "...", "status": 404}`; the transport
/// writes it, so its type is the transport's.
pub use crate::http::ErrorBody;
