//! What the surfaces (the play path, the phone player's API, the Subsonic
//! API, the admin API) share, below all of them so none imports another:
//! the one map from domain errors to replies ([`HttpError`]), the decoding
//! of library paths taken from URLs (once, at the boundary, into a checked
//! [`RelPath`]: nothing below a surface percent-decodes a path), and the
//! method guards.

pub mod error;

pub use error::HttpError;

use percent_encoding::percent_decode_str;

use crate::http::{Method, Request};
use crate::library::{RelPath, ResolveError};

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

/// `Ok` for POST; otherwise the 405 to send, with `Allow`.
pub fn only_post(req: &Request) -> Result<(), HttpError> {
    if req.method == Method::Post {
        Ok(())
    } else {
        Err(HttpError::method_not_allowed(&req.method, "POST"))
    }
}

/// `Ok` for GET and HEAD; otherwise the 405 to send, with `Allow`.
pub fn only_get_or_head(req: &Request) -> Result<(), HttpError> {
    if req.is_get_or_head() {
        Ok(())
    } else {
        Err(HttpError::method_not_allowed(&req.method, "GET, HEAD"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
