//! The LAME side of a transcode: the encoder built for a CBR level, the
//! resampler in front of it for rates MP3 cannot carry, and bringing any
//! channel layout to the one or two channels an MP3 has.

use mp3lame_encoder::{Bitrate, Builder, FlushGap, InterleavedPcm, Mode, MonoPcm, VbrMode};

use super::Options;
use super::resample::{self, Resampler};

/// LAME's constant for a CBR bitrate in kbit/s; `None` for a rate it has
/// no constant for.
fn lame_bitrate(kbps: u32) -> Option<Bitrate> {
    Some(match kbps {
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => return None,
    })
}

/// LAME's algorithm selection for `lame_set_quality` (the crate calls
/// it `Quality`; here that word means the level only).
fn lame_algorithm(q: u8) -> mp3lame_encoder::Quality {
    use mp3lame_encoder::Quality as Q;
    match q {
        0 => Q::Best,
        1 => Q::SecondBest,
        2 => Q::NearBest,
        3 => Q::VeryNice,
        4 => Q::Nice,
        5 => Q::Good,
        6 => Q::Decent,
        7 => Q::Ok,
        8 => Q::SecondWorst,
        _ => Q::Worst,
    }
}

/// LAME plus, for rates MP3 cannot carry, the resampler in front of it.
pub(super) struct Pipeline {
    pub(super) lame: mp3lame_encoder::Encoder,
    pub(super) resampler: Option<Resampler>,
    pub(super) source_rate_hz: u32,
    pub(super) output_rate_hz: u32,
    /// 1 or 2.
    pub(super) channels: usize,
    /// Frames handed to LAME.
    pub(super) output_frames: u64,
    resampled: Vec<f32>,
    mp3: Vec<u8>,
}

impl Pipeline {
    pub(super) fn new(
        rate_hz: u32,
        source_channels: usize,
        opts: &Options,
        relative: &str,
    ) -> Result<Self, String> {
        let channels = if source_channels == 1 { 1 } else { 2 };
        let mut resampler = None;
        let mut output_rate_hz = rate_hz;
        if let Some(to) = resample::target_rate(rate_hz) {
            match Resampler::new(rate_hz, to, channels) {
                Some(r) => {
                    resampler = Some(r);
                    output_rate_hz = to;
                }
                // An awkward ratio: LAME resamples it instead.
                None => {
                    log::debug!("transcoding {relative:?}: {rate_hz} Hz left to LAME's resampler")
                }
            }
        }
        Ok(Pipeline {
            lame: build_encoder(output_rate_hz, channels, opts)?,
            resampler,
            source_rate_hz: rate_hz,
            output_rate_hz,
            channels,
            output_frames: 0,
            resampled: Vec::new(),
            mp3: Vec::new(),
        })
    }

    /// Encodes interleaved frames of `self.channels` channels; returns the
    /// MP3 bytes LAME produced (often none for a small input).
    pub(super) fn encode(&mut self, pcm: &[f32]) -> Result<&[u8], String> {
        let pcm = match &mut self.resampler {
            Some(r) => {
                self.resampled.clear();
                r.process(pcm, &mut self.resampled);
                &self.resampled[..]
            }
            None => pcm,
        };
        self.mp3.clear();
        lame_encode(&mut self.lame, self.channels, pcm, &mut self.mp3)?;
        self.output_frames += (pcm.len() / self.channels) as u64;
        Ok(&self.mp3)
    }

    /// Drains the resampler and LAME; returns the last MP3 bytes.
    pub(super) fn finish(&mut self) -> Result<&[u8], String> {
        self.mp3.clear();
        if let Some(r) = &mut self.resampler {
            self.resampled.clear();
            r.finish(&mut self.resampled);
            lame_encode(
                &mut self.lame,
                self.channels,
                &self.resampled,
                &mut self.mp3,
            )?;
            self.output_frames += (self.resampled.len() / self.channels) as u64;
        }
        let mut tail = Vec::with_capacity(7200);
        // FlushGap encodes every buffered sample; FlushNoGap would drop the tail.
        self.lame
            .flush_to_vec::<FlushGap>(&mut tail)
            .map_err(|e| format!("{e:?}"))?;
        self.mp3.extend_from_slice(&tail);
        Ok(&self.mp3)
    }

    /// The LAME Info tag frame, to write over the placeholder.
    pub(super) fn info_tag(&mut self) -> Vec<u8> {
        let mut tag = Vec::with_capacity(self.lame.lame_tag_size().max(1));
        if self.lame.lame_tag_encode_to_vec(&mut tag).is_some() {
            tag
        } else {
            Vec::new()
        }
    }
}

fn lame_encode(
    lame: &mut mp3lame_encoder::Encoder,
    channels: usize,
    pcm: &[f32],
    mp3: &mut Vec<u8>,
) -> Result<(), String> {
    if pcm.is_empty() {
        return Ok(());
    }
    let frames = pcm.len() / channels;
    mp3.reserve(mp3lame_encoder::max_required_buffer_size(frames));
    let encoded = if channels == 1 {
        lame.encode_to_vec(MonoPcm(pcm), mp3)
    } else {
        lame.encode_to_vec(InterleavedPcm(pcm), mp3)
    };
    encoded.map(|_| ()).map_err(|e| format!("{e:?}"))
}

fn build_encoder(
    sample_rate_hz: u32,
    channels: usize,
    opts: &Options,
) -> Result<mp3lame_encoder::Encoder, String> {
    let brate = lame_bitrate(opts.bitrate_kbps)
        .ok_or_else(|| format!("{} kbit/s is not a LAME bitrate", opts.bitrate_kbps))?;
    let mut b = Builder::new().ok_or("LAME could not allocate an encoder")?;
    let e = |e: mp3lame_encoder::BuildError| format!("{e:?}");
    b.set_num_channels(channels as u8).map_err(e)?;
    b.set_sample_rate(sample_rate_hz).map_err(e)?;
    // Never let LAME pick another output rate: the size prediction and the
    // Info tag's sample count assume the MP3 runs at the input's rate.
    if [32_000, 44_100, 48_000].contains(&sample_rate_hz) {
        b.set_output_sample_rate(std::num::NonZeroU32::new(sample_rate_hz))
            .map_err(e)?;
    }
    b.set_vbr_mode(VbrMode::Off).map_err(e)?;
    b.set_brate(brate).map_err(e)?;
    b.set_mode(if channels == 1 {
        Mode::Mono
    } else {
        Mode::JointStereo
    })
    .map_err(e)?;
    b.set_quality(lame_algorithm(opts.lame_algorithm))
        .map_err(e)?;
    b.set_to_write_vbr_tag(true).map_err(e)?;
    b.build().map_err(e)
}
