//! tapedeck's sample processing: the loops every sample of a transcode
//! goes through on its way from symphonia's decoder to LAME (conversion to
//! interleaved `f32`, channel layout, sample-rate conversion).
//!
//! A crate of its own so that it can stay at -O3 while the rest of
//! tapedeck is optimised for size: generic symphonia code is compiled at
//! the opt-level of the crate that instantiates it, so the conversion from
//! symphonia's buffers is instantiated here. Fat LTO runs its final
//! optimisation (where LLVM vectorises) at the binary's opt-level, "s",
//! which does not vectorise, so the resampler's inner loop is written with
//! SSE/NEON intrinsics (see `resample::dot`). Measured on a 24/96 FLAC:
//! everything at "s" ran a third slower than all -O3; this crate at -O3
//! 13 % slower; with the intrinsics 2 %.

pub mod channels;
pub mod resample;

use symphonia_core::audio::GenericAudioBufferRef;

/// Replaces the contents of `out` with `decoded`'s samples, interleaved,
/// as `f32` in -1.0..1.0, whatever the source's sample format (24-bit
/// samples stay exact in f32's 24-bit mantissa).
pub fn interleave_f32(decoded: &GenericAudioBufferRef<'_>, out: &mut Vec<f32>) {
    decoded.copy_to_vec_interleaved::<f32>(out);
}
