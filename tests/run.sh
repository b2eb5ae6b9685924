#!/usr/bin/env bash
# The project's test command (README, .ci/run): sets up what the tests need
# on a fresh Debian or Ubuntu machine that has only Rust, then runs them.
#
#   bash tests/run.sh [extra cargo test arguments]
#
# Set-up, each step only when missing: Debian's chromium, Node.js with npm,
# and the playwright-core driver (`npm ci --prefix tests/browser`, at the
# version package-lock.json pins) for the phone-player test in
# tests/browser.rs. Installing needs root and apt-get; without them the
# browser test is reported as skipped, with the reason, never as passed.
#
# Then `cargo test` (the browser test is #[ignore]d there, so a plain
# `cargo test` reports it as ignored), and the browser test on its own with
# --ignored when its browser and driver are there.
set -euo pipefail
cd "$(dirname "$0")/.."

skip_browser=""
if [ -n "${TAPEDECK_SKIP_BROWSER:-}" ]; then
  skip_browser="TAPEDECK_SKIP_BROWSER is set"
fi

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ -z "$skip_browser" ] && ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    skip_browser="${missing[*]} missing and cannot be installed here (needs root and apt-get)"
  fi
fi
if [ -z "$skip_browser" ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "tests/run.sh: npm ci --prefix tests/browser"
  npm ci --prefix tests/browser --no-audit --no-fund ||
    skip_browser="npm ci --prefix tests/browser failed (no access to the npm registry?)"
fi

cargo test "$@"

if [ -n "$skip_browser" ]; then
  echo "tests/run.sh: SKIPPED tests/browser.rs (phone player in chromium): $skip_browser"
else
  cargo test --test browser "$@" -- --ignored
fi
