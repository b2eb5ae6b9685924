#!/usr/bin/env bash
# Listening state (issue 15): on the synthetic 10 000-track library of
# bench/search.sh, one play of every track through the Subsonic scrobble
# call, then 1 000 stars and 200 play-queue saves, each answered only once
# it is committed to disk. Prints the write latency (median and p99, over
# HTTP on loopback, fsync included), the store's size on disk, the time of
# the lists built from it (getAlbumList2 frequent and recent, getStarred2)
# and the server's RSS.
#
#   bench/state.sh [DIR]     (DIR defaults to /tmp/tapedeck-10k)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/tapedeck-10k}
port=18342
[ -d "$dir/music" ] || python3 bench/make-10k-library.py "$dir/music"
cargo build --release -q
rm -rf "$dir/state-bench"
printf '[[users]]\nname = "bench"\npassword = "bench"\n' >"$dir/bench.toml"
chmod 600 "$dir/bench.toml"
log=$dir/state-bench.log
target/release/tapedeck serve --config "$dir/bench.toml" --music "$dir/music" --cache "$dir/cache" \
  --state "$dir/state-bench" --listen 127.0.0.1:$port 2>"$log" >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
until grep -q "library scan" "$log"; do sleep 0.05; done
echo "file system of the store: $(df -T "$dir" | awk 'NR==2 {print $2}')"
python3 - "$dir/music" "$port" <<'PY'
import base64, http.client, os, statistics, sys, time, urllib.parse
root, port = sys.argv[1], int(sys.argv[2])
songs = sorted(os.path.relpath(os.path.join(d, f), root)
               for d, _, fs in os.walk(root) for f in fs if f.endswith(".wav"))
ident = lambda kind, p: kind + "-" + base64.urlsafe_b64encode(p.encode()).decode().rstrip("=")
conn = http.client.HTTPConnection("127.0.0.1", port)
auth = {"u": "bench", "p": "bench", "v": "1.16.1", "c": "bench", "f": "json"}
def call(method, params):
    q = urllib.parse.urlencode({**auth, **params}, doseq=True)
    t = time.perf_counter()
    conn.request("GET", f"/rest/{method}?{q}")
    r = conn.getresponse()
    body = r.read()
    ms = (time.perf_counter() - t) * 1000
    assert r.status == 200 and b'"ok"' in body, body[:200]
    return ms
def report(name, times):
    times = sorted(times)
    p99 = times[int(len(times) * 0.99) - 1]
    print(f"{name:<24} {len(times):>6} writes  median {statistics.median(times):6.2f} ms  p99 {p99:6.2f} ms")
report("scrobble (1 play each)", [call("scrobble", {"id": ident("tr", s)}) for s in songs])
report("star", [call("star", {"id": ident("tr", s)}) for s in songs[::10]])
queue = [ident("tr", s) for s in songs[:50]]
report("savePlayQueue (50)", [call("savePlayQueue", {"id": queue, "current": queue[i % 50], "position": i})
                               for i in range(200)])
for method, params in [("getAlbumList2", {"type": "frequent", "size": 50}),
                       ("getAlbumList2", {"type": "recent", "size": 50}),
                       ("getStarred2", {})]:
    times = [call(method, params) for _ in range(10)]
    print(f"{method} {params.get('type', '')}".ljust(24), f"median {statistics.median(times):6.2f} ms (1000 starred songs)" if method == "getStarred2" else f"median {statistics.median(times):6.2f} ms")
PY
echo "store on disk: $(du -k "$dir/state-bench/listening/data.mdb" | cut -f1) KB for 10 000 plays, 1 000 stars, 1 queue"
echo "RSS: $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$pid/status)"
