//! Channel layouts: any number of source channels brought to the one or
//! two an MP3 carries.

/// Downmixes interleaved `frames` of `channels` (> 2) to stereo in place
/// using ITU-R BS.775 coefficients: front left/right at 1, centre and
/// surrounds at −3 dB (0.7071), LFE dropped, then scaled by the sum of the
/// coefficients feeding one side so a full-scale input cannot clip.
/// Channel order is the WAVE/SMPTE order symphonia delivers (L R C LFE Ls
/// Rs ...); channels past the sixth are dropped.
pub fn downmix_to_stereo(pcm: &mut Vec<f32>, channels: usize) {
    const M3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let has_c = channels >= 3;
    let has_s = channels >= 5;
    let side_sum = 1.0 + if has_c { M3DB } else { 0.0 } + if has_s { M3DB } else { 0.0 };
    let norm = 1.0 / side_sum;
    let frames = pcm.len() / channels;
    for i in 0..frames {
        let f = &pcm[i * channels..(i + 1) * channels];
        let c = if has_c { f[2] * M3DB } else { 0.0 };
        let (ls, rs) = if has_s {
            (f[4] * M3DB, f[5] * M3DB)
        } else {
            (0.0, 0.0)
        };
        let l = (f[0] + c + ls) * norm;
        let r = (f[1] + c + rs) * norm;
        pcm[2 * i] = l;
        pcm[2 * i + 1] = r;
    }
    pcm.truncate(frames * 2);
}

/// Brings interleaved `pcm` of `from` channels to `to` (1 or 2) channels in
/// place: a BS.775 downmix above two, a mean for stereo to mono, a copy for
/// mono to stereo (only when a stream changes channel count mid-way).
pub fn to_channels(pcm: &mut Vec<f32>, from: usize, to: usize) {
    match (from, to) {
        (f, t) if f == t => {}
        (f, 2) if f > 2 => downmix_to_stereo(pcm, f),
        (1, 2) => {
            let mono = std::mem::take(pcm);
            pcm.extend(mono.iter().flat_map(|&s| [s, s]));
        }
        (f, 1) => {
            let frames = pcm.len() / f;
            for i in 0..frames {
                pcm[i] = pcm[i * f..(i + 1) * f].iter().sum::<f32>() / f as f32;
            }
            pcm.truncate(frames);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downmix_keeps_full_scale_below_clipping_and_drops_lfe() {
        // 5.1 at full scale on every channel, LFE included.
        let mut pcm = vec![1.0f32; 6 * 4];
        downmix_to_stereo(&mut pcm, 6);
        assert_eq!(pcm.len(), 8);
        assert!(pcm.iter().all(|&s| (s - 1.0).abs() < 1e-6), "{pcm:?}");
        // Only LFE: silence.
        let mut lfe = vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        downmix_to_stereo(&mut lfe, 6);
        assert_eq!(lfe, vec![0.0, 0.0]);
        // Centre only: equal on both sides, −3 dB before normalisation.
        let mut c = vec![0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        downmix_to_stereo(&mut c, 6);
        assert!((c[0] - c[1]).abs() < 1e-6 && c[0] > 0.2 && c[0] < 0.71);
    }
}
