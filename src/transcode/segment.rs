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
use std::ops::Range;
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
    let Range { start, end } = pcm_window(layout, k);
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
    while at < end {
        let to = (at + chunk).min(end);
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

/// The output frames segment `k`'s encoder is fed: from
/// [`PRE_ROLL_FRAMES`] frames before the segment (negative positions are
/// silence before the track) to [`POST_ROLL_FRAMES`] frames after it,
/// never past the track's end; the last segment runs to the track's end,
/// and LAME's flush pads its last frame.
fn pcm_window(layout: &Layout, k: u64) -> Range<i64> {
    let frames = layout.segment_frames(k);
    let start = (frames.start as i64 - PRE_ROLL_FRAMES as i64) * SAMPLES_PER_FRAME as i64;
    let end = if frames.end == layout.frames {
        layout.samples
    } else {
        ((frames.end + POST_ROLL_FRAMES) * SAMPLES_PER_FRAME).min(layout.samples)
    };
    start..end as i64
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

#[cfg(test)]
pub(crate) mod tests {
    use std::num::NonZero;

    use symphonia::core::codecs::audio::AudioCodecParameters;

    use super::*;
    use crate::transcode::layout::{ENCODER_DELAY, SEGMENT_FRAMES};

    /// The sample a fixture WAV holds at frame `i`, channel `c`: no two
    /// neighbours alike, so a frame read from the wrong place shows.
    pub(crate) fn fixture_sample(i: u64, c: usize) -> i16 {
        let v = (i * 7919 + c as u64 * 104_729) % 60_000;
        (v as i64 - 30_000) as i16
    }

    /// Writes a 16-bit PCM WAV of `frames` frames of [`fixture_sample`].
    pub(crate) fn write_wav(path: &Path, rate_hz: u32, channels: u16, frames: u64) {
        let block = u32::from(channels) * 2;
        let mut data = Vec::with_capacity(frames as usize * block as usize);
        for i in 0..frames {
            for c in 0..usize::from(channels) {
                data.extend_from_slice(&fixture_sample(i, c).to_le_bytes());
            }
        }
        let mut out = Vec::with_capacity(44 + data.len());
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // PCM
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate_hz.to_le_bytes());
        out.extend_from_slice(&(rate_hz * block).to_le_bytes());
        out.extend_from_slice(&(block as u16).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        std::fs::write(path, out).expect("write the fixture WAV");
    }

    /// Samples of a track that LAME lays out in exactly `frames` frames
    /// (576 samples of encoder delay, the minimum 576 of end padding).
    fn samples_for_frames(frames: u64) -> u64 {
        (frames - 1) * SAMPLES_PER_FRAME
    }

    fn layout(samples: u64) -> Layout {
        Layout::new(samples, 44_100, 2, 128, 0).expect("a valid layout")
    }

    #[test]
    fn frame_counts_follow_lame_padding() {
        // (samples, frames): 576 samples of delay, then 576 to 1727 of
        // padding to fill the last frame.
        for (samples, frames) in [
            (0, 1),
            (1, 2),
            (575, 2),
            (576, 2),
            (1152, 2),
            (1153, 3),
            (samples_for_frames(147), 147),
            (samples_for_frames(147) + 1, 148),
        ] {
            let l = layout(samples);
            assert_eq!(l.frames, frames, "{samples} samples");
            assert!((576..=1727).contains(&l.end_padding()), "{samples} samples");
            assert_eq!(
                l.frames * SAMPLES_PER_FRAME,
                ENCODER_DELAY + samples + l.end_padding()
            );
        }
    }

    #[test]
    fn segment_counts_round_up_to_whole_segments() {
        let s = SEGMENT_FRAMES;
        for (frames, segments) in [
            (1, 1),
            (s - 1, 1),
            (s, 1),
            (s + 1, 2),
            (2 * s, 2),
            (2 * s + 1, 3),
        ] {
            let l = layout(samples_for_frames(frames));
            assert_eq!(l.frames, frames);
            assert_eq!(l.segments(), segments, "{frames} frames");
        }
    }

    #[test]
    fn segments_tile_the_frames_and_the_last_may_be_short() {
        let s = SEGMENT_FRAMES;
        for frames in [1, s - 1, s, s + 1, 3 * s + 7] {
            let l = layout(samples_for_frames(frames));
            let mut next = 0;
            for k in 0..l.segments() {
                let f = l.segment_frames(k);
                assert_eq!(f.start, next, "segment {k} of {frames} frames");
                assert!(f.end > f.start, "segment {k} of {frames} frames is empty");
                let last = k + 1 == l.segments();
                if !last {
                    assert_eq!(f.end - f.start, s);
                }
                next = f.end;
            }
            assert_eq!(next, l.frames);
            // Past the last segment there is nothing.
            assert!(l.segment_frames(l.segments()).is_empty());
        }
    }

    #[test]
    fn full_segments_have_the_same_byte_length_at_every_rate() {
        for (rate, kbps) in [(44_100, 128), (44_100, 320), (48_000, 192), (32_000, 64)] {
            let l = Layout::new(
                samples_for_frames(4 * SEGMENT_FRAMES + 3),
                rate,
                2,
                kbps,
                10,
            )
            .expect("a valid layout");
            let len = |k| {
                let r = l.segment_bytes(k);
                r.end - r.start
            };
            for k in 1..l.segments() - 1 {
                assert_eq!(len(k), len(0), "{rate} Hz, {kbps} kbit/s, segment {k}");
            }
            assert!(len(l.segments() - 1) < len(0));
        }
    }

    #[test]
    fn first_segment_is_fed_its_pre_roll_as_silence_before_the_track() {
        let l = layout(samples_for_frames(3 * SEGMENT_FRAMES));
        let w = pcm_window(&l, 0);
        assert_eq!(w.start, -((PRE_ROLL_FRAMES * SAMPLES_PER_FRAME) as i64));
        assert_eq!(
            w.end,
            ((SEGMENT_FRAMES + POST_ROLL_FRAMES) * SAMPLES_PER_FRAME) as i64
        );
    }

    #[test]
    fn a_middle_segment_is_fed_pre_and_post_roll_around_its_frames() {
        let l = layout(samples_for_frames(3 * SEGMENT_FRAMES));
        let w = pcm_window(&l, 1);
        let f = SAMPLES_PER_FRAME as i64;
        let s = SEGMENT_FRAMES as i64;
        assert_eq!(w.start, (s - PRE_ROLL_FRAMES as i64) * f);
        assert_eq!(w.end, (2 * s + POST_ROLL_FRAMES as i64) * f);
    }

    #[test]
    fn last_segment_ends_at_track_end() {
        let s = SEGMENT_FRAMES;
        for frames in [1, 2, s, s + 1, s + 2, s + 3, 2 * s, 5 * s - 1] {
            let l = layout(samples_for_frames(frames));
            let w = pcm_window(&l, l.segments() - 1);
            assert_eq!(w.end, l.samples as i64, "{frames} frames");
            assert!(w.start < w.end, "{frames} frames: an empty window");
        }
    }

    #[test]
    fn post_roll_never_reads_past_the_track() {
        // The last segment is one frame: the one before it would take its
        // post-roll from past the last sample.
        let l = layout(samples_for_frames(2 * SEGMENT_FRAMES + 1));
        assert_eq!(l.segments(), 3);
        let w = pcm_window(&l, 1);
        assert_eq!(w.end, l.samples as i64);
        for k in 0..l.segments() {
            assert!(pcm_window(&l, k).end <= l.samples as i64, "segment {k}");
        }
    }

    #[test]
    fn layout_refuses_what_an_mpeg1_frame_cannot_carry() {
        use crate::transcode::layout::MAX_SAMPLES;
        assert!(
            Layout::new(1000, 22_050, 2, 128, 0).is_none(),
            "not an MPEG-1 rate"
        );
        assert!(
            Layout::new(1000, 44_100, 2, 56, 0).is_none(),
            "below 64 kbit/s"
        );
        assert!(
            Layout::new(1000, 44_100, 2, 100, 0).is_none(),
            "not a bitrate"
        );
        assert!(Layout::new(MAX_SAMPLES, 48_000, 2, 320, 0).is_some());
        assert!(Layout::new(MAX_SAMPLES + 1, 48_000, 2, 320, 0).is_none());
        assert_eq!(
            Layout::new(1000, 44_100, 6, 128, 0).map(|l| l.channels),
            Some(2),
            "more than two channels are mixed to stereo"
        );
    }

    #[test]
    fn frame_at_time_is_clamped_to_the_track() {
        let l = Layout::new(48_000 * 10, 48_000, 2, 128, 0).expect("a valid layout");
        // A decoder started at frame g plays sample g × 1152 − 1105 first.
        for (seconds, frame) in [
            (-1.0, 0),
            (0.0, 0),
            (46.0 / 48_000.0, 0),
            (47.0 / 48_000.0, 1),
            (1.0, (48_000 + 1105) / 1152),
            (1e9, l.frames - 1),
        ] {
            assert_eq!(l.frame_at_time(seconds), frame, "{seconds} s");
        }
    }

    #[test]
    fn packet_timestamps_become_source_frames() {
        let mut params = AudioCodecParameters::new();
        params.with_sample_rate(48_000);
        let tb = |n: u32, d: u32| {
            Some(TimeBase::new(
                NonZero::new(n).expect("nonzero"),
                NonZero::new(d).expect("nonzero"),
            ))
        };
        for (ts, time_base, frame) in [
            (44_100, tb(1, 48_000), 44_100),
            (1_500, tb(1, 1_000), 72_000),
            (3, None, 3),
            (-5, tb(1, 48_000), 0),
        ] {
            assert_eq!(
                frame_at(Timestamp::new(ts), time_base, &params),
                frame,
                "{ts} in {time_base:?}"
            );
        }
    }

    #[test]
    fn error_timestamps_read_as_minutes_seconds_and_tenths() {
        for (frames, rate, shown) in [
            (0, 44_100, "00:00.0"),
            (44_100 * 90 + 22_050, 44_100, "01:30.5"),
            (48_000 * 3599, 48_000, "59:59.0"),
            // No rate: frames count as seconds, never a division by zero.
            (10, 0, "00:10.0"),
        ] {
            assert_eq!(timestamp(frames, rate), shown, "{frames} at {rate} Hz");
        }
    }

    /// A fixture WAV of `frames` frames at 32 kHz, opened to hand out
    /// `limit` frames.
    fn source(dir: &Path, channels: u16, frames: u64, limit: u64) -> PcmSource {
        let path = dir.join("fixture.wav");
        write_wav(&path, 32_000, channels, frames);
        PcmSource::open(&path, "fixture.wav", limit, usize::from(channels))
            .expect("the fixture opens")
    }

    fn expected(range: Range<u64>, channels: usize) -> Vec<f32> {
        range
            .flat_map(|i| (0..channels).map(move |c| f32::from(fixture_sample(i, c)) / 32_768.0))
            .collect()
    }

    fn assert_pcm(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        if let Some(i) = (0..got.len()).find(|&i| (got[i] - want[i]).abs() > 1e-6) {
            panic!("{what}: sample {i} is {}, want {}", got[i], want[i]);
        }
    }

    #[test]
    fn reads_before_the_track_are_silence_then_the_first_frames() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut src = source(dir.path(), 2, 10_000, 10_000);
        let mut out = Vec::new();
        src.read(-3, 5, &mut out).expect("read");
        let mut want = vec![0.0; 6];
        want.extend(expected(0..5, 2));
        assert_pcm(&out, &want, "-3..5");
    }

    #[test]
    fn reads_are_clipped_to_the_announced_length() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut src = source(dir.path(), 1, 10_000, 8_000);
        let mut out = Vec::new();
        src.read(7_990, 9_000, &mut out).expect("read");
        assert_pcm(&out, &expected(7_990..8_000, 1), "clipped at 8000");
        out.clear();
        src.read(8_000, 8_100, &mut out).expect("read");
        assert!(out.is_empty(), "nothing past the announced length");
    }

    #[test]
    fn a_far_jump_seeks_and_hands_out_the_frames_a_serial_read_would() {
        let dir = tempfile::tempdir().expect("temp dir");
        let far = SEEK_AHEAD_FRAMES + 5_000;
        let frames = far + 1_000;
        let mut src = source(dir.path(), 1, frames, frames);
        let mut out = Vec::new();
        src.read(far as i64, far as i64 + 300, &mut out)
            .expect("read far");
        assert_eq!(src.seeks, 1, "a jump this far seeks");
        assert_pcm(&out, &expected(far..far + 300, 1), "after the seek");
        // Back to the start: before the buffer, so another seek.
        out.clear();
        src.read(0, 100, &mut out).expect("read back");
        assert_eq!(src.seeks, 2);
        assert_pcm(&out, &expected(0..100, 1), "after seeking back");
    }

    #[test]
    fn segments_read_in_order_need_no_seek() {
        let dir = tempfile::tempdir().expect("temp dir");
        let l = Layout::new(samples_for_frames(3 * SEGMENT_FRAMES), 32_000, 1, 64, 0)
            .expect("a valid layout");
        let mut src = source(dir.path(), 1, l.samples, l.samples);
        let mut out = Vec::new();
        for k in 0..l.segments() {
            let w = pcm_window(&l, k);
            out.clear();
            src.read(w.start, w.end, &mut out).expect("read");
            let silent = (-w.start.min(0)) as usize;
            let mut want = vec![0.0; silent];
            want.extend(expected(w.start.max(0) as u64..w.end as u64, 1));
            assert_pcm(&out, &want, &format!("segment {k}"));
        }
        assert_eq!(src.seeks, 0);
    }

    #[test]
    fn a_source_shorter_than_announced_ends_in_silence_and_is_marked_short() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut src = source(dir.path(), 1, 1_000, 1_500);
        let mut out = Vec::new();
        src.read(900, 1_500, &mut out).expect("read");
        let mut want = expected(900..1_000, 1);
        want.resize(600, 0.0);
        assert_pcm(&out, &want, "the last 100 frames, then silence");
        assert!(src.short);
    }

    #[test]
    fn every_segment_encodes_to_exactly_its_layout_bytes_in_any_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let l = Layout::new(samples_for_frames(2 * SEGMENT_FRAMES + 5), 32_000, 1, 64, 0)
            .expect("a valid layout");
        let mut src = source(dir.path(), 1, l.samples, l.samples);
        let encode = |src: &mut PcmSource, k| {
            encode_segment(src, &l, k, 9, "fixture.wav").expect("the segment encodes")
        };
        // Last first, then the others: each is fed its own window.
        let order = [2, 0, 1];
        let mut bytes = [Vec::new(), Vec::new(), Vec::new()];
        for k in order {
            bytes[k as usize] = encode(&mut src, k);
            let r = l.segment_bytes(k);
            assert_eq!(
                bytes[k as usize].len() as u64,
                r.end - r.start,
                "segment {k}"
            );
        }
        // The same segment encodes to the same bytes from another position.
        assert_eq!(encode(&mut src, 1), bytes[1]);
    }
}
