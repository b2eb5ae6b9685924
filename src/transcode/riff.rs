//! Tags of WAV files: the RIFF `LIST`/`INFO` chunk and an `id3 ` chunk.
//!
//! symphonia 0.6.1's WAV reader parses the INFO chunk and then throws the
//! result away (it keeps only externally supplied metadata), and it never
//! reads `id3 ` chunks. This walks the chunk headers (RIFF: Microsoft
//! Multimedia Programming Interface 1.0, "RIFF file format"), parses those
//! two chunks with symphonia's own tag readers, and hands the result back
//! as external metadata, so WAV tags reach the MP3 like any other.

use std::io::{Read, Seek, SeekFrom};

use symphonia::core::io::BufReader;
use symphonia::core::meta::{MetadataBuilder, MetadataInfo, MetadataLog};
use symphonia_metadata::embedded::riff::{parse_riff_info_chunk, read_riff_id3_chunk};

/// Chunks looked at before giving up (a WAV has a handful).
const MAX_CHUNKS: usize = 64;
/// Largest tag chunk read into memory (cover art in an `id3 ` chunk).
const MAX_TAG_CHUNK_BYTES: u32 = 16 << 20;

const INFO: MetadataInfo = MetadataInfo {
    metadata: symphonia::core::meta::well_known::METADATA_ID_WAVE,
    short_name: "riff-info",
    long_name: "RIFF INFO list",
};

/// The INFO and ID3 tags of the WAV file `r`, or `None` if it is not a
/// WAV or has neither. Leaves `r` at the start. Read errors end the walk
/// quietly: tags are a nicety, the decoder reports real damage.
pub fn wave_metadata<R: Read + Seek>(r: &mut R) -> Option<MetadataLog> {
    let mut header = [0u8; 12];
    r.read_exact(&mut header).ok()?;
    if &header[..4] != b"RIFF" || &header[8..] != b"WAVE" {
        r.seek(SeekFrom::Start(0)).ok()?;
        return None;
    }
    let mut log = MetadataLog::default();
    let mut found = false;
    for _ in 0..MAX_CHUNKS {
        let mut h = [0u8; 8];
        if r.read_exact(&mut h).is_err() {
            break;
        }
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        // Chunks are padded to an even length.
        let padded = i64::from(len) + i64::from(len & 1);
        match &h[..4] {
            b"LIST" if (4..=MAX_TAG_CHUNK_BYTES).contains(&len) => {
                let mut body = vec![0u8; len as usize];
                if r.read_exact(&mut body).is_err() {
                    break;
                }
                if &body[..4] == b"INFO" {
                    let mut b = MetadataBuilder::new(INFO);
                    let mut rest = &body[4..];
                    while rest.len() >= 8 {
                        let id = [rest[0], rest[1], rest[2], rest[3]];
                        let n = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
                        let Some(value) = rest.get(8..8 + n) else {
                            break;
                        };
                        let value = value.split(|&c| c == 0).next().unwrap_or(&[]);
                        let _ = parse_riff_info_chunk(id, value, &mut b);
                        rest = rest.get(8 + n + (n & 1)..).unwrap_or(&[]);
                    }
                    log.push(b.build());
                    found = true;
                }
                if len & 1 == 1 && r.seek(SeekFrom::Current(1)).is_err() {
                    break;
                }
            }
            b"id3 " | b"ID3 " if len <= MAX_TAG_CHUNK_BYTES => {
                let mut body = vec![0u8; len as usize];
                if r.read_exact(&mut body).is_err() {
                    break;
                }
                if let Ok(rev) = read_riff_id3_chunk(&mut BufReader::new(&body), &mut Vec::new()) {
                    log.push(rev);
                    found = true;
                }
                if len & 1 == 1 && r.seek(SeekFrom::Current(1)).is_err() {
                    break;
                }
            }
            _ => {
                if r.seek(SeekFrom::Current(padded)).is_err() {
                    break;
                }
            }
        }
    }
    r.seek(SeekFrom::Start(0)).ok()?;
    found.then_some(log)
}
