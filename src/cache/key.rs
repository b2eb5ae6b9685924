//! Cache keys: SHA-256 over everything that determines an entry's bytes,
//! so the same inputs always find the same entry and any change (the
//! source, the level, the encoder settings, the tag layout) finds none.

use sha2::{Digest, Sha256};

use crate::quality::Quality;

/// Bumped whenever the bytes of an entry for the same inputs would change
/// (encoder settings, tag layout), so old entries stop matching and age out.
/// 2: segments without the bit reservoir, the Info frame written first.
pub const FORMAT_VERSION: u32 = 2;

/// A cache key: SHA-256 over everything that determines an entry's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Key([u8; 32]);

/// What an entry is made from; hashed into its [`Key`].
#[derive(Debug, Clone)]
pub struct KeyParts<'a> {
    /// Path relative to the music root.
    pub relative: &'a str,
    /// Source size in bytes and mtime in ns since the epoch: a re-tagged
    /// or replaced file gets a new key.
    pub source_size: u64,
    pub source_mtime_ns: i128,
    pub quality: Quality,
    pub bitrate_kbps: u32,
    pub lame_algorithm: u8,
    pub max_art_bytes: u64,
}

impl Key {
    /// The key of an entry made from `parts` (length-prefixed fields, so
    /// no two different inputs serialise the same).
    pub fn new(parts: &KeyParts<'_>) -> Key {
        let mut h = Sha256::new();
        h.update(b"tapedeck-cache");
        h.update(FORMAT_VERSION.to_le_bytes());
        h.update((parts.relative.len() as u64).to_le_bytes());
        h.update(parts.relative.as_bytes());
        h.update(parts.source_size.to_le_bytes());
        h.update(parts.source_mtime_ns.to_le_bytes());
        h.update(parts.quality.as_str().as_bytes());
        h.update([0]);
        h.update(parts.bitrate_kbps.to_le_bytes());
        h.update([parts.lame_algorithm]);
        h.update(parts.max_art_bytes.to_le_bytes());
        Key(h.finalize().into())
    }

    /// A key with these bytes (tests).
    #[cfg(test)]
    pub(super) fn from_bytes(b: [u8; 32]) -> Key {
        Key(b)
    }

    /// The key of a derived entry (a scaled cover...): SHA-256 over a
    /// label and length-prefixed fields, apart from transcode keys.
    pub fn derived(label: &str, fields: &[&[u8]]) -> Key {
        let mut h = Sha256::new();
        h.update(b"tapedeck-derived");
        h.update(FORMAT_VERSION.to_le_bytes());
        h.update((label.len() as u64).to_le_bytes());
        h.update(label.as_bytes());
        for f in fields {
            h.update((f.len() as u64).to_le_bytes());
            h.update(f);
        }
        Key(h.finalize().into())
    }

    /// Lowercase hex, 64 characters: the entry's file stem.
    pub fn hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        out
    }

    pub(super) fn from_hex(s: &str) -> Option<Key> {
        if s.len() != 64 {
            return None;
        }
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Key(k))
    }
}
