//! Search: every word of a query, case and accents ignored, against
//! folder names and the tags of every track (from the metadata cache).

use super::{Catalog, DirItem, TrackItem, is_audio, track_cover};

/// What a search found, at most `limit` of each kind.
#[derive(Debug, Default)]
pub struct SearchHits {
    pub dirs: Vec<DirItem>,
    pub tracks: Vec<TrackItem>,
    /// More matched than were returned.
    pub truncated: bool,
}

impl Catalog {
    /// Folders and tracks whose name, title, artist, album or album artist
    /// contain every word of `query` (case and accents ignored), at most
    /// `limit` of each, in library order. Walks the whole tree; tags come
    /// from the metadata cache.
    pub fn search(&self, query: &str, limit: usize) -> SearchHits {
        let words: Vec<String> = fold(query).split_whitespace().map(str::to_owned).collect();
        let mut hits = SearchHits::default();
        if words.is_empty() || limit == 0 {
            return hits;
        }
        let matches = |hay: &str| words.iter().all(|w| hay.contains(w.as_str()));
        self.walk(|entry, folder_cover| {
            if entry.metadata.is_dir() {
                if matches(&fold(&entry.name)) {
                    if hits.dirs.len() < limit {
                        hits.dirs.push(DirItem { entry, cover: None });
                    } else {
                        hits.truncated = true;
                    }
                }
            } else if is_audio(&entry.name) {
                let info = self.track_info(&entry.path, &entry.relative, &entry.metadata);
                let mut hay = fold(&entry.name);
                for field in [&info.title, &info.artist, &info.album, &info.album_artist]
                    .into_iter()
                    .flatten()
                {
                    hay.push('\n');
                    hay.push_str(&fold(field));
                }
                if matches(&hay) {
                    if hits.tracks.len() < limit {
                        let cover = track_cover(&entry, &info, folder_cover);
                        hits.tracks.push(TrackItem { entry, info, cover });
                    } else {
                        hits.truncated = true;
                    }
                }
            }
            !(hits.truncated && hits.dirs.len() >= limit && hits.tracks.len() >= limit)
        });
        for d in &mut hits.dirs {
            d.cover = self.dir_cover(&d.entry);
        }
        hits
    }
}

/// Base letters of U+00C0..=U+017F (Latin-1 Supplement and Latin
/// Extended-A) after lower-casing, from their Unicode canonical
/// decompositions; `.` where there is none.
const LATIN_BASE: &[u8; 192] = b"aaaaaa.ceeeeiiii.nooooo..uuuuy..aaaaaa.ceeeeiiii.nooooo..uuuuy.y\
aaaaaaccccccccdd..eeeeeeeeeegggggggghh..iiiiiiii....jjkk.llllll.\
...nnnnnn...oooooo..rrrrrrsssssssstttt..uuuuuuuuuuuuwwyyyzzzzzz.";

/// Lower-cases `s` and strips accents, for matching: "Café Ölüm" and
/// "cafe olum" fold alike. Covers Latin letters with diacritics
/// (precomposed, or decomposed as macOS writes file names) and the usual
/// ligatures (æ, œ, ß); other scripts are only lower-cased.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            // Combining diacritical marks (NFD input).
            '\u{300}'..='\u{36f}' => {}
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ß' => out.push_str("ss"),
            'ĳ' => out.push_str("ij"),
            'þ' => out.push_str("th"),
            'ø' => out.push('o'),
            'ð' | 'đ' => out.push('d'),
            'ł' | 'ŀ' => out.push('l'),
            'ħ' => out.push('h'),
            'ı' => out.push('i'),
            '\u{c0}'..='\u{17f}' => match LATIN_BASE[c as usize - 0xc0] {
                b'.' => out.push(c),
                base => out.push(char::from(base)),
            },
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_strips_case_and_accents() {
        assert_eq!(fold("Café Ölüm"), "cafe olum");
        assert_eq!(fold("Cafe\u{301} O\u{308}lu\u{308}m"), "cafe olum");
        assert_eq!(fold("Straße Æon Łódź Øre"), "strasse aeon lodz ore");
        assert_eq!(fold("ŽLUŤOUČKÝ KŮŇ"), "zlutoucky kun");
        assert_eq!(fold("Ελληνικά"), "ελληνικά");
        assert_eq!(fold("日本語"), "日本語");
    }
}
