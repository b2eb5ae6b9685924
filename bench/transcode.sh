#!/usr/bin/env bash
# Transcode benchmark (issue 3): tapedeck against ffmpeg at the same LAME
# settings, and against the lame CLI from a WAV (the encode-only floor),
# interleaved in one run so machine noise hits all three alike.
#
# usage: bench/transcode.sh [LIBRARY_DIR] [ROUNDS]
#   LIBRARY_DIR  a library from bench/make-library.sh (built into
#                ./target/bench-music when absent)
#   ROUNDS       runs of each command (default 5); medians are reported
#
# Prints, per input: median wall time and peak RSS of each command, and
# speed ratios (>1 means tapedeck is faster). Targets: 16/44.1 >= 1.0x
# ffmpeg and >= 0.9x lame; 24/96 >= 1.2x ffmpeg; RSS <= 12 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
LIB=${1:-target/bench-music}
ROUNDS=${2:-5}
need() { command -v "$1" >/dev/null 2>&1; }
if ! need ffmpeg || ! need lame || [ ! -x /usr/bin/time ]; then
  apt-get install -y -qq ffmpeg lame time >/dev/null
fi
if [ ! -d "$LIB" ]; then
  bash bench/make-library.sh "$LIB"
fi
cargo build --release -q
BIN=$PWD/target/release/tapedeck
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The 16/44.1 FLAC closest to 4 minutes, and the 24/96 one.
pick() { # pick SAMPLE_RATE BITS
  find "$LIB" -name '*.flac' -print0 | while IFS= read -r -d '' f; do
    read -r sr bits dur < <(ffprobe -v error -select_streams a:0 \
      -show_entries stream=sample_rate,bits_per_raw_sample:format=duration \
      -of default=nw=1:nk=1 "$f" | tr '\n' ' ')
    [ "$sr" = "$1" ] && [ "$bits" = "$2" ] || continue
    awk -v d="$dur" -v f="$f" 'BEGIN { x = d - 240; if (x < 0) x = -x; printf "%09.3f\t%s\n", x, f }'
  done | sort | head -n1 | cut -f2
}

# run NAME CMD... -> appends "seconds kilobytes" to $WORK/NAME
run() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$WORK/t" "$@" >/dev/null 2>&1
  cat "$WORK/t" >>"$WORK/$name"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$WORK/$1"; }

bench() { # bench LABEL FILE
  local label=$1 in=$2 dur
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$in")
  ffmpeg -nostdin -v error -y -i "$in" -c:a pcm_s16le "$WORK/in.wav"
  rm -f "$WORK"/tapedeck "$WORK"/ffmpeg "$WORK"/lame
  for _ in $(seq "$ROUNDS"); do
    run tapedeck "$BIN" transcode "$in" "$WORK/a.mp3" --quality medium --encoder-quality 3
    run ffmpeg ffmpeg -nostdin -v error -y -i "$in" -c:a libmp3lame -b:a 192k -compression_level 3 "$WORK/b.mp3"
    run lame lame --quiet -b 192 -q 3 "$WORK/in.wav" "$WORK/c.mp3"
  done
  local t f l
  t=$(col tapedeck 1 | median); f=$(col ffmpeg 1 | median); l=$(col lame 1 | median)
  echo "== $label: $(basename "$in") (${dur%.*} s), $ROUNDS rounds, medians"
  printf '  %-9s %7.2f s  %5.0fx realtime  peak RSS %6.1f MB\n' \
    tapedeck "$t" "$(echo "$dur / $t" | bc -l)" "$(col tapedeck 2 | median | awk '{ print $1 / 1024 }')" \
    ffmpeg "$f" "$(echo "$dur / $f" | bc -l)" "$(col ffmpeg 2 | median | awk '{ print $1 / 1024 }')" \
    "lame(wav)" "$l" "$(echo "$dur / $l" | bc -l)" "$(col lame 2 | median | awk '{ print $1 / 1024 }')"
  printf '  speed vs ffmpeg: %.2fx   vs lame from WAV: %.2fx\n' \
    "$(echo "$f / $t" | bc -l)" "$(echo "$l / $t" | bc -l)"
}

need bc || apt-get install -y -qq bc >/dev/null
bench "16-bit 44.1 kHz FLAC" "$(pick 44100 16)"
bench "24-bit 96 kHz FLAC" "$(pick 96000 24)"
