#!/usr/bin/env bash
# gpu-check.sh — the CUDA backend on a real GPU, in one command: build, the
# op suite against cpu-ref, kernel benchmarks against cuBLASLt and PyTorch,
# and (when our C dependencies can be had) the full library's GPU tests.
#
# usage: scripts/gpu-check.sh OUT_DIR
#
# Stages (each timed, logged to OUT_DIR/<stage>.log, and entered in
# OUT_DIR/results.md and OUT_DIR/results.json as pass / fail / skipped with
# the reason; both files are rewritten after every stage, so they hold what
# was done even if a later stage fails or the run is cut off):
#   a-build  the backend, its kernels, test/backend/test_ops.c and
#            test/bench/bench_cuda.cu built with gcc and nvcc alone: no
#            meson, none of our C dependencies (a bare CUDA machine has
#            them not); kernels for the GPU's own arch and sm_80.
#   b-ops    the op suite (test_ops): backend "cuda" against cpu-ref on
#            every op and shape (DM_OPS_SKIP_SELF=1).
#   c-bench  bench_cuda: GEMM bf16 -> fp32 (ours vs cuBLASLt) and attention
#            fwd / bwd (ours, fp32 and bf16 forward).
#   d-torch  test/bench/bench_cuda_torch.py: PyTorch's matmul and SDPA on
#            the same shapes (skipped without python3 + torch).
#   e-full   meson setup -Dcuda=enabled -Donednn=disabled, then meson test
#            device-parity (and backend-ops when time is left) and a
#            `dm train --device cuda` smoke run on the tiny fixture. Skipped
#            (not failed) when our C dependencies are neither installed nor
#            carried as .deb packages (scripts/gpu-deps.sh; folder $GPU_DEBS,
#            default .gpu-debs).
#
# Through the session's device tool (no GPU here): first, here, once,
#   scripts/gpu-deps.sh            # ~13 MiB of .debs into .gpu-debs (for e-full)
# then call the tool's `run` with
#   command:   bash scripts/gpu-check.sh $OUT/gpu
#   carry:     [".gpu-debs"]
#   timeout_s: 540
# and read $OUT/gpu/results.md. The tool brings back at most 8 files from
# $OUT: this script writes 7 there (results.md, results.json, 5 logs); the
# build itself goes to $GPU_CHECK_BUILD (default /tmp/dm-gpu-check).
#
# Environment:
#   GPU_CHECK_BUILD_ONLY=1  stop after a-build (it compiles and links
#                           without a GPU: the check to run here first)
#   GPU_CHECK_STAGES        the stages to run, e.g. "a-build b-ops c-bench"
#                           (default all; b and c need a)
#   GPU_CHECK_BUDGET_S      the whole run's time budget in seconds (default
#                           450): a stage gets at most what is left of it
#   GPU_CHECK_BUILD         the build folder (emptied first)
#   GPU_ARCH                compute capability to build for, e.g. 9.0
#                           (default: nvidia-smi's, else 9.0)
#   GPU_DEBS                folder of carried .deb packages for e-full
#   GPU_CHECK_FORCE_DEBS=1  use GPU_DEBS even where pkg-config finds the
#                           system's packages (to test that path)
set -uo pipefail

# ------------------------------------------------------------------ settings

setup() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  cd "$ROOT" || exit 1
  mkdir -p "$1" || exit 1
  OUT=$(cd "$1" && pwd)
  BUILD=${GPU_CHECK_BUILD:-/tmp/dm-gpu-check}
  BUDGET=${GPU_CHECK_BUDGET_S:-450}
  export PATH="$PATH:/usr/local/cuda/bin"
  NVCC=${NVCC:-nvcc}
  JOBS=$(nproc 2> /dev/null || echo 4)
}

# A note for the results table (one line), from inside a stage.
note() { echo "$*" | tr '\t\n' '  ' >> "$BUILD/$STAGE.note"; }

# The non-empty lines of a file (0 when it does not exist).
count_lines() { if [ -f "$1" ]; then grep -c . "$1"; else echo 0; fi; }

# Seconds since the epoch, with fractions.
now() { date +%s.%N; }

# ------------------------------------------------------------------ a: build

# The GPU's compute capability as "9.0" (nvidia-smi), GPU_ARCH, or 9.0.
gpu_arch() {
  local cap=${GPU_ARCH:-}
  if [ -z "$cap" ] && command -v nvidia-smi > /dev/null; then
    cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -n 1 | tr -d ' ')
  fi
  echo "${cap:-9.0}"
}

# nvcc -gencode flags: the GPU's own arch (sm_90a for 9.0) and sm_80.
gencode_flags() {
  local cap=$1 sm=${1/./}
  local own=sm_$sm
  [ "$sm" = 90 ] && own=sm_90a
  echo "-gencode=arch=compute_80,code=sm_80"
  [ "$sm" != 80 ] && echo "-gencode=arch=compute_${own#sm_},code=$own"
}

write_config() {
  cat > "$BUILD/dm_config.h" << 'EOF'
/* dm_config.h for scripts/gpu-check.sh's standalone build (no meson). */
#pragma once
#define DM_HAVE_ONEDNN 0
#define DM_HAVE_CUDA 1
#define DM_HAVE_CUDA_BACKEND 1
#define DM_CUDA_EMU 0
EOF
}

log_environment() {
  echo "== environment ($(date -u +%FT%TZ))"
  uname -a
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv 2>&1 || echo "(no nvidia-smi)"
  "$NVCC" --version 2>&1 | tail -n 2
  gcc --version 2>&1 | head -n 1
  {
    echo "gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2> /dev/null | head -n 1)"
    echo "driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2> /dev/null | head -n 1)"
    echo "nvcc=$("$NVCC" --version 2> /dev/null | grep -o 'release [0-9.]*' | head -n 1)"
    echo "gcc=$(gcc -dumpfullversion 2> /dev/null)"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null)"
    # What was tested, where the copy has no .git: compare with the same here.
    echo "sources_md5=$(cat kernels/*.cu kernels/*.cuh kernels/*.h lib/backend/*.[ch] 2> /dev/null | md5sum | cut -c1-12)"
  } > "$BUILD/env.txt"
}

# Compiles every source in the background (one log each), then waits; the
# objects that failed are named in $BUILD/failed.
compile_all() {
  local gencode=$1 cflags=(-O2 -std=gnu11 -Wall -Wextra -Iinclude -Ilib -I"$BUILD")
  local src obj
  : > "$BUILD/failed"
  for src in lib/core/core.c lib/core/staging.c lib/backend/backend.c lib/backend/backend_ref.c \
             lib/backend/backend_cuda.c; do
    obj=$BUILD/obj/$(basename "$src" .c).o
    (gcc "${cflags[@]}" -DDM_BUILDING_LIBRARY -fvisibility=hidden -c "$src" -o "$obj" > "$obj.log" 2>&1 \
      || echo "$src" >> "$BUILD/failed") &
  done
  (gcc "${cflags[@]}" -c test/backend/test_ops.c -o "$BUILD/obj/test_ops.o" > "$BUILD/obj/test_ops.o.log" 2>&1 \
    || echo test/backend/test_ops.c >> "$BUILD/failed") &
  for src in kernels/*.cu; do
    obj=$BUILD/obj/$(basename "$src" .cu).o
    # shellcheck disable=SC2086
    ("$NVCC" -std=c++17 -O3 --expt-relaxed-constexpr --threads 2 $gencode -Ikernels -c "$src" -o "$obj" \
      > "$obj.log" 2>&1 || echo "$src" >> "$BUILD/failed") &
  done
  wait
  for f in "$BUILD"/obj/*.log; do
    [ -s "$f" ] && { echo "-- $(basename "$f" .log)"; cat "$f"; }
  done
  return 0
}

# The cuBLASLt link flags: the toolkit's, else PyTorch's pip wheel's; the
# choice is written to $BUILD/cublas.txt. Empty output: none found.
cublas_flags() {
  local probe=$BUILD/obj/cublas_probe.cu
  printf '#include <cublasLt.h>\nint main(void){cublasLtHandle_t h; return (int)cublasLtCreate(&h);}\n' > "$probe"
  if "$NVCC" "$probe" -o "$BUILD/cublas_probe" -lcublasLt -lcublas > /dev/null 2>&1; then
    echo "toolkit" > "$BUILD/cublas.txt"
    echo "-lcublasLt -lcublas"
    return
  fi
  local dir
  dir=$(python3 -c 'import nvidia.cublas as m, os; print(list(m.__path__)[0])' 2> /dev/null) || dir=
  if [ -n "$dir" ] && [ -f "$dir/include/cublasLt.h" ]; then
    local flags="-I$dir/include -L$dir/lib -l:libcublasLt.so.13 -l:libcublas.so.13 -Xlinker -rpath=$dir/lib"
    # shellcheck disable=SC2086
    if "$NVCC" "$probe" -o "$BUILD/cublas_probe" $flags > /dev/null 2>&1; then
      echo "pip wheel ($dir)" > "$BUILD/cublas.txt"
      echo "$flags"
      return
    fi
  fi
  echo "none" > "$BUILD/cublas.txt"
}

link_test_ops() {
  local objs=(test_ops core staging backend backend_ref backend_cuda) o paths=() src
  for src in kernels/*.cu; do objs+=("$(basename "$src" .cu)"); done
  for o in "${objs[@]}"; do
    [ -f "$BUILD/obj/$o.o" ] || { echo "test_ops: $o.o missing (its source did not compile or does not exist)"; return 1; }
    paths+=("$BUILD/obj/$o.o")
  done
  echo "-- link test_ops"
  "$NVCC" -cudart static -o "$BUILD/test_ops" "${paths[@]}" -lm -lpthread -ldl -lrt
}

# bench_cuda with cuBLASLt where it links, else without (ours alone).
link_bench() {
  local o
  for o in gemm attention; do
    [ -f "$BUILD/obj/$o.o" ] || { echo "bench_cuda: $o.o missing"; return 1; }
  done
  local lt gencode=$1
  lt=$(cublas_flags)
  echo "-- compile and link bench_cuda (cuBLASLt: $(cat "$BUILD/cublas.txt"))"
  [ -z "$lt" ] && lt=-DBENCH_NO_CUBLAS
  # shellcheck disable=SC2086
  "$NVCC" -std=c++17 -O3 $gencode -Ikernels -o "$BUILD/bench_cuda" test/bench/bench_cuda.cu "$BUILD/obj/gemm.o" \
    "$BUILD/obj/attention.o" $lt -lm -lpthread -ldl -lrt
}

stage_a() {
  log_environment
  local cap gencode
  cap=$(gpu_arch)
  gencode=$(gencode_flags "$cap" | tr '\n' ' ')
  echo "== building for compute capability $cap: $gencode"
  mkdir -p "$BUILD/obj"
  write_config
  for k in gemm attention ops runtime_cuda; do
    [ -f "kernels/$k.cu" ] || echo "warning: kernels/$k.cu does not exist"
  done
  compile_all "$gencode"
  local failed rc=0
  failed=$(tr '\n' ' ' < "$BUILD/failed")
  [ -n "$failed" ] && { echo "== did not compile: $failed"; note "did not compile: $failed;"; rc=1; }
  link_test_ops || { note "test_ops not linked;"; rc=1; }
  link_bench "$gencode" || { note "bench_cuda not linked;"; rc=1; }
  note "arch $cap; cuBLASLt: $(cat "$BUILD/cublas.txt" 2> /dev/null || echo '?')"
  ls -l "$BUILD/test_ops" "$BUILD/bench_cuda" 2> /dev/null
  return $rc
}

# ------------------------------------------------------------------ b: op suite

stage_b() {
  [ -x "$BUILD/test_ops" ] || { note "test_ops was not built (a-build)"; return 77; }
  DM_OPS_SKIP_SELF=1 OMP_WAIT_POLICY=passive "$BUILD/test_ops"
  local rc=$?
  local summary
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$OUT/$STAGE.log" | tail -n 1)
  note "${summary:-no summary line (crashed?)}; exit $rc"
  if ! grep -q '^cuda against cpu-ref' "$OUT/$STAGE.log"; then
    note "; backend cuda did not run (see the log)"
    return 1
  fi
  return $rc
}

# ------------------------------------------------------------------ c: benchmarks

stage_c() {
  [ -x "$BUILD/bench_cuda" ] || { note "bench_cuda was not built (a-build)"; return 77; }
  rm -f "$BUILD/bench_cuda.jsonl"
  local rc=0
  # Two processes: a fault in one part leaves the other's numbers.
  "$BUILD/bench_cuda" gemm --json "$BUILD/bench_cuda.jsonl" || { rc=1; note "gemm part failed;"; }
  "$BUILD/bench_cuda" attention --json "$BUILD/bench_cuda.jsonl" || { rc=1; note "attention part failed;"; }
  # Wrong results fail the stage: GEMM off cuBLASLt / the host by > 1e-3
  # relative (both sum exact bf16 products in fp32), non-finite attention.
  local bad
  bad=$(awk '
    function field(name,   v) { if (!match($0, "\"" name "\":[^,}]*")) return ""; v = substr($0, RSTART, RLENGTH); sub(/^[^:]*:/, "", v); return v }
    function off(v) { return v ~ /nan|inf/ || v + 0 > 1e-3 }
    /"bench":"gemm"/ { a = field("max_rel_err_vs_cublaslt"); h = field("max_rel_err_vs_host")
                       if (off(a)) print "gemm N " field("N") " K " field("K") " vs cuBLASLt " a
                       if (off(h)) print "gemm N " field("N") " K " field("K") " vs host " h }
    /"bench":"attention"/ && field("nonfinite") != "0" { print "attention T " field("T") " D " field("D") " non-finite" }
  ' "$BUILD/bench_cuda.jsonl" 2> /dev/null)
  [ -n "$bad" ] && { note "WRONG RESULTS: $(echo "$bad" | tr '\n' ';')"; rc=1; }
  note "$(count_lines "$BUILD/bench_cuda.jsonl") measurements"
  return $rc
}

# ------------------------------------------------------------------ d: PyTorch

stage_d() {
  command -v python3 > /dev/null || { note "no python3 on this machine"; return 77; }
  python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2> /dev/null \
    || { note "python3 has no torch with CUDA here"; return 77; }
  rm -f "$BUILD/bench_torch.jsonl"
  PYTHONUNBUFFERED=1 python3 test/bench/bench_cuda_torch.py --json "$BUILD/bench_torch.jsonl"
  local rc=$?
  note "$(count_lines "$BUILD/bench_torch.jsonl") measurements"
  return $rc
}

# ------------------------------------------------------------------ e: the full library

DEPS_PC="jansson libutf8proc libpcre2-8 libsodium libxml-2.0"

# Unpacks the carried packages (.deb, and .tar.gz such as ICU's headers)
# into PREFIX, points their .pc files there, and exports the variables
# that make pkg-config, the compiler, the linker and the loader use them.
use_carried_debs() {
  local debs=$1 prefix=$BUILD/deps f
  mkdir -p "$prefix"
  for f in "$debs"/*.deb; do
    if command -v dpkg-deb > /dev/null; then
      dpkg-deb -x "$f" "$prefix" || return 1
    else # ar + tar, where dpkg is missing
      (cd "$prefix" && ar p "$f" "$(ar t "$f" | grep '^data.tar')" | tar -x -a -f - 2> /dev/null \
        || ar p "$f" data.tar.xz | tar -xJ) || return 1
    fi
  done
  for f in "$debs"/*.tar.gz; do [ -f "$f" ] && { tar -C "$prefix" -xzf "$f" || return 1; }; done
  local libdir=$prefix/usr/lib/x86_64-linux-gnu
  sed -i "s|^prefix=/usr\$|prefix=$prefix/usr|" "$libdir"/pkgconfig/*.pc
  export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CFLAGS="-I$prefix/usr/include"
  export LDFLAGS="-L$libdir -Wl,-rpath-link,$libdir"
  if ! command -v pkg-config > /dev/null || [ "${GPU_CHECK_FORCE_DEBS:-0}" = 1 ]; then
    [ -x "$prefix/usr/bin/pkgconf" ] && export PKG_CONFIG="$prefix/usr/bin/pkgconf"
  fi
  echo "using the carried packages in $debs, unpacked in $prefix"
}

# 0 when pkg-config (PKG_CONFIG, else pkg-config) finds all our dependencies.
deps_found() {
  local pc=${PKG_CONFIG:-pkg-config}
  command -v "$pc" > /dev/null || return 1
  # shellcheck disable=SC2086
  "$pc" --exists $DEPS_PC
}

find_meson() {
  if command -v meson > /dev/null; then
    MESON=(meson)
  elif python3 -c 'import mesonbuild' 2> /dev/null; then
    MESON=(python3 -m mesonbuild.mesonmain)
  else
    return 1
  fi
  command -v ninja > /dev/null || python3 -c 'import ninja' 2> /dev/null || return 1
  if ! command -v ninja > /dev/null; then # pip's ninja without its script on the PATH
    local d
    d=$(python3 -c 'import ninja, os; print(ninja.BIN_DIR)' 2> /dev/null) && export PATH="$PATH:$d"
  fi
}

# A labelled CSV for the tiny fixture's three labels.
write_train_csv() {
  local i words=("the old boat" "salty bread" "my sister" "blue market street" "stale rain" "we enjoyed this")
  local labels=(negative neutral positive)
  echo "text,label"
  for i in $(seq 0 47); do
    echo "${words[i % 6]} and ${words[(i * 5 + 1) % 6]},${labels[i % 3]}"
  done
}

# step NAME CMD...: runs CMD, noting NAME's pass or FAIL; CMD's status.
step() {
  local name=$1
  shift
  if "$@"; then
    note "$name pass;"
  else
    note "$name FAIL;"
    return 1
  fi
}

# meson test BUILD NAME [PATTERN]: passes when the test ran and passed (a
# test that exits 77 is "skipped" to meson, and a failure here: it should
# run) and its log has PATTERN (e.g. proof that backend cuda ran).
meson_test() {
  local log=$BUILD/mtest-$2.txt
  timeout -k 5 "$(left)" "${MESON[@]}" test -C "$1" --no-rebuild --print-errorlogs "$2" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  tail -n 80 "$1/meson-logs/testlog.txt" 2> /dev/null
  [ "$rc" = 0 ] && grep -Eq '^Ok: +[1-9]' "$log" || return 1
  [ -z "${3:-}" ] || grep -q "$3" "$1/meson-logs/testlog.txt"
}

# dm train --device cuda on the tiny fixture: 10 steps, on backend cuda.
train_smoke() {
  write_train_csv > "$BUILD/train.csv"
  timeout -k 5 "$(left)" "$1" train --model test/model/fixtures/tiny --train "$BUILD/train.csv" \
    --out "$BUILD/train-out" --device cuda --max-steps 10 --batch-size 8 --max-length 32 2>&1 \
    | tee "$BUILD/train.log" || return 1
  grep -q ', cuda backend' "$BUILD/train.log" || { echo "dm train did not say it ran on backend cuda"; return 1; }
  grep -q '^trained 10 steps' "$BUILD/train.log"
}

# The time left of the whole budget, in seconds (for a sub-step's timeout).
left() {
  local l=$(( BUDGET - ($(date +%s) - START_S) - 10 ))
  echo $(( l > 1 ? l : 1 ))
}

stage_e() {
  find_meson || { note "skipped: meson or ninja not found"; return 77; }
  local debs=${GPU_DEBS:-$ROOT/.gpu-debs}
  if ! deps_found || [ "${GPU_CHECK_FORCE_DEBS:-0}" = 1 ]; then
    if [ -d "$debs" ] && compgen -G "$debs/*.deb" > /dev/null; then
      use_carried_debs "$debs" || { note "the carried packages in $debs could not be unpacked"; return 1; }
      deps_found || { note "the carried packages do not provide: $DEPS_PC"; return 1; }
    else
      note "skipped: our C dependencies are not on this machine (no pkg-config match, no .deb folder $debs)"
      return 77
    fi
  fi
  local eb=$BUILD/meson rc=0
  [ -d /usr/local/cuda ] && export CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}
  echo "== meson setup"
  "${MESON[@]}" setup "$eb" -Dcuda=enabled -Donednn=disabled --buildtype=release || { note "meson setup failed"; return 1; }
  echo "== meson compile"
  "${MESON[@]}" compile -C "$eb" -j "$JOBS" test_device test_ops dm || { note "meson compile failed"; return 1; }
  echo "== meson test device-parity"
  step "device-parity" meson_test "$eb" device-parity || rc=1
  echo "== dm train --device cuda (smoke)"
  step "dm train" train_smoke "$eb/bindings/cli/dm" || rc=1
  if [ "$(left)" -gt 120 ]; then
    echo "== meson test backend-ops"
    step "backend-ops" meson_test "$eb" backend-ops '^cuda against cpu-ref' || rc=1
  else
    note "backend-ops not run (time; b-ops ran the same suite)"
  fi
  return $rc
}

# ------------------------------------------------------------------ results

# results.json and results.md from the stage list, the benchmarks' JSON
# lines and the op suite's log (python3; without it, the stages alone).
render() {
  if command -v python3 > /dev/null && python3 - "$OUT" "$BUILD" << 'PY'; then return; fi
import json, os, sys, time
out, build = sys.argv[1], sys.argv[2]

def jsonl(path):
    recs = []
    if os.path.exists(path):
        for line in open(path, errors="replace"):
            try:
                recs.append(json.loads(line))
            except ValueError:
                pass
    return recs

stages = []
for line in open(os.path.join(build, "stages.tsv"), errors="replace"):
    f = line.rstrip("\n").split("\t", 3) + [""] * 4
    stages.append({"stage": f[0], "status": f[1], "seconds": float(f[2] or 0), "note": f[3].strip(), "log": f[0] + ".log"})
env = {}
if os.path.exists(os.path.join(build, "env.txt")):
    for line in open(os.path.join(build, "env.txt"), errors="replace"):
        k, _, v = line.rstrip("\n").partition("=")
        env[k] = v

# The op suite's table: from "cuda against cpu-ref" on, while indented.
ops = {"lines": [], "summary": ""}
log = os.path.join(out, "b-ops.log")
if os.path.exists(log):
    inside = False
    for line in open(log, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("cuda: seconds per op") or line.startswith("cuda: cannot run"):
            ops["lines"].append(line)
        if line.startswith("cuda against cpu-ref"):
            inside = True
        elif inside and not line.startswith("  "):
            inside = False
        if inside:
            ops["lines"].append(line)
        if " passed, " in line and line.endswith(" failed"):
            ops["summary"] = line

ours, peers = jsonl(os.path.join(build, "bench_cuda.jsonl")), jsonl(os.path.join(build, "bench_torch.jsonl"))

def ratio(a, b):  # throughput of ours over a peer's: peer ms / our ms
    return round(b / a, 3) if a and b and a > 0 and b > 0 else None

gemm = []
for r in (r for r in ours if r.get("bench") == "gemm"):
    t = next((p for p in peers if p.get("bench") == "torch_gemm" and (p["M"], p["N"], p["K"]) == (r["M"], r["N"], r["K"])), {})
    row = dict(r, torch_bf16_ms=t.get("ms"), torch_bf16_tflops=t.get("tflops"),
               ratio_ours_over_torch=ratio(r.get("ours_ms"), t.get("ms")))
    gemm.append(row)
attention = []
keys = [(r["B"], r["H"], r["T"], r["D"]) for r in ours if r.get("bench") == "attention"]
keys += [(p["B"], p["H"], p["T"], p["D"]) for p in peers if p.get("bench") == "torch_attention"]
for key in sorted(set(keys), key=lambda k: (k[3], k[2])):
    r = next((r for r in ours if r.get("bench") == "attention" and (r["B"], r["H"], r["T"], r["D"]) == key), {})
    row = {"B": key[0], "H": key[1], "T": key[2], "D": key[3], "ours": r, "torch": {}}
    for p in peers:
        if p.get("bench") == "torch_attention" and (p["B"], p["H"], p["T"], p["D"]) == key:
            name = p["backend"] + "_" + p["dtype"]
            row["torch"][name] = p
            if "error" not in p:
                row["ratio_fwd_ours_fp32_over_" + name] = ratio(r.get("fwd_ms"), p.get("fwd_ms"))
                row["ratio_bwd_ours_fp32_over_" + name] = ratio(r.get("bwd_ms"), p.get("bwd_ms"))
    attention.append(row)

status = "fail" if any(s["status"] == "fail" for s in stages) else "pass"
result = {"generated_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "overall": status, "env": env,
          "stages": stages, "ops": ops, "gemm": gemm, "attention": attention,
          "raw": {"bench_cuda": ours, "bench_torch": peers}}
with open(os.path.join(out, "results.json.tmp"), "w") as f:
    json.dump(result, f, indent=1)
os.replace(os.path.join(out, "results.json.tmp"), os.path.join(out, "results.json"))

def num(x, fmt="{:.1f}"):
    if not isinstance(x, (int, float)):
        return "-" if x is None else str(x)  # "nan", "inf"
    return "-" if x < 0 else fmt.format(x)

md = [f"# gpu-check results ({result['generated_utc']}): {status}", ""]
md.append("GPU: {gpu}, driver {driver}; nvcc {nvcc}; gcc {gcc}; commit {commit}; kernels+backend sources md5 {sources_md5}".format(
    **{k: env.get(k, "?") for k in ("gpu", "driver", "nvcc", "gcc", "commit", "sources_md5")}))
md += ["", "| stage | status | seconds | note |", "| --- | --- | --- | --- |"]
md += [f"| {s['stage']} | {s['status']} | {s['seconds']:.0f} | {s['note'].replace('|', '/')} |" for s in stages]
if ops["lines"] or ops["summary"]:
    md += ["", "## Op suite: backend cuda against cpu-ref", "", "```"] + ops["lines"] + [ops["summary"], "```"]
if gemm:
    md += ["", "## GEMM C = A W^T, bf16 in, fp32 out (TFLOP/s; ratio = our throughput / the peer's)", "",
           "| M | N | K | ours | cuBLASLt | ours/cuBLASLt | torch bf16 (bf16 out) | ours/torch | rel err vs cuBLASLt | rel err vs host |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for g in gemm:
        md.append(f"| {g['M']} | {g['N']} | {g['K']} | {num(g.get('ours_tflops'))} | {num(g.get('cublaslt_tflops'))} | "
                  f"{num(g.get('ratio_ours_over_cublaslt'), '{:.2f}')} | {num(g.get('torch_bf16_tflops'))} | "
                  f"{num(g.get('ratio_ours_over_torch'), '{:.2f}')} | {num(g.get('max_rel_err_vs_cublaslt'), '{:.1e}')} | "
                  f"{num(g.get('max_rel_err_vs_host'), '{:.1e}')} |")
if attention:
    md += ["", "## Attention, B x H = 384 (ms, TFLOP/s: 4 B H T^2 D forward, 2.5x that backward)", "",
           "| D | T | ours fwd fp32 | ours bwd fp32 | ours fwd bf16 | torch flash bf16 fwd / bwd | torch efficient fp32 fwd / bwd | torch math fp32 fwd / bwd | ours/efficient fp32 fwd, bwd |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    def cell(ms, tf):
        return "-" if ms is None else f"{ms:.3f} ms ({tf:.1f})"
    def peer(row, name):
        p = row["torch"].get(name)
        if not p:
            return "-"
        if "error" in p:
            return "error: " + p["error"][:60].replace("|", "/")
        return f"{p['fwd_ms']:.3f} / {p['bwd_ms']:.3f} ms"
    for a in attention:
        o = a["ours"]
        md.append(f"| {a['D']} | {a['T']} | {cell(o.get('fwd_ms'), o.get('fwd_tflops', 0))} | "
                  f"{cell(o.get('bwd_ms'), o.get('bwd_tflops', 0))} | {cell(o.get('fwd_bf16_ms'), o.get('fwd_bf16_tflops', 0))} | "
                  f"{peer(a, 'flash_bfloat16')} | {peer(a, 'efficient_float32')} | {peer(a, 'math_float32')} | "
                  f"{num(a.get('ratio_fwd_ours_fp32_over_efficient_float32'), '{:.2f}')}, "
                  f"{num(a.get('ratio_bwd_ours_fp32_over_efficient_float32'), '{:.2f}')} |")
md += ["", "Logs: " + ", ".join(s["log"] for s in stages), ""]
with open(os.path.join(out, "results.md"), "w") as f:
    f.write("\n".join(md))
PY
  # Without python3: the stages alone.
  {
    echo "# gpu-check results (stages only: python3 was not available)"
    echo
    echo "| stage | status | seconds | note |"
    echo "| --- | --- | --- | --- |"
    awk -F '\t' '{ printf "| %s | %s | %.0f | %s |\n", $1, $2, $3, $4 }' "$BUILD/stages.tsv"
  } > "$OUT/results.md"
  awk -F '\t' 'BEGIN { printf "{\"stages\": [" } { gsub(/["\\]/, "", $4); printf "%s{\"stage\": \"%s\", \"status\": \"%s\", \"seconds\": %s, \"note\": \"%s\"}", (NR > 1 ? ", " : ""), $1, $2, $3, $4 } END { print "]}" }' \
    "$BUILD/stages.tsv" > "$OUT/results.json"
}

# ------------------------------------------------------------------ driver

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$BUILD/stages.tsv"; render; }

# run_stage ID CAP_S: runs stage ID (this script again, with --stage) under
# a timeout of CAP_S or what is left of the budget, logging to OUT/ID.log.
run_stage() {
  local id=$1 cap=$2 left t0 rc secs status
  left=$(( BUDGET - ($(date +%s) - START_S) ))
  if [ "$left" -lt 30 ]; then
    record "$id" skipped 0 "out of time: ${left}s of the ${BUDGET}s budget left"
    return
  fi
  [ "$cap" -gt "$left" ] && cap=$left
  echo "== $id (at most ${cap}s) ..."
  t0=$(now)
  rm -f "$BUILD/$id.note"
  START_S=$START_S timeout -k 10 "$cap" bash "$ROOT/scripts/gpu-check.sh" --stage "$id" "$OUT" > "$OUT/$id.log" 2>&1
  rc=$?
  secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  case $rc in
    0) status=pass ;;
    77) status=skipped ;;
    124 | 137) status=fail; echo "timed out after ${cap}s" | tr '\n' ' ' >> "$BUILD/$id.note" ;;
    *) status=fail ;;
  esac
  record "$id" "$status" "$secs" "$(cat "$BUILD/$id.note" 2> /dev/null)"
  echo "== $id: $status (${secs}s) $(cat "$BUILD/$id.note" 2> /dev/null)"
}

main() {
  [ $# -eq 1 ] || { echo "usage: scripts/gpu-check.sh OUT_DIR" >&2; exit 2; }
  setup "$1"
  START_S=$(date +%s)
  rm -rf "$BUILD"
  mkdir -p "$BUILD"
  : > "$BUILD/stages.tsv"
  rm -f "$OUT"/results.md "$OUT"/results.json "$OUT"/[a-e]-*.log
  local wanted=" ${GPU_CHECK_STAGES:-a-build b-ops c-bench d-torch e-full} " id cap
  [ "${GPU_CHECK_BUILD_ONLY:-0}" = 1 ] && wanted=" a-build "
  for id in a-build:300 b-ops:180 c-bench:120 d-torch:150 e-full:400; do
    cap=${id#*:} id=${id%:*}
    if [[ $wanted == *" $id "* ]]; then
      run_stage "$id" "$cap"
    else
      record "$id" skipped 0 "not asked for (GPU_CHECK_STAGES / GPU_CHECK_BUILD_ONLY)"
    fi
  done
  echo "== results: $OUT/results.md"
  cat "$OUT/results.md"
  ! grep -q $'\tfail\t' "$BUILD/stages.tsv"
}

# Only the results files again, from the build folder: --render OUT_DIR.
if [ "${1:-}" = --render ]; then
  setup "$2"
  render
  exit $?
fi
# One stage, run by run_stage: --stage ID OUT_DIR.
if [ "${1:-}" = --stage ]; then
  setup "$3"
  STAGE=$2
  case $STAGE in
    a-build) stage_a ;;
    b-ops) stage_b ;;
    c-bench) stage_c ;;
    d-torch) stage_d ;;
    e-full) stage_e ;;
    *) echo "unknown stage $STAGE" >&2; exit 2 ;;
  esac
  exit $?
fi
main "$@"
