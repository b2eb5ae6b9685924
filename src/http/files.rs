//! Serving a file as it is on disk: content type, validators, conditional
//! requests and byte ranges, the way phones and browsers expect.

use std::fs::{File, Metadata};
use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::conditional::{self, Decision, Validators};
use super::range::{self, RangeOutcome};
use super::reply::{Body, Reply};

/// The media type to announce for a file, from its extension.
///
/// mime_guess knows the common types; MP4 audio is pinned to `audio/mp4`
/// (RFC 4337), which iOS and Android play, rather than its non-standard
/// `audio/m4a`.
pub fn content_type(path: &Path) -> String {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("m4a" | "m4b" | "mp4a" | "alac") => "audio/mp4".to_owned(),
        _ => mime_guess::from_path(path)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned(),
    }
}

/// `Content-Disposition: inline` with the file's own name, so a phone that
/// saves the track names it sensibly; non-ASCII names use the RFC 8187
/// `filename*` form, with an ASCII fallback for old clients (RFC 6266 §4.3).
pub fn content_disposition(relative: &str) -> String {
    content_disposition_as("inline", relative)
}

/// [`content_disposition`] of type `kind`: `inline` (play) or
/// `attachment` (download).
pub fn content_disposition_as(kind: &str, relative: &str) -> String {
    /// RFC 8187 `attr-char`: everything else is percent-encoded.
    const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let name = relative.rsplit('/').next().unwrap_or(relative);
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR_CHAR)
    )
}

/// Answers a GET or HEAD for `file` (whose metadata is `meta`), honouring
/// the request's conditional and `Range` headers. `header` looks up a
/// request header by name, case-insensitively.
///
/// Returns 200 (whole file), 206 (one byte range, with `Content-Range`),
/// 304 (validators match), 412 (`If-Match`/`If-Unmodified-Since` failed) or
/// 416 (no requested range overlaps the file; `Content-Range: bytes */LEN`).
pub fn serve<'a>(
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    file: File,
    meta: &Metadata,
    content_type: &str,
) -> Reply {
    let len = meta.len();
    let v = Validators::of_file(meta);
    let with_validators = |reply: Reply| {
        reply
            .header("ETag", v.etag.clone())
            .header("Last-Modified", v.last_modified_header())
            .header("Cache-Control", "no-cache")
            .header("Accept-Ranges", "bytes")
    };
    let honour_range = match conditional::evaluate(header, &v) {
        Decision::NotModified => {
            return with_validators(Reply::new(304, Body::LengthOnly { len }));
        }
        Decision::Failed => {
            return with_validators(Reply::error(412, "precondition failed"));
        }
        Decision::Proceed { honour_range } => honour_range,
    };
    let outcome = match header("Range") {
        Some(value) if honour_range => range::evaluate(value, len),
        _ => RangeOutcome::Full,
    };
    let reply = match outcome {
        RangeOutcome::Full => Reply::new(
            200,
            Body::File {
                file,
                start: 0,
                len,
            },
        ),
        RangeOutcome::Partial { start, end } => Reply::new(
            206,
            Body::File {
                file,
                start,
                len: end - start + 1,
            },
        )
        .header("Content-Range", format!("bytes {start}-{end}/{len}")),
        RangeOutcome::Unsatisfiable => {
            return with_validators(
                Reply::error(
                    416,
                    format!("range not satisfiable: the file is {len} bytes"),
                )
                .header("Content-Range", format!("bytes */{len}")),
            );
        }
    };
    with_validators(reply.header("Content-Type", content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_names_the_file_in_ascii_and_utf8() {
        assert_eq!(
            content_disposition("Artist/Album/01 Song.flac"),
            "inline; filename=\"01 Song.flac\"; filename*=UTF-8''01%20Song.flac"
        );
        assert_eq!(
            content_disposition("Café/é \"x\".flac"),
            "inline; filename=\"_ _x_.flac\"; filename*=UTF-8''%C3%A9%20%22x%22.flac"
        );
    }

    #[test]
    fn audio_content_types() {
        for (name, want) in [
            ("a.flac", "audio/flac"),
            ("a.FLAC", "audio/flac"),
            ("a.mp3", "audio/mpeg"),
            ("a.wav", "audio/wav"),
            ("a.aiff", "audio/aiff"),
            ("a.aif", "audio/aiff"),
            ("a.m4a", "audio/mp4"),
            ("a.ogg", "audio/ogg"),
            ("cover.jpg", "image/jpeg"),
            ("cover.png", "image/png"),
            ("noext", "application/octet-stream"),
        ] {
            assert_eq!(content_type(Path::new(name)), want, "{name}");
        }
    }
}
