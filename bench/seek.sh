#!/usr/bin/env bash
# Seek benchmark (issue 16): a Range request anywhere in a track never
# played before, time until cached with 2 workers against 1, seam quality
# against a serial encode, RSS with 4 workers, and the seek under
# qemu-aarch64. bench/seek.py says what each figure is.
#
# usage: bench/seek.sh [LIBRARY_DIR] [--baseline BIN]
#   LIBRARY_DIR  a library from bench/make-library.sh (built into
#                ./target/bench-music when absent)
#   BIN          another tapedeck binary measured side by side in part 1
#                (e.g. one built from the commit before segments)
set -euo pipefail
cd "$(dirname "$0")/.."
LIB=${1:-target/bench-music}
shift || true
if ! command -v ffmpeg >/dev/null 2>&1; then
  apt-get install -y -qq ffmpeg >/dev/null
fi
if [ ! -d "$LIB" ]; then
  bash bench/make-library.sh "$LIB"
fi
cargo build --release -q
args=(target/release/tapedeck "$LIB" "$@")
A64=target/aarch64-unknown-linux-gnu/release/tapedeck
if command -v qemu-aarch64 >/dev/null 2>&1 && [ -d /usr/aarch64-linux-gnu ]; then
  [ -x "$A64" ] || cross/build.sh aarch64 >/dev/null
  args+=(--qemu "qemu-aarch64 -L /usr/aarch64-linux-gnu" "$A64")
fi
python3 bench/seek.py "${args[@]}"
