//! Decode (symphonia) -> PCM -> encode (LAME) -> MP3, in segments that fit
//! together.
//!
//! This is the heart of tapedeck: a lossless or oversized file becomes a
//! constant-bitrate MP3, in-process, in a few MB of memory. It knows nothing
//! of HTTP or the cache. [`plan`] opens a source and fixes the output's
//! [`Layout`] before any audio is encoded: where every frame goes, and the
//! head of the file (an ID3v2.4 tag from [`tags`], then the LAME Info frame
//! with the encoder delay and padding, so gapless-aware decoders recover the
//! source length to the sample). [`Plan::encode_segment`] then encodes any
//! segment, in any order, on any thread ([`segment`]); [`transcode`] does
//! them all in order into one writer. Rates an MPEG-1 MP3 cannot carry go
//! through [`resample`] first; PCM reaches LAME as `f32`, so 24- and 32-bit
//! sources are never truncated to 16 bits on the way.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub mod encoder;
pub mod layout;
pub use tapedeck_dsp::resample;
mod riff;
pub mod segment;
mod source;
pub mod tags;

pub use layout::Layout;
pub use segment::PcmSource;
pub use source::{Decoding, Probed, open, probe};
use source::{open_uncontained, symphonia_error};

/// How to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// CBR bitrate in kbit/s (an MP3 bitrate LAME supports).
    pub bitrate_kbps: u32,
    /// LAME's algorithm selection (`lame_set_quality`), 0 (best, slowest)
    /// to 9 (fastest). Not the bitrate, which sets the sound quality.
    pub lame_algorithm: u8,
    /// Cover art larger than this many bytes is left out of the tag.
    pub max_art_bytes: u64,
}

impl Options {
    /// Default cover-art limit: 1 MiB.
    pub const DEFAULT_MAX_ART_BYTES: u64 = 1 << 20;
}

/// What a finished transcode did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// PCM frames (samples per channel) decoded from the source (from the
    /// start offset on, see [`Prepared::start_at`]).
    pub frames: u64,
    /// Sample rate of the source, in Hz.
    pub sample_rate_hz: u32,
    /// Channels of the source (the MP3 has 1 or 2).
    pub source_channels: usize,
    /// Sample rate of the MP3, in Hz (differs when the source was resampled).
    pub output_sample_rate_hz: u32,
    /// PCM frames handed to LAME: what a gapless decoder gets back.
    pub output_frames: u64,
    /// Bytes written to the sink: ID3v2 tag, Info tag and audio.
    pub bytes: u64,
    /// Bytes of the ID3v2 tag at the start (0 when there was nothing to tag).
    pub tag_bytes: u64,
    /// Where the cover picture came from, if one was written.
    pub cover: Option<tags::CoverSource>,
    /// Corrupt packets skipped.
    pub skipped_packets: u64,
    /// The file ended before its header said it would; what was there was
    /// encoded.
    pub truncated: bool,
}

impl Report {
    /// Duration of the decoded audio, in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / f64::from(self.sample_rate_hz.max(1))
    }
}

/// A transcode that could not be done. Every variant names the file by its
/// path relative to the library root.
#[derive(Debug)]
pub enum TranscodeError {
    /// The file could not be opened or read.
    Io { path: String, err: io::Error },
    /// A container or codec symphonia cannot decode (Opus, WMA, ...): serve
    /// the original instead.
    Unsupported { path: String, what: String },
    /// The file is not audio, is empty or is too damaged to decode.
    Corrupt { path: String, what: String },
    /// LAME refused the stream's parameters or failed to encode.
    Encode { path: String, what: String },
}

impl fmt::Display for TranscodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TranscodeError::Io { path, err } => write!(f, "transcoding {path:?}: {err}"),
            TranscodeError::Unsupported { path, what } => {
                write!(f, "transcoding {path:?}: unsupported: {what}")
            }
            TranscodeError::Corrupt { path, what } => write!(f, "transcoding {path:?}: {what}"),
            TranscodeError::Encode { path, what } => {
                write!(f, "transcoding {path:?}: encoder: {what}")
            }
        }
    }
}

impl std::error::Error for TranscodeError {}

/// Transcodes the audio file at `input` to a CBR MP3 written to `out`:
/// the ID3v2.4 tag (when the source has tags or art), the Info frame, then
/// every segment of the [`layout`] in order, so the output is byte for
/// byte what workers encoding the segments in any order produce.
/// `relative` is the path shown in errors and logs (relative to the
/// library root). `progress(segments_done, segments_total)` is called
/// after every segment.
///
/// Errors: [`TranscodeError::Unsupported`] for formats symphonia cannot
/// decode, [`TranscodeError::Corrupt`] for non-audio or badly damaged
/// input (more than 64 corrupt packets, or a decoder panic, which is
/// contained here), [`TranscodeError::Io`] for read or write failures,
/// [`TranscodeError::Encode`] if LAME rejects the stream. A source that
/// ends before its header said is encoded up to the damage, the rest of
/// the announced length silent, and reported with `truncated` set.
pub fn transcode<W: Write>(
    input: &Path,
    relative: &str,
    out: &mut W,
    opts: &Options,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, TranscodeError> {
    let (plan, mut src) = plan(input, relative, opts)?;
    let io_err = |err: io::Error| TranscodeError::Io {
        path: relative.to_owned(),
        err,
    };
    out.write_all(&plan.head).map_err(io_err)?;
    let segments = plan.layout.segments();
    for k in 0..segments {
        let bytes = plan.encode_segment(&mut src, k)?;
        out.write_all(&bytes).map_err(io_err)?;
        progress(k + 1, segments);
    }
    out.flush().map_err(io_err)?;
    Ok(plan.report(&src))
}

/// Runs `f`, turning a panic into [`TranscodeError::Corrupt`]: symphonia's
/// decoders index by values read from the file, and a hostile file can make
/// one panic. Containing it keeps the worker thread alive.
pub(crate) fn contain<T>(
    relative: &str,
    f: impl FnOnce() -> Result<T, TranscodeError>,
) -> Result<T, TranscodeError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(TranscodeError::Corrupt {
                path: relative.to_owned(),
                what: format!("the decoder crashed on this file ({what})"),
            })
        }
    }
}

/// A transcode planned before any audio is encoded: the [`Layout`] (where
/// every frame of the output goes) and the head of the file (ID3 tag and
/// Info frame), complete from the first byte.
#[derive(Debug)]
pub struct Plan {
    pub layout: Layout,
    /// The file's first `layout.head_bytes()` bytes: the ID3v2 tag and
    /// the Info frame.
    pub head: Vec<u8>,
    input: PathBuf,
    relative: String,
    lame_algorithm: u8,
    /// Where the cover picture came from, if one was written.
    pub cover: Option<tags::CoverSource>,
    /// Sample rate of the source, in Hz.
    pub source_rate_hz: u32,
    /// Channels of the source.
    pub source_channels: usize,
    /// PCM frames the source's header announces (counted by decoding when
    /// the container does not say).
    pub source_frames: u64,
}

/// Opens `input`, builds its ID3 tag and its [`Layout`]: the fast first
/// step of a transcode (milliseconds; a source whose container does not
/// give its length is decoded once to count it). Returns the plan and the
/// opened source, ready for [`Plan::encode_segment`]. Errors as for
/// [`transcode`], and [`TranscodeError::Corrupt`] when the sample rate is
/// unknown.
pub fn plan(
    input: &Path,
    relative: &str,
    opts: &Options,
) -> Result<(Plan, PcmSource), TranscodeError> {
    contain(relative, || {
        let corrupt = |what: &str| TranscodeError::Corrupt {
            path: relative.to_owned(),
            what: what.to_owned(),
        };
        let mut decoding = open_uncontained(input, relative)?;
        let (id3, cover) = id3_tag(
            &mut *decoding.format,
            decoding.track_id,
            input,
            relative,
            opts.max_art_bytes,
        );
        let rate = decoding
            .params
            .sample_rate
            .filter(|r| *r > 0)
            .ok_or_else(|| corrupt("unknown sample rate"))?;
        let source_channels = decoding.params.channels.as_ref().map_or(2, |c| c.count());
        let channels = if source_channels == 1 { 1 } else { 2 };
        // A length the file cannot hold (a damaged or hostile header: 24 h
        // at most, and no more than 4096 frames per byte of file, beyond
        // any real compression) is counted by decoding instead.
        let file_len = std::fs::metadata(input).map_or(0, |m| m.len());
        let plausible = |n: &u64| {
            *n > 0
                && *n <= 24 * 3600 * u64::from(rate)
                && u128::from(*n) <= u128::from(file_len) * 4096
        };
        let source_frames = match decoding.total_frames.filter(plausible) {
            Some(n) => n,
            None => {
                let n = count_frames(input, relative)?;
                decoding = open_uncontained(input, relative)?;
                n
            }
        };
        let (out_rate, samples) = match resample::target_rate(rate) {
            Some(to) => (
                to,
                (u128::from(source_frames) * u128::from(to)).div_ceil(u128::from(rate)) as u64,
            ),
            None => (rate, source_frames),
        };
        let layout = Layout::new(
            samples,
            out_rate,
            channels,
            opts.bitrate_kbps,
            id3.len() as u64,
        )
        .ok_or_else(|| TranscodeError::Encode {
            path: relative.to_owned(),
            what: format!(
                "cannot lay out {samples} samples at {out_rate} Hz and {} kbit/s (at least {} kbit/s, at most 24 hours)",
                opts.bitrate_kbps,
                layout::MIN_BITRATE_KBPS
            ),
        })?;
        let lame = encoder::Lame::new(out_rate, channels, opts.bitrate_kbps, opts.lame_algorithm)
            .map_err(|what| TranscodeError::Encode {
            path: relative.to_owned(),
            what,
        })?;
        let mut head = id3;
        head.extend_from_slice(&layout.info_frame(lame.lowpass_hz(), opts.lame_algorithm));
        let mut src = PcmSource::new(input, relative, decoding, samples, channels)?;
        src.prime()?;
        Ok((
            Plan {
                layout,
                head,
                input: input.to_owned(),
                relative: relative.to_owned(),
                lame_algorithm: opts.lame_algorithm,
                cover,
                source_rate_hz: rate,
                source_channels,
                source_frames,
            },
            src,
        ))
    })
}

/// Frames in a source whose container does not say: decodes it all.
fn count_frames(input: &Path, relative: &str) -> Result<u64, TranscodeError> {
    let mut d = open_uncontained(input, relative)?;
    let mut frames = 0u64;
    loop {
        let packet = match d.format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(_) if frames > 0 => break,
            Err(e) => return Err(symphonia_error(relative, e)),
        };
        if packet.track_id != d.track_id {
            continue;
        }
        if let Ok(decoded) = d.decoder.decode(&packet) {
            frames += decoded.frames() as u64;
        }
    }
    if frames == 0 {
        return Err(TranscodeError::Corrupt {
            path: relative.to_owned(),
            what: "no audio could be decoded".into(),
        });
    }
    Ok(frames)
}

impl Plan {
    /// Exact byte length of the output.
    pub fn total_bytes(&self) -> u64 {
        self.layout.total_bytes()
    }

    /// Opens the source again, for another worker encoding segments of
    /// the same transcode. Errors as for [`open`].
    pub fn open_source(&self) -> Result<PcmSource, TranscodeError> {
        contain(&self.relative, || {
            let mut src = PcmSource::open(
                &self.input,
                &self.relative,
                self.layout.samples,
                self.layout.channels,
            )?;
            // The plan decoded audio from this file: a source that finds
            // no data past a seek is short, not undecodable.
            src.proven = true;
            Ok(src)
        })
    }

    /// Encodes segment `k` from `src`: exactly the bytes
    /// `self.layout.segment_bytes(k)` of the file. Errors as for
    /// [`transcode`]; a decoder panic is contained here.
    pub fn encode_segment(&self, src: &mut PcmSource, k: u64) -> Result<Vec<u8>, TranscodeError> {
        contain(&self.relative, || {
            segment::encode_segment(src, &self.layout, k, self.lame_algorithm, &self.relative)
        })
    }

    /// What a transcode by this plan did, with what `src` saw.
    pub fn report(&self, src: &PcmSource) -> Report {
        Report {
            frames: self.source_frames,
            sample_rate_hz: self.source_rate_hz,
            source_channels: self.source_channels,
            output_sample_rate_hz: self.layout.rate_hz,
            output_frames: self.layout.samples,
            bytes: self.layout.total_bytes(),
            tag_bytes: self.layout.id3_bytes,
            cover: self.cover,
            skipped_packets: src.skipped_packets,
            truncated: src.short,
        }
    }
}

/// Builds the ID3v2.4 tag from the source's metadata and its cover art
/// (embedded, else folder art), skipping art over `max_art_bytes`.
/// Problems with tags never fail a transcode: they are logged and the MP3
/// goes out with what could be written.
fn id3_tag(
    format: &mut dyn symphonia::core::formats::FormatReader,
    track_id: u32,
    input: &Path,
    relative: &str,
    max_art_bytes: u64,
) -> (Vec<u8>, Option<tags::CoverSource>) {
    let mut t = tags::Tags::default();
    let mut log = format.metadata();
    loop {
        if let Some(rev) = log.current() {
            t.add_revision(rev, track_id);
        }
        if log.pop().is_none() {
            break;
        }
    }
    let too_big = |len: u64, what: &str| {
        log::info!(
            "transcoding {relative:?}: leaving out {what} cover art of {len} bytes (over the {max_art_bytes}-byte limit)"
        );
    };
    let mut cover = None;
    if let Some(c) = t.embedded_cover() {
        if c.data.len() as u64 <= max_art_bytes {
            cover = Some((c.clone(), tags::CoverSource::Embedded));
        } else {
            too_big(c.data.len() as u64, "embedded");
        }
    } else if let Some((art, len)) = tags::find_folder_art(input) {
        if len > max_art_bytes {
            too_big(len, "folder");
        } else {
            match std::fs::read(&art) {
                Ok(data) => {
                    let mime_type = tags::sniff_image(&data).to_owned();
                    cover = Some((tags::Cover { mime_type, data }, tags::CoverSource::Folder));
                }
                Err(e) => log::info!("transcoding {relative:?}: cannot read folder art: {e}"),
            }
        }
    }
    let source = cover.as_ref().map(|(_, s)| *s);
    match t.to_id3v24(cover.map(|(c, _)| c)) {
        Ok(bytes) => (bytes, source),
        Err(e) => {
            log::warn!("transcoding {relative:?}: tags left out: {e}");
            (Vec::new(), None)
        }
    }
}
