//! What the demo library is made of: a strummed chord as 16-bit PCM, a WAV
//! file around it with RIFF INFO tags, and a cover picture. All of it is
//! computed, deterministically, so a library made again by the same build
//! is byte for byte the one before, and nothing is shipped in the binary.

use std::f64::consts::TAU;

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};

pub const SAMPLE_RATE_HZ: u32 = 44_100;
/// Stereo: the notes of a chord are spread from left to right.
pub const CHANNELS: usize = 2;

/// Seconds between the onsets of a chord's notes (a slow strum).
const STRUM_S: f64 = 0.12;
/// Fade-out at the end, so the last sample is silence and nothing clicks.
const RELEASE_S: f64 = 0.4;
const ATTACK_S: f64 = 0.015;
/// Time constant of each note's decay.
const DECAY_S: f64 = 1.8;
/// Peak of one note; three together stay well below full scale.
const NOTE_AMPLITUDE: f64 = 0.16;

/// `seconds` of the chord `notes_hz` (fundamentals), interleaved stereo
/// 16-bit PCM at [`SAMPLE_RATE_HZ`]: each note a soft tone (a sine and
/// two quiet overtones) that starts a little after the one before, swells
/// in, decays and fades out.
pub fn chord(notes_hz: &[f64], seconds: f64) -> Vec<i16> {
    let rate = f64::from(SAMPLE_RATE_HZ);
    let frames = (seconds * rate).round() as usize;
    let spread = notes_hz.len().saturating_sub(1).max(1) as f64;
    // Equal-power pan from 30% left to 30% right, and the onset of each.
    let notes: Vec<(f64, f64, f64, f64)> = notes_hz
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let pan = (0.2 + 0.6 * (i as f64 / spread)) * TAU / 4.0;
            (f, pan.cos(), pan.sin(), i as f64 * STRUM_S)
        })
        .collect();
    let mut out = Vec::with_capacity(frames * CHANNELS);
    for n in 0..frames {
        let now = n as f64 / rate;
        let (mut left, mut right) = (0.0, 0.0);
        for &(f, to_left, to_right, onset) in &notes {
            let t = now - onset;
            if t < 0.0 {
                continue;
            }
            let tone = (TAU * f * t).sin()
                + 0.3 * (TAU * 2.0 * f * t).sin()
                + 0.1 * (TAU * 3.0 * f * t).sin();
            let v = NOTE_AMPLITUDE * tone * envelope(t, seconds - now);
            left += v * to_left;
            right += v * to_right;
        }
        out.extend([left, right].map(|v| (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16));
    }
    out
}

/// Gain `t` seconds into a note, `left` seconds before the track ends.
fn envelope(t: f64, left: f64) -> f64 {
    let attack = (t / ATTACK_S).min(1.0);
    let release = (left / RELEASE_S).clamp(0.0, 1.0);
    attack * (-t / DECAY_S).exp() * release * release
}

/// A WAV file (RIFF, `WAVE`): a PCM `fmt ` chunk, a `LIST`/`INFO` chunk of
/// `info` (`(b"INAM", title)`, …) and the `data` chunk of interleaved
/// 16-bit `samples`. RIFF's layout is Microsoft's Multimedia Programming
/// Interface and Data Specifications 1.0; INFO values are NUL-terminated
/// and every chunk is padded to an even length.
pub fn wav(samples: &[i16], channels: u16, rate_hz: u32, info: &[(&[u8; 4], &str)]) -> Vec<u8> {
    let mut list = b"INFO".to_vec();
    for (id, value) in info {
        let mut text = value.as_bytes().to_vec();
        text.push(0);
        chunk(&mut list, id, &text);
    }
    let block_align = channels * 2;
    let data_bytes = samples.len() * 2;
    let riff_bytes = 4 + (8 + 16) + (8 + list.len() + list.len() % 2) + 8 + data_bytes;
    // One buffer, written in order: the sizes are all known up front.
    let mut out = Vec::with_capacity(8 + riff_bytes + 1);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(riff_bytes as u32).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate_hz.to_le_bytes());
    out.extend_from_slice(&(rate_hz * u32::from(block_align)).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    chunk(&mut out, b"LIST", &list);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_bytes as u32).to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

fn chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
}

/// Side of the cover picture, in pixels.
const COVER_SIDE: u32 = 240;

/// The album's cover, a JPEG: a cassette on the player's accent colour.
/// (JPEG because the Subsonic covers are already scaled to JPEG: the
/// encoder is in the binary anyway.)
///
/// Errors: the encoder's message (not expected: the picture is made here).
pub fn cover_jpeg() -> Result<Vec<u8>, String> {
    let side = COVER_SIDE as f64;
    let picture = RgbImage::from_fn(COVER_SIDE, COVER_SIDE, |x, y| {
        let (x, y) = (f64::from(x) / side, f64::from(y) / side);
        let background = mix([200, 100, 28], [120, 52, 20], (x + y) / 2.0);
        let in_box = |x0: f64, y0: f64, x1: f64, y1: f64| x > x0 && x < x1 && y > y0 && y < y1;
        let reel = |cx: f64| ((x - cx).powi(2) + (y - 0.47).powi(2)).sqrt();
        let colour = if in_box(0.1, 0.22, 0.9, 0.78) {
            let (left, right) = (reel(0.33), reel(0.67));
            if left.min(right) < 0.035 {
                [246, 244, 240]
            } else if left.min(right) < 0.09 {
                [40, 38, 42]
            } else if in_box(0.22, 0.36, 0.78, 0.58) {
                [90, 86, 92]
            } else if in_box(0.15, 0.27, 0.85, 0.31) {
                [240, 160, 80]
            } else {
                [236, 235, 232]
            }
        } else {
            background
        };
        Rgb(colour)
    });
    let mut out = Vec::new();
    picture
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 85))
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn mix(a: [u8; 3], b: [u8; 3], t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    [0, 1, 2].map(|i| (f64::from(a[i]) * (1.0 - t) + f64::from(b[i]) * t).round() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chord_is_audible_and_ends_in_silence() {
        let pcm = chord(&[261.63, 329.63, 392.0], 2.0);
        assert_eq!(pcm.len(), 2 * 44_100 * CHANNELS);
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak > 8_000 && peak < 30_000, "peak {peak}");
        assert!(pcm[pcm.len() - 4..].iter().all(|&s| s.abs() < 4));
        // Both channels carry sound, and not the same sound.
        let (l, r): (Vec<i16>, Vec<i16>) = pcm.chunks(2).map(|f| (f[0], f[1])).unzip();
        assert_ne!(l, r);
    }

    #[test]
    fn wav_chunks_are_sized_and_padded() {
        let bytes = wav(&[1, -1, 2, -2], 2, 44_100, &[(b"INAM", "ab")]);
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize,
            bytes.len() - 8
        );
        // "ab\0" is padded to four bytes.
        let list = bytes.windows(4).position(|w| w == b"INAM").unwrap();
        assert_eq!(&bytes[list + 4..list + 12], &[3, 0, 0, 0, b'a', b'b', 0, 0]);
    }

    #[test]
    fn the_cover_is_a_small_jpeg() {
        let jpeg = cover_jpeg().unwrap();
        assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF]);
        assert!(jpeg.len() < 32 * 1024, "{} bytes", jpeg.len());
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (COVER_SIDE, COVER_SIDE));
    }
}
