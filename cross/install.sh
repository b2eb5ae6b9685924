#!/usr/bin/env bash
# Installs (or upgrades) tapedeck on a Raspberry Pi over ssh/scp.
#
# usage: cross/install.sh user@host [aarch64|armv7|armv6]
#   Without a target, the Pi is asked (uname -m). Build first with
#   cross/build.sh. Needs sudo on the Pi.
#
# What it does, each step safe to repeat:
#   1. scp the binary, the systemd unit and the example config to /tmp on the Pi;
#   2. install the binary as /usr/local/bin/tapedeck and the unit as
#      /etc/systemd/system/tapedeck.service (both replaced on upgrade);
#   3. install the config as /etc/tapedeck/tapedeck.toml only if there is
#      none yet (an edited config is never overwritten);
#   4. systemctl daemon-reload && systemctl enable --now tapedeck, and a
#      restart when it was already running so an upgrade takes effect.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
case "$1" in -h | --help) usage ;; esac
host=$1
SSH=${SSH:-ssh}
SCP=${SCP:-scp}

arch=${2:-}
if [ -z "$arch" ]; then
  machine=$($SSH "$host" uname -m)
  case "$machine" in
    aarch64 | arm64) arch=aarch64 ;;
    armv7l | armv8l) arch=armv7 ;;
    armv6l) arch=armv6 ;;
    *) echo "cross/install.sh: $host is $machine; tapedeck is built for aarch64, armv7 and armv6" >&2; exit 1 ;;
  esac
fi
case "$arch" in
  aarch64) triple=aarch64-unknown-linux-gnu ;;
  armv7) triple=armv7-unknown-linux-gnueabihf ;;
  armv6) triple=arm-unknown-linux-musleabihf ;;
  *) echo "cross/install.sh: unknown target '$arch' (aarch64, armv7 or armv6)" >&2; exit 2 ;;
esac
bin=target/$triple/release/tapedeck
if [ ! -x "$bin" ]; then
  echo "cross/install.sh: $bin is missing; build it first: cross/build.sh $arch" >&2
  exit 1
fi

stage=/tmp/tapedeck-install
echo "cross/install.sh: copying $bin to $host"
$SSH "$host" "rm -rf $stage && mkdir -p $stage"
$SCP -q "$bin" systemd/tapedeck.service systemd/tapedeck.toml "$host:$stage/"
$SSH "$host" "sudo sh -eu" <<REMOTE
install -m 0755 $stage/tapedeck /usr/local/bin/tapedeck
install -m 0644 $stage/tapedeck.service /etc/systemd/system/tapedeck.service
if [ -e /etc/tapedeck/tapedeck.toml ]; then
  echo "keeping /etc/tapedeck/tapedeck.toml"
else
  install -D -m 0644 $stage/tapedeck.toml /etc/tapedeck/tapedeck.toml
  echo "installed /etc/tapedeck/tapedeck.toml: set library.root to your music folder"
fi
rm -rf $stage
/usr/local/bin/tapedeck config check /etc/tapedeck/tapedeck.toml || echo "fix the config above, then: sudo systemctl restart tapedeck"
was_active=\$(systemctl is-active tapedeck || true)
systemctl daemon-reload
systemctl enable --now tapedeck
if [ "\$was_active" = active ]; then systemctl restart tapedeck; fi
systemctl --no-pager --lines=5 status tapedeck || true
REMOTE
echo "cross/install.sh: done; open http://${host#*@}:8340/ (or http://<hostname>.local:8340/) on a phone"
