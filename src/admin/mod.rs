//! `/admin/*`: cache statistics, clearing and verifying, and warm jobs
//! (`POST /admin/cache/warm`, `/admin/jobs[/<id>[/events]]`). With
//! `admin.token` set every request needs `Authorization: Bearer <token>`
//! (RFC 6750 §2.1), else 401; without a token only loopback clients are
//! answered, others get 403. The JSON shapes are [`crate::reports`]'s.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub mod events;

use std::sync::atomic::AtomicUsize;

use crate::app::App;
use crate::http::{Method, Reply, Request};
use crate::reports::{
    CacheStats, Cleared, JobList, LibraryScanStats, MetadataCacheStats, ServerStats, Verified,
    WarmAccepted, WarmRequest, hit_rate,
};
use crate::surface::HttpError;
use crate::warm::WarmJob;
use crate::workers::Workers;

/// Largest `POST /admin/cache/warm` body read, in bytes.
pub const MAX_WARM_BODY_BYTES: usize = 64 * 1024;

/// The admin surface: the services and the event streams open now.
pub struct Admin {
    app: Arc<App>,
    /// Event streams open now (each holds a handler thread).
    open_streams: Arc<AtomicUsize>,
}

impl Admin {
    /// The surface over `app`.
    pub fn new(app: Arc<App>) -> Admin {
        Admin {
            app,
            open_streams: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Answers an `/admin/...` request.
    ///
    /// Errors: 401/403 (see the module docs), 503 without a usable cache,
    /// 404 for an unknown path, 405 for a wrong method, and each route's
    /// own.
    pub fn handle(&self, req: &Request) -> Result<Reply, HttpError> {
        handle(self, req)
    }
}

fn handle(ctx: &Admin, req: &Request) -> Result<Reply, HttpError> {
    authorize(ctx, req)?;
    let Some(workers) = ctx.app.workers.as_ref() else {
        return Err(unavailable());
    };
    if let Some(rest) = req.path.strip_prefix("/admin/jobs") {
        return jobs(ctx, req, rest);
    }
    let path = req.path.as_str();
    match (&req.method, path) {
        (Method::Get | Method::Head, "/admin/cache/stats") => {
            Ok(Reply::json(200, &server_stats(ctx, workers)))
        }
        (Method::Post, "/admin/cache/clear") => clear(req, workers),
        (Method::Post, "/admin/cache/warm") => warm(ctx, req),
        (Method::Post, "/admin/cache/verify") => {
            let started = std::time::Instant::now();
            let report = workers
                .cache()
                .verify(|path| crate::mp3::check_file(path).map(|_| ()));
            log::info!(
                "cache verified: {} entries, {} bytes, {} broken removed, in {} ms",
                report.checked,
                report.bytes,
                report.removed.len(),
                started.elapsed().as_millis()
            );
            Ok(Reply::json(200, &Verified::from(report)))
        }
        (_, "/admin/cache/stats") => Err(HttpError::method_not_allowed(&req.method, "GET, HEAD")),
        (_, "/admin/cache/clear" | "/admin/cache/warm" | "/admin/cache/verify") => {
            Err(HttpError::method_not_allowed(&req.method, "POST"))
        }
        _ => Err(HttpError::not_found()),
    }
}

fn unavailable() -> HttpError {
    HttpError::Unavailable {
        message: "the cache is not available".to_owned(),
        retry_after_s: 60,
    }
}

/// What `GET /admin/cache/stats` answers.
fn server_stats(ctx: &Admin, workers: &Workers) -> CacheStats {
    let app = &ctx.app;
    let c = workers.cache().stats();
    let w = workers.stats();
    let m = app.catalog.stats();
    let scan = app.catalog.scan_status();
    let p = app.prefetcher.as_ref().map(|p| p.stats());
    let load =
        |a: Option<&std::sync::atomic::AtomicU64>| a.map_or(0, |a| a.load(Ordering::Relaxed));
    CacheStats {
        cache_dir: workers.cache().dir().display().to_string(),
        cached_files: c.files,
        cache_size_bytes: c.size_bytes,
        budget_bytes: c.budget_bytes,
        server: Some(ServerStats {
            cache_size_mib: (c.size_bytes as f64 / 1_048_576.0 * 10.0).round() / 10.0,
            reserved_bytes: c.reserved_bytes,
            hits: c.hits,
            misses: c.misses,
            hit_rate: hit_rate(c.hits, c.misses),
            evictions: c.evictions,
            transcodes_done: w.done.load(Ordering::Relaxed),
            transcodes_failed: w.failed.load(Ordering::Relaxed),
            transcodes_running: w.running.load(Ordering::Relaxed),
            queue_depth: workers.queue_depth() as u64,
            workers: workers.count() as u64,
            prefetch_considered: load(p.map(|p| &p.considered)),
            prefetched: load(p.map(|p| &p.prefetched)),
            prefetch_hits: load(p.map(|p| &p.hits)),
            metadata: MetadataCacheStats {
                entries: m.entries as u64,
                capacity: m.capacity as u64,
                hits: m.hits,
                misses: m.misses,
                hit_rate: hit_rate(m.hits, m.misses),
            },
            library_scan: LibraryScanStats {
                scanning: scan.scanning,
                tracks: scan.count,
                completed: scan.completed,
            },
        }),
    }
}

/// `POST /admin/cache/clear[?older_than_days=N]`.
fn clear(req: &Request, workers: &Workers) -> Result<Reply, HttpError> {
    let older_than = match req.param("older_than_days") {
        None => None,
        Some(d) => match d.parse::<u32>() {
            Ok(days) => Some(Duration::from_secs(u64::from(days) * 86_400)),
            Err(_) => {
                return Err(HttpError::BadRequest(
                    "older_than_days must be a whole number of days".to_owned(),
                ));
            }
        },
    };
    let (files, bytes) = workers.cache().clear(older_than);
    log::info!("cache cleared: {files} entries, {bytes} bytes");
    Ok(Reply::json(
        200,
        &Cleared {
            deleted_files: files,
            freed_bytes: bytes,
            message: match older_than {
                None => format!("deleted all {files} cached entries"),
                Some(d) => format!(
                    "deleted {files} entries not played for {} days",
                    d.as_secs() / 86_400
                ),
            },
        },
    ))
}

/// `POST /admin/cache/warm`: queues a warm job, `202` with its id.
fn warm(ctx: &Admin, req: &Request) -> Result<Reply, HttpError> {
    let warmer = ctx.app.warmer.as_ref().ok_or_else(unavailable)?;
    if req.body.len() > MAX_WARM_BODY_BYTES {
        return Err(HttpError::TooLarge(format!(
            "the body is limited to {MAX_WARM_BODY_BYTES} bytes"
        )));
    }
    let request: WarmRequest = serde_json::from_slice(&req.body).map_err(|e| {
        HttpError::BadRequest(format!(
            "expected JSON {{\"paths\": [...], \"playlists\": [...], \"qualities\": [...]}}: {e}"
        ))
    })?;
    let job = warmer.submit(request)?;
    let id = job.id();
    log::info!("warm job {id} queued");
    Ok(Reply::json(
        202,
        &WarmAccepted {
            job_id: id,
            state: job.status().state,
            status_url: format!("/admin/jobs/{id}"),
            events_url: format!("/admin/jobs/{id}/events"),
        },
    )
    .header("Location", format!("/admin/jobs/{id}")))
}

/// `/admin/jobs`, `/admin/jobs/<id>` (GET, DELETE) and
/// `/admin/jobs/<id>/events` (GET). `rest` follows `/admin/jobs`.
fn jobs(ctx: &Admin, req: &Request, rest: &str) -> Result<Reply, HttpError> {
    let warmer = ctx.app.warmer.as_ref().ok_or_else(unavailable)?;
    if rest.is_empty() || rest == "/" {
        return if req.is_get_or_head() {
            let jobs = warmer.jobs().iter().map(|j| j.status()).collect();
            Ok(Reply::json(200, &JobList { jobs }))
        } else {
            Err(HttpError::method_not_allowed(&req.method, "GET, HEAD"))
        };
    }
    let rest = rest.trim_start_matches('/');
    if let Some(id) = rest.strip_suffix("/events") {
        if req.method != Method::Get {
            return Err(HttpError::method_not_allowed(&req.method, "GET"));
        }
        let job = find_job(ctx, id)?;
        let last_event_id = req
            .header("Last-Event-ID")
            .and_then(|v| v.trim().parse().ok());
        return events::stream(ctx, job, last_event_id);
    }
    let job = find_job(ctx, rest)?;
    match req.method {
        Method::Get | Method::Head => Ok(Reply::json(200, &job.status())),
        Method::Delete => {
            if job.cancel() {
                log::info!("warm job {} cancelled", job.id());
                Ok(Reply::json(202, &job.status()))
            } else {
                Err(HttpError::Conflict(format!(
                    "job {} already finished ({})",
                    job.id(),
                    job.status().state.as_str()
                )))
            }
        }
        _ => Err(HttpError::method_not_allowed(
            &req.method,
            "GET, HEAD, DELETE",
        )),
    }
}

fn find_job(ctx: &Admin, id: &str) -> Result<Arc<WarmJob>, HttpError> {
    let no_such_job = || HttpError::NotFound {
        message: "no such job".to_owned(),
        detail: String::new(),
    };
    let id: u64 = id.parse().map_err(|_| no_such_job())?;
    ctx.app
        .warmer
        .as_ref()
        .and_then(|w| w.job(id))
        .ok_or_else(no_such_job)
}

fn authorize(ctx: &Admin, req: &Request) -> Result<(), HttpError> {
    match &ctx.app.config.admin.token {
        Some(token) => {
            let given = req
                .header("Authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
                Ok(())
            } else {
                Err(HttpError::Unauthorized(
                    "admin requires Authorization: Bearer <token>",
                ))
            }
        }
        None if req.is_loopback() => Ok(()),
        None => Err(HttpError::Forbidden(
            "admin is only open to this machine; set admin.token to use it remotely",
        )),
    }
}

/// Compares without stopping at the first difference, so response timing
/// does not reveal how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
