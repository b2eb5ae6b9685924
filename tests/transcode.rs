//! The transcoder on fixtures generated here: the MP3 it writes is decoded
//! back with symphonia to check sample rate, channels and exact length.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use tapedeck::transcode::{Options, TranscodeError, transcode};

const MEDIUM: Options = Options {
    bitrate_kbps: 192,
    encoder_quality: 3,
};

/// Writes a 16-bit PCM WAV of `frames` frames: a 440 Hz tone per channel.
fn write_wav(path: &Path, rate: u32, channels: u16, frames: u32) {
    let block = u32::from(channels) * 2;
    let data_len = frames * block;
    let mut f = File::create(path).unwrap();
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * block).to_le_bytes());
    h.extend_from_slice(&(block as u16).to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let t = i as f32 / rate as f32;
        let s = ((t * 440.0 * std::f32::consts::TAU).sin() * 12000.0) as i16;
        for _ in 0..channels {
            h.extend_from_slice(&s.to_le_bytes());
        }
    }
    f.write_all(&h).unwrap();
}

/// Decodes an MP3 with symphonia (gapless on): (sample rate, channels, frames).
fn decode_mp3(path: &Path) -> (u32, usize, u64) {
    let mut d = tapedeck::transcode::open(path, "out.mp3").unwrap();
    let (mut rate, mut channels, mut frames) = (0, 0, 0u64);
    while let Some(p) = d.format.next_packet().unwrap() {
        let buf = d.decoder.decode(&p).unwrap();
        rate = buf.spec().rate();
        channels = buf.spec().channels().count();
        frames += buf.frames() as u64;
    }
    (rate, channels, frames)
}

fn roundtrip(rate: u32, channels: u16, frames: u32) -> (u32, usize, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    let mp3 = dir.path().join("out.mp3");
    write_wav(&wav, rate, channels, frames);
    let mut out = File::create(&mp3).unwrap();
    let report = transcode(&wav, "in.wav", &mut out, &MEDIUM, |_, _| {}).unwrap();
    drop(out);
    assert_eq!(report.frames, u64::from(frames));
    assert_eq!(report.bytes, std::fs::metadata(&mp3).unwrap().len());
    let (r, c, f) = decode_mp3(&mp3);
    (r, c, f, report.bytes)
}

#[test]
fn stereo_wav_keeps_rate_channels_and_exact_length() {
    let (rate, channels, frames, bytes) = roundtrip(44_100, 2, 44_100 * 3 + 123);
    assert_eq!((rate, channels), (44_100, 2));
    assert_eq!(frames, 44_100 * 3 + 123, "gapless length from the Info tag");
    // CBR 192 kbit/s for ~3 s: about 72 KB.
    let expected = 192_000 / 8 * 3;
    assert!(
        (bytes as i64 - expected as i64).abs() < 4000,
        "{bytes} bytes"
    );
}

#[test]
fn mono_stays_mono() {
    let (rate, channels, frames, _) = roundtrip(48_000, 1, 48_000);
    assert_eq!((rate, channels, frames), (48_000, 1, 48_000));
}

#[test]
fn garbage_and_empty_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.flac");
    std::fs::write(&empty, b"").unwrap();
    let garbage = dir.path().join("garbage.flac");
    std::fs::write(&garbage, vec![0x5a; 10_000]).unwrap();
    for (p, name) in [(&empty, "empty.flac"), (&garbage, "garbage.flac")] {
        let mut out = std::io::Cursor::new(Vec::new());
        let err = transcode(p, name, &mut out, &MEDIUM, |_, _| {}).unwrap_err();
        assert!(
            matches!(
                err,
                TranscodeError::Corrupt { .. } | TranscodeError::Unsupported { .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
}
