//! The `Range` request header (RFC 9110 §14.1-14.2) as a pure function.
//!
//! Phones seek by asking for byte ranges, so this must be exactly right:
//! a syntactically invalid header is ignored (full 200), a valid one whose
//! ranges all miss the representation is a 416, and a satisfiable one is a
//! single 206 part. tapedeck never sends `multipart/byteranges`: several
//! ranges are coalesced when they touch, otherwise answered with a 200, which
//! the RFC allows ("a server MAY ignore the Range header field").

/// More ranges than this in one header is treated as abuse and ignored.
const MAX_RANGES: usize = 16;

/// What to send for a `Range` header against a representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Ignore the header: send the whole representation with 200.
    Full,
    /// Send bytes `start..=end` (inclusive, 0-based) with 206 and
    /// `Content-Range: bytes start-end/len`.
    Partial { start: u64, end: u64 },
    /// None of the ranges overlaps the representation: 416 with
    /// `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// One `range-spec` before it is applied to a length.
#[derive(Debug, Clone, Copy)]
enum Spec {
    /// `first-` or `first-last`.
    From { first: u64, last: Option<u64> },
    /// `-suffix_len`: the last `suffix_len` bytes.
    Suffix(u64),
}

/// Applies the value of a `Range` header to a representation of `len`
/// bytes (RFC 9110 §14.2). Never fails: anything it cannot parse, an
/// unknown unit or too many ranges gives [`RangeOutcome::Full`].
pub fn evaluate(header: &str, len: u64) -> RangeOutcome {
    let Some(specs) = parse(header) else {
        return RangeOutcome::Full;
    };
    let mut satisfiable: Vec<(u64, u64)> = specs
        .into_iter()
        .filter_map(|spec| resolve(spec, len))
        .collect();
    if satisfiable.is_empty() {
        return RangeOutcome::Unsatisfiable;
    }
    satisfiable.sort_unstable();
    let (start, mut end) = satisfiable[0];
    for &(s, e) in &satisfiable[1..] {
        // Overlapping or adjacent ranges are one contiguous range.
        if s > end.saturating_add(1) {
            return RangeOutcome::Full;
        }
        end = end.max(e);
    }
    RangeOutcome::Partial { start, end }
}

/// Parses `bytes=<range-set>`; `None` when the header must be ignored.
fn parse(header: &str) -> Option<Vec<Spec>> {
    let (unit, set) = header.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    // `1#range-spec`: a comma list in which empty elements are allowed
    // (RFC 9110 §5.6.1) and optional whitespace surrounds each element.
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        if specs.len() == MAX_RANGES {
            return None;
        }
        let (first, last) = element.split_once('-')?;
        let spec = if first.is_empty() {
            Spec::Suffix(digits(last)?)
        } else {
            let first = digits(first)?;
            let last = if last.is_empty() {
                None
            } else {
                Some(digits(last)?)
            };
            if last.is_some_and(|l| l < first) {
                return None;
            }
            Spec::From { first, last }
        };
        specs.push(spec);
    }
    if specs.is_empty() { None } else { Some(specs) }
}

/// A run of ASCII digits as a number, saturating at `u64::MAX` (a huge
/// `last-pos` just means "to the end").
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// The inclusive byte span a spec selects in `len` bytes, or `None` if it
/// is unsatisfiable there (RFC 9110 §14.1.1).
fn resolve(spec: Spec, len: u64) -> Option<(u64, u64)> {
    let last_byte = len.checked_sub(1)?;
    match spec {
        Spec::From { first, last } => {
            if first > last_byte {
                return None;
            }
            Some((first, last.map_or(last_byte, |l| l.min(last_byte))))
        }
        Spec::Suffix(0) => None,
        Spec::Suffix(n) => Some((len - n.min(len), last_byte)),
    }
}

#[cfg(test)]
mod tests {
    use super::RangeOutcome::{Full, Partial, Unsatisfiable};
    use super::*;

    #[test]
    fn rfc_9110_range_table() {
        let len = 10_000;
        let cases: &[(&str, RangeOutcome)] = &[
            // RFC 9110 §14.1.2 examples
            ("bytes=0-499", Partial { start: 0, end: 499 }),
            (
                "bytes=500-999",
                Partial {
                    start: 500,
                    end: 999,
                },
            ),
            (
                "bytes=-500",
                Partial {
                    start: 9500,
                    end: 9999,
                },
            ),
            (
                "bytes=9500-",
                Partial {
                    start: 9500,
                    end: 9999,
                },
            ),
            ("bytes=0-0,-1", Full),
            // first and last byte
            ("bytes=0-0", Partial { start: 0, end: 0 }),
            (
                "bytes=-1",
                Partial {
                    start: 9999,
                    end: 9999,
                },
            ),
            (
                "bytes=9999-9999",
                Partial {
                    start: 9999,
                    end: 9999,
                },
            ),
            // last-pos beyond the end is clamped
            (
                "bytes=100-99999999",
                Partial {
                    start: 100,
                    end: 9999,
                },
            ),
            (
                "bytes=0-184467440737095516150",
                Partial {
                    start: 0,
                    end: 9999,
                },
            ),
            // suffix longer than the representation: all of it
            (
                "bytes=-20000",
                Partial {
                    start: 0,
                    end: 9999,
                },
            ),
            // unsatisfiable
            ("bytes=10000-", Unsatisfiable),
            ("bytes=10000-10005", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=99999999999999999999999-", Unsatisfiable),
            ("bytes=20000-,30000-40000", Unsatisfiable),
            // invalid syntax is ignored
            ("bytes=5-2", Full),
            ("bytes=abc", Full),
            ("bytes=1-2-3", Full),
            ("bytes=-", Full),
            ("bytes=", Full),
            ("bytes=,", Full),
            ("bytes=+1-2", Full),
            ("bytes=0x10-", Full),
            ("bytes 0-1", Full),
            ("items=0-1", Full),
            ("", Full),
            // unit is case-insensitive, whitespace and empty list elements allowed
            ("Bytes=0-1", Partial { start: 0, end: 1 }),
            ("bytes= 0-1 ,", Partial { start: 0, end: 1 }),
            // several ranges: coalesced when they touch or overlap, else 200
            ("bytes=0-99,100-199", Partial { start: 0, end: 199 }),
            ("bytes=50-150,0-99", Partial { start: 0, end: 150 }),
            ("bytes=0-1,5-6", Full),
            ("bytes=0-1,20000-", Partial { start: 0, end: 1 }),
        ];
        for (header, want) in cases {
            assert_eq!(evaluate(header, len), *want, "Range: {header}");
        }
    }

    #[test]
    fn empty_representation_satisfies_no_range() {
        assert_eq!(evaluate("bytes=0-", 0), Unsatisfiable);
        assert_eq!(evaluate("bytes=-5", 0), Unsatisfiable);
        assert_eq!(evaluate("bytes=x", 0), Full);
    }

    #[test]
    fn too_many_ranges_are_ignored() {
        let many = (0..17)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(evaluate(&format!("bytes={many}"), 100), Full);
    }
}
