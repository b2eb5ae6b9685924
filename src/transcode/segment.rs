//! PCM at the output rate from any position of a source, and one segment
//! of the layout encoded from it.
//!
//! [`PcmSource`] hands out the output's PCM frames `[start, end)` as a
//! whole-file decode would: it seeks the container when asked for a
//! position far from where it is (decoding and dropping up to the exact
//! frame), resamples with a resampler positioned on that output frame, and
//! returns silence before the track and after the decoder's end (a short
//! or damaged source), so every segment has its announced frames.

use std::io;
use std::path::{Path, PathBuf};

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{SeekMode, SeekTo};
use symphonia::core::units::{Time, TimeBase, Timestamp};

use super::TranscodeError;
use super::encoder::Lame;
use super::layout::{Layout, POST_ROLL_FRAMES, PRE_ROLL_FRAMES, SAMPLES_PER_FRAME};
use super::resample::{self, Resampler};
use super::source::{Decoding, open_uncontained, symphonia_error};
use tapedeck_dsp::channels::to_channels;

/// Corrupt packets tolerated before a transcode is abandoned.
const MAX_SKIPPED_PACKETS: u64 = 64;
/// A jump forward of more than this many output frames seeks the
/// container instead of decoding through.
const SEEK_AHEAD_FRAMES: u64 = 4 * 147 * SAMPLES_PER_FRAME;
/// Output frames kept before the last position read: the next segment
/// starts its pre-roll before the post-roll of the one just encoded.
const KEEP_FRAMES: u64 = (PRE_ROLL_FRAMES + POST_ROLL_FRAMES + 1) * SAMPLES_PER_FRAME;
/// Source frames decoded and dropped before a seek target: lossy codecs
/// (MP3, AAC, Vorbis) need a packet or two of history to decode exactly.
const SEEK_MARGIN_FRAMES: u64 = 8192;

/// Decoded, resampled PCM of one source, by output frame position.
pub struct PcmSource {
    input: PathBuf,
    relative: String,
    decoding: Decoding,
    source_rate_hz: u32,
    /// Output rate when resampled (else the source's).
    resample_to: Option<u32>,
    resampler: Option<Resampler>,
    /// 1 or 2.
    pub channels: usize,
    /// Output frames of the track; nothing is handed out beyond.
    limit: u64,
    /// Output frames buffered, interleaved, from output frame `buf_start`.
    buf: Vec<f32>,
    buf_start: u64,
    /// Source frames to drop from the next decoded packets (after a seek:
    /// the first packet's timestamp says where it starts).
    seek_target: Option<u64>,
    /// The decoder ended; all later frames are silence.
    ended: bool,
    /// Frames decoded since the file was opened.
    decoded_frames: u64,
    /// Audio was decoded from this file (here, or by the plan that opened
    /// it again): the decoder ending without any is a short source.
    pub(super) proven: bool,
    /// Corrupt packets skipped.
    pub skipped_packets: u64,
    /// The decoder ended before the announced length.
    pub short: bool,
    /// Times the container was sought (segments in order need none).
    pub seeks: u64,
    pcm: Vec<f32>,
    resampled: Vec<f32>,
}

impl PcmSource {
    /// Opens `input` for output frames at the rate and channel count
    /// `layout` says. Errors as for [`super::open`], and
    /// [`TranscodeError::Unsupported`] for a rate the resampler cannot take.
    pub fn open(
        input: &Path,
        relative: &str,
        layout_samples: u64,
        channels: usize,
    ) -> Result<PcmSource, TranscodeError> {
        let decoding = open_uncontained(input, relative)?;
        PcmSource::new(input, relative, decoding, layout_samples, channels)
    }

    pub(super) fn new(
        input: &Path,
        relative: &str,
        decoding: Decoding,
        limit: u64,
        channels: usize,
    ) -> Result<PcmSource, TranscodeError> {
        let source_rate_hz = decoding.params.sample_rate.unwrap_or(0);
        let resample_to = resample::target_rate(source_rate_hz);
        let resampler = match resample_to {
            Some(to) => Some(Resampler::new(source_rate_hz, to, channels).ok_or_else(|| {
                TranscodeError::Unsupported {
                    path: relative.to_owned(),
                    what: format!("a sample rate of {source_rate_hz} Hz"),
                }
            })?),
            None => None,
        };
        Ok(PcmSource {
            input: input.to_owned(),
            relative: relative.to_owned(),
            decoding,
            source_rate_hz,
            resample_to,
            resampler,
            channels,
            limit,
            buf: Vec::new(),
            buf_start: 0,
            seek_target: None,
            ended: false,
            decoded_frames: 0,
            proven: false,
            skipped_packets: 0,
            short: false,
            seeks: 0,
            pcm: Vec::new(),
            resampled: Vec::new(),
        })
    }

    /// Decodes the first packets, until one yields audio: a source that
    /// opens but has nothing decodable (an MP4 cut inside its `mdat`) is
    /// found here, before anything is announced.
    ///
    /// Errors: [`TranscodeError::Corrupt`] (or the decoder's error) when no
    /// audio can be decoded.
    pub fn prime(&mut self) -> Result<(), TranscodeError> {
        while self.decoded_frames == 0 && !self.ended {
            self.decode_more()?;
        }
        Ok(())
    }

    /// Appends output frames `[start, end)` (interleaved; negative
    /// positions are silence before the track) to `out`. `end` is clipped to
    /// the track's output length.
    ///
    /// Errors: the container or codec fails in a way that is not the end
    /// of the data (a sample rate change, more than 64 corrupt packets),
    /// or nothing at all could be decoded from the file.
    pub fn read(&mut self, start: i64, end: i64, out: &mut Vec<f32>) -> Result<(), TranscodeError> {
        let ch = self.channels;
        let end = end.min(i64::try_from(self.limit).unwrap_or(i64::MAX));
        if start >= end {
            return Ok(());
        }
        if start < 0 {
            let silent = (end.min(0) - start) as usize;
            out.resize(out.len() + silent * ch, 0.0);
        }
        let (start, end) = (start.max(0) as u64, end.max(0) as u64);
        if start >= end {
            return Ok(());
        }
        let buf_end = self.buf_start + (self.buf.len() / ch) as u64;
        if start < self.buf_start || start > buf_end + SEEK_AHEAD_FRAMES {
            self.seek(start)?;
        }
        // What lies before `start` is dropped as it is decoded, but for the
        // pre- and post-roll: the next segment starts that far back.
        let keep_from = start.saturating_sub(KEEP_FRAMES);
        loop {
            if self.buf_start < keep_from {
                let drop = ((keep_from - self.buf_start) as usize * ch).min(self.buf.len());
                self.buf.drain(..drop);
                self.buf_start += (drop / ch) as u64;
            }
            let have = self.buf_start + (self.buf.len() / ch) as u64;
            if have >= end {
                break;
            }
            if self.ended {
                self.buf
                    .resize(self.buf.len() + (end - have) as usize * ch, 0.0);
                break;
            }
            self.decode_more()?;
        }
        let from = (start - self.buf_start) as usize * ch;
        let to = (end - self.buf_start) as usize * ch;
        out.extend_from_slice(&self.buf[from..to]);
        Ok(())
    }

    /// Positions the decoder so the next output frame is `n`.
    fn seek(&mut self, n: u64) -> Result<(), TranscodeError> {
        self.seeks += 1;
        self.buf.clear();
        self.buf_start = n;
        self.ended = false;
        let input_frame = match &mut self.resampler {
            Some(r) => r.seek_output(n),
            None => n,
        };
        let target = input_frame.saturating_sub(SEEK_MARGIN_FRAMES);
        let rate = u64::from(self.source_rate_hz.max(1));
        let nanos = i64::try_from(u128::from(target) * 1_000_000_000 / u128::from(rate))
            .unwrap_or(i64::MAX);
        let track_id = self.decoding.track_id;
        let sought = self
            .decoding
            .format
            .seek(
                SeekMode::Accurate,
                SeekTo::Time {
                    time: Time::from_nanos(nanos),
                    track_id: Some(track_id),
                },
            )
            .is_ok();
        if !sought {
            // Cannot seek (or the seek failed): decode from the start.
            log::debug!(
                "transcoding {:?}: cannot seek; decoding from the start",
                self.relative
            );
            self.decoding = open_uncontained(&self.input, &self.relative)?;
        }
        self.decoding.decoder.reset();
        self.seek_target = Some(input_frame);
        Ok(())
    }

    /// Decodes one packet into the buffer (through the resampler), or
    /// marks the end.
    fn decode_more(&mut self) -> Result<(), TranscodeError> {
        let d = &mut self.decoding;
        let packet = match d.format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return self.end(None),
            Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return self.end(Some("the file ends early".into()));
            }
            Err(SymphoniaError::ResetRequired) => {
                return Err(TranscodeError::Unsupported {
                    path: self.relative.clone(),
                    what: "the stream changes its parameters mid-way".into(),
                });
            }
            Err(e) if self.decoded_frames > 0 || self.proven => {
                return self.end(Some(e.to_string()));
            }
            Err(e) => return Err(symphonia_error(&self.relative, e)),
        };
        if packet.track_id != d.track_id {
            return Ok(());
        }
        let packet_frame = self
            .seek_target
            .map(|_| frame_at(packet.pts, d.time_base, &d.params));
        let decoded = match d.decoder.decode(&packet) {
            Ok(decoded) => decoded,
            Err(SymphoniaError::DecodeError(what)) => {
                self.skipped_packets += 1;
                if self.skipped_packets > MAX_SKIPPED_PACKETS {
                    return Err(TranscodeError::Corrupt {
                        path: self.relative.clone(),
                        what: format!("more than {MAX_SKIPPED_PACKETS} corrupt packets: {what}"),
                    });
                }
                if self.skipped_packets == 1 {
                    log::warn!(
                        "transcoding {:?}: skipping a corrupt packet: {what}",
                        self.relative
                    );
                }
                return Ok(());
            }
            Err(e) if self.decoded_frames > 0 || self.proven => {
                return self.end(Some(e.to_string()));
            }
            Err(e) => return Err(symphonia_error(&self.relative, e)),
        };
        if decoded.frames() == 0 {
            return Ok(());
        }
        let rate = decoded.spec().rate();
        if rate != self.source_rate_hz {
            return Err(TranscodeError::Unsupported {
                path: self.relative.clone(),
                what: format!(
                    "the sample rate changes mid-stream ({} -> {rate} Hz)",
                    self.source_rate_hz
                ),
            });
        }
        let from_channels = decoded.spec().channels().count();
        let frames = decoded.frames() as u64;
        tapedeck_dsp::interleave_f32(&decoded, &mut self.pcm);
        self.decoded_frames += frames;
        if let (Some(target), Some(first)) = (self.seek_target, packet_frame) {
            // After a seek: drop what comes before the wanted frame.
            let drop = target.saturating_sub(first).min(frames);
            if drop == frames {
                return Ok(());
            }
            self.pcm.drain(..drop as usize * from_channels);
            self.seek_target = None;
        }
        to_channels(&mut self.pcm, from_channels, self.channels);
        match &mut self.resampler {
            Some(r) => r.process(&self.pcm, &mut self.buf),
            None => self.buf.extend_from_slice(&self.pcm),
        }
        Ok(())
    }

    /// The decoder has no more: drain the resampler, then silence.
    fn end(&mut self, why: Option<String>) -> Result<(), TranscodeError> {
        if self.decoded_frames == 0 && !self.proven {
            return Err(TranscodeError::Corrupt {
                path: self.relative.clone(),
                what: why.unwrap_or_else(|| "no audio could be decoded".into()),
            });
        }
        if let Some(r) = &mut self.resampler {
            self.resampled.clear();
            r.finish(&mut self.resampled);
            self.buf.extend_from_slice(&self.resampled);
        }
        self.ended = true;
        let have = self.buf_start + (self.buf.len() / self.channels) as u64;
        if have < self.limit && !self.short {
            self.short = true;
            let rate = self.resample_to.unwrap_or(self.source_rate_hz);
            log::warn!(
                "transcoding {:?}: the source ends at {} of the {} its header announced{}; the rest is silence",
                self.relative,
                timestamp(have, rate),
                timestamp(self.limit, rate),
                why.map(|w| format!(" ({w})")).unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// Encodes segment `k` of `layout` from `src`: a fresh LAME encoder
/// (`algorithm`: `lame_set_quality`) fed the pre-roll, the segment and the
/// post-roll, of whose output the segment's own frames are kept. Returns
/// exactly the bytes `layout.segment_bytes(k)` names.
///
/// Errors: from the source, LAME's, or frames whose sizes differ from the
/// layout's ([`TranscodeError::Encode`]: a LAME build that pads otherwise).
pub fn encode_segment(
    src: &mut PcmSource,
    layout: &Layout,
    k: u64,
    algorithm: u8,
    relative: &str,
) -> Result<Vec<u8>, TranscodeError> {
    let enc = |what: String| TranscodeError::Encode {
        path: relative.to_owned(),
        what,
    };
    let frames = layout.segment_frames(k);
    let last = frames.end == layout.frames;
    let start = (frames.start as i64 - PRE_ROLL_FRAMES as i64) * SAMPLES_PER_FRAME as i64;
    let end = if last {
        layout.samples
    } else {
        ((frames.end + POST_ROLL_FRAMES) * SAMPLES_PER_FRAME).min(layout.samples)
    };
    let mut lame = Lame::new(
        layout.rate_hz,
        layout.channels,
        layout.bitrate_kbps,
        algorithm,
    )
    .map_err(enc)?;
    let mut mp3 = Vec::with_capacity(
        (layout.segment_bytes(k).end - layout.segment_bytes(k).start) as usize * 11 / 10,
    );
    let mut pcm = Vec::new();
    let chunk = 8 * SAMPLES_PER_FRAME as i64;
    let mut at = start;
    while at < end as i64 {
        let to = (at + chunk).min(end as i64);
        pcm.clear();
        src.read(at, to, &mut pcm)?;
        mp3.extend_from_slice(lame.encode(&pcm).map_err(enc)?);
        at = to;
    }
    mp3.extend_from_slice(lame.flush().map_err(enc)?);
    let mut kept = None;
    let mut count = 0u64;
    for (i, f) in crate::mp3::frames(&mp3).enumerate() {
        let f = f.map_err(|e| enc(format!("segment {k}: {e}")))?;
        let i = i as u64;
        if i < PRE_ROLL_FRAMES || count == frames.end - frames.start {
            continue;
        }
        let g = frames.start + count;
        if f.header.len != layout.frame_len(g) {
            return Err(enc(format!(
                "segment {k}: frame {g} is {} bytes, the layout says {}",
                f.header.len,
                layout.frame_len(g)
            )));
        }
        kept.get_or_insert(f.offset as usize..f.offset as usize);
        if let Some(r) = &mut kept {
            r.end = (f.offset + f.header.len) as usize;
        }
        count += 1;
    }
    let want = frames.end - frames.start;
    let Some(r) = kept.filter(|_| count == want) else {
        return Err(enc(format!(
            "segment {k}: LAME gave {count} of its {want} frames"
        )));
    };
    Ok(mp3[r].to_vec())
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
