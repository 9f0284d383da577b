#!/usr/bin/env python3
"""Probe Hugging Face `tokenizers` about every Unicode code point and write:

  lib/tokenizer/bert_unicode_data.c        the tables behind lib/tokenizer/bert_unicode.h
  test/unicode/bert_unicode_probe.tsv      the probe's raw answers (read by test_unicode.c)
  test/unicode/utf8proc_differences.tsv    where the reference disagrees with utf8proc

Why probe instead of using a Unicode library: the reference's BertNormalizer and
BertPreTokenizer use Rust crates (unicode_categories, unicode-normalization-alignments,
std's char::is_whitespace / char::to_lowercase) whose Unicode versions differ from each
other and from utf8proc's. Exact token-id parity needs the reference's behaviour, so we
ask it, one code point at a time, with the same normalizer/pre-tokenizer classes that a
tokenizer.json instantiates.

Run:  python3 test/unicode/gen_bert_unicode.py          (needs tokenizers==0.23.3)
      python3 test/unicode/gen_bert_unicode.py --check  (regenerate to a temp dir and diff)
Takes about a minute.
"""
import argparse
import ctypes
import ctypes.util
import os
import sys
import tempfile
import unicodedata

import tokenizers
from tokenizers import normalizers, pre_tokenizers

EXPECTED_TOKENIZERS = "0.23.3"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONTROL, SPACE, PUNCT, CJK, MAPPED, REORDER, MARK = 1, 2, 4, 8, 16, 32, 64
MAP_STRIP, MAP_LOWER, MAP_BOTH, MAP_NFD = 0, 1, 2, 3
SBASE, LBASE, VBASE, TBASE, LCOUNT, VCOUNT, TCOUNT = 0xAC00, 0x1100, 0x1161, 0x11A7, 19, 21, 28
NCOUNT = VCOUNT * TCOUNT
SCOUNT = LCOUNT * NCOUNT


def bert(clean=False, cjk=False, strip=False, lower=False):
    return normalizers.BertNormalizer(clean_text=clean, handle_chinese_chars=cjk,
                                      strip_accents=strip, lowercase=lower)


def hangul_nfd(cp):
    """Algorithmic NFD of a precomposed Hangul syllable (stable since Unicode 2.0);
    the C side computes it instead of storing 11,172 entries."""
    s = cp - SBASE
    out = [LBASE + s // NCOUNT, VBASE + (s % NCOUNT) // TCOUNT]
    if s % TCOUNT:
        out.append(TBASE + s % TCOUNT)
    return out


def probe():
    """Returns flags[cp], maps{cp: (strip, lower, both, nfd)}, ccc{cp: class}, notes[]."""
    n_clean = bert(clean=True)
    n_cjk = bert(cjk=True)
    n_strip = bert(strip=True)
    n_lower = bert(lower=True)
    n_both = bert(strip=True, lower=True)
    nfd = normalizers.NFD()
    pre = pre_tokenizers.BertPreTokenizer()
    flags = bytearray(0x110000)
    maps, ccc, notes = {}, {}, []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            flags[cp] = CONTROL  # not encodable in UTF-8: input decoding rejects/replaces them
            continue
        c = chr(cp)
        f = 0
        cleaned = n_clean.normalize_str(c)
        if cleaned == "":
            f |= CONTROL
        pieces = [p for p, _ in pre.pre_tokenize_str("a" + c + "b")]
        if pieces == ["a", "b"]:
            f |= SPACE
            if cleaned != " ":
                notes.append(f"U+{cp:04X}: pre-tokenizer splits on it but clean_text gives {cleaned!r}")
        elif pieces == ["a", c, "b"]:
            f |= PUNCT
        elif pieces != ["a" + c + "b"]:
            raise SystemExit(f"U+{cp:04X}: unexpected pre-tokenization {pieces!r}")
        if cleaned == " " and not f & SPACE:
            notes.append(f"U+{cp:04X}: clean_text maps it to a space but the pre-tokenizer keeps it")
        if n_cjk.normalize_str(c) == " " + c + " ":
            f |= CJK
        images = (n_strip.normalize_str(c), n_lower.normalize_str(c), n_both.normalize_str(c),
                  nfd.normalize_str(c))
        if SBASE <= cp < SBASE + SCOUNT:
            want = "".join(map(chr, hangul_nfd(cp)))
            if images != (want, c, want, want):
                raise SystemExit(f"U+{cp:04X}: Hangul syllable not decomposed algorithmically: {images!r}")
            f |= MAPPED  # computed in C, not stored
        elif images != (c, c, c, c):
            if images[MAP_NFD] != c and images[MAP_STRIP] == c:
                raise SystemExit(f"U+{cp:04X}: decomposes but accent stripping keeps it")
            f |= MAPPED
            maps[cp] = tuple([ord(x) for x in img] for img in images)
        # Accent stripping is NFD, then dropping Mn: NFD's canonical reordering
        # sorts every run of marks by combining class, stripped ones included,
        # and the reference's alignments stay positional. So the C side needs
        # the class of every mark, read off the reference's own NFD.
        if unicodedata.combining(c) and images[MAP_NFD] == c:  # (a mark that decomposes: its parts count)
            k = reference_ccc(nfd, c)
            if k:
                f |= MARK
                ccc[cp] = k
                if images[MAP_STRIP] == c:
                    f |= REORDER
            if k != unicodedata.combining(c):
                if k:
                    raise SystemExit(f"U+{cp:04X}: reference combining class {k} is neither 0 nor Python's "
                                     f"{unicodedata.combining(c)}: extend RULERS")
                notes.append(f"U+{cp:04X}: a starter for the reference, combining class "
                             f"{unicodedata.combining(c)} for Python's unicodedata")
        flags[cp] = f
    return flags, maps, ccc, notes


# Marks with long-stable combining classes, used as rulers for reference_ccc.
RULERS = [(1, "\u0334"), (7, "\u093c"), (9, "\u094d"), (202, "\u0327"), (216, "\u031b"),
          (220, "\u0316"), (230, "\u0301"), (232, "\u0315"), (233, "\u035c"), (234, "\u035d"),
          (240, "\u0345")]


def reference_ccc(nfd, c):
    """The combining class the reference's NFD gives C, narrowed to a ruler class or
    confirmed against Python's value (the only thing that matters is ordering)."""
    py = unicodedata.combining(c)

    def moves_before(ruler):  # NFD("x" + ruler + c) puts c first iff ccc(c) < ccc(ruler)
        out = nfd.normalize_str("x" + ruler + c)
        return out.index(c) < out.index(ruler)

    if not any(moves_before(r) for _, r in RULERS) and \
            nfd.normalize_str("x" + c + "\u0334") == "x" + c + "\u0334" and \
            nfd.normalize_str("x" + "\u0334" + c) == "x\u0334" + c:
        # Never moves ahead of a class-1 mark, and a class-1 mark never moves ahead of it:
        # the reference treats it as a starter (class 0).
        return 0
    for k, r in RULERS:
        if k < py and moves_before(r):
            return k  # contradicts Python's value: reference has a lower class
    return py


# --------------------------------------------------------------------------- utf8proc
def utf8proc_view():
    """utf8proc's answer to the same questions, for the differences table."""
    lib = ctypes.CDLL(ctypes.util.find_library("utf8proc") or "libutf8proc.so.3")
    lib.utf8proc_category.restype = ctypes.c_int
    lib.utf8proc_tolower.restype = ctypes.c_int32
    lib.utf8proc_decompose_char.restype = ctypes.c_ssize_t
    lib.utf8proc_decompose_char.argtypes = [ctypes.c_int32, ctypes.POINTER(ctypes.c_int32),
                                            ctypes.c_ssize_t, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.utf8proc_unicode_version.restype = ctypes.c_char_p
    names = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd",
             "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf",
             "Cs", "Co"]
    buf = (ctypes.c_int32 * 32)()
    last = ctypes.c_int(0)
    UTF8PROC_DECOMPOSE = 1 << 4  # utf8proc.h: NULLTERM 1, STABLE 2, COMPAT 4, COMPOSE 8, DECOMPOSE 16

    def cat(cp):
        return names[lib.utf8proc_category(cp)]

    def nfd(cp):
        n = lib.utf8proc_decompose_char(cp, buf, 32, UTF8PROC_DECOMPOSE, ctypes.byref(last))
        return list(buf[:n])

    return lib.utf8proc_unicode_version().decode(), cat, lib.utf8proc_tolower, nfd


def utf8proc_differences(flags, maps):
    version, cat, tolower, nfd = utf8proc_view()
    rows = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c, f = cat(cp), flags[cp]
        u_control = c in ("Cc", "Cf", "Cn", "Co", "Cs") and cp not in (9, 10, 13)
        u_space = c in ("Zs", "Zl", "Zp") or 9 <= cp <= 13 or cp == 0x85
        u_punct = c.startswith("P") or (cp < 128 and chr(cp) in
                                       "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
        for name, ref, mine in (("control", bool(f & CONTROL), u_control),
                                ("space", bool(f & SPACE), u_space),
                                ("punct", bool(f & PUNCT), u_punct)):
            if ref != mine:
                rows.append((cp, name, c, int(ref), int(mine)))
        ref_maps = maps.get(cp)
        if SBASE <= cp < SBASE + SCOUNT:
            continue
        strip = [x for x in nfd(cp) if cat(x) != "Mn"]
        lower = [tolower(cp)]
        ref_strip = ref_maps[MAP_STRIP] if ref_maps else [cp]
        ref_lower = ref_maps[MAP_LOWER] if ref_maps else [cp]
        if strip != ref_strip:
            rows.append((cp, "strip_accents", c, fmt(ref_strip), fmt(strip)))
        if lower != ref_lower:
            rows.append((cp, "lowercase", c, fmt(ref_lower), fmt(lower)))
    return version, rows


def fmt(seq):
    return " ".join(f"{x:04X}" for x in seq) if seq else "-"


# --------------------------------------------------------------------------- emitters
def emit_c(flags, maps, ccc, path):
    blocks, stage1, index = [], [], {}
    for hi in range(0x110000 >> 8):
        block = bytes(flags[hi << 8:(hi + 1) << 8])
        if block not in index:
            index[block] = len(blocks)
            blocks.append(block)
        stage1.append(index[block])
    pool, pool_index = [], {}

    def intern(seq):
        key = tuple(seq)
        if key not in pool_index:
            pool_index[key] = len(pool)
            pool.extend(seq)
        return pool_index[key]

    entries = []
    for cp in sorted(maps):
        seqs = maps[cp]
        entries.append((cp, [intern(s) for s in seqs], [len(s) for s in seqs]))
    assert max(max(e[2]) for e in entries) < 256 and len(pool) < 1 << 24 and len(ccc) < 1 << 16
    out = [f"/* Generated by test/unicode/gen_bert_unicode.py from tokenizers {tokenizers.__version__}.",
           " * Do not edit: rerun the generator. See bert_unicode.h. */",
           '#include "bert_unicode.h"', "",
           "#include <stddef.h>", "",
           f"const uint16_t dmi_bert_stage1[0x110000 >> 8] = {{"]
    out += wrap([str(x) for x in stage1])
    out += ["};", "", f"const uint8_t dmi_bert_stage2[{len(blocks)} * 256] = {{"]
    out += wrap([str(b) for block in blocks for b in block])
    out += ["};", "", f"static const uint32_t map_pool[{len(pool)}] = {{"]
    out += wrap([f"0x{x:X}" for x in pool])
    out += ["};", "",
            "/* One stored mapping: images under DMI_MAP_STRIP, _LOWER, _BOTH and _NFD. */",
            "typedef struct { uint32_t cp; uint32_t at[4]; uint8_t len[4]; } map_entry;", "",
            f"static const map_entry map_entries[{len(entries)}] = {{"]
    out += wrap([f"{{0x{cp:X},{{{a[0]},{a[1]},{a[2]},{a[3]}}},{{{n[0]},{n[1]},{n[2]},{n[3]}}}}}"
                 for cp, a, n in entries], width=2)
    out += ["};", "", f"static const uint32_t ccc_cps[{len(ccc)}] = {{"]
    out += wrap([f"0x{cp:X}" for cp in sorted(ccc)])
    out += ["};", f"static const uint8_t ccc_values[{len(ccc)}] = {{"]
    out += wrap([str(ccc[cp]) for cp in sorted(ccc)])
    out += ["};", "", C_FUNCTIONS]
    write(path, "\n".join(out) + "\n")


C_FUNCTIONS = r"""enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7, VCOUNT = 21, TCOUNT = 28,
       NCOUNT = VCOUNT * TCOUNT, SCOUNT = 19 * NCOUNT };

/* Hangul syllables decompose algorithmically; the buffer is per thread. */
static int hangul_map(uint32_t cp, int mode, const uint32_t **seq)
{
    static _Thread_local uint32_t jamo[3];
    if (mode == DMI_MAP_LOWER) { /* Hangul has no case */
        jamo[0] = cp;
        *seq = jamo;
        return 1;
    }
    uint32_t s = cp - SBASE;
    jamo[0] = LBASE + s / NCOUNT;
    jamo[1] = VBASE + (s % NCOUNT) / TCOUNT;
    jamo[2] = TBASE + s % TCOUNT;
    *seq = jamo;
    return s % TCOUNT ? 3 : 2;
}

int dmi_bert_umap(uint32_t cp, int mode, const uint32_t **seq)
{
    if (cp - SBASE < SCOUNT) return hangul_map(cp, mode, seq);
    size_t lo = 0, hi = sizeof map_entries / sizeof map_entries[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (map_entries[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < sizeof map_entries / sizeof map_entries[0] && map_entries[lo].cp == cp) {
        *seq = map_pool + map_entries[lo].at[mode];
        return map_entries[lo].len[mode];
    }
    static _Thread_local uint32_t self;
    self = cp;
    *seq = &self;
    return 1;
}

uint8_t dmi_bert_ccc(uint32_t cp)
{
    size_t lo = 0, hi = sizeof ccc_cps / sizeof ccc_cps[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ccc_cps[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof ccc_cps / sizeof ccc_cps[0] && ccc_cps[lo] == cp ? ccc_values[lo] : 0;
}"""


def emit_probe(flags, maps, ccc, path):
    """Ranges of equal non-zero flags, then every stored mapping and class."""
    out = [f"# Answers of tokenizers {tokenizers.__version__} per code point, made by "
           "test/unicode/gen_bert_unicode.py.",
           "# flags FIRST LAST FLAGS (hex; code points not listed have flags 0; "
           "1 control, 2 space, 4 punct, 8 cjk, 16 mapped, 32 kept mark, 64 mark)",
           "# map CP STRIP LOWER BOTH NFD (images as hex code points, '-' for empty; "
           "Hangul syllables are algorithmic and not listed)",
           "# ccc CP CLASS"]
    cp = 0
    while cp < 0x110000:
        f, start = flags[cp], cp
        while cp + 1 < 0x110000 and flags[cp + 1] == f:
            cp += 1
        if f:
            out.append(f"flags\t{start:X}\t{cp:X}\t{f:X}")
        cp += 1
    for cp in sorted(maps):
        out.append("map\t%X\t%s\t%s\t%s\t%s" % ((cp,) + tuple(fmt(s) for s in maps[cp])))
    for cp in sorted(ccc):
        out.append(f"ccc\t{cp:X}\t{ccc[cp]}")
    write(path, "\n".join(out) + "\n")


def emit_differences(version, rows, path):
    out = [f"# Code points where tokenizers {tokenizers.__version__} (reference) and utf8proc "
           f"{version} (Unicode data) disagree.",
           "# property: control/space/punct (1 = yes) per the reference's BertNormalizer/"
           "BertPreTokenizer vs utf8proc's general category;",
           "# strip_accents (NFD without Mn) and lowercase as hex code points ('-' = empty).",
           "# Runs of consecutive code points with the same row are written FIRST..LAST.",
           "# cp\tproperty\tutf8proc_category\treference\tutf8proc"]
    runs = []  # [first, last, name, category, ref, mine]
    for cp, name, c, ref, mine in sorted(rows, key=lambda r: (r[1], r[0])):
        if runs and runs[-1][2:] == [name, c, ref, mine] and runs[-1][1] == cp - 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, name, c, ref, mine])
    runs.sort(key=lambda r: (r[0], r[2]))
    out += [(f"{a:04X}" if a == b else f"{a:04X}..{b:04X}") + f"\t{name}\t{c}\t{ref}\t{mine}"
            for a, b, name, c, ref, mine in runs]
    write(path, "\n".join(out) + "\n")


def wrap(items, width=16):
    return ["    " + ",".join(items[i:i + width]) + "," for i in range(0, len(items), width)]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=ROOT, help="repository root to write into")
    ap.add_argument("--check", action="store_true",
                    help="write to a temporary root and compare with the committed files")
    args = ap.parse_args()
    if tokenizers.__version__ != EXPECTED_TOKENIZERS:
        sys.exit(f"need tokenizers=={EXPECTED_TOKENIZERS}, found {tokenizers.__version__}")
    root = tempfile.mkdtemp() if args.check else args.out
    flags, maps, ccc, notes = probe()
    version, rows = utf8proc_differences(flags, maps)
    files = {"data": "lib/tokenizer/bert_unicode_data.c",
             "probe": "test/unicode/bert_unicode_probe.tsv",
             "diff": "test/unicode/utf8proc_differences.tsv"}
    emit_c(flags, maps, ccc, os.path.join(root, files["data"]))
    emit_probe(flags, maps, ccc, os.path.join(root, files["probe"]))
    emit_differences(version, rows, os.path.join(root, files["diff"]))
    for n in notes:
        print("note:", n)
    counts = {}
    for _, name, *_ in rows:
        counts[name] = counts.get(name, 0) + 1
    print(f"{sum(1 for f in flags if f)} code points with flags, {len(maps)} stored mappings, "
          f"{len(ccc)} reordering marks; differences from utf8proc {version}: {counts}")
    if args.check:
        bad = [f for f in files.values()
               if open(os.path.join(root, f), "rb").read() != open(os.path.join(ROOT, f), "rb").read()]
        if bad:
            sys.exit("committed files differ from a fresh probe: " + ", ".join(bad))
        print("committed files match a fresh probe")


if __name__ == "__main__":
    main()
