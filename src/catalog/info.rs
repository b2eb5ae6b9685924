//! What a track is, as the catalog lists it: its tags and stream
//! parameters, read with symphonia from the headers alone (no audio is
//! decoded), and its embedded picture.

use std::path::Path;

use symphonia::core::codecs::audio::well_known as codecs;
use symphonia::core::meta::StandardTag;

use crate::transcode::{self, TranscodeError, tags};

/// A track's tags and stream parameters. Every field is optional in the
/// source; a file whose tags cannot be read has `readable == false` and
/// nothing else set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackInfo {
    pub title: Option<Box<str>>,
    pub artist: Option<Box<str>>,
    pub album: Option<Box<str>>,
    pub album_artist: Option<Box<str>>,
    pub genre: Option<Box<str>>,
    /// Track number within its disc (1-based).
    pub track: Option<u32>,
    /// Disc number (1-based).
    pub disc: Option<u32>,
    pub year: Option<u32>,
    /// Length in seconds, from the container's frame count.
    pub duration_s: Option<f64>,
    /// Codec: "flac", "alac", "aac", "vorbis", "opus", "mp3", "pcm" or
    /// "unknown".
    pub format: &'static str,
    pub sample_rate_hz: Option<u32>,
    /// Bits per sample of the decoded audio (lossless and PCM sources).
    pub bits: Option<u32>,
    pub channels: Option<u32>,
    /// Whether the file carries a picture of its own.
    pub has_art: bool,
    pub readable: bool,
}

/// Reads the tags and stream parameters of the audio file at `path`
/// (headers and tags only, no audio is decoded). `relative` names it in
/// errors.
///
/// Errors: as for [`transcode::probe`] (a prober panic on a hostile file
/// included).
pub fn read_track_info(path: &Path, relative: &str) -> Result<TrackInfo, TranscodeError> {
    let mut probed = transcode::probe(path, relative)?;
    {
        let p = &probed.params;
        let mut info = TrackInfo {
            format: codec_name(p.codec),
            sample_rate_hz: p.sample_rate,
            bits: p.bits_per_sample,
            channels: p.channels.as_ref().map(|c| c.count() as u32),
            duration_s: match (probed.total_frames, p.sample_rate) {
                (Some(n), Some(rate)) if rate > 0 => Some(n as f64 / f64::from(rate)),
                _ => None,
            },
            readable: true,
            ..TrackInfo::default()
        };
        let track_id = u64::from(probed.track_id);
        let mut log = probed.format.metadata();
        loop {
            if let Some(rev) = log.current() {
                let per_track = rev
                    .per_track
                    .iter()
                    .filter(|t| t.track_id == track_id)
                    .map(|t| &t.metadata);
                for container in std::iter::once(&rev.media).chain(per_track) {
                    for tag in container.tags.iter().filter_map(|t| t.std.as_ref()) {
                        info.add(tag);
                    }
                    info.has_art |= container.visuals.iter().any(|v| !v.data.is_empty());
                }
            }
            if log.pop().is_none() {
                break;
            }
        }
        Ok(info)
    }
}

/// The picture embedded in the audio file at `path` (front cover
/// preferred), or `None` when it has none or cannot be read.
pub fn embedded_cover(path: &Path, relative: &str) -> Option<tags::Cover> {
    let mut probed = transcode::probe(path, relative).ok()?;
    {
        let mut t = tags::Tags::default();
        let mut log = probed.format.metadata();
        loop {
            if let Some(rev) = log.current() {
                t.add_revision(rev, probed.track_id);
            }
            if log.pop().is_none() {
                break;
            }
        }
        t.embedded_cover().cloned()
    }
}

fn codec_name(id: symphonia::core::codecs::audio::AudioCodecId) -> &'static str {
    match id {
        codecs::CODEC_ID_FLAC => "flac",
        codecs::CODEC_ID_ALAC => "alac",
        codecs::CODEC_ID_AAC => "aac",
        codecs::CODEC_ID_VORBIS => "vorbis",
        codecs::CODEC_ID_OPUS => "opus",
        codecs::CODEC_ID_MP3 => "mp3",
        id if (codecs::CODEC_ID_PCM_S32LE..=codecs::CODEC_ID_PCM_MULAW).contains(&id) => "pcm",
        _ => "unknown",
    }
}

fn text(v: &str) -> Option<Box<str>> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.into())
}

fn small(n: u64) -> Option<u32> {
    u32::try_from(n).ok().filter(|n| *n > 0)
}

impl TrackInfo {
    fn add(&mut self, tag: &StandardTag) {
        use StandardTag as S;
        match tag {
            S::TrackTitle(v) => self.title = text(v).or(self.title.take()),
            S::Artist(v) => self.artist = text(v).or(self.artist.take()),
            S::Album(v) => self.album = text(v).or(self.album.take()),
            S::AlbumArtist(v) => self.album_artist = text(v).or(self.album_artist.take()),
            S::Genre(v) => self.genre = text(v).or(self.genre.take()),
            S::TrackNumber(n) => self.track = small(*n).or(self.track),
            S::DiscNumber(n) => self.disc = small(*n).or(self.disc),
            S::RecordingYear(y) | S::ReleaseYear(y) => {
                self.year = self.year.or(Some(u32::from(*y)));
            }
            S::RecordingDate(d) | S::ReleaseDate(d) => {
                let year = d.trim().get(..4).and_then(|y| y.parse::<u32>().ok());
                self.year = self.year.or(year);
            }
            _ => {}
        }
    }
}
