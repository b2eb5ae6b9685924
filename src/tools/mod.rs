//! `tapedeck warm` and `tapedeck cache stats|clear|verify`.
//!
//! Safety rule: only one process writes a cache directory. When the
//! server configured for this cache answers on its admin API, the command
//! asks it to do the work (its workers, its budget, its lock). Otherwise
//! the command takes the cache directory's exclusive lock (the server
//! holds the same lock while it runs; see `cache::lock_dir`) and works
//! in-process; if the lock is held by a server it cannot reach, it stops
//! and says so.

mod progress;

use std::error::Error;
use std::path::Path;
use std::time::Duration;

use tapedeck::app::{App, Mode};
use tapedeck::cache::{self, Cache, LockError};
use tapedeck::config::{self, Config};
use tapedeck::reports::{
    CacheStats, Cleared, EventData, EventKind, JobStatus, TrackEvent, Verified, WarmAccepted,
};
use tapedeck::warm::{self, Next, WarmJob};

use crate::client::{self, Client};
use progress::{Progress, summary};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// How long an admin answer may take (`cache verify` reads every entry).
const LONG: Duration = Duration::from_secs(3600);

/// Where the work happens.
enum Via {
    /// The running server's admin API.
    Server(Client),
    /// In this process, under the cache lock.
    Local(cache::DirLock),
}

/// Finds the server for `config`'s cache, or locks the cache for `role`.
/// `explicit_cache`: the cache directory was given with `--cache`, so a
/// server answering for another one is not what is meant.
///
/// Errors: the server refuses the admin request (token); a server answers
/// for another cache directory and `--cache` was not given (a config
/// mix-up: the command would fill a cache nobody plays from); the cache is
/// locked by a process whose API cannot be reached.
fn via(config: &Config, role: &str, explicit_cache: bool) -> Result<Via> {
    let client = Client::for_config(config);
    let asked = client.call::<CacheStats>(
        "GET",
        "/admin/cache/stats",
        None::<&()>,
        Duration::from_secs(10),
    );
    match asked {
        Ok(Ok(stats)) => {
            let theirs = Path::new(&stats.cache_dir);
            let ours = std::fs::canonicalize(&config.cache.dir).ok();
            if ours.is_some() && std::fs::canonicalize(theirs).ok() == ours {
                return Ok(Via::Server(client));
            }
            if !explicit_cache {
                return Err(format!(
                    "the tapedeck server at {} uses the cache {}, but this command's config names {}: pass --config with the server's config file to work through it, or --cache DIR to work on that directory here",
                    client.base_url(),
                    theirs.display(),
                    config.cache.dir.display()
                )
                .into());
            }
        }
        Ok(Err(refusal)) if matches!(refusal.status, 401 | 403) => {
            return Err(format!(
                "the server at {} refused the admin request: {} (this command reads admin.token from the same config as the server)",
                client.base_url(),
                refusal.error
            )
            .into());
        }
        // No server, one without a cache (503), or not tapedeck.
        Ok(Err(_)) | Err(_) => {}
    }
    match cache::lock_dir(&config.cache.dir, role, false) {
        Ok(lock) => Ok(Via::Local(lock)),
        Err(LockError::Held { holder }) => Err(format!(
            "{} is in use by {holder}, and no tapedeck server answers at {} with this cache; stop it, or point --config at the config it runs with",
            config.cache.dir.display(),
            client.base_url()
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// A path given on the command line, relative to the music root: an
/// existing file or folder given by its own path (absolute, or relative
/// to the current directory) must lie inside the root; anything else is
/// taken as already relative to the root.
fn relative_to_root(arg: &str, root: &Path) -> Result<String> {
    let path = Path::new(arg);
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return match canonical.strip_prefix(root) {
            Ok(rel) => Ok(rel
                .to_str()
                .ok_or_else(|| format!("{arg}: the path is not UTF-8"))?
                .to_owned()),
            Err(_) => Err(format!("{arg} is not inside the music root {}", root.display()).into()),
        };
    }
    if path.is_absolute() {
        return Err(format!("{arg}: no such file or folder").into());
    }
    Ok(arg
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_owned())
}

/// `tapedeck warm`: returns the process exit code (0 done, 1 some tracks
/// failed, 130 interrupted).
pub fn warm(
    config: Config,
    explicit_cache: bool,
    entries: &[String],
    qualities: &[String],
) -> Result<u8> {
    let qualities = if qualities.is_empty() {
        config.warm.qualities.clone()
    } else {
        let names: Vec<String> = qualities
            .iter()
            .flat_map(|q| q.split(','))
            .map(|q| q.trim().to_owned())
            .collect();
        config::parse_warm_qualities(&names).map_err(|e| format!("--quality: {e}"))?
    };
    let root = config.library.root.clone();
    let relative: Vec<String> = entries
        .iter()
        .map(|e| relative_to_root(e, &root))
        .collect::<Result<_>>()?;
    let request = warm::request_for(&relative, qualities);
    let (tx, interrupted) = crossbeam_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })?;
    let mut view = None;
    let status = match via(&config, "warm", explicit_cache)? {
        Via::Server(client) => {
            let accepted: WarmAccepted = client
                .call("POST", "/admin/cache/warm", Some(&request), LONG)?
                .map_err(|r| r.error)?;
            let id = accepted.job_id;
            eprintln!(
                "warming through the server at {} (job {id}; it keeps its budget and serves plays first)",
                client.base_url()
            );
            follow_remote(&client, id, view.insert(Progress::new()), &interrupted)?
        }
        Via::Local(_lock) => {
            eprintln!(
                "no server is running on {}; warming here with {} worker(s)",
                config.cache.dir.display(),
                config.transcode.workers
            );
            let app = App::new(config, Mode::Command)?;
            let warmer = app.warmer.as_ref().ok_or("the cache cannot be used")?;
            let job = warmer.submit(request)?;
            follow_local(&job, view.insert(Progress::new()), &interrupted)
        }
    };
    if let Some(view) = view {
        view.finish();
    }
    Ok(summary(&status))
}

/// Follows job `id` on the server until it finishes; Ctrl-C cancels it.
fn follow_remote(
    client: &Client,
    id: u64,
    view: &mut Progress,
    interrupted: &crossbeam_channel::Receiver<()>,
) -> Result<JobStatus> {
    // Ctrl-C cancels the job on the server; its stream then ends with `done`.
    let canceller = {
        let interrupted = interrupted.clone();
        let client = client.clone();
        std::thread::spawn(move || {
            if interrupted.recv().is_ok() {
                let path = format!("/admin/jobs/{id}");
                let _ = client.call::<JobStatus>("DELETE", &path, None::<&()>, LONG);
            }
        })
    };
    drop(canceller);
    let mut resp = client.send("GET", &format!("/admin/jobs/{id}/events"), None, None)?;
    if resp.status != 200 {
        return Err(format!("the server answered {} for the job's events", resp.status).into());
    }
    let mut done: Option<JobStatus> = None;
    client::read_events(&mut *resp.body, |name, data| {
        let Some(kind) = EventKind::parse(name) else {
            return true;
        };
        let parsed = match kind {
            EventKind::State | EventKind::Done => {
                serde_json::from_str::<JobStatus>(data).map(|s| EventData::Status(Box::new(s)))
            }
            EventKind::Progress | EventKind::Error => {
                serde_json::from_str::<TrackEvent>(data).map(EventData::Track)
            }
        };
        let Ok(data) = parsed else {
            return true;
        };
        view.event(kind, &data);
        match (kind, data) {
            (EventKind::Done, EventData::Status(s)) => {
                done = Some(*s);
                false
            }
            _ => true,
        }
    })?;
    match done {
        Some(status) => Ok(status),
        // The stream broke off: ask for the job as it is.
        None => Ok(client
            .call("GET", &format!("/admin/jobs/{id}"), None::<&()>, LONG)?
            .map_err(|r| r.error)?),
    }
}

/// Follows a job running in this process; Ctrl-C cancels it.
fn follow_local(
    job: &WarmJob,
    view: &mut Progress,
    interrupted: &crossbeam_channel::Receiver<()>,
) -> JobStatus {
    // The job was just queued here: follow it from its first event.
    let mut after = 0;
    view.event(EventKind::State, &EventData::Status(Box::new(job.status())));
    loop {
        if interrupted.try_recv().is_ok() {
            job.cancel();
        }
        match job.next_events(after, Duration::from_millis(200)) {
            Next::Events(events) => {
                for e in events {
                    after = e.seq;
                    view.event(e.kind, &e.data);
                    if let (EventKind::Done, EventData::Status(status)) = (e.kind, e.data) {
                        return *status;
                    }
                }
            }
            Next::Lagged => {
                let (status, seq) = job.snapshot();
                after = seq;
                view.event(
                    EventKind::State,
                    &EventData::Status(Box::new(status.clone())),
                );
                if status.state.is_finished() {
                    return status;
                }
            }
            Next::Idle => {}
        }
    }
}

/// What `tapedeck cache` does.
pub enum CacheAction {
    Stats,
    Clear { older_than_days: Option<u32> },
    Verify,
}

/// What `tapedeck cache` printed, by action.
enum CacheAnswer {
    Stats(CacheStats),
    Cleared(Cleared),
    Verified(Verified),
}

/// `tapedeck cache stats|clear|verify`: through the server when it runs on
/// this cache, else here under the cache lock. Returns the exit code (1
/// when `verify` removed an entry).
pub fn cache(config: Config, explicit_cache: bool, action: CacheAction) -> Result<u8> {
    let answer = match via(&config, "cache", explicit_cache)? {
        Via::Server(client) => {
            eprintln!("asking the server at {}", client.base_url());
            let refused = |r: client::Refusal| r.error;
            match &action {
                CacheAction::Stats => CacheAnswer::Stats(
                    client
                        .call("GET", "/admin/cache/stats", None::<&()>, LONG)?
                        .map_err(refused)?,
                ),
                CacheAction::Clear { older_than_days } => {
                    let path = match older_than_days {
                        None => "/admin/cache/clear".to_owned(),
                        Some(d) => format!("/admin/cache/clear?older_than_days={d}"),
                    };
                    CacheAnswer::Cleared(
                        client
                            .call("POST", &path, None::<&()>, LONG)?
                            .map_err(refused)?,
                    )
                }
                CacheAction::Verify => CacheAnswer::Verified(
                    client
                        .call("POST", "/admin/cache/verify", None::<&()>, LONG)?
                        .map_err(refused)?,
                ),
            }
        }
        Via::Local(_lock) => {
            let cache = Cache::open(&config.cache.dir, config.cache.max_size_bytes)?;
            match &action {
                CacheAction::Stats => {
                    let s = cache.stats();
                    CacheAnswer::Stats(CacheStats {
                        cache_dir: config.cache.dir.display().to_string(),
                        cached_files: s.files,
                        cache_size_bytes: s.size_bytes,
                        budget_bytes: s.budget_bytes,
                        server: None,
                    })
                }
                CacheAction::Clear { older_than_days } => {
                    let age = older_than_days.map(|d| Duration::from_secs(u64::from(d) * 86_400));
                    let (files, bytes) = cache.clear(age);
                    CacheAnswer::Cleared(Cleared {
                        deleted_files: files,
                        freed_bytes: bytes,
                        message: String::new(),
                    })
                }
                CacheAction::Verify => CacheAnswer::Verified(
                    cache
                        .verify(|p| tapedeck::mp3::check_file(p).map(|_| ()))
                        .into(),
                ),
            }
        }
    };
    Ok(print_cache(&answer))
}

fn print_cache(answer: &CacheAnswer) -> u8 {
    let mb = |b: u64| b as f64 / 1_000_000.0;
    match answer {
        CacheAnswer::Stats(s) => {
            println!("cache: {}", s.cache_dir);
            println!(
                "entries: {}, {:.1} MB of a {:.1} MB budget ({:.0} % full)",
                s.cached_files,
                mb(s.cache_size_bytes),
                mb(s.budget_bytes),
                s.cache_size_bytes as f64 * 100.0 / s.budget_bytes.max(1) as f64
            );
            if let Some(live) = &s.server {
                println!(
                    "since the server started: {} hits, {} misses, {} evictions, {} transcodes ({} failed), {} prefetched ({} played)",
                    live.hits,
                    live.misses,
                    live.evictions,
                    live.transcodes_done,
                    live.transcodes_failed,
                    live.prefetched,
                    live.prefetch_hits
                );
            }
            0
        }
        CacheAnswer::Cleared(c) => {
            println!(
                "deleted {} entries, {:.1} MB freed",
                c.deleted_files,
                mb(c.freed_bytes)
            );
            0
        }
        CacheAnswer::Verified(v) => {
            for r in &v.removed {
                println!("removed {}: {}", r.key, r.error);
            }
            println!(
                "verified {} entries ({:.1} MB): {} broken, removed",
                v.checked,
                mb(v.bytes),
                v.removed.len()
            );
            u8::from(!v.removed.is_empty())
        }
    }
}
