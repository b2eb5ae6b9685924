//! The event loop: one thread that accepts connections and watches every
//! connection that is not being served (idle between requests, or still
//! sending one) with epoll (through mio), so an idle or slow socket costs a
//! file descriptor and a few hundred bytes, never a thread.
//!
//! When a connection has bytes, the loop reads them without waiting; once a
//! whole request is in, a free handler thread takes the connection with
//! it, answers, and keeps reading and answering on the same thread while
//! the client keeps sending, then hands the connection back. A request
//! still coming in never occupies a handler. With every handler busy, the
//! loop answers the request itself with `503` and `Retry-After` (without
//! waiting: the loop never blocks).
//!
//! Limits it enforces: at most `max_sockets` open connections (at the cap
//! the connection idle the longest is closed to make room, else the new
//! one is refused with `503`); a request must be complete within the read
//! timeout of its first byte (`408`), and an idle keep-alive connection is
//! closed after it. Running out of file descriptors (`EMFILE`) never stops
//! the loop: it sheds the oldest idle connection, refuses the waiting one
//! with a descriptor kept in reserve for that, and goes on.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use log::{debug, error, info, warn};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::conn::{BufferBudget, Conn, Taken};
use super::reply::Reply;
use super::respond::refuse_now;

/// The listening socket's token.
const LISTENER: Token = Token(0);
/// The token of the waker that handlers and shutdown use.
pub const WAKER: Token = Token(1);

/// How often idle and slow connections are checked against the read
/// timeout.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// How long the loop waits for a handler thread it just started.
const HANDLER_START: Duration = Duration::from_millis(200);

/// How long accepting pauses after running out of file descriptors.
const EMFILE_BACKOFF: Duration = Duration::from_millis(100);

/// What the loop needs; the handler side holds the other ends.
pub struct EventLoop {
    pub poll: Poll,
    pub listener: TcpListener,
    /// Requests (with their connections) to hand to a free handler (a
    /// rendezvous channel: a send succeeds only when a handler is waiting).
    pub to_handlers: Sender<Work>,
    /// Starts one more handler thread; false when there are
    /// `max_connections` already (or one cannot be started).
    pub add_handler: Box<dyn FnMut() -> bool + Send>,
    /// Connections handlers give back to wait for their next request.
    pub parked_rx: Receiver<Conn>,
    /// Open connections, wherever they are.
    pub open: Arc<AtomicUsize>,
    pub max_sockets: usize,
    pub read_timeout: Duration,
    pub stopping: Arc<AtomicBool>,
    /// What all connections' read buffers may hold together.
    pub budget: Arc<BufferBudget>,
}

/// A whole request and its connection, for a handler.
pub struct Work {
    pub conn: Conn,
    pub request: super::request::Request,
    /// The connection cannot carry another request after this one.
    pub close_after: bool,
}

/// A connection waiting in the loop.
struct Waiting {
    conn: Conn,
    token: Token,
}

struct State {
    waiting: HashMap<Token, Waiting>,
    /// The next connection's token; tokens are never reused, so a stale
    /// event never reaches another connection.
    next_token: usize,
    /// A descriptor held back so that, out of descriptors, one can still be
    /// freed to accept and refuse the waiting client.
    reserve: Option<File>,
    /// When accepting may resume after `EMFILE`.
    accept_paused_until: Option<Instant>,
    last_emfile_warning: Option<Instant>,
}

impl EventLoop {
    /// Runs until `stopping` is set and the waker wakes the loop.
    ///
    /// Errors: `epoll_wait` failing other than by a signal, or the
    /// listener cannot be registered.
    pub fn run(self) -> io::Result<()> {
        let EventLoop {
            mut poll,
            listener,
            to_handlers,
            mut add_handler,
            parked_rx,
            open,
            max_sockets,
            read_timeout,
            stopping,
            budget,
        } = self;
        poll.registry().register(
            &mut SourceFd(&listener.as_raw_fd()),
            LISTENER,
            Interest::READABLE,
        )?;
        let mut st = State {
            waiting: HashMap::new(),
            next_token: 2,
            reserve: File::open("/dev/null").ok(),
            accept_paused_until: None,
            last_emfile_warning: None,
        };
        let mut events = Events::with_capacity(256);
        let mut last_sweep = Instant::now();
        loop {
            let timeout = if st.accept_paused_until.is_some() {
                EMFILE_BACKOFF
            } else {
                SWEEP_EVERY
            };
            if let Err(e) = poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if stopping.load(Ordering::Acquire) {
                // Dropping the waiting connections closes them; dropping
                // the sender lets idle handlers end.
                return Ok(());
            }
            let mut accept = false;
            for event in &events {
                match event.token() {
                    LISTENER => accept = true,
                    WAKER => {}
                    token => {
                        if let Some(w) = st.waiting.remove(&token) {
                            // The parser contains its own panics; this
                            // keeps the loop (and accepting) if anything
                            // else about one connection panics. The
                            // connection is dropped.
                            let dispatched = catch_unwind(AssertUnwindSafe(|| {
                                dispatch(&poll, &mut st, w, &to_handlers, &mut *add_handler);
                            }));
                            if let Err(panic) = dispatched {
                                error!(
                                    "the event loop's handling of a connection panicked: {}",
                                    crate::panic_message(&*panic)
                                );
                            }
                        }
                    }
                }
            }
            for conn in parked_rx.try_iter() {
                wait(&poll, &mut st, conn);
            }
            if st.accept_paused_until.is_some_and(|t| Instant::now() >= t) {
                st.accept_paused_until = None;
                accept = true;
            }
            if accept && st.accept_paused_until.is_none() {
                accept_all(&poll, &mut st, &listener, &open, &budget, max_sockets);
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                sweep(&mut st, read_timeout);
            }
        }
    }
}

/// Starts (or resumes) watching `conn` for its next request.
fn wait(poll: &Poll, st: &mut State, mut conn: Conn) {
    let fd = conn.stream.as_raw_fd();
    let result = match conn.token.map(Token) {
        // Re-arming an edge-triggered registration reports bytes that came
        // while a handler had the connection.
        Some(token) => poll
            .registry()
            .reregister(&mut SourceFd(&fd), token, Interest::READABLE)
            .map(|()| token),
        None => {
            let token = Token(st.next_token);
            st.next_token += 1;
            poll.registry()
                .register(&mut SourceFd(&fd), token, Interest::READABLE)
                .map(|()| token)
        }
    };
    match result {
        Ok(token) => {
            conn.token = Some(token.0);
            st.waiting.insert(token, Waiting { conn, token });
        }
        Err(e) => debug!(
            "{}: cannot watch the connection ({e}); closing it",
            conn.peer
        ),
    }
}

/// A waiting connection has bytes: the loop reads them, and once a whole
/// request is in, a free handler takes the connection with it (a new one
/// is started when all are busy and there are fewer than
/// `max_connections`); with none free the loop answers `503` itself. A
/// request still coming in stays here, so a slow client never occupies a
/// handler.
fn dispatch(
    poll: &Poll,
    st: &mut State,
    w: Waiting,
    to_handlers: &Sender<Work>,
    add_handler: &mut dyn FnMut() -> bool,
) {
    let mut conn = w.conn;
    let mut open = conn.read_available();
    let mut taken = conn.take_request();
    // Out of buffer budget with the request incomplete: the oldest
    // incomplete request goes, this one's when it is the oldest.
    while conn.starved && open && matches!(taken, Taken::Incomplete) {
        if !shed_oldest_incomplete(st, conn.request_started) {
            refuse_over_budget(&conn);
            return;
        }
        open = conn.read_available();
        taken = conn.take_request();
    }
    let (request, close_after) = match taken {
        Taken::Request {
            request,
            close_after,
        } => (request, close_after || !open),
        Taken::Refused { status, message } => {
            refuse_now(&conn.stream, Reply::error(status, message));
            debug!("{}: refused with {status}: {message}", conn.peer);
            return;
        }
        Taken::Incomplete if open => return wait(poll, st, conn),
        Taken::Incomplete => return,
    };
    let work = Work {
        conn,
        request,
        close_after,
    };
    let refused = match to_handlers.try_send(work) {
        Ok(()) => return,
        Err(TrySendError::Full(work)) if add_handler() => {
            // The new thread takes it as soon as it runs.
            match to_handlers.send_timeout(work, HANDLER_START) {
                Ok(()) => return,
                Err(e) => e.into_inner(),
            }
        }
        Err(TrySendError::Full(work)) => work,
        // Stopping: the connection closes.
        Err(TrySendError::Disconnected(_)) => return,
    };
    let reply = Reply::error(503, "server busy").header("Retry-After", "1");
    refuse_now(&refused.conn.stream, reply);
    warn!(
        "{} {} {}: every handler thread is busy; answered 503",
        refused.conn.peer.ip(),
        refused.request.method,
        super::request::log_path(&refused.request.path)
    );
}

/// Drops the waiting connection whose incomplete request started first,
/// when it started before `than` (the starved connection's own request);
/// answers it `503`. Returns false when there is none.
fn shed_oldest_incomplete(st: &mut State, than: Option<Instant>) -> bool {
    let oldest = st
        .waiting
        .values()
        .filter(|w| w.conn.buffered_bytes() > 0)
        .filter_map(|w| w.conn.request_started.map(|t| (t, w.token)))
        .min();
    match oldest {
        Some((started, token)) if than.is_none_or(|t| started < t) => {
            if let Some(w) = st.waiting.remove(&token) {
                refuse_over_budget(&w.conn);
            }
            true
        }
        _ => false,
    }
}

/// Answers `503` to a connection dropped to keep within the buffer budget.
fn refuse_over_budget(conn: &Conn) {
    refuse_now(
        &conn.stream,
        Reply::error(503, "the server is reading too many large requests at once")
            .header("Retry-After", "1"),
    );
    info!(
        "{}: incomplete request of {} bytes dropped: the request buffers are full",
        conn.peer.ip(),
        conn.buffered_bytes()
    );
}

/// Accepts every connection the listener has, within the socket cap.
fn accept_all(
    poll: &Poll,
    st: &mut State,
    listener: &TcpListener,
    open: &Arc<AtomicUsize>,
    budget: &Arc<BufferBudget>,
    max_sockets: usize,
) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => admit(poll, st, stream, peer, (open, budget), max_sockets),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                out_of_descriptors(st, listener, &e);
                return;
            }
            // ECONNABORTED and the like concern one connection only.
            Err(e) => debug!("accept: {e}"),
        }
    }
}

/// Takes a new connection in, closing the longest-idle one first when the
/// socket cap is reached, or refusing this one when every connection is
/// busy with a request.
fn admit(
    poll: &Poll,
    st: &mut State,
    stream: TcpStream,
    peer: SocketAddr,
    (open, budget): (&Arc<AtomicUsize>, &Arc<BufferBudget>),
    max_sockets: usize,
) {
    if open.load(Ordering::Acquire) >= max_sockets && !evict_idlest(st) {
        let _ = stream.set_nonblocking(true);
        refuse_now(
            &stream,
            Reply::error(503, "too many connections").header("Retry-After", "1"),
        );
        info!(
            "{}: {max_sockets} connections are busy; refused with 503",
            peer.ip()
        );
        return;
    }
    match Conn::new(stream, peer, Arc::clone(open), Arc::clone(budget)) {
        Ok(conn) => wait(poll, st, conn),
        Err(e) => debug!("{peer}: cannot set up the connection: {e}"),
    }
}

/// Closes the waiting connection that has been idle the longest (one with
/// nothing pending before one mid-request). Returns false when none waits.
fn evict_idlest(st: &mut State) -> bool {
    let victim = st
        .waiting
        .values()
        .min_by_key(|w| (!w.conn.buf.is_empty(), w.conn.idle_since))
        .map(|w| w.token);
    let Some(token) = victim else {
        return false;
    };
    if let Some(w) = st.waiting.remove(&token) {
        debug!("{}: closed to make room for a new connection", w.conn.peer);
    }
    true
}

/// `accept` failed for want of descriptors: shed the idlest connection,
/// use the reserve descriptor to accept and refuse the one waiting, and
/// pause accepting briefly instead of spinning.
fn out_of_descriptors(st: &mut State, listener: &TcpListener, e: &io::Error) {
    let now = Instant::now();
    if st
        .last_emfile_warning
        .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
    {
        warn!("accepting connections: {e}; closing idle connections and retrying");
        st.last_emfile_warning = Some(now);
    }
    evict_idlest(st);
    if st.reserve.take().is_some()
        && let Ok((stream, _)) = listener.accept()
    {
        let _ = stream.set_nonblocking(true);
        refuse_now(
            &stream,
            Reply::error(503, "out of connections").header("Retry-After", "1"),
        );
    }
    st.reserve = File::open("/dev/null").ok();
    st.accept_paused_until = Some(now + EMFILE_BACKOFF);
}

/// Closes connections past the read timeout: a request still incomplete
/// gets `408`, an idle keep-alive connection just closes.
fn sweep(st: &mut State, read_timeout: Duration) {
    let now = Instant::now();
    let expired: Vec<Token> = st
        .waiting
        .values()
        .filter(|w| match w.conn.request_started {
            Some(t) => now.duration_since(t) >= read_timeout,
            None => now.duration_since(w.conn.idle_since) >= read_timeout,
        })
        .map(|w| w.token)
        .collect();
    for token in expired {
        if let Some(w) = st.waiting.remove(&token)
            && w.conn.request_started.is_some()
        {
            refuse_now(
                &w.conn.stream,
                Reply::error(408, "the request was not complete in time"),
            );
            debug!(
                "{}: request incomplete after {read_timeout:?}; 408",
                w.conn.peer
            );
        }
    }
}

/// A waker for the loop (handlers giving connections back, shutdown).
///
/// Errors: the eventfd cannot be made.
pub fn waker(poll: &Poll) -> io::Result<Arc<Waker>> {
    Ok(Arc::new(Waker::new(poll.registry(), WAKER)?))
}
