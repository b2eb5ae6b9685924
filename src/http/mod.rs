//! The HTTP transport. It is given a [`Handler`], a plain function from a
//! [`Request`] to a [`Reply`] (tapedeck's is `crate::router`), and knows
//! nothing of what the handler serves: no app, library, Subsonic or state.
//!
//! A small HTTP/1.1 layer of our own on `httparse`, one
//! event-loop thread that accepts and watches idle connections
//! ([`event_loop`]) and reads a request that arrives on an idle
//! connection, and up to `max_connections` handler threads (started as the
//! first requests need them, then kept). A handler answers the request,
//! writes the response, and keeps the connection while the client keeps
//! sending: a keep-alive client's next request is read, answered and
//! written on the same thread, with no hand-over.
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

pub mod conditional;
pub mod conn;
pub mod event_loop;
pub mod files;
pub mod range;
pub mod reply;
pub mod request;
pub mod respond;

pub use reply::{Body, ErrorBody, Reply};
pub use request::{Method, Request};

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

use conn::{Conn, Taken};
use event_loop::{EventLoop, Work};
use request::log_path;

/// What the transport needs to know; the config's `[server]` section
/// fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Address and port to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Requests served at once (handler threads); more get `503` with
    /// `Retry-After`.
    pub max_connections: usize,
    /// Open connections at most, idle ones included.
    pub max_sockets: usize,
    /// How long an idle connection is kept, and how long a client has to
    /// send a whole request from its first byte.
    pub read_timeout: Duration,
    /// How long a write to a client may block before the response is
    /// abandoned.
    pub write_timeout: Duration,
    /// What all connections' read buffers may hold together, in bytes
    /// ([`conn::BufferBudget`]); [`DEFAULT_BUFFER_BUDGET_BYTES`] unless a
    /// test wants less.
    pub buffer_budget_bytes: usize,
}

/// The default [`Settings::buffer_budget_bytes`]: 16 MiB, sixteen
/// requests of the largest head at once, a small part of a Pi Zero 2 W's
/// 512 MB.
pub const DEFAULT_BUFFER_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// What answers requests: a plain function of the request, so it can be
/// called without a socket (tests do). It runs on a handler thread; a
/// panic in it becomes a logged `500`.
pub type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// How long a handler thread waits for the next request on a keep-alive
/// connection before handing the connection back to the event loop: long
/// enough for a client on the LAN to send it, short enough to cost nothing.
const KEEP_ALIVE_WAIT: Duration = Duration::from_millis(2);

/// How long [`Server::shutdown`] waits for responses in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(700);

/// A running server. Dropping it without [`Server::shutdown`] leaves the
/// threads running until the process exits.
pub struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    waker: Arc<Waker>,
    event_loop: Option<JoinHandle<()>>,
    handlers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// The handler threads' shared state.
struct Handlers {
    handler: Box<Handler>,
    settings: Settings,
    /// Connections given back to the event loop, and its waker.
    park: Sender<Conn>,
    waker: Arc<Waker>,
    stopping: Arc<AtomicBool>,
    /// Requests in flight per client address.
    per_peer: PeerSlots,
}

impl Server {
    /// Binds `settings.listen` and starts answering requests with
    /// `handler`.
    ///
    /// Errors: the address cannot be bound (in use, no permission), or the
    /// event loop or a thread cannot be set up.
    pub fn start(
        settings: Settings,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> io::Result<Server> {
        let cfg = settings.clone();
        raise_descriptor_limit(cfg.max_sockets + 4 * cfg.max_connections + 64);
        let listener = TcpListener::bind(cfg.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let poll = Poll::new()?;
        let waker = event_loop::waker(&poll)?;
        let stopping = Arc::new(AtomicBool::new(false));
        // A rendezvous channel: the event loop's send succeeds only when a
        // handler is waiting for work, which is how it knows to answer 503.
        let (to_handlers, from_loop) = crossbeam_channel::bounded::<Work>(0);
        let (park, parked_rx) = crossbeam_channel::unbounded::<Conn>();
        let shared = Arc::new(Handlers {
            handler: Box::new(handler),
            settings,
            park,
            waker: Arc::clone(&waker),
            stopping: Arc::clone(&stopping),
            per_peer: PeerSlots::new((cfg.max_connections / 2).max(1)),
        });
        // Handler threads start when the first requests need them (an idle
        // server keeps none), up to max_connections, and then stay.
        let handlers = Arc::new(Mutex::new(Vec::<JoinHandle<()>>::with_capacity(
            cfg.max_connections,
        )));
        let add_handler = {
            let handlers = Arc::clone(&handlers);
            let max = cfg.max_connections;
            move || -> bool {
                let mut list = handlers.lock().unwrap_or_else(|e| e.into_inner());
                // A thread that ended (it cannot, short of a bug) is not
                // counted: a new one takes its place.
                list.retain(|h| !h.is_finished());
                if list.len() >= max {
                    return false;
                }
                let shared = Arc::clone(&shared);
                let rx: Receiver<Work> = from_loop.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("http-{}", list.len()))
                    .spawn(move || {
                        for work in rx {
                            // Handler and parser panics are caught nearer;
                            // this keeps the thread if anything else does.
                            let served = catch_unwind(AssertUnwindSafe(|| {
                                serve_connection(&shared, work);
                            }));
                            if let Err(panic) = served {
                                error!(
                                    "serving a connection panicked: {}",
                                    crate::panic_message(&*panic)
                                );
                            }
                        }
                    });
                match spawned {
                    Ok(h) => {
                        list.push(h);
                        true
                    }
                    Err(e) => {
                        warn!("cannot start a handler thread: {e}");
                        false
                    }
                }
            }
        };
        let event_loop = EventLoop {
            poll,
            listener,
            to_handlers,
            add_handler: Box::new(add_handler),
            parked_rx,
            open: Arc::new(AtomicUsize::new(0)),
            max_sockets: cfg.max_sockets,
            read_timeout: cfg.read_timeout,
            stopping: Arc::clone(&stopping),
            budget: conn::BufferBudget::new(cfg.buffer_budget_bytes),
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
        let busy = || {
            self.handlers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|h| !h.is_finished())
        };
        while Instant::now() < deadline && busy() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Serves the request the event loop read, then the ones that follow on
/// the same connection until it goes quiet (then it goes back to the
/// event loop), closes, or must close.
fn serve_connection(h: &Handlers, work: Work) {
    let Work {
        mut conn,
        request,
        close_after,
    } = work;
    let mut next = Some((request, close_after));
    loop {
        if let Some((request, close_after)) = next.take() {
            let close = close_after || h.stopping.load(Ordering::Acquire);
            let Some(reusable) = serve_request(h, &conn, request, close) else {
                return;
            };
            if !reusable {
                return;
            }
            conn.idle_since = Instant::now();
            if conn.buf.is_empty() && !conn.wait_for_more(KEEP_ALIVE_WAIT) {
                give_back(h, conn);
                return;
            }
        }
        let open = conn.read_available();
        match conn.take_request() {
            Taken::Request {
                request,
                close_after,
            } => next = Some((request, close_after || !open)),
            Taken::Incomplete if open && !h.stopping.load(Ordering::Acquire) => {
                give_back(h, conn);
                return;
            }
            Taken::Incomplete => return,
            Taken::Refused { status, message } => {
                let started = Instant::now();
                let result = respond::write_reply(
                    &conn.stream,
                    Reply::error(status, message),
                    false,
                    true,
                    h.settings.write_timeout,
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
    // Held until the response is written: writing is what a client that
    // does not read makes a handler wait for.
    let slot = h.per_peer.enter(peer);
    let reply = if slot.is_some() {
        let what = || format!("{} {}", request.method, log_path(&request.path));
        catch_panics(|| (h.handler)(&request), what)
    } else {
        warn!(
            "{peer} has {} requests in flight; answering 503",
            h.per_peer.cap
        );
        Reply::error(503, "too many requests from this client at once").header("Retry-After", "1")
    };
    let outcome = finish(h, conn, &request, reply, close, started);
    drop(slot);
    outcome
}

/// Writes `reply` and logs the request line.
fn finish(
    h: &Handlers,
    conn: &Conn,
    request: &Request,
    reply: Reply,
    close: bool,
    started: Instant,
) -> Option<bool> {
    let method = &request.method;
    // Decoded only when a line is written (not at -q, under load).
    let path = || log_path(&request.path);
    let status = reply.status;
    let peer = conn.peer.ip();
    let streaming = matches!(reply.body, reply::Body::Events(_));
    let timeout = h.settings.write_timeout;
    let result = catch_unwind(AssertUnwindSafe(|| {
        respond::write_reply(&conn.stream, reply, *method == Method::Head, close, timeout)
    }));
    let ms = started.elapsed().as_millis();
    let note = if streaming { "; event stream" } else { "" };
    match result {
        Ok(Ok(sent)) => {
            info!(
                "{peer} {method} {} {status} {} bytes {ms} ms{note}",
                path(),
                sent.bytes
            );
            Some(sent.reusable)
        }
        Ok(Err(e)) => {
            info!(
                "{peer} {method} {} {status} - bytes {ms} ms (client gone: {e}{note})",
                path()
            );
            None
        }
        Err(panic) => {
            error!(
                "writing the response to {method} {} panicked: {}",
                path(),
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

    use std::io::{Read, Write};
    use std::net::TcpStream;

    /// A server on 127.0.0.1:0 with `max_connections` handler threads that
    /// answers every request with 200 `ok`.
    fn ok_server(max_connections: usize) -> Server {
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_connections,
            max_sockets: 64,
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            buffer_budget_bytes: DEFAULT_BUFFER_BUDGET_BYTES,
        };
        Server::start(settings, |_| Reply::new(200, Body::Bytes(b"ok".to_vec()))).unwrap()
    }

    /// Sends `requests` on one connection, reads until the server closes.
    fn exchange(addr: SocketAddr, requests: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(requests).unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    const FAULT: &[u8] = b"GET /x HTTP/1.1\r\nHost: t\r\nX-Test-Parser-Panic: 1\r\n\r\n";
    const CLOSE: &[u8] = b"GET /y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

    #[test]
    fn a_parser_panic_on_the_event_loop_is_a_400_and_accepting_goes_on() {
        let server = ok_server(2);
        let answer = exchange(server.addr(), FAULT);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        for _ in 0..3 {
            let answer = exchange(server.addr(), CLOSE);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        server.shutdown();
    }

    #[test]
    fn a_parser_panic_on_a_keep_alive_connection_keeps_the_only_handler() {
        // One handler thread: if the panic ended it, every later request
        // would be a 503.
        let server = ok_server(1);
        // The one handler may still be finishing the connection before
        // (a 503 then); a lost handler would make every answer a 503.
        let when_free = |requests: &[u8]| {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let answer = exchange(server.addr(), requests);
                if !answer.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
                    return answer;
                }
                std::thread::yield_now();
            }
        };
        for _ in 0..3 {
            let mut both = b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
            both.extend_from_slice(FAULT);
            let answer = when_free(&both);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(
                answer.contains("HTTP/1.1 400"),
                "the second is refused: {answer}"
            );
            let answer = when_free(CLOSE);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        server.shutdown();
    }

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
