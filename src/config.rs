//! Configuration: what the TOML file says, checked once at start.
//!
//! The file is read into a raw serde struct that mirrors its text (every value
//! wrapped in [`Spanned`] so we know the line it came from), command-line
//! overrides are laid over it, and [`Config::load`] turns the result into the
//! validated [`Config`] the rest of the program uses. Anything wrong (an
//! unknown key, a wrong type, a budget of "12 parsecs", a music root that does
//! not exist) is reported as a [`ConfigError`] naming the file, line, column
//! and what to write instead, so the server never starts half-configured.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::quality::Quality;

/// Bitrates (kbit/s) an MPEG-1 Layer III frame can carry (ISO/IEC 11172-3,
/// table for layer III), the only values a CBR quality level may use. 56 is
/// left out: the mp3lame-encoder crate has no constant for it.
pub const MP3_BITRATES_KBPS: [u32; 13] =
    [32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

const DEFAULT_LISTEN: &str = "0.0.0.0:8340";
const DEFAULT_MAX_CONNECTIONS: i64 = 32;
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
    /// How long a connection may stay silent (between or inside requests)
    /// before it is closed.
    pub read_timeout: Duration,
    /// How long a write to a client may block before the response is abandoned.
    pub write_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryConfig {
    /// The music root, canonical (absolute, symlinks resolved).
    pub root: PathBuf,
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
    /// away (see `on_busy_503`).
    pub max_queue: usize,
    /// When the queue is full: `false` serves the original, `true` answers
    /// 503 with `Retry-After`.
    pub on_busy_503: bool,
    /// How long a source whose transcode failed is served as the original
    /// before it is tried again.
    pub retry_failed_after: Duration,
    /// Whether a transcode every listener has left runs to the end.
    pub finish_abandoned: bool,
    pub bitrate_kbps: Bitrates,
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

/// Values given on the command line, which win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub music: Option<PathBuf>,
    pub cache: Option<PathBuf>,
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

// ---- what the file says -------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    server: RawServer,
    library: RawLibrary,
    cache: RawCache,
    transcode: RawTranscode,
    warm: RawWarm,
    admin: RawAdmin,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWarm {
    prefetch_next: Option<bool>,
    on_start: Option<Vec<String>>,
    qualities: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: Option<Spanned<String>>,
    max_connections: Option<Spanned<i64>>,
    read_timeout_secs: Option<Spanned<i64>>,
    write_timeout_secs: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLibrary {
    root: Option<Spanned<String>>,
    follow_symlinks: Option<bool>,
    metadata_cache_entries: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCache {
    dir: Option<Spanned<String>>,
    max_size: Option<Spanned<String>>,
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTranscode {
    workers: Option<Spanned<i64>>,
    nice: Option<Spanned<i64>>,
    default_quality: Option<Spanned<String>>,
    encoder_quality: Option<Spanned<i64>>,
    max_art_size: Option<Spanned<String>>,
    max_queue: Option<Spanned<i64>>,
    on_busy: Option<Spanned<String>>,
    retry_failed_after_secs: Option<Spanned<i64>>,
    finish_abandoned: Option<bool>,
    bitrate_kbps: RawBitrates,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBitrates {
    high: Option<Spanned<i64>>,
    medium: Option<Spanned<i64>>,
    low: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAdmin {
    token: Option<Spanned<String>>,
}

// ---- validation ---------------------------------------------------------

/// The text being validated and where it came from, to turn byte spans
/// into line/column origins.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn origin(&self, span: Range<usize>) -> Origin {
        let (line, column) = line_column(self.text, span.start);
        Origin::File {
            path: self.path.to_owned(),
            line,
            column,
        }
    }

    /// A value with its origin, or the default with [`Origin::Default`].
    fn take<T>(&self, value: Option<Spanned<T>>, default: T) -> (T, Origin) {
        match value {
            Some(v) => {
                let origin = self.origin(v.span());
                (v.into_inner(), origin)
            }
            None => (default, Origin::Default),
        }
    }

    /// Resolves a path written in this file: `~` is the home directory and a
    /// relative path is taken from the file's own directory.
    fn path(&self, written: &str) -> PathBuf {
        let expanded = expand_tilde(written);
        if expanded.is_absolute() {
            return expanded;
        }
        match self.path.parent() {
            Some(dir) => dir.join(expanded),
            None => expanded,
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at` in `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn invalid(origin: Origin, key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin,
        key,
        message: message.into(),
    }
}

/// Checks that an integer lies in `range` and converts it.
fn in_range<T: TryFrom<i64>>(
    (value, origin): (i64, Origin),
    key: &'static str,
    range: std::ops::RangeInclusive<i64>,
    meaning: &str,
) -> Result<T, ConfigError> {
    if !range.contains(&value) {
        return Err(invalid(
            origin,
            key,
            format!(
                "{value} is out of range; use {} to {} ({meaning})",
                range.start(),
                range.end()
            ),
        ));
    }
    T::try_from(value).map_err(|_| invalid(origin, key, format!("{value} is out of range")))
}

/// `~` and `~/...` are the user's home directory; anything else is kept.
pub fn expand_tilde(written: &str) -> PathBuf {
    if written == "~" {
        if let Some(home) = dirs::home_dir() {
            return home;
        }
    } else if let Some(rest) = written.strip_prefix("~/")
        && let Some(home) = dirs::home_dir()
    {
        return home.join(rest);
    }
    PathBuf::from(written)
}

/// Shows a path with the home directory as `~`, as a user would write it.
fn display_with_tilde(path: &Path) -> String {
    if let Some(home) = dirs::home_dir()
        && let Ok(rest) = path.strip_prefix(&home)
    {
        if rest.as_os_str().is_empty() {
            return "~".to_owned();
        }
        return format!("~/{}", rest.display());
    }
    path.display().to_string()
}

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

/// The config file read when `--config` is not given and it exists:
/// `$XDG_CONFIG_HOME/tapedeck/config.toml`, else `~/.config/tapedeck/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|c| c.join("tapedeck").join("config.toml"))
}

fn parse_listen((text, origin): (String, Origin)) -> Result<SocketAddr, ConfigError> {
    const KEY: &str = "server.listen";
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // Say precisely what is wrong when the shape is right but the port is not.
    if let Some((host, port)) = text.rsplit_once(':')
        && let Ok(port) = port.parse::<u64>()
    {
        if port > u64::from(u16::MAX) {
            return Err(invalid(
                origin,
                KEY,
                format!("port {port} is out of range; use 1-65535 (or 0 for any free port)"),
            ));
        }
        return Err(invalid(
            origin,
            KEY,
            format!(
                "{host:?} is not an IP address; use e.g. \"0.0.0.0:8340\" (all IPv4), \"[::]:8340\" (all IPv6) or \"127.0.0.1:8340\""
            ),
        ));
    }
    Err(invalid(
        origin,
        KEY,
        format!("{text:?} is not an address and port; use IP:PORT such as \"0.0.0.0:8340\""),
    ))
}

fn parse_size((text, origin): (String, Origin), key: &'static str) -> Result<u64, ConfigError> {
    let size: bytesize::ByteSize = text.trim().parse().map_err(|_| {
        invalid(
            origin.clone(),
            key,
            format!(
                "{text:?} is not a size; write a number and a unit such as \"500 MiB\" or \"2 GiB\""
            ),
        )
    })?;
    const MIN: u64 = 1024 * 1024;
    if size.as_u64() < MIN {
        return Err(invalid(
            origin,
            key,
            format!("{text:?} is too small for a cache; use at least \"1 MiB\""),
        ));
    }
    Ok(size.as_u64())
}

fn check_music_root(path: PathBuf, origin: Origin) -> Result<PathBuf, ConfigError> {
    const KEY: &str = "library.root";
    let shown = display_with_tilde(&path);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(invalid(origin, KEY, format!("{shown} is not a directory"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(invalid(
                origin,
                KEY,
                format!("music directory {shown} does not exist"),
            ));
        }
        Err(e) => {
            return Err(invalid(
                origin,
                KEY,
                format!("cannot open music directory {shown}: {e}"),
            ));
        }
    }
    if let Err(e) = std::fs::read_dir(&path) {
        return Err(invalid(
            origin,
            KEY,
            format!("cannot list music directory {shown}: {e}"),
        ));
    }
    std::fs::canonicalize(&path)
        .map_err(|e| invalid(origin, KEY, format!("cannot resolve {shown}: {e}")))
}

fn check_bitrate(value: (i64, Origin), key: &'static str) -> Result<(u32, Origin), ConfigError> {
    let (kbps, origin) = value;
    match MP3_BITRATES_KBPS.iter().find(|&&b| i64::from(b) == kbps) {
        Some(&b) => Ok((b, origin)),
        None => Err(invalid(
            origin,
            key,
            format!(
                "{kbps} kbit/s is not an MP3 bitrate; use one of {}",
                MP3_BITRATES_KBPS.map(|b| b.to_string()).join(", ")
            ),
        )),
    }
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

    /// Validates config `text`, reporting errors against `path`.
    pub fn from_toml(
        text: &str,
        path: &Path,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
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
        })?;
        let src = Source { path, text };

        let server = {
            let listen = match &overrides.listen {
                Some(l) => (l.clone(), Origin::Flag("--listen")),
                None => src.take(raw.server.listen, DEFAULT_LISTEN.to_owned()),
            };
            ServerConfig {
                listen: parse_listen(listen)?,
                max_connections: in_range(
                    src.take(raw.server.max_connections, DEFAULT_MAX_CONNECTIONS),
                    "server.max_connections",
                    1..=4096,
                    "requests served at once",
                )?,
                read_timeout: Duration::from_secs(in_range(
                    src.take(raw.server.read_timeout_secs, DEFAULT_READ_TIMEOUT_SECS),
                    "server.read_timeout_secs",
                    1..=3600,
                    "seconds",
                )?),
                write_timeout: Duration::from_secs(in_range(
                    src.take(raw.server.write_timeout_secs, DEFAULT_WRITE_TIMEOUT_SECS),
                    "server.write_timeout_secs",
                    1..=3600,
                    "seconds",
                )?),
            }
        };

        let cache = {
            let (dir, origin) = match &overrides.cache {
                // The shell has already expanded `~`; keep the path's bytes as given.
                Some(dir) => (dir.clone(), Origin::Flag("--cache")),
                None => match raw.cache.dir {
                    Some(d) => (src.path(d.get_ref()), src.origin(d.span())),
                    None => (default_cache_dir(), Origin::Default),
                },
            };
            if dir.exists() && !dir.is_dir() {
                return Err(invalid(
                    origin,
                    "cache.dir",
                    format!("{} exists and is not a directory", display_with_tilde(&dir)),
                ));
            }
            CacheConfig {
                dir,
                max_size_bytes: parse_size(
                    src.take(raw.cache.max_size, DEFAULT_MAX_SIZE.to_owned()),
                    "cache.max_size",
                )?,
                enabled: raw.cache.enabled.unwrap_or(true),
            }
        };

        let transcode = {
            let t = raw.transcode;
            let workers: usize = in_range(
                src.take(t.workers, 0),
                "transcode.workers",
                0..=64,
                "0 = number of CPUs minus one",
            )?;
            let (quality, q_origin) = src.take(t.default_quality, "original".to_owned());
            let default_quality = quality
                .parse::<Quality>()
                .map_err(|e| invalid(q_origin, "transcode.default_quality", e.to_string()))?;
            let (high, _) = check_bitrate(
                src.take(t.bitrate_kbps.high, DEFAULT_BITRATE_HIGH_KBPS),
                "transcode.bitrate_kbps.high",
            )?;
            let (medium, medium_origin) = check_bitrate(
                src.take(t.bitrate_kbps.medium, DEFAULT_BITRATE_MEDIUM_KBPS),
                "transcode.bitrate_kbps.medium",
            )?;
            let (low, low_origin) = check_bitrate(
                src.take(t.bitrate_kbps.low, DEFAULT_BITRATE_LOW_KBPS),
                "transcode.bitrate_kbps.low",
            )?;
            if medium > high {
                return Err(invalid(
                    medium_origin,
                    "transcode.bitrate_kbps.medium",
                    format!("medium ({medium} kbit/s) must not exceed high ({high} kbit/s)"),
                ));
            }
            if low > medium {
                return Err(invalid(
                    low_origin,
                    "transcode.bitrate_kbps.low",
                    format!("low ({low} kbit/s) must not exceed medium ({medium} kbit/s)"),
                ));
            }
            TranscodeConfig {
                workers: if workers == 0 {
                    auto_workers()
                } else {
                    workers
                },
                nice: in_range(
                    src.take(t.nice, DEFAULT_NICE),
                    "transcode.nice",
                    0..=19,
                    "0 = normal priority, 19 = lowest",
                )?,
                default_quality,
                lame_algorithm: in_range(
                    src.take(t.encoder_quality, DEFAULT_ENCODER_QUALITY),
                    "transcode.encoder_quality",
                    0..=9,
                    "LAME quality: 0 = best and slowest, 9 = fastest",
                )?,
                max_art_bytes: parse_size(
                    src.take(t.max_art_size, DEFAULT_MAX_ART_SIZE.to_owned()),
                    "transcode.max_art_size",
                )?,
                max_queue: in_range(
                    src.take(t.max_queue, DEFAULT_MAX_QUEUE),
                    "transcode.max_queue",
                    1..=1000,
                    "transcodes allowed to wait for a worker",
                )?,
                on_busy_503: {
                    let (v, origin) = src.take(t.on_busy, "original".to_owned());
                    match v.as_str() {
                        "original" => false,
                        "503" => true,
                        other => {
                            return Err(invalid(
                                origin,
                                "transcode.on_busy",
                                format!("{other:?} is not a choice; use \"original\" or \"503\""),
                            ));
                        }
                    }
                },
                retry_failed_after: Duration::from_secs(in_range(
                    src.take(t.retry_failed_after_secs, DEFAULT_RETRY_FAILED_AFTER_SECS),
                    "transcode.retry_failed_after_secs",
                    0..=86_400 * 30,
                    "seconds",
                )?),
                finish_abandoned: t.finish_abandoned.unwrap_or(true),
                bitrate_kbps: Bitrates { high, medium, low },
            }
        };

        let admin = {
            let (token, origin) = src.take(raw.admin.token, String::new());
            if token.is_empty() {
                AdminConfig { token: None }
            } else if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid(
                    origin,
                    "admin.token",
                    format!(
                        "a token must be at least {MIN_TOKEN_LEN} visible ASCII characters without spaces (e.g. the output of `openssl rand -hex 16`), or \"\" for loopback-only admin"
                    ),
                ));
            } else {
                AdminConfig { token: Some(token) }
            }
        };

        // Checked last: a typo elsewhere in the file is reported before a
        // directory missing on this machine.
        let library = {
            let metadata_cache_entries = in_range(
                src.take(
                    raw.library.metadata_cache_entries,
                    DEFAULT_METADATA_CACHE_ENTRIES,
                ),
                "library.metadata_cache_entries",
                0..=10_000_000,
                "tracks",
            )?;
            let (root, origin) = match &overrides.music {
                Some(dir) => (dir.clone(), Origin::Flag("--music")),
                None => match raw.library.root {
                    Some(r) => (src.path(r.get_ref()), src.origin(r.span())),
                    None => (default_music_dir(), Origin::Default),
                },
            };
            LibraryConfig {
                root: if overrides.music_unused {
                    root
                } else {
                    check_music_root(root, origin)?
                },
                follow_symlinks: raw.library.follow_symlinks.unwrap_or(true),
                metadata_cache_entries,
            }
        };

        Ok(Config {
            server,
            library,
            cache,
            transcode,
            warm: {
                let (names, origin) = src.take(raw.warm.qualities, vec!["medium".to_owned()]);
                let qualities = parse_warm_qualities(&names)
                    .map_err(|message| invalid(origin, "warm.qualities", message))?;
                WarmConfig {
                    prefetch_next: raw.warm.prefetch_next.unwrap_or(true),
                    on_start: raw.warm.on_start.unwrap_or_default(),
                    qualities,
                }
            },
            admin,
        })
    }
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

/// The full default configuration as TOML, with a comment on every key.
/// `tapedeck config default` prints it; parsing it gives the built-in defaults.
pub fn default_toml() -> String {
    format!(
        r#"# tapedeck configuration. Every key is optional; the values below are the
# built-in defaults. Check a file with `tapedeck config check FILE`.

[server]
# Address and port to listen on. "0.0.0.0:8340" reaches every IPv4 interface
# (the phones on your LAN); "127.0.0.1:8340" only this machine; port 0 = any.
listen = "{DEFAULT_LISTEN}"
# Requests served at the same time; more get "503 Service Unavailable" with
# Retry-After. Each one costs a thread (a few tens of KB of memory).
max_connections = {DEFAULT_MAX_CONNECTIONS}
# Seconds a connection may stay silent before it is closed.
read_timeout_secs = {DEFAULT_READ_TIMEOUT_SECS}
# Seconds a write to a stalled client may block before the response is dropped.
write_timeout_secs = {DEFAULT_WRITE_TIMEOUT_SECS}

[library]
# The music root. Nothing outside it is ever served. "~" is your home
# directory; a relative path is taken from this file's directory.
root = "{root}"
# Follow symlinks inside the root (a symlink leading out of it is refused
# either way). false = refuse every symlink.
follow_symlinks = true
# Tracks whose tags (title, artist, album, duration...) are kept in memory so
# browsing and search read each file once; about 300 bytes each. Make it at
# least the number of tracks you have, or search re-reads the overflow.
metadata_cache_entries = {DEFAULT_METADATA_CACHE_ENTRIES}

[cache]
# Where transcoded MP3s are kept. Only file names derived from a hash go here.
dir = "{cache}"
# Hard size budget for the cache, e.g. "500 MiB", "2 GiB" (1024-based) or
# "2 GB" (1000-based). The entries used longest ago are evicted first.
max_size = "{DEFAULT_MAX_SIZE}"
# false = transcode on every play and keep nothing on disk.
enabled = true

[transcode]
# Transcoding threads; 0 = number of CPUs minus one (at least one).
workers = 0
# CPU priority of the transcoding threads, 0 (normal) to 19 (lowest), so
# serving never waits for an encode.
nice = {DEFAULT_NICE}
# Quality when a request names none: "original", "high", "medium" or "low".
default_quality = "original"
# LAME algorithm quality, 0 (best, slowest) to 9 (fastest); 3 is what the
# lame command line and ffmpeg use.
encoder_quality = {DEFAULT_ENCODER_QUALITY}
# Cover art (embedded, or cover.jpg/folder.jpg beside the track) larger
# than this is left out of transcoded MP3s rather than bloating each one.
max_art_size = "{DEFAULT_MAX_ART_SIZE}"
# Transcodes allowed to wait for a free worker; beyond that a new miss is
# answered as on_busy says: "original" (serve the file as it is) or "503"
# (ask the player to retry).
max_queue = {DEFAULT_MAX_QUEUE}
on_busy = "original"
# A file that failed to transcode is served as the original for this long
# before it is tried again.
retry_failed_after_secs = {DEFAULT_RETRY_FAILED_AFTER_SECS}
# true = a transcode whose listeners all left runs to the end and is
# cached; false = it stops 5 s after the last listener left.
finish_abandoned = true

[transcode.bitrate_kbps]
# Constant bitrate of each quality level, in kbit/s (an MP3 bitrate:
# 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256 or 320).
high = {DEFAULT_BITRATE_HIGH_KBPS}
medium = {DEFAULT_BITRATE_MEDIUM_KBPS}
low = {DEFAULT_BITRATE_LOW_KBPS}

[warm]
# When a track plays at high, medium or low, transcode the next one (in its
# folder, or in the playlist it was started from) in the background, so the
# next play starts from the cache.
prefetch_next = true
# Folders, tracks and .m3u/.m3u8 playlists (paths relative to the music root)
# to transcode in the background each time the server starts; already cached
# tracks are skipped. Follow it with GET /admin/jobs. Example:
# on_start = ["Playlists/Evening.m3u", "Artist/Album"]
on_start = []
# Levels warmed by on_start, and by `tapedeck warm` or POST
# /admin/cache/warm when they name none: any of "high", "medium", "low".
qualities = ["medium"]

[admin]
# Bearer token required by /admin/* ("Authorization: Bearer <token>"), at
# least {MIN_TOKEN_LEN} characters, e.g. from `openssl rand -hex 16`.
# "" = no token: /admin/* answers only clients on this machine (loopback).
token = ""
"#,
        root = display_with_tilde(&default_music_dir()).replace('\\', "\\\\"),
        cache = display_with_tilde(&default_cache_dir()).replace('\\', "\\\\"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn music_dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    fn load(text: &str, music: &Path) -> Result<Config, ConfigError> {
        let overrides = Overrides {
            music: Some(music.to_owned()),
            ..Overrides::default()
        };
        Config::from_toml(text, Path::new("tapedeck.toml"), &overrides)
    }

    fn error(text: &str) -> String {
        let music = music_dir();
        match load(text, music.path()) {
            Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let music = music_dir();
        let c = load("", music.path()).expect("defaults are valid");
        assert_eq!(c.server.listen, "0.0.0.0:8340".parse().unwrap());
        assert_eq!(c.server.max_connections, 32);
        assert_eq!(c.cache.max_size_bytes, 2 * 1024 * 1024 * 1024);
        assert_eq!(c.transcode.lame_algorithm, 3);
        assert_eq!(c.transcode.max_art_bytes, 1 << 20);
        assert_eq!(c.transcode.nice, 10);
        assert_eq!(
            c.transcode.bitrate_kbps,
            Bitrates {
                high: 256,
                medium: 192,
                low: 128
            }
        );
        assert_eq!(c.transcode.default_quality, Quality::Original);
        assert!(c.transcode.workers >= 1);
        assert_eq!(c.admin.token, None);
        assert_eq!(c.library.root, std::fs::canonicalize(music.path()).unwrap());
    }

    #[test]
    fn printed_default_config_parses_to_the_defaults() {
        let music = music_dir();
        let printed = default_toml();
        // Every key carries a comment line right above it (or shares its block).
        assert!(printed.lines().filter(|l| l.contains(" = ")).count() >= 15);
        let from_printed = load(&printed, music.path()).expect("printed default parses");
        let mut from_empty = load("", music.path()).unwrap();
        // The printed cache dir is shown with "~"; compare it expanded.
        from_empty.cache.dir = from_printed.cache.dir.clone();
        assert_eq!(from_printed, from_empty);
    }

    #[test]
    fn unknown_key_is_rejected_with_line_and_column() {
        let msg = error("[server]\nlisten = \"127.0.0.1:1\"\nmax_conections = 4\n");
        assert!(msg.starts_with("tapedeck.toml:3:1: "), "{msg}");
        assert!(msg.contains("max_conections"), "{msg}");
    }

    #[test]
    fn unknown_section_is_rejected() {
        let msg = error("[serverr]\nlisten = \"127.0.0.1:1\"\n");
        assert!(msg.starts_with("tapedeck.toml:1:"), "{msg}");
        assert!(msg.contains("serverr"), "{msg}");
    }

    #[test]
    fn wrong_type_is_rejected_with_line() {
        let msg = error("[server]\n\nmax_connections = \"many\"\n");
        assert!(msg.starts_with("tapedeck.toml:3:19: "), "{msg}");
        assert!(msg.contains("integer"), "{msg}");
    }

    #[test]
    fn invalid_toml_is_rejected_with_line() {
        let msg = error("[cache]\nmax_size = 2 GiB\n");
        assert!(msg.starts_with("tapedeck.toml:2:"), "{msg}");
    }

    #[test]
    fn impossible_budget_is_rejected_with_line_and_explanation() {
        let msg = error("[cache]\nenabled = true\nmax_size = \"12 parsecs\"\n");
        assert_eq!(
            msg,
            "tapedeck.toml:3:12: cache.max_size: \"12 parsecs\" is not a size; write a number and a unit such as \"500 MiB\" or \"2 GiB\""
        );
        assert!(error("[cache]\nmax_size = \"10 KiB\"\n").contains("too small"));
    }

    #[test]
    fn human_sizes_are_understood() {
        let music = music_dir();
        for (text, bytes) in [
            ("500 MiB", 500 * 1024 * 1024),
            ("2GiB", 2 * 1024 * 1024 * 1024),
            ("1 GB", 1_000_000_000),
            ("100 MB", 100_000_000),
        ] {
            let c = load(&format!("[cache]\nmax_size = \"{text}\"\n"), music.path()).unwrap();
            assert_eq!(c.cache.max_size_bytes, bytes, "{text}");
        }
    }

    #[test]
    fn port_out_of_range_is_rejected() {
        let msg = error("[server]\nlisten = \"0.0.0.0:70000\"\n");
        assert!(
            msg.starts_with("tapedeck.toml:2:10: server.listen: port 70000 is out of range"),
            "{msg}"
        );
        assert!(error("[server]\nlisten = \"pi.local:80\"\n").contains("not an IP address"));
        assert!(error("[server]\nlisten = \"8340\"\n").contains("IP:PORT"));
    }

    #[test]
    fn missing_music_root_is_rejected_with_line() {
        let text = "[library]\nroot = \"/definitely/not/here\"\n";
        let err = Config::from_toml(text, Path::new("t.toml"), &Overrides::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.toml:2:8: library.root: music directory /definitely/not/here does not exist"
        );
    }

    #[test]
    fn missing_music_root_from_flag_names_the_flag() {
        let overrides = Overrides {
            music: Some(PathBuf::from("/definitely/not/here")),
            ..Overrides::default()
        };
        let err = Config::from_toml("", Path::new("t.toml"), &overrides).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--music: music directory /definitely/not/here does not exist"
        );
    }

    #[test]
    fn relative_root_is_taken_from_the_config_files_directory() {
        let dir = music_dir();
        std::fs::create_dir(dir.path().join("tunes")).unwrap();
        let cfg = dir.path().join("tapedeck.toml");
        let c = Config::from_toml("[library]\nroot = \"tunes\"\n", &cfg, &Overrides::default())
            .unwrap();
        assert_eq!(
            c.library.root,
            std::fs::canonicalize(dir.path().join("tunes")).unwrap()
        );
    }

    #[test]
    fn out_of_range_numbers_are_rejected() {
        assert!(
            error("[transcode]\nnice = 20\n")
                .starts_with("tapedeck.toml:2:8: transcode.nice: 20 is out of range; use 0 to 19")
        );
        assert!(error("[transcode]\nencoder_quality = -1\n").contains("use 0 to 9"));
        assert!(error("[server]\nmax_connections = 0\n").contains("use 1 to 4096"));
        assert!(error("[server]\nread_timeout_secs = 0\n").contains("server.read_timeout_secs"));
        assert!(error("[transcode]\nworkers = 1000\n").contains("transcode.workers"));
    }

    #[test]
    fn bitrates_must_be_mp3_bitrates_in_order() {
        assert!(
            error("[transcode.bitrate_kbps]\nhigh = 250\n")
                .contains("250 kbit/s is not an MP3 bitrate")
        );
        let msg = error("[transcode.bitrate_kbps]\nlow = 224\n");
        assert!(
            msg.contains("low (224 kbit/s) must not exceed medium (192 kbit/s)"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_default_quality_lists_valid_values() {
        let msg = error("[transcode]\ndefault_quality = \"ultra\"\n");
        assert!(
            msg.contains("valid values: original, high, medium, low"),
            "{msg}"
        );
    }

    #[test]
    fn short_admin_token_is_rejected() {
        assert!(error("[admin]\ntoken = \"hunter2\"\n").contains("at least 16"));
        let music = music_dir();
        let c = load("[admin]\ntoken = \"0123456789abcdef0123\"\n", music.path()).unwrap();
        assert_eq!(c.admin.token.as_deref(), Some("0123456789abcdef0123"));
    }

    #[test]
    fn listen_flag_overrides_file() {
        let music = music_dir();
        let overrides = Overrides {
            music: Some(music.path().to_owned()),
            listen: Some("127.0.0.1:9999".into()),
            ..Overrides::default()
        };
        let c = Config::from_toml(
            "[server]\nlisten = \"0.0.0.0:1\"\n",
            Path::new("t"),
            &overrides,
        )
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:9999".parse().unwrap());
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_column("x", 0), (1, 1));
    }
}
