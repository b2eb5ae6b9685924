//! A request as the handlers see it: method, request-target split into its
//! path and query, headers, the peer and a body already read (bounded).
//! It is built by the connection layer; handlers never see a socket.
//!
//! The path stays percent-encoded: the surfaces decode library paths once,
//! at their boundary (`crate::surface::decode_path`).

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use percent_encoding::percent_decode_str;

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

/// The request path as a log should show it: percent-decoded, with control
/// characters escaped so a client cannot forge log lines, at most 512
/// characters.
pub fn log_path(url: &str) -> String {
    let decoded = percent_decode_str(url).decode_utf8_lossy();
    // Most paths need no escape: one copy, no per-character work.
    if decoded.len() <= 512 && decoded.chars().all(|c| c.escape_debug().len() == 1) {
        return decoded.into_owned();
    }
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
    fn log_path_decodes_and_escapes_control_characters() {
        assert_eq!(log_path("/play/a%20%C3%A9.flac"), "/play/a é.flac");
        assert_eq!(
            log_path("/play/x%0d%0aFAKE%20LINE"),
            "/play/x\\r\\nFAKE LINE"
        );
    }
}
