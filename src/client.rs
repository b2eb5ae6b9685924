//! A minimal HTTP/1.1 client for the server's own admin API on loopback,
//! used by `tapedeck warm` and `tapedeck cache`. One request per
//! connection (`Connection: close`); httparse reads the response head and
//! chunked_transfer the chunked bodies of event streams.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use tapedeck::config::Config;
use tapedeck::reports::ErrorBody;

/// How long to wait for the server to accept a connection: it is on this
/// machine, so a refusal comes at once and a pause means nobody is there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest response head read, in bytes.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The admin API of the server a config describes.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    token: Option<String>,
}

/// A response: status and a reader over the decoded body.
pub struct Response {
    pub status: u16,
    pub body: Box<dyn BufRead + Send>,
}

impl Client {
    /// The server `config` listens on, reached over loopback when it
    /// listens on every interface, with `admin.token` when set.
    pub fn for_config(config: &Config) -> Client {
        let listen = config.server.listen;
        let ip = match listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Client {
            addr: SocketAddr::new(ip, listen.port()),
            token: config.admin.token.clone(),
        }
    }

    /// `http://<addr>`, for messages.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends one request; `body` is JSON when given. `read_timeout` bounds
    /// every wait for response bytes (`None`: wait as long as it takes).
    ///
    /// Errors: connecting fails (nobody listening: `ConnectionRefused` or
    /// `TimedOut`), the connection breaks, or the response head is not
    /// HTTP.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        read_timeout: Option<Duration>,
    ) -> io::Result<Response> {
        let mut stream = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT)?;
        stream.set_read_timeout(read_timeout)?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: tapedeck/{}\r\n",
            self.addr,
            env!("CARGO_PKG_VERSION")
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;

        let mut reader = BufReader::new(stream);
        let mut raw = Vec::new();
        // The head ends at the first empty line.
        loop {
            let n = reader.read_until(b'\n', &mut raw)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection before answering",
                ));
            }
            if raw.ends_with(b"\r\n\r\n") || raw.ends_with(b"\n\n") {
                break;
            }
            if raw.len() > MAX_HEAD_BYTES {
                return Err(io::Error::other("response head too large"));
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(&raw) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) | Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the answer is not HTTP (is something else listening on this port?)",
                ));
            }
        }
        let status = parsed.code.unwrap_or(0);
        let header = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .map(str::trim)
        };
        let chunked =
            header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let length = header("Content-Length").and_then(|v| v.parse::<u64>().ok());
        let body: Box<dyn BufRead + Send> = if chunked {
            Box::new(BufReader::new(chunked_transfer::Decoder::new(reader)))
        } else if let Some(n) = length {
            Box::new(BufReader::new(reader.take(n)))
        } else {
            Box::new(reader)
        };
        Ok(Response { status, body })
    }

    /// Sends a request (with `body` as JSON when given) and reads the JSON
    /// answer, waiting at most `timeout` for each read: `Ok(T)` on a 2xx,
    /// `Err(`[`Refusal`]`)` with the server's error body otherwise.
    ///
    /// Errors: as for [`Client::send`], and an answer that is not the JSON
    /// expected.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
        timeout: Duration,
    ) -> io::Result<Result<T, Refusal>> {
        let bytes = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(io::Error::other)?;
        let mut resp = self.send(method, path, bytes.as_deref(), Some(timeout))?;
        let mut text = Vec::new();
        resp.body.read_to_end(&mut text)?;
        let bad = |e: serde_json::Error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the answer to {method} {path} is not what tapedeck sends: {e}"),
            )
        };
        if (200..300).contains(&resp.status) {
            return Ok(Ok(serde_json::from_slice(&text).map_err(bad)?));
        }
        let error = serde_json::from_slice::<ErrorBody>(&text)
            .map_or_else(|_| format!("HTTP {}", resp.status), |e| e.error);
        Ok(Err(Refusal {
            status: resp.status,
            error,
        }))
    }
}

/// A request the server answered with an error status.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    /// The server's message (its `error` field).
    pub error: String,
}

/// Reads Server-Sent Events (WHATWG HTML §9.2.6) from `body`: calls
/// `on_event(event, data)` for each, until it returns false or the stream
/// ends. Comments and `id:`/`retry:` fields are skipped.
///
/// Errors: reading fails.
pub fn read_events(
    body: &mut dyn BufRead,
    mut on_event: impl FnMut(&str, &str) -> bool,
) -> io::Result<()> {
    let mut event = String::new();
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if body.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !data.is_empty() {
                let kind = if event.is_empty() { "message" } else { &event };
                if !on_event(kind, data.trim_end_matches('\n')) {
                    return Ok(());
                }
            }
            event.clear();
            data.clear();
            continue;
        }
        if text.starts_with(':') {
            continue;
        }
        let (field, value) = text.split_once(':').unwrap_or((text, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            _ => {}
        }
    }
}
