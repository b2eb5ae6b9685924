//! Decode (symphonia) -> PCM -> encode (LAME) -> any seekable sink.
//!
//! This is the heart of tapedeck: a lossless or oversized file becomes a
//! constant-bitrate MP3, in-process, in a few MB of memory. It knows nothing
//! of HTTP or the cache; callers give it a path and a `Write + Seek` sink
//! (a cache `.part` file, or a growing file a client reads while it is
//! written) and get a [`Report`] or a [`TranscodeError`] naming the file.
//!
//! The output is an ID3v2.4 tag ([`tags`]), then LAME's frames. The LAME
//! Info tag (encoder delay and padding, LAME technical spec §"Info tag") is
//! written over the placeholder frame LAME emits first, so gapless-aware
//! decoders recover the source length to the sample. Rates an MP3 cannot
//! carry go through [`resample`] first; PCM reaches LAME as `f32`, so 24-
//! and 32-bit sources are never truncated to 16 bits on the way.

use std::fmt;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

mod encoder;
pub use tapedeck_dsp::resample;
mod riff;
mod source;
pub mod tags;

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{SeekMode, SeekTo};
use symphonia::core::units::{Time, TimeBase, Timestamp};

use encoder::Pipeline;
pub use source::{Decoding, Probed, open, probe};
use source::{open_uncontained, symphonia_error};
use tapedeck_dsp::channels::to_channels;

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

/// Corrupt packets tolerated before a transcode is abandoned.
const MAX_SKIPPED_PACKETS: u64 = 64;

/// Transcodes the audio file at `input` to a CBR MP3 written to `out`,
/// starting at `out`'s current position: an ID3v2.4 tag (when the source
/// has tags or art), then the MP3 frames, the first of which is the LAME
/// Info tag. `relative` is the path shown in errors and logs (relative to
/// the library root). `progress(frames_done, frames_total)` counts source
/// frames and is called after every packet; the total is `None` when the
/// container does not say.
///
/// Errors: [`TranscodeError::Unsupported`] for formats symphonia cannot
/// decode, [`TranscodeError::Corrupt`] for non-audio or badly damaged
/// input (more than 64 corrupt packets, or a decoder panic, which is
/// contained here), [`TranscodeError::Io`] for read or write failures,
/// [`TranscodeError::Encode`] if LAME rejects the stream. A truncated file
/// is encoded up to the damage and reported with `truncated` set.
pub fn transcode<W: Write + Seek>(
    input: &Path,
    relative: &str,
    out: &mut W,
    opts: &Options,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<Report, TranscodeError> {
    let prepared = prepare(input, relative, opts)?;
    prepared.run(out, progress)
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

/// A source opened for transcoding, its ID3 tag built, and the exact size
/// of the MP3 it will become when that can be known in advance.
pub struct Prepared {
    decoding: Decoding,
    relative: String,
    opts: Options,
    id3: Vec<u8>,
    cover: Option<tags::CoverSource>,
    /// Source frames before the first one encoded (see
    /// [`Prepared::start_at`]).
    start_frame: u64,
    /// Exact byte length of the MP3 (ID3 tag, Info frame and audio frames),
    /// or `None` when the source's length is unknown or LAME would pick the
    /// output rate itself.
    pub predicted_bytes: Option<u64>,
}

/// Opens `input` and builds its ID3 tag: the fast first step of a
/// transcode (milliseconds), after which the output's exact length is
/// known for most sources. Errors as for [`transcode`].
pub fn prepare(input: &Path, relative: &str, opts: &Options) -> Result<Prepared, TranscodeError> {
    contain(relative, || {
        let mut decoding = open_uncontained(input, relative)?;
        let (id3, cover) = id3_tag(
            &mut *decoding.format,
            decoding.track_id,
            input,
            relative,
            opts.max_art_bytes,
        );
        let predicted_bytes = match (decoding.total_frames, decoding.params.sample_rate) {
            (Some(frames), Some(rate)) if frames > 0 => {
                predict_mp3_bytes(frames, rate, opts.bitrate_kbps).map(|b| b + id3.len() as u64)
            }
            _ => None,
        };
        Ok(Prepared {
            decoding,
            relative: relative.to_owned(),
            opts: *opts,
            id3,
            cover,
            start_frame: 0,
            predicted_bytes,
        })
    })
}

/// Exact size in bytes of the MPEG stream (Info frame included, ID3 tag
/// not) a CBR transcode at `kbps` makes of `source_frames` at
/// `source_rate_hz`: the output rate is [`resample::target_rate`]'s, the
/// frame arithmetic [`crate::mp3::cbr_stream_bytes`]'s. `None` when the rate
/// ratio is left to LAME or the output is not MPEG-1.
pub fn predict_mp3_bytes(source_frames: u64, source_rate_hz: u32, kbps: u32) -> Option<u64> {
    let (out_rate, out_frames) = match resample::target_rate(source_rate_hz) {
        Some(to) => {
            resample::Resampler::new(source_rate_hz, to, 1)?;
            let n = (source_frames * u64::from(to)).div_ceil(u64::from(source_rate_hz));
            (to, n)
        }
        None => (source_rate_hz, source_frames),
    };
    crate::mp3::cbr_stream_bytes(out_frames, out_rate, kbps)
}

impl Prepared {
    /// Makes the MP3 start `offset` into the source rather than at its
    /// start (the Subsonic `timeOffset`): the container seeks to a packet
    /// at or before that position (symphonia's accurate seek), and the
    /// decoded frames before it are dropped, so the first sample encoded
    /// is the source's sample at `offset` (rounded down to a whole frame of
    /// the source's rate). [`Prepared::predicted_bytes`] becomes the exact
    /// length of that shorter MP3. The ID3 tag is the same.
    ///
    /// Errors: [`TranscodeError::Corrupt`] when the source's sample rate is
    /// unknown or `offset` is at or past its end, or when the container
    /// cannot seek (a panic there is contained).
    pub fn start_at(&mut self, offset: std::time::Duration) -> Result<(), TranscodeError> {
        let relative = self.relative.clone();
        let corrupt = |what: String| TranscodeError::Corrupt {
            path: relative.clone(),
            what,
        };
        let rate = self
            .decoding
            .params
            .sample_rate
            .filter(|r| *r > 0)
            .ok_or_else(|| corrupt("cannot start at an offset: unknown sample rate".into()))?;
        let start_frame =
            u64::try_from(offset.as_nanos() * u128::from(rate) / 1_000_000_000).unwrap_or(u64::MAX);
        if self.decoding.total_frames.is_some_and(|t| start_frame >= t) {
            return Err(corrupt(format!(
                "cannot start at {:.1} s: the track is shorter",
                offset.as_secs_f64()
            )));
        }
        let nanos = i64::try_from(offset.as_nanos()).unwrap_or(i64::MAX);
        let track_id = self.decoding.track_id;
        let format = &mut self.decoding.format;
        contain(&relative, || {
            format
                .seek(
                    SeekMode::Accurate,
                    SeekTo::Time {
                        time: Time::from_nanos(nanos),
                        track_id: Some(track_id),
                    },
                )
                .map(|_| ())
                .map_err(|e| corrupt(format!("cannot seek to {:.1} s: {e}", offset.as_secs_f64())))
        })?;
        self.decoding.decoder.reset();
        self.start_frame = start_frame;
        self.predicted_bytes = match self.decoding.total_frames {
            Some(total) => predict_mp3_bytes(total - start_frame, rate, self.opts.bitrate_kbps)
                .map(|b| b + self.id3.len() as u64),
            None => None,
        };
        Ok(())
    }

    /// Encodes to `out` from its current position. `progress(frames_done,
    /// frames_total)` counts source frames after every packet. Errors as
    /// for [`transcode`].
    pub fn run<W: Write + Seek>(
        self,
        out: &mut W,
        progress: impl FnMut(u64, Option<u64>),
    ) -> Result<Report, TranscodeError> {
        let relative = self.relative.clone();
        contain(&relative, || self.encode(out, progress))
    }

    fn encode<W: Write + Seek>(
        self,
        out: &mut W,
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<Report, TranscodeError> {
        let Prepared {
            decoding:
                Decoding {
                    mut format,
                    mut decoder,
                    track_id,
                    total_frames,
                    params,
                    time_base,
                },
            relative,
            opts,
            id3,
            cover,
            start_frame,
            predicted_bytes: _,
        } = self;
        // Source frames still to drop before the start offset.
        let mut to_start = start_frame;
        let total_frames = total_frames.map(|t| t.saturating_sub(start_frame));
        let relative = relative.as_str();
        let opts = &opts;
        let path = relative.to_owned();
        let io_err = |err: io::Error| TranscodeError::Io {
            path: path.clone(),
            err,
        };
        let enc_err = |what: String| TranscodeError::Encode {
            path: path.clone(),
            what,
        };
        let sym_err = |e: SymphoniaError| symphonia_error(relative, e);

        let tag_start = out.stream_position().map_err(io_err)?;
        out.write_all(&id3).map_err(io_err)?;
        let start = tag_start + id3.len() as u64;

        // Built at the first decoded packet, when the real rate and channel
        // count are known.
        let mut pipeline: Option<Pipeline> = None;
        let mut pcm: Vec<f32> = Vec::new();
        let mut bytes = id3.len() as u64;
        let mut frames = 0u64;
        let mut skipped = 0u64;
        let mut truncated = false;
        let mut sample_rate_hz = params.sample_rate.unwrap_or(0);
        let mut source_channels = params.channels.as_ref().map_or(0, |c| c.count());

        loop {
            let packet = match format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    truncated = true;
                    break;
                }
                Err(e) => return Err(sym_err(e)),
            };
            if packet.track_id != track_id {
                continue;
            }
            let packet_frame = (to_start > 0).then(|| frame_at(packet.pts, time_base, &params));
            let decoded = match decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymphoniaError::DecodeError(what)) => {
                    skipped += 1;
                    let at = timestamp(frames, sample_rate_hz);
                    if skipped > MAX_SKIPPED_PACKETS {
                        return Err(TranscodeError::Corrupt {
                            path,
                            what: format!(
                                "more than {MAX_SKIPPED_PACKETS} corrupt packets, the last at {at}: {what}"
                            ),
                        });
                    }
                    if skipped == 1 {
                        log::warn!(
                            "transcoding {relative:?}: skipping corrupt packet at {at}: {what}"
                        );
                    }
                    continue;
                }
                Err(e) => return Err(sym_err(e)),
            };
            if decoded.frames() == 0 {
                continue;
            }
            let channels = decoded.spec().channels().count();
            let rate = decoded.spec().rate();
            let mut decoded_frames = decoded.frames() as u64;
            if let Some(first) = packet_frame {
                // After a seek: drop what comes before the start offset.
                let drop = (start_frame.saturating_sub(first)).min(decoded_frames);
                if drop == decoded_frames {
                    continue;
                }
                to_start = 0;
                tapedeck_dsp::interleave_f32(&decoded, &mut pcm);
                pcm.drain(..drop as usize * channels);
                decoded_frames -= drop;
            } else {
                tapedeck_dsp::interleave_f32(&decoded, &mut pcm);
            }
            frames += decoded_frames;
            let p = match &mut pipeline {
                Some(p) => p,
                None => {
                    sample_rate_hz = rate;
                    source_channels = channels;
                    pipeline.insert(Pipeline::new(rate, channels, opts, relative).map_err(enc_err)?)
                }
            };
            if rate != p.source_rate_hz {
                return Err(TranscodeError::Unsupported {
                    path,
                    what: format!(
                        "the sample rate changes mid-stream ({} -> {rate} Hz)",
                        p.source_rate_hz
                    ),
                });
            }
            to_channels(&mut pcm, channels, p.channels);
            let mp3 = p.encode(&pcm).map_err(enc_err)?;
            out.write_all(mp3).map_err(io_err)?;
            bytes += mp3.len() as u64;
            progress(frames, total_frames);
        }

        let Some(mut p) = pipeline else {
            return Err(TranscodeError::Corrupt {
                path,
                what: "no audio could be decoded".into(),
            });
        };
        let mp3 = p.finish().map_err(enc_err)?;
        out.write_all(mp3).map_err(io_err)?;
        bytes += mp3.len() as u64;
        // LAME's first frame is a zeroed placeholder of the Info tag's size:
        // overwrite it in place, never insert.
        let tag = p.info_tag();
        if !tag.is_empty() {
            let end = out.stream_position().map_err(io_err)?;
            out.seek(SeekFrom::Start(start)).map_err(io_err)?;
            out.write_all(&tag).map_err(io_err)?;
            out.seek(SeekFrom::Start(end)).map_err(io_err)?;
        }
        out.flush().map_err(io_err)?;
        if total_frames.is_some_and(|t| frames < t) {
            truncated = true;
        }
        if truncated {
            log::warn!(
                "transcoding {relative:?}: the file ends early, at {}; encoded what was there",
                timestamp(frames, sample_rate_hz)
            );
        }
        if skipped > 0 {
            log::warn!("transcoding {relative:?}: skipped {skipped} corrupt packets");
        }
        Ok(Report {
            frames,
            sample_rate_hz,
            source_channels,
            output_sample_rate_hz: p.output_rate_hz,
            output_frames: p.output_frames,
            bytes,
            tag_bytes: id3.len() as u64,
            cover,
            skipped_packets: skipped,
            truncated,
        })
    }
}

/// The source frame a packet timestamp names: `ts` in the track's time
/// base (one sample when the container gives none).
fn frame_at(
    ts: Timestamp,
    time_base: Option<TimeBase>,
    params: &symphonia::core::codecs::audio::AudioCodecParameters,
) -> u64 {
    let ts = u128::try_from(ts.get()).unwrap_or(0);
    let frames = match (time_base, params.sample_rate) {
        (Some(tb), Some(rate)) => {
            ts * u128::from(tb.numer.get()) * u128::from(rate) / u128::from(tb.denom.get())
        }
        _ => ts,
    };
    u64::try_from(frames).unwrap_or(u64::MAX)
}

/// `frames` at `rate_hz` as "mm:ss.s" for error messages.
fn timestamp(frames: u64, rate_hz: u32) -> String {
    let tenths = frames * 10 / u64::from(rate_hz.max(1));
    format!(
        "{:02}:{:02}.{}",
        tenths / 600,
        tenths / 10 % 60,
        tenths % 10
    )
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
