//! A minimal FLAC writer: 16-bit PCM in VERBATIM subframes, with a
//! VORBIS_COMMENT block for the tags.
//!
//! The demo library needs a few seconds of FLAC, and no FLAC encoder crate
//! fits: the pure-Rust one (flacenc) is 9 500 lines of LPC search and Rice
//! coding and writes no Vorbis comments, and libFLAC is C to build for
//! every target. A stream whose subframes store the samples as they are is
//! valid FLAC that every decoder plays; it is as large as the PCM, which for
//! a few seconds of demo does not matter. With 16-bit samples every field
//! of a verbatim frame ends on a byte boundary, so no bit writer is needed.
//!
//! The format is RFC 9639 (Free Lossless Audio Codec): the `fLaC` marker and
//! metadata blocks (§8.1 header, §8.2 STREAMINFO, §8.6 Vorbis comment),
//! then frames (§9.1 header with the coded frame number of §9.1.5 and the
//! CRC-8 of §9.1.8, one §9.2.4 verbatim subframe per channel, the CRC-16
//! footer of §9.3).

use md5::{Digest, Md5};

/// Samples per channel in every frame but the last (RFC 9639 §9.1.1:
/// block size bits 0b1100 = 2^12).
const BLOCK_SIZE: usize = 4096;
const BLOCK_SIZE_BITS: u8 = 0b1100;
/// Block size bits for "block size minus 1 follows as 16 bits" (§9.1.1).
const UNCOMMON_BLOCK_SIZE_16_BITS: u8 = 0b0111;
/// Bit depth bits for 16 bits per sample (§9.1.4).
const BIT_DEPTH_16_BITS: u8 = 0b100;
/// Subframe type VERBATIM, wasted-bits flag 0 (§9.2.1).
const VERBATIM_SUBFRAME_HEADER: u8 = 0b0000_0010;
const STREAMINFO: u8 = 0;
const VORBIS_COMMENT: u8 = 4;

/// Encodes interleaved 16-bit `samples` (`channels` of them per frame, 1 to
/// 8) at `sample_rate_hz` as a FLAC file whose Vorbis comments are
/// `comments` (`("TITLE", "…")`, …), tagged by `vendor`.
///
/// # Panics
///
/// If `channels` is not 1 to 8, `samples` is not a whole number of frames
/// or `sample_rate_hz` does not fit 20 bits: the callers pass constants.
pub fn encode(
    samples: &[i16],
    channels: usize,
    sample_rate_hz: u32,
    vendor: &str,
    comments: &[(&str, &str)],
) -> Vec<u8> {
    assert!((1..=8).contains(&channels) && samples.len().is_multiple_of(channels));
    assert!(sample_rate_hz > 0 && sample_rate_hz < 1 << 20);
    let total_frames = samples.len() / channels;
    let comments = vorbis_comment(vendor, comments);
    let frame_count = total_frames.div_ceil(BLOCK_SIZE);
    // Frames are written straight after the metadata, into the one buffer;
    // STREAMINFO's frame sizes and MD5 are filled in at the end.
    let mut out = Vec::with_capacity(
        4 + 4 + 34 + 4 + comments.len() + samples.len() * 2 + frame_count * (16 + channels),
    );
    out.extend_from_slice(b"fLaC");
    metadata_block(&mut out, STREAMINFO, false, &[0; 34]);
    let info_at = out.len() - 34;
    metadata_block(&mut out, VORBIS_COMMENT, true, &comments);

    let mut md5 = Md5::new();
    let mut le_bytes = Vec::with_capacity(BLOCK_SIZE * channels * 2);
    let (mut min_frame_bytes, mut max_frame_bytes) = (usize::MAX, 0);
    for (number, block) in samples.chunks(BLOCK_SIZE * channels).enumerate() {
        let start = out.len();
        write_frame(&mut out, number as u32, block, channels, sample_rate_hz);
        let len = out.len() - start;
        min_frame_bytes = min_frame_bytes.min(len);
        max_frame_bytes = max_frame_bytes.max(len);
        // §8.2: the MD5 is of the samples interleaved, little-endian.
        le_bytes.clear();
        le_bytes.extend(block.iter().flat_map(|s| s.to_le_bytes()));
        md5.update(&le_bytes);
    }
    if total_frames == 0 {
        min_frame_bytes = 0;
    }

    let mut info = Vec::with_capacity(34);
    info.extend_from_slice(&(BLOCK_SIZE as u16).to_be_bytes());
    info.extend_from_slice(&(BLOCK_SIZE as u16).to_be_bytes());
    info.extend_from_slice(&be24(min_frame_bytes));
    info.extend_from_slice(&be24(max_frame_bytes));
    // 20 bits of rate, 3 of channels - 1, 5 of bits per sample - 1, 36 of
    // total samples: 64 bits together.
    let packed = (u64::from(sample_rate_hz) << 44)
        | ((channels as u64 - 1) << 41)
        | ((16 - 1) << 36)
        | (total_frames as u64 & ((1 << 36) - 1));
    info.extend_from_slice(&packed.to_be_bytes());
    info.extend_from_slice(&md5.finalize());
    out[info_at..info_at + 34].copy_from_slice(&info);
    out
}

/// §8.1: last-block flag, 7-bit type, 24-bit length, then the block.
fn metadata_block(out: &mut Vec<u8>, kind: u8, last: bool, body: &[u8]) {
    out.push((u8::from(last) << 7) | kind);
    out.extend_from_slice(&be24(body.len()));
    out.extend_from_slice(body);
}

/// §8.6: lengths little-endian, unlike the rest of FLAC.
fn vorbis_comment(vendor: &str, comments: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    out.extend_from_slice(vendor.as_bytes());
    out.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for (name, value) in comments {
        let field = format!("{name}={value}");
        out.extend_from_slice(&(field.len() as u32).to_le_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// One frame of `block` (interleaved, at most [`BLOCK_SIZE`] per channel).
fn write_frame(out: &mut Vec<u8>, number: u32, block: &[i16], channels: usize, rate_hz: u32) {
    let start = out.len();
    let block_frames = block.len() / channels;
    let full = block_frames == BLOCK_SIZE;
    // Sync code and blocking strategy 0 (fixed block size): 0xFFF8.
    out.extend_from_slice(&[0xFF, 0xF8]);
    let size_bits = if full {
        BLOCK_SIZE_BITS
    } else {
        UNCOMMON_BLOCK_SIZE_16_BITS
    };
    out.push((size_bits << 4) | sample_rate_bits(rate_hz));
    // Channels bits: n - 1 means n independent channels (§9.1.3).
    out.push(((channels as u8 - 1) << 4) | (BIT_DEPTH_16_BITS << 1));
    coded_number(out, number);
    if !full {
        out.extend_from_slice(&((block_frames - 1) as u16).to_be_bytes());
    }
    let crc = crc8(&out[start..]);
    out.push(crc);
    for channel in 0..channels {
        out.push(VERBATIM_SUBFRAME_HEADER);
        for frame in block.chunks_exact(channels) {
            out.extend_from_slice(&frame[channel].to_be_bytes());
        }
    }
    let crc = crc16(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// §9.1.2; 0 means "only in STREAMINFO", which is what any other rate
/// gets here.
fn sample_rate_bits(rate_hz: u32) -> u8 {
    match rate_hz {
        88_200 => 0b0001,
        176_400 => 0b0010,
        192_000 => 0b0011,
        8_000 => 0b0100,
        16_000 => 0b0101,
        22_050 => 0b0110,
        24_000 => 0b0111,
        32_000 => 0b1000,
        44_100 => 0b1001,
        48_000 => 0b1010,
        96_000 => 0b1011,
        _ => 0,
    }
}

/// §9.1.5: the frame number in UTF-8's variable-length code (a frame
/// number has at most 31 bits, six bytes).
fn coded_number(out: &mut Vec<u8>, n: u32) {
    if n < 0x80 {
        out.push(n as u8);
        return;
    }
    // Bytes after the first, and how many payload bits the first keeps.
    let continuation = match n {
        0..0x800 => 1,
        0x800..0x1_0000 => 2,
        0x1_0000..0x20_0000 => 3,
        0x20_0000..0x400_0000 => 4,
        _ => 5,
    };
    let lead_marker = !(0xFFu8 >> (continuation + 1));
    out.push(lead_marker | (n >> (6 * continuation)) as u8);
    for i in (0..continuation).rev() {
        out.push(0x80 | ((n >> (6 * i)) & 0x3F) as u8);
    }
}

fn be24(n: usize) -> [u8; 3] {
    let [_, a, b, c] = (n.min(0xFF_FFFF) as u32).to_be_bytes();
    [a, b, c]
}

/// CRC-8, polynomial x^8 + x^2 + x + 1, initial 0 (§9.1.8).
fn crc8(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |crc, &b| CRC8[usize::from(crc ^ b)])
}

/// CRC-16, polynomial x^16 + x^15 + x^2 + 1, initial 0 (§9.3).
fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0, |crc, &b| {
        (crc << 8) ^ CRC16[usize::from((crc >> 8) as u8 ^ b)]
    })
}

const CRC8: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u8;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x80 != 0 {
                (c << 1) ^ 0x07
            } else {
                c << 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

const CRC16: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x8005
            } else {
                c << 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crcs_match_their_catalogued_check_values() {
        // CRC-8/SMBUS and CRC-16/UMTS (the same parameters as FLAC's), on
        // the usual "123456789".
        assert_eq!(crc8(b"123456789"), 0xF4);
        assert_eq!(crc16(b"123456789"), 0xFEE8);
    }

    #[test]
    fn coded_numbers_follow_the_utf8_table() {
        for (n, bytes) in [
            (0u32, &[0x00][..]),
            (0x7F, &[0x7F]),
            (0x80, &[0xC2, 0x80]),
            (0x7FF, &[0xDF, 0xBF]),
            (0x800, &[0xE0, 0xA0, 0x80]),
            (0xFFFF, &[0xEF, 0xBF, 0xBF]),
            (0x1_0000, &[0xF0, 0x90, 0x80, 0x80]),
            (0x7FFF_FFFF, &[0xFD, 0xBF, 0xBF, 0xBF, 0xBF, 0xBF]),
        ] {
            let mut out = Vec::new();
            coded_number(&mut out, n);
            assert_eq!(out, bytes, "{n:#x}");
        }
        // Where a UTF-8 encoder agrees (up to U+FFFF), it is the same code.
        for c in ['\u{80}', '\u{7FF}', '\u{800}', '\u{D7FF}'] {
            let mut out = Vec::new();
            coded_number(&mut out, c as u32);
            assert_eq!(out, c.to_string().as_bytes());
        }
    }

    #[test]
    fn a_frame_header_is_the_documented_bytes() {
        // Frame 0 of a full 44.1 kHz stereo block: FFF8, block 4096 and
        // 44.1 kHz, two channels at 16 bits, frame number 0, CRC-8.
        let block = vec![0i16; BLOCK_SIZE * 2];
        let mut out = Vec::new();
        write_frame(&mut out, 0, &block, 2, 44_100);
        assert_eq!(&out[..5], &[0xFF, 0xF8, 0xC9, 0x18, 0x00]);
        assert_eq!(out[5], crc8(&out[..5]));
        assert_eq!(out.len(), 6 + 2 * (1 + 2 * BLOCK_SIZE) + 2);
        assert_eq!(crc16(&out), 0, "a frame with its CRC-16 checks to 0");
    }

    #[test]
    fn streaminfo_describes_the_stream() {
        let samples: Vec<i16> = (0..(BLOCK_SIZE * 2 + 100) * 2)
            .map(|i| (i as i16).wrapping_mul(7))
            .collect();
        let flac = encode(&samples, 2, 48_000, "v", &[]);
        assert_eq!(&flac[..4], b"fLaC");
        // Block header: not last, STREAMINFO, 34 bytes.
        assert_eq!(&flac[4..8], &[0, 0, 0, 34]);
        let info = &flac[8..42];
        assert_eq!(&info[..4], &[0x10, 0x00, 0x10, 0x00]);
        let packed = u64::from_be_bytes(info[10..18].try_into().unwrap());
        assert_eq!(packed >> 44, 48_000);
        assert_eq!((packed >> 41) & 7, 1);
        assert_eq!((packed >> 36) & 31, 15);
        assert_eq!(packed & ((1 << 36) - 1), (BLOCK_SIZE * 2 + 100) as u64);
        let le: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(info[18..], Md5::digest(&le)[..]);
    }

    #[test]
    fn vorbis_comment_lengths_are_little_endian() {
        let block = vorbis_comment("ab", &[("TITLE", "x")]);
        assert_eq!(
            block,
            [
                &[2, 0, 0, 0][..],
                b"ab",
                &[1, 0, 0, 0],
                &[7, 0, 0, 0],
                b"TITLE=x"
            ]
            .concat()
        );
    }
}
