//! The transcoder on every input kind a library holds. Fixtures are either
//! committed (`tests/fixtures/`, made by `tests/fixtures/make.sh` with
//! ffmpeg and metaflac) or written here (the WAV and AIFF variants). Each
//! MP3 is decoded back with symphonia to check rate, channels and exact
//! length, and its frame headers are walked to check the bitrate is
//! constant. Properties are asserted, never bytes: LAME's output differs
//! between x86 and ARM.

use crate::common;

use std::fs::{self, File};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use common::{WavFormat, decode_bytes, decode_file, write_music_wav, write_wav_as};
use tapedeck::transcode::tags::CoverSource;
use tapedeck::transcode::{Options, Report, TranscodeError, plan, transcode};

const MEDIUM: Options = Options {
    bitrate_kbps: 192,
    lame_algorithm: 3,
    max_art_bytes: Options::DEFAULT_MAX_ART_BYTES,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Writes a big-endian AIFF (or AIFF-C with compression type `NONE`) of
/// `bits`-bit stereo samples.
fn write_aiff(path: &Path, aifc: bool, bits: u16, rate: u32, frames: u32) {
    let mut data = Vec::new();
    for i in 0..frames {
        for c in 0..2u32 {
            let t = f64::from(i) / f64::from(rate);
            let s = 0.5 * (t * f64::from(440 + 220 * c) * std::f64::consts::TAU).sin();
            let v = (s * f64::from((1u32 << (bits - 1)) - 1)) as i32;
            data.extend_from_slice(&v.to_be_bytes()[4 - usize::from(bits / 8)..]);
        }
    }
    let mut comm = Vec::new();
    comm.extend_from_slice(&2u16.to_be_bytes());
    comm.extend_from_slice(&frames.to_be_bytes());
    comm.extend_from_slice(&bits.to_be_bytes());
    // The rate as an 80-bit IEEE 754 extended float.
    let exp = 31 - rate.leading_zeros();
    comm.extend_from_slice(&(16383 + exp as u16).to_be_bytes());
    comm.extend_from_slice(&((u64::from(rate)) << (63 - exp)).to_be_bytes());
    if aifc {
        comm.extend_from_slice(b"NONE");
        comm.extend_from_slice(b"\x0enot compressed\x00");
    }
    let mut body = Vec::new();
    body.extend_from_slice(if aifc { b"AIFC" } else { b"AIFF" });
    if aifc {
        body.extend_from_slice(b"FVER");
        body.extend_from_slice(&4u32.to_be_bytes());
        body.extend_from_slice(&0xA280_5140u32.to_be_bytes());
    }
    body.extend_from_slice(b"COMM");
    body.extend_from_slice(&(comm.len() as u32).to_be_bytes());
    body.extend_from_slice(&comm);
    body.extend_from_slice(b"SSND");
    body.extend_from_slice(&((8 + data.len()) as u32).to_be_bytes());
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(&data);
    let mut out = b"FORM".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    fs::write(path, out).unwrap();
}

/// What the MPEG frame headers of an MP3 say (ISO 11172-3 §2.4.2.3).
#[derive(Debug)]
struct Frames {
    /// Frames including the Info frame.
    count: u64,
    /// Every bitrate seen, kbit/s.
    bitrates_kbps: Vec<u32>,
    sample_rate_hz: u32,
    /// Channel mode bits: 0 stereo, 1 joint stereo, 3 mono.
    modes: Vec<u8>,
    /// Whether the first frame is a LAME "Info" (CBR) tag frame.
    info_tag: bool,
}

fn walk_frames(mp3: &[u8]) -> Frames {
    let frames: Vec<tapedeck::mp3::Frame> = tapedeck::mp3::frames(mp3)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not a clean MP3 stream: {e}"));
    let first = frames.first().expect("at least one frame");
    let tag_at = first.offset as usize + 4 + first.header.side_info_bytes();
    Frames {
        count: frames.len() as u64,
        bitrates_kbps: frames.iter().map(|f| f.header.bitrate_kbps).collect(),
        sample_rate_hz: first.header.sample_rate_hz,
        modes: frames.iter().map(|f| f.header.mode).collect(),
        info_tag: mp3.get(tag_at..tag_at + 4) == Some(b"Info"),
    }
}

struct Outcome {
    report: Report,
    bytes: Vec<u8>,
    decoded: (u32, usize, u64),
    frames: Frames,
    _dir: tempfile::TempDir,
}

fn run(input: &Path, opts: &Options) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.mp3");
    let mut out = File::create(&out_path).unwrap();
    let name = input.file_name().unwrap().to_string_lossy().into_owned();
    let report = transcode(input, &name, &mut out, opts, |_, _| {}).unwrap();
    drop(out);
    let bytes = fs::read(&out_path).unwrap();
    assert_eq!(report.bytes, bytes.len() as u64);
    Outcome {
        report,
        decoded: decode_file(&out_path),
        frames: walk_frames(&bytes),
        bytes,
        _dir: dir,
    }
}

/// Transcodes `input` at medium and checks everything that must hold for
/// any input: CBR frames at 192 kbit/s behind an Info tag, the expected
/// output rate and channels, and a gapless length equal to the source's
/// (scaled by the rate change) to the frame.
fn check(input: &Path, out_rate: u32, out_channels: usize) -> Outcome {
    let (src_rate, src_channels, src_frames) = decode_file(input);
    let predicted = plan(input, "x", &MEDIUM).unwrap().0.total_bytes();
    let o = run(input, &MEDIUM);
    assert_eq!(predicted, o.report.bytes, "predicted size of {input:?}");
    let r = &o.report;
    assert_eq!(
        (r.sample_rate_hz, r.source_channels),
        (src_rate, src_channels)
    );
    // The header's length; for AAC in MP4 the container's count of
    // playable frames is a few hundred below what symphonia decodes.
    let slack = if input.ends_with("aac.m4a") { 1024 } else { 0 };
    assert!(
        r.frames.abs_diff(src_frames) <= slack,
        "source frames {} of {src_frames}",
        r.frames
    );
    let src_frames = r.frames;
    assert_eq!(r.output_sample_rate_hz, out_rate);
    let want = (src_frames * u64::from(out_rate)).div_ceil(u64::from(src_rate));
    assert_eq!(r.output_frames, want, "frames handed to LAME");
    assert_eq!(o.decoded, (out_rate, out_channels, want), "decoded MP3");
    assert!(o.frames.info_tag, "first frame is the LAME Info tag");
    assert!(o.frames.bitrates_kbps.iter().all(|&b| b == 192), "CBR 192");
    assert_eq!(o.frames.sample_rate_hz, out_rate);
    let mode = if out_channels == 1 { 3 } else { 1 };
    assert!(
        o.frames.modes.iter().all(|&m| m == mode),
        "{:?}",
        o.frames.modes
    );
    // The audio frames hold the encoder delay (576), the source, and
    // LAME's end padding of 576 to 1727 samples.
    let raw = (o.frames.count - 1) * 1152;
    assert!(
        (want + 1152..=want + 2303).contains(&raw),
        "{raw} raw frames for {want}"
    );
    o
}

#[test]
fn flac_16_bit_44k_stereo_is_exact_joint_stereo() {
    check(&fixture("flac16_44k.flac"), 44100, 2);
}

#[test]
fn flac_24_bit_96k_is_resampled_to_48k() {
    check(&fixture("flac24_96k.flac"), 48000, 2);
}

#[test]
fn flac_24_bit_192k_is_resampled_to_48k() {
    check(&fixture("flac24_192k.flac"), 48000, 2);
}

#[test]
fn flac_88k_is_resampled_to_44k() {
    check(&fixture("flac16_88k.flac"), 44100, 2);
}

#[test]
fn mono_stays_mono() {
    check(&fixture("flac16_48k_mono.flac"), 48000, 1);
}

#[test]
fn surround_5_1_is_downmixed_to_stereo() {
    let o = check(&fixture("flac16_48k_5.1.flac"), 48000, 2);
    assert_eq!(o.report.source_channels, 6);
}

#[test]
fn every_wav_sample_format_transcodes() {
    let dir = tempfile::tempdir().unwrap();
    for (fmt, extensible, channels) in [
        (WavFormat::Unsigned8, false, 2),
        (WavFormat::Int(16), false, 2),
        (WavFormat::Int(24), false, 2),
        (WavFormat::Int(32), false, 2),
        (WavFormat::Float32, false, 2),
        (WavFormat::Int(24), true, 2),
        (WavFormat::Float32, true, 2),
        (WavFormat::Int(16), true, 6),
    ] {
        let path = dir
            .path()
            .join(format!("{fmt:?}-{extensible}-{channels}.wav"));
        write_wav_as(&path, fmt, extensible, 44100, channels, 11025 + 17, 440.0);
        let o = check(&path, 44100, 2);
        assert_eq!(
            o.report.frames,
            11025 + 17,
            "{fmt:?} extensible={extensible}"
        );
    }
}

#[test]
fn odd_wav_rate_is_resampled_to_48k() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("50k.wav");
    write_wav_as(&path, WavFormat::Int(16), false, 50000, 2, 12345, 440.0);
    check(&path, 48000, 2);
}

#[test]
fn aiff_and_aiff_c_big_endian_transcode() {
    let dir = tempfile::tempdir().unwrap();
    for (aifc, bits) in [(false, 16), (false, 24), (true, 24)] {
        let path = dir.path().join(format!("t-{aifc}-{bits}.aif"));
        write_aiff(&path, aifc, bits, 44100, 8000);
        let o = check(&path, 44100, 2);
        assert_eq!(o.report.frames, 8000);
    }
}

#[test]
fn alac_in_m4a_transcodes() {
    check(&fixture("alac.m4a"), 44100, 2);
}

#[test]
fn vorbis_in_ogg_transcodes() {
    check(&fixture("vorbis.ogg"), 44100, 2);
}

#[test]
fn mp3_is_reencoded_at_a_lower_bitrate() {
    check(&fixture("mp3_320k.mp3"), 44100, 2);
}

#[test]
fn aac_in_m4a_transcodes() {
    // symphonia 0.6 does not apply the MP4 edit list, so the AAC encoder's
    // priming samples (1024 here) stay in the source's decoded length;
    // the MP3 matches that length exactly.
    check(&fixture("aac.m4a"), 44100, 2);
}

#[test]
fn each_quality_level_is_cbr_at_its_bitrate() {
    for kbps in [128, 192, 256] {
        let opts = Options {
            bitrate_kbps: kbps,
            ..MEDIUM
        };
        let o = run(&fixture("flac16_44k.flac"), &opts);
        assert!(
            o.frames.bitrates_kbps.iter().all(|&b| b == kbps),
            "{kbps}: {:?}",
            o.frames.bitrates_kbps
        );
    }
}

#[test]
fn opus_is_unsupported_so_the_original_can_be_served() {
    let mut out = Cursor::new(Vec::new());
    let err = transcode(
        &fixture("opus.opus"),
        "a/opus.opus",
        &mut out,
        &MEDIUM,
        |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, TranscodeError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("a/opus.opus"), "{err}");
}

#[test]
fn tags_and_embedded_cover_are_copied_as_id3v24() {
    let o = run(&fixture("tagged.flac"), &MEDIUM);
    assert_eq!(&o.bytes[..4], b"ID3\x04");
    assert_eq!(o.report.cover, Some(CoverSource::Embedded));
    let tag = id3::Tag::read_from2(Cursor::new(&o.bytes)).unwrap();
    use id3::TagLike;
    assert_eq!(tag.title(), Some("Tëst Title"));
    assert_eq!(tag.artist(), Some("Test Artist"));
    assert_eq!(tag.album(), Some("Test Album"));
    assert_eq!(tag.album_artist(), Some("Various"));
    assert_eq!((tag.track(), tag.total_tracks()), (Some(3), Some(12)));
    assert_eq!((tag.disc(), tag.total_discs()), (Some(1), Some(2)));
    assert_eq!(tag.date_recorded().unwrap().to_string(), "2004-05-03");
    assert_eq!(tag.genre(), Some("Ambient"));
    assert_eq!(
        tag.get("TCOM").and_then(|f| f.content().text()),
        Some("Some Composer")
    );
    assert_eq!(tag.comments().next().unwrap().text, "A comment");
    let txxx = |d: &str| {
        tag.extended_texts()
            .find(|x| x.description == d)
            .map(|x| x.value.clone())
    };
    assert_eq!(txxx("REPLAYGAIN_TRACK_GAIN").as_deref(), Some("-6.50 dB"));
    assert_eq!(txxx("REPLAYGAIN_TRACK_PEAK").as_deref(), Some("0.98"));
    assert_eq!(txxx("REPLAYGAIN_ALBUM_GAIN").as_deref(), Some("-7.00 dB"));
    assert_eq!(txxx("REPLAYGAIN_ALBUM_PEAK").as_deref(), Some("0.99"));
    assert_eq!(
        txxx("MusicBrainz Album Id").as_deref(),
        Some("5b11f4ce-a62d-471e-81fc-a69a8278c7da")
    );
    let ufid = tag.unique_file_identifiers().next().unwrap();
    assert_eq!(ufid.owner_identifier, "http://musicbrainz.org");
    assert_eq!(ufid.identifier, b"0e0f4e5a-8d0a-4b2b-9d3f-2a8e6b0c9e11");
    let pic = tag.pictures().next().unwrap();
    assert_eq!(pic.picture_type, id3::frame::PictureType::CoverFront);
    assert_eq!(pic.mime_type, "image/png");
    assert_eq!(pic.data, fs::read(fixture("cover.png")).unwrap());
    // symphonia still decodes the audio behind the tag to the exact length.
    assert_eq!(o.decoded.2, o.report.output_frames);
}

#[test]
fn folder_art_is_used_when_nothing_is_embedded_and_big_art_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let track = dir.path().join("01.wav");
    write_wav_as(&track, WavFormat::Int(16), false, 44100, 2, 4410, 440.0);
    fs::copy(fixture("cover.png"), dir.path().join("Cover.png")).unwrap();
    let o = run(&track, &MEDIUM);
    assert_eq!(o.report.cover, Some(CoverSource::Folder));
    let tag = id3::Tag::read_from2(Cursor::new(&o.bytes)).unwrap();
    assert_eq!(tag.pictures().next().unwrap().mime_type, "image/png");

    let small = Options {
        max_art_bytes: 50,
        ..MEDIUM
    };
    let o = run(&track, &small);
    assert_eq!(o.report.cover, None);
    assert_eq!(
        o.report.tag_bytes, 0,
        "no tags and no art: no ID3 tag at all"
    );
    let o = run(&fixture("tagged.flac"), &small);
    assert_eq!(o.report.cover, None);
    let tag = id3::Tag::read_from2(Cursor::new(&o.bytes)).unwrap();
    assert!(tag.pictures().next().is_none());
}

#[test]
fn a_truncated_flac_keeps_its_announced_length_the_rest_silent() {
    let dir = tempfile::tempdir().unwrap();
    let whole = fs::read(fixture("flac16_44k.flac")).unwrap();
    let cut = dir.path().join("cut.flac");
    fs::write(&cut, &whole[..whole.len() * 6 / 10]).unwrap();
    let o = run(&cut, &MEDIUM);
    let (_, _, full_frames) = decode_file(&fixture("flac16_44k.flac"));
    assert!(o.report.truncated, "{:?}", o.report);
    assert_eq!(o.report.frames, full_frames, "the header's length");
    assert_eq!(o.decoded.2, full_frames, "decoded MP3");
    // The end is silence: the last tenth of the decoded track.
    let samples = first_channel(&o._dir.path().join("out.mp3"));
    let tail = &samples[samples.len() * 9 / 10..];
    assert!(tail.iter().all(|s| s.abs() < 0.01), "a silent tail");
    assert!(samples[..samples.len() / 4].iter().any(|s| s.abs() > 0.1));
}

#[test]
fn corrupt_packets_are_skipped_and_the_rest_encoded() {
    // Damage a few hundred bytes in the middle of the FLAC audio: frame CRC
    // errors, skipped, the file still transcodes.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = fs::read(fixture("flac16_44k.flac")).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 300] {
        *b ^= 0x55;
    }
    let damaged = dir.path().join("damaged.flac");
    fs::write(&damaged, &bytes).unwrap();
    let mut out = Cursor::new(Vec::new());
    match transcode(&damaged, "damaged.flac", &mut out, &MEDIUM, |_, _| {}) {
        Ok(r) => assert!(r.skipped_packets > 0 || r.truncated, "{r:?}"),
        Err(e) => assert!(e.to_string().contains("damaged.flac"), "{e}"),
    }
}

#[test]
fn garbage_and_empty_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.flac");
    fs::write(&empty, b"").unwrap();
    let garbage = dir.path().join("garbage.flac");
    fs::write(&garbage, vec![0x5a; 10_000]).unwrap();
    let text = dir.path().join("notes.wav");
    fs::write(&text, b"RIFF\x10\x00\x00\x00WAVEjunk this is not audio").unwrap();
    for (p, name) in [
        (&empty, "empty.flac"),
        (&garbage, "garbage.flac"),
        (&text, "notes.wav"),
    ] {
        let mut out = Cursor::new(Vec::new());
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
    let mut out = Cursor::new(Vec::new());
    let err = transcode(
        &dir.path().join("missing.flac"),
        "missing.flac",
        &mut out,
        &MEDIUM,
        |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, TranscodeError::Io { .. }), "{err}");
}

#[test]
fn progress_counts_segments_up_to_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("long.wav");
    write_wav_as(
        &wav,
        WavFormat::Int(16),
        false,
        44_100,
        2,
        44_100 * 9,
        440.0,
    );
    let mut out = Cursor::new(Vec::new());
    let mut seen = Vec::new();
    transcode(&wav, "t.wav", &mut out, &MEDIUM, |done, total| {
        seen.push((done, total))
    })
    .unwrap();
    // 9 s at 44.1 kHz: 346 frames, three segments of up to 147.
    assert_eq!(seen, vec![(1, 3), (2, 3), (3, 3)]);
}

#[test]
fn wav_riff_info_tags_are_copied() {
    // A LIST/INFO chunk after the data chunk, where many taggers put it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tagged.wav");
    write_wav_as(&path, WavFormat::Int(16), false, 44100, 2, 4410, 440.0);
    let mut bytes = fs::read(&path).unwrap();
    let mut info = b"INFO".to_vec();
    for (id, value) in [
        (b"INAM", "Wav Title\0"),
        (b"IART", "Wav Artist\0"),
        (b"IPRD", "Wav Album\0"),
    ] {
        info.extend_from_slice(id);
        info.extend_from_slice(&(value.len() as u32).to_le_bytes());
        info.extend_from_slice(value.as_bytes());
        if value.len() % 2 == 1 {
            info.push(0);
        }
    }
    bytes.extend_from_slice(b"LIST");
    bytes.extend_from_slice(&(info.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&info);
    let riff_len = (bytes.len() - 8) as u32;
    bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
    fs::write(&path, &bytes).unwrap();

    let o = check(&path, 44100, 2);
    let tag = id3::Tag::read_from2(Cursor::new(&o.bytes)).unwrap();
    use id3::TagLike;
    assert_eq!(tag.title(), Some("Wav Title"));
    assert_eq!(tag.artist(), Some("Wav Artist"));
    assert_eq!(tag.album(), Some("Wav Album"));
}

#[test]
fn predicted_size_matches_for_any_length_rate_and_bitrate() {
    let dir = tempfile::tempdir().unwrap();
    for (rate, frames) in [
        (44100, 1),
        (44100, 575),
        (44100, 576),
        (44100, 577),
        (44100, 1152),
        (44100, 1727),
        (44100, 2305),
        (48000, 9999),
        (32000, 4000),
        (96000, 7777),
        (88200, 3001),
    ] {
        let path = dir.path().join(format!("{rate}-{frames}.wav"));
        write_wav_as(&path, WavFormat::Int(16), false, rate, 2, frames, 440.0);
        for kbps in [128, 192, 256, 320] {
            let opts = Options {
                bitrate_kbps: kbps,
                ..MEDIUM
            };
            let predicted = plan(&path, "x", &opts).unwrap().0.total_bytes();
            let o = run(&path, &opts);
            assert_eq!(
                predicted, o.report.bytes,
                "{rate} Hz, {frames} frames, {kbps} kbit/s"
            );
        }
    }
}

/// The first channel of an audio file, decoded with symphonia (for an MP3
/// with an Info tag, gapless).
fn first_channel(path: &Path) -> Vec<f32> {
    let mut d = tapedeck::transcode::open(path, "decode").unwrap();
    let (mut out, mut buf) = (Vec::new(), Vec::new());
    while let Some(p) = d.format.next_packet().unwrap() {
        let b = d.decoder.decode(&p).unwrap();
        let channels = b.spec().channels().count();
        b.copy_to_vec_interleaved::<f32>(&mut buf);
        out.extend(buf.iter().step_by(channels));
    }
    out
}

/// The sequential transcode of `input` at `opts`, in memory.
fn sequential(input: &Path, opts: &Options) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    transcode(input, "x", &mut out, opts, |_, _| {}).unwrap();
    out.into_inner()
}

/// A small xorshift generator, so the "random" orders repeat.
fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut order: Vec<u64> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

#[test]
fn segments_encoded_in_any_order_make_the_sequential_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    // 44.1 kHz (padding slots), 48 kHz mono, and 96 kHz (the resampler
    // started in the middle of the track).
    for (rate, channels, seconds, kbps) in [
        (44_100, 2, 20, 192),
        (48_000, 1, 9, 128),
        (96_000, 2, 9, 256),
    ] {
        let wav = dir.path().join(format!("{rate}.wav"));
        write_music_wav(&wav, rate, channels, rate * seconds);
        let opts = Options {
            bitrate_kbps: kbps,
            ..MEDIUM
        };
        let whole = sequential(&wav, &opts);
        let (p, mut src) = plan(&wav, "x", &opts).unwrap();
        assert_eq!(p.total_bytes(), whole.len() as u64);
        // In order, one source decodes straight through: no seek.
        let (p2, mut in_order) = plan(&wav, "x", &opts).unwrap();
        for k in 0..p2.layout.segments() {
            p2.encode_segment(&mut in_order, k).unwrap();
        }
        assert_eq!(in_order.seeks, 0, "{rate} Hz: segments in order seek");
        assert!(p.layout.segments() >= 3, "{} segments", p.layout.segments());
        let mut file = vec![0u8; whole.len()];
        file[..p.head.len()].copy_from_slice(&p.head);
        // One source seeking back and forth, as a worker answering
        // readers does; every other segment from a fresh source, as a
        // helper starts.
        for (i, k) in shuffled(p.layout.segments(), u64::from(rate))
            .into_iter()
            .enumerate()
        {
            let bytes = if i % 2 == 0 {
                p.encode_segment(&mut src, k).unwrap()
            } else {
                p.encode_segment(&mut p.open_source().unwrap(), k).unwrap()
            };
            let r = p.layout.segment_bytes(k);
            assert_eq!(bytes.len() as u64, r.end - r.start, "segment {k}");
            file[r.start as usize..r.end as usize].copy_from_slice(&bytes);
        }
        assert!(file == whole, "{rate} Hz: segments in random order differ");
        let (out_rate, out_channels, frames) = decode_bytes(&file);
        let want = (u64::from(rate) * u64::from(seconds)).div_ceil(u64::from(rate / out_rate));
        assert_eq!(
            (out_rate, out_channels, frames),
            (rate.min(48_000), usize::from(channels), want)
        );
    }
}

#[test]
fn every_frame_decodes_alone_and_borrows_no_bytes_from_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("m.wav");
    write_music_wav(&wav, 44_100, 2, 44_100 * 8);
    let whole = sequential(&wav, &MEDIUM);
    let (p, _) = plan(&wav, "x", &MEDIUM).unwrap();
    let layout = &p.layout;
    // No bit reservoir: main_data_begin (the first 9 bits of the side
    // information) is 0 in every audio frame.
    for g in 0..layout.frames {
        let at = layout.frame_offset(g) as usize + 4;
        let main_data_begin = (u16::from(whole[at]) << 1) | u16::from(whole[at + 1] >> 7);
        assert_eq!(main_data_begin, 0, "frame {g}");
    }
    assert_eq!(
        tapedeck::mp3::check(Cursor::new(&whole), whole.len() as u64)
            .unwrap()
            .frames,
        layout.frames
    );
    // From random frames, the rest decodes without a single error.
    for g in shuffled(layout.frames, 7).into_iter().take(12) {
        let tail = &whole[layout.frame_offset(g) as usize..];
        let (rate, channels, samples) = decode_bytes(tail);
        assert_eq!((rate, channels), (44_100, 2));
        // symphonia's MP3 reader returns one frame fewer for a stream with
        // no Info frame (ffmpeg returns them all).
        let n = layout.frames - g;
        assert!(
            samples == n * 1152 || samples == (n - 1) * 1152,
            "from frame {g}: {samples} samples of {n} frames"
        );
    }
}

#[test]
fn the_info_frame_is_complete_before_encoding_and_gapless() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("m.wav");
    write_music_wav(&wav, 44_100, 2, 123_457);
    let (p, _) = plan(&wav, "x", &MEDIUM).unwrap();
    let whole = sequential(&wav, &MEDIUM);
    assert_eq!(
        &whole[..p.head.len()],
        &p.head[..],
        "the head is the file's"
    );
    let info = &p.head[p.layout.id3_bytes as usize..];
    assert_eq!(&info[36..40], b"Info");
    let field = |at: usize| u32::from_be_bytes(info[at..at + 4].try_into().unwrap());
    assert_eq!(u64::from(field(44)), p.layout.frames);
    assert_eq!(u64::from(field(48)), p.layout.stream_bytes());
    assert_eq!(&info[156..165], b"LAME3.100");
    // Delay 576, padding to the end of the last frame; the tag's CRC.
    let d = &info[177..180];
    let delay = (u32::from(d[0]) << 4) | u32::from(d[1] >> 4);
    let padding = (u32::from(d[1] & 15) << 8) | u32::from(d[2]);
    assert_eq!(delay, 576);
    assert_eq!(u64::from(padding), p.layout.frames * 1152 - 576 - 123_457);
    let crc = tapedeck::transcode::layout::crc16(&info[..190]);
    assert_eq!(crc.to_be_bytes(), [info[190], info[191]]);
    // A gapless decoder returns exactly the source's samples.
    assert_eq!(decode_bytes(&whole).2, 123_457);
    // The layout is read back from the file.
    let back = tapedeck::transcode::Layout::of_file(&whole, whole.len() as u64).unwrap();
    assert_eq!(back, p.layout);
}

#[test]
fn a_stream_from_an_offset_plays_from_that_instant() {
    // onset.flac: silence, then a tone from sample 52 920 (1.2 s) to the
    // end at 66 150.
    let input = fixture("onset.flac");
    let whole = sequential(&input, &MEDIUM);
    let onset = |samples: &[f32]| samples.iter().position(|s| s.abs() > 0.25).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.mp3");
    fs::write(&path, &whole).unwrap();
    let at_whole = onset(&first_channel(&path));
    assert!(at_whole.abs_diff(52_920) < 64, "onset at {at_whole}");
    let layout = tapedeck::transcode::Layout::of_file(&whole, whole.len() as u64).unwrap();
    let g = layout.frame_at_time(0.5);
    let part = dir.path().join("part.mp3");
    fs::write(&part, &whole[layout.frame_offset(g) as usize..]).unwrap();
    let at_part = onset(&first_channel(&part));
    // The stream starts at most one frame before 0.5 s (22 050).
    let first = (g * 1152) as usize - 1105;
    assert!(
        first <= 22_050 && 22_050 - first < 1152,
        "starts at {first}"
    );
    assert!(
        (at_whole - at_part).abs_diff(first) <= 8,
        "onset at {at_part}, whole at {at_whole}, stream from {first}"
    );
}

#[test]
fn a_length_the_file_cannot_hold_is_counted_by_decoding() {
    // A FLAC whose STREAMINFO claims 2^36 - 1 samples (18 days at 44.1 kHz)
    // in 23 KB: the announced length comes from decoding instead.
    let dir = tempfile::tempdir().unwrap();
    let mut flac = fs::read(fixture("flac16_44k.flac")).unwrap();
    let field = u64::from_be_bytes(flac[18..26].try_into().unwrap()) | ((1 << 36) - 1);
    flac[18..26].copy_from_slice(&field.to_be_bytes());
    let path = dir.path().join("huge.flac");
    fs::write(&path, &flac).unwrap();
    let (p, _) = plan(&path, "huge.flac", &MEDIUM).unwrap();
    assert_eq!(p.layout.samples, 22_050);
    // And 64 kbit/s is the floor: lower frames cannot hold the Info tag.
    let low = Options {
        bitrate_kbps: 48,
        ..MEDIUM
    };
    let Err(e) = plan(&fixture("flac16_44k.flac"), "x.flac", &low) else {
        panic!("48 kbit/s was laid out");
    };
    assert!(e.to_string().contains("at least 64 kbit/s"), "{e}");
}
