#!/usr/bin/env bash
# Serving benchmark (issues 4 and 17): tapedeck against nginx on the same
# cached MP3, both on 127.0.0.1 in one run, plus time to first byte on a
# miss, RSS idle, with 1000 idle sockets and loaded, a fresh client's time
# to an answer while 1000 idle sockets or 200 slowloris senders are open,
# and start-up time with 10 000 cache entries.
#
# usage: bench/serve.sh [LIBRARY_DIR] [SECONDS]
#   LIBRARY_DIR  a library from bench/make-library.sh (built into
#                ./target/bench-music when absent)
#   SECONDS      duration of each wrk run (default 10)
# TAPEDECK_BIN=PATH runs that binary instead of building target/release's
# (e.g. a musl build, to see what musl's allocator costs).
#
# Fair to both: tapedeck runs at its default log level (an access line per
# request, buffered), so nginx logs every request too, buffered the same
# way (access_log ... buffer=64k flush=1s), and keeps a connection for as
# many requests as wrk sends on it (keepalive_requests 100000; its default
# of 1000 had it reconnect where tapedeck did not). Both settings are
# printed with the results.
#
# Targets: full files >= 0.9x nginx's MB/s; 64 KiB ranges >= 0.6x nginx's
# requests/s; TTFB on a miss <= 100 ms; RSS <= 5 MB idle, <= 24 MB with 1000
# idle sockets, <= 32 MB with 2 transcodes + 16 streams; a fresh client
# answered in < 1 s with 1000 idle sockets or 200 slowloris senders open.
set -euo pipefail
cd "$(dirname "$0")/.."
LIB=${1:-target/bench-music}
SECS=${2:-10}
need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx || ! need curl; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light curl >/dev/null
fi
[ -d "$LIB" ] || bash bench/make-library.sh "$LIB"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
if [ -n "${TAPEDECK_BIN:-}" ]; then
  BIN=$(realpath "$TAPEDECK_BIN")
else
  cargo build --release -q
  # A copy: another checkout sharing CARGO_TARGET_DIR may rebuild the
  # original while this runs.
  BIN=$WORK/tapedeck
  cp "${CARGO_TARGET_DIR:-target}/release/tapedeck" "$BIN"
fi

# The music: the library's FLACs, plus one about 250 s long (6 MB at 192k).
MUSIC=$WORK/music
mkdir -p "$MUSIC"
find "$LIB" -name '*.flac' -exec cp {} "$MUSIC/" \;
ls "$MUSIC"/*.flac >/dev/null
TRACK=$(for f in "$MUSIC"/*.flac; do
  d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$f")
  awk -v d="$d" -v f="$f" 'BEGIN { x = d - 250; if (x < 0) x = -x; printf "%09.3f\t%s\n", x, f }'
done | sort | head -n1 | cut -f2)
NAME=$(basename "$TRACK")
ENC=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$NAME")

PORT=18340
# Two workers, so the loaded figure below has two transcodes running; room
# for the 1000 idle sockets below.
# Prefetch off: the first play must leave exactly one entry.
printf '[server]\nmax_sockets = 2048\n[transcode]\nworkers = 2\n[warm]\nprefetch_next = false\n' >"$WORK/tapedeck.toml"
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
start_tapedeck() { # start_tapedeck CACHE_DIR
  "$BIN" --config "$WORK/tapedeck.toml" --music "$MUSIC" --cache "$1" --state "$1.state" \
    --listen 127.0.0.1:$PORT >"$WORK/tapedeck.log" 2>&1 &
  TPID=$!
  PIDS+=("$TPID")
  until curl -sf "http://127.0.0.1:$PORT/api/version" >/dev/null; do sleep 0.005; done
}
stop_tapedeck() { kill "$TPID"; wait "$TPID" 2>/dev/null || true; }
stats() { curl -sf "http://127.0.0.1:$PORT/admin/cache/stats"; }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
rss_peak_mb() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
rss_mb() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# ---- cached entry: tapedeck vs nginx --------------------------------------
start_tapedeck "$WORK/cache"
echo "== idle: RSS $(rss_mb "$TPID") MB (peak $(rss_peak_mb "$TPID") MB)"
URL="http://127.0.0.1:$PORT/play/$ENC?quality=medium"
curl -sf -o /dev/null "$URL"
until [ "$(stats | field cached_files)" = 1 ]; do sleep 0.05; done
ENTRY=$(ls "$WORK"/cache/*.mp3)
SIZE=$(stat -c %s "$ENTRY")
mkdir -p "$WORK/www"
cp "$ENTRY" "$WORK/www/track.mp3"
cat >"$WORK/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
  # As tapedeck at its default level: a line per request, buffered.
  access_log $WORK/nginx-access.log combined buffer=64k flush=1s;
  # wrk keeps its connections for the whole run, and so does tapedeck.
  keepalive_requests 100000;
  # tcp_nopush (TCP_CORK) is left off: with it, keep-alive 64 KiB range
  # replies stall on delayed ACKs (about 700 req/s), which flatters us.
  sendfile on;
  server { listen 127.0.0.1:18341; root $WORK/www; }
}
CONF
chmod -R a+rX "$WORK"
nginx -c "$WORK/nginx.conf"
PIDS+=("$(cat "$WORK/nginx.pid")")
NGINX="http://127.0.0.1:18341/track.mp3"

cat >"$WORK/range.lua" <<LUA
math.randomseed(os.time())
request = function()
  local s = math.random(0, $SIZE - 65536)
  wrk.headers["Range"] = "bytes=" .. s .. "-" .. (s + 65535)
  return wrk.format("GET")
end
LUA
run_wrk() { # run_wrk URL [lua] -> "requests/s bytes/s"
  local out
  out=$(wrk -t2 -c16 -d"${SECS}s" ${2:+-s "$2"} "$1")
  echo "$out" >>"$WORK/wrk.log"
  echo "$out" | awk '/Requests\/sec/ { r = $2 } /Transfer\/sec/ { t = $2 } END { print r, t }'
}
to_mbs() { awk -v t="$1" 'BEGIN { u = substr(t, length(t) - 1); v = substr(t, 1, length(t) - 2) + 0;
  if (u == "GB") v *= 1024; else if (u == "KB") v /= 1024; printf "%.0f", v }'; }
echo "== $NAME -> cached MP3 of $SIZE bytes; wrk -t2 -c16 -d${SECS}s"
echo "   tapedeck: default log level (an access line per request, buffered)"
echo "   nginx: $(grep -E '^ *(access_log|keepalive_requests|sendfile|worker_processes)' "$WORK/nginx.conf" | sed 's/^ *//' | tr '\n' ' ')"
read -r tf_rps tf_bw < <(run_wrk "$URL")
read -r nf_rps nf_bw < <(run_wrk "$NGINX")
read -r tr_rps tr_bw < <(run_wrk "$URL" "$WORK/range.lua")
read -r nr_rps nr_bw < <(run_wrk "$NGINX" "$WORK/range.lua")
verdict() { # verdict RATIO TARGET
  awk -v r="$1" -v t="$2" 'BEGIN { printf "ratio %.2f (target >= %.1f: %s)", r, t, (r >= t ? "met" : "MISSED") }'
}
full_ratio=$(awk -v a="$(to_mbs "$tf_bw")" -v b="$(to_mbs "$nf_bw")" 'BEGIN { print a / b }')
range_ratio=$(awk -v a="$tr_rps" -v b="$nr_rps" 'BEGIN { print a / b }')
printf '  full file : tapedeck %6s MB/s (%s req/s)   nginx %6s MB/s (%s req/s)   MB/s %s\n' \
  "$(to_mbs "$tf_bw")" "$tf_rps" "$(to_mbs "$nf_bw")" "$nf_rps" "$(verdict "$full_ratio" 0.9)"
printf '  64 KiB ranges: tapedeck %s req/s (%s MB/s)   nginx %s req/s (%s MB/s)   req/s %s\n' \
  "$tr_rps" "$(to_mbs "$tr_bw")" "$nr_rps" "$(to_mbs "$nr_bw")" "$(verdict "$range_ratio" 0.6)"
echo "  access lines written: tapedeck $(grep -c ' GET /play/' "$WORK/tapedeck.log"), nginx $(wc -l <"$WORK/nginx-access.log")"

# ---- idle sockets and slowloris senders ------------------------------------
# hold.py MODE N: opens N connections to tapedeck (idle: nothing sent;
# slowloris: a request head that never ends, one more byte every 2 s),
# prints "ready", and holds them until killed.
cat >"$WORK/hold.py" <<PY
import socket, sys, time
mode, n = sys.argv[1], int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", $PORT))
    if mode == "slowloris":
        s.sendall(b"GET /api/version HTTP/1.1\\r\\nHost: t\\r\\nX-a: ")
    socks.append(s)
print("ready", flush=True)
while True:
    time.sleep(2)
    if mode == "slowloris":
        for s in socks:
            try:
                s.sendall(b"a")
            except OSError:
                pass
PY
fresh_ms() { # a fresh client's time to a whole answer, median of 5, in ms
  for _ in 1 2 3 4 5; do curl -s -o /dev/null -m 10 -w '%{time_total}\n' "http://127.0.0.1:$PORT/api/version"; done |
    sort -n | awk 'NR == 3 { printf "%.1f", $1 * 1000 }'
}
hold() { # hold MODE N: prints the fresh-client time and tapedeck's RSS while held
  local fifo="$WORK/hold.out"
  python3 "$WORK/hold.py" "$1" "$2" >"$fifo" &
  local hp=$!
  until grep -q ready "$fifo" 2>/dev/null; do sleep 0.05; done
  sleep 0.5
  echo "== $2 $1 sockets open: RSS $(rss_mb "$TPID") MB, a fresh client answered in $(fresh_ms) ms (median of 5)"
  kill "$hp"; wait "$hp" 2>/dev/null || true
  sleep 0.5
}
hold idle 1000
hold slowloris 200

# ---- time to first byte on a miss -----------------------------------------
ttfb=()
for _ in $(seq 10); do
  curl -sf -X POST "http://127.0.0.1:$PORT/admin/cache/clear" >/dev/null
  until [ "$(stats | field transcodes_running)" = 0 ]; do sleep 0.02; done
  ttfb+=("$(curl -s -o /dev/null -w '%{time_starttransfer}' "$URL")")
done
printf '== time to first byte on a miss: median %.1f ms (10 runs)\n' \
  "$(printf '%s\n' "${ttfb[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (a[5] + a[6]) / 2 * 1000 }')"

# ---- loaded: 2 transcodes and 16 streaming clients ------------------------
until [ "$(stats | field transcodes_running)" = 0 ]; do sleep 0.02; done
curl -sf -X POST "http://127.0.0.1:$PORT/admin/cache/clear" >/dev/null
mapfile -t two < <(ls "$MUSIC"/*.flac | head -n2)
# From another loopback address: 16 streams are one client's whole share of
# the handlers, and the stats request must not be that client's 17th.
for i in $(seq 16); do
  f=$(basename "${two[$((i % 2))]}")
  curl -s -o /dev/null --limit-rate 200k --interface 127.0.0.2 \
    "http://127.0.0.1:$PORT/play/$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$f")?quality=high" &
done
sleep 5
echo "== 2 transcodes + 16 streams: $(stats | field transcodes_running) running, peak RSS $(rss_peak_mb "$TPID") MB"
kill $(jobs -p | grep -v "$TPID") 2>/dev/null || true
stop_tapedeck

# ---- start-up with 10 000 entries -----------------------------------------
mkdir -p "$WORK/big"
python3 - "$WORK/big" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(10000):
    with open(os.path.join(d, "%064x.mp3" % i), "wb") as f:
        f.write(b"\0" * 1000)
PY
sync
t0=$(date +%s%N)
start_tapedeck "$WORK/big"
t1=$(date +%s%N)
echo "== start-up with 10 000 cache entries: $(( (t1 - t0) / 1000000 )) ms to the first answer"
stop_tapedeck
