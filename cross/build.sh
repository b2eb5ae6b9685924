#!/usr/bin/env bash
# Builds stripped tapedeck release binaries for Raspberry Pi, without Docker.
#
# usage: cross/build.sh aarch64|armv7|all|<rust target triple>
#   aarch64  aarch64-unknown-linux-gnu      Pi 3/4/5, Zero 2 W (64-bit Raspberry Pi OS)
#   armv7    armv7-unknown-linux-gnueabihf  Pi 2/3/4 (32-bit Raspberry Pi OS)
# Output: target/<triple>/release/tapedeck
#
# The binaries must run on Raspberry Pi OS Bullseye (glibc 2.31), but this
# machine's glibc is newer, so linking goes through cargo-zigbuild, which
# links against glibc 2.31's symbol versions (the ".2.31" suffix). LAME is
# built by mp3lame-sys with autotools; zig's compiler wrapper has a path it
# cannot read the target from, so the autotools --host is given explicitly.
#
# Installs nothing: it says what is missing and how to install it.
set -euo pipefail
cd "$(dirname "$0")/.."

GLIBC=2.31

usage() {
  sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

triple_of() {
  case "$1" in
    aarch64 | aarch64-unknown-linux-gnu) echo aarch64-unknown-linux-gnu ;;
    armv7 | armv7-unknown-linux-gnueabihf) echo armv7-unknown-linux-gnueabihf ;;
    *) echo "cross/build.sh: unknown target '$1' (aarch64, armv7 or all)" >&2; return 2 ;;
  esac
}

# autotools --host for LAME, per target.
gnu_host_of() {
  case "$1" in
    aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf ;;
  esac
}

missing=()
check() { # check <command to test> <what> <how to install>
  if ! eval "$1" >/dev/null 2>&1; then missing+=("$2: $3"); fi
}

build() {
  local triple=$1
  check "rustup target list --installed | grep -qx $triple" "Rust std for $triple" "rustup target add $triple"
  check "cargo zigbuild --help" "cargo-zigbuild" "cargo install cargo-zigbuild --locked"
  check "command -v zig || python3 -m ziglang version" "zig" "pip install ziglang   (or a zig release on PATH)"
  check "command -v make" "make" "apt-get install make"
  if ((${#missing[@]})); then
    echo "cross/build.sh: cannot build $triple, missing:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
  fi
  echo "cross/build.sh: building $triple for glibc $GLIBC and newer"
  MP3LAME_SYS_OVERRIDE_HOST=$(gnu_host_of "$triple") \
    cargo zigbuild --release --locked --target "$triple.$GLIBC"
  local bin=target/$triple/release/tapedeck
  local newest
  newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
  if [ "$(printf '%s\n%s\n' "$newest" "$GLIBC" | sort -V | tail -n 1)" != "$GLIBC" ]; then
    echo "cross/build.sh: $bin needs glibc $newest, newer than $GLIBC" >&2
    exit 1
  fi
  local size
  size=$(stat -c %s "$bin")
  printf 'cross/build.sh: %s: %s bytes, stripped, needs glibc %s\n' "$bin" "$size" "$newest"
  # The size target for a Pi is 3 MB; say so loudly rather than fail a build.
  if [ "$size" -gt 3000000 ]; then
    echo "cross/build.sh: warning: $bin is over the 3 MB target" >&2
  fi
}

[ $# -eq 1 ] || usage
case "$1" in
  -h | --help) usage ;;
  all) targets=(aarch64 armv7) ;;
  *) targets=("$1") ;;
esac
for t in "${targets[@]}"; do
  triple=$(triple_of "$t") || exit 2
  build "$triple"
done
