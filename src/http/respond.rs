//! Writing a [`Reply`] to a connection as HTTP/1.1 (RFC 9112): the status
//! line, `Date`, `Server`, the reply's fields, the framing (always
//! `Content-Length` when the length is known, else chunked), and the body.
//!
//! The socket is non-blocking; a write that would block waits in `poll(2)`
//! for at most the write timeout, so a client that stops reading frees its
//! handler thread then. File bodies go out with `sendfile(2)`, straight
//! from the page cache to the socket.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime};

use super::conn::wait_fd;
use super::reply::{Body, Reply};

/// Bytes copied per read for streamed bodies.
const COPY_CHUNK: usize = 64 * 1024;

/// Writes to a non-blocking socket, waiting up to `timeout` whenever the
/// socket's send buffer is full.
pub struct SocketWriter<'a> {
    pub stream: &'a TcpStream,
    pub timeout: Duration,
}

/// Where a reply's bytes go: a socket ([`SocketWriter`]) or, for tests
/// and tools, any `Write` (a `Vec<u8>`).
pub trait Sink: Write {
    /// Writes `len` bytes of `file` from byte `start`; returns the bytes
    /// written.
    ///
    /// Errors: writing fails, or the file ends before `len` bytes.
    fn send_file(&mut self, file: &File, start: u64, len: u64) -> io::Result<u64> {
        let mut reader = file;
        io::Seek::seek(&mut reader, io::SeekFrom::Start(start))?;
        copy_exact(Box::new(file.try_clone()?.take(len)), self, len)
    }
}

impl Sink for Vec<u8> {}

impl SocketWriter<'_> {
    fn wait_writable(&self) -> io::Result<()> {
        if wait_fd(self.stream.as_raw_fd(), libc::POLLOUT, self.timeout)? {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for the write timeout",
            ))
        }
    }
}

impl Sink for SocketWriter<'_> {
    /// Sends `len` bytes of `file` from byte `start` with `sendfile(2)`;
    /// returns the bytes sent.
    ///
    /// Errors: the client went away or stalled, or the file could not be
    /// read (it shrank: `sendfile` sent nothing).
    fn send_file(&mut self, file: &File, start: u64, len: u64) -> io::Result<u64> {
        let mut offset = libc::off_t::try_from(start).map_err(io::Error::other)?;
        let mut left = len;
        while left > 0 {
            let count = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
            // SAFETY: both descriptors are open for the call and `offset` is
            // a valid pointer; sendfile reads the file at `offset` without
            // moving its cursor.
            let n = unsafe {
                libc::sendfile(
                    self.stream.as_raw_fd(),
                    file.as_raw_fd(),
                    &mut offset,
                    count,
                )
            };
            if n > 0 {
                left -= n as u64;
                continue;
            }
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before its announced length",
                ));
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => self.wait_writable()?,
                io::ErrorKind::Interrupted => {}
                _ => return Err(err),
            }
        }
        Ok(len)
    }
}

impl Write for SocketWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match (&*self.stream).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait_writable()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a reply went out, for the request log.
pub struct Sent {
    /// Body bytes written.
    pub bytes: u64,
    /// The connection can carry another request (the framing held).
    pub reusable: bool,
}

/// The reason phrase for `status` (RFC 9110 §15); clients ignore it.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Fields only the transport writes (RFC 9112 §6), from the body it sends.
const FRAMING: [&str; 3] = ["Content-Length", "Transfer-Encoding", "Connection"];

/// The status line and header fields of `reply`, framing included.
fn head(reply: &Reply, close: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: tapedeck/{}\r\n",
        reply.status,
        reason(reply.status),
        httpdate::fmt_http_date(SystemTime::now()),
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in reply.headers() {
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            log::error!("dropping header {name} with a line break in its value");
            continue;
        }
        if FRAMING.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            log::error!("dropping header {name}: the transport writes the framing");
            continue;
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    if reply.body.has_length() {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    } else {
        out.push_str("Transfer-Encoding: chunked\r\n");
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Writes `reply` to `stream`; `head_only` for HEAD (the fields of the GET,
/// no body, RFC 9110 §9.3.2). `close`: the connection ends after it (said
/// in a `Connection: close` field).
///
/// Errors: the client went away or stalled past `timeout`, or a streamed
/// body failed midway (the connection must then be closed: the framing is
/// broken).
pub fn write_reply(
    stream: &TcpStream,
    reply: Reply,
    head_only: bool,
    close: bool,
    timeout: Duration,
) -> io::Result<Sent> {
    write_to(
        &mut SocketWriter { stream, timeout },
        reply,
        head_only,
        close,
    )
}

/// The bytes a client would receive for `reply` (head and body, framing
/// included), as [`write_reply`] sends them: for calling a handler without
/// a socket (tests).
///
/// Errors: a streamed body failing midway.
pub fn render(reply: Reply, head_only: bool, close: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    write_to(&mut out, reply, head_only, close)?;
    Ok(out)
}

/// Writes `reply` to `out` (see [`write_reply`]).
fn write_to(out: &mut impl Sink, reply: Reply, head_only: bool, close: bool) -> io::Result<Sent> {
    // A body of unknown length can only end by closing when chunked
    // framing is off; events and streams always use chunked, so no.
    let head = head(&reply, close);
    let reusable = !close;
    if head_only {
        out.write_all(&head)?;
        return Ok(Sent { bytes: 0, reusable });
    }
    let bytes = match reply.body {
        Body::Empty | Body::LengthOnly { .. } => {
            out.write_all(&head)?;
            0
        }
        Body::Bytes(b) => {
            let mut all = head;
            all.extend_from_slice(&b);
            out.write_all(&all)?;
            b.len() as u64
        }
        Body::File { file, start, len } => {
            out.write_all(&head)?;
            out.send_file(&file, start, len)?
        }
        Body::Stream {
            reader,
            len: Some(len),
        } => {
            out.write_all(&head)?;
            copy_exact(reader.0, out, len)?
        }
        Body::Stream { reader, len: None } => {
            out.write_all(&head)?;
            let mut chunked = chunked_transfer::Encoder::with_chunks_size(&mut *out, COPY_CHUNK);
            let n = copy(reader.0, &mut chunked)?;
            drop(chunked);
            n
        }
        Body::Events(writer) => {
            out.write_all(&head)?;
            let mut chunked = chunked_transfer::Encoder::with_flush_after_write(&mut *out);
            let n = (writer.0)(&mut chunked)?;
            drop(chunked);
            n
        }
    };
    Ok(Sent { bytes, reusable })
}

/// Copies exactly `len` bytes of `reader` to `out`.
///
/// Errors: reading or writing fails, or the reader ends early (the client
/// was promised `len` bytes).
fn copy_exact(
    mut reader: Box<dyn Read + Send>,
    out: &mut (impl Write + ?Sized),
    len: u64,
) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut sent = 0u64;
    while sent < len {
        let want = usize::try_from((len - sent).min(COPY_CHUNK as u64)).unwrap_or(COPY_CHUNK);
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the body ended before its announced length",
                ));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        sent += n as u64;
    }
    Ok(sent)
}

/// Copies `reader` to its end.
///
/// Errors: reading or writing fails.
fn copy(mut reader: Box<dyn Read + Send>, out: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut sent = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(sent),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        sent += n as u64;
    }
}

/// A short error reply for a request refused before any handler saw it,
/// written without waiting (the event loop must never block): on a full
/// socket buffer it is dropped, and the connection closed anyway.
pub fn refuse_now(stream: &TcpStream, reply: Reply) {
    let mut bytes = head(&reply, true);
    if let Body::Bytes(b) = &reply.body {
        bytes.extend_from_slice(b);
    }
    let _ = (&*stream).write(&bytes);
}
