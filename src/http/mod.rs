//! The HTTP server: a small HTTP/1.1 layer of our own on `httparse`, one
//! event-loop thread that accepts and watches idle connections
//! ([`event_loop`]), and a fixed set of `max_connections` handler threads
//! that each read a request, answer it and write the response on the same
//! thread (no hand-over between reading and answering).
//!
//! Why not tiny_http: its 0.12 release allocates the size a client claims
//! for a body it drains (one request aborts the process), panics outside
//! any handler on a huge `Content-Length`, reads a request head without
//! bound, keeps a thread and two descriptors per open connection, and
//! queues a pipelined response behind the one before it on the same
//! connection, so one client that does not read froze every other. Here a
//! request is only handed to a handler once its head and body (both
//! bounded) are in memory, idle sockets cost no thread, every response is
//! written with a timeout, and one client may hold at most half the
//! handlers.
//!
//! Guarantees kept from before: at most `max_connections` requests in
//! flight, a `503` with `Retry-After` at once beyond that, a panic in a
//! handler becomes a logged `500`, one log line per request, and a
//! graceful stop.

pub mod admin;
pub mod api;
pub mod assets;
pub mod conditional;
pub mod conn;
pub mod error;
pub mod event_loop;
pub mod events;
pub mod files;
pub mod range;
pub mod reply;
pub mod request;
pub mod respond;
pub mod router;
pub mod transcoded;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use log::{error, info, warn};
use mio::{Poll, Waker};

use crate::app::App;
use conn::{Conn, Taken};
use event_loop::EventLoop;
use reply::Reply;
use request::{Method, Request, log_path};

/// What a handler sees: the services and the HTTP layer's own state.
pub struct Context {
    pub app: App,
    /// Event streams open now (each holds a handler thread).
    pub event_streams: Arc<AtomicUsize>,
}

impl Context {
    /// The handler context for `app`.
    pub fn new(app: App) -> Context {
        Context {
            app,
            event_streams: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// How long a handler waits for the next request on a keep-alive
/// connection before handing it back to the event loop: long enough for a
/// client on the LAN to send it, short enough to cost nothing.
const LINGER: Duration = Duration::from_millis(2);

/// How long [`Server::shutdown`] waits for responses in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(700);

/// A running server. Dropping it without [`Server::shutdown`] leaves the
/// threads running until the process exits.
pub struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    waker: Arc<Waker>,
    event_loop: Option<JoinHandle<()>>,
    handlers: Vec<JoinHandle<()>>,
}

/// The handler threads' shared state.
struct Handlers {
    ctx: Context,
    /// Connections given back to the event loop, and its waker.
    park: Sender<Conn>,
    waker: Arc<Waker>,
    stopping: Arc<AtomicBool>,
    /// Requests in flight per client address.
    per_peer: PeerSlots,
}

impl Server {
    /// Binds `app.config.server.listen` and starts serving.
    ///
    /// Errors: the address cannot be bound (in use, no permission), or the
    /// event loop or a thread cannot be set up.
    pub fn start(app: App) -> io::Result<Server> {
        let cfg = app.config.server.clone();
        raise_descriptor_limit(cfg.max_sockets + 4 * cfg.max_connections + 64);
        let listener = TcpListener::bind(cfg.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let poll = Poll::new()?;
        let waker = event_loop::waker(&poll)?;
        let stopping = Arc::new(AtomicBool::new(false));
        // A rendezvous channel: the event loop's send succeeds only when a
        // handler is waiting for work, which is how it knows to answer 503.
        let (to_handlers, from_loop) = crossbeam_channel::bounded::<Conn>(0);
        let (park, parked_rx) = crossbeam_channel::unbounded::<Conn>();
        let shared = Arc::new(Handlers {
            ctx: Context::new(app),
            park,
            waker: Arc::clone(&waker),
            stopping: Arc::clone(&stopping),
            per_peer: PeerSlots::new((cfg.max_connections / 2).max(1)),
        });
        let mut handlers = Vec::with_capacity(cfg.max_connections);
        for i in 0..cfg.max_connections {
            let shared = Arc::clone(&shared);
            let rx: Receiver<Conn> = from_loop.clone();
            handlers.push(
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || {
                        for conn in rx {
                            serve_connection(&shared, conn);
                        }
                    })?,
            );
        }
        let event_loop = EventLoop {
            poll,
            listener,
            to_handlers,
            parked_rx,
            open: Arc::new(AtomicUsize::new(0)),
            max_sockets: cfg.max_sockets,
            read_timeout: cfg.read_timeout,
            stopping: Arc::clone(&stopping),
        };
        let event_loop = std::thread::Builder::new()
            .name("http-events".into())
            .spawn(move || {
                if let Err(e) = event_loop.run() {
                    error!("the connection event loop stopped: {e}");
                }
            })?;
        Ok(Server {
            addr,
            stopping,
            waker,
            event_loop: Some(event_loop),
            handlers,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes idle connections, lets responses in
    /// progress finish for up to 0.7 s, and returns. Responses still
    /// running after that are cut off when the process exits.
    pub fn shutdown(mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(h) = self.event_loop.take() {
            let _ = h.join();
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline && self.handlers.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Serves requests on `conn` until it goes quiet (then it goes back to the
/// event loop), closes, or must close.
fn serve_connection(h: &Handlers, mut conn: Conn) {
    loop {
        let open = conn.read_available();
        match conn.take_request() {
            Taken::Request {
                request,
                close_after,
            } => {
                let close = close_after || !open || h.stopping.load(Ordering::Acquire);
                let Some(reusable) = serve_request(h, &conn, request, close) else {
                    return;
                };
                if !reusable {
                    return;
                }
                conn.idle_since = Instant::now();
                if conn.buf.is_empty() && !conn.linger(LINGER) {
                    give_back(h, conn);
                    return;
                }
            }
            Taken::Incomplete if open && !h.stopping.load(Ordering::Acquire) => {
                give_back(h, conn);
                return;
            }
            Taken::Incomplete => return,
            Taken::Refused { status, message } => {
                let started = Instant::now();
                let reply = Reply::error(status, message);
                let result = respond::write_reply(
                    &conn.stream,
                    reply,
                    false,
                    true,
                    h.ctx.app.config.server.write_timeout,
                );
                info!(
                    "{} - - {status} {} ms (refused: {message})",
                    conn.peer.ip(),
                    started.elapsed().as_millis()
                );
                drop(result);
                return;
            }
        }
    }
}

/// Hands a quiet connection back to the event loop.
fn give_back(h: &Handlers, conn: Conn) {
    if h.park.send(conn).is_ok() {
        let _ = h.waker.wake();
    }
}

/// Answers one request on `conn` and logs it. Returns whether the
/// connection can carry another request; `None` when it broke.
fn serve_request(h: &Handlers, conn: &Conn, request: Request, close: bool) -> Option<bool> {
    let started = Instant::now();
    let peer = conn.peer.ip();
    let method = request.method.clone();
    let path = log_path(&request.path);
    // Held until the response is written: writing is what a client that
    // does not read makes a handler wait for.
    let slot = h.per_peer.enter(peer);
    let reply = if slot.is_some() {
        let what = || format!("{method} {path}");
        catch_panics(|| router::handle(&h.ctx, &request), what)
    } else {
        warn!(
            "{peer} has {} requests in flight; answering 503",
            h.per_peer.cap
        );
        Reply::error(503, "too many requests from this client at once").header("Retry-After", "1")
    };
    let outcome = finish(h, conn, &method, &path, reply, close, started);
    drop(slot);
    outcome
}

/// Writes `reply` and logs the request line.
fn finish(
    h: &Handlers,
    conn: &Conn,
    method: &Method,
    path: &str,
    reply: Reply,
    close: bool,
    started: Instant,
) -> Option<bool> {
    let status = reply.status;
    let peer = conn.peer.ip();
    let streaming = matches!(reply.body, reply::Body::Events(_));
    let timeout = h.ctx.app.config.server.write_timeout;
    let result = catch_unwind(AssertUnwindSafe(|| {
        respond::write_reply(&conn.stream, reply, *method == Method::Head, close, timeout)
    }));
    let ms = started.elapsed().as_millis();
    let note = if streaming { "; event stream" } else { "" };
    match result {
        Ok(Ok(sent)) => {
            info!(
                "{peer} {method} {path} {status} {} bytes {ms} ms{note}",
                sent.bytes
            );
            Some(sent.reusable)
        }
        Ok(Err(e)) => {
            info!("{peer} {method} {path} {status} - bytes {ms} ms (client gone: {e}{note})");
            None
        }
        Err(panic) => {
            error!(
                "writing the response to {method} {path} panicked: {}",
                crate::panic_message(&*panic)
            );
            None
        }
    }
}

/// Runs a handler; a panic becomes a logged 500 instead of a dead thread.
/// `what` describes the request for the log line.
pub fn catch_panics(handler: impl FnOnce() -> Reply, what: impl FnOnce() -> String) -> Reply {
    catch_unwind(AssertUnwindSafe(handler)).unwrap_or_else(|panic| {
        let message = crate::panic_message(&*panic);
        error!("handler panicked on {}: {message}", what());
        Reply::error(500, "internal error")
    })
}

/// Requests in flight per client address: one client may hold at most
/// `cap` handler threads, so a phone or a script that opens many
/// connections and stops reading cannot starve the rest of the house.
struct PeerSlots {
    cap: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// A request counted against its client; uncounted when dropped.
struct PeerSlot<'a> {
    slots: &'a PeerSlots,
    peer: IpAddr,
}

impl PeerSlots {
    fn new(cap: usize) -> PeerSlots {
        PeerSlots {
            cap,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `peer`; `None` when it has `cap` already.
    fn enter(&self, peer: IpAddr) -> Option<PeerSlot<'_>> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(peer).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(PeerSlot { slots: self, peer })
    }
}

impl Drop for PeerSlot<'_> {
    fn drop(&mut self) {
        let mut counts = self.slots.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.peer);
            }
        }
    }
}

/// Raises the soft limit on open files to the hard one (systemd's default
/// soft limit of 1024 would otherwise cap the sockets), and warns when even
/// the hard limit is below `wanted`.
fn raise_descriptor_limit(wanted: usize) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write one rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    let have = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
    if have < wanted {
        warn!(
            "only {have} open files allowed (want {wanted} for server.max_sockets and the handlers); \
             lower max_sockets or raise LimitNOFILE"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_handler_becomes_a_500() {
        let reply = catch_panics(|| panic!("boom"), || "GET /x".into());
        assert_eq!(reply.status, 500);
        let ok = catch_panics(|| Reply::error(404, "not found"), || "GET /y".into());
        assert_eq!(ok.status, 404);
    }

    #[test]
    fn one_client_holds_at_most_its_share() {
        let slots = PeerSlots::new(2);
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        let b: IpAddr = "10.0.0.3".parse().unwrap();
        let first = slots.enter(a);
        let second = slots.enter(a);
        assert!(first.is_some() && second.is_some());
        assert!(slots.enter(a).is_none(), "a third from the same client");
        assert!(slots.enter(b).is_some(), "another client is not affected");
        drop(first);
        assert!(
            slots.enter(a).is_some(),
            "a slot comes back when a request ends"
        );
    }
}
