//! What the file says (serde structs mirroring the TOML, every value
//! [`Spanned`] so an error can name its line), and the checks that turn
//! one raw value into a validated one with its origin in every error.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, MP3_BITRATES_KBPS, Origin};

// ---- what the file says -------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) server: RawServer,
    pub(super) library: RawLibrary,
    pub(super) cache: RawCache,
    pub(super) transcode: RawTranscode,
    pub(super) warm: RawWarm,
    pub(super) admin: RawAdmin,
    pub(super) state: RawState,
    pub(super) users: Vec<RawUser>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWarm {
    pub(super) prefetch_next: Option<bool>,
    pub(super) on_start: Option<Vec<String>>,
    pub(super) qualities: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    pub(super) listen: Option<Spanned<String>>,
    pub(super) max_connections: Option<Spanned<i64>>,
    pub(super) max_sockets: Option<Spanned<i64>>,
    pub(super) read_timeout_secs: Option<Spanned<i64>>,
    pub(super) write_timeout_secs: Option<Spanned<i64>>,
    pub(super) web_user: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLibrary {
    pub(super) root: Option<Spanned<String>>,
    pub(super) follow_symlinks: Option<bool>,
    pub(super) metadata_cache_entries: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCache {
    pub(super) dir: Option<Spanned<String>>,
    pub(super) max_size: Option<Spanned<String>>,
    pub(super) enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTranscode {
    pub(super) workers: Option<Spanned<i64>>,
    pub(super) nice: Option<Spanned<i64>>,
    pub(super) default_quality: Option<Spanned<String>>,
    pub(super) encoder_quality: Option<Spanned<i64>>,
    pub(super) max_art_size: Option<Spanned<String>>,
    pub(super) max_queue: Option<Spanned<i64>>,
    pub(super) on_busy: Option<Spanned<String>>,
    pub(super) retry_failed_after_secs: Option<Spanned<i64>>,
    pub(super) finish_abandoned: Option<bool>,
    pub(super) bitrate_kbps: RawBitrates,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBitrates {
    pub(super) high: Option<Spanned<i64>>,
    pub(super) medium: Option<Spanned<i64>>,
    pub(super) low: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawState {
    pub(super) dir: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAdmin {
    pub(super) token: Option<Spanned<String>>,
}

/// One `[[users]]` table as written (validated in `users.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    pub(super) name: Option<Spanned<String>>,
    pub(super) password: Option<Spanned<String>>,
    pub(super) api_key: Option<Spanned<String>>,
    pub(super) admin: Option<bool>,
    pub(super) quality: Option<Spanned<String>>,
}

// ---- validation ---------------------------------------------------------

/// The text being validated and where it came from, to turn byte spans
/// into line/column origins.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(super) fn origin(&self, span: Range<usize>) -> Origin {
        let (line, column) = line_column(self.text, span.start);
        Origin::File {
            path: self.path.to_owned(),
            line,
            column,
        }
    }

    /// A value with its origin, or the default with [`Origin::Default`].
    pub(super) fn take<T>(&self, value: Option<Spanned<T>>, default: T) -> (T, Origin) {
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
    pub(super) fn path(&self, written: &str) -> PathBuf {
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
pub(super) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

pub(super) fn invalid(
    origin: Origin,
    key: &'static str,
    message: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        origin,
        key,
        message: message.into(),
    }
}

/// Checks that an integer lies in `range` and converts it.
pub(super) fn in_range<T: TryFrom<i64>>(
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
pub(super) fn display_with_tilde(path: &Path) -> String {
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

pub(super) fn parse_listen((text, origin): (String, Origin)) -> Result<SocketAddr, ConfigError> {
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

pub(super) fn parse_size(
    (text, origin): (String, Origin),
    key: &'static str,
) -> Result<u64, ConfigError> {
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

/// The music root to serve, and whether it is the demo library. On a fresh
/// machine the built-in default (`~/Music`) may be missing: then the demo
/// library in `cache_dir` stands in for it ([`crate::demo`]; `App::new`
/// writes it). A root that was given, on the command line or in a file,
/// must exist.
pub(super) fn music_root_or_demo(
    path: PathBuf,
    origin: Origin,
    cache_dir: &Path,
) -> Result<(PathBuf, bool), ConfigError> {
    let missing = matches!(std::fs::metadata(&path), Err(e) if e.kind() == io::ErrorKind::NotFound);
    if origin == Origin::Default && missing {
        return Ok((crate::demo::location(cache_dir), true));
    }
    check_music_root(path, origin).map(|root| (root, false))
}

pub(super) fn check_music_root(path: PathBuf, origin: Origin) -> Result<PathBuf, ConfigError> {
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

pub(super) fn check_bitrate(
    value: (i64, Origin),
    key: &'static str,
) -> Result<(u32, Origin), ConfigError> {
    let (kbps, origin) = value;
    match MP3_BITRATES_KBPS.iter().find(|&&b| i64::from(b) == kbps) {
        Some(&b) => Ok((b, origin)),
        None => Err(invalid(
            origin,
            key,
            format!(
                "{kbps} kbit/s is not an MP3 bitrate tapedeck encodes at (below 64 the frames cannot hold the Info tag); use one of {}",
                MP3_BITRATES_KBPS.map(|b| b.to_string()).join(", ")
            ),
        )),
    }
}
