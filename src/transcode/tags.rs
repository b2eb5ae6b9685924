//! Carrying a track's tags and cover art over into the MP3 as an ID3v2.4
//! tag (UTF-8, ID3v2.4.0 structure §3, frames §4).
//!
//! symphonia has already parsed whatever the source holds (Vorbis comments
//! in FLAC and Ogg, MP4 atoms, ID3 in AIFF/WAV/MP3, RIFF INFO) into its
//! standard tags; this module maps those to ID3 frames and writes them with
//! the `id3` crate. Frame choices follow what Picard and foobar2000 write,
//! so players find ReplayGain and MusicBrainz IDs where they look:
//! `TXXX:REPLAYGAIN_TRACK_GAIN`, `TXXX:MusicBrainz Album Id`, and the
//! recording ID as `UFID:http://musicbrainz.org`.

use std::fs;
use std::path::Path;

use id3::frame::{Comment, ExtendedText, Picture, PictureType, UniqueFileIdentifier};
use id3::{Frame, TagLike, Version};
use symphonia::core::meta::{MetadataRevision, StandardTag, StandardVisualKey, Visual};

/// Folder-art file names looked for beside a track, best first (compared
/// without case).
pub const FOLDER_ART: [&str; 6] = [
    "cover.jpg",
    "cover.png",
    "folder.jpg",
    "folder.png",
    "front.jpg",
    "front.png",
];

/// A cover picture: MIME type and the encoded image bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    pub mime_type: String,
    pub data: Vec<u8>,
}

/// Where a picture comes from, for log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverSource {
    Embedded,
    Folder,
}

/// The tags of one track, built up from symphonia's metadata revisions.
#[derive(Debug, Default)]
pub struct Tags {
    tag: id3::Tag,
    date: Option<String>,
    year: Option<u16>,
    cover: Option<Cover>,
}

impl Tags {
    /// Adds the tags of a metadata revision: the whole-file ones, then those
    /// for `track_id`. A later call overrides an earlier one per frame.
    pub fn add_revision(&mut self, rev: &MetadataRevision, track_id: u32) {
        let per_track = rev
            .per_track
            .iter()
            .filter(|t| t.track_id == u64::from(track_id))
            .map(|t| &t.metadata);
        for container in std::iter::once(&rev.media).chain(per_track) {
            for tag in &container.tags {
                if let Some(std) = &tag.std {
                    self.add(std);
                }
            }
            if let Some(v) = best_visual(&container.visuals) {
                self.cover = Some(Cover {
                    mime_type: v
                        .media_type
                        .clone()
                        .unwrap_or_else(|| sniff_image(&v.data).to_owned()),
                    data: v.data.to_vec(),
                });
            }
        }
    }

    fn text(&mut self, id: &str, value: &str) {
        if !value.trim().is_empty() {
            self.tag.add_frame(Frame::text(id, value.trim()));
        }
    }

    fn txxx(&mut self, description: &str, value: &str) {
        self.tag.add_frame(ExtendedText {
            description: description.to_owned(),
            value: value.trim().to_owned(),
        });
    }

    fn add(&mut self, tag: &StandardTag) {
        use StandardTag as S;
        match tag {
            S::TrackTitle(v) => self.text("TIT2", v),
            S::Artist(v) => self.text("TPE1", v),
            S::Album(v) => self.text("TALB", v),
            S::AlbumArtist(v) => self.text("TPE2", v),
            S::Composer(v) => self.text("TCOM", v),
            S::Genre(v) => self.text("TCON", v),
            S::TrackNumber(n) => self.tag.set_track(clamp(*n)),
            S::TrackTotal(n) => self.tag.set_total_tracks(clamp(*n)),
            S::DiscNumber(n) => self.tag.set_disc(clamp(*n)),
            S::DiscTotal(n) => self.tag.set_total_discs(clamp(*n)),
            S::RecordingDate(v) | S::ReleaseDate(v) => {
                self.date.get_or_insert_with(|| v.trim().to_owned());
            }
            S::RecordingYear(y) | S::ReleaseYear(y) => {
                self.year.get_or_insert(*y);
            }
            S::Comment(v) => {
                self.tag.add_frame(Comment {
                    lang: "eng".into(),
                    description: String::new(),
                    text: v.trim().to_owned(),
                });
            }
            S::ReplayGainTrackGain(v) => self.txxx("REPLAYGAIN_TRACK_GAIN", v),
            S::ReplayGainTrackPeak(v) => self.txxx("REPLAYGAIN_TRACK_PEAK", v),
            S::ReplayGainAlbumGain(v) => self.txxx("REPLAYGAIN_ALBUM_GAIN", v),
            S::ReplayGainAlbumPeak(v) => self.txxx("REPLAYGAIN_ALBUM_PEAK", v),
            S::MusicBrainzAlbumId(v) => self.txxx("MusicBrainz Album Id", v),
            S::MusicBrainzArtistId(v) => self.txxx("MusicBrainz Artist Id", v),
            S::MusicBrainzAlbumArtistId(v) => self.txxx("MusicBrainz Album Artist Id", v),
            S::MusicBrainzReleaseGroupId(v) => self.txxx("MusicBrainz Release Group Id", v),
            S::MusicBrainzReleaseTrackId(v) => self.txxx("MusicBrainz Release Track Id", v),
            S::MusicBrainzWorkId(v) => self.txxx("MusicBrainz Work Id", v),
            // Vorbis MUSICBRAINZ_TRACKID holds the recording ID (Picard).
            S::MusicBrainzTrackId(v) | S::MusicBrainzRecordingId(v) => {
                self.tag.add_frame(UniqueFileIdentifier {
                    owner_identifier: "http://musicbrainz.org".into(),
                    identifier: v.trim().as_bytes().to_vec(),
                });
            }
            _ => {}
        }
    }

    /// The embedded cover, if the source had one.
    pub fn embedded_cover(&self) -> Option<&Cover> {
        self.cover.as_ref()
    }

    /// Encodes the tag as ID3v2.4 bytes with `cover` as the front cover
    /// (APIC type 3). Returns an empty vector when there is nothing to
    /// write.
    ///
    /// Errors: the `id3` crate's message if a frame cannot be encoded.
    pub fn to_id3v24(mut self, cover: Option<Cover>) -> Result<Vec<u8>, String> {
        if let Some(ts) = self.timestamp() {
            self.tag.set_date_recorded(ts);
        }
        if let Some(c) = cover {
            self.tag.add_frame(Picture {
                mime_type: c.mime_type,
                picture_type: PictureType::CoverFront,
                description: String::new(),
                data: c.data,
            });
        }
        let mut out = Vec::new();
        if self.tag.frames().next().is_none() {
            return Ok(out);
        }
        self.tag
            .write_to(&mut out, Version::Id3v24)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// TDRC from the fullest date the source gave: "YYYY-MM-DD" or a
    /// prefix of it (ID3v2.4 §4.2.5 timestamps), else the year alone.
    fn timestamp(&self) -> Option<id3::Timestamp> {
        if let Some(d) = &self.date {
            // Dates like "2004-05-03T00:00:00Z" or "2004/05/03": keep what
            // parses, longest first.
            let d = d.replace('/', "-");
            for len in [10, 7, 4] {
                if let Some(ts) = d.get(..len).and_then(|s| s.parse::<id3::Timestamp>().ok()) {
                    return Some(ts);
                }
            }
        }
        self.year.map(|y| id3::Timestamp {
            year: i32::from(y),
            month: None,
            day: None,
            hour: None,
            minute: None,
            second: None,
        })
    }
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The front cover if one is marked so, else the first picture.
fn best_visual(visuals: &[Visual]) -> Option<&Visual> {
    visuals
        .iter()
        .find(|v| v.usage == Some(StandardVisualKey::FrontCover))
        .or_else(|| visuals.first())
        .filter(|v| !v.data.is_empty())
}

/// MIME type from an image's magic bytes (JPEG, PNG, GIF, WebP).
pub fn sniff_image(data: &[u8]) -> &'static str {
    match data {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => "image/webp",
        _ => "application/octet-stream",
    }
}

/// Finds folder art for the track at `track`: the first of [`FOLDER_ART`]
/// present in its directory, matched without case. Returns the file's path
/// and size in bytes.
pub fn find_folder_art(track: &Path) -> Option<(std::path::PathBuf, u64)> {
    let dir = track.parent()?;
    let mut best: Option<(usize, std::path::PathBuf, u64)> = None;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let lower = name.to_ascii_lowercase();
        let Some(rank) = FOLDER_ART.iter().position(|n| *n == lower) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || best.as_ref().is_some_and(|(r, _, _)| *r <= rank) {
            continue;
        }
        best = Some((rank, entry.path(), meta.len()));
    }
    best.map(|(_, path, len)| (path, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn standard_tags_become_id3v24_frames() {
        let mut t = Tags::default();
        for s in [
            StandardTag::TrackTitle(Arc::new("Song".into())),
            StandardTag::Artist(Arc::new("Ärtist".into())),
            StandardTag::TrackNumber(3),
            StandardTag::TrackTotal(12),
            StandardTag::RecordingDate(Arc::new("2004-05-03".into())),
            StandardTag::ReplayGainTrackGain(Arc::new("-6.50 dB".into())),
            StandardTag::MusicBrainzTrackId(Arc::new("abc".into())),
        ] {
            t.add(&s);
        }
        let bytes = t
            .to_id3v24(Some(Cover {
                mime_type: "image/png".into(),
                data: vec![1, 2, 3],
            }))
            .unwrap();
        assert_eq!(&bytes[..5], b"ID3\x04\x00");
        let tag = id3::Tag::read_from2(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(tag.title(), Some("Song"));
        assert_eq!(tag.artist(), Some("Ärtist"));
        assert_eq!((tag.track(), tag.total_tracks()), (Some(3), Some(12)));
        assert_eq!(
            tag.date_recorded().map(|d| d.to_string()).as_deref(),
            Some("2004-05-03")
        );
        assert!(
            tag.extended_texts()
                .any(|x| x.description == "REPLAYGAIN_TRACK_GAIN" && x.value == "-6.50 dB")
        );
        assert_eq!(tag.pictures().next().map(|p| p.data.len()), Some(3));
    }

    #[test]
    fn nothing_to_write_gives_no_tag() {
        assert!(Tags::default().to_id3v24(None).unwrap().is_empty());
    }

    #[test]
    fn folder_art_prefers_cover_over_folder_and_ignores_case() {
        let dir = tempfile::tempdir().unwrap();
        let track = dir.path().join("01.flac");
        fs::write(dir.path().join("Folder.JPG"), b"x").unwrap();
        assert_eq!(
            find_folder_art(&track).unwrap().0,
            dir.path().join("Folder.JPG")
        );
        fs::write(dir.path().join("COVER.png"), b"yy").unwrap();
        assert_eq!(
            find_folder_art(&track).unwrap(),
            (dir.path().join("COVER.png"), 2)
        );
    }
}
