//! Sample-rate conversion for rates an MP3 cannot carry (88.2, 96, 176.4,
//! 192 kHz, or odd rates such as 50 kHz), done here rather than by LAME:
//! LAME's internal resampler made 24/96 transcodes slower than ffmpeg's.
//!
//! A rational polyphase FIR (up by L, down by M, only the output samples
//! are computed), with a Kaiser-windowed sinc low-pass designed once per
//! stream. For the common hi-res rates L = 1, so this is a plain decimator
//! with one phase. The band edges sit at 0.4535 and 0.5465 of the lower of
//! the two rates (20.0 and 24.1 kHz for 44.1 kHz output): anything that
//! aliases lands above the pass band, where LAME's own low-pass (about
//! 19.5 kHz at 192 kbit/s) removes it anyway. Stop band: 75 dB.
//!
//! The filter is centred on each output instant, so the output is not
//! delayed and has exactly `ceil(input_frames × L / M)` frames.

/// Output rate for a source at `rate_hz`, or `None` when an MPEG-1 MP3
/// carries it as it is (32, 44.1 and 48 kHz, ISO 11172-3). Multiples of
/// 11 025 Hz go to 44.1 kHz, everything else to 48 kHz; the low rates of
/// MPEG-2 and 2.5 (8 to 24 kHz) are resampled up too, so every output has
/// the frame layout of MPEG-1.
pub fn target_rate(rate_hz: u32) -> Option<u32> {
    const MP3_RATES_HZ: [u32; 3] = [32000, 44100, 48000];
    if MP3_RATES_HZ.contains(&rate_hz) || rate_hz == 0 {
        return None;
    }
    Some(if rate_hz.is_multiple_of(11025) {
        44100
    } else {
        48000
    })
}

/// Largest interpolation factor L handled here; beyond it the coefficient
/// table (L × taps floats) grows too large and LAME resamples instead.
pub const MAX_UP: u64 = 512;

const STOPBAND_DB: f64 = 75.0;
const PASS_EDGE: f64 = 0.4535;
const STOP_EDGE: f64 = 0.5465;

/// A streaming resampler for interleaved `f32` frames of a fixed channel
/// count.
pub struct Resampler {
    channels: usize,
    up: u64,
    down: u64,
    /// Taps per phase (even).
    taps: usize,
    /// `up` phases of `taps` coefficients each, phase-major.
    coeffs: Vec<f32>,
    /// One buffer per channel; index 0 is input frame `base`.
    planes: Vec<Vec<f32>>,
    base: i64,
    /// Input frames pushed so far.
    input_frames: u64,
    /// Output frames produced so far.
    output_frames: u64,
}

fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..50 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
    }
    sum
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Resampler {
    /// A resampler from `from_hz` to `to_hz` for `channels` interleaved
    /// channels, or `None` if the ratio needs more than [`MAX_UP`] phases
    /// (e.g. 44 056 → 44 100 Hz) or a rate is zero.
    pub fn new(from_hz: u32, to_hz: u32, channels: usize) -> Option<Self> {
        if from_hz == 0 || to_hz == 0 || channels == 0 {
            return None;
        }
        let g = gcd(u64::from(from_hz), u64::from(to_hz));
        let (up, down) = (u64::from(to_hz) / g, u64::from(from_hz) / g);
        if up > MAX_UP {
            return None;
        }
        // Everything below is in cycles per input sample.
        let lower = f64::from(from_hz.min(to_hz)) / f64::from(from_hz);
        let cutoff = 0.5 * (PASS_EDGE + STOP_EDGE) * lower;
        let width = (STOP_EDGE - PASS_EDGE) * lower;
        // Kaiser's estimates (Oppenheim & Schafer, 7.2): length and beta
        // for the stop-band attenuation.
        let beta = 0.1102 * (STOPBAND_DB - 8.7);
        let length = (STOPBAND_DB - 8.0) / (2.285 * std::f64::consts::TAU * width);
        let taps = ((length.ceil() as usize).max(4) + 1) & !1;
        let half = taps as f64 / 2.0;
        let i0_beta = bessel_i0(beta);
        let mut coeffs = Vec::with_capacity(up as usize * taps);
        for p in 0..up {
            let frac = p as f64 / up as f64;
            let start = coeffs.len();
            for k in 0..taps {
                // Distance from the output instant to input sample k of
                // the window, which starts taps/2 - 1 frames before it.
                let t = frac + half - 1.0 - k as f64;
                let x = 2.0 * cutoff * t;
                let sinc = if x.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let r = t / half;
                let window = if r.abs() >= 1.0 {
                    0.0
                } else {
                    bessel_i0(beta * (1.0 - r * r).sqrt()) / i0_beta
                };
                coeffs.push(2.0 * cutoff * sinc * window);
            }
            // Unity gain at DC for every phase, so a constant stays constant.
            let sum: f64 = coeffs[start..].iter().sum();
            for c in &mut coeffs[start..] {
                *c /= sum;
            }
        }
        let coeffs: Vec<f32> = coeffs.into_iter().map(|c| c as f32).collect();
        // Frames before the first one read as silence.
        let lead = taps / 2 - 1;
        Some(Resampler {
            channels,
            up,
            down,
            taps,
            coeffs,
            planes: vec![vec![0.0; lead]; channels],
            base: -(lead as i64),
            input_frames: 0,
            output_frames: 0,
        })
    }

    /// Makes the next output frame `n` (a fresh resampler starts at 0) and
    /// returns the input frame to feed next: output `n` depends on the
    /// `taps` input frames around `n × M / L`, so feeding from there gives
    /// exactly the frames a resampler fed from the start would give.
    /// Input frames before 0 are silence, supplied here.
    pub fn seek_output(&mut self, n: u64) -> u64 {
        let half = (self.taps / 2) as i64;
        let q = (n * self.down / self.up) as i64;
        let first = q - half + 1;
        for plane in &mut self.planes {
            plane.clear();
            plane.resize((-first).max(0) as usize, 0.0);
        }
        self.base = first;
        self.output_frames = n;
        self.input_frames = first.max(0) as u64;
        first.max(0) as u64
    }

    /// Taps per output sample per channel (the filter's cost).
    pub fn taps(&self) -> usize {
        self.taps
    }

    /// Feeds interleaved `input` and appends every output frame that can be
    /// computed to `output` (interleaved, same channel count).
    pub fn process(&mut self, input: &[f32], output: &mut Vec<f32>) {
        let frames = input.len() / self.channels;
        for (c, plane) in self.planes.iter_mut().enumerate() {
            plane.extend(input.iter().skip(c).step_by(self.channels).take(frames));
        }
        self.input_frames += frames as u64;
        self.run(output, u64::MAX);
    }

    /// Ends the stream: pads with silence and appends the remaining output
    /// frames, so the total output is `ceil(input_frames × L / M)` frames.
    pub fn finish(&mut self, output: &mut Vec<f32>) {
        let total = (self.input_frames * self.up).div_ceil(self.down);
        let pad = self.taps / 2 + 1;
        for plane in &mut self.planes {
            plane.extend(std::iter::repeat_n(0.0, pad));
        }
        self.run(output, total);
    }

    fn run(&mut self, output: &mut Vec<f32>, limit: u64) {
        let available = self.planes[0].len() as i64;
        let half = (self.taps / 2) as i64;
        let mut n = self.output_frames;
        while n < limit {
            // Output n sits at input time n·M/L = q + p/L.
            let pos = n * self.down;
            let (q, p) = ((pos / self.up) as i64, (pos % self.up) as usize);
            let first = q - half + 1 - self.base;
            if first + self.taps as i64 > available {
                break;
            }
            let h = &self.coeffs[p * self.taps..(p + 1) * self.taps];
            for plane in &self.planes {
                let x = &plane[first as usize..first as usize + self.taps];
                output.push(dot(h, x));
            }
            n += 1;
        }
        self.output_frames = n;
        // Drop input frames no later output can reach.
        let pos = n * self.down;
        let next_first = (pos / self.up) as i64 - half + 1 - self.base;
        if next_first > 0 {
            let drop = (next_first as usize).min(self.planes[0].len());
            for plane in &mut self.planes {
                plane.drain(..drop);
            }
            self.base += drop as i64;
        }
    }
}

/// Dot product of the filter phase `h` and the input window `x` (equal
/// lengths, the filter's taps), with eight independent sums.
///
/// On x86_64 (SSE) and aarch64 (NEON), both part of the target's
/// baseline, the eight sums are two 4-lane vector registers, written out
/// with `std::arch` rather than left to the auto-vectoriser: the release
/// build links with fat LTO, whose final optimisation runs at tapedeck's
/// opt-level "s", and at "s" LLVM does not vectorise (measured: a 24/96
/// transcode 13 % slower). Elsewhere (ARMv6/ARMv7 without NEON) the sums
/// are scalar.
fn dot(h: &[f32], x: &[f32]) -> f32 {
    let n = h.len().min(x.len());
    let (h, x) = (&h[..n], &x[..n]);
    let body = n - n % 8;
    let mut sum = dot8(&h[..body], &x[..body]);
    for (a, b) in h[body..].iter().zip(&x[body..]) {
        sum += a * b;
    }
    sum
}

/// [`dot`] over a whole number of 8-sample blocks (`h.len() == x.len()`,
/// a multiple of 8).
#[cfg(target_arch = "x86_64")]
fn dot8(h: &[f32], x: &[f32]) -> f32 {
    use std::arch::x86_64::{_mm_add_ps, _mm_loadu_ps, _mm_mul_ps, _mm_setzero_ps, _mm_storeu_ps};
    debug_assert!(h.len() == x.len() && h.len().is_multiple_of(8));
    let mut lanes = [0.0f32; 4];
    // SAFETY: SSE is in the x86_64 baseline. Every load reads four floats
    // at offset i or i + 4 with i + 8 <= len of both slices (the loop
    // bound), and the store writes four floats into `lanes`.
    unsafe {
        let (mut a0, mut a1) = (_mm_setzero_ps(), _mm_setzero_ps());
        let (hp, xp) = (h.as_ptr(), x.as_ptr());
        let mut i = 0;
        while i + 8 <= h.len().min(x.len()) {
            a0 = _mm_add_ps(
                a0,
                _mm_mul_ps(_mm_loadu_ps(hp.add(i)), _mm_loadu_ps(xp.add(i))),
            );
            a1 = _mm_add_ps(
                a1,
                _mm_mul_ps(_mm_loadu_ps(hp.add(i + 4)), _mm_loadu_ps(xp.add(i + 4))),
            );
            i += 8;
        }
        _mm_storeu_ps(lanes.as_mut_ptr(), _mm_add_ps(a0, a1));
    }
    lanes.iter().sum()
}

/// [`dot`] over a whole number of 8-sample blocks (`h.len() == x.len()`,
/// a multiple of 8).
#[cfg(target_arch = "aarch64")]
fn dot8(h: &[f32], x: &[f32]) -> f32 {
    use std::arch::aarch64::{vaddq_f32, vaddvq_f32, vdupq_n_f32, vld1q_f32, vmulq_f32};
    debug_assert!(h.len() == x.len() && h.len().is_multiple_of(8));
    // SAFETY: NEON is in the aarch64 baseline. Every load reads four
    // floats at offset i or i + 4 with i + 8 <= len of both slices (the
    // loop bound).
    unsafe {
        let (mut a0, mut a1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let (hp, xp) = (h.as_ptr(), x.as_ptr());
        let mut i = 0;
        while i + 8 <= h.len().min(x.len()) {
            a0 = vaddq_f32(a0, vmulq_f32(vld1q_f32(hp.add(i)), vld1q_f32(xp.add(i))));
            a1 = vaddq_f32(
                a1,
                vmulq_f32(vld1q_f32(hp.add(i + 4)), vld1q_f32(xp.add(i + 4))),
            );
            i += 8;
        }
        vaddvq_f32(vaddq_f32(a0, a1))
    }
}

/// [`dot`] over a whole number of 8-sample blocks (`h.len() == x.len()`,
/// a multiple of 8).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn dot8(h: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (a, b) in h.chunks_exact(8).zip(x.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += a[i] * b[i];
        }
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_a_plain_sum_at_every_length() {
        // Lengths around the 8-sample blocks, and slices that start off
        // any alignment.
        let h: Vec<f32> = (0..80)
            .map(|i| ((i * 37 % 19) as f32 - 9.0) / 7.0)
            .collect();
        let x: Vec<f32> = (0..80)
            .map(|i| ((i * 11 % 23) as f32 - 11.0) / 5.0)
            .collect();
        for start in 0..3 {
            for len in 0..=41 {
                let (h, x) = (&h[start..start + len], &x[start + 1..start + 1 + len]);
                let want: f64 = h
                    .iter()
                    .zip(x)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                let got = f64::from(dot(h, x));
                assert!(
                    (got - want).abs() < 1e-4,
                    "len {len} start {start}: {got} != {want}"
                );
            }
        }
    }

    fn sine(rate: u32, hz: f64, frames: usize, channels: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let s = (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin() as f32;
                std::iter::repeat_n(s * 0.5, channels)
            })
            .collect()
    }

    fn run_all(r: &mut Resampler, input: &[f32], chunk: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for c in input.chunks(chunk * r.channels) {
            r.process(c, &mut out);
        }
        r.finish(&mut out);
        out
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn target_rates_follow_the_rate_family() {
        assert_eq!(target_rate(44100), None);
        assert_eq!(target_rate(48000), None);
        assert_eq!(target_rate(22050), Some(44100));
        assert_eq!(target_rate(16000), Some(48000));
        assert_eq!(target_rate(88200), Some(44100));
        assert_eq!(target_rate(176400), Some(44100));
        assert_eq!(target_rate(96000), Some(48000));
        assert_eq!(target_rate(192000), Some(48000));
        assert_eq!(target_rate(50000), Some(48000));
    }

    #[test]
    fn output_length_is_input_times_ratio_rounded_up() {
        for (from, to, frames) in [
            (96000, 48000, 9601),
            (192000, 48000, 1003),
            (88200, 44100, 44100),
            (50000, 48000, 777),
            (37800, 48000, 12345),
        ] {
            let mut r = Resampler::new(from, to, 2).unwrap();
            let out = run_all(&mut r, &sine(from, 1000.0, frames, 2), 1000);
            let want = (frames as u64 * u64::from(to)).div_ceil(u64::from(from));
            assert_eq!(
                out.len() as u64,
                want * 2,
                "{from} -> {to}, {frames} frames"
            );
        }
    }

    #[test]
    fn a_resampler_seeked_to_an_output_frame_gives_the_same_frames_from_there() {
        let input = sine(96_000, 1000.0, 20_000, 2);
        let mut whole = Resampler::new(96_000, 48_000, 2).unwrap();
        let all = run_all(&mut whole, &input, 777);
        for n in [0u64, 1, 5, 3000, 9_990] {
            let mut r = Resampler::new(96_000, 48_000, 2).unwrap();
            let first = r.seek_output(n) as usize;
            let tail = run_all(&mut r, &input[first * 2..], 1000);
            assert_eq!(&all[n as usize * 2..], &tail[..], "from output frame {n}");
        }
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let input = sine(96000, 1234.0, 20000, 2);
        let a = run_all(&mut Resampler::new(96000, 48000, 2).unwrap(), &input, 1);
        let b = run_all(&mut Resampler::new(96000, 48000, 2).unwrap(), &input, 4096);
        assert_eq!(a, b);
    }

    #[test]
    fn pass_band_tone_keeps_level_and_timing() {
        // A 1 kHz tone at 96 kHz, decimated: same RMS, same phase (no delay).
        let input = sine(96000, 1000.0, 96000, 1);
        let out = run_all(&mut Resampler::new(96000, 48000, 1).unwrap(), &input, 4096);
        let want = sine(48000, 1000.0, 48000, 1);
        let mid = &out[1000..47000];
        let err: Vec<f32> = mid
            .iter()
            .zip(&want[1000..47000])
            .map(|(a, b)| a - b)
            .collect();
        assert!(
            (rms(mid) / rms(&want) - 1.0).abs() < 0.001,
            "gain {}",
            rms(mid)
        );
        assert!(rms(&err) < 1e-3, "error RMS {}", rms(&err));
    }

    #[test]
    fn tones_above_the_new_nyquist_are_removed() {
        // 30 kHz at 96 kHz would alias to 18 kHz at 48 kHz; it must be at
        // least 70 dB down.
        let input = sine(96000, 30000.0, 96000, 1);
        let out = run_all(&mut Resampler::new(96000, 48000, 1).unwrap(), &input, 4096);
        let level_db = 20.0 * (rms(&out[1000..47000]) / rms(&input)).log10();
        assert!(level_db < -70.0, "{level_db} dB");
    }

    #[test]
    fn a_constant_stays_constant_through_a_fractional_ratio() {
        let input = vec![0.25f32; 50000];
        let out = run_all(&mut Resampler::new(50000, 48000, 1).unwrap(), &input, 999);
        assert!(out[100..47000].iter().all(|&s| (s - 0.25).abs() < 1e-4));
    }

    #[test]
    fn ratios_needing_too_many_phases_are_refused() {
        assert!(Resampler::new(44056, 44100, 2).is_none());
        assert!(Resampler::new(0, 48000, 2).is_none());
    }
}
