//! Conditional requests (RFC 9110 §13): ETag and Last-Modified validators,
//! `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`
//! and `If-Range`, evaluated in the order §13.2.2 prescribes.
//!
//! Browsers revalidate with these on every replay, and `If-Range` is what
//! keeps a resumed download from splicing two versions of a file together.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The validators of one representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// Strong entity tag including its quotes, e.g. `"1a2b-3c4d-5e6f"`.
    pub etag: String,
    /// Modification time, truncated to whole seconds as HTTP dates are.
    pub last_modified: SystemTime,
}

impl Validators {
    /// Validators of a file on disk: the ETag combines inode, size and
    /// modification time in nanoseconds, so a replaced or rewritten file
    /// gets a new tag even within the same second.
    pub fn of_file(meta: &Metadata) -> Validators {
        Validators {
            etag: format!(
                "\"{:x}-{:x}-{:x}\"",
                meta.ino(),
                meta.len(),
                i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
            ),
            last_modified: truncate_to_secs(meta.modified().unwrap_or(UNIX_EPOCH)),
        }
    }

    /// `Last-Modified` header value (IMF-fixdate).
    pub fn last_modified_header(&self) -> String {
        httpdate::fmt_http_date(self.last_modified)
    }
}

fn truncate_to_secs(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

/// What the preconditions say to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on; `honour_range` is false when an `If-Range` validator did not
    /// match, so a `Range` header must be ignored and the whole
    /// representation sent.
    Proceed { honour_range: bool },
    /// 304 Not Modified (GET/HEAD whose cached copy is current).
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluates the conditional headers of a GET or HEAD request against `v`
/// (RFC 9110 §13.2.2). `header` looks up a request header by name,
/// case-insensitively. Unparseable validators are ignored, as §13.1 asks.
pub fn evaluate<'a>(header: impl Fn(&str) -> Option<&'a str>, v: &Validators) -> Decision {
    // Steps 1-2: If-Match, else If-Unmodified-Since.
    if let Some(if_match) = header("If-Match") {
        if !list_matches(if_match, &v.etag, Comparison::Strong) {
            return Decision::Failed;
        }
    } else if let Some(date) = header("If-Unmodified-Since").and_then(parse_date)
        && v.last_modified > date
    {
        return Decision::Failed;
    }
    // Steps 3-4: If-None-Match, else If-Modified-Since.
    if let Some(if_none_match) = header("If-None-Match") {
        if list_matches(if_none_match, &v.etag, Comparison::Weak) {
            return Decision::NotModified;
        }
    } else if let Some(date) = header("If-Modified-Since").and_then(parse_date)
        && v.last_modified <= date
    {
        return Decision::NotModified;
    }
    // Step 5: If-Range decides whether a Range header counts.
    let honour_range = match header("If-Range") {
        None => true,
        Some(value) => if_range_matches(value.trim(), v),
    };
    Decision::Proceed { honour_range }
}

fn parse_date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value.trim()).ok()
}

/// `If-Range` holds one entity tag (compared strongly) or one HTTP date
/// (which must equal Last-Modified exactly), RFC 9110 §13.1.5.
fn if_range_matches(value: &str, v: &Validators) -> bool {
    if value.starts_with('"') || value.starts_with("W/") {
        return !value.starts_with("W/") && value == v.etag;
    }
    parse_date(value) == Some(v.last_modified)
}

#[derive(Clone, Copy)]
enum Comparison {
    Strong,
    Weak,
}

/// Whether the request's `If-None-Match` matches `etag` (weak comparison,
/// RFC 9110 §13.1.2): for responses that only ever answer 200 or 304.
pub fn none_match<'a>(header: impl Fn(&str) -> Option<&'a str>, etag: &str) -> bool {
    header("If-None-Match").is_some_and(|v| list_matches(v, etag, Comparison::Weak))
}

/// Whether an `If-Match`/`If-None-Match` value (`*` or a list of entity
/// tags) matches `etag` under the given comparison (RFC 9110 §8.8.3.2).
/// A malformed list matches nothing.
fn list_matches(value: &str, etag: &str, cmp: Comparison) -> bool {
    if value.trim() == "*" {
        return true;
    }
    let ours = etag.trim_start_matches("W/");
    let our_weak = etag.starts_with("W/");
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let weak = rest.starts_with("W/");
        let tag_start = if weak { &rest[2..] } else { rest };
        // entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
        let Some(body) = tag_start.strip_prefix('"') else {
            return false;
        };
        let Some(close) = body.find('"') else {
            return false;
        };
        let tag = &tag_start[..close + 2];
        let matched = match cmp {
            Comparison::Strong => !weak && !our_weak && tag == ours,
            Comparison::Weak => tag == ours,
        };
        if matched {
            return true;
        }
        rest = &tag_start[close + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validators {
        Validators {
            etag: "\"abc-1\"".into(),
            last_modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    fn decide(headers: &[(&str, &str)]) -> Decision {
        let owned: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        evaluate(
            |name| {
                owned
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            },
            &v(),
        )
    }

    const PROCEED: Decision = Decision::Proceed { honour_range: true };
    const IGNORE_RANGE: Decision = Decision::Proceed {
        honour_range: false,
    };
    const LM: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const EARLIER: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
    const LATER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";

    #[test]
    fn rfc_9110_precondition_table() {
        let cases: &[(&[(&str, &str)], Decision)] = &[
            (&[], PROCEED),
            (&[("If-None-Match", "\"abc-1\"")], Decision::NotModified),
            (&[("If-None-Match", "W/\"abc-1\"")], Decision::NotModified),
            (
                &[("If-None-Match", "\"x\", \"abc-1\"")],
                Decision::NotModified,
            ),
            (&[("If-None-Match", "*")], Decision::NotModified),
            (&[("If-None-Match", "\"other\"")], PROCEED),
            (&[("If-None-Match", "garbage")], PROCEED),
            (&[("If-Modified-Since", LM)], Decision::NotModified),
            (&[("If-Modified-Since", LATER)], Decision::NotModified),
            (&[("If-Modified-Since", EARLIER)], PROCEED),
            (&[("If-Modified-Since", "yesterday")], PROCEED),
            // If-None-Match wins over If-Modified-Since (§13.2.2 step 4)
            (
                &[("If-None-Match", "\"other\""), ("If-Modified-Since", LM)],
                PROCEED,
            ),
            (&[("If-Match", "\"abc-1\"")], PROCEED),
            (&[("If-Match", "W/\"abc-1\"")], Decision::Failed),
            (&[("If-Match", "\"other\"")], Decision::Failed),
            (&[("If-Match", "*")], PROCEED),
            (&[("If-Unmodified-Since", EARLIER)], Decision::Failed),
            (&[("If-Unmodified-Since", LM)], PROCEED),
            (&[("If-Range", "\"abc-1\"")], PROCEED),
            (&[("If-Range", "\"stale\"")], IGNORE_RANGE),
            (&[("If-Range", "W/\"abc-1\"")], IGNORE_RANGE),
            (&[("If-Range", LM)], PROCEED),
            (&[("If-Range", EARLIER)], IGNORE_RANGE),
            (&[("If-Range", "nonsense")], IGNORE_RANGE),
        ];
        for (headers, want) in cases {
            assert_eq!(decide(headers), *want, "{headers:?}");
        }
    }

    #[test]
    fn file_etag_changes_with_content_length_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"one").unwrap();
        let a = Validators::of_file(&std::fs::metadata(&p).unwrap());
        std::fs::write(&p, b"three").unwrap();
        let b = Validators::of_file(&std::fs::metadata(&p).unwrap());
        assert_ne!(a.etag, b.etag);
        assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
    }
}
