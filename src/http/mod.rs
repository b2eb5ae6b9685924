//! The HTTP server: tiny_http's accept loop feeding a fixed set of handler
//! threads, with a hard cap on requests in flight, socket timeouts, panic
//! containment and one log line per request.
//!
//! tiny_http owns accepting and parsing; it keeps a thread per open
//! connection and an unbounded queue. We bound the work ourselves: one
//! dispatcher thread takes parsed requests and hands each to one of
//! `max_connections` handler threads, or answers `503` with `Retry-After`
//! when all are busy. Timeouts and `TCP_NODELAY` are set on the listening
//! socket, which Linux copies onto every accepted connection, so a stalled
//! client cannot hold a thread forever and keep-alive Range replies are not
//! held back by Nagle's algorithm.

pub mod admin;
pub mod api;
pub mod assets;
pub mod conditional;
pub mod error;
pub mod events;
pub mod files;
pub mod range;
pub mod reply;
pub mod request;
pub mod router;
pub mod transcoded;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{error, info, warn};
use tiny_http::{Header, Response, StatusCode};

use crate::app::App;
use reply::{Body, Reply};
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

/// A running server. Dropping it without [`Server::shutdown`] leaves the
/// threads running until the process exits.
pub struct Server {
    addr: SocketAddr,
    /// The tiny_http server whose accept loop is running.
    http: Arc<std::sync::Mutex<Arc<tiny_http::Server>>>,
    stopping: Arc<AtomicBool>,
    dispatcher: Option<JoinHandle<()>>,
    handlers: Vec<JoinHandle<()>>,
}

/// How long [`Server::shutdown`] waits for responses in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(700);

impl Server {
    /// Binds `app.config.server.listen` and starts serving.
    ///
    /// Errors: the address cannot be bound (in use, no permission) or a
    /// socket option or thread cannot be set up.
    pub fn start(app: App) -> io::Result<Server> {
        let server_cfg = app.config.server.clone();
        let listener = TcpListener::bind(server_cfg.listen)?;
        configure_listener(&listener, server_cfg.read_timeout, server_cfg.write_timeout)?;
        let addr = listener.local_addr()?;
        // A second handle on the socket, for starting a new accept loop if
        // tiny_http's ends (see `dispatch`).
        let spare = listener.try_clone()?;
        let http =
            Arc::new(tiny_http::Server::from_listener(listener, None).map_err(io::Error::other)?);
        let current = Arc::new(std::sync::Mutex::new(Arc::clone(&http)));

        let ctx = Arc::new(Context::new(app));
        let stopping = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max = server_cfg.max_connections;
        let (tx, rx) = crossbeam_channel::bounded::<tiny_http::Request>(max);

        let mut handlers = Vec::with_capacity(max);
        for i in 0..max {
            let rx = rx.clone();
            let ctx = Arc::clone(&ctx);
            let in_flight = Arc::clone(&in_flight);
            handlers.push(
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || {
                        for req in rx {
                            serve_one(&ctx, req);
                            in_flight.fetch_sub(1, Ordering::AcqRel);
                        }
                    })?,
            );
        }

        let forward = Forward {
            tx,
            in_flight,
            max,
            stopping: Arc::clone(&stopping),
        };
        let dispatcher = {
            let current = Arc::clone(&current);
            let idle = server_cfg.read_timeout;
            std::thread::Builder::new()
                .name("http-dispatch".into())
                .spawn(move || dispatch(http, &current, &spare, &forward, idle))?
        };
        spawn_accept_tick(addr, server_cfg.read_timeout, Arc::clone(&stopping))?;

        Ok(Server {
            addr,
            http: current,
            stopping,
            dispatcher: Some(dispatcher),
            handlers,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting requests, lets responses in progress finish for up
    /// to 0.7 s, and returns. Responses still running after that are cut
    /// off when the process exits.
    pub fn shutdown(mut self) {
        self.stopping.store(true, Ordering::Release);
        self.http
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unblock();
        if let Some(d) = self.dispatcher.take() {
            let _ = d.join();
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline && self.handlers.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Hands parsed requests to the handler threads, or answers 503 when all
/// are busy or the server is stopping.
struct Forward {
    tx: crossbeam_channel::Sender<tiny_http::Request>,
    in_flight: Arc<AtomicUsize>,
    max: usize,
    stopping: Arc<AtomicBool>,
}

impl Forward {
    /// Returns false when no more requests can be taken.
    fn forward(&self, req: tiny_http::Request) -> bool {
        if self.stopping.load(Ordering::Acquire) {
            busy(req, "shutting down");
            return false;
        }
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            warn!("all {} handler threads busy; answering 503", self.max);
            busy(req, "server busy");
            return true;
        }
        self.tx.send(req).is_ok()
    }
}

/// The dispatcher: takes requests from tiny_http and forwards them.
///
/// tiny_http's accept loop stops for good at the first error `accept()`
/// returns, and the listening socket carries `SO_RCVTIMEO` (so accepted
/// connections inherit it), which makes `accept()` fail with `EAGAIN`
/// after `read_timeout` without a new connection. [`spawn_accept_tick`]
/// keeps that from happening; for that or any other accept error
/// (`EMFILE`, ...) a new tiny_http server is started on the same socket,
/// and a thread drains the requests still arriving on the old one's
/// connections until it has had none for a long while.
fn dispatch(
    mut http: Arc<tiny_http::Server>,
    current: &std::sync::Mutex<Arc<tiny_http::Server>>,
    spare: &TcpListener,
    forward: &Forward,
    idle: Duration,
) {
    loop {
        match http.recv() {
            Ok(req) => {
                if !forward.forward(req) {
                    return;
                }
            }
            Err(e) => {
                if forward.stopping.load(Ordering::Acquire) {
                    return;
                }
                let fresh = match spare.try_clone().and_then(|l| {
                    tiny_http::Server::from_listener(l, None).map_err(io::Error::other)
                }) {
                    Ok(s) => Arc::new(s),
                    Err(e2) => {
                        error!(
                            "accepting connections failed ({e}) and cannot restart ({e2}); no new connections will be served"
                        );
                        return;
                    }
                };
                warn!("accepting connections failed ({e}); accepting again");
                *current.lock().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&fresh);
                let old = std::mem::replace(&mut http, fresh);
                let drain = Forward {
                    tx: forward.tx.clone(),
                    in_flight: Arc::clone(&forward.in_flight),
                    max: forward.max,
                    stopping: Arc::clone(&forward.stopping),
                };
                // Its connections close after `idle` without a request; a
                // long download may sit between two, so wait well past it.
                let quiet = (idle * 20).max(Duration::from_secs(600));
                let spawned =
                    std::thread::Builder::new()
                        .name("http-drain".into())
                        .spawn(move || {
                            loop {
                                match old.recv_timeout(quiet) {
                                    Ok(Some(req)) => {
                                        if !drain.forward(req) {
                                            break;
                                        }
                                    }
                                    Ok(None) => break,
                                    // The old accept loop is gone: no error repeats.
                                    Err(_) => {}
                                }
                            }
                        });
                if let Err(e) = spawned {
                    error!("cannot start a drain thread: {e}");
                }
            }
        }
    }
}

/// Opens and closes a connection to our own socket every third of
/// `read_timeout`, so tiny_http's blocking `accept()` never sits idle long
/// enough for the inherited `SO_RCVTIMEO` to end it (see [`dispatch`]).
fn spawn_accept_tick(
    addr: SocketAddr,
    read_timeout: Duration,
    stopping: Arc<AtomicBool>,
) -> io::Result<()> {
    let target = match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        a => a,
    };
    let every = (read_timeout / 3).max(Duration::from_millis(100));
    std::thread::Builder::new()
        .name("http-tick".into())
        .spawn(move || {
            while !stopping.load(Ordering::Acquire) {
                std::thread::sleep(every);
                if let Err(e) = std::net::TcpStream::connect_timeout(&target, every) {
                    log::debug!("accept tick to {target}: {e}");
                }
            }
        })?;
    Ok(())
}

/// Sets the options every accepted connection inherits from the listening
/// socket on Linux: `TCP_NODELAY`, `SO_RCVTIMEO` (`read`) and `SO_SNDTIMEO`
/// (`write`).
///
/// Errors: `setsockopt` failing (it does not on a TCP socket).
pub fn configure_listener(
    listener: &TcpListener,
    read: Duration,
    write: Duration,
) -> io::Result<()> {
    let socket = socket2::SockRef::from(listener);
    socket.set_tcp_nodelay(true)?;
    socket.set_read_timeout(Some(read))?;
    socket.set_write_timeout(Some(write))?;
    Ok(())
}

/// Reads `TCP_NODELAY`, `SO_RCVTIMEO` and `SO_SNDTIMEO` back from a socket
/// (a timeout of zero when none is set).
#[doc(hidden)]
pub fn socket_options(socket: &impl std::os::fd::AsFd) -> io::Result<(bool, Duration, Duration)> {
    let socket = socket2::SockRef::from(socket);
    Ok((
        socket.tcp_nodelay()?,
        socket.read_timeout()?.unwrap_or_default(),
        socket.write_timeout()?.unwrap_or_default(),
    ))
}

/// Answers `503` from the dispatcher without tying up a handler thread.
fn busy(req: tiny_http::Request, why: &str) {
    let reply = Reply::error(503, why).header("Retry-After", "1");
    let method = req.method().clone();
    let path = log_path(req.url());
    let status = reply.status;
    let (response, _) = to_response(reply);
    let _ = req.respond(response);
    info!("{method} {path} {status} 0 bytes 0 ms ({why})");
}

/// Largest request body read; a larger one is refused with 413 before a
/// handler runs.
const MAX_BODY_BYTES: usize = admin::MAX_WARM_BODY_BYTES;

/// Our [`Request`] for tiny_http's, with the body read (at most
/// [`MAX_BODY_BYTES`]; GET and HEAD bodies are not read).
fn to_request(req: &mut tiny_http::Request) -> Result<Request, Reply> {
    let mut ours = Request::new(Method::parse(req.method().as_str()), req.url());
    ours.headers = req
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_owned(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    ours.peer = req.remote_addr().copied();
    if !ours.is_get_or_head() {
        let too_large = || {
            Reply::error(
                413,
                format!("the body is limited to {MAX_BODY_BYTES} bytes"),
            )
        };
        if req.body_length().is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(too_large());
        }
        match req
            .as_reader()
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_end(&mut ours.body)
        {
            Ok(n) if n > MAX_BODY_BYTES => return Err(too_large()),
            Ok(_) => {}
            Err(e) => return Err(Reply::error(400, format!("cannot read the body: {e}"))),
        }
    }
    Ok(ours)
}

/// Handles one request on a handler thread and logs it.
fn serve_one(ctx: &Context, mut req: tiny_http::Request) {
    let started = Instant::now();
    let reply = match to_request(&mut req) {
        Ok(ours) => {
            let what = format!("{} {}", ours.method, log_path(&ours.path));
            catch_panics(|| router::handle(ctx, &ours), || what)
        }
        Err(reply) => reply,
    };
    if matches!(reply.body, Body::Events(_)) {
        return stream_events(req, reply, started);
    }
    respond(req, reply, started);
}

/// Sends a [`Body::Events`] reply on the raw connection, chunked, every
/// event flushed at once (tiny_http buffers chunked bodies in 8 KiB chunks
/// and never flushes), and logs the request when the stream ends.
fn stream_events(req: tiny_http::Request, reply: Reply, started: Instant) {
    let path = log_path(req.url());
    let peer = req
        .remote_addr()
        .map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
    let Reply {
        status,
        headers,
        body: Body::Events(writer),
    } = reply
    else {
        return;
    };
    let result = catch_unwind(AssertUnwindSafe(|| -> io::Result<u64> {
        let mut out = req.into_writer();
        let mut head = format!(
            "HTTP/1.1 {status} OK\r\nServer: tapedeck/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
        out.write_all(head.as_bytes())?;
        out.flush()?;
        let mut body = chunked_transfer::Encoder::with_flush_after_write(out);
        let sent = (writer.0)(&mut body);
        drop(body);
        sent
    }));
    let ms = started.elapsed().as_millis();
    match result {
        Ok(Ok(bytes)) => info!("{peer} GET {path} 200 {bytes} bytes {ms} ms (event stream)"),
        Ok(Err(e)) => {
            info!("{peer} GET {path} 200 - bytes {ms} ms (event stream; client gone: {e})")
        }
        Err(_) => error!("event stream {path} panicked"),
    }
}

/// Sends `reply` and logs the request.
fn respond(req: tiny_http::Request, reply: Reply, started: Instant) {
    let method = req.method().clone();
    let path = log_path(req.url());
    let peer = req
        .remote_addr()
        .map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
    let status = reply.status;
    let (response, sent) = to_response(reply);
    let result = req.respond(response);
    let bytes = if method == tiny_http::Method::Head {
        0
    } else {
        sent.load(Ordering::Relaxed)
    };
    let ms = started.elapsed().as_millis();
    match result {
        Ok(()) => info!("{peer} {method} {path} {status} {bytes} bytes {ms} ms"),
        Err(e) => info!("{peer} {method} {path} {status} {bytes} bytes {ms} ms (client gone: {e})"),
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

/// Converts a [`Reply`] for tiny_http, with a counter of body bytes sent.
///
/// The length is always given and the chunked threshold lifted, so tiny_http
/// sends `Content-Length` (it otherwise switches to chunked above 32 KiB).
fn to_response(reply: Reply) -> (Response<Box<dyn Read + Send>>, Arc<AtomicU64>) {
    let Reply {
        status,
        headers,
        body,
    } = reply;
    let len = body.len();
    let has_length = body.has_length();
    let inner = match body.into_reader() {
        Ok(r) => r,
        Err(e) => {
            error!("preparing a response body: {e}");
            return to_response(Reply::error(500, "the file could not be read"));
        }
    };
    let sent = Arc::new(AtomicU64::new(0));
    let reader: Box<dyn Read + Send> = Box::new(CountingReader {
        inner,
        count: Arc::clone(&sent),
    });
    let mut tiny_headers: Vec<Header> = Vec::with_capacity(headers.len() + 1);
    let server = concat!("tapedeck/", env!("CARGO_PKG_VERSION"));
    for (name, value) in
        std::iter::once(("Server", server)).chain(headers.iter().map(|(n, v)| (*n, v.as_str())))
    {
        match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            Ok(h) => tiny_headers.push(h),
            Err(()) => error!("dropping header {name} with a non-ASCII value"),
        }
    }
    let size = usize::try_from(len).unwrap_or(usize::MAX);
    // A known length is always sent as Content-Length (tiny_http would go
    // chunked above 32 KiB); an unknown one is chunked.
    let response = if has_length {
        Response::new(StatusCode(status), tiny_headers, reader, Some(size), None)
            .with_chunked_threshold(usize::MAX)
    } else {
        Response::new(StatusCode(status), tiny_headers, reader, None, None)
    };
    (response, sent)
}

/// Counts the bytes read through it (the body bytes actually sent).
struct CountingReader {
    inner: Box<dyn Read + Send>,
    count: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
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
}
