#!/usr/bin/env bash
# The project's test command (README, .ci/run): sets up what the tests need
# on a fresh Debian or Ubuntu machine that has only Rust, then runs them.
#
#   bash tests/run.sh [extra cargo test arguments]
#
# Set-up, each step only when missing: Debian's chromium, Node.js with npm,
# and the playwright-core driver (`npm ci --prefix tests/browser`, at the
# version package-lock.json pins) for the phone-player test in
# tests/suite/browser.rs. Installing needs root and apt-get; without them the
# browser test is reported as skipped, with the reason, never as passed.
#
# Python: the packages of tests/subsonic/requirements.txt (schema
# validators, two Subsonic client libraries) go into target/pylib with pip.
# The schema check needs the Subsonic specification the team keeps beside
# the repository (../shared/subsonic, or SUBSONIC_SPEC).
#
# Then `cargo test` (the browser and Python tests are #[ignore]d there, so a
# plain `cargo test` reports them as ignored), and the ignored tests on
# their own with --ignored when what they need is there.
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

skip_python=""
spec=${SUBSONIC_SPEC:-$(cd .. && pwd)/shared/subsonic}
if ! command -v python3 >/dev/null 2>&1; then
  skip_python="python3 is missing"
elif [ ! -f target/pylib/.installed ] || [ tests/subsonic/requirements.txt -nt target/pylib/.installed ]; then
  echo "tests/run.sh: pip install -r tests/subsonic/requirements.txt into target/pylib"
  if python3 -m pip install -q --disable-pip-version-check --target target/pylib \
    -r tests/subsonic/requirements.txt 2>/dev/null; then
    touch target/pylib/.installed
  else
    skip_python="pip could not install tests/subsonic/requirements.txt (no access to PyPI?)"
  fi
fi

cargo test "$@"

if [ -n "$skip_python" ]; then
  echo "tests/run.sh: SKIPPED tests/suite/subsonic_clients.rs (schemas, client libraries): $skip_python"
else
  filter=(subsonic_clients::)
  if [ ! -f "$spec/subsonic-rest-api-1.16.1.xsd" ]; then
    echo "tests/run.sh: SKIPPED the Subsonic schema check: no specification at $spec (set SUBSONIC_SPEC)"
    filter+=(--skip every_answer_validates_against_the_xsd_and_the_opensubsonic_schemas)
  fi
  SUBSONIC_SPEC=$spec PYTHONPATH=$PWD/target/pylib \
    cargo test --test suite "$@" -- --ignored "${filter[@]}"
fi

if [ -n "$skip_browser" ]; then
  echo "tests/run.sh: SKIPPED tests/suite/browser.rs (phone player in chromium): $skip_browser"
else
  cargo test --test suite "$@" -- --ignored browser::
fi
