#!/usr/bin/env bash
# Builds stripped tapedeck release binaries for Raspberry Pi, without Docker.
#
# usage: cross/build.sh aarch64|armv7|armv6|all|<rust target triple>
#   aarch64  aarch64-unknown-linux-gnu      Pi 3/4/5, Zero 2 W (64-bit Raspberry Pi OS)
#   armv7    armv7-unknown-linux-gnueabihf  Pi 2/3/4 (32-bit Raspberry Pi OS)
#   armv6    arm-unknown-linux-musleabihf   Pi 1, Zero, Zero W (ARMv6 + VFP), static
# Output: target/<triple>/release/tapedeck
#
# The glibc binaries must run on Raspberry Pi OS Bullseye (glibc 2.31), but
# this machine's glibc is newer, so linking goes through cargo-zigbuild,
# which links against glibc 2.31's symbol versions (the ".2.31" suffix).
# LAME is built by mp3lame-sys with autotools; zig's compiler wrapper has a
# path it cannot read the target from, so the autotools --host is given
# explicitly.
#
# ARMv6: rustup has no prebuilt std for it here, so std is built from
# source with nightly (-Z build-std; needs `rustup component add rust-src
# --toolchain nightly`), and the binary is static musl (zig ships musl), so
# it runs on every Raspberry Pi OS release whatever its glibc. Debian's
# armhf C library is ARMv7 code, which an ARMv6 CPU cannot run. LAME gets
# -mcpu=arm1176jzf-s (ARMv6, VFPv2, no NEON, no Thumb-2), and the result is
# checked with readelf.
#
# Installs nothing: it says what is missing and how to install it.
set -euo pipefail
cd "$(dirname "$0")/.."

GLIBC=2.31

usage() {
  sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

triple_of() {
  case "$1" in
    aarch64 | aarch64-unknown-linux-gnu) echo aarch64-unknown-linux-gnu ;;
    armv7 | armv7-unknown-linux-gnueabihf) echo armv7-unknown-linux-gnueabihf ;;
    armv6 | arm-unknown-linux-musleabihf) echo arm-unknown-linux-musleabihf ;;
    *) echo "cross/build.sh: unknown target '$1' (aarch64, armv7, armv6 or all)" >&2; return 2 ;;
  esac
}

# autotools --host for LAME, per target.
gnu_host_of() {
  case "$1" in
    aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf ;;
    arm-unknown-linux-musleabihf) echo arm-linux-musleabihf ;;
  esac
}

missing=()
check() { # check <command to test> <what> <how to install>
  if ! eval "$1" >/dev/null 2>&1; then missing+=("$2: $3"); fi
}

# ARMv6: std from source with nightly, static musl, checked to be ARMv6 code.
build_armv6() {
  local triple=arm-unknown-linux-musleabihf
  check "rustup component list --toolchain nightly --installed | grep -q rust-src" \
    "nightly with rust-src" "rustup toolchain install nightly --profile minimal --component rust-src"
  check "cargo zigbuild --help" "cargo-zigbuild" "cargo install cargo-zigbuild --locked"
  check "command -v zig || python3 -m ziglang version" "zig" "pip install ziglang   (or a zig release on PATH)"
  check "command -v make" "make" "apt-get install make"
  check "command -v readelf" "readelf" "apt-get install binutils"
  if ((${#missing[@]})); then
    echo "cross/build.sh: cannot build $triple, missing:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
  fi
  echo "cross/build.sh: building $triple (ARMv6, static musl) with nightly build-std"
  armv6_env cargo +nightly zigbuild --release --locked --target "$triple" \
    -Z build-std=std,panic_unwind
  local bin=target/$triple/release/tapedeck
  check_armv6 "$bin"
  printf 'cross/build.sh: %s: %s bytes, stripped, static\n' "$bin" "$(stat -c %s "$bin")"
}

# Runs a command with the environment of an ARMv6 build (also used for
# the test run under qemu-arm -cpu arm1176 in .ci/run).
armv6_env() {
  # rustup's std would bring musl's start files; built from source it does
  # not, so zig's own are used.
  CARGO_TARGET_ARM_UNKNOWN_LINUX_MUSLEABIHF_RUSTFLAGS="-C link-self-contained=no" \
    MP3LAME_SYS_OVERRIDE_HOST=arm-linux-musleabihf \
    CFLAGS_arm_unknown_linux_musleabihf="-mcpu=arm1176jzf_s -mfpu=vfp -mfloat-abi=hard -marm" \
    "$@"
}

# The binary must be ARMv6 code: an ARMv7 or NEON instruction is SIGILL on
# a Pi Zero.
check_armv6() {
  local attrs
  attrs=$(readelf -A "$1")
  if ! grep -Eq 'Tag_CPU_arch: v6(KZ|K|Z)?$' <<<"$attrs"; then
    echo "cross/build.sh: $1 is not ARMv6 code:" >&2
    grep -E 'Tag_CPU_arch|SIMD|FP_arch' <<<"$attrs" >&2
    exit 1
  fi
  if grep -Eq 'Tag_Advanced_SIMD_arch: NEON' <<<"$attrs"; then
    echo "cross/build.sh: $1 uses NEON, which ARMv6 lacks" >&2
    exit 1
  fi
  if file "$1" 2>/dev/null | grep -q 'dynamically linked'; then
    echo "cross/build.sh: $1 is not static" >&2
    exit 1
  fi
}

build() {
  local triple=$1
  if [ "$triple" = arm-unknown-linux-musleabihf ]; then
    build_armv6
    return
  fi
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
  # The size target for a Pi is 4 MB; say so loudly rather than fail a build.
  if [ "$size" -gt 4000000 ]; then
    echo "cross/build.sh: warning: $bin is over the 4 MB target" >&2
  fi
}

if [ "${1:-}" = --env ]; then
  # cross/build.sh --env armv6 COMMAND...: COMMAND with that build's
  # environment (the qemu test run in .ci/run).
  shift 2
  armv6_env "$@"
  exit
fi
[ $# -eq 1 ] || usage
case "$1" in
  -h | --help) usage ;;
  all) targets=(aarch64 armv7 armv6) ;;
  *) targets=("$1") ;;
esac
for t in "${targets[@]}"; do
  triple=$(triple_of "$t") || exit 2
  build "$triple"
done
