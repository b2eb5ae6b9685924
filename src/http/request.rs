//! A request as the handlers see it: method, request-target split into its
//! path and query, headers, the peer and a body already read (bounded).
//! It is built by the connection layer; handlers never see a socket.
//!
//! Paths in URLs are percent-decoded here, once, into a checked
//! [`RelPath`]: nothing below `http/` decodes a path.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use percent_encoding::percent_decode_str;

use crate::library::{RelPath, ResolveError};

/// The request method (RFC 9110 §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Other(String),
}

impl Method {
    /// The method named `name` (case-sensitive, as RFC 9110 §9.1 says).
    pub fn parse(name: &str) -> Method {
        match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method's name.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One HTTP request, head and (bounded) body.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The request-target as sent (for the log).
    pub target: String,
    /// The path part of the target, still percent-encoded.
    pub path: String,
    /// The query part of the target (after `?`), still encoded.
    pub query: String,
    /// Header fields in the order received.
    pub headers: Vec<(String, String)>,
    /// The client, when the connection layer knows it.
    pub peer: Option<SocketAddr>,
    /// The body, read in full by the connection layer (it refuses bodies
    /// over its limit before a handler runs).
    pub body: Vec<u8>,
}

impl Request {
    /// A request for `target` with no headers, peer or body (tests and the
    /// connection layer fill those in).
    pub fn new(method: Method, target: &str) -> Request {
        let (path, query) = split_target(target);
        Request {
            method,
            target: target.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            peer: None,
            body: Vec::new(),
        }
    }

    /// The first value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of query parameter `name`, percent-decoded
    /// (`application/x-www-form-urlencoded` rules: `+` is a space).
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// True for GET and HEAD.
    pub fn is_get_or_head(&self) -> bool {
        matches!(self.method, Method::Get | Method::Head)
    }

    /// True when the client connects from this machine.
    pub fn is_loopback(&self) -> bool {
        self.peer.is_some_and(|a| a.ip().is_loopback())
    }
}

/// Splits a request-target (origin-form `/p?q`, or absolute-form
/// `http://host/p?q` as some proxies send it) into its still-encoded path
/// and query; a fragment is dropped.
pub fn split_target(url: &str) -> (&str, &str) {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let url = match url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    };
    url.split_once('?').unwrap_or((url, ""))
}

/// Percent-decodes a library path taken from a URL (the part after the
/// route's prefix, e.g. `Artist/Album/01%20Song.flac`) once, as UTF-8, and
/// checks its segments ([`RelPath::new`]). Decoding happens exactly once,
/// so `%252e%252e` stays the literal name `%2e%2e`.
///
/// Errors: [`ResolveError::Rejected`] for invalid UTF-8 (which also refuses
/// overlong encodings such as `%c0%ae`) or a path that breaks a segment
/// rule.
pub fn decode_path(encoded: &str) -> Result<RelPath, ResolveError> {
    let bytes: Vec<u8> = percent_decode_str(encoded).collect();
    let decoded =
        String::from_utf8(bytes).map_err(|_| ResolveError::Rejected("not valid UTF-8"))?;
    Ok(RelPath::new(&decoded)?)
}

/// [`decode_path`] for a folder: a trailing `/` is allowed, and `""` is the
/// root.
///
/// Errors: as for [`decode_path`].
pub fn decode_dir_path(encoded: &str) -> Result<RelPath, ResolveError> {
    decode_path(encoded.strip_suffix('/').unwrap_or(encoded))
}

/// The request path as a log should show it: percent-decoded, with control
/// characters escaped so a client cannot forge log lines, at most 512
/// characters.
pub fn log_path(url: &str) -> String {
    let decoded = percent_decode_str(url).decode_utf8_lossy();
    let mut out: String = decoded
        .chars()
        .take(512)
        .flat_map(char::escape_debug)
        .collect();
    if decoded.chars().count() > 512 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_splits_path_and_query() {
        let r = Request::new(Method::Get, "/play/a%20b.flac?quality=low&x=1");
        assert_eq!(r.path, "/play/a%20b.flac");
        assert_eq!(r.param("quality").as_deref(), Some("low"));
        assert_eq!(r.param("nope"), None);
        let r = Request::new(Method::Get, "http://pi.local:8340/play/x?quality=high");
        assert_eq!(r.path, "/play/x");
        assert_eq!(r.param("quality").as_deref(), Some("high"));
        assert_eq!(split_target("/a#frag").0, "/a");
        assert_eq!(split_target("http://host").0, "/");
    }

    #[test]
    fn decode_accepts_plain_and_non_ascii_names() {
        for (raw, want) in [
            ("a.flac", "a.flac"),
            ("Artist/Album/01%20Song.flac", "Artist/Album/01 Song.flac"),
            (
                "Caf%C3%A9/%E6%97%A5%E6%9C%AC%E8%AA%9E.flac",
                "Café/日本語.flac",
            ),
            ("%F0%9F%8E%B5.mp3", "🎵.mp3"),
            ("100%25%20pure.flac", "100% pure.flac"),
            ("a+b.flac", "a+b.flac"),
            ("x..y.flac", "x..y.flac"),
        ] {
            assert_eq!(decode_path(raw).unwrap(), want, "{raw}");
        }
        assert!(decode_path("").unwrap().is_root());
        assert_eq!(decode_dir_path("Album/").unwrap(), "Album");
    }

    #[test]
    fn decode_refuses_every_trick() {
        for raw in [
            "..",
            "../x",
            "a/../b",
            "%2e%2e/x",
            "%2E%2E/x",
            "..%2fx",
            "a%2f..%2fx",
            ".%2e/x",
            "./x",
            "/etc/passwd",
            "%2fetc%2fpasswd",
            "a//b",
            "a/",
            "..%5cx",
            "a\\b",
            "%00",
            "a%00.flac",
            "%c0%ae%c0%ae/x",
            "%e0%80%ae%e0%80%ae/x",
            "%c0%af",
            ".hidden.flac",
            "a/.git/config",
            "%ff.flac",
            "a%0ab.flac",
        ] {
            assert!(
                matches!(decode_path(raw), Err(ResolveError::Rejected(_))),
                "{raw:?} must be rejected"
            );
        }
    }

    #[test]
    fn double_encoding_is_decoded_once_only() {
        assert_eq!(decode_path("%252e%252e/x").unwrap(), "%2e%2e/x");
    }

    #[test]
    fn log_path_decodes_and_escapes_control_characters() {
        assert_eq!(log_path("/play/a%20%C3%A9.flac"), "/play/a é.flac");
        assert_eq!(
            log_path("/play/x%0d%0aFAKE%20LINE"),
            "/play/x\\r\\nFAKE LINE"
        );
    }
}
