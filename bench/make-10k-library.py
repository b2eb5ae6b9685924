#!/usr/bin/env python3
"""Writes a synthetic 10 000-track library to DIR (bench/search.sh,
bench/state.sh): 500 album folders of 20 tiny tagged WAV files (0.1 s of
silence each, RIFF INFO title, artist, album, track).

usage: bench/make-10k-library.py DIR
"""
import os, struct, sys
root = sys.argv[1]
words = ["Amber", "Blue", "Cedar", "Dune", "Ember", "Frost", "Gale", "Harbor", "Iris", "Jade",
         "Kestrel", "Lumen", "Moss", "Nadir", "Onyx", "Pine", "Quill", "Raven", "Slate", "Tide"]
def info(pairs):
    body = b"INFO"
    for key, val in pairs:
        v = val.encode() + b"\0"
        if len(v) % 2: v += b"\0"
        body += key + struct.pack("<I", len(v)) + v
    return b"LIST" + struct.pack("<I", len(body)) + body
pcm = b"\0\0" * 4410  # 0.1 s mono 44.1 kHz
for a in range(500):
    artist = f"{words[a % 20]} {words[(a // 20) % 20]} Ensemble"
    album = f"{words[(a * 7) % 20]} Sessions Vol {a}"
    d = os.path.join(root, artist, album)
    os.makedirs(d, exist_ok=True)
    for t in range(1, 21):
        title = f"{words[(a + t) % 20]} {words[(a * t) % 20]} Café {t}"
        fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16)
        data = b"data" + struct.pack("<I", len(pcm)) + pcm
        chunks = fmt + data + info([(b"INAM", title), (b"IART", artist), (b"IPRD", album), (b"ITRK", str(t))])
        with open(os.path.join(d, f"{t:02d} {title}.wav"), "wb") as f:
            f.write(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
