#!/usr/bin/env bash
# The CUDA kernels compiled by nvcc for sm_80 and sm_90a with ptxas's report,
# failing when a kernel spills registers to local memory (a spill in a hot
# loop costs more than any tuning gains). Runs without a GPU (CI does).
# usage: scripts/check-cuda-build.sh [OUT_DIR]   (the ptxas reports land there)
# env: NVCC (default nvcc), JOBS (parallel compiles, default the core count)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build-nvcc}
mkdir -p "$OUT"
export NVCC=${NVCC:-nvcc} OUT
command -v "$NVCC" > /dev/null || { echo "check-cuda-build: nvcc not found (the CUDA toolkit is needed)" >&2; exit 1; }

compile() { # SRC ARCH: compile, the ptxas report in $OUT/NAME.ARCH.ptxas.txt, "FAILED" appended on error
  local name log
  name=$(basename "$1" .cu)
  log="$OUT/$name.$2.ptxas.txt"
  "$NVCC" -std=c++17 -O3 -arch="$2" -Xptxas -v -Ikernels -c "$1" -o "$OUT/$name.$2.o" > "$log" 2>&1 ||
    echo "FAILED" >> "$log"
}
export -f compile
for arch in sm_80 sm_90a; do for src in kernels/*.cu; do echo "$src $arch"; done; done |
  xargs -P "${JOBS:-$(nproc)}" -n 2 bash -c 'compile "$0" "$1"'

fail=0
for arch in sm_80 sm_90a; do
  for src in kernels/*.cu; do
    log="$OUT/$(basename "$src" .cu).$arch.ptxas.txt"
    if tail -1 "$log" | grep -q '^FAILED$'; then
      echo "FAIL: $src for $arch does not compile:"; cat "$log"; fail=1; continue
    fi
    # ptxas prints, per kernel: "Compiling entry function 'X'", then
    # "N bytes stack frame, S bytes spill stores, L bytes spill loads".
    spills=$(awk '/Compiling entry function/ {k=$0} /spill stores/ { if ($5 != 0 || $9 != 0) print k " :: " $0 }' \
      "$log" | sed "s/.*Compiling entry function '\([^']*\)'.*::/\1:/")
    kernels=$(grep -c "Compiling entry function" "$log" || true)
    if [ -n "$spills" ]; then
      echo "FAIL: $src ($arch) spills registers:"; echo "$spills" | sed 's/^/  /'; fail=1
    else
      echo "ok: $src ($arch): $kernels kernels, no spills"
    fi
  done
done
exit $fail
