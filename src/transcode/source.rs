//! The symphonia side of a transcode: opening a file, finding its audio
//! track and its decoder, and classifying symphonia's errors. Every entry
//! point contains a panic in the prober (a hostile file can make one
//! assert); see [`super::contain`].

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::TimeBase;

use super::{TranscodeError, contain, riff};

/// An opened audio file: its container reader and a decoder for its
/// default audio track.
pub struct Decoding {
    pub format: Box<dyn symphonia::core::formats::FormatReader>,
    pub decoder: Box<dyn symphonia::core::codecs::audio::AudioDecoder>,
    pub track_id: u32,
    /// Frames in the track when the container says (None for some streams).
    pub total_frames: Option<u64>,
    pub params: symphonia::core::codecs::audio::AudioCodecParameters,
    /// The unit of the track's packet timestamps (None: one sample).
    pub time_base: Option<TimeBase>,
}

/// A container opened for reading, before any decoder exists: enough to
/// read tags and stream parameters without decoding audio.
pub struct Probed {
    pub format: Box<dyn symphonia::core::formats::FormatReader>,
    pub track_id: u32,
    /// Frames in the track when the container says (None for some streams).
    pub total_frames: Option<u64>,
    pub params: symphonia::core::codecs::audio::AudioCodecParameters,
    /// The unit of the track's packet timestamps (None: one sample).
    pub time_base: Option<TimeBase>,
}

/// Opens `input` with symphonia (gapless trimming on) and finds its default
/// audio track. Reads headers and tags only (a few KB for most files).
/// `relative` names the file in errors.
///
/// Errors: [`TranscodeError::Io`] if it cannot be read,
/// [`TranscodeError::Corrupt`] if it is empty, has no audio track or makes
/// the prober panic (contained here), [`TranscodeError::Unsupported`] for a
/// container symphonia lacks.
pub fn probe(input: &Path, relative: &str) -> Result<Probed, TranscodeError> {
    contain(relative, || probe_uncontained(input, relative))
}

fn probe_uncontained(input: &Path, relative: &str) -> Result<Probed, TranscodeError> {
    let path = relative.to_owned();
    let corrupt = |what: &str| TranscodeError::Corrupt {
        path: path.clone(),
        what: what.to_owned(),
    };
    let mut file = File::open(input).map_err(|err| TranscodeError::Io {
        path: path.clone(),
        err,
    })?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(corrupt("the file is empty"));
    }
    let mut format_options = FormatOptions::default();
    format_options.external_data.metadata = riff::wave_metadata(&mut file);
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = input.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format = symphonia::default::get_probe()
        .probe(&hint, mss, format_options, MetadataOptions::default())
        .map_err(|e| symphonia_error(relative, e))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| corrupt("no audio track"))?;
    let track_id = track.id;
    let total_frames = track.num_frames;
    let time_base = track.time_base;
    let Some(CodecParameters::Audio(params)) = track.codec_params.clone() else {
        return Err(corrupt("no audio track"));
    };
    Ok(Probed {
        format,
        track_id,
        total_frames,
        params,
        time_base,
    })
}

/// Opens `input` as [`probe`] does and prepares a decoder for its default
/// audio track.
///
/// Errors: as for [`probe`], and [`TranscodeError::Unsupported`] for a
/// codec symphonia lacks. A panic while probing or preparing the decoder is
/// contained and reported as [`TranscodeError::Corrupt`]; decoding the
/// packets is the caller's to contain (see [`contain`]).
pub fn open(input: &Path, relative: &str) -> Result<Decoding, TranscodeError> {
    contain(relative, || open_uncontained(input, relative))
}

pub(super) fn open_uncontained(input: &Path, relative: &str) -> Result<Decoding, TranscodeError> {
    let Probed {
        format,
        track_id,
        total_frames,
        params,
        time_base,
    } = probe_uncontained(input, relative)?;
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| symphonia_error(relative, e))?;
    Ok(Decoding {
        format,
        decoder,
        track_id,
        total_frames,
        params,
        time_base,
    })
}

/// Classifies a symphonia error for the file `relative`.
pub(super) fn symphonia_error(relative: &str, e: SymphoniaError) -> TranscodeError {
    let path = relative.to_owned();
    match e {
        SymphoniaError::Unsupported(what) => TranscodeError::Unsupported {
            path,
            what: what.to_owned(),
        },
        SymphoniaError::IoError(err) => TranscodeError::Io { path, err },
        other => TranscodeError::Corrupt {
            path,
            what: other.to_string(),
        },
    }
}
