//! Checks that a cache entry is a whole MP3: an optional ID3v2 tag, a
//! LAME Info (or Xing) tag frame, then unbroken MPEG audio frames to the
//! last byte, as many as the Info tag says, none of which borrows main
//! data from the frames before it (the layout of
//! [`crate::transcode::layout`] relies on it). Used by `tapedeck cache
//! verify` to find entries damaged by a bad SD card or written by a
//! broken build; a power cut cannot produce one (entries appear by
//! `rename` after `fsync`).
//!
//! Sources: frame header layout and lengths, ISO/IEC 11172-3 §2.4.2.3
//! and 13818-3 (MPEG-2 LSF); ID3v2.4 §3.1 (header, syncsafe size); the
//! Xing/Info tag as LAME writes it ("frames" = audio frames after the tag
//! frame, "bytes" = the MPEG stream from the tag frame to the end).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// What a well-formed entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mp3Summary {
    /// Audio frames after the Info tag frame.
    pub frames: u64,
    pub sample_rate_hz: u32,
    /// Bytes of the MPEG stream (Info frame and audio frames).
    pub stream_bytes: u64,
}

/// A Layer III frame header (ISO/IEC 11172-3 §2.4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// MPEG-1 (else MPEG-2 or 2.5, the low sampling frequencies).
    pub mpeg1: bool,
    pub bitrate_kbps: u32,
    pub sample_rate_hz: u32,
    /// The mode bits: 0 stereo, 1 joint stereo, 2 dual channel, 3 mono.
    pub mode: u8,
    /// Whole frame length in bytes, header included.
    pub len: u64,
}

impl FrameHeader {
    /// True for a single-channel frame.
    pub fn is_mono(&self) -> bool {
        self.mode == 3
    }

    /// Bytes of side information after the header (and its CRC, if any):
    /// where a Xing/Info tag starts in the first frame.
    pub fn side_info_bytes(&self) -> usize {
        match (self.mpeg1, self.is_mono()) {
            (true, false) => 32,
            (true, true) | (false, false) => 17,
            (false, true) => 9,
        }
    }
}

const BITRATES_MPEG1_KBPS: [u32; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_MPEG2_KBPS: [u32; 15] =
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// Parses a Layer III frame header; `None` if `h` is not one (lost sync,
/// reserved or free-format values).
pub fn parse_header(h: [u8; 4]) -> Option<FrameHeader> {
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1
    let layer = (h[1] >> 1) & 3; // 1: Layer III
    let br_index = usize::from(h[2] >> 4);
    let sr_index = usize::from((h[2] >> 2) & 3);
    if version == 1 || layer != 1 || br_index == 0 || br_index == 15 || sr_index == 3 {
        return None;
    }
    let mpeg1 = version == 3;
    let (kbps, base_rate) = if mpeg1 {
        (
            BITRATES_MPEG1_KBPS[br_index],
            [44_100, 48_000, 32_000][sr_index],
        )
    } else {
        (
            BITRATES_MPEG2_KBPS[br_index],
            [22_050, 24_000, 16_000][sr_index],
        )
    };
    let sample_rate_hz = if version == 0 {
        base_rate / 2
    } else {
        base_rate
    };
    let padding = u64::from((h[2] >> 1) & 1);
    let coefficient = if mpeg1 { 144_000 } else { 72_000 };
    Some(FrameHeader {
        mpeg1,
        bitrate_kbps: kbps,
        sample_rate_hz,
        mode: h[3] >> 6,
        len: coefficient * u64::from(kbps) / u64::from(sample_rate_hz) + padding,
    })
}

/// Bytes of the ID3v2 tag at the start of `bytes` (ID3v2.4 §3.1: the
/// 10-byte header, the syncsafe size, a footer when flagged); 0 without
/// one.
pub fn id3v2_len(bytes: &[u8]) -> u64 {
    if bytes.len() < 10 || &bytes[..3] != b"ID3" {
        return 0;
    }
    let size = bytes[6..10]
        .iter()
        .fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7f));
    let footer = if bytes[5] & 0x10 != 0 { 10 } else { 0 };
    10 + size + footer
}

/// One frame found by [`frames`]: where it starts and its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Byte offset in the file.
    pub offset: u64,
    pub header: FrameHeader,
}

/// The frames of an in-memory MP3, after its ID3v2 tag, in order.
///
/// Yields `Err` (and then nothing) where sync is lost, a frame runs past
/// the end, or stray bytes are left; an ID3v1 tag at the very end ends the
/// walk quietly.
pub fn frames(mp3: &[u8]) -> impl Iterator<Item = Result<Frame, String>> + '_ {
    let mut pos = id3v2_len(mp3);
    let mut failed = false;
    std::iter::from_fn(move || {
        let len = mp3.len() as u64;
        if failed || pos >= len {
            return None;
        }
        let at = pos as usize;
        if len - pos == 128 && mp3[at..].starts_with(b"TAG") {
            return None;
        }
        failed = true;
        if len - pos < 4 {
            return Some(Err(format!(
                "{} stray bytes at the end (byte {pos})",
                len - pos
            )));
        }
        let Some(header) = parse_header([mp3[at], mp3[at + 1], mp3[at + 2], mp3[at + 3]]) else {
            return Some(Err(format!("lost frame sync at byte {pos}")));
        };
        if pos + header.len > len {
            return Some(Err(format!(
                "truncated: the frame at byte {pos} needs {} bytes; {} are left",
                header.len,
                len - pos
            )));
        }
        failed = false;
        let frame = Frame {
            offset: pos,
            header,
        };
        pos += header.len;
        Some(Ok(frame))
    })
}

/// Checks the MP3 at `path`. Errors: why it is not a whole MP3, with the
/// byte offset where that was found.
pub fn check_file(path: &Path) -> Result<Mp3Summary, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot stat: {e}"))?
        .len();
    check(BufReader::with_capacity(64 * 1024, file), len)
}

/// Checks an MP3 of `len` bytes read from `r`. Errors as for
/// [`check_file`].
pub fn check(mut r: impl Read + Seek, len: u64) -> Result<Mp3Summary, String> {
    let io = |at: u64| move |e: io::Error| format!("read error at byte {at}: {e}");
    let mut pos = 0u64;
    let mut head = [0u8; 10];
    if len >= 10 {
        r.read_exact(&mut head).map_err(io(0))?;
        if &head[..3] == b"ID3" {
            if head[6..10].iter().any(|b| b & 0x80 != 0) {
                return Err("ID3v2 tag size is not syncsafe".to_owned());
            }
            let size = head[6..10]
                .iter()
                .fold(0u64, |acc, &b| (acc << 7) | u64::from(b));
            let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
            pos = 10 + size + footer;
            if pos > len {
                return Err(format!("ID3v2 tag claims {pos} bytes; the file has {len}"));
            }
        }
    }
    r.seek(SeekFrom::Start(pos)).map_err(io(pos))?;
    let stream_start = pos;

    // The Info tag frame.
    let mut h = [0u8; 4];
    if len - pos < 4 {
        return Err(format!("no MPEG frame after the ID3 tag (byte {pos})"));
    }
    r.read_exact(&mut h).map_err(io(pos))?;
    let first = parse_header(h).ok_or_else(|| format!("no MPEG frame header at byte {pos}"))?;
    if pos + first.len > len {
        return Err(format!(
            "the first frame at byte {pos} needs {} bytes; {} are left",
            first.len,
            len - pos
        ));
    }
    let mut frame = vec![0u8; (first.len - 4) as usize];
    r.read_exact(&mut frame).map_err(io(pos + 4))?;
    let side = first.side_info_bytes();
    let tag = frame.get(side..side + 4);
    if tag != Some(b"Info") && tag != Some(b"Xing") {
        return Err(format!("no Info tag in the first frame (byte {pos})"));
    }
    let field = |at: usize| -> Option<u32> {
        frame
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let flags = field(side + 4).unwrap_or(0);
    let mut at = side + 8;
    let mut tag_frames = None;
    if flags & 1 != 0 {
        tag_frames = field(at);
        at += 4;
    }
    let tag_bytes = if flags & 2 != 0 { field(at) } else { None };
    pos += first.len;

    // The audio frames, to the last byte (an ID3v1 tag may end the file).
    let mut frames = 0u64;
    loop {
        if pos == len {
            break;
        }
        if len - pos < 4 {
            return Err(format!("{} stray bytes at the end (byte {pos})", len - pos));
        }
        r.read_exact(&mut h).map_err(io(pos))?;
        if &h[..3] == b"TAG" && len - pos == 128 {
            break;
        }
        let f = parse_header(h).ok_or_else(|| format!("lost frame sync at byte {pos}"))?;
        if f.sample_rate_hz != first.sample_rate_hz {
            return Err(format!(
                "the frame at byte {pos} is at {} Hz, the stream at {} Hz",
                f.sample_rate_hz, first.sample_rate_hz
            ));
        }
        if pos + f.len > len {
            return Err(format!(
                "truncated: the frame at byte {pos} needs {} bytes; {} are left",
                f.len,
                len - pos
            ));
        }
        // No bit reservoir: a frame's main data starts in the frame itself
        // (ISO 11172-3 §2.4.1.7, main_data_begin, the first 9 bits of the
        // side information after the header and its CRC), so every frame,
        // and every segment, decodes alone.
        let crc = if h[1] & 1 == 0 { 2 } else { 0 };
        let mut side = [0u8; 4];
        let need = 4 + crc + 2;
        if f.len < need as u64 {
            return Err(format!("the frame at byte {pos} is too short"));
        }
        r.read_exact(&mut side[..crc + 2]).map_err(io(pos))?;
        let main_data_begin = (u16::from(side[crc]) << 1) | u16::from(side[crc + 1] >> 7);
        if main_data_begin != 0 {
            return Err(format!(
                "the frame at byte {pos} takes {main_data_begin} bytes of main data from the frames before it"
            ));
        }
        r.seek(SeekFrom::Current(f.len as i64 - need as i64))
            .map_err(io(pos))?;
        pos += f.len;
        frames += 1;
    }
    if frames == 0 {
        return Err("no audio frames after the Info tag".to_owned());
    }
    let stream_bytes = pos - stream_start;
    if let Some(n) = tag_frames
        && u64::from(n) != frames
    {
        return Err(format!(
            "the Info tag says {n} frames; the file has {frames}"
        ));
    }
    if let Some(n) = tag_bytes
        && u64::from(n) != stream_bytes
    {
        return Err(format!(
            "the Info tag says {n} bytes of MPEG stream; the file has {stream_bytes}"
        ));
    }
    Ok(Mp3Summary {
        frames,
        sample_rate_hz: first.sample_rate_hz,
        stream_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A CBR 128 kbit/s 44.1 kHz stereo MPEG-1 stream: an Info frame
    /// claiming `claim` frames and the exact byte count, then `n` frames.
    fn stream(n: u32, claim: u32) -> Vec<u8> {
        let frame_len = 417; // 144000 * 128 / 44100, no padding
        let mut out = Vec::new();
        let mut info = vec![0u8; frame_len];
        info[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x00]);
        info[36..40].copy_from_slice(b"Info");
        info[40..44].copy_from_slice(&3u32.to_be_bytes());
        info[44..48].copy_from_slice(&claim.to_be_bytes());
        let total = (frame_len * (n as usize + 1)) as u32;
        info[48..52].copy_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&info);
        for _ in 0..n {
            let mut f = vec![0u8; frame_len];
            f[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x00]);
            out.extend_from_slice(&f);
        }
        out
    }

    fn run(data: &[u8]) -> Result<Mp3Summary, String> {
        check(Cursor::new(data), data.len() as u64)
    }

    #[test]
    fn frames_walks_every_frame_after_the_id3_tag_and_stops_at_damage() {
        let mut file = b"ID3\x04\x00\x00\x00\x00\x00\x05abcde".to_vec();
        file.extend_from_slice(&stream(3, 3));
        let found: Vec<Frame> = frames(&file).collect::<Result<_, _>>().unwrap();
        assert_eq!(found.len(), 4);
        assert_eq!(found[0].offset, 15);
        assert_eq!(found[3].offset, 15 + 3 * 417);
        assert!(
            found
                .iter()
                .all(|f| f.header.bitrate_kbps == 128 && f.header.mode == 0)
        );
        file.truncate(file.len() - 10);
        let walked: Vec<_> = frames(&file).collect();
        assert_eq!(walked.len(), 4);
        assert!(walked[3].as_ref().unwrap_err().starts_with("truncated"));
        assert_eq!(id3v2_len(&file), 15);
    }

    #[test]
    fn a_whole_stream_passes() {
        let s = run(&stream(10, 10)).unwrap();
        assert_eq!(
            (s.frames, s.sample_rate_hz, s.stream_bytes),
            (10, 44_100, 417 * 11)
        );
    }

    #[test]
    fn an_id3v2_tag_is_skipped() {
        let mut data = b"ID3\x04\x00\x00\x00\x00\x01\x00".to_vec(); // 128 bytes
        data.extend_from_slice(&[0u8; 128]);
        data.extend_from_slice(&stream(3, 3));
        assert_eq!(run(&data).unwrap().frames, 3);
    }

    #[test]
    fn truncation_is_found_with_its_offset() {
        let mut data = stream(10, 10);
        data.truncate(data.len() - 100);
        let e = run(&data).unwrap_err();
        assert!(
            e.contains("truncated") && e.contains(&format!("{}", 417 * 10)),
            "{e}"
        );
    }

    #[test]
    fn garbage_in_the_middle_loses_sync() {
        let mut data = stream(10, 10);
        data[417 * 5] = 0;
        assert!(run(&data).unwrap_err().contains("lost frame sync"));
    }

    #[test]
    fn a_frame_count_that_disagrees_with_the_info_tag_is_an_error() {
        assert!(run(&stream(10, 12)).unwrap_err().contains("says 12 frames"));
    }

    #[test]
    fn a_missing_info_tag_is_an_error() {
        let mut data = stream(2, 2);
        data[36..40].copy_from_slice(b"\0\0\0\0");
        assert!(run(&data).unwrap_err().contains("no Info tag"));
        assert!(run(b"not an mp3 at all").is_err());
        assert!(run(b"").is_err());
    }
}
