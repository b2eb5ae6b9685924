//! Configuration: what the TOML file says, checked once at start.
//!
//! The file is read into a raw serde struct that mirrors its text (every value
//! wrapped in [`Spanned`] so we know the line it came from), command-line
//! overrides are laid over it, and [`Config::load`] turns the result into the
//! validated [`Config`] the rest of the program uses. Anything wrong (an
//! unknown key, a wrong type, a budget of "12 parsecs", a music root that does
//! not exist) is reported as a [`ConfigError`] naming the file, line, column
//! and what to write instead, so the server never starts half-configured.
//! The one exception is the built-in default `~/Music` missing, as on a fresh
//! machine: then the [demo library](crate::demo) is served.
//!
//! `raw.rs` holds what the file says and the checks of single values,
//! `sections.rs` one function per section that validates its raw table
//! into its part of [`Config`], `users.rs` the `[[users]]` tables. The
//! arrows point from the validators to `raw.rs`, never back.

mod default_toml;
mod raw;
mod sections;
#[cfg(test)]
mod tests;
mod users;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::quality::Quality;

pub use default_toml::default_toml;
pub use raw::expand_tilde;
use raw::{RawConfig, Source, line_column};
pub use users::User;

/// Bitrates (kbit/s) an MPEG-1 Layer III frame can carry (ISO/IEC 11172-3,
/// table for layer III), the only values a CBR quality level may use. 32 to
/// 56 are left out: at 48 kHz their frames are too small to hold the LAME
/// Info tag (192 bytes in a stereo frame), which every transcode starts with.
pub const MP3_BITRATES_KBPS: [u32; 10] = [64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

const DEFAULT_LISTEN: &str = "0.0.0.0:8340";
const DEFAULT_MAX_CONNECTIONS: i64 = 32;
const DEFAULT_MAX_SOCKETS: i64 = 512;
const DEFAULT_READ_TIMEOUT_SECS: i64 = 30;
const DEFAULT_WRITE_TIMEOUT_SECS: i64 = 30;
const DEFAULT_MAX_SIZE: &str = "2 GiB";
const DEFAULT_NICE: i64 = 10;
const DEFAULT_ENCODER_QUALITY: i64 = 3;
const DEFAULT_MAX_ART_SIZE: &str = "1 MiB";
const DEFAULT_MAX_QUEUE: i64 = 8;
const DEFAULT_METADATA_CACHE_ENTRIES: i64 = 20_000;
const DEFAULT_RETRY_FAILED_AFTER_SECS: i64 = 600;
const DEFAULT_BITRATE_HIGH_KBPS: i64 = 256;
const DEFAULT_BITRATE_MEDIUM_KBPS: i64 = 192;
const DEFAULT_BITRATE_LOW_KBPS: i64 = 128;
const MIN_TOKEN_LEN: usize = 16;

/// The validated configuration the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub server: ServerConfig,
    pub library: LibraryConfig,
    pub cache: CacheConfig,
    pub transcode: TranscodeConfig,
    pub warm: WarmConfig,
    pub admin: AdminConfig,
    pub state: StateConfig,
    /// Users of the Subsonic API (`[[users]]`); none means the API answers
    /// every request with an error saying how to add one.
    pub users: Vec<User>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmConfig {
    /// Queue the next track (folder or playlist order) at background
    /// priority when a track is played at a transcoded level.
    pub prefetch_next: bool,
    /// Folders, tracks and playlists (relative to the music root) warmed
    /// in the background at start.
    pub on_start: Vec<String>,
    /// Levels `on_start` warms, and the default of a warm request that
    /// names none. Never `original` (nothing to transcode).
    pub qualities: Vec<Quality>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address and port to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Requests served at once; more get `503` with `Retry-After`.
    pub max_connections: usize,
    /// Open connections at most, idle ones included.
    pub max_sockets: usize,
    /// How long an idle connection is kept, and how long a client has to
    /// send a whole request from its first byte.
    pub read_timeout: Duration,
    /// How long a write to a client may block before the response is abandoned.
    pub write_timeout: Duration,
    /// The user the web player's plays and stars count for (the first
    /// configured user when not set; `None`: nobody, nothing is recorded).
    pub web_user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryConfig {
    /// The music root, canonical (absolute, symlinks resolved); for the
    /// demo library, its place in the cache directory, which `App::new`
    /// fills.
    pub root: PathBuf,
    /// No root was configured and `~/Music` does not exist: `root` is the
    /// demo library ([`crate::demo`]).
    pub demo: bool,
    /// Whether symlinks inside the root are followed (never out of it).
    pub follow_symlinks: bool,
    /// Tracks whose tags are kept in memory (least recently used dropped).
    pub metadata_cache_entries: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Directory of transcoded entries; created when first needed.
    pub dir: PathBuf,
    /// Hard budget for all entries plus in-flight writes, in bytes.
    pub max_size_bytes: u64,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscodeConfig {
    /// Worker threads (already resolved from 0 = "CPUs minus one, at least 1").
    pub workers: usize,
    /// Niceness the workers set on themselves, 0 (normal) to 19 (lowest).
    pub nice: i32,
    /// Quality used when a request has no `quality` parameter.
    pub default_quality: Quality,
    /// LAME's algorithm selection (`lame_set_quality`, the `-q` of the
    /// `lame` command), 0 (best, slowest) to 9 (worst, fastest); the TOML
    /// key is `transcode.encoder_quality`.
    pub lame_algorithm: u8,
    /// Cover art above this many bytes is left out of transcoded MP3s.
    pub max_art_bytes: u64,
    /// Interactive transcodes allowed to wait before new misses are turned
    /// away (see `on_busy`).
    pub max_queue: usize,
    /// What a play gets when the queue is full (`transcode.on_busy`).
    pub on_busy: OnBusy,
    /// How long a source whose transcode failed is served as the original
    /// before it is tried again.
    pub retry_failed_after: Duration,
    /// Whether a transcode every listener has left runs to the end.
    pub finish_abandoned: bool,
    pub bitrate_kbps: Bitrates,
}

/// What a play gets when every transcoder is busy and `max_queue` plays
/// wait already (`transcode.on_busy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBusy {
    /// The file as it is (`"original"`): it plays, at the original's size.
    ServeOriginal,
    /// `503` with `Retry-After` (`"503"`): the client retries shortly.
    Unavailable,
}

/// CBR bitrate of each transcoded level, in kbit/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bitrates {
    pub high: u32,
    pub medium: u32,
    pub low: u32,
}

impl Bitrates {
    /// The built-in levels: high 256, medium 192, low 128 kbit/s.
    pub const DEFAULT: Bitrates = Bitrates {
        high: DEFAULT_BITRATE_HIGH_KBPS as u32,
        medium: DEFAULT_BITRATE_MEDIUM_KBPS as u32,
        low: DEFAULT_BITRATE_LOW_KBPS as u32,
    };

    /// The bitrate for a transcoded level, `None` for `Original`.
    pub fn for_quality(&self, quality: Quality) -> Option<u32> {
        match quality {
            Quality::Original => None,
            Quality::High => Some(self.high),
            Quality::Medium => Some(self.medium),
            Quality::Low => Some(self.low),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Bearer token for `/admin/*`; `None` means loopback clients only.
    pub token: Option<String>,
}

/// `[state]`: where listening state (plays, stars, queues, user playlists)
/// is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    pub dir: PathBuf,
}

/// Values given on the command line, which win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub music: Option<PathBuf>,
    pub cache: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub listen: Option<String>,
    /// The music root is not used (`tapedeck cache`): it is taken as
    /// written, without checking that it exists.
    pub music_unused: bool,
}

/// Where a setting's value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Written in a config file, at a 1-based line and column.
    File {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    /// Given as a command-line flag such as `--music`.
    Flag(&'static str),
    /// Not written anywhere: the built-in default.
    Default,
}

/// A configuration that cannot be used, with where and why.
#[derive(Debug)]
pub enum ConfigError {
    /// The config file could not be read.
    Read { path: PathBuf, err: io::Error },
    /// The file is not valid TOML, has an unknown key or a value of the wrong
    /// type. `line`/`column` are 1-based; 0 when the parser gave no position.
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value parsed but is impossible (out of range, missing directory...).
    Invalid {
        origin: Origin,
        key: &'static str,
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, err } => {
                write!(f, "cannot read config file {}: {err}", path.display())
            }
            ConfigError::Syntax {
                path,
                line,
                column,
                message,
            } => write!(f, "{}:{line}:{column}: {message}", path.display()),
            ConfigError::Invalid {
                origin,
                key,
                message,
            } => match origin {
                Origin::File { path, line, column } => {
                    write!(f, "{}:{line}:{column}: {key}: {message}", path.display())
                }
                Origin::Flag(flag) => write!(f, "{flag}: {message}"),
                Origin::Default => write!(
                    f,
                    "{key} (built-in default): {message}; set {key} in a config file or on the command line"
                ),
            },
        }
    }
}

impl std::error::Error for ConfigError {}

/// The music root used when none is configured: the XDG music directory
/// (`XDG_MUSIC_DIR` in `~/.config/user-dirs.dirs`), else `~/Music`.
pub fn default_music_dir() -> PathBuf {
    dirs::audio_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join("Music")))
        .unwrap_or_else(|| PathBuf::from("Music"))
}

/// The cache directory used when none is configured:
/// `$XDG_CACHE_HOME/tapedeck`, else `~/.cache/tapedeck`.
pub fn default_cache_dir() -> PathBuf {
    dirs::cache_dir()
        .map(|c| c.join("tapedeck"))
        .unwrap_or_else(|| PathBuf::from(".cache/tapedeck"))
}

/// The state directory used when none is configured:
/// `$XDG_STATE_HOME/tapedeck`, else `~/.local/state/tapedeck`.
pub fn default_state_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
        .map(|d| d.join("tapedeck"))
        .unwrap_or_else(|| PathBuf::from(".local/state/tapedeck"))
}

/// The config file read when `--config` is not given and it exists:
/// `$XDG_CONFIG_HOME/tapedeck/config.toml`, else `~/.config/tapedeck/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|c| c.join("tapedeck").join("config.toml"))
}

/// Worker count when `transcode.workers = 0`: CPUs minus one, at least one,
/// so a request thread always has a core.
pub fn auto_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

impl Config {
    /// Reads and validates the config file at `path` (or only the built-in
    /// defaults when `None`), with `overrides` from the command line on top.
    ///
    /// Errors: [`ConfigError::Read`] if the file cannot be read,
    /// [`ConfigError::Syntax`] for bad TOML, unknown keys or wrong types, and
    /// [`ConfigError::Invalid`] for values that are out of range or point at
    /// something that does not exist.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
                    path: path.to_owned(),
                    err,
                })?;
                Config::from_toml(&text, path, overrides)
            }
            None => Config::from_toml("", Path::new("(defaults)"), overrides),
        }
    }

    /// Validates config `text`, reporting errors against `path`: one
    /// function per section (`sections.rs`, `users.rs`), called in a fixed
    /// order; the first error is the one reported.
    pub fn from_toml(
        text: &str,
        path: &Path,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let raw = parse(text, path)?;
        let src = Source { path, text };
        let (mut server, web_user) = sections::server(raw.server, &src, overrides)?;
        let cache = sections::cache(raw.cache, &src, overrides)?;
        let transcode = sections::transcode(raw.transcode, &src)?;
        let admin = sections::admin(raw.admin, &src)?;
        let library = sections::library(raw.library, &src, overrides, &cache.dir)?;
        let users = users::validate(raw.users, &src)?;
        server.web_user = sections::web_user(web_user, &users, &src)?;
        let state = sections::state(raw.state, &src, overrides);
        let warm = sections::warm(raw.warm, &src)?;
        Ok(Config {
            server,
            library,
            cache,
            transcode,
            warm,
            admin,
            state,
            users,
        })
    }
}

/// Reads `text` into the raw tables.
///
/// Errors: [`ConfigError::Syntax`] for bad TOML, an unknown key or a
/// value of the wrong type, at its line and column in `path`.
fn parse(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .unwrap_or((0, 0));
        ConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            // serde names Rust types; say what a TOML writer would.
            message: e
                .message()
                .trim()
                .replace("expected i64", "expected an integer"),
        }
    })
}

/// Parses warm levels: at least one, each `high`, `medium` or `low`,
/// duplicates dropped.
///
/// Errors: a message naming the offending value.
pub fn parse_warm_qualities(names: &[String]) -> Result<Vec<Quality>, String> {
    if names.is_empty() {
        return Err("name at least one of \"high\", \"medium\", \"low\"".to_owned());
    }
    let mut out = Vec::new();
    for name in names {
        let q: Quality = name
            .parse()
            .map_err(|e: crate::quality::UnknownQuality| e.to_string())?;
        if q == Quality::Original {
            return Err("\"original\" is never transcoded, so there is nothing to warm".to_owned());
        }
        if !out.contains(&q) {
            out.push(q);
        }
    }
    Ok(out)
}
