#!/usr/bin/env bash
# Fetches, HERE (Debian 12, apt works), the Debian packages of our C
# dependencies (jansson, utf8proc, pcre2, libsodium, libxml2 with the ICU it
# links, and pkgconf) into .gpu-debs/, so that scripts/gpu-check.sh can build
# the whole library on the device machine, which has none of them and no
# network: carry .gpu-debs there (see gpu-check.sh). There they are unpacked
# with dpkg -x into a private prefix, never into /.
#
# libicu-dev is trimmed to its headers (icu-headers.tar.gz: libxml2's
# encoding.h includes <unicode/ucnv.h>); its 10 MB of static libraries are
# not needed. Packages already in the folder are not fetched again.
# usage: scripts/gpu-deps.sh [DIR]   (default .gpu-debs, ignored by git)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.gpu-debs}
mkdir -p "$DEST"

# Runtime and development packages; the pcre2 16/32-bit and POSIX libraries
# are left out (their .so links in libpcre2-dev dangle, harmlessly).
PKGS=(libjansson4 libjansson-dev
      libutf8proc2 libutf8proc-dev
      libpcre2-8-0 libpcre2-dev
      libsodium23 libsodium-dev
      libxml2 libxml2-dev libicu72
      pkgconf-bin libpkgconf3)

# The packages not yet in DEST (a file PKG_*.deb).
missing=()
for p in "${PKGS[@]}"; do
  compgen -G "$DEST/${p}_*.deb" > /dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "gpu-deps: downloading ${missing[*]}"
  (cd "$DEST" && apt-get download "${missing[@]}")
else
  echo "gpu-deps: every package already in $DEST"
fi

# ICU's headers alone, from libicu-dev.
if [ ! -f "$DEST/icu-headers.tar.gz" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download libicu-dev > /dev/null)
  dpkg-deb -x "$tmp"/libicu-dev_*.deb "$tmp/x"
  tar -C "$tmp/x" -czf "$DEST/icu-headers.tar.gz" ./usr/include/unicode
  rm -rf "$tmp"
  echo "gpu-deps: wrote $DEST/icu-headers.tar.gz (libicu-dev's headers)"
fi

ls -l "$DEST"
total=$(du -cb "$DEST"/* | tail -n 1 | cut -f1)
echo "gpu-deps: $(( total / 1024 )) KiB in $DEST (the device tool carries at most 64 MiB with the working tree)"
if [ "$total" -gt $(( 32 * 1024 * 1024 )) ]; then
  echo "gpu-deps: over 32 MiB: too large to carry comfortably" >&2
  exit 1
fi
