//! `/admin/*`: cache statistics and clearing. With `admin.token` set every
//! request needs `Authorization: Bearer <token>` (RFC 6750 §2.1), else 401;
//! without a token only loopback clients are answered, others get 403.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use tiny_http::{Method, Request};

use super::App;
use super::reply::Reply;
use super::router::{Target, header};

/// Answers an `/admin/...` request.
pub fn handle(app: &App, req: &Request, target: &Target) -> Reply {
    if let Some(denied) = authorize(app, req) {
        return denied;
    }
    let Some(workers) = app.workers.as_ref() else {
        return Reply::error(503, "the cache is not available");
    };
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
        (_, "/admin/cache/stats") => Reply::error(405, "use GET").header("Allow", "GET, HEAD"),
        (_, "/admin/cache/clear") => Reply::error(405, "use POST").header("Allow", "POST"),
        _ => Reply::error(404, "not found"),
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
