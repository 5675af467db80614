#!/usr/bin/env bash
# Build the pinned Asterisk 22 root (Debian sid) with mmdebstrap and cache it as a tarball.
# Usage: build-asterisk-root.sh CACHE_DIR ROOT_DIR
set -euo pipefail
ASTERISK_VERSION="${ASTERISK_VERSION:-1:22.10.1+dfsg+~cs6.17.60671434-1}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache_dir="$1"
root_dir="$2"
tarball="$cache_dir/asterisk-root-${ASTERISK_VERSION//[:~+]/_}.tar.zst"
mkdir -p "$cache_dir"
if [ -x "$root_dir/usr/sbin/asterisk" ]; then
  echo "asterisk root already present at $root_dir"
  exit 0
fi
if [ ! -f "$tarball" ]; then
  echo "building asterisk root (Debian sid, asterisk=$ASTERISK_VERSION); about one minute..."
  tmp="$(mktemp -d "$cache_dir/build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  mmdebstrap --variant=essential --mode=root \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --include="asterisk=$ASTERISK_VERSION,asterisk-core-sounds-fr-gsm" \
    sid "$tmp/root" "$MIRROR"
  tar -C "$tmp/root" -I 'zstd -T0 -3' -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi
echo "unpacking $tarball"
mkdir -p "$root_dir"
tar -C "$root_dir" -I zstd -xf "$tarball"
mkdir -p "$root_dir/var/spool/asterisk/recording" "$root_dir/usr/local/share/asterisk/sounds/custom"
echo "asterisk root ready at $root_dir"
