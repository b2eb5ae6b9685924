//! Decode (symphonia) -> PCM -> encode (LAME) -> any seekable sink.
//!
//! This is the heart of tapedeck: a lossless or oversized file becomes a
//! constant-bitrate MP3, in-process, in a few MB of memory. It knows nothing
//! of HTTP or the cache; callers give it a path and a `Write + Seek` sink
//! (a cache `.part` file, or a growing file a client reads while it is
//! written) and get a [`Report`] or a [`TranscodeError`] naming the file.
//!
//! The LAME Info tag (encoder delay and padding, LAME technical spec §"Info
//! tag") is written over the placeholder frame LAME emits first, so
//! gapless-aware decoders recover the source length to the sample.

use std::fmt;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

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
    /// LAME algorithm quality, 0 (best, slowest) to 9 (fastest).
    pub encoder_quality: u8,
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
    /// Bytes written to the sink, Info tag included.
    pub bytes: u64,
    /// Corrupt packets skipped.
    pub skipped_packets: u64,
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

fn quality(q: u8) -> mp3lame_encoder::Quality {
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

/// Opens `input` with symphonia (gapless trimming on) and prepares a decoder
/// for its default audio track. `relative` names the file in errors.
///
/// Errors: [`TranscodeError::Io`] if it cannot be read,
/// [`TranscodeError::Corrupt`] if it is empty or has no audio track,
/// [`TranscodeError::Unsupported`] for a container or codec symphonia lacks.
pub fn open(input: &Path, relative: &str) -> Result<Decoding, TranscodeError> {
    let path = relative.to_owned();
    let corrupt = |what: &str| TranscodeError::Corrupt {
        path: path.clone(),
        what: what.to_owned(),
    };
    let file = File::open(input).map_err(|err| TranscodeError::Io {
        path: path.clone(),
        err,
    })?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(corrupt("the file is empty"));
    }
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = input.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| symphonia_error(relative, e))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| corrupt("no audio track"))?;
    let track_id = track.id;
    let total_frames = track.num_frames;
    let Some(CodecParameters::Audio(params)) = track.codec_params.clone() else {
        return Err(corrupt("no audio track"));
    };
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
/// starting at `out`'s current position. `relative` is the path shown in
/// errors (relative to the library root). `progress(frames_done,
/// frames_total)` is called after every packet; the total is `None` when
/// the container does not say.
///
/// Errors: [`TranscodeError::Unsupported`] for formats symphonia cannot
/// decode, [`TranscodeError::Corrupt`] for non-audio or badly damaged
/// input (more than 64 corrupt packets), [`TranscodeError::Io`] for read or
/// write failures, [`TranscodeError::Encode`] if LAME rejects the stream.
/// A truncated file is encoded up to the damage and reported as a success.
pub fn transcode<W: Write + Seek>(
    input: &Path,
    relative: &str,
    out: &mut W,
    opts: &Options,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<Report, TranscodeError> {
    let path = relative.to_owned();
    let io_err = |err: io::Error| TranscodeError::Io {
        path: path.clone(),
        err,
    };
    let sym_err = |e: SymphoniaError| symphonia_error(relative, e);

    let Decoding {
        mut format,
        mut decoder,
        track_id,
        total_frames,
        params,
    } = open(input, relative)?;

    // Built at the first decoded packet, with the channel count it encodes.
    let mut encoder: Option<(mp3lame_encoder::Encoder, usize)> = None;
    let mut pcm: Vec<f32> = Vec::new();
    let mut mp3: Vec<u8> = Vec::new();
    let start = out.stream_position().map_err(io_err)?;
    let mut bytes = 0u64;
    let mut frames = 0u64;
    let mut skipped = 0u64;
    let mut sample_rate_hz = params.sample_rate.unwrap_or(0);
    let mut source_channels = params.channels.as_ref().map_or(0, |c| c.count());

    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A truncated file: keep what decoded.
            Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(sym_err(e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymphoniaError::DecodeError(_)) if skipped < MAX_SKIPPED_PACKETS => {
                skipped += 1;
                continue;
            }
            Err(e) => return Err(sym_err(e)),
        };
        if decoded.frames() == 0 {
            continue;
        }
        let channels = decoded.spec().channels().count();
        sample_rate_hz = decoded.spec().rate();
        source_channels = channels;
        decoded.copy_to_vec_interleaved::<f32>(&mut pcm);
        let n = decoded.frames();
        frames += n as u64;
        let (enc, enc_channels) = match &mut encoder {
            Some(e) => e,
            None => {
                let out_channels = if channels == 1 { 1 } else { 2 };
                let e = build_encoder(sample_rate_hz, out_channels, opts).map_err(|what| {
                    TranscodeError::Encode {
                        path: path.clone(),
                        what,
                    }
                })?;
                encoder.insert((e, out_channels))
            }
        };
        if channels > 2 {
            downmix_to_stereo(&mut pcm, channels);
        }
        mp3.clear();
        mp3.reserve(mp3lame_encoder::max_required_buffer_size(n));
        let encoded = if *enc_channels == 1 {
            enc.encode_to_vec(MonoPcm(&pcm[..]), &mut mp3)
        } else {
            enc.encode_to_vec(InterleavedPcm(&pcm[..]), &mut mp3)
        };
        encoded.map_err(|e| TranscodeError::Encode {
            path: path.clone(),
            what: format!("{e:?}"),
        })?;
        out.write_all(&mp3).map_err(io_err)?;
        bytes += mp3.len() as u64;
        progress(frames, total_frames);
    }

    let Some((mut enc, _)) = encoder else {
        return Err(TranscodeError::Corrupt {
            path,
            what: "no audio could be decoded".into(),
        });
    };
    mp3.clear();
    mp3.reserve(7200);
    // FlushGap encodes every buffered sample; FlushNoGap would drop the tail.
    enc.flush_to_vec::<FlushGap>(&mut mp3)
        .map_err(|e| TranscodeError::Encode {
            path: path.clone(),
            what: format!("{e:?}"),
        })?;
    out.write_all(&mp3).map_err(io_err)?;
    bytes += mp3.len() as u64;
    // LAME's first frame is a zeroed placeholder of the Info tag's size:
    // overwrite it in place, never insert.
    let mut tag = Vec::with_capacity(enc.lame_tag_size().max(1));
    if enc.lame_tag_encode_to_vec(&mut tag).is_some() {
        let end = out.stream_position().map_err(io_err)?;
        out.seek(SeekFrom::Start(start)).map_err(io_err)?;
        out.write_all(&tag).map_err(io_err)?;
        out.seek(SeekFrom::Start(end)).map_err(io_err)?;
    }
    out.flush().map_err(io_err)?;
    Ok(Report {
        frames,
        sample_rate_hz,
        source_channels,
        bytes,
        skipped_packets: skipped,
    })
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
    b.set_vbr_mode(VbrMode::Off).map_err(e)?;
    b.set_brate(brate).map_err(e)?;
    b.set_mode(if channels == 1 {
        Mode::Mono
    } else {
        Mode::JointStereo
    })
    .map_err(e)?;
    b.set_quality(quality(opts.encoder_quality)).map_err(e)?;
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
