//! Album order and the order people count in: tracks by disc and track
//! number (from tags, else from the file name), names with their numbers
//! compared by value.

use std::cmp::Ordering;

use super::TrackItem;

/// Album order: disc (missing = 1), track number, then file name in
/// natural order; tracks without a number come after all numbered ones.
/// A track without a track-number tag takes the number its file name
/// starts with (`02 Aberrations.ogg`, `1-04 x.wav` as disc 1 track 4), so
/// an album whose formats carry tags unevenly still plays in order.
pub fn sort_tracks(tracks: &mut [TrackItem]) {
    tracks.sort_by(|a, b| {
        let key = |t: &TrackItem| match (t.info.disc, t.info.track) {
            (disc, Some(n)) => (disc.unwrap_or(1), n),
            (disc, None) => match number_from_name(&t.entry.name) {
                (name_disc, Some(n)) => (disc.or(name_disc).unwrap_or(1), n),
                _ => (u32::MAX, u32::MAX),
            },
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| natural_cmp(&a.entry.name, &b.entry.name))
    });
}

/// The (disc, track) numbers a file name starts with: `07 x` is track 7,
/// `2-03 x` or `2.03 x` disc 2 track 3. Four digits or more (a year) are
/// not a track number.
fn number_from_name(name: &str) -> (Option<u32>, Option<u32>) {
    let digits = |s: &str| -> Option<(u32, usize)> {
        let len = s.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 || len > 3 {
            return None;
        }
        Some((s[..len].parse().ok()?, len))
    };
    let Some((first, len)) = digits(name) else {
        return (None, None);
    };
    let rest = &name[len..];
    if let Some(after) = rest.strip_prefix('-').or_else(|| rest.strip_prefix('.'))
        && let Some((second, n)) = digits(after)
        && !after[n..].starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return (Some(first), Some(second));
    }
    if rest.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return (None, None);
    }
    (None, Some(first))
}

/// Compares names the way people count: runs of digits by value
/// ("2 x" < "10 x"), everything else without case; ties broken bytewise
/// so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let take = |it: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut digits = String::new();
                    while let Some(c) = it.next_if(char::is_ascii_digit) {
                        digits.push(c);
                    }
                    digits
                };
                let (m, n) = (take(&mut x), take(&mut y));
                let (m, n) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                let ord = m.len().cmp(&n.len()).then_with(|| m.cmp(n));
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            (Some(c), Some(d)) => {
                let ord = c.to_lowercase().cmp(d.to_lowercase());
                if ord != Ordering::Equal {
                    return ord;
                }
                x.next();
                y.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_numbers_are_read_from_file_names_when_tags_have_none() {
        assert_eq!(number_from_name("02 Aberrations.ogg"), (None, Some(2)));
        assert_eq!(number_from_name("2-03 x.flac"), (Some(2), Some(3)));
        assert_eq!(number_from_name("1.04 - x.wav"), (Some(1), Some(4)));
        assert_eq!(number_from_name("07.flac"), (None, Some(7)));
        assert_eq!(number_from_name("1999 live.flac"), (None, None));
        assert_eq!(number_from_name("4ever.flac"), (None, None));
        assert_eq!(number_from_name("Intro.flac"), (None, None));
    }

    #[test]
    fn natural_order_counts_numbers() {
        let mut v = vec![
            "10 Ten.flac",
            "2 two.flac",
            "1 One.flac",
            "b.flac",
            "A.flac",
            "02 b.flac",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "1 One.flac",
                "02 b.flac",
                "2 two.flac",
                "10 Ten.flac",
                "A.flac",
                "b.flac"
            ]
        );
        assert_eq!(natural_cmp("Disc 9", "Disc 10"), Ordering::Less);
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
    }
}
