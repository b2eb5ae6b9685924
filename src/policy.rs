//! The transcode policy: whether a library file is transcoded at a quality
//! level at all (some files are better sent as they are), and if so the
//! cache [`Key`] and encoder [`Options`] of its entry. Shared by `/play`,
//! listings, prefetch and warming, so all of them agree on what "cached"
//! means.

use std::fs::Metadata;

use crate::cache::{Cache, Key, KeyParts};
use crate::config::Config;
use crate::library::{LibraryFile, mtime_ns};
use crate::quality::Quality;
use crate::transcode::Options;

/// Extensions the transcoder is tried on; anything else plays as it is.
const TRANSCODABLE: [&str; 12] = [
    "flac", "wav", "wave", "aif", "aiff", "aifc", "m4a", "mp4", "ogg", "oga", "mp3", "aac",
];

/// An MP3 source is re-encoded only when it is at least this much larger
/// than the requested level.
const MP3_REENCODE_RATIO: f64 = 1.3;

/// The cache key of `relative` (whose metadata is `meta`) at `quality`
/// (`bitrate_kbps`), and the transcode options it stands for.
pub fn cache_key(
    config: &Config,
    relative: &str,
    meta: &Metadata,
    quality: Quality,
    bitrate_kbps: u32,
) -> (Key, Options) {
    let opts = Options {
        bitrate_kbps,
        lame_algorithm: config.transcode.lame_algorithm,
        max_art_bytes: config.transcode.max_art_bytes,
    };
    let key = Key::new(&KeyParts {
        relative,
        source_size: meta.len(),
        source_mtime_ns: mtime_ns(meta),
        quality,
        bitrate_kbps,
        lame_algorithm: opts.lame_algorithm,
        max_art_bytes: opts.max_art_bytes,
    });
    (key, opts)
}

/// The cache key and options for transcoding `file` to `quality`, or
/// `None` when it would be served as it is (the original level, a file the
/// transcoder is not tried on, an MP3 not well above the level).
///
/// Errors: an `.mp3` whose bitrate cannot be read (see
/// [`mp3_worth_reencoding`]).
pub fn job_key(
    config: &Config,
    file: &LibraryFile,
    quality: Quality,
) -> Result<Option<(Key, Options)>, crate::transcode::TranscodeError> {
    let Some(kbps) = config.transcode.bitrate_kbps.for_quality(quality) else {
        return Ok(None);
    };
    if !transcodable(&file.relative) || !mp3_worth_reencoding(file, kbps)? {
        return Ok(None);
    }
    Ok(Some(cache_key(
        config,
        &file.relative,
        &file.metadata,
        quality,
        kbps,
    )))
}

/// Whether `relative` (whose metadata is `meta`) has an entry in `cache`
/// at `quality`; always false for the original level.
pub fn is_cached(
    config: &Config,
    cache: &Cache,
    relative: &str,
    meta: &Metadata,
    quality: Quality,
) -> bool {
    let Some(kbps) = config.transcode.bitrate_kbps.for_quality(quality) else {
        return false;
    };
    config.cache.enabled
        && transcodable(relative)
        && cache.contains(&cache_key(config, relative, meta, quality, kbps).0)
}

/// The extension of `relative`, lower-cased ("" without one).
pub(crate) fn extension(relative: &str) -> String {
    relative
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether `relative` has an extension the transcoder is tried on.
pub fn transcodable(relative: &str) -> bool {
    TRANSCODABLE.contains(&extension(relative).as_str())
}

/// False for an MP3 whose average bitrate is not well above
/// `bitrate_kbps` (re-encoding it gains nothing) or whose length is not
/// known; true for anything else.
///
/// Errors: an `.mp3` the prober cannot read (a panic in it included), as
/// [`crate::transcode::probe`] reports it.
pub fn mp3_worth_reencoding(
    file: &LibraryFile,
    bitrate_kbps: u32,
) -> Result<bool, crate::transcode::TranscodeError> {
    if extension(&file.relative) != "mp3" {
        return Ok(true);
    }
    let probed = crate::transcode::probe(&file.path, &file.relative)?;
    let (Some(frames), Some(rate)) = (probed.total_frames, probed.params.sample_rate) else {
        return Ok(false);
    };
    if frames == 0 || rate == 0 {
        return Ok(false);
    }
    let seconds = frames as f64 / f64::from(rate);
    let kbps = file.metadata.len() as f64 * 8.0 / seconds / 1000.0;
    Ok(kbps >= f64::from(bitrate_kbps) * MP3_REENCODE_RATIO)
}
