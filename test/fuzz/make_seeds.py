#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: test/fuzz/corpus/<target>/.

The seeds are small hand-made inputs (no external data) that reach the
interesting parts of each parser: a minimal but complete tokenizer.json with
BertNormalizer / BertPreTokenizer / WordPiece / TemplateProcessing, variants
and broken files for every branch of lib/tokenizer/load.c, vocab.txt files
with CRLF, duplicates, blank lines and bad UTF-8, and encoder inputs (4 option
bytes, see fuzz_encode.c, then text and pair) with CJK, accents, controls and
invalid UTF-8, and data files for the dataset readers (each read as CSV, TSV
and JSONL): quoting, CRLF, BOM, bad field counts, labels, broken JSON;
safetensors files (every dtype, half-float specials, zero-size and scalar
tensors, gaps, and one broken file per check of lib/model/safetensors.c) and
BERT config.json files (MiniLM's, a classifier's, and one per error of
lib/model/config.c).

    python3 test/fuzz/make_seeds.py          # rewrite the corpora
    python3 test/fuzz/make_seeds.py --check  # exit 1 if they are out of date

Every file in a corpus folder is owned by this script: files it does not
write are removed. Standard library only; output is byte-for-byte stable.
"""
import json
import os
import struct
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


def dataset_seeds():
    """Data files; fuzz_dataset reads each as CSV, as TSV and as JSONL."""
    s = {}
    s["csv_basic.csv"] = b"id,text,label\na1,hello world,pos\na2,bye,neg\n"
    s["csv_quoted.csv"] = (b'\xef\xbb\xbfid,text,label\r\n1,"a, b",1\r\n\r\n2,"two\r\nlines",0\r\n'
                           b'3,"say ""hi""", 1 \r\n4,5"6 inch,\r\n5,"",2')
    s["csv_bad_count.csv"] = b"text,label\na,1\nb\nc,3,x\nd,4\n"
    s["csv_unterminated.csv"] = b'text,label\na,1\n"open,2\nb,3\n'
    s["csv_after_quote.csv"] = b'text,label\n"a"b,1\n'
    s["csv_numeric_labels.csv"] = b"text,label\na,10\nb,2\nc,-1\nd,+2\ne,007\nf,\n"
    s["csv_mixed_labels.csv"] = b"sentence,label\na,neg\nb,2\nc,10\nd,Neg\n"
    s["csv_invalid_utf8.csv"] = b'text,label\n"a\xff\xe2\x82z",p\xc3\nok,\xed\xa0\x80\n'
    s["csv_header_only.csv"] = b"text,label\r\n"
    s["csv_dup_columns.csv"] = b"text,label,text\na,1,b\n"
    s["csv_nul.csv"] = b"text,label\na\x00b,x\x00y\n"
    s["tsv_basic.tsv"] = "label\tsentence\r\n0\t\"q\" a, b\r\n1\tcaf\u00e9 \u4e2d\u6587\r\n".encode("utf-8")
    s["tsv_review.tsv"] = b"review\tlabel\tid\nx\t1\tk1\ny\t\tk2\nz\t0\n"
    s["jsonl_basic.jsonl"] = (b'{"text": "caf\\u00e9", "label": 1, "score": 0.5}\n\n'
                              b'{"label": "2", "text": "b", "flag": true, "n": null}\r\n'
                              b'{"text": "c", "score": 100.0, "deep": [1, {"a": "x"}], "big": 123456789012}\n')
    s["jsonl_not_object.jsonl"] = b'{"text": "a"}\n[1, 2]\n'
    s["jsonl_broken.jsonl"] = b'{"text": "a"}\n{"text": "b",}\n'
    s["jsonl_invalid_utf8.jsonl"] = b'{"text": "b\xf4\x90\x80\x80", "label": 0}\n{"te\xffxt": 1}\n'
    s["jsonl_reals.jsonl"] = b'{"text": "r", "label": 1e16}\n{"text": "s", "label": 1.5e-7}\n{"text": "t", "label": -0.0}\n'
    s["empty.txt"] = b""
    s["bom_only.txt"] = b"\xef\xbb\xbf\r\n"
    return s


def st_file(tensors, metadata=None, order=None, data_extra=b"", pad=True):
    """A safetensors file: TENSORS is a list of (name, dtype, shape, bytes)
    laid out contiguously; ORDER (names) changes the header's key order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    entries = {}
    for name, dtype, shape, raw in tensors:
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    for name in order or [t[0] for t in tensors]:
        header[name] = entries[name]
    text = jdump(header)
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data + data_extra


def st_raw(header_text, data=b""):
    """A safetensors file with a hand-written (possibly broken) header."""
    if isinstance(header_text, str):
        header_text = header_text.encode("utf-8")
    return struct.pack("<Q", len(header_text)) + header_text + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def u16(*v):
    return struct.pack("<%dH" % len(v), *v)


def safetensors_seeds():
    s = {}
    s["small_bert.safetensors"] = st_file([
        ("embeddings.position_ids", "I64", [1, 4], struct.pack("<4q", 0, 1, 2, 3)),
        ("embeddings.word_embeddings.weight", "F32", [8, 4], f32(*[i / 8 for i in range(32)])),
        ("embeddings.LayerNorm.weight", "F32", [4], f32(1, 1, 1, 1)),
        ("pooler.dense.bias", "F32", [4], f32(0, -0.5, 2.5, 1e-3)),
    ], metadata={"format": "pt"})
    s["all_dtypes.safetensors"] = st_file([
        ("f64", "F64", [2], struct.pack("<2d", 0.1, -1e300)),
        ("f32", "F32", [2, 1], f32(3.5, -0.0)),
        ("f16", "F16", [3], u16(0x3C00, 0xC000, 0x3555)),
        ("bf16", "BF16", [1, 2], u16(0x3F80, 0x4049)),
        ("i64", "I64", [1], struct.pack("<q", -(2 ** 63))),
        ("i32", "I32", [2], struct.pack("<2i", -1, 2 ** 31 - 1)),
        ("i16", "I16", [2], struct.pack("<2h", -32768, 7)),
        ("i8", "I8", [3], struct.pack("<3b", -128, 0, 127)),
        ("u8", "U8", [1, 1, 1, 1, 1, 1, 1, 1], b"\xff"),
        ("bool", "BOOL", [2, 2], b"\x01\x00\x01\x01"),
    ], metadata={"format": "pt", "note": "caf\u00e9"})
    s["half_specials.safetensors"] = st_file([
        ("half", "F16", [2, 5], u16(0x3C00, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0x8000)),
        ("bf", "BF16", [6], u16(0x0001, 0x7F7F, 0x7F80, 0xFF80, 0x7FC0, 0x8000)),
        ("d", "F64", [4], struct.pack("<4d", float("nan"), 1e-320, -0.0, 3.5e38)),
    ])
    s["zero_size_scalar.safetensors"] = st_file([
        ("scalar", "F32", [], f32(42)),
        ("empty", "F32", [0, 3], b""),
        ("empty2", "I64", [2, 0], b""),
        ("after", "U8", [2], b"ab"),
    ], order=["after", "empty2", "scalar", "empty"])
    # A gap between the tensors, trailing bytes, a zero-size tensor inside another's range.
    s["gaps_trailing.safetensors"] = st_raw(
        '{"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},'
        '"z":{"dtype":"F32","shape":[0],"data_offsets":[1,1]}}', b"0123456789")
    s["empty_header.safetensors"] = st_raw("{}      ")
    s["metadata_only.safetensors"] = st_file([], metadata={"format": "np", "a": "\u4e2d"})
    s["unicode_names.safetensors"] = st_file([
        ("caf\u00e9.weight", "F32", [1], f32(1)), ("\u4e2d\u6587", "U8", [1], b"x"), ("", "U8", [0], b"")])
    # Broken files, each failing a different check.
    s["too_short.bin"] = b"\x02\x00\x00\x00\x00"
    s["header_beyond_file.safetensors"] = struct.pack("<Q", 1000) + b"{}"
    s["header_len_huge.safetensors"] = b"\xff" * 8 + b"{}"
    s["bad_json.safetensors"] = st_raw('{"a": {"dtype": "F32",')
    s["not_object.safetensors"] = st_raw("[1, 2, 3]")
    s["duplicate_name.safetensors"] = st_raw(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
        b"xy")
    s["unknown_dtype.safetensors"] = st_raw('{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', b"xy")
    s["entry_not_object.safetensors"] = st_raw('{"w":[1,2]}')
    s["missing_offsets.safetensors"] = st_raw('{"w":{"dtype":"F32","shape":[1]}}', b"abcd")
    s["shape_negative.safetensors"] = st_raw('{"w":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]}}', bytes(16))
    s["shape_nine_dims.safetensors"] = st_raw(
        '{"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}', b"x")
    s["numel_overflow.safetensors"] = st_raw(
        '{"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,4]}}', bytes(4))
    s["size_mismatch.safetensors"] = st_raw('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', bytes(8))
    s["begin_after_end.safetensors"] = st_raw('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', bytes(4))
    s["end_beyond.safetensors"] = st_raw('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', bytes(12))
    s["overlap.safetensors"] = st_raw(
        '{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}',
        bytes(12))
    s["metadata_not_string.safetensors"] = st_raw('{"__metadata__":{"format":"pt","n":1}}')
    s["metadata_not_object.safetensors"] = st_raw('{"__metadata__":"pt"}')
    return s


MINILM_CONFIG = {
    "_name_or_path": "nreimers/MiniLM-L6-H384-uncased", "architectures": ["BertModel"],
    "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": False, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1536,
    "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
    "num_hidden_layers": 6, "pad_token_id": 0, "position_embedding_type": "absolute",
    "transformers_version": "4.8.2", "type_vocab_size": 2, "use_cache": True, "vocab_size": 30522,
}


def config_with(**changes):
    """MINILM_CONFIG with CHANGES (a value of None removes the key)."""
    d = dict(MINILM_CONFIG)
    for k, v in changes.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return json.dumps(d, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def config_seeds():
    s = {}
    s["minilm.json"] = config_with()
    s["sst2_classifier.json"] = config_with(
        architectures=["BertForSequenceClassification"], classifier_dropout=0.25,
        id2label={"0": "negative", "1": "positive", "2": "caf\u00e9 \u2713"},
        label2id={"negative": 0, "positive": 1, "caf\u00e9 \u2713": 2},
        problem_type="single_label_classification", torch_dtype="float32")
    s["minimal.json"] = jdump({"vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2,
                               "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 32})
    s["num_labels_only.json"] = config_with(num_labels=3, architectures=["BertForSequenceClassification"])
    s["nulls_and_reals.json"] = config_with(pad_token_id="__null__", classifier_dropout="__null__",
                                            hidden_dropout_prob=0.30000000000000004, layer_norm_eps=1,
                                            attention_probs_dropout_prob=0, architectures=[]).replace(
                                                b'"__null__"', b"null")
    s["unknown_nested.json"] = config_with(extra={"a": [1.5, -0.0, 1e300, {"b": None}], "s": "\u00e9"},
                                           label2id={"x": 7}, id2label={"0": "x"})
    s["masked_lm.json"] = config_with(architectures=["BertForMaskedLM", "BertForPreTraining"], model_type=None)
    # Broken and unsupported.
    full = config_with()
    s["truncated.json"] = full[: len(full) // 2]
    s["top_array.json"] = b'[{"vocab_size": 1}]'
    s["empty.json"] = b""
    s["gpt2.json"] = jdump({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "vocab_size": 50257})
    s["relu.json"] = config_with(hidden_act="relu")
    s["relative_key.json"] = config_with(position_embedding_type="relative_key")
    s["roberta_arch.json"] = config_with(architectures=["RobertaModel"])
    s["not_divisible.json"] = config_with(hidden_size=100)
    s["missing_vocab.json"] = config_with(vocab_size=None)
    s["heads_string.json"] = config_with(num_attention_heads="twelve")
    s["id2label_gap.json"] = config_with(id2label={"0": "a", "2": "b"})
    s["id2label_leading_zero.json"] = config_with(id2label={"0": "a", "01": "b"})
    s["multi_label.json"] = config_with(problem_type="multi_label_classification", num_labels=2)
    s["pad_out_of_range.json"] = config_with(pad_token_id=30522)
    s["huge_vocab.json"] = config_with(vocab_size=3000000000)
    return s


def pii_seeds():
    """Texts for fuzz_pii: every built-in type in a few formats, look-alikes,
    Chinese text around numbers, a user-pattern match, deny-list words, an
    encrypted-looking token and invalid UTF-8."""
    texts = {
        "email.txt": "mail alice.smith+tag@example.co.uk or 865480062@qq.com now",
        "phones.txt": "call +1 (415) 555-2671, +44 20 7946 0958, 电话13812345678联系, +86 138-1234-5678",
        "cards.txt": "card 4111 1111 1111 1111; amex 3782-822463-10005; bad 4111111111111112",
        "iban.txt": "IBAN GB82 WEST 1234 5698 7654 32 and DE89370400440532013000; bad GB82WEST12345698765433",
        "ip.txt": "hosts 192.168.0.1, 10.0.0.256, ::1, 2001:db8::8a2e:370:7334, ::ffff:192.0.2.128 v1.2.3.4",
        "url.txt": "see https://example.com/a?b=c#d, www.python.org/doc) and ftp://files.example.org:21/x.",
        "ssn.txt": "SSN 123-45-6780, 078-05-1120, 000-12-3456, 666-12-3456, ssn 483296360",
        "cn_id.txt": "身份证号11010519491231002X，另一个110105194912310021（校验错）",
        "order.txt": "order ORD-123456 and 订单ORD12345678，ORD-1234567",
        "names.txt": "Alice Smith met bob and 张三在北京",
        "token.txt": "<EMAIL_ADDRESS:" + "A" * 60 + "> and <URL:short> and <X:" + "-_" * 40,
        "empty.txt": "",
        "dates_prices.txt": "2023-11-20 ￥1,299.00 ISBN 978-3-16-148410-0 v10.0.0 订单号2023112012345678",
    }
    seeds = {name: text.encode("utf-8") for name, text in texts.items()}
    seeds["invalid_utf8.bin"] = b"call \xff 13812345678 \xe4\xb8 mail a@b.com \xed\xa0\x80"
    return seeds


SEEDS = {"json": json_seeds, "vocab": vocab_seeds, "encode": encode_seeds, "dataset": dataset_seeds,
         "safetensors": safetensors_seeds, "config": config_seeds,
         "pii": pii_seeds}


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
