//! `GET /admin/jobs/<id>/events`: a warm job's progress as Server-Sent
//! Events (WHATWG HTML §9.2). Every listener gets `state` (the job as it
//! is) first, then `progress` per finished track, `error` per failure and
//! a final `done`, each with an `id:` so a client that reconnects with
//! `Last-Event-ID` resumes where it left off. A listener that falls too far
//! behind gets a fresh `state`.
//!
//! Each open stream holds a handler thread for as long as the job runs, so
//! at most a quarter of them may be streams; the count is the server's
//! ([`super::Admin`]'s `open_streams`).

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::Admin;
use crate::http::reply::EventWriter;
use crate::http::{Body, Reply};
use crate::reports::EventKind;
use crate::surface::HttpError;
use crate::warm::{Next, WarmJob};

/// How long an event stream may stay silent before a comment line is
/// sent (keeps proxies from timing out and finds clients that left).
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The reply that streams `job`'s events; `last_event_id` (the client's
/// `Last-Event-ID`) resumes after that event instead of sending `state`.
///
/// Errors: 503 with `Retry-After` when a quarter of the handler threads
/// are streaming already.
pub fn stream(
    ctx: &Admin,
    job: Arc<WarmJob>,
    last_event_id: Option<u64>,
) -> Result<Reply, HttpError> {
    let cap = (ctx.app.config.server.max_connections / 4).max(1);
    let open = Arc::clone(&ctx.open_streams);
    if open.fetch_add(1, Ordering::AcqRel) >= cap {
        open.fetch_sub(1, Ordering::AcqRel);
        return Err(HttpError::Unavailable {
            message: format!("{cap} event streams are open already"),
            retry_after_s: 5,
        });
    }
    let listening = Listening(open);
    let write = move |out: &mut dyn Write| {
        let _listening = listening;
        write_events(&job, last_event_id, out)
    };
    Ok(Reply::new(200, Body::Events(EventWriter(Box::new(write))))
        .header("Content-Type", "text/event-stream; charset=utf-8")
        .header("Cache-Control", "no-store")
        .header("X-Accel-Buffering", "no"))
}

/// Counts an open stream until dropped.
struct Listening(Arc<AtomicUsize>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Writes the events of `job` to `out` until its `done` event or until
/// the client leaves; returns the bytes written.
///
/// Errors: the client went away (a write failed or timed out).
fn write_events(job: &WarmJob, last_event_id: Option<u64>, out: &mut dyn Write) -> io::Result<u64> {
    let mut sent = 0u64;
    let mut send = |out: &mut dyn Write, kind: EventKind, id: u64, data: &dyn ErasedData| {
        let text = format!(
            "event: {}\nid: {id}\ndata: {}\n\n",
            kind.as_str(),
            data.json()
        );
        sent += text.len() as u64;
        out.write_all(text.as_bytes())?;
        out.flush()
    };
    out.write_all(b"retry: 3000\n\n")?;
    out.flush()?;
    let (status, mut after) = job.snapshot();
    match last_event_id {
        Some(id) if id <= after && !matches!(job.next_events(id, Duration::ZERO), Next::Lagged) => {
            after = id;
        }
        _ => {
            send(out, EventKind::State, after, &status)?;
            if status.state.is_finished() {
                send(out, EventKind::Done, after, &status)?;
                return Ok(sent);
            }
        }
    }
    loop {
        match job.next_events(after, HEARTBEAT) {
            Next::Events(events) => {
                for e in events {
                    send(out, e.kind, e.seq, &e.data)?;
                    after = e.seq;
                    if e.kind == EventKind::Done {
                        return Ok(sent);
                    }
                }
            }
            Next::Lagged => {
                let (status, seq) = job.snapshot();
                send(out, EventKind::State, seq, &status)?;
                if status.state.is_finished() {
                    send(out, EventKind::Done, seq, &status)?;
                    return Ok(sent);
                }
                after = seq;
            }
            Next::Idle => {
                out.write_all(b": keep-alive\n\n")?;
                out.flush()?;
            }
        }
    }
}

/// Event data as one line of JSON.
trait ErasedData {
    fn json(&self) -> String;
}

impl<T: Serialize> ErasedData for T {
    fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_owned())
    }
}
