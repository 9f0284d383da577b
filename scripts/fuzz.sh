#!/usr/bin/env bash
# Bounded libFuzzer run of every target in test/fuzz, for CI and by hand:
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# Configures build-fuzz (clang, -Dfuzz=true, ASan + UBSan), builds the
# fuzz_<name> targets, and runs each for SECONDS_PER_TARGET on a copy of its
# seed corpus (test/fuzz/corpus/<name>, kept unchanged; the reproducers in
# test/fuzz/crashes/<name> are read too). Prints per target the number of
# executions and whether it found anything; exits 1 when any target found a
# crash, leak, UB, timeout or OOM. The working copies, logs and crash inputs
# are under build-fuzz/fuzz-run/<name>/ (crash inputs in artifacts/).
#
# Environment: FUZZ_TARGETS="json encode" runs a subset; FUZZ_ARGS adds
# libFuzzer flags (e.g. FUZZ_ARGS="-jobs=4 -workers=4"); FUZZ_BUILD_DIR
# (relative to the repository root) replaces build-fuzz.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]   (a positive whole number, default 60)" >&2
  exit 2
fi
read -r -a TARGETS <<< "${FUZZ_TARGETS:-json vocab encode safetensors config dataset pii}"
read -r -a EXTRA_ARGS <<< "${FUZZ_ARGS:-}"
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"

# --- configure and build ---------------------------------------------------
SETUP_OPTS=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized)
if [ -f "$BUILD/meson-private/coredata.dat" ]; then
  # A build folder configured with another compiler cannot switch: start over.
  if [ -f "$BUILD/compile_commands.json" ] && ! grep -q clang "$BUILD/compile_commands.json"; then
    echo "fuzz.sh: $BUILD was not configured with clang: wiping it" >&2
    CC=clang meson setup --wipe "$BUILD" "${SETUP_OPTS[@]}"
  else
    CC=clang meson setup --reconfigure "$BUILD" "${SETUP_OPTS[@]}"
  fi
else
  CC=clang meson setup "$BUILD" "${SETUP_OPTS[@]}"
fi
ninja_targets=()
for t in "${TARGETS[@]}"; do ninja_targets+=("test/fuzz/fuzz_$t"); done
ninja -C "$BUILD" "${ninja_targets[@]}"

# --- run -------------------------------------------------------------------
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1"

declare -A EXECS RESULT
found_any=0
for t in "${TARGETS[@]}"; do
  exe="$ROOT/$BUILD/test/fuzz/fuzz_$t"
  seeds="$ROOT/test/fuzz/corpus/$t"
  crashes="$ROOT/test/fuzz/crashes/$t"
  work="$ROOT/$BUILD/fuzz-run/$t"
  if [ ! -x "$exe" ] || [ ! -d "$seeds" ]; then
    echo "fuzz.sh: no target or seed corpus for '$t' ($exe, $seeds)" >&2
    exit 2
  fi
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -R "$seeds/." "$work/corpus/"
  dirs=("$work/corpus")
  [ -d "$crashes" ] && dirs+=("$crashes")
  args=(-max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=65536
        -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  [ -f "$ROOT/test/fuzz/$t.dict" ] && args+=(-dict="$ROOT/test/fuzz/$t.dict")
  args+=("${EXTRA_ARGS[@]}")

  echo "=== fuzz_$t: ${SECONDS_PER_TARGET}s (log: $work/fuzz.log)"
  rc=0
  # The outer timeout only guards against a fuzzer that fails to stop itself.
  timeout -k 30 $((SECONDS_PER_TARGET + 300)) "$exe" "${args[@]}" "${dirs[@]}" > "$work/fuzz.log" 2>&1 || rc=$?

  # Executions: libFuzzer's final stats line, else its last status line.
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/fuzz.log" | tail -n 1 | grep -o '[0-9]*$' || true)"
  [ -n "$execs" ] || execs="$(grep -oE '^#[0-9]+' "$work/fuzz.log" | tail -n 1 | tr -d '#' || true)"
  EXECS[$t]="${execs:-?}"
  artifacts="$(find "$work/artifacts" -type f | sort)"
  if [ "$rc" -ne 0 ] || [ -n "$artifacts" ]; then
    found_any=1
    kind="$(grep -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer): [a-zA-Z_-]+|runtime error: .*|fuzz invariant failed: .*' "$work/fuzz.log" | head -n 1 || true)"
    RESULT[$t]="FOUND (exit $rc${kind:+: $kind})"
    echo "--- fuzz_$t found something; end of its log:"
    tail -n 60 "$work/fuzz.log"
    if [ -n "$artifacts" ]; then
      echo "--- reproducer(s) (replay: $exe FILE):"
      echo "$artifacts" | sed 's/^/    /'
    fi
  else
    RESULT[$t]="clean"
  fi
done

echo
echo "=== fuzz summary (${SECONDS_PER_TARGET}s per target)"
printf '%-12s %14s  %s\n' target executions result
for t in "${TARGETS[@]}"; do
  printf '%-12s %14s  %s\n' "$t" "${EXECS[$t]}" "${RESULT[$t]}"
done
exit "$found_any"
