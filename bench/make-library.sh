#!/usr/bin/env bash
# bench/make-library.sh: builds a small but real, tagged music library for
# trying tapedeck by hand and for bench/serve.sh and bench/transcode.sh.
#
# The music is freely licensed game music from two Debian packages:
#   wesnoth-1.16-music  The Battle for Wesnoth soundtrack, GPL-2+; Ogg Vorbis
#                       with artist, album, disc and track tags
#   singularity-music   the Endgame: Singularity soundtrack by Max McCracken
#                       ("Maxstack"), CC BY-SA 3.0; Ogg Vorbis
# Files made from them stay under those licences (see the copyright file in
# /usr/share/doc/<package>/ of each package); the cover images are made here.
#
# What it builds in OUT_DIR, named from each track's own tags:
#   Wesnoth Project/The Battle for Wesnoth OST/    "D-NN Title.ext"
#     FLAC 16-bit 44.1 kHz   1-01 1-06 1-15 1-17 2-07 2-09 2-12
#     FLAC 24-bit 96 kHz     2-11 Weight of Revenge
#     FLAC 24-bit 44.1 kHz with an embedded front cover: 1-07 Silvan Sanctuary
#     WAV 16-bit             1-04 The City Falls
#     AIFF 24-bit, ID3 tags  2-04 Underground
#     ALAC 24-bit (.m4a)     1-08 Love Theme
#     AAC 256k (.m4a), embedded cover: 1-12 Revelation
#     MP3 320k, ID3v2.4 with an embedded front cover: 1-14 Still Another Wanderer
#     Ogg Vorbis as shipped  2-01 Main Theme
#     cover.jpg              600x600 folder art
#   Maxstack/Endgame Singularity OST/              "NN Title.ext"
#     01 and 03 as FLAC 24-bit 48 kHz, 02 and 04 as Ogg Vorbis; cover.jpg
#   Playlists/Evening.m3u  extended M3U of 8 of those tracks, relative paths
# That is about 450 MB; with --full about 1.2 GB.
#
# usage: bench/make-library.sh [OUT_DIR] [--full]
#   OUT_DIR  where the library goes (default: ./music). Running again into the
#            same directory only makes the files that are missing.
#   --full   every track of both soundtracks: all of Wesnoth also as 16-bit
#            FLAC, all 13 Singularity tracks (FLAC and Ogg alternating)
#
# needs: Debian or a derivative (apt-get, dpkg), network access to its
# archive (about 205 MB of packages), ffmpeg (installed with apt-get when
# missing, as root or through sudo) and about 300 MB of scratch space in
# $TMPDIR. Set SCRATCH=DIR to keep the unpacked packages there for next time.
set -euo pipefail

usage() {
  awk '/^# usage:/ { on = 1 } on && !/^#/ { exit } on { sub(/^# ?/, ""); print }' "$0"
}

out=./music
full=0
for arg in "$@"; do
  case $arg in
    --full) full=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "make-library.sh: unknown option $arg" >&2; usage >&2; exit 2 ;;
    *) out=$arg ;;
  esac
done

WESNOTH_PKG='wesnoth-1.16-music'
SINGULARITY_PKG='singularity-music'

say() { printf '%s\n' "$*" >&2; }
die() { say "make-library.sh: $*"; exit 1; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ---- tools ----------------------------------------------------------------
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  die "needs apt-get and dpkg (a Debian-based system) to fetch the music"
fi
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  say "installing ffmpeg"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)

# ---- the source packages --------------------------------------------------
if [ -n "${SCRATCH:-}" ]; then
  scratch=$SCRATCH
  mkdir -p "$scratch"
else
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/make-library.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
fi

# unpack PACKAGE: downloads PACKAGE's .deb and unpacks it into $scratch/PACKAGE
unpack() {
  local pkg=$1 debs
  [ -e "$scratch/$pkg/.unpacked" ] && return
  say "downloading $pkg"
  # apt-get download needs the package lists; fetch them once if it fails.
  if ! (cd "$scratch" && apt-get download -q "$pkg" >/dev/null 2>&1); then
    as_root apt-get update -qq
    (cd "$scratch" && apt-get download -q "$pkg" >/dev/null)
  fi
  debs=("$scratch/${pkg}"_*.deb)
  rm -rf "${scratch:?}/$pkg"
  dpkg -x "${debs[0]}" "$scratch/$pkg"
  rm -f "${debs[@]}"
  touch "$scratch/$pkg/.unpacked"
}
unpack "$WESNOTH_PKG"
unpack "$SINGULARITY_PKG"
wesnoth=$(find "$scratch/$WESNOTH_PKG" -type d -path '*/data/core/music' -print -quit)
singularity=$scratch/$SINGULARITY_PKG/usr/share/games/singularity/music
if [ -z "$wesnoth" ] || [ ! -d "$singularity" ]; then
  die "the packages in $scratch do not hold the music where expected"
fi

# ---- helpers ----------------------------------------------------------------
# read_tags FILE: sets disc, track, title and artist from FILE's audio tags
read_tags() {
  disc='' track='' title='' artist=''
  local key value
  while IFS='=' read -r key value; do
    key=${key#TAG:}
    case ${key,,} in
      disc) disc=${value%%/*} ;;
      track) track=${value%%/*} ;;
      title) title=$value ;;
      artist) artist=$value ;;
    esac
  done < <(ffprobe -v error -select_streams a:0 \
    -show_entries stream_tags=disc,track,title,artist:format_tags=disc,track,title,artist \
    -of default=noprint_wrappers=1 "$1")
}

# name_for SOURCE EXT [NUMBER]: sets name to "D-NN Title.EXT" from SOURCE's
# tags ("NN Title.EXT" without a disc; NUMBER overrides the track number).
# Untitled sources are named after their file; two sources that would share
# a name (only in --full) get the second one's file name appended.
declare -A name_taken=()
name_for() {
  local src=$1 ext=$2 stem
  stem=$(basename "$src" .ogg)
  read_tags "$src"
  [ -n "${3:-}" ] && track=$3
  [[ $track =~ ^[0-9]+$ ]] || track=0
  [[ $disc =~ ^[0-9]+$ ]] || disc=''
  title=${title:-$stem}
  name=$(printf '%s%02d %s' "${disc:+$((10#$disc))-}" "$((10#$track))" "${title//\//-}")
  local owner=${name_taken["$name.$ext"]:-$src}
  [ "$owner" = "$src" ] || name="$name ($stem)"
  name_taken["$name.$ext"]=$src
  name="$name.$ext"
}

# encode DEST FFMPEG_ARGS...: runs ffmpeg into DEST unless DEST is already
# there. It writes a hidden file first so that an interrupted run never
# leaves a partial file under the real name.
encode() {
  local dest=$1 part
  shift
  if [ -s "$dest" ]; then
    say "  kept ${dest#"$out"/}"
    return
  fi
  part="${dest%/*}/.part-${dest##*/}"
  ffmpeg -nostdin -hide_banner -loglevel error -y "$@" "$part"
  mv -f "$part" "$dest"
  say "  made ${dest#"$out"/}"
}

# track DIR SOURCE EXT [FFMPEG_ARGS...]: converts SOURCE into DIR, keeping
# its tags; remembers the first file made from each source for the playlist.
declare -A made_from=()
track() {
  local dir=$1 src=$2 ext=$3
  shift 3
  name_for "$src" "$ext"
  encode "$dir/$name" -i "$src" "$@" -map_metadata 0:s:a:0
  : "${made_from["$src"]:=$dir/$name}"
}

# cover_args COVER: the options that embed COVER as the front cover, given as
# input 1 after the audio (input 0)
cover_args() {
  printf '%s\n' -i "$1" -map 0:a -map 1:v -c:v copy -disposition:v attached_pic \
    -metadata:s:v title="Album cover" -metadata:s:v comment="Cover (front)"
}

wes_dir="$out/Wesnoth Project/The Battle for Wesnoth OST"
sing_dir="$out/Maxstack/Endgame Singularity OST"
mkdir -p "$wes_dir" "$sing_dir" "$out/Playlists"
find "$out" -type f -name '.part-*' -delete

# ---- folder art -------------------------------------------------------------
encode "$wes_dir/cover.jpg" -f lavfi -i "sierpinski=s=600x600:seed=5" -frames:v 1 -q:v 2
encode "$sing_dir/cover.jpg" -f lavfi -i "gradients=s=600x600:n=4:seed=3" -frames:v 1 -q:v 2

# ---- The Battle for Wesnoth -----------------------------------------------
flac16=(-map 0:a -c:a flac -ar 44100 -sample_fmt s16)
flac24=(-c:a flac -sample_fmt s32 -bits_per_raw_sample 24)
mapfile -t wes_cover < <(cover_args "$wes_dir/cover.jpg")
w() { printf '%s/%s.ogg' "$wesnoth" "$1"; }

for t in traveling_minstrels elvish-theme heroes_rite journeys_end knolls battle northerners; do
  track "$wes_dir" "$(w "$t")" flac "${flac16[@]}"
done
track "$wes_dir" "$(w weight_of_revenge)" flac -map 0:a "${flac24[@]}" -ar 96000
track "$wes_dir" "$(w silvan_sanctuary)" flac "${wes_cover[@]}" "${flac24[@]}" -ar 44100
track "$wes_dir" "$(w the_city_falls)" wav -map 0:a -c:a pcm_s16le
track "$wes_dir" "$(w underground)" aiff -map 0:a -c:a pcm_s24be -write_id3v2 1
track "$wes_dir" "$(w love_theme)" m4a -map 0:a -c:a alac -sample_fmt s32p
track "$wes_dir" "$(w revelation)" m4a "${wes_cover[@]}" -c:a aac -b:a 256k
track "$wes_dir" "$(w wanderer)" mp3 "${wes_cover[@]}" -c:a libmp3lame -b:a 320k -id3v2_version 4
# One Ogg Vorbis file exactly as the package ships it.
name_for "$(w main_menu)" ogg
if [ ! -s "$wes_dir/$name" ]; then
  cp "$(w main_menu)" "$wes_dir/.part-$name"
  mv -f "$wes_dir/.part-$name" "$wes_dir/$name"
  say "  made ${wes_dir#"$out"/}/$name"
fi
made_from["$(w main_menu)"]=$wes_dir/$name

if [ "$full" = 1 ]; then
  # Every other track as 16-bit FLAC too (the two 24-bit ones already are).
  mapfile -t all < <(find "$wesnoth" -maxdepth 1 -name '*.ogg' | LC_ALL=C sort)
  for src in "${all[@]}"; do
    case ${src##*/} in weight_of_revenge.ogg | silvan_sanctuary.ogg) continue ;; esac
    track "$wes_dir" "$src" flac "${flac16[@]}"
  done
fi

# ---- Endgame: Singularity ---------------------------------------------------
# In file-name order, numbered 01, 02, ...: odd ones FLAC, even ones Ogg
# (stream-copied, only the track number and album artist added).
mapfile -t sing < <(find "$singularity" -maxdepth 1 -name '*.ogg' | LC_ALL=C sort)
[ "$full" = 1 ] || sing=("${sing[@]:0:4}")
n=0
for src in "${sing[@]}"; do
  n=$((n + 1))
  if [ $((n % 2)) = 1 ]; then
    ext=flac codec=("${flac24[@]}")
  else
    ext=ogg codec=(-c:a copy)
  fi
  name_for "$src" "$ext" "$n"
  encode "$sing_dir/$name" -i "$src" -map 0:a "${codec[@]}" -map_metadata 0:s:a:0 \
    -metadata track="$n" -metadata album_artist=Maxstack
  made_from["$src"]=$sing_dir/$name
done

# ---- the playlist -----------------------------------------------------------
# Extended M3U: "#EXTINF:<seconds>,<artist> - <title>", then the path
# relative to the playlist's folder.
playlist=("${sing[@]:0:4}" "$(w traveling_minstrels)" "$(w the_city_falls)"
  "$(w elvish-theme)" "$(w silvan_sanctuary)")
m3u=$out/Playlists/Evening.m3u
{
  printf '#EXTM3U\n#PLAYLIST:Evening\n'
  for src in "${playlist[@]}"; do
    file=${made_from["$src"]}
    read_tags "$src"
    secs=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$file")
    printf '#EXTINF:%s,%s - %s\n../%s\n' "${secs%.*}" "$artist" "$title" "${file#"$out"/}"
  done
} >"$m3u.part"
mv -f "$m3u.part" "$m3u"
say "  made Playlists/Evening.m3u"

say "library ready in $out:"
(cd "$out" && find . -type f ! -name '.*' -printf '%s\t%P\n' | LC_ALL=C sort -t "$(printf '\t')" -k2) |
  awk -F '\t' '{ u = "MB"; v = $1 / 1e6; if (v < 1) { u = "kB"; v = $1 / 1e3 }
    printf "  %6.1f %s  %s\n", v, u, $2 }' >&2
say "  total $(du -sh "$out" | cut -f1)"
