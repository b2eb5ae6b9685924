//! The fixed frame layout of a transcode: where every MP3 frame of the
//! output starts, known before a single sample is encoded.
//!
//! A transcode is cut into segments of [`SEGMENT_FRAMES`] MPEG-1 frames
//! (1152 samples each). Each segment is encoded by its own LAME encoder,
//! fed [`PRE_ROLL_FRAMES`] frames of audio before the segment (silence
//! before the track's start) and [`POST_ROLL_FRAMES`] after it, with the
//! bit reservoir off; only the segment's own frames are kept. Every frame
//! then decodes alone, and any segment can be encoded by any worker, in any
//! order, into its place in the file.
//!
//! Frame sizes: CBR frames are `144 000 × kbit/s / rate` bytes, plus one
//! padding byte where LAME's padding accumulator says (ISO 11172-3
//! §2.4.3.1; LAME `encoder.c`, Sieler and Sperschneider's method: no slot
//! in an encoder's first frame). The accumulator restarts with every
//! encoder and repeats every 49 frames at 44.1 kHz; a segment of 147
//! frames (3.84 s at 44.1 kHz) with the same pre-roll for every segment
//! therefore has the frame sizes of one serial encode of "pre-roll of
//! silence + track" with the pre-roll dropped. At 32 and 48 kHz every
//! frame has the same size.
//!
//! The file: the ID3v2 tag, the Info frame ([`Layout::info_frame`],
//! complete from the first byte), then [`Layout::frames`] audio frames.

use std::ops::Range;

/// PCM frames (samples per channel) in one MPEG-1 Layer III frame.
pub const SAMPLES_PER_FRAME: u64 = 1152;
/// MP3 frames per segment: a multiple of 49, so the padding pattern at
/// 44.1 kHz is the same in every segment.
pub const SEGMENT_FRAMES: u64 = 147;
/// MP3 frames of audio encoded before a segment and dropped: the
/// filterbank and MDCT need history (measured: 4 frames make seams match a
/// serial encode; 1 is not enough).
pub const PRE_ROLL_FRAMES: u64 = 4;
/// MP3 frames of audio encoded after a segment and dropped (the
/// psychoacoustic model looks ahead).
pub const POST_ROLL_FRAMES: u64 = 2;
/// The lowest bitrate whose frames hold the Info tag at every MPEG-1 rate
/// (192 bytes in a stereo frame; a 56 kbit/s frame at 48 kHz has 168).
pub const MIN_BITRATE_KBPS: u32 = 64;
/// The longest output laid out: 24 hours at 48 kHz. Byte counts stay far
/// inside the Info tag's 32-bit fields.
pub const MAX_SAMPLES: u64 = 24 * 3600 * 48_000;
/// LAME 3.100's encoder delay at MPEG-1 rates, in samples.
pub const ENCODER_DELAY: u64 = 576;
/// An MPEG-1 Layer III decoder's own delay (the synthesis filterbank), in
/// samples.
pub const DECODER_DELAY: u64 = 529;

/// Where every byte of a transcode's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Output sample rate in Hz (32 000, 44 100 or 48 000).
    pub rate_hz: u32,
    /// 1 or 2.
    pub channels: usize,
    pub bitrate_kbps: u32,
    /// PCM frames of the output (what a gapless decoder returns).
    pub samples: u64,
    /// Audio frames after the Info frame.
    pub frames: u64,
    /// Bytes of the ID3v2 tag at the start (0 without one).
    pub id3_bytes: u64,
    /// Bytes of a frame without its padding slot.
    base: u64,
    /// `prefix[i]`: bytes of the first `i` frames of any segment.
    prefix: Vec<u64>,
}

impl Layout {
    /// The layout of `samples` PCM frames at `rate_hz` (an MPEG-1 rate)
    /// and `kbps` (an MPEG-1 Layer III bitrate of at least
    /// [`MIN_BITRATE_KBPS`]), after an ID3 tag of `id3_bytes`. `None` for
    /// other rates or bitrates, or more than [`MAX_SAMPLES`].
    ///
    /// The frame count mirrors `lame_encode_flush`: 576 samples of encoder
    /// delay, then end padding of 576 to 1727 samples to fill the last
    /// frame.
    pub fn new(
        samples: u64,
        rate_hz: u32,
        channels: usize,
        kbps: u32,
        id3_bytes: u64,
    ) -> Option<Layout> {
        if ![32_000, 44_100, 48_000].contains(&rate_hz)
            || !super::encoder::is_mpeg1_bitrate(kbps)
            || kbps < MIN_BITRATE_KBPS
            || samples > MAX_SAMPLES
        {
            return None;
        }
        let mut pad = SAMPLES_PER_FRAME - (samples + ENCODER_DELAY) % SAMPLES_PER_FRAME;
        if pad < 576 {
            pad += SAMPLES_PER_FRAME;
        }
        let frames = (samples + ENCODER_DELAY + pad) / SAMPLES_PER_FRAME;
        let sr = i64::from(rate_hz);
        let frac = (144_000 * i64::from(kbps)) % sr;
        let base = 144_000 * u64::from(kbps) / u64::from(rate_hz);
        // LAME's accumulator over one encoder's frames: pre-roll, segment.
        let mut slot_lag = frac;
        let mut prefix = Vec::with_capacity(SEGMENT_FRAMES as usize + 1);
        let mut total = 0;
        for j in 0..PRE_ROLL_FRAMES + SEGMENT_FRAMES {
            slot_lag -= frac;
            let mut len = base;
            if slot_lag < 0 {
                slot_lag += sr;
                len += 1;
            }
            if j >= PRE_ROLL_FRAMES {
                prefix.push(total);
                total += len;
            }
        }
        prefix.push(total);
        Some(Layout {
            rate_hz,
            channels: if channels == 1 { 1 } else { 2 },
            bitrate_kbps: kbps,
            samples,
            frames,
            id3_bytes,
            base,
            prefix,
        })
    }

    /// Bytes before the first audio frame: ID3 tag and Info frame.
    pub fn head_bytes(&self) -> u64 {
        self.id3_bytes + self.base
    }

    /// Bytes of the MPEG stream: the Info frame and every audio frame.
    pub fn stream_bytes(&self) -> u64 {
        self.frame_offset(self.frames) - self.id3_bytes
    }

    /// Bytes of the whole file.
    pub fn total_bytes(&self) -> u64 {
        self.frame_offset(self.frames)
    }

    /// Number of segments (the last may be shorter).
    pub fn segments(&self) -> u64 {
        self.frames.div_ceil(SEGMENT_FRAMES)
    }

    /// Byte offset in the file of audio frame `frame` (`frames` gives the
    /// end of the file).
    pub fn frame_offset(&self, frame: u64) -> u64 {
        let (k, i) = (frame / SEGMENT_FRAMES, frame % SEGMENT_FRAMES);
        self.head_bytes() + k * self.prefix[SEGMENT_FRAMES as usize] + self.prefix[i as usize]
    }

    /// Length in bytes of audio frame `frame`.
    pub fn frame_len(&self, frame: u64) -> u64 {
        let i = (frame % SEGMENT_FRAMES) as usize;
        self.prefix[i + 1] - self.prefix[i]
    }

    /// The audio frames of segment `k`.
    pub fn segment_frames(&self, k: u64) -> Range<u64> {
        (k * SEGMENT_FRAMES).min(self.frames)..((k + 1) * SEGMENT_FRAMES).min(self.frames)
    }

    /// The bytes of the file segment `k` fills.
    pub fn segment_bytes(&self, k: u64) -> Range<u64> {
        let f = self.segment_frames(k);
        self.frame_offset(f.start)..self.frame_offset(f.end)
    }

    /// The segment holding byte `offset` of the file; `None` for the head
    /// (ID3 tag and Info frame) and past the end.
    pub fn segment_at(&self, offset: u64) -> Option<u64> {
        if offset < self.head_bytes() || offset >= self.total_bytes() {
            return None;
        }
        let seg = self.prefix[SEGMENT_FRAMES as usize];
        Some((offset - self.head_bytes()) / seg)
    }

    /// The audio frame to start from to play from `seconds` into the
    /// track: a decoder started at frame `g` (no Info frame, so no delay
    /// trimmed) plays track sample `g × 1152 − 576 − 529` first (LAME's
    /// encoder delay, then the decoder's delay of 529 samples), so this is
    /// the last frame whose first sample is at or before that instant.
    pub fn frame_at_time(&self, seconds: f64) -> u64 {
        let sample = (seconds.max(0.0) * f64::from(self.rate_hz)) as u64;
        ((sample + ENCODER_DELAY + DECODER_DELAY) / SAMPLES_PER_FRAME)
            .min(self.frames.saturating_sub(1))
    }

    /// Samples of silence LAME appended after the track to fill its last
    /// frame (the Info tag's "encoder padding").
    pub fn end_padding(&self) -> u64 {
        self.frames * SAMPLES_PER_FRAME - ENCODER_DELAY - self.samples
    }

    /// The Info frame (Xing "Info" tag with LAME's extension, LAME
    /// technical spec "Mp3 Info Tag rev 1"): frame count, byte count, TOC,
    /// encoder delay and padding, so a gapless decoder returns exactly
    /// [`Layout::samples`]. `lowpass_hz` and `algorithm` are LAME's, for
    /// the record. The music CRC cannot be known before encoding and is 0;
    /// the tag's own CRC (CRC-16 of the bytes before it) is filled in.
    pub fn info_frame(&self, lowpass_hz: u32, algorithm: u8) -> Vec<u8> {
        let mut f = vec![0u8; self.base as usize];
        let br_index = [
            0u32, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ]
        .iter()
        .position(|&b| b == self.bitrate_kbps)
        .unwrap_or(9) as u8;
        let sr_index = match self.rate_hz {
            44_100 => 0,
            48_000 => 1,
            _ => 2,
        };
        let mono = self.channels == 1;
        f[0] = 0xFF;
        f[1] = 0xFB; // MPEG-1, Layer III, no CRC
        f[2] = (br_index << 4) | (sr_index << 2);
        // Mode (joint stereo with M/S as LAME sets it, or mono), "original".
        f[3] = if mono { 0xC4 } else { 0x64 };
        let side = if mono { 17 } else { 32 };
        let t = 4 + side;
        let put = |f: &mut [u8], at: usize, v: u32| f[at..at + 4].copy_from_slice(&v.to_be_bytes());
        f[t..t + 4].copy_from_slice(b"Info");
        put(&mut f, t + 4, 0x0F); // frames, bytes, TOC, quality
        let stream = self.stream_bytes();
        put(&mut f, t + 8, self.frames as u32);
        put(&mut f, t + 12, stream as u32);
        for i in 0..100u64 {
            let frame = i * self.frames / 100;
            let at = self.frame_offset(frame) - self.id3_bytes;
            f[t + 16 + i as usize] = (256 * at / stream.max(1)).min(255) as u8;
        }
        put(&mut f, t + 116, 100 - 10 * 4 - u32::from(algorithm.min(9)));
        let l = t + 120;
        f[l..l + 9].copy_from_slice(b"LAME3.100");
        f[l + 9] = 1; // tag revision 0, CBR
        f[l + 10] = ((lowpass_hz + 50) / 100).min(255) as u8;
        // Peak and ReplayGain are not measured: left 0.
        f[l + 19] = 4 | (1 << 4) | (1 << 5); // ATH type 4, nspsytune, safe joint
        f[l + 20] = self.bitrate_kbps.min(255) as u8;
        let (delay, padding) = (ENCODER_DELAY as u32, self.end_padding() as u32);
        f[l + 21] = (delay >> 4) as u8;
        f[l + 22] = (((delay & 0xF) << 4) | ((padding >> 8) & 0xF)) as u8;
        f[l + 23] = padding as u8;
        let source_rate = match self.rate_hz {
            32_000 => 0,
            44_100 => 1,
            _ => 2,
        };
        // Noise shaping 1, stereo mode, "unwise settings" (the reservoir is
        // off), source rate.
        f[l + 24] = 1 | (if mono { 0 } else { 3 } << 2) | (1 << 5) | (source_rate << 6);
        // Preset: LAME records the bitrate of a CBR encode.
        f[l + 26..l + 28].copy_from_slice(&(self.bitrate_kbps as u16).to_be_bytes());
        put(&mut f, l + 28, stream as u32);
        // l + 32: music CRC, unknown before encoding: 0.
        let crc = crc16(&f[..l + 34]);
        f[l + 34..l + 36].copy_from_slice(&crc.to_be_bytes());
        f
    }
}

impl Layout {
    /// The layout of a file this module laid out, read back from its
    /// first bytes: `head` holds at least the ID3 tag and the Info frame,
    /// `file_len` is the file's length. `None` when `head` is not such a
    /// file's start or the layout it names does not end at `file_len`.
    pub fn of_file(head: &[u8], file_len: u64) -> Option<Layout> {
        let id3 = crate::mp3::id3v2_len(head);
        let at = usize::try_from(id3).ok()?;
        let h = crate::mp3::parse_header(head.get(at..at + 4)?.try_into().ok()?)?;
        let t = at + 4 + h.side_info_bytes();
        if head.get(t..t + 4)? != b"Info" {
            return None;
        }
        let be = |i: usize| -> Option<u32> {
            Some(u32::from_be_bytes(head.get(i..i + 4)?.try_into().ok()?))
        };
        let frames = u64::from(be(t + 8)?);
        let l = t + 120;
        let dp = head.get(l + 21..l + 24)?;
        let delay = (u64::from(dp[0]) << 4) | u64::from(dp[1] >> 4);
        let padding = (u64::from(dp[1] & 0xF) << 8) | u64::from(dp[2]);
        let samples = (frames * SAMPLES_PER_FRAME).checked_sub(delay + padding)?;
        let channels = if h.is_mono() { 1 } else { 2 };
        let layout = Layout::new(samples, h.sample_rate_hz, channels, h.bitrate_kbps, id3)?;
        (layout.frames == frames && layout.total_bytes() == file_len).then_some(layout)
    }
}

/// CRC-16 as the LAME tag uses it (polynomial 0x8005, reflected, initial
/// value 0: CRC-16/ARC).
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_add_up_and_segments_tile_the_file() {
        for (rate, kbps) in [(44_100, 128), (44_100, 192), (48_000, 256), (32_000, 128)] {
            let l = Layout::new(rate as u64 * 61 + 17, rate, 2, kbps, 1000).unwrap();
            let mut at = l.head_bytes();
            for g in 0..l.frames {
                assert_eq!(l.frame_offset(g), at);
                at += l.frame_len(g);
            }
            assert_eq!(at, l.total_bytes());
            let mut end = l.head_bytes();
            for k in 0..l.segments() {
                let r = l.segment_bytes(k);
                assert_eq!(r.start, end);
                assert_eq!(l.segment_at(r.start), Some(k));
                assert_eq!(l.segment_at(r.end - 1), Some(k));
                end = r.end;
            }
            assert_eq!(end, l.total_bytes());
            assert_eq!(l.segment_at(l.head_bytes() - 1), None);
            assert_eq!(l.segment_at(l.total_bytes()), None);
        }
    }

    #[test]
    fn the_crc_is_crc16_arc() {
        // The check value of CRC-16/ARC.
        assert_eq!(crc16(b"123456789"), 0xBB3D);
    }
}
