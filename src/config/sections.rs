//! One function per TOML section: each turns its raw table (what the file
//! says, [`super::raw`]) into its part of [`Config`](super::Config), with
//! the value's origin in every error. [`Config::from_toml`](super::Config::from_toml)
//! calls them in a fixed order, and the first error wins, so the order
//! is part of what a user sees.

use std::time::Duration;

use toml::Spanned;

use super::raw::{
    RawAdmin, RawCache, RawLibrary, RawServer, RawState, RawTranscode, RawWarm, Source,
    check_bitrate, display_with_tilde, in_range, invalid, music_root_or_demo, parse_listen,
    parse_size,
};
use super::{
    AdminConfig, Bitrates, CacheConfig, ConfigError, DEFAULT_BITRATE_HIGH_KBPS,
    DEFAULT_BITRATE_LOW_KBPS, DEFAULT_BITRATE_MEDIUM_KBPS, DEFAULT_ENCODER_QUALITY, DEFAULT_LISTEN,
    DEFAULT_MAX_ART_SIZE, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_QUEUE, DEFAULT_MAX_SIZE,
    DEFAULT_MAX_SOCKETS, DEFAULT_METADATA_CACHE_ENTRIES, DEFAULT_NICE, DEFAULT_READ_TIMEOUT_SECS,
    DEFAULT_RETRY_FAILED_AFTER_SECS, DEFAULT_WRITE_TIMEOUT_SECS, LibraryConfig, MIN_TOKEN_LEN,
    OnBusy, Origin, Overrides, ServerConfig, StateConfig, TranscodeConfig, User, WarmConfig,
    auto_workers, default_cache_dir, default_music_dir, default_state_dir, parse_warm_qualities,
};
use crate::quality::Quality;

/// `[server]`, all but `web_user`, which names a user and so is checked
/// once the users are ([`web_user`]): returned as written, with
/// `web_user` left `None` in the [`ServerConfig`].
pub(super) fn server(
    raw: RawServer,
    src: &Source<'_>,
    overrides: &Overrides,
) -> Result<(ServerConfig, Option<Spanned<String>>), ConfigError> {
    let listen = match &overrides.listen {
        Some(l) => (l.clone(), Origin::Flag("--listen")),
        None => src.take(raw.listen, DEFAULT_LISTEN.to_owned()),
    };
    let server = ServerConfig {
        listen: parse_listen(listen)?,
        max_connections: in_range(
            src.take(raw.max_connections, DEFAULT_MAX_CONNECTIONS),
            "server.max_connections",
            1..=4096,
            "requests served at once",
        )?,
        max_sockets: in_range(
            src.take(raw.max_sockets, DEFAULT_MAX_SOCKETS),
            "server.max_sockets",
            8..=65_536,
            "open connections",
        )?,
        read_timeout: Duration::from_secs(in_range(
            src.take(raw.read_timeout_secs, DEFAULT_READ_TIMEOUT_SECS),
            "server.read_timeout_secs",
            1..=3600,
            "seconds",
        )?),
        write_timeout: Duration::from_secs(in_range(
            src.take(raw.write_timeout_secs, DEFAULT_WRITE_TIMEOUT_SECS),
            "server.write_timeout_secs",
            1..=3600,
            "seconds",
        )?),
        web_user: None,
    };
    Ok((server, raw.web_user))
}

/// `server.web_user`: a configured user, `""` for nobody, or (not
/// written) the first user.
pub(super) fn web_user(
    raw: Option<Spanned<String>>,
    users: &[User],
    src: &Source<'_>,
) -> Result<Option<String>, ConfigError> {
    let Some(name) = raw else {
        return Ok(users.first().map(|u| u.name.clone()));
    };
    let (name, origin) = (name.get_ref().clone(), src.origin(name.span()));
    if name.is_empty() {
        Ok(None)
    } else if users.iter().any(|u| u.name == name) {
        Ok(Some(name))
    } else {
        Err(invalid(
            origin,
            "server.web_user",
            format!(
                "{name:?} is not a configured user (add a [[users]] table, or \"\" to record nothing)"
            ),
        ))
    }
}

/// `[cache]`; `--cache` wins over `cache.dir`.
pub(super) fn cache(
    raw: RawCache,
    src: &Source<'_>,
    overrides: &Overrides,
) -> Result<CacheConfig, ConfigError> {
    let (dir, origin) = match &overrides.cache {
        // The shell has already expanded `~`; keep the path's bytes as given.
        Some(dir) => (dir.clone(), Origin::Flag("--cache")),
        None => match raw.dir {
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
    Ok(CacheConfig {
        dir,
        max_size_bytes: parse_size(
            src.take(raw.max_size, DEFAULT_MAX_SIZE.to_owned()),
            "cache.max_size",
        )?,
        enabled: raw.enabled.unwrap_or(true),
    })
}

/// `[transcode]` and `[transcode.bitrate_kbps]`.
pub(super) fn transcode(
    raw: RawTranscode,
    src: &Source<'_>,
) -> Result<TranscodeConfig, ConfigError> {
    let workers: usize = in_range(
        src.take(raw.workers, 0),
        "transcode.workers",
        0..=64,
        "0 = number of CPUs minus one",
    )?;
    let (quality, q_origin) = src.take(raw.default_quality, "original".to_owned());
    let default_quality = quality
        .parse::<Quality>()
        .map_err(|e| invalid(q_origin, "transcode.default_quality", e.to_string()))?;
    let bitrate_kbps = bitrates(raw.bitrate_kbps, src)?;
    Ok(TranscodeConfig {
        workers: if workers == 0 {
            auto_workers()
        } else {
            workers
        },
        nice: in_range(
            src.take(raw.nice, DEFAULT_NICE),
            "transcode.nice",
            0..=19,
            "0 = normal priority, 19 = lowest",
        )?,
        default_quality,
        lame_algorithm: in_range(
            src.take(raw.encoder_quality, DEFAULT_ENCODER_QUALITY),
            "transcode.encoder_quality",
            0..=9,
            "LAME quality: 0 = best and slowest, 9 = fastest",
        )?,
        max_art_bytes: parse_size(
            src.take(raw.max_art_size, DEFAULT_MAX_ART_SIZE.to_owned()),
            "transcode.max_art_size",
        )?,
        max_queue: in_range(
            src.take(raw.max_queue, DEFAULT_MAX_QUEUE),
            "transcode.max_queue",
            1..=1000,
            "transcodes allowed to wait for a worker",
        )?,
        on_busy: {
            let (v, origin) = src.take(raw.on_busy, "original".to_owned());
            match v.as_str() {
                "original" => OnBusy::ServeOriginal,
                "503" => OnBusy::Unavailable,
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
            src.take(raw.retry_failed_after_secs, DEFAULT_RETRY_FAILED_AFTER_SECS),
            "transcode.retry_failed_after_secs",
            0..=86_400 * 30,
            "seconds",
        )?),
        finish_abandoned: raw.finish_abandoned.unwrap_or(true),
        bitrate_kbps,
    })
}

/// `[transcode.bitrate_kbps]`: MP3 bitrates, high ≥ medium ≥ low.
fn bitrates(raw: super::raw::RawBitrates, src: &Source<'_>) -> Result<Bitrates, ConfigError> {
    let (high, _) = check_bitrate(
        src.take(raw.high, DEFAULT_BITRATE_HIGH_KBPS),
        "transcode.bitrate_kbps.high",
    )?;
    let (medium, medium_origin) = check_bitrate(
        src.take(raw.medium, DEFAULT_BITRATE_MEDIUM_KBPS),
        "transcode.bitrate_kbps.medium",
    )?;
    let (low, low_origin) = check_bitrate(
        src.take(raw.low, DEFAULT_BITRATE_LOW_KBPS),
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
    Ok(Bitrates { high, medium, low })
}

/// `[admin]`: a token long enough to guess at, or none (loopback only).
pub(super) fn admin(raw: RawAdmin, src: &Source<'_>) -> Result<AdminConfig, ConfigError> {
    let (token, origin) = src.take(raw.token, String::new());
    if token.is_empty() {
        Ok(AdminConfig { token: None })
    } else if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        Err(invalid(
            origin,
            "admin.token",
            format!(
                "a token must be at least {MIN_TOKEN_LEN} visible ASCII characters without spaces (e.g. the output of `openssl rand -hex 16`), or \"\" for loopback-only admin"
            ),
        ))
    } else {
        Ok(AdminConfig { token: Some(token) })
    }
}

/// `[library]`; `--music` wins over `library.root`, which must be a
/// readable directory unless the music root is not used. With neither and
/// no `~/Music`, the demo library in `cache_dir` is served.
pub(super) fn library(
    raw: RawLibrary,
    src: &Source<'_>,
    overrides: &Overrides,
    cache_dir: &std::path::Path,
) -> Result<LibraryConfig, ConfigError> {
    let metadata_cache_entries = in_range(
        src.take(raw.metadata_cache_entries, DEFAULT_METADATA_CACHE_ENTRIES),
        "library.metadata_cache_entries",
        0..=10_000_000,
        "tracks",
    )?;
    let (root, origin) = match &overrides.music {
        Some(dir) => (dir.clone(), Origin::Flag("--music")),
        None => match raw.root {
            Some(r) => (src.path(r.get_ref()), src.origin(r.span())),
            None => (default_music_dir(), Origin::Default),
        },
    };
    let (root, demo) = if overrides.music_unused {
        (root, false)
    } else {
        music_root_or_demo(root, origin, cache_dir)?
    };
    Ok(LibraryConfig {
        root,
        demo,
        follow_symlinks: raw.follow_symlinks.unwrap_or(true),
        metadata_cache_entries,
    })
}

/// `[state]`; `--state` wins over `state.dir`. Nothing to check here:
/// the directory is created when the state is opened.
pub(super) fn state(raw: RawState, src: &Source<'_>, overrides: &Overrides) -> StateConfig {
    StateConfig {
        dir: match &overrides.state {
            Some(dir) => dir.clone(),
            None => match raw.dir {
                Some(d) => src.path(d.get_ref()),
                None => default_state_dir(),
            },
        },
    }
}

/// `[warm]`.
pub(super) fn warm(raw: RawWarm, src: &Source<'_>) -> Result<WarmConfig, ConfigError> {
    let (names, origin) = src.take(raw.qualities, vec!["medium".to_owned()]);
    let qualities = parse_warm_qualities(&names)
        .map_err(|message| invalid(origin, "warm.qualities", message))?;
    Ok(WarmConfig {
        prefetch_next: raw.prefetch_next.unwrap_or(true),
        on_start: raw.on_start.unwrap_or_default(),
        qualities,
    })
}
