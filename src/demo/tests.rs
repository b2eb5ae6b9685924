//! The demo library: made whole or not at all, decodable, tagged, and made
//! once.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::*;
use crate::catalog::read_track_info;

const FRAMES: usize = (TRACK_S * sound::SAMPLE_RATE_HZ as f64) as usize;

/// A fresh cache directory and the demo library's place in it.
fn place() -> (tempfile::TempDir, PathBuf) {
    let cache = tempfile::tempdir().expect("temp dir");
    let dir = location(cache.path());
    (cache, dir)
}

/// Every file under `dir` (dotfiles included) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(name, fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Decodes the whole file with symphonia, as the transcoder opens it:
/// (sample rate, channels, interleaved samples).
fn decode(path: &Path) -> (u32, usize, Vec<f32>) {
    let mut d = transcode::open(path, "demo").expect("opens");
    let mut all = Vec::new();
    let mut buf = Vec::new();
    while let Some(packet) = d.format.next_packet().expect("reads") {
        if packet.track_id != d.track_id {
            continue;
        }
        let decoded = d.decoder.decode(&packet).expect("decodes");
        tapedeck_dsp::interleave_f32(&decoded, &mut buf);
        all.extend_from_slice(&buf);
    }
    let channels = d.params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
    (d.params.sample_rate.unwrap_or(0), channels, all)
}

fn track_path(dir: &Path, track: &Track) -> PathBuf {
    dir.join(ALBUM_DIR).join(track.file_name())
}

#[test]
fn the_first_run_makes_four_tracks_and_a_cover_in_one_album_folder() {
    let (cache, dir) = place();
    assert_eq!(ensure(&dir).unwrap(), Ensured::Made);
    assert!(is_complete(&dir));
    assert_eq!(names_in(&dir), [MANIFEST, ALBUM_DIR]);
    assert_eq!(
        names_in(&dir.join(ALBUM_DIR)),
        [
            "01 C major.flac",
            "02 A minor.wav",
            "03 F major.mp3",
            "04 G major.flac",
            "cover.jpg"
        ]
    );
    // No temporary is left beside it.
    assert_eq!(names_in(cache.path()), [DIR_NAME]);
}

#[test]
fn every_track_decodes_to_a_few_seconds_of_stereo_sound() {
    let (_cache, dir) = place();
    ensure(&dir).unwrap();
    for track in &TRACKS {
        let (rate, channels, samples) = decode(&track_path(&dir, track));
        assert_eq!((rate, channels), (44_100, 2), "{}", track.file_name());
        let frames = samples.len() / channels;
        match track.format {
            Format::Flac | Format::Wav => assert_eq!(frames, FRAMES),
            // Gapless trimming gives the source length back, give or take
            // a frame of padding.
            Format::Mp3 => assert!(frames.abs_diff(FRAMES) <= 1152, "{frames}"),
        }
        let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt();
        assert!(
            rms > 0.02,
            "{} is not silence: rms {rms}",
            track.file_name()
        );
    }
}

#[test]
fn the_lossless_tracks_hold_exactly_the_chord() {
    let (_cache, dir) = place();
    ensure(&dir).unwrap();
    for track in TRACKS.iter().filter(|t| t.format != Format::Mp3) {
        let (_, _, samples) = decode(&track_path(&dir, track));
        let back: Vec<i16> = samples
            .iter()
            .map(|s| (s * 32768.0).round() as i16)
            .collect();
        assert!(
            back == sound::chord(&track.notes_hz, TRACK_S),
            "{} decodes to other samples",
            track.file_name()
        );
    }
}

#[test]
fn tags_are_read_back_as_the_catalog_reads_them() {
    let (_cache, dir) = place();
    ensure(&dir).unwrap();
    for track in &TRACKS {
        let info = read_track_info(&track_path(&dir, track), "demo").unwrap();
        assert_eq!(info.title.as_deref(), Some(track.title().as_str()));
        assert_eq!(info.artist.as_deref(), Some(ARTIST), "{}", track.title());
        assert_eq!(info.album.as_deref(), Some(ALBUM), "{}", track.title());
        assert_eq!(info.track, Some(track.number), "{}", track.title());
        let seconds = info.duration_s.expect("a duration");
        assert!(
            (seconds - TRACK_S).abs() < 0.05,
            "{}: {seconds}",
            track.title()
        );
    }
    // The transcoder put the folder's cover into the MP3.
    let mp3 = TRACKS.iter().find(|t| t.format == Format::Mp3).unwrap();
    assert!(
        read_track_info(&track_path(&dir, mp3), "demo")
            .unwrap()
            .has_art
    );
}

#[test]
fn a_second_run_finds_the_library_and_writes_nothing() {
    let (_cache, dir) = place();
    ensure(&dir).unwrap();
    let stamp = |p: &Path| fs::metadata(p).unwrap().modified().unwrap();
    let manifest_time = stamp(&dir.join(MANIFEST));
    let before = snapshot(&dir);
    assert_eq!(ensure(&dir).unwrap(), Ensured::Found);
    assert_eq!(snapshot(&dir), before);
    assert_eq!(stamp(&dir.join(MANIFEST)), manifest_time);
}

#[test]
fn a_library_made_again_is_byte_for_byte_the_same() {
    let (_cache, first) = place();
    let (_other, second) = place();
    ensure(&first).unwrap();
    ensure(&second).unwrap();
    assert_eq!(snapshot(&first), snapshot(&second));
}

#[test]
fn an_incomplete_library_is_made_again() {
    let (_cache, dir) = place();
    ensure(&dir).unwrap();
    let whole = snapshot(&dir);
    let wav = track_path(&dir, &TRACKS[1]);
    let flac = track_path(&dir, &TRACKS[3]);
    type Damage = Box<dyn Fn()>;
    let damages: [(&str, Damage); 4] = [
        (
            "a deleted track",
            Box::new({
                let wav = wav.clone();
                move || fs::remove_file(&wav).unwrap()
            }),
        ),
        (
            "a truncated track",
            Box::new(move || {
                File::options()
                    .write(true)
                    .open(&flac)
                    .unwrap()
                    .set_len(1000)
                    .unwrap()
            }),
        ),
        (
            "no manifest (a half library from a killed run)",
            Box::new({
                let dir = dir.clone();
                move || fs::remove_file(dir.join(MANIFEST)).unwrap()
            }),
        ),
        (
            "an older demo's manifest",
            Box::new({
                let dir = dir.clone();
                move || fs::write(dir.join(MANIFEST), "tapedeck demo library 0\n").unwrap()
            }),
        ),
    ];
    for (what, damage) in damages {
        damage();
        assert!(!is_complete(&dir), "{what} is noticed");
        assert_eq!(ensure(&dir).unwrap(), Ensured::Made, "{what}");
        assert_eq!(snapshot(&dir), whole, "{what} is repaired");
    }
}

#[test]
fn a_killed_runs_temporary_is_never_served_and_is_cleaned_up() {
    let (cache, dir) = place();
    // A start that died while writing: half a library under a temporary
    // name, last touched long ago; and one being written right now.
    let dead = cache.path().join(format!("{DIR_NAME}.part-0"));
    let busy = cache.path().join(format!("{DIR_NAME}.part-4294967295"));
    for d in [&dead, &busy] {
        fs::create_dir_all(d.join(ALBUM_DIR)).unwrap();
        fs::write(d.join(ALBUM_DIR).join("01 C major.flac"), b"fLaC").unwrap();
    }
    let long_ago = SystemTime::now() - STALE_AFTER - Duration::from_secs(60);
    File::open(&dead).unwrap().set_modified(long_ago).unwrap();
    assert!(!is_complete(&dir));
    assert_eq!(ensure(&dir).unwrap(), Ensured::Made);
    assert!(is_complete(&dir));
    assert!(!dead.exists(), "the dead run's temporary is removed");
    assert!(busy.exists(), "a recent one may be another start at work");
}

#[test]
fn a_cache_directory_that_cannot_be_made_is_an_error_naming_it() {
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let err = ensure(&location(&file)).unwrap_err();
    assert!(
        matches!(&err, DemoError::Io { path, .. } if path == &file),
        "{err:?}"
    );
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}
