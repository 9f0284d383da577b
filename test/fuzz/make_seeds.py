#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: test/fuzz/corpus/<target>/.

The seeds are small hand-made inputs (no external data) that reach the
interesting parts of each parser: a minimal but complete tokenizer.json with
BertNormalizer / BertPreTokenizer / WordPiece / TemplateProcessing, variants
and broken files for every branch of lib/tokenizer/load.c, vocab.txt files
with CRLF, duplicates, blank lines and bad UTF-8, and encoder inputs (4 option
bytes, see fuzz_encode.c, then text and pair) with CJK, accents, controls and
invalid UTF-8.

    python3 test/fuzz/make_seeds.py          # rewrite the corpora
    python3 test/fuzz/make_seeds.py --check  # exit 1 if they are out of date

Every file in a corpus folder is owned by this script: files it does not
write are removed. Standard library only; output is byte-for-byte stable.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PIECES = ["the", "a", "hello", "world", "##s", "##ing", "play", "un", "##aff", "##able",
          "caf\u00e9", "cafe", "##\u00e9", "na", "##ive", ".", ",", "!", "'", "t", "##t",
          "\u4e2d", "\u6587", "\u00df", "##\u00fc"]


def jdump(obj):
    """Compact, key-order-preserving, non-ASCII kept as UTF-8."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), indent=None).encode("utf-8")


def bert_json(vocab=None, post="template", normalizer=None, decoder=True, added=True):
    vocab = vocab if vocab is not None else SPECIALS + PIECES
    ids = {tok: i for i, tok in enumerate(vocab)}
    if normalizer is None:
        normalizer = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                      "strip_accents": None, "lowercase": True}
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True} for t in SPECIALS if t in ids
        ] if added else [],
        "normalizer": normalizer,
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": None,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True} if decoder else None,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }
    cls, sep = ids.get("[CLS]", 2), ids.get("[SEP]", 3)
    if post == "template":
        doc["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]},
            },
        }
    elif post == "bert":
        doc["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", sep], "cls": ["[CLS]", cls]}
    return doc


def json_seeds():
    s = {}
    s["bert_template.json"] = jdump(bert_json())
    s["bert_processing.json"] = jdump(bert_json(post="bert", normalizer={
        "type": "BertNormalizer", "clean_text": False, "handle_chinese_chars": False,
        "strip_accents": True, "lowercase": False}))
    # No post-processor, no normaliser, no decoder; a padding section naming the pad token.
    d = bert_json(post=None, decoder=False, added=False)
    d["normalizer"] = None
    d["padding"] = {"strategy": "BatchLongest", "pad_id": 0, "pad_token": "[PAD]"}
    s["bare.json"] = jdump(d)
    # Added tokens with every flag, one beyond the model vocabulary.
    d = bert_json()
    n = len(SPECIALS) + len(PIECES)
    d["added_tokens"] += [
        {"id": n, "content": "<e>", "single_word": True, "lstrip": True, "rstrip": True,
         "normalized": False, "special": False},
        {"id": n + 1, "content": "\u2581x", "single_word": False, "lstrip": False, "rstrip": True,
         "normalized": False, "special": True},
    ]
    s["added_flags.json"] = jdump(d)
    # A template with two-id special tokens and custom type ids; ids with a gap.
    d = bert_json()
    d["model"]["vocab"]["[GAP]"] = n + 5
    d["post_processor"]["special_tokens"]["[CLS]"]["ids"] = [2, 4]
    d["post_processor"]["pair"][3]["Sequence"]["type_id"] = 7
    s["template_wide.json"] = jdump(d)
    # A different continuing prefix, and words cut at 3 characters.
    d = bert_json(vocab=SPECIALS + ["ab", "@@c", "@@d", "c"])
    d["model"]["continuing_subword_prefix"] = "@@"
    d["model"]["max_input_chars_per_word"] = 3
    d["decoder"]["prefix"] = "@@"
    d["decoder"]["cleanup"] = False
    s["prefix_at.json"] = jdump(d)
    # Broken and unsupported files: each fails in a different place.
    full = jdump(bert_json())
    s["truncated.json"] = full[: len(full) // 2]
    s["not_object.json"] = b'[{"model": {}}]'
    s["empty.json"] = b""
    d = bert_json()
    d["model"]["type"] = "BPE"
    s["model_bpe.json"] = jdump(d)
    d = bert_json()
    d["normalizer"] = {"type": "Lowercase"}
    s["normalizer_other.json"] = jdump(d)
    d = bert_json()
    d["model"]["vocab"]["neg"] = -3
    s["vocab_negative_id.json"] = jdump(d)
    d = bert_json()
    d["added_tokens"][0]["normalized"] = True
    s["added_normalized.json"] = jdump(d)
    d = bert_json()
    d["post_processor"]["single"][1]["Sequence"]["id"] = "C"
    s["template_bad_sequence.json"] = jdump(d)
    d = bert_json()
    d["model"]["unk_token"] = "[NOPE]"
    s["unk_missing.json"] = jdump(d)
    d = bert_json()
    d["model"]["vocab"]["dup"] = 5
    s["vocab_duplicate_id.json"] = jdump(d)
    # NUL inside a string value (allowed: an added token beyond the vocabulary).
    d = bert_json()
    d["added_tokens"].append({"id": n, "content": "a\u0000b", "special": False, "normalized": False})
    s["added_nul.json"] = jdump(d)
    s["bad_utf8_and_surrogate.json"] = (
        b'{"pre_tokenizer":{"type":"BertPreTokenizer"},"model":{"unk_token":"[UNK]",'
        b'"vocab":{"[UNK]":0,"\\ud800":1,"c\xff":2}}}')
    return s


def vocab_lines(lines, eol=b"\n", final=True):
    data = eol.join(l.encode("utf-8") if isinstance(l, str) else l for l in lines)
    return data + (eol if final else b"")


def vocab_seeds():
    base = SPECIALS + PIECES
    s = {}
    s["bert_small.txt"] = vocab_lines(base)
    s["crlf.txt"] = vocab_lines(base, eol=b"\r\n")
    s["no_final_newline.txt"] = vocab_lines(base, final=False)
    s["duplicates.txt"] = vocab_lines(base + ["hello", "##s", "the"])
    s["blank_lines_and_spaces.txt"] = vocab_lines(
        SPECIALS[:3] + ["", "  ", "tab\t", "nbsp\u00a0", "ideographic\u3000", "[SEP]", "x y", "\t"])
    s["special_twice.txt"] = vocab_lines(base + ["[CLS]"])
    s["no_sep.txt"] = vocab_lines(["[PAD]", "[UNK]", "[CLS]", "a"])
    s["no_unk.txt"] = vocab_lines(["[CLS]", "[SEP]", "a"])
    s["invalid_utf8.txt"] = vocab_lines(SPECIALS + [b"ok", b"bad\xc3(", b"\xed\xa0\x80"])
    s["nul_and_controls.txt"] = vocab_lines(SPECIALS + [b"a\x00b", b"\x01", b"\x7f", "\u200b", "##\u0301"])
    s["empty.txt"] = b""
    s["newline_only.txt"] = b"\n"
    return s


def enc(b0=0, b1=0, b2=0, b3=0, text=b"", pair=None):
    """An encoder input: option bytes, then TEXT, then PAIR (split given by b3)."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    if pair is None:
        return bytes([b0, b1, b2, b3 & ~1]) + text
    if isinstance(pair, str):
        pair = pair.encode("utf-8")
    # Choose the 5-bit split ratio r so that len(rest) * r // 31 == len(text), padding
    # the text with spaces when no ratio lands exactly.
    while True:
        rest = len(text) + len(pair)
        for r in range(32):
            if rest * r // 31 == len(text):
                return bytes([b0, b1, b2, (b3 & 0x06) | 1 | (r << 3)]) + text + pair
        text += b" "


# byte 0: truncation | 4 no specials | padding << 3 | 32 replace | 64 big batch | 128 old struct
TR_LONGEST, TR_FIRST, TR_SECOND = 1, 2, 3
PAD_LEN, PAD_LONGEST = 1 << 3, 2 << 3
NO_SPECIAL, REPLACE, BIG_BATCH, OLD_STRUCT = 4, 32, 64, 128
# byte 3 variant bits: 2 keep case, 4 lowercase without stripping, 6 keep case and strip accents
KEEP_CASE, NO_STRIP, STRIP_ONLY = 2, 4, 6


def encode_seeds():
    s = {}
    s["plain.bin"] = enc(text="Hello, World! Unaffable playing the cafe.")
    s["pair.bin"] = enc(text="hello world", pair="the playing worlds!")
    s["accents_variants.bin"] = enc(b3=STRIP_ONLY, text="Caf\u00e9 NA\u00cfVE Stra\u00dfe \u00fcber A\u030a \u00c5",
                                    pair="caf\u00e9 na\u00efve")
    s["accents_keep_case.bin"] = enc(b3=KEEP_CASE, text="Caf\u00e9 na\u00efve \u03a3\u03c3 \u0391")
    s["accents_no_strip.bin"] = enc(b3=NO_STRIP, text="CAF\u00c9 e\u0301 a\u0316\u0301\u0323")
    s["cjk.bin"] = enc(text="\u4e2d\u6587\u65e5\u672c\u306e\u30c6\u30b9\u30c8 \U00020000 \u4e2dx\u6587")
    s["controls.bin"] = enc(text="a\x00b\x01c\td\re\nf\x7fg\u200bh\u00adi\ufeffj \u2028k \u00a0l")
    s["emoji_punct.bin"] = enc(text="\U0001F600!!\u2014(a)-b #1 ##2 don't \u00bfqu\u00e9?")
    s["added_in_text.bin"] = enc(text="[CLS] hello [SEP][MASK]x [UNK]", pair="[PAD] [sep]")
    s["long_word.bin"] = enc(text="a" * 120 + " " + "play" * 30 + " hello")
    s["invalid_strict.bin"] = enc(text=b"hello \xc3( world \xff")
    s["invalid_replace.bin"] = enc(b0=REPLACE, text=b"bad \xe2\x82 x \xed\xa0\x80 y \xf4\x90\x80\x80 \xc0\xaf",
                                   pair=b"\xf0\x9f\x98")
    s["invalid_pair_strict.bin"] = enc(text="fine", pair=b"bro\x80ken")
    s["trunc_longest_pad.bin"] = enc(b0=TR_LONGEST | PAD_LEN, b1=9, b2=16, text="hello world playing the cafe",
                                     pair="un aff able worlds . , !")
    s["trunc_first.bin"] = enc(b0=TR_FIRST, b1=6, text="hello world playing the cafe", pair="a b")
    s["trunc_first_too_short.bin"] = enc(b0=TR_FIRST, b1=5, text="a", pair="the the the the the")
    s["trunc_second_no_pair.bin"] = enc(b0=TR_SECOND, b1=3, text="hello world playing")
    s["trunc_second.bin"] = enc(b0=TR_SECOND | NO_SPECIAL, b1=4, text="hello", pair="world world world world")
    s["trunc_max_below_specials.bin"] = enc(b0=TR_LONGEST, b1=2, text="x", pair="y")
    s["trunc_max_zero.bin"] = enc(b0=TR_LONGEST, b1=0, text="x")
    s["pad_multiple_exact.bin"] = enc(b0=PAD_LEN, b2=8 | (2 << 6), text="hello world")
    s["pad_longest.bin"] = enc(b0=PAD_LONGEST, text="hello", pair="world")
    s["big_batch.bin"] = enc(b0=BIG_BATCH | TR_LONGEST, b1=6, text="hello world the cafe", pair="playing")
    s["old_struct.bin"] = enc(b0=OLD_STRUCT | NO_SPECIAL | REPLACE, text=b"old \xff struct")
    s["empty.bin"] = b""
    s["empty_pair.bin"] = enc(text="", pair="")
    return s


SEEDS = {"json": json_seeds, "vocab": vocab_seeds, "encode": encode_seeds}


def main(argv):
    check = "--check" in argv[1:]
    changed = []  # (path, why)
    n_seeds = total = 0
    for name, make in SEEDS.items():
        seeds = make()
        folder = os.path.join(CORPUS, name)
        present = set(os.listdir(folder)) if os.path.isdir(folder) else set()
        if not check:
            os.makedirs(folder, exist_ok=True)
        for fname, data in sorted(seeds.items()):
            n_seeds += 1
            total += len(data)
            path = os.path.join(folder, fname)
            old = None
            if fname in present:
                with open(path, "rb") as f:
                    old = f.read()
            if old != data:
                changed.append((path, "missing" if old is None else "differs"))
                if not check:
                    with open(path, "wb") as f:
                        f.write(data)
        for fname in sorted(present - set(seeds)):
            path = os.path.join(folder, fname)
            changed.append((path, "not written by this script"))
            if not check:
                os.remove(path)
    if check:
        if changed:
            print("make_seeds.py: the corpus is out of date (run python3 test/fuzz/make_seeds.py):",
                  file=sys.stderr)
            for path, why in changed:
                print(f"  {os.path.relpath(path, HERE)}: {why}", file=sys.stderr)
            return 1
        print(f"make_seeds.py: corpus up to date ({n_seeds} seeds, {total} bytes)")
        return 0
    print(f"make_seeds.py: {n_seeds} seeds, {total} bytes, {len(changed)} file(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
