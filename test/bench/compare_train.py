#!/usr/bin/env python3
"""Trains a WordPiece vocabulary on the same corpus with libdatamodel and with HF
`tokenizers` (BertWordPieceTokenizer.train, the same settings) and prints the
vocabulary overlap, the tokens per text of each on the corpus, and the times.
HF's trainer is not deterministic (it walks words in hash order, which decides
ties between equally frequent pairs), so exact equality is not expected; the
overlap of two HF runs is printed for scale.
usage: python3 test/bench/compare_train.py [--vocab 8000] [--data ../shared/data]"""
import argparse, os, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
import datamodel  # noqa: E402
from tokenizers import BertWordPieceTokenizer  # noqa: E402


def sst2_sentences(data):
    out = []
    for name in ("train.tsv", "dev.tsv"):
        with open(os.path.join(data, "sst2", name), encoding="utf-8", newline="") as f:
            rows = [r.rstrip("\r").split("\t") for r in f.read().split("\n") if r]
        col = rows[0].index("sentence")
        out += [r[col] for r in rows[1:]]
    return out


def hf_train(path, vocab):
    tok = BertWordPieceTokenizer(lowercase=True)
    t0 = time.time()
    tok.train([path], vocab_size=vocab, min_frequency=2, limit_alphabet=100000, show_progress=False)
    return tok, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    args = ap.parse_args()
    texts = sst2_sentences(args.data)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "corpus.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in texts)
        t0 = time.time()
        ours = datamodel.Tokenizer.train([path], vocab_size=args.vocab, min_frequency=2)
        ours_s = time.time() - t0
        hf1, hf_s = hf_train(path, args.vocab)
        hf2, _ = hf_train(path, args.vocab)
    v_ours = {ours.id_to_token(i) for i in range(ours.vocab_size)}
    v1, v2 = set(hf1.get_vocab()), set(hf2.get_vocab())
    n_ours = sum(len(e) for e in ours.encode_batch(texts, add_special_tokens=False))
    n_hf = sum(len(e.ids) for e in hf1.encode_batch(texts))
    print(f"SST-2 ({len(texts)} texts), vocab_size {args.vocab}, min_frequency 2")
    print(f"  vocab sizes: ours {len(v_ours)}, hf {len(v1)}")
    print(f"  overlap ours/hf: {len(v_ours & v1) / len(v1 | v_ours):.4f} (Jaccard); hf run 1/run 2: "
          f"{len(v1 & v2) / len(v1 | v2):.4f}")
    print(f"  tokens on the corpus (no [CLS]/[SEP]): ours {n_ours}, hf {n_hf} (ratio {n_ours / n_hf:.4f})")
    print(f"  training time: ours {ours_s:.2f}s, hf {hf_s:.2f}s (hf/ours {hf_s / ours_s:.2f}x)")


if __name__ == "__main__":
    main()
