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
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

pub mod resample;
mod riff;
pub mod tags;

use resample::Resampler;

use mp3lame_encoder::{Bitrate, Builder, FlushGap, InterleavedPcm, Mode, MonoPcm, VbrMode};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

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
    /// PCM frames (samples per channel) decoded from the source.
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

fn bitrate(kbps: u32) -> Option<Bitrate> {
    Some(match kbps {
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => return None,
    })
}

/// LAME's algorithm selection for `lame_set_quality` (the crate calls
/// it `Quality`; here that word means the level only).
fn lame_algorithm(q: u8) -> mp3lame_encoder::Quality {
    use mp3lame_encoder::Quality as Q;
    match q {
        0 => Q::Best,
        1 => Q::SecondBest,
        2 => Q::NearBest,
        3 => Q::VeryNice,
        4 => Q::Nice,
        5 => Q::Good,
        6 => Q::Decent,
        7 => Q::Ok,
        8 => Q::SecondWorst,
        _ => Q::Worst,
    }
}

/// Downmixes interleaved `frames` of `channels` (> 2) to stereo in place
/// using ITU-R BS.775 coefficients: front left/right at 1, centre and
/// surrounds at −3 dB (0.7071), LFE dropped, then scaled by the sum of the
/// coefficients feeding one side so a full-scale input cannot clip.
/// Channel order is the WAVE/SMPTE order symphonia delivers (L R C LFE Ls
/// Rs ...); channels past the sixth are dropped.
fn downmix_to_stereo(pcm: &mut Vec<f32>, channels: usize) {
    const M3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let has_c = channels >= 3;
    let has_s = channels >= 5;
    let side_sum = 1.0 + if has_c { M3DB } else { 0.0 } + if has_s { M3DB } else { 0.0 };
    let norm = 1.0 / side_sum;
    let frames = pcm.len() / channels;
    for i in 0..frames {
        let f = &pcm[i * channels..(i + 1) * channels];
        let c = if has_c { f[2] * M3DB } else { 0.0 };
        let (ls, rs) = if has_s {
            (f[4] * M3DB, f[5] * M3DB)
        } else {
            (0.0, 0.0)
        };
        let l = (f[0] + c + ls) * norm;
        let r = (f[1] + c + rs) * norm;
        pcm[2 * i] = l;
        pcm[2 * i + 1] = r;
    }
    pcm.truncate(frames * 2);
}

/// An opened audio file: its container reader and a decoder for its
/// default audio track.
pub struct Decoding {
    pub format: Box<dyn symphonia::core::formats::FormatReader>,
    pub decoder: Box<dyn symphonia::core::codecs::audio::AudioDecoder>,
    pub track_id: u32,
    /// Frames in the track when the container says (None for some streams).
    pub total_frames: Option<u64>,
    pub params: symphonia::core::codecs::audio::AudioCodecParameters,
}

/// A container opened for reading, before any decoder exists: enough to
/// read tags and stream parameters without decoding audio.
pub struct Probed {
    pub format: Box<dyn symphonia::core::formats::FormatReader>,
    pub track_id: u32,
    /// Frames in the track when the container says (None for some streams).
    pub total_frames: Option<u64>,
    pub params: symphonia::core::codecs::audio::AudioCodecParameters,
}

/// Opens `input` with symphonia (gapless trimming on) and finds its default
/// audio track. Reads headers and tags only (a few KB for most files).
/// `relative` names the file in errors.
///
/// Errors: [`TranscodeError::Io`] if it cannot be read,
/// [`TranscodeError::Corrupt`] if it is empty, has no audio track or makes
/// the prober panic (contained here), [`TranscodeError::Unsupported`] for a
/// container symphonia lacks.
pub fn probe(input: &Path, relative: &str) -> Result<Probed, TranscodeError> {
    contain(relative, || probe_uncontained(input, relative))
}

fn probe_uncontained(input: &Path, relative: &str) -> Result<Probed, TranscodeError> {
    let path = relative.to_owned();
    let corrupt = |what: &str| TranscodeError::Corrupt {
        path: path.clone(),
        what: what.to_owned(),
    };
    let mut file = File::open(input).map_err(|err| TranscodeError::Io {
        path: path.clone(),
        err,
    })?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(corrupt("the file is empty"));
    }
    let mut format_options = FormatOptions::default();
    format_options.external_data.metadata = riff::wave_metadata(&mut file);
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = input.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format = symphonia::default::get_probe()
        .probe(&hint, mss, format_options, MetadataOptions::default())
        .map_err(|e| symphonia_error(relative, e))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| corrupt("no audio track"))?;
    let track_id = track.id;
    let total_frames = track.num_frames;
    let Some(CodecParameters::Audio(params)) = track.codec_params.clone() else {
        return Err(corrupt("no audio track"));
    };
    Ok(Probed {
        format,
        track_id,
        total_frames,
        params,
    })
}

/// Opens `input` as [`probe`] does and prepares a decoder for its default
/// audio track.
///
/// Errors: as for [`probe`], and [`TranscodeError::Unsupported`] for a
/// codec symphonia lacks. A panic while probing or preparing the decoder is
/// contained and reported as [`TranscodeError::Corrupt`]; decoding the
/// packets is the caller's to contain (see [`contain`]).
pub fn open(input: &Path, relative: &str) -> Result<Decoding, TranscodeError> {
    contain(relative, || open_uncontained(input, relative))
}

fn open_uncontained(input: &Path, relative: &str) -> Result<Decoding, TranscodeError> {
    let Probed {
        format,
        track_id,
        total_frames,
        params,
    } = probe_uncontained(input, relative)?;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| symphonia_error(relative, e))?;
    Ok(Decoding {
        format,
        decoder,
        track_id,
        total_frames,
        params,
    })
}

/// Classifies a symphonia error for the file `relative`.
fn symphonia_error(relative: &str, e: SymphoniaError) -> TranscodeError {
    let path = relative.to_owned();
    match e {
        SymphoniaError::Unsupported(what) => TranscodeError::Unsupported {
            path,
            what: what.to_owned(),
        },
        SymphoniaError::IoError(err) => TranscodeError::Io { path, err },
        other => TranscodeError::Corrupt {
            path,
            what: other.to_string(),
        },
    }
}

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
            predicted_bytes,
        })
    })
}

/// MPEG-1 Layer III frame length in bytes at `kbps` and `rate_hz`, without
/// the padding slot (ISO 11172-3 §2.4.3.1: 144 × bitrate / rate).
fn frame_bytes(kbps: u32, rate_hz: u32) -> u64 {
    144_000 * u64::from(kbps) / u64::from(rate_hz)
}

/// Exact size in bytes of the MP3 frames (Info frame included, ID3 tag
/// not) LAME 3.100 writes in CBR for `source_frames` at `source_rate_hz`,
/// or `None` when the output would not be MPEG-1 (32, 44.1, 48 kHz) or
/// the rate ratio is left to LAME. Mirrors LAME: the output rate chosen by
/// [`resample::target_rate`], the flush padding of `lame_encode_flush`
/// (576 encoder delay, end padding of 576 to 1727 samples to fill the last
/// frame), and the padding-slot sequence of `encoder.c` (Sieler and
/// Sperschneider's method, no slot in the first frame). The Info frame
/// has no padding slot.
pub fn predict_mp3_bytes(source_frames: u64, source_rate_hz: u32, kbps: u32) -> Option<u64> {
    let (out_rate, out_frames) = match resample::target_rate(source_rate_hz) {
        Some(to) => {
            Resampler::new(source_rate_hz, to, 1)?;
            let n = (source_frames * u64::from(to)).div_ceil(u64::from(source_rate_hz));
            (to, n)
        }
        None => (source_rate_hz, source_frames),
    };
    if ![32_000, 44_100, 48_000].contains(&out_rate) || bitrate(kbps).is_none() {
        return None;
    }
    const SAMPLES: u64 = 1152;
    const DELAY: u64 = 576;
    let mut pad = SAMPLES - (out_frames + DELAY) % SAMPLES;
    if pad < 576 {
        pad += SAMPLES;
    }
    let frames = (out_frames + DELAY + pad) / SAMPLES;
    let sr = u64::from(out_rate);
    let frac = 144_000 * u64::from(kbps) % sr;
    let base = frame_bytes(kbps, out_rate);
    let mut slot_lag = frac as i64;
    let mut bytes = base; // the Info frame
    for _ in 0..frames {
        bytes += base;
        slot_lag -= frac as i64;
        if slot_lag < 0 {
            slot_lag += sr as i64;
            bytes += 1;
        }
    }
    Some(bytes)
}

impl Prepared {
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
                },
            relative,
            opts,
            id3,
            cover,
            predicted_bytes: _,
        } = self;
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
            decoded.copy_to_vec_interleaved::<f32>(&mut pcm);
            frames += decoded.frames() as u64;
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

/// Brings interleaved `pcm` of `from` channels to `to` (1 or 2) channels in
/// place: a BS.775 downmix above two, a mean for stereo to mono, a copy for
/// mono to stereo (only when a stream changes channel count mid-way).
fn to_channels(pcm: &mut Vec<f32>, from: usize, to: usize) {
    match (from, to) {
        (f, t) if f == t => {}
        (f, 2) if f > 2 => downmix_to_stereo(pcm, f),
        (1, 2) => {
            let mono = std::mem::take(pcm);
            pcm.extend(mono.iter().flat_map(|&s| [s, s]));
        }
        (f, 1) => {
            let frames = pcm.len() / f;
            for i in 0..frames {
                pcm[i] = pcm[i * f..(i + 1) * f].iter().sum::<f32>() / f as f32;
            }
            pcm.truncate(frames);
        }
        _ => {}
    }
}

/// LAME plus, for rates MP3 cannot carry, the resampler in front of it.
struct Pipeline {
    lame: mp3lame_encoder::Encoder,
    resampler: Option<Resampler>,
    source_rate_hz: u32,
    output_rate_hz: u32,
    /// 1 or 2.
    channels: usize,
    /// Frames handed to LAME.
    output_frames: u64,
    resampled: Vec<f32>,
    mp3: Vec<u8>,
}

impl Pipeline {
    fn new(
        rate_hz: u32,
        source_channels: usize,
        opts: &Options,
        relative: &str,
    ) -> Result<Self, String> {
        let channels = if source_channels == 1 { 1 } else { 2 };
        let mut resampler = None;
        let mut output_rate_hz = rate_hz;
        if let Some(to) = resample::target_rate(rate_hz) {
            match Resampler::new(rate_hz, to, channels) {
                Some(r) => {
                    resampler = Some(r);
                    output_rate_hz = to;
                }
                // An awkward ratio: LAME resamples it instead.
                None => {
                    log::debug!("transcoding {relative:?}: {rate_hz} Hz left to LAME's resampler")
                }
            }
        }
        Ok(Pipeline {
            lame: build_encoder(output_rate_hz, channels, opts)?,
            resampler,
            source_rate_hz: rate_hz,
            output_rate_hz,
            channels,
            output_frames: 0,
            resampled: Vec::new(),
            mp3: Vec::new(),
        })
    }

    /// Encodes interleaved frames of `self.channels` channels; returns the
    /// MP3 bytes LAME produced (often none for a small input).
    fn encode(&mut self, pcm: &[f32]) -> Result<&[u8], String> {
        let pcm = match &mut self.resampler {
            Some(r) => {
                self.resampled.clear();
                r.process(pcm, &mut self.resampled);
                &self.resampled[..]
            }
            None => pcm,
        };
        self.mp3.clear();
        lame_encode(&mut self.lame, self.channels, pcm, &mut self.mp3)?;
        self.output_frames += (pcm.len() / self.channels) as u64;
        Ok(&self.mp3)
    }

    /// Drains the resampler and LAME; returns the last MP3 bytes.
    fn finish(&mut self) -> Result<&[u8], String> {
        self.mp3.clear();
        if let Some(r) = &mut self.resampler {
            self.resampled.clear();
            r.finish(&mut self.resampled);
            lame_encode(
                &mut self.lame,
                self.channels,
                &self.resampled,
                &mut self.mp3,
            )?;
            self.output_frames += (self.resampled.len() / self.channels) as u64;
        }
        let mut tail = Vec::with_capacity(7200);
        // FlushGap encodes every buffered sample; FlushNoGap would drop the tail.
        self.lame
            .flush_to_vec::<FlushGap>(&mut tail)
            .map_err(|e| format!("{e:?}"))?;
        self.mp3.extend_from_slice(&tail);
        Ok(&self.mp3)
    }

    /// The LAME Info tag frame, to write over the placeholder.
    fn info_tag(&mut self) -> Vec<u8> {
        let mut tag = Vec::with_capacity(self.lame.lame_tag_size().max(1));
        if self.lame.lame_tag_encode_to_vec(&mut tag).is_some() {
            tag
        } else {
            Vec::new()
        }
    }
}

fn lame_encode(
    lame: &mut mp3lame_encoder::Encoder,
    channels: usize,
    pcm: &[f32],
    mp3: &mut Vec<u8>,
) -> Result<(), String> {
    if pcm.is_empty() {
        return Ok(());
    }
    let frames = pcm.len() / channels;
    mp3.reserve(mp3lame_encoder::max_required_buffer_size(frames));
    let encoded = if channels == 1 {
        lame.encode_to_vec(MonoPcm(pcm), mp3)
    } else {
        lame.encode_to_vec(InterleavedPcm(pcm), mp3)
    };
    encoded.map(|_| ()).map_err(|e| format!("{e:?}"))
}

fn build_encoder(
    sample_rate_hz: u32,
    channels: usize,
    opts: &Options,
) -> Result<mp3lame_encoder::Encoder, String> {
    let brate = bitrate(opts.bitrate_kbps)
        .ok_or_else(|| format!("{} kbit/s is not a LAME bitrate", opts.bitrate_kbps))?;
    let mut b = Builder::new().ok_or("LAME could not allocate an encoder")?;
    let e = |e: mp3lame_encoder::BuildError| format!("{e:?}");
    b.set_num_channels(channels as u8).map_err(e)?;
    b.set_sample_rate(sample_rate_hz).map_err(e)?;
    // Never let LAME pick another output rate: the size prediction and the
    // Info tag's sample count assume the MP3 runs at the input's rate.
    if [32_000, 44_100, 48_000].contains(&sample_rate_hz) {
        b.set_output_sample_rate(std::num::NonZeroU32::new(sample_rate_hz))
            .map_err(e)?;
    }
    b.set_vbr_mode(VbrMode::Off).map_err(e)?;
    b.set_brate(brate).map_err(e)?;
    b.set_mode(if channels == 1 {
        Mode::Mono
    } else {
        Mode::JointStereo
    })
    .map_err(e)?;
    b.set_quality(lame_algorithm(opts.lame_algorithm))
        .map_err(e)?;
    b.set_to_write_vbr_tag(true).map_err(e)?;
    b.build().map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_keeps_full_scale_below_clipping_and_drops_lfe() {
        // 5.1 at full scale on every channel, LFE included.
        let mut pcm = vec![1.0f32; 6 * 4];
        downmix_to_stereo(&mut pcm, 6);
        assert_eq!(pcm.len(), 8);
        assert!(pcm.iter().all(|&s| (s - 1.0).abs() < 1e-6), "{pcm:?}");
        // Only LFE: silence.
        let mut lfe = vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        downmix_to_stereo(&mut lfe, 6);
        assert_eq!(lfe, vec![0.0, 0.0]);
        // Centre only: equal on both sides, −3 dB before normalisation.
        let mut c = vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        downmix_to_stereo(&mut c, 6);
        assert!((c[0] - c[1]).abs() < 1e-6 && c[0] > 0.2 && c[0] < 0.71);
    }
}
