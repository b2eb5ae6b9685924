//! Item IDs, stable without a database: what the Subsonic API hands out
//! and the key the listening state (`crate::state`) files stars, ratings
//! and plays under, so both share one definition here. Each is a kind
//! prefix and the URL-safe base64 (RFC 4648 §5, no padding) of what the ID
//! names, a path relative to the music root or an artist's name. They contain only
//! `A-Z a-z 0-9 - _` (no `;`, which DSub splits on), survive restarts and
//! renames of nothing else, and carry no secret.
//!
//! An ID is untrusted input: decoding checks its length, its base64 and
//! UTF-8, and builds a [`RelPath`] (the segment rules); the caller still
//! resolves the path through the library before opening anything.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::library::RelPath;

/// Longest ID accepted, in bytes (a path of about 3 KB).
pub const MAX_ID_LEN: usize = 4096;

/// The music folder's ID: Subsonic wants an integer, and there is one.
pub const MUSIC_FOLDER_ID: i64 = 1;

/// What an ID names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// A track (Subsonic's song, a `Child` with `isDir = false`).
    Song(RelPath),
    /// A folder of the library (the folder view's directory).
    Dir(RelPath),
    /// An album of the ID3 view: a folder that holds tracks.
    Album(RelPath),
    /// An artist of the ID3 view, by name.
    Artist(String),
    /// A `.m3u`/`.m3u8` playlist of the library.
    Playlist(RelPath),
    /// A playlist a user made in an app (see [`crate::state::playlists`]).
    UserPlaylist { owner: String, number: u64 },
}

impl Id {
    /// The ID as sent to clients.
    pub fn encode(&self) -> String {
        let owned;
        let (kind, text) = match self {
            Id::Song(p) => ("tr", p.as_str()),
            Id::Dir(p) => ("dr", p.as_str()),
            Id::Album(p) => ("al", p.as_str()),
            Id::Artist(name) => ("ar", name.as_str()),
            Id::Playlist(p) => ("pl", p.as_str()),
            Id::UserPlaylist { owner, number } => {
                owned = format!("{owner}/{number}");
                ("up", owned.as_str())
            }
        };
        format!("{kind}-{}", URL_SAFE_NO_PAD.encode(text))
    }

    /// Decodes an ID a client sent.
    ///
    /// Errors: why it is not one of ours, for the log (the client gets
    /// "not found"): too long, an unknown kind, bad base64 or UTF-8, or a
    /// path that breaks a segment rule.
    pub fn decode(id: &str) -> Result<Id, &'static str> {
        if id.len() > MAX_ID_LEN {
            return Err("too long");
        }
        let (kind, body) = id.split_once('-').ok_or("no kind prefix")?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| "not base64url")?;
        let text = String::from_utf8(bytes).map_err(|_| "not UTF-8")?;
        let path = || RelPath::new(&text).map_err(|e| e.0);
        Ok(match kind {
            "tr" => Id::Song(non_root(path()?)?),
            "dr" => Id::Dir(path()?),
            "al" => Id::Album(path()?),
            "ar" if !text.is_empty() && !text.chars().any(char::is_control) => Id::Artist(text),
            "ar" => return Err("not an artist name"),
            "pl" => Id::Playlist(non_root(path()?)?),
            "up" => {
                let (owner, number) = text.rsplit_once('/').ok_or("not a user playlist")?;
                let number = number.parse().map_err(|_| "not a user playlist")?;
                if owner.is_empty() || owner.chars().any(char::is_control) {
                    return Err("not a user playlist");
                }
                Id::UserPlaylist {
                    owner: owner.to_owned(),
                    number,
                }
            }
            _ => return Err("unknown kind"),
        })
    }
}

fn non_root(p: RelPath) -> Result<RelPath, &'static str> {
    if p.is_root() {
        Err("the root is no file")
    } else {
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(p: &str) -> RelPath {
        RelPath::new(p).unwrap()
    }

    #[test]
    fn ids_round_trip_and_stay_url_safe() {
        for id in [
            Id::Song(rel("Artist/Album/01 Café; ünïcode?&.flac")),
            Id::Dir(rel("Artist")),
            Id::Dir(RelPath::root()),
            Id::Album(rel("A/B")),
            Id::Artist("AC/DC & Friends; ok".to_owned()),
            Id::Playlist(rel("Playlists/Evening.m3u")),
            Id::UserPlaylist {
                owner: "anna/b; c".to_owned(),
                number: 1_700_000_000_123,
            },
        ] {
            let text = id.encode();
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{text}"
            );
            assert_eq!(Id::decode(&text), Ok(id));
        }
    }

    #[test]
    fn hostile_ids_are_refused() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            String::new(),
            "tr".to_owned(),
            format!("xx-{}", b64("a")),
            format!("tr-{}", b64("../etc/passwd")),
            format!("tr-{}", b64("a/../../b")),
            format!("dr-{}", b64("/etc")),
            format!("tr-{}", b64(".hidden/x.flac")),
            format!("tr-{}", b64("a\0b")),
            format!("tr-{}", b64("")),
            "tr-a;b".to_owned(),
            "tr-!!!".to_owned(),
            format!("tr-{}", URL_SAFE_NO_PAD.encode([0xff, 0xfe])),
            format!("tr-{}", "A".repeat(MAX_ID_LEN)),
            format!("ar-{}", b64("")),
        ] {
            assert!(Id::decode(&bad).is_err(), "{bad:.80} must be refused");
        }
    }
}
