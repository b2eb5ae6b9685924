//! `/admin/*`: cache statistics, clearing and verifying, and warm jobs
//! (`POST /admin/cache/warm`, `/admin/jobs[/<id>[/events]]`). With
//! `admin.token` set every request needs `Authorization: Bearer <token>`
//! (RFC 6750 §2.1), else 401; without a token only loopback clients are
//! answered, others get 403.
//!
//! Job events are Server-Sent Events (WHATWG HTML §9.2): `state` (the job
//! as it is, first for every listener), `progress` per finished track,
//! `error` per failure, and a final `done`, each with an `id:` so a client
//! that reconnects with `Last-Event-ID` resumes where it left off.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tiny_http::{Method, Request};

use super::App;
use super::reply::Reply;
use super::router::{Target, header};
use crate::quality::Quality;
use crate::warm::{EventKind, Next, RequestError, WarmJob, WarmRequest};

/// Largest `POST /admin/cache/warm` body read, in bytes.
const MAX_WARM_BODY_BYTES: usize = 64 * 1024;

/// How long an event stream may stay silent before a comment line is
/// sent (keeps proxies from timing out and finds clients that left).
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Event streams open now; each holds a handler thread.
static LISTENERS: AtomicUsize = AtomicUsize::new(0);

/// The body of `POST /admin/cache/warm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarmBody {
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    playlists: Vec<String>,
    #[serde(default)]
    qualities: Vec<String>,
}

/// Answers an `/admin/...` request.
pub fn handle(app: &App, req: &mut Request, target: &Target) -> Reply {
    if let Some(denied) = authorize(app, req) {
        return denied;
    }
    let Some(workers) = app.workers.as_ref() else {
        return Reply::error(503, "the cache is not available");
    };
    if let Some(rest) = target.path.strip_prefix("/admin/jobs") {
        return jobs(app, req, rest);
    }
    match (req.method(), target.path) {
        (Method::Get | Method::Head, "/admin/cache/stats") => {
            let c = workers.cache().stats();
            let s = workers.stats();
            let m = app.catalog.stats();
            let m_lookups = m.hits + m.misses;
            let lookups = c.hits + c.misses;
            Reply::json(
                200,
                &json!({
                    "cache_size_bytes": c.size_bytes,
                    "cache_size_mb": (c.size_bytes as f64 / 1_048_576.0 * 10.0).round() / 10.0,
                    "cached_files": c.files,
                    "cache_dir": workers.cache().dir().display().to_string(),
                    "budget_bytes": c.budget_bytes,
                    "reserved_bytes": c.reserved_bytes,
                    "hits": c.hits,
                    "misses": c.misses,
                    "hit_rate": if lookups == 0 { 0.0 } else { c.hits as f64 / lookups as f64 },
                    "evictions": c.evictions,
                    "transcodes_done": s.done.load(Ordering::Relaxed),
                    "transcodes_failed": s.failed.load(Ordering::Relaxed),
                    "transcodes_running": s.running.load(Ordering::Relaxed),
                    "queue_depth": workers.queue_depth(),
                    "workers": workers.count(),
                    "prefetched": app.prefetch.prefetched.load(Ordering::Relaxed),
                    "prefetch_hits": app.prefetch.hits.load(Ordering::Relaxed),
                    "metadata": {
                        "entries": m.entries,
                        "capacity": m.capacity,
                        "hits": m.hits,
                        "misses": m.misses,
                        "hit_rate": if m_lookups == 0 { 0.0 } else { m.hits as f64 / m_lookups as f64 },
                    },
                }),
            )
        }
        (Method::Post, "/admin/cache/clear") => {
            let older_than = match target.param("older_than_days") {
                None => None,
                Some(d) => match d.parse::<u32>() {
                    Ok(days) => Some(Duration::from_secs(u64::from(days) * 86_400)),
                    Err(_) => {
                        return Reply::error(400, "older_than_days must be a whole number of days");
                    }
                },
            };
            let (files, bytes) = workers.cache().clear(older_than);
            log::info!("cache cleared: {files} entries, {bytes} bytes");
            Reply::json(
                200,
                &json!({
                    "deleted_files": files,
                    "freed_bytes": bytes,
                    "message": match older_than {
                        None => format!("deleted all {files} cached entries"),
                        Some(d) => format!(
                            "deleted {files} entries not played for {} days",
                            d.as_secs() / 86_400
                        ),
                    },
                }),
            )
        }
        (Method::Post, "/admin/cache/warm") => warm(app, req),
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
            Reply::json(
                200,
                &json!({
                    "checked": report.checked,
                    "bytes": report.bytes,
                    "removed": report.removed.iter().map(|(key, why)| json!({"key": key, "error": why})).collect::<Vec<_>>(),
                }),
            )
        }
        (_, "/admin/cache/stats") => Reply::error(405, "use GET").header("Allow", "GET, HEAD"),
        (_, "/admin/cache/clear" | "/admin/cache/warm" | "/admin/cache/verify") => {
            Reply::error(405, "use POST").header("Allow", "POST")
        }
        _ => Reply::error(404, "not found"),
    }
}

/// `POST /admin/cache/warm`: queues a warm job, `202` with its id.
fn warm(app: &App, req: &mut Request) -> Reply {
    let Some(warmer) = app.warmer.as_ref() else {
        return Reply::error(503, "the cache is not available");
    };
    if req.body_length().is_some_and(|n| n > MAX_WARM_BODY_BYTES) {
        return Reply::error(
            413,
            format!("the body is limited to {MAX_WARM_BODY_BYTES} bytes"),
        );
    }
    let mut body = Vec::new();
    match req
        .as_reader()
        .take(MAX_WARM_BODY_BYTES as u64 + 1)
        .read_to_end(&mut body)
    {
        Ok(n) if n > MAX_WARM_BODY_BYTES => {
            return Reply::error(
                413,
                format!("the body is limited to {MAX_WARM_BODY_BYTES} bytes"),
            );
        }
        Ok(_) => {}
        Err(e) => return Reply::error(400, format!("cannot read the body: {e}")),
    }
    let parsed: WarmBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return Reply::error(
                400,
                format!(
                    "expected JSON {{\"paths\": [...], \"playlists\": [...], \"qualities\": [...]}}: {e}"
                ),
            );
        }
    };
    let mut qualities = Vec::new();
    for q in &parsed.qualities {
        match q.parse::<Quality>() {
            Ok(q) => qualities.push(q),
            Err(e) => return Reply::error(400, e.to_string()),
        }
    }
    let request = WarmRequest {
        paths: parsed.paths,
        playlists: parsed.playlists,
        qualities,
    };
    match warmer.submit(request) {
        Ok(job) => {
            let id = job.id();
            log::info!("warm job {id} queued");
            Reply::json(
                202,
                &json!({
                    "job_id": id,
                    "state": job.status().state,
                    "status_url": format!("/admin/jobs/{id}"),
                    "events_url": format!("/admin/jobs/{id}/events"),
                }),
            )
            .header("Location", format!("/admin/jobs/{id}"))
        }
        Err(e @ RequestError::NotFound(_)) => Reply::error(404, e.to_string()),
        Err(e @ RequestError::Invalid(_)) => Reply::error(400, e.to_string()),
        Err(e @ RequestError::NoCache) => Reply::error(409, e.to_string()),
    }
}

/// `/admin/jobs`, `/admin/jobs/<id>` (GET, DELETE). `rest` follows
/// `/admin/jobs`. Event streams are answered by [`event_stream`].
fn jobs(app: &App, req: &Request, rest: &str) -> Reply {
    let Some(warmer) = app.warmer.as_ref() else {
        return Reply::error(503, "the cache is not available");
    };
    if rest.is_empty() || rest == "/" {
        return match req.method() {
            Method::Get | Method::Head => {
                let list: Vec<_> = warmer.jobs().iter().map(|j| j.status()).collect();
                Reply::json(200, &json!({ "jobs": list }))
            }
            _ => Reply::error(405, "use GET").header("Allow", "GET, HEAD"),
        };
    }
    let Some(job) = find_job(app, rest.trim_start_matches('/')) else {
        return Reply::error(404, "no such job");
    };
    match req.method() {
        Method::Get | Method::Head => Reply::json(200, &json!(job.status())),
        Method::Delete => {
            if job.cancel() {
                log::info!("warm job {} cancelled", job.id());
                Reply::json(202, &json!(job.status()))
            } else {
                let state = job.status().state;
                Reply::error(
                    409,
                    format!("job {} already finished ({})", job.id(), state.as_str()),
                )
            }
        }
        _ => Reply::error(405, "use GET or DELETE").header("Allow", "GET, HEAD, DELETE"),
    }
}

fn find_job(app: &App, id: &str) -> Option<Arc<WarmJob>> {
    let id: u64 = id.parse().ok()?;
    app.warmer.as_ref()?.job(id)
}

/// For `GET /admin/jobs/<id>/events`: `None` if `req` is not one; else
/// the job to stream, or the reply that refuses it (401/403, 404, 503
/// when too many streams are open).
pub fn event_stream(app: &App, req: &Request) -> Option<Result<Arc<WarmJob>, Reply>> {
    let target = Target::parse(req.url());
    let id = target
        .path
        .strip_prefix("/admin/jobs/")?
        .strip_suffix("/events")?;
    if let Some(denied) = authorize(app, req) {
        return Some(Err(denied));
    }
    if !matches!(req.method(), Method::Get) {
        return Some(Err(Reply::error(405, "use GET").header("Allow", "GET")));
    }
    let Some(job) = find_job(app, id) else {
        return Some(Err(Reply::error(404, "no such job")));
    };
    let cap = (app.config.server.max_connections / 4).max(1);
    if LISTENERS.load(Ordering::Relaxed) >= cap {
        return Some(Err(Reply::error(
            503,
            format!("{cap} event streams are open already"),
        )
        .header("Retry-After", "5")));
    }
    Some(Ok(job))
}

/// Writes the event stream of `job` to `out` (the raw connection) until the
/// job's `done` event or until the client leaves: the response head, a
/// `state` event, then every event in order (a fresh `state` when this
/// listener fell too far behind). `last_event_id` (the client's
/// `Last-Event-ID`) resumes after that event instead of sending `state`.
///
/// Errors: the client went away (a write failed or timed out).
pub fn stream_events(
    job: &WarmJob,
    last_event_id: Option<u64>,
    out: Box<dyn Write + Send>,
) -> io::Result<u64> {
    LISTENERS.fetch_add(1, Ordering::Relaxed);
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            LISTENERS.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let _leave = Leave;
    let mut out = out;
    out.write_all(
        concat!(
            "HTTP/1.1 200 OK\r\n",
            "Server: tapedeck/",
            env!("CARGO_PKG_VERSION"),
            "\r\nContent-Type: text/event-stream; charset=utf-8\r\n",
            "Cache-Control: no-store\r\n",
            "X-Accel-Buffering: no\r\n",
            "Connection: close\r\n",
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )?;
    out.flush()?;
    // One chunk per event, sent at once.
    let mut body = chunked_transfer::Encoder::with_flush_after_write(Flushing(out));
    let mut sent = 0u64;
    let mut send = |body: &mut dyn Write, kind: &str, id: u64, data: &serde_json::Value| {
        let text = format!("event: {kind}\nid: {id}\ndata: {data}\n\n");
        sent += text.len() as u64;
        body.write_all(text.as_bytes())
    };
    body.write_all(b"retry: 3000\n\n")?;
    let (status, mut after) = job.snapshot();
    match last_event_id {
        Some(id) if id <= after && !matches!(job.next_events(id, Duration::ZERO), Next::Lagged) => {
            after = id;
        }
        _ => {
            send(&mut body, "state", after, &json!(status))?;
            if status.state.is_finished() {
                send(&mut body, "done", after, &json!(status))?;
                return Ok(sent);
            }
        }
    }
    loop {
        match job.next_events(after, HEARTBEAT) {
            Next::Events(events) => {
                for e in events {
                    send(&mut body, e.kind.as_str(), e.seq, &e.data)?;
                    after = e.seq;
                    if e.kind == EventKind::Done {
                        return Ok(sent);
                    }
                }
            }
            Next::Lagged => {
                let (status, seq) = job.snapshot();
                send(&mut body, "state", seq, &json!(status))?;
                if status.state.is_finished() {
                    send(&mut body, "done", seq, &json!(status))?;
                    return Ok(sent);
                }
                after = seq;
            }
            Next::Idle => body.write_all(b": keep-alive\n\n")?,
        }
    }
}

/// Flushes after every write: each SSE chunk leaves at once.
struct Flushing(Box<dyn Write + Send>);

impl Write for Flushing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        self.0.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

fn authorize(app: &App, req: &Request) -> Option<Reply> {
    match &app.config.admin.token {
        Some(token) => {
            let given = header(req, "Authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
                None
            } else {
                Some(
                    Reply::error(401, "admin requires Authorization: Bearer <token>")
                        .header("WWW-Authenticate", "Bearer realm=\"tapedeck admin\""),
                )
            }
        }
        None => {
            let loopback = req.remote_addr().is_some_and(|a| a.ip().is_loopback());
            if loopback {
                None
            } else {
                Some(Reply::error(
                    403,
                    "admin is only open to this machine; set admin.token to use it remotely",
                ))
            }
        }
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
