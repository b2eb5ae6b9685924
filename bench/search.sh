#!/usr/bin/env bash
# Search and browse speed on a synthetic 10 000-track library (issue 6:
# "fast on 10 000 tracks"; issue 14: the Subsonic API, targets getArtists,
# getAlbumList2 and search3 <= 50 ms median, search3 "" paged 500 songs at a
# time through the whole library <= 2 s, RSS with the index <= 16 MB).
# Builds DIR (default /tmp/tapedeck-10k) once:
# 500 album folders of 20 tiny tagged WAV files (RIFF INFO title, artist,
# album, track), starts the release binary on it, waits for the start-up
# scan, then times searches and listings with curl and prints medians,
# the scan time and the server's RSS.
#
#   bench/search.sh [DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/tapedeck-10k}
rounds=${2:-20}
port=18341

if [ ! -d "$dir/music" ]; then
  python3 bench/make-10k-library.py "$dir/music"
fi
echo "library: $(find "$dir/music" -name '*.wav' | wc -l) tracks in $(find "$dir/music" -mindepth 2 -type d | wc -l) albums"

cargo build --release -q
log=$dir/server.log
printf '[[users]]\nname = "bench"\npassword = "bench"\n' >"$dir/bench.toml"
chmod 600 "$dir/bench.toml"
started=$(date +%s.%N)
target/release/tapedeck serve --config "$dir/bench.toml" --music "$dir/music" --cache "$dir/cache" \
  --state "$dir/state" --listen 127.0.0.1:$port 2>"$log" >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
until grep -q "library scan" "$log"; do sleep 0.05; done
echo "start-up scan: $(grep -o 'library scan.*' "$log")"
rss() { awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$pid/status; }
echo "RSS after the scan: $(rss)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_url() { # time_url URL: median seconds over $rounds
  for _ in $(seq "$rounds"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$1"
  done | median
}
for q in "cafe%2017" "ember%20sessions" "nothing%20matches%20this" "jade"; do
  hits=$(curl -s "http://127.0.0.1:$port/api/search?q=$q" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["tracks"]), "tracks,", len(d["dirs"]), "folders, truncated:", d["truncated"])')
  printf 'search %-26s %s s median  (%s)\n' "$q" "$(time_url "http://127.0.0.1:$port/api/search?q=$q")" "$hits"
done
album=$(cd "$dir/music" && find . -mindepth 2 -maxdepth 2 -type d -print -quit | cut -c3- | python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip()))')
printf 'browse one album (20 tracks)        %s s median\n' "$(time_url "http://127.0.0.1:$port/api/browse/$album")"
printf 'browse the root (500 artists)       %s s median\n' "$(time_url "http://127.0.0.1:$port/api/browse/")"

# ---- the Subsonic API -------------------------------------------------------
rest="http://127.0.0.1:$port/rest"
auth="u=bench&p=bench&v=1.16.1&c=bench&f=json"
printf 'subsonic getArtists (500 artists)   %s s median\n' "$(time_url "$rest/getArtists?$auth")"
printf 'subsonic getAlbumList2 (500 albums) %s s median\n' \
  "$(time_url "$rest/getAlbumList2?$auth&type=alphabeticalByName&size=500")"
printf 'subsonic search3 "ember sessions"   %s s median\n' "$(time_url "$rest/search3?$auth&query=ember%20sessions")"
printf 'subsonic search3 "cafe 17"          %s s median\n' "$(time_url "$rest/search3?$auth&query=cafe%2017")"
sync_all() { # search3 "" 500 songs a page until a page comes back short
  python3 - "$rest" "$auth" <<'PY'
import json, sys, time, urllib.request
rest, auth = sys.argv[1:3]
t0, offset, total = time.time(), 0, 0
while True:
    url = f"{rest}/search3?{auth}&query=&artistCount=0&albumCount=0&songCount=500&songOffset={offset}"
    page = json.load(urllib.request.urlopen(url))["subsonic-response"]["searchResult3"].get("song", [])
    total += len(page)
    offset += 500
    if len(page) < 500:
        break
print(f"{total} songs in {time.time() - t0:.2f} s")
PY
}
echo "subsonic search3 \"\" 500 a page, whole library: $(sync_all)"
echo "RSS at the end: $(rss)"
