//! What a handler returns: status, headers and a body, before the
//! connection layer sees it.
//!
//! Handlers build a [`Reply`] rather than writing to a socket so tests can
//! inspect it directly, and so the server can wrap the body (byte counting
//! for the request log) and pin the transfer framing in one place.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};

/// An error answer: `{"error": "...", "status": 404}` (also what the admin
/// API's clients read back, `crate::reports`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub status: u16,
}

/// A response a handler wants sent.
///
/// Header fields are set, never appended: [`Reply::header`] replaces a
/// field of the same name, so no field goes out twice (Content-Type,
/// Cache-Control, ETag and the other singleton fields must not, RFC 9110
/// §5.3). The framing fields (`Content-Length`, `Transfer-Encoding`,
/// `Connection`) belong to the transport, which writes them from the body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names and values, one per name; values must be visible ASCII.
    headers: Vec<(&'static str, String)>,
    pub body: Body,
}

/// The content of a [`Reply`].
#[derive(Debug)]
pub enum Body {
    /// No content (`Content-Length: 0`).
    Empty,
    /// An in-memory body.
    Bytes(Vec<u8>),
    /// `len` bytes of `file` starting at byte `start`.
    File { file: File, start: u64, len: u64 },
    /// No content is sent, but `Content-Length` announces `len`: for a 304,
    /// whose length must equal the 200 it stands for (RFC 9110 §8.6).
    LengthOnly { len: u64 },
    /// A body produced while it is sent (a transcode in progress): exactly
    /// `len` bytes when known, else chunked.
    Stream { reader: Stream, len: Option<u64> },
    /// A body of unknown length written by a function, every write sent to
    /// the client at once (Server-Sent Events). It returns the bytes it
    /// wrote; a write error means the client left.
    Events(EventWriter),
}

/// Writes an event stream to the client; returns the bytes written.
pub type WriteEvents = dyn FnOnce(&mut dyn Write) -> io::Result<u64> + Send;

/// The function behind [`Body::Events`].
pub struct EventWriter(pub Box<WriteEvents>);

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventWriter")
    }
}

/// A streaming body's reader.
pub struct Stream(pub Box<dyn Read + Send>);

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream")
    }
}

impl Body {
    /// The `Content-Length` this body announces, in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } | Body::LengthOnly { len } => *len,
            Body::Stream { len, .. } => len.unwrap_or(0),
            Body::Events(_) => 0,
        }
    }

    /// False for a body of unknown length (sent chunked).
    pub fn has_length(&self) -> bool {
        !matches!(self, Body::Stream { len: None, .. } | Body::Events(_))
    }

    /// True when [`Body::len`] is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A reader over exactly the announced bytes ([`Body::Events`] has
    /// none: it writes).
    ///
    /// Errors: the seek to `start` failing for a file body.
    pub fn into_reader(self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Body::Empty | Body::LengthOnly { .. } | Body::Events(_) => Box::new(io::empty()),
            Body::Bytes(b) => Box::new(io::Cursor::new(b)),
            Body::File {
                mut file,
                start,
                len,
            } => {
                file.seek(SeekFrom::Start(start))?;
                Box::new(file.take(len))
            }
            Body::Stream { reader, .. } => reader.0,
        })
    }
}

impl Reply {
    /// A reply with `status`, no headers and `body`.
    pub fn new(status: u16, body: Body) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// Sets header field `name` to `value`, replacing a field of that name
    /// (ASCII case-insensitive) set before.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        let value = value.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(field) => *field = (name, value),
            None => self.headers.push((name, value)),
        }
        self
    }

    /// The header fields, in the order first set.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The value of the header called `name` (ASCII case-insensitive).
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A JSON reply with `value` as its body, not to be cached.
    pub fn json(status: u16, value: &impl Serialize) -> Reply {
        let body = serde_json::to_vec(value).unwrap_or_else(|e| {
            log::error!("serializing a reply: {e}");
            b"{}".to_vec()
        });
        Reply::new(status, Body::Bytes(body))
            .header("Content-Type", "application/json")
            .header("Cache-Control", "no-store")
    }

    /// An error as JSON: `{"error": message, "status": status}`.
    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(
            status,
            &ErrorBody {
                error: message.into(),
                status,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_json_with_status() {
        let r = Reply::error(404, "not found");
        assert_eq!(r.status, 404);
        assert_eq!(r.get_header("content-type"), Some("application/json"));
        let Body::Bytes(b) = r.body else {
            panic!("error bodies are in memory")
        };
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v, serde_json::json!({"error": "not found", "status": 404}));
    }

    #[test]
    fn setting_a_header_twice_keeps_one_field_with_the_last_value() {
        let r = Reply::json(200, &1)
            .header("Cache-Control", "no-cache")
            .header("content-type", "application/problem+json")
            .header("Vary", "Accept-Encoding");
        let names: Vec<&str> = r.headers().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["content-type", "Cache-Control", "Vary"]);
        assert_eq!(r.get_header("cache-control"), Some("no-cache"));
        assert_eq!(
            r.get_header("Content-Type"),
            Some("application/problem+json")
        );
    }

    #[test]
    fn file_body_reads_exactly_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let body = Body::File {
            file: File::open(&p).unwrap(),
            start: 3,
            len: 4,
        };
        assert_eq!(body.len(), 4);
        let mut out = String::new();
        body.into_reader()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "3456");
    }
}
