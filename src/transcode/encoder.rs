//! LAME, set up for segments that fit together: CBR, the bit reservoir
//! off (every frame's `main_data_begin` is 0, so a frame decodes without
//! the bytes of the frames before it), no Info tag of LAME's own (ours is
//! written up front, see [`super::layout`]).
//!
//! The `mp3lame-encoder` crate's builder has no switch for the bit
//! reservoir, so this is a small safe wrapper over the raw LAME calls it
//! re-exports (`mp3lame_encoder::ffi`, LAME 3.100's `lame.h`).

use std::ptr::NonNull;

use mp3lame_encoder::ffi;

/// An MPEG-1 Layer III bitrate in kbit/s (ISO 11172-3 §2.4.2.3).
pub fn is_mpeg1_bitrate(kbps: u32) -> bool {
    [
        32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ]
    .contains(&kbps)
}

/// One LAME encoder (`lame_global_flags`), freed on drop.
pub struct Lame {
    gfp: NonNull<ffi::lame_global_flags>,
    channels: usize,
    mp3: Vec<u8>,
}

// SAFETY: a LAME encoder has no thread affinity; `Lame` owns it alone and
// every call takes `&mut self` or reads plain settings.
unsafe impl Send for Lame {}

impl Drop for Lame {
    fn drop(&mut self) {
        // SAFETY: `gfp` came from `lame_init` and is closed once.
        unsafe {
            ffi::lame_close(self.gfp.as_ptr());
        }
    }
}

impl Lame {
    /// A CBR encoder at `kbps` for `channels` (1 or 2) channels at
    /// `rate_hz` (32 000, 44 100 or 48 000: the output is MPEG-1 at the
    /// input's rate, never resampled by LAME). `algorithm` is
    /// `lame_set_quality` (0 best … 9 fastest).
    ///
    /// Errors: a rate or bitrate MPEG-1 lacks, or LAME refusing the
    /// settings (`lame_init_params` < 0).
    pub fn new(rate_hz: u32, channels: usize, kbps: u32, algorithm: u8) -> Result<Lame, String> {
        if ![32_000, 44_100, 48_000].contains(&rate_hz) {
            return Err(format!("{rate_hz} Hz is not an MPEG-1 rate"));
        }
        if !is_mpeg1_bitrate(kbps) {
            return Err(format!("{kbps} kbit/s is not an MPEG-1 Layer III bitrate"));
        }
        // SAFETY: lame_init returns a fresh encoder or null.
        let gfp = NonNull::new(unsafe { ffi::lame_init() })
            .ok_or("LAME could not allocate an encoder")?;
        let lame = Lame {
            gfp,
            channels: if channels == 1 { 1 } else { 2 },
            mp3: Vec::new(),
        };
        let p = gfp.as_ptr();
        let rate = rate_hz as i32;
        // SAFETY: `p` is a live encoder; the setters only store values.
        let rc = unsafe {
            ffi::lame_set_num_channels(p, lame.channels as i32)
                | ffi::lame_set_in_samplerate(p, rate)
                | ffi::lame_set_out_samplerate(p, rate)
                | ffi::lame_set_VBR(p, ffi::vbr_mode::vbr_off)
                | ffi::lame_set_brate(p, kbps as i32)
                | ffi::lame_set_mode(
                    p,
                    if lame.channels == 1 {
                        ffi::MPEG_mode::MONO
                    } else {
                        ffi::MPEG_mode::JOINT_STEREO
                    },
                )
                | ffi::lame_set_quality(p, i32::from(algorithm.min(9)))
                | ffi::lame_set_bWriteVbrTag(p, 0)
                | ffi::lame_set_disable_reservoir(p, 1)
        };
        if rc != 0 {
            return Err("LAME refused a setting".into());
        }
        // SAFETY: as above.
        if unsafe { ffi::lame_init_params(p) } < 0 {
            return Err(format!(
                "LAME refused {channels} channels at {rate_hz} Hz, {kbps} kbit/s"
            ));
        }
        Ok(lame)
    }

    /// The lowpass LAME chose, in Hz (for the Info tag).
    pub fn lowpass_hz(&self) -> u32 {
        // SAFETY: a live encoder; a getter.
        u32::try_from(unsafe { ffi::lame_get_lowpassfreq(self.gfp.as_ptr()) }).unwrap_or(0)
    }

    /// Samples of encoder delay at the start of the stream (576 for LAME
    /// 3.100 at MPEG-1 rates).
    pub fn encoder_delay(&self) -> u32 {
        // SAFETY: a live encoder; a getter.
        u32::try_from(unsafe { ffi::lame_get_encoder_delay(self.gfp.as_ptr()) }).unwrap_or(576)
    }

    /// Encodes interleaved `pcm` (`channels` per frame, −1.0…1.0) and
    /// returns the MP3 bytes LAME produced (often none for a small input).
    ///
    /// Errors: LAME's negative return code.
    pub fn encode(&mut self, pcm: &[f32]) -> Result<&[u8], String> {
        let frames = pcm.len() / self.channels;
        self.mp3.clear();
        if frames == 0 {
            return Ok(&self.mp3);
        }
        // lame.h: worst case 1.25 × samples + 7200 bytes.
        let cap = frames * 5 / 4 + 7200;
        self.mp3.reserve(cap);
        let p = self.gfp.as_ptr();
        let out = self.mp3.as_mut_ptr();
        let n = i32::try_from(frames).map_err(|_| "too many samples at once")?;
        let cap = i32::try_from(cap).unwrap_or(i32::MAX);
        // SAFETY: `pcm` holds `frames × channels` floats; `out` has `cap`
        // bytes of spare capacity; LAME writes at most `cap` bytes.
        let rc = unsafe {
            if self.channels == 1 {
                ffi::lame_encode_buffer_ieee_float(p, pcm.as_ptr(), std::ptr::null(), n, out, cap)
            } else {
                ffi::lame_encode_buffer_interleaved_ieee_float(p, pcm.as_ptr(), n, out, cap)
            }
        };
        let written = usize::try_from(rc).map_err(|_| format!("LAME encode error {rc}"))?;
        // SAFETY: LAME initialised `written` bytes.
        unsafe { self.mp3.set_len(written) };
        Ok(&self.mp3)
    }

    /// Encodes every buffered sample, padding the last frame with silence
    /// (`lame_encode_flush`), and returns the last MP3 bytes.
    ///
    /// Errors: LAME's negative return code.
    pub fn flush(&mut self) -> Result<&[u8], String> {
        self.mp3.clear();
        let cap = 7200 * 4;
        self.mp3.reserve(cap);
        // SAFETY: `mp3` has `cap` bytes of spare capacity.
        let rc =
            unsafe { ffi::lame_encode_flush(self.gfp.as_ptr(), self.mp3.as_mut_ptr(), cap as i32) };
        let written = usize::try_from(rc).map_err(|_| format!("LAME flush error {rc}"))?;
        // SAFETY: LAME initialised `written` bytes.
        unsafe { self.mp3.set_len(written) };
        Ok(&self.mp3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_a_reservoir_free_encode_start_their_main_data_in_themselves() {
        let mut lame = Lame::new(44_100, 2, 128, 5).unwrap();
        let pcm: Vec<f32> = (0..44_100 * 2)
            .map(|i| ((i / 2) as f32 * 0.05).sin() * 0.5 * if i % 97 == 0 { 1.0 } else { 0.3 })
            .collect();
        let mut mp3 = lame.encode(&pcm).unwrap().to_vec();
        mp3.extend_from_slice(lame.flush().unwrap());
        let frames: Vec<_> = crate::mp3::frames(&mp3).collect::<Result<_, _>>().unwrap();
        assert!(frames.len() > 30);
        for f in frames {
            let at = f.offset as usize + 4;
            let main_data_begin = (u16::from(mp3[at]) << 1) | u16::from(mp3[at + 1] >> 7);
            assert_eq!(main_data_begin, 0, "frame at {}", f.offset);
        }
        assert_eq!(lame.encoder_delay(), 576);
        assert!(lame.lowpass_hz() > 10_000);
        assert!(Lame::new(22_050, 2, 128, 5).is_err());
        assert!(Lame::new(44_100, 2, 100, 5).is_err());
    }
}

#[cfg(test)]
mod info_tag {
    use super::*;

    /// The Info frame LAME itself writes for `samples` of a 440 Hz tone
    /// at 44.1 kHz, 192 kbit/s, with the reservoir off.
    fn lames_own_info_frame(samples: usize) -> Vec<u8> {
        // SAFETY: a fresh encoder, set up, used and closed here; buffers
        // are sized for LAME's worst case.
        unsafe {
            let gfp = ffi::lame_init();
            assert!(!gfp.is_null());
            ffi::lame_set_num_channels(gfp, 2);
            ffi::lame_set_in_samplerate(gfp, 44_100);
            ffi::lame_set_out_samplerate(gfp, 44_100);
            ffi::lame_set_VBR(gfp, ffi::vbr_mode::vbr_off);
            ffi::lame_set_brate(gfp, 192);
            ffi::lame_set_mode(gfp, ffi::MPEG_mode::JOINT_STEREO);
            ffi::lame_set_quality(gfp, 3);
            ffi::lame_set_bWriteVbrTag(gfp, 1);
            ffi::lame_set_disable_reservoir(gfp, 1);
            assert!(ffi::lame_init_params(gfp) >= 0);
            let pcm: Vec<f32> = (0..samples * 2)
                .map(|i| ((i / 2) as f32 * 0.0627).sin() * 0.3)
                .collect();
            let mut out = vec![0u8; samples * 2 + 100_000];
            let n = ffi::lame_encode_buffer_interleaved_ieee_float(
                gfp,
                pcm.as_ptr(),
                samples as i32,
                out.as_mut_ptr(),
                out.len() as i32,
            );
            assert!(n >= 0);
            ffi::lame_encode_flush(gfp, out.as_mut_ptr().add(n as usize), 20_000);
            let mut tag = vec![0u8; 2000];
            let len = ffi::lame_get_lametag_frame(gfp, tag.as_mut_ptr(), tag.len());
            tag.truncate(len);
            ffi::lame_close(gfp);
            tag
        }
    }

    #[test]
    fn our_info_frame_says_what_lame_would_say() {
        let samples = 123_457;
        let lame = Lame::new(44_100, 2, 192, 3).unwrap();
        let layout = crate::transcode::Layout::new(samples as u64, 44_100, 2, 192, 0).unwrap();
        let ours = layout.info_frame(lame.lowpass_hz(), 3);
        let theirs = lames_own_info_frame(samples);
        assert_eq!(ours.len(), theirs.len());
        // Equal but for: the byte count, TOC and music length (LAME's own
        // frames pad differently: its Info frame takes the first padding
        // slot), the music CRC (unknown up front) and the tag's CRC.
        let differ = |i: usize| (48..152).contains(&i) || (184..192).contains(&i);
        for i in (0..192).filter(|i| !differ(*i)) {
            assert_eq!(ours[i], theirs[i], "byte {i} of the Info frame");
        }
        assert_eq!(ours[44..48], theirs[44..48], "frame count");
        assert_eq!(ours[177..180], theirs[177..180], "delay and padding");
    }
}
