//! `tapedeck warm` and `tapedeck cache stats|clear|verify`.
//!
//! Safety rule: only one process writes a cache directory. When the
//! server configured for this cache answers on its admin API, the command
//! asks it to do the work (its workers, its budget, its lock). Otherwise
//! the command takes the cache directory's exclusive lock (the server
//! holds the same lock while it runs; see `cache::lock_dir`) and works
//! in-process; if the lock is held by a server it cannot reach, it stops
//! and says so.

use std::error::Error;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use tapedeck::cache::{self, Cache, LockError};
use tapedeck::catalog::Catalog;
use tapedeck::config::{self, Config};
use tapedeck::library::Library;
use tapedeck::warm::{Next, WarmJob, WarmRequest, Warmer};
use tapedeck::workers::{self, Workers};

use crate::client::{self, Client};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// How long an admin answer may take (`cache verify` reads every entry).
const LONG: Duration = Duration::from_secs(3600);

/// Where the work happens.
enum Target {
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
fn target(config: &Config, role: &str, explicit_cache: bool) -> Result<Target> {
    let client = Client::for_config(config);
    match client.json("GET", "/admin/cache/stats", None, Duration::from_secs(10)) {
        Ok((200, stats)) => {
            let theirs = stats["cache_dir"].as_str().map(Path::new);
            let ours = std::fs::canonicalize(&config.cache.dir).ok();
            let same = match (theirs, &ours) {
                (Some(t), Some(o)) => std::fs::canonicalize(t).ok().as_ref() == Some(o),
                _ => false,
            };
            if same {
                return Ok(Target::Server(client));
            }
            if !explicit_cache {
                return Err(format!(
                    "the tapedeck server at {} uses the cache {}, but this command's config names {}: pass --config with the server's config file to work through it, or --cache DIR to work on that directory here",
                    client.base_url(),
                    theirs.map_or_else(|| "?".into(), |t| t.display().to_string()),
                    config.cache.dir.display()
                )
                .into());
            }
        }
        Ok((401 | 403, v)) => {
            return Err(format!(
                "the server at {} refused the admin request: {} (this command reads admin.token from the same config as the server)",
                client.base_url(),
                v["error"].as_str().unwrap_or("not allowed")
            )
            .into());
        }
        Ok((503, _)) | Ok(_) | Err(_) => {}
    }
    match cache::lock_dir(&config.cache.dir, role, false) {
        Ok(lock) => Ok(Target::Local(lock)),
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
    let request = WarmRequest::from_entries(&relative, qualities);
    let (tx, interrupted) = crossbeam_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })?;
    let mut view = None;
    let status = match target(&config, "warm", explicit_cache)? {
        Target::Server(client) => {
            let body = serde_json::to_value(&request)?;
            let (code, answer) = client.json("POST", "/admin/cache/warm", Some(&body), LONG)?;
            if code != 202 {
                return Err(answer["error"]
                    .as_str()
                    .unwrap_or("the server refused the warm request")
                    .into());
            }
            let id = answer["job_id"]
                .as_u64()
                .ok_or("the server sent no job id")?;
            eprintln!(
                "warming through the server at {} (job {id}; it keeps its budget and serves plays first)",
                client.base_url()
            );
            follow_remote(&client, id, view.insert(View::new()), &interrupted)?
        }
        Target::Local(_lock) => {
            eprintln!(
                "no server is running on {}; warming here with {} worker(s)",
                config.cache.dir.display(),
                config.transcode.workers
            );
            let (warmer, _workers) = local_warmer(&config)?;
            let job = warmer.submit(request)?;
            follow_local(&job, view.insert(View::new()), &interrupted)
        }
    };
    if let Some(view) = view {
        view.finish();
    }
    Ok(summary(&status))
}

/// Builds the cache, workers and warmer this process warms with.
fn local_warmer(config: &Config) -> Result<(Warmer, Arc<Workers>)> {
    let cache = Cache::open(&config.cache.dir, config.cache.max_size_bytes)?;
    let workers = Arc::new(Workers::start(
        cache,
        workers::Settings {
            workers: config.transcode.workers,
            nice: config.transcode.nice,
            max_queue: config.transcode.max_queue,
            retry_failed_after: config.transcode.retry_failed_after,
            finish_abandoned: true,
            abandon_grace: workers::ABANDON_GRACE,
        },
    )?);
    let library = Library::new(&config.library.root, config.library.follow_symlinks)?;
    let catalog = Arc::new(Catalog::new(library, config.library.metadata_cache_entries));
    let warmer = Warmer::start(config.clone(), catalog, Arc::clone(&workers))?;
    Ok((warmer, workers))
}

/// Follows job `id` on the server until it finishes; Ctrl-C cancels it.
fn follow_remote(
    client: &Client,
    id: u64,
    view: &mut View,
    interrupted: &crossbeam_channel::Receiver<()>,
) -> Result<Value> {
    // Ctrl-C cancels the job on the server; its stream then ends with `done`.
    let canceller = {
        let interrupted = interrupted.clone();
        let client = client.clone();
        std::thread::spawn(move || {
            if interrupted.recv().is_ok() {
                let _ = client.json("DELETE", &format!("/admin/jobs/{id}"), None, LONG);
            }
        })
    };
    drop(canceller);
    let mut resp = client.send("GET", &format!("/admin/jobs/{id}/events"), None, None)?;
    if resp.status != 200 {
        return Err(format!("the server answered {} for the job's events", resp.status).into());
    }
    let mut last = Value::Null;
    client::read_events(&mut *resp.body, |kind, data| {
        let value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        view.event(kind, &value);
        let done = kind == "done";
        last = value;
        !done
    })?;
    if last.get("state").is_none() {
        // The stream broke off: ask for the job as it is.
        let (_, status) = client.json("GET", &format!("/admin/jobs/{id}"), None, LONG)?;
        return Ok(status);
    }
    Ok(last)
}

/// Follows a job running in this process; Ctrl-C cancels it.
fn follow_local(
    job: &WarmJob,
    view: &mut View,
    interrupted: &crossbeam_channel::Receiver<()>,
) -> Value {
    // The job was just queued here: follow it from its first event.
    let mut after = 0;
    view.event("state", &json!(job.status()));
    loop {
        if interrupted.try_recv().is_ok() {
            job.cancel();
        }
        match job.next_events(after, Duration::from_millis(200)) {
            Next::Events(events) => {
                for e in events {
                    after = e.seq;
                    view.event(e.kind.as_str(), &e.data);
                    if e.kind == tapedeck::warm::EventKind::Done {
                        return e.data;
                    }
                }
            }
            Next::Lagged => {
                let (status, seq) = job.snapshot();
                after = seq;
                view.event("state", &json!(status));
                if status.state.is_finished() {
                    return json!(status);
                }
            }
            Next::Idle => {}
        }
    }
}

/// The progress bar, or one line per track when stderr is not a terminal.
struct View {
    bar: Option<ProgressBar>,
    /// When the first track was transcoded (not skipped), and how many
    /// have been since: the speed shown.
    since: Option<Instant>,
    transcoded: u64,
}

impl View {
    fn new() -> View {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:28}] {pos}/{len} tracks{prefix} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        View {
            bar,
            since: None,
            transcoded: 0,
        }
    }

    fn event(&mut self, kind: &str, data: &Value) {
        let total = data["total"].as_u64().unwrap_or(0);
        let finished = data["done"].as_u64().unwrap_or(0)
            + data["skipped"].as_u64().unwrap_or(0)
            + data["failed"].as_u64().unwrap_or(0);
        let path = data["path"].as_str().unwrap_or("");
        let line = match kind {
            "progress" => format!(
                "{} {path} ({})",
                data["result"].as_str().unwrap_or("done").replace('_', " "),
                data["quality"].as_str().unwrap_or("")
            ),
            "error" => format!(
                "FAILED {path}: {}",
                data["error"].as_str().unwrap_or("unknown error")
            ),
            _ => String::new(),
        };
        if data["result"] == "cached" {
            self.transcoded += 1;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(finished);
                let minutes = since.elapsed().as_secs_f64() / 60.0;
                let mut prefix = String::new();
                if self.transcoded > 1 && minutes > 0.0 {
                    prefix = format!(", {:.1} tracks/min", (self.transcoded - 1) as f64 / minutes);
                }
                if let Some(eta) = data["eta_s"].as_u64() {
                    prefix.push_str(&format!(", ETA {}:{:02}", eta / 60, eta % 60));
                }
                bar.set_prefix(prefix);
                if let Some(current) = data["current"].as_str() {
                    bar.set_message(current.to_owned());
                }
                if kind == "error" {
                    bar.println(line);
                }
            }
            None if !line.is_empty() => eprintln!("[{finished}/{total}] {line}"),
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Prints what a finished job did; returns the exit code.
fn summary(status: &Value) -> u8 {
    let n = |k: &str| status[k].as_u64().unwrap_or(0);
    let mb = |b: u64| b as f64 / 1_000_000.0;
    let state = status["state"].as_str().unwrap_or("unknown");
    let elapsed = match (
        status["started_at"].as_u64(),
        status["finished_at"].as_u64(),
    ) {
        (Some(a), Some(b)) => format!(" in {} s", b.saturating_sub(a)),
        _ => String::new(),
    };
    println!(
        "{state}{elapsed}: {} cached ({:.1} MB), {} already cached, {} skipped, {} failed, of {}",
        n("done"),
        mb(n("bytes_cached")),
        n("already_cached"),
        n("skipped") - n("already_cached").min(n("skipped")),
        n("failed"),
        n("total"),
    );
    if n("source_bytes") > 0 {
        let saved = n("source_bytes").saturating_sub(n("bytes_cached"));
        println!(
            "bandwidth saved: {:.1} MB of originals play as {:.1} MB of MP3 ({:.0} % less per play)",
            mb(n("source_bytes")),
            mb(n("bytes_cached")),
            saved as f64 * 100.0 / n("source_bytes") as f64
        );
    }
    if let Some(errors) = status["errors"].as_array() {
        for e in errors {
            println!(
                "failed: {}: {}",
                e["path"].as_str().unwrap_or("?"),
                e["error"].as_str().unwrap_or("?")
            );
        }
    }
    if let Some(message) = status["message"].as_str() {
        println!("{message}");
    }
    match state {
        "cancelled" => 130,
        "done" if n("failed") == 0 => 0,
        _ => 1,
    }
}

/// What `tapedeck cache` does.
pub enum CacheAction {
    Stats,
    Clear { older_than_days: Option<u32> },
    Verify,
}

/// `tapedeck cache stats|clear|verify`.
pub fn cache(config: Config, explicit_cache: bool, action: CacheAction) -> Result<u8> {
    match target(&config, "cache", explicit_cache)? {
        Target::Server(client) => {
            let (method, path) = match &action {
                CacheAction::Stats => ("GET", "/admin/cache/stats".to_owned()),
                CacheAction::Clear {
                    older_than_days: None,
                } => ("POST", "/admin/cache/clear".to_owned()),
                CacheAction::Clear {
                    older_than_days: Some(d),
                } => ("POST", format!("/admin/cache/clear?older_than_days={d}")),
                CacheAction::Verify => ("POST", "/admin/cache/verify".to_owned()),
            };
            eprintln!("asking the server at {}", client.base_url());
            let (code, v) = client.json(method, &path, None, LONG)?;
            if code != 200 {
                return Err(v["error"].as_str().unwrap_or("the server refused").into());
            }
            Ok(print_cache(&action, &v))
        }
        Target::Local(_lock) => {
            let cache = Cache::open(&config.cache.dir, config.cache.max_size_bytes)?;
            let v = match &action {
                CacheAction::Stats => {
                    let s = cache.stats();
                    json!({
                        "cache_dir": config.cache.dir.display().to_string(),
                        "cached_files": s.files,
                        "cache_size_bytes": s.size_bytes,
                        "budget_bytes": s.budget_bytes,
                    })
                }
                CacheAction::Clear { older_than_days } => {
                    let age = older_than_days.map(|d| Duration::from_secs(u64::from(d) * 86_400));
                    let (files, bytes) = cache.clear(age);
                    json!({"deleted_files": files, "freed_bytes": bytes})
                }
                CacheAction::Verify => {
                    let r = cache.verify(|p| tapedeck::mp3::check_file(p).map(|_| ()));
                    json!({
                        "checked": r.checked,
                        "bytes": r.bytes,
                        "removed": r.removed.iter().map(|(k, e)| json!({"key": k, "error": e})).collect::<Vec<_>>(),
                    })
                }
            };
            Ok(print_cache(&action, &v))
        }
    }
}

fn print_cache(action: &CacheAction, v: &Value) -> u8 {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let mb = |b: u64| b as f64 / 1_000_000.0;
    match action {
        CacheAction::Stats => {
            println!("cache: {}", v["cache_dir"].as_str().unwrap_or("?"));
            println!(
                "entries: {}, {:.1} MB of a {:.1} MB budget ({:.0} % full)",
                n("cached_files"),
                mb(n("cache_size_bytes")),
                mb(n("budget_bytes")),
                n("cache_size_bytes") as f64 * 100.0 / n("budget_bytes").max(1) as f64
            );
            if v.get("hits").is_some() {
                println!(
                    "since the server started: {} hits, {} misses, {} evictions, {} transcodes ({} failed), {} prefetched ({} played)",
                    n("hits"),
                    n("misses"),
                    n("evictions"),
                    n("transcodes_done"),
                    n("transcodes_failed"),
                    n("prefetched"),
                    n("prefetch_hits")
                );
            }
            0
        }
        CacheAction::Clear { .. } => {
            println!(
                "deleted {} entries, {:.1} MB freed",
                n("deleted_files"),
                mb(n("freed_bytes"))
            );
            0
        }
        CacheAction::Verify => {
            let removed = v["removed"].as_array().cloned().unwrap_or_default();
            for r in &removed {
                println!(
                    "removed {}: {}",
                    r["key"].as_str().unwrap_or("?"),
                    r["error"].as_str().unwrap_or("?")
                );
            }
            println!(
                "verified {} entries ({:.1} MB): {} broken, removed",
                n("checked"),
                mb(n("bytes")),
                removed.len()
            );
            u8::from(!removed.is_empty())
        }
    }
}
