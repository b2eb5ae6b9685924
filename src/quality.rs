//! The fixed quality levels a track can be played at.
//!
//! A phone asks for `?quality=low|medium|high|original`; everything below the
//! HTTP layer (config, cache keys, the transcoder) speaks in terms of this enum
//! so the spelling of a level lives in exactly one place.

use std::fmt;
use std::str::FromStr;

/// A playback quality level. `Original` is the untouched source file; the
/// others are constant-bitrate MP3 at the bitrate configured for the level
/// (defaults: high 256, medium 192, low 128 kbit/s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Original,
    High,
    Medium,
    Low,
}

impl Quality {
    /// Every level, in the order shown to users.
    pub const ALL: [Quality; 4] = [
        Quality::Original,
        Quality::High,
        Quality::Medium,
        Quality::Low,
    ];

    /// The lowercase name used in URLs, the config file and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Original => "original",
            Quality::High => "high",
            Quality::Medium => "medium",
            Quality::Low => "low",
        }
    }

    /// The valid names, comma-separated, for error messages.
    pub fn valid_names() -> String {
        Quality::ALL.map(Quality::as_str).join(", ")
    }
}

impl<'de> serde::Deserialize<'de> for Quality {
    /// From its name, with [`UnknownQuality`]'s message for anything else.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Quality, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a name that is not a quality level; carries the rejected text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownQuality(pub String);

impl fmt::Display for UnknownQuality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown quality {:?}; valid values: {}",
            self.0,
            Quality::valid_names()
        )
    }
}

impl std::error::Error for UnknownQuality {}

impl FromStr for Quality {
    type Err = UnknownQuality;

    /// Parses a level name exactly as written in URLs and config (lowercase).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quality::ALL
            .into_iter()
            .find(|q| q.as_str() == s)
            .ok_or_else(|| UnknownQuality(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for q in Quality::ALL {
            assert_eq!(q.as_str().parse::<Quality>(), Ok(q));
        }
    }

    #[test]
    fn unknown_name_lists_valid_values() {
        let err = "ultra".parse::<Quality>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown quality \"ultra\"; valid values: original, high, medium, low"
        );
        assert!("Medium".parse::<Quality>().is_err(), "names are lowercase");
    }
}
