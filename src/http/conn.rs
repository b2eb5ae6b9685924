//! One client connection: its non-blocking socket, the bytes read but not
//! yet used, and the rules for turning them into a [`Request`].
//!
//! A request is taken only when its head and its whole body (bounded) are
//! in memory, so a client that sends slowly never holds a handler thread:
//! until then the connection waits in the event loop (see
//! [`super::event_loop`]), and a request not complete within the read
//! timeout of its first byte is answered 408 and closed.
//!
//! Limits (RFC 9110 §15.5.14, RFC 6585 §5): the head is at most
//! [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] fields (else 431); a body at most
//! [`MAX_BODY_BYTES`] (else 413), and only POST, PUT and PATCH bodies are
//! read: any other request with a body is answered and its connection
//! closed, since the body is never drained. The caps fit what Subsonic apps
//! send (a 2,000-song `savePlayQueue` by GET is a 200 KB request line;
//! Navidrome and gonic take 1 MB heads, Go's default); what keeps many
//! clients sending that much harmless is the [`BufferBudget`] all
//! connections share, the whole-request deadline and the per-client share
//! of handlers.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::request::{Method, Request};

/// Largest request head (request line and header fields), in bytes.
pub const MAX_HEAD_BYTES: usize = 1024 * 1024;
/// Most header fields in a request head.
pub const MAX_HEADERS: usize = 100;
/// Largest request body read, in bytes (warm requests, Subsonic form
/// posts); a larger one is refused with 413 before a handler runs.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A read buffer left with more capacity than this once empty gives it
/// back (one large request must not pin a megabyte per connection).
const KEEP_CAPACITY_BYTES: usize = 64 * 1024;

/// The bytes all connections together may hold in their read buffers:
/// each connection takes from it before it reads, and gives back what its
/// requests no longer need. A connection that cannot take more is
/// *starved* ([`Conn::starved`]); the event loop then drops the connection
/// whose incomplete request is the oldest, so a crowd of slow senders of
/// large heads cannot grow the server's memory.
#[derive(Debug)]
pub struct BufferBudget {
    cap_bytes: usize,
    used_bytes: AtomicUsize,
}

impl BufferBudget {
    /// A budget of `cap_bytes`.
    pub fn new(cap_bytes: usize) -> Arc<BufferBudget> {
        Arc::new(BufferBudget {
            cap_bytes,
            used_bytes: AtomicUsize::new(0),
        })
    }

    /// Bytes held by all connections now.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes.load(Ordering::Acquire)
    }

    /// Takes `n` bytes; false (nothing taken) when that would pass the cap.
    fn try_take(&self, n: usize) -> bool {
        self.used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&after| after <= self.cap_bytes)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.used_bytes.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A client connection.
pub struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// Bytes read and not yet taken as a request.
    pub buf: Vec<u8>,
    /// When the first byte of the request being read arrived.
    pub request_started: Option<Instant>,
    /// When the connection last finished a response (or was accepted).
    pub idle_since: Instant,
    /// `100 Continue` was sent for the request being read.
    continued: bool,
    /// The event loop's registration of this socket, once it has one.
    pub token: Option<usize>,
    /// Sockets open, shared with the event loop; one less when dropped.
    open: Arc<AtomicUsize>,
    /// What all connections' buffers may hold, and this one's share of
    /// it (`held_bytes >= buf.len()`).
    budget: Arc<BufferBudget>,
    held_bytes: usize,
    /// The last read stopped because the budget was spent, with bytes
    /// perhaps still waiting in the socket.
    pub starved: bool,
}

/// What [`Conn::take_request`] found.
#[derive(Debug)]
pub enum Taken {
    /// A whole request. `close_after`: the client asked to close, or a
    /// body was left unread, so the connection cannot carry another.
    Request { request: Request, close_after: bool },
    /// More bytes are needed.
    Incomplete,
    /// The request is refused before a handler sees it: answer `status`
    /// with `message`, then close.
    Refused { status: u16, message: &'static str },
}

impl Conn {
    /// Wraps an accepted socket (made non-blocking here), counting it in
    /// `open`.
    ///
    /// Errors: the socket cannot be made non-blocking.
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        open: Arc<AtomicUsize>,
        budget: Arc<BufferBudget>,
    ) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        // Range replies are small; Nagle's algorithm would hold them back.
        stream.set_nodelay(true)?;
        open.fetch_add(1, Ordering::AcqRel);
        Ok(Conn {
            stream,
            peer,
            buf: Vec::new(),
            request_started: None,
            idle_since: Instant::now(),
            continued: false,
            token: None,
            open,
            budget,
            held_bytes: 0,
            starved: false,
        })
    }

    /// Reads what the socket has now, without waiting, up to the most a
    /// request may hold and what the [`BufferBudget`] allows (else
    /// [`Conn::starved`] is set). Returns false when the client closed its
    /// side (or the connection broke) and nothing can follow.
    pub fn read_available(&mut self) -> bool {
        let limit = MAX_HEAD_BYTES + MAX_BODY_BYTES;
        let mut chunk = [0u8; 16 * 1024];
        self.starved = false;
        while self.buf.len() < limit {
            let room = (limit - self.buf.len()).min(chunk.len());
            let spare = self.held_bytes - self.buf.len();
            if spare < room && !self.budget.try_take(room - spare) {
                self.starved = true;
                return true;
            }
            self.held_bytes = self.held_bytes.max(self.buf.len() + room);
            let result = self.stream.read(&mut chunk[..room]);
            let got = match result {
                Ok(n) => n,
                Err(_) => 0,
            };
            if got > 0 && self.buf.is_empty() {
                self.request_started = Some(Instant::now());
            }
            self.buf.extend_from_slice(&chunk[..got]);
            self.release_spare();
            match result {
                Ok(0) => return false,
                // Drained (a short read): spare the read that would only
                // say so.
                Ok(n) if n < room => return true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Gives back to the budget what the buffer does not hold, and memory
    /// an empty buffer no longer needs.
    fn release_spare(&mut self) {
        let spare = self.held_bytes - self.buf.len();
        if spare > 0 {
            self.budget.give_back(spare);
            self.held_bytes = self.buf.len();
        }
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY_BYTES {
            self.buf = Vec::new();
        }
    }

    /// Bytes of a request being read, for the budget's choice of which
    /// connection to drop: 0 when none is.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next request from the bytes read so far. A panic while
    /// parsing (a bug that a client's bytes found) refuses the request
    /// with 400, logged, and leaves the thread that parses it running,
    /// whether that is the event loop or a handler.
    pub fn take_request(&mut self) -> Taken {
        match catch_unwind(AssertUnwindSafe(|| self.parse_request())) {
            Ok(taken) => taken,
            Err(panic) => {
                log::error!(
                    "{}: parsing a request panicked: {}",
                    self.peer.ip(),
                    crate::panic_message(&*panic)
                );
                refused(400, "malformed request")
            }
        }
    }

    fn parse_request(&mut self) -> Taken {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut head = httparse::Request::new(&mut fields);
        let head_len = match head.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if self.buf.len() >= MAX_HEAD_BYTES => {
                return refused(431, "the request head is too large");
            }
            Ok(httparse::Status::Partial) => return Taken::Incomplete,
            Err(httparse::Error::TooManyHeaders) => {
                return refused(431, "too many header fields");
            }
            Err(_) => return refused(400, "malformed request"),
        };
        if head_len > MAX_HEAD_BYTES {
            return refused(431, "the request head is too large");
        }
        let method = Method::parse(head.method.unwrap_or("GET"));
        let target = head.path.unwrap_or("/");
        let http10 = head.version == Some(0);
        let headers: Vec<(String, String)> = head
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).trim().to_owned(),
                )
            })
            .collect();
        let mut request = Request::new(method, target);
        request.headers = headers;
        request.peer = Some(self.peer);
        #[cfg(test)]
        if request.header("X-Test-Parser-Panic").is_some() {
            panic!("a parser fault injected by a test");
        }
        if request.header("Transfer-Encoding").is_some() {
            return refused(501, "request bodies must be sent with Content-Length");
        }
        let body_len = match content_length(&request) {
            Ok(n) => n,
            Err(()) => return refused(400, "malformed Content-Length"),
        };
        let reads_body = matches!(request.method, Method::Post | Method::Put)
            || request.method.as_str() == "PATCH";
        let mut close_after = wants_close(&request, http10);
        let mut consumed = head_len;
        if reads_body {
            if body_len > MAX_BODY_BYTES as u64 {
                return refused(413, "the request body is too large");
            }
            let end = head_len + body_len as usize;
            if self.buf.len() < end {
                self.send_continue(&request);
                return Taken::Incomplete;
            }
            request.body = self.buf[head_len..end].to_vec();
            consumed = end;
        } else if body_len > 0 {
            // Never read: answer, then close rather than resynchronise.
            close_after = true;
            consumed = self.buf.len();
        }
        self.buf.drain(..consumed);
        self.release_spare();
        self.request_started = (!self.buf.is_empty()).then(Instant::now);
        self.continued = false;
        Taken::Request {
            request,
            close_after,
        }
    }

    /// Answers `Expect: 100-continue` (RFC 9110 §10.1.1) once the head is
    /// in, so a client that waits for it sends the body at once.
    fn send_continue(&mut self, request: &Request) {
        let expects = request
            .header("Expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if expects && !self.continued {
            self.continued = true;
            let _ = self.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
    }

    /// Waits up to `wait` for the next request's first bytes; true when
    /// they arrived (a keep-alive client about to send its next request).
    pub fn wait_for_more(&self, wait: Duration) -> bool {
        wait_fd(self.stream.as_raw_fd(), libc::POLLIN, wait).unwrap_or(false)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.budget.give_back(self.held_bytes);
    }
}

fn refused(status: u16, message: &'static str) -> Taken {
    Taken::Refused { status, message }
}

/// The request's body length: 0 without `Content-Length`.
///
/// Errors: a value that is not a number, or several that differ (RFC 9112
/// §6.3: a recipient must treat that as unrecoverable).
fn content_length(request: &Request) -> Result<u64, ()> {
    let mut found: Option<u64> = None;
    for (_, value) in request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
    {
        for part in value.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            let n: u64 = part.parse().map_err(|_| ())?;
            if found.is_some_and(|f| f != n) {
                return Err(());
            }
            found = Some(n);
        }
    }
    Ok(found.unwrap_or(0))
}

/// Whether the connection ends after this request (RFC 9112 §9.3): asked
/// by `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
fn wants_close(request: &Request, http10: bool) -> bool {
    let has = |token: &str| {
        request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if http10 {
        !has("keep-alive")
    } else {
        has("close")
    }
}

/// Waits until `fd` is ready for `events` (`POLLIN`, `POLLOUT`) for up to
/// `timeout`. Returns whether it became ready; a hang-up or error counts
/// as ready (the next read or write reports it).
///
/// Errors: `poll(2)` failing other than by a signal.
pub fn wait_fd(fd: libc::c_int, events: libc::c_short, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connection whose peer has sent `bytes`.
    fn conn_with(bytes: &[u8]) -> (Conn, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (server, peer) = l.accept().unwrap();
        // Written from another thread: a head of a megabyte fills the
        // socket buffers before the connection reads.
        let mut writer = client.try_clone().unwrap();
        let sent = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = writer.write_all(&sent);
        });
        let mut c = Conn::new(
            server,
            peer,
            Arc::new(AtomicUsize::new(0)),
            BufferBudget::new(64 << 20),
        )
        .unwrap();
        for _ in 0..100 {
            c.read_available();
            if c.buf.len() >= bytes.len().min(MAX_HEAD_BYTES + MAX_BODY_BYTES) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (c, client)
    }

    fn status_of(t: &Taken) -> Option<u16> {
        match t {
            Taken::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    #[test]
    fn connections_share_the_buffer_budget_and_give_it_back() {
        let budget = BufferBudget::new(40 * 1024);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut conns = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..2 {
            let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (server, peer) = l.accept().unwrap();
            client
                .write_all(format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(30 * 1024)).as_bytes())
                .unwrap();
            let open = Arc::new(AtomicUsize::new(0));
            conns.push(Conn::new(server, peer, open, Arc::clone(&budget)).unwrap());
            clients.push(client);
        }
        let head_len = 30 * 1024 + 19;
        wait_until(|| {
            conns[0].read_available();
            conns[0].buf.len() == head_len
        });
        assert!(!conns[0].starved);
        assert_eq!(budget.used_bytes(), head_len, "only what the buffer holds");
        conns[1].read_available();
        assert!(conns[1].starved, "the second head does not fit");
        assert!(budget.used_bytes() <= 40 * 1024);
        let first = conns.remove(0);
        drop(first);
        wait_until(|| {
            conns[0].read_available();
            conns[0].buf.len() == head_len
        });
        assert!(!conns[0].starved, "room again once the first is gone");
        drop(conns);
        assert_eq!(budget.used_bytes(), 0);
    }

    /// Retries `f` until it holds (a socket's bytes arrive asynchronously).
    fn wait_until(mut f: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("condition not met in 5 s");
    }

    #[test]
    fn pipelined_requests_are_taken_one_by_one() {
        let (mut c, _peer) = conn_with(
            b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nPOST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyzGET /c",
        );
        let Taken::Request {
            request,
            close_after,
        } = c.take_request()
        else {
            panic!("first")
        };
        assert_eq!((request.path.as_str(), close_after), ("/a", false));
        let Taken::Request { request, .. } = c.take_request() else {
            panic!("second")
        };
        assert_eq!(
            (request.path.as_str(), &request.body[..]),
            ("/b", &b"xyz"[..])
        );
        assert!(matches!(c.take_request(), Taken::Incomplete));
        assert_eq!(c.buf, b"GET /c");
    }

    #[test]
    fn limits_and_malformed_heads_are_refused() {
        let huge = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X{i}: y\r\n")).collect();
        for (req, status) in [
            (huge, 431),
            (format!("GET / HTTP/1.1\r\n{many}\r\n"), 431),
            (
                "GET / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n".to_owned(),
                400,
            ),
            (
                "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_owned(),
                400,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n".to_owned(),
                413,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned(),
                501,
            ),
            ("GET /\x01 HTTP/1.1\r\n\r\n".to_owned(), 400),
        ] {
            let (mut c, _peer) = conn_with(req.as_bytes());
            assert_eq!(status_of(&c.take_request()), Some(status), "{req:.60}");
        }
    }

    #[test]
    fn a_get_body_is_not_read_and_the_connection_closes_after() {
        let (mut c, _peer) =
            conn_with(b"GET /x HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nabc");
        let Taken::Request {
            request,
            close_after,
        } = c.take_request()
        else {
            panic!("taken")
        };
        assert!(close_after && request.body.is_empty());
    }

    #[test]
    fn http10_closes_unless_asked_to_keep_alive() {
        let (mut c, _peer) = conn_with(b"GET / HTTP/1.0\r\n\r\n");
        assert!(matches!(
            c.take_request(),
            Taken::Request {
                close_after: true,
                ..
            }
        ));
        let (mut c, _peer) = conn_with(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(matches!(
            c.take_request(),
            Taken::Request {
                close_after: false,
                ..
            }
        ));
        let (mut c, _peer) = conn_with(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(matches!(
            c.take_request(),
            Taken::Request {
                close_after: true,
                ..
            }
        ));
    }
}
