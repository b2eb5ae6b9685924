#!/usr/bin/env python3
"""Seek benchmark (issue 16), run by bench/seek.sh.

usage: seek.py BIN LIBRARY [--baseline BIN] [--qemu "qemu-aarch64 -L ..." BIN]

Measures, on the two longest lossless tracks of LIBRARY, uncached, at
medium:
  1. time to the first body byte of a Range request at 10/50/90 % of the
     track, right after the player's first request (bytes=0-0), with 2
     workers (target <= 1.0 s); for --baseline too, side by side;
  2. time until the track is fully cached with 2 workers against 1
     (target <= 0.6x);
  3. seam quality: SNR against the source of the cached (segmented) file
     and of a serial LAME encode with the bit reservoir (ffmpeg's
     libmp3lame at the same bitrate), over the frames around segment
     seams against the rest (target: within 0.5 dB);
  4. peak RSS of the server while 4 workers encode segments of one play;
  5. with --qemu, the 90 % seek again under emulation, and its ratio to
     the native run.
"""

import array
import http.client
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SEGMENT_FRAMES = 147
FRAME = 1152
DELAY = 576


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A tapedeck server on a fresh cache, killed on exit."""

    def __init__(self, binary, library, workers, runner=()):
        self.dir = tempfile.mkdtemp(prefix="tapedeck-seek-")
        self.port = free_port()
        with open(os.path.join(self.dir, "config.toml"), "w") as f:
            f.write(
                f'[server]\nlisten = "127.0.0.1:{self.port}"\n'
                f'[library]\nroot = "{library}"\n'
                f'[cache]\ndir = "{self.dir}/cache"\nmax_size = "10GB"\n'
                f'[state]\ndir = "{self.dir}/state"\n'
                f"[transcode]\nworkers = {workers}\n"
                f"[warm]\nprefetch_next = false\n"
            )
        self.proc = subprocess.Popen(
            [*runner, binary, "serve", "--config", f"{self.dir}/config.toml"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the server did not start")

    def url(self, rel):
        return "/play/" + urllib.parse.quote(rel) + "?quality=medium"

    def get(self, rel, headers=None, first_byte_only=False):
        """(status, headers, seconds to the first body byte, body)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        start = time.perf_counter()
        c.request("GET", self.url(rel), headers=headers or {})
        r = c.getresponse()
        first = r.read(1)
        ttfb = time.perf_counter() - start
        body = first if first_byte_only else first + r.read()
        c.close()
        return r.status, dict(r.getheaders()), ttfb, body

    def entries(self):
        d = os.path.join(self.dir, "cache")
        return [os.path.join(d, n) for n in os.listdir(d) if n.endswith(".mp3")]

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def ffprobe(path, entries):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         entries, "-of", "default=nw=1:nk=1", path],
        capture_output=True, text=True, check=True).stdout.split()
    return out


def longest_tracks(library, n=2):
    found = []
    for dirpath, _, names in os.walk(library):
        for name in names:
            if not name.lower().endswith((".flac", ".wav", ".aiff", ".aif")):
                continue
            path = os.path.join(dirpath, name)
            try:
                duration = float(ffprobe(path, "format=duration")[0])
            except (subprocess.CalledProcessError, IndexError, ValueError):
                continue
            found.append((duration, os.path.relpath(path, library)))
    return sorted(found)[-n:][::-1]


def seek_ttfb(binary, library, rel, pct, runner=(), workers=2):
    s = Server(binary, library, workers, runner)
    try:
        status, headers, _, _ = s.get(rel, {"Range": "bytes=0-0"})
        total = int(headers["Content-Range"].rsplit("/", 1)[1])
        at = total * pct // 100
        _, _, ttfb, _ = s.get(rel, {"Range": f"bytes={at}-{at + 65535}"})
        return ttfb
    finally:
        s.close()


def fully_cached(binary, library, rel, workers):
    s = Server(binary, library, workers)
    try:
        start = time.perf_counter()
        s.get(rel)
        while not s.entries():
            time.sleep(0.01)
        return time.perf_counter() - start, s.entries()[0], s
    except BaseException:
        s.close()
        raise


def pcm(path, seconds, rate):
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-t", str(seconds), "-ac", "1",
         "-ar", str(rate), "-f", "s16le", "-"],
        capture_output=True, check=True).stdout
    a = array.array("h")
    a.frombytes(raw)
    return a


def snr_windows(ref, test, seams):
    """(SNR over seam windows, SNR over the rest) in dB."""
    n = min(len(ref), len(test))
    sig = [0.0, 0.0]
    err = [0.0, 0.0]
    seam = bytearray(n // FRAME + 1)
    for s in seams:
        for w in (s // FRAME - 1, s // FRAME):
            if 0 <= w < len(seam):
                seam[w] = 1
    for w in range(n // FRAME):
        k = seam[w]
        lo = w * FRAME
        r = ref[lo:lo + FRAME]
        t = test[lo:lo + FRAME]
        sig[k] += sum(x * x for x in r)
        err[k] += sum((x - y) * (x - y) for x, y in zip(r, t))
    db = lambda s, e: 10 * math.log10(s / e) if e > 0 and s > 0 else float("inf")
    return db(sig[1], err[1]), db(sig[0], err[0])


def main():
    args = sys.argv[1:]
    binary, library = args[0], os.path.abspath(args[1])
    baseline = None
    qemu = None
    if "--baseline" in args:
        baseline = args[args.index("--baseline") + 1]
    if "--qemu" in args:
        i = args.index("--qemu")
        qemu = (args[i + 1].split(), args[i + 2])
    tracks = longest_tracks(library)
    print(f"tracks: " + "; ".join(f"{r} ({d:.0f} s)" for d, r in tracks))

    print("\n1. first body byte of a Range request, uncached, 2 workers (target <= 1.0 s)")
    for duration, rel in tracks:
        for pct in (10, 50, 90):
            t = seek_ttfb(binary, library, rel, pct)
            line = f"   {os.path.basename(rel)[:32]:32} {pct:3}%  tapedeck {t:6.3f} s"
            if baseline:
                b = seek_ttfb(baseline, library, rel, pct)
                line += f"   baseline {b:6.3f} s   ratio {t / b:5.2f}x"
            print(line, flush=True)

    print("\n2. time until fully cached, 2 workers against 1 (target <= 0.6x)")
    for duration, rel in tracks:
        t1, _, s = fully_cached(binary, library, rel, 1)
        s.close()
        t2, entry, s = fully_cached(binary, library, rel, 2)
        line = (f"   {os.path.basename(rel)[:32]:32} 1 worker {t1:6.2f} s   "
                f"2 workers {t2:6.2f} s   ratio {t2 / t1:4.2f}x")
        if baseline:
            tb, _, b = fully_cached(baseline, library, rel, 2)
            b.close()
            line += f"   baseline (serial) {tb:6.2f} s   2 workers/baseline {t2 / tb:4.2f}x"
        print(line, flush=True)
        if rel == tracks[0][1]:
            keep = os.path.join(tempfile.gettempdir(), "tapedeck-seek-entry.mp3")
            shutil.copy(entry, keep)
        s.close()

    print("\n3. seam quality against the source, first 120 s of the longest track")
    duration, rel = tracks[0]
    source = os.path.join(library, rel)
    rate = int(ffprobe(keep, "stream=sample_rate")[0])
    serial = os.path.join(tempfile.gettempdir(), "tapedeck-seek-serial.mp3")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", source, "-t", "130",
                    "-ar", str(rate), "-c:a", "libmp3lame", "-b:a", "192k",
                    serial], check=True)
    ref = pcm(source, 120, rate)
    seams = [k * SEGMENT_FRAMES * FRAME - DELAY
             for k in range(1, len(ref) // (SEGMENT_FRAMES * FRAME) + 1)]
    for name, path in (("segmented (tapedeck)", keep), ("serial, reservoir (ffmpeg)", serial)):
        s_seam, s_rest = snr_windows(ref, pcm(path, 120, rate), seams)
        print(f"   {name:28} seams {s_seam:6.2f} dB   rest {s_rest:6.2f} dB   "
              f"seams - rest {s_seam - s_rest:+5.2f} dB", flush=True)

    print("\n4. peak RSS while 4 workers encode segments of one play")
    s = Server(binary, library, 4)
    try:
        idle = s.rss_kb()
        peak = [idle]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], s.rss_kb())
                time.sleep(0.02)

        t = threading.Thread(target=sample)
        t.start()
        s.get(rel)
        while not s.entries():
            time.sleep(0.01)
        done.set()
        t.join()
        print(f"   idle {idle / 1024:5.1f} MB   peak {peak[0] / 1024:5.1f} MB")
    finally:
        s.close()

    if qemu:
        runner, qbin = qemu
        print("\n5. the 90 % seek under emulation (qemu-user: not Pi speed)")
        for duration, rel in tracks:
            native = seek_ttfb(binary, library, rel, 90)
            emulated = seek_ttfb(qbin, library, rel, 90, runner=runner)
            print(f"   {os.path.basename(rel)[:32]:32} native {native:6.3f} s   "
                  f"qemu {emulated:6.3f} s   ratio {emulated / native:5.1f}x", flush=True)


if __name__ == "__main__":
    main()
