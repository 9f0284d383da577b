#!/usr/bin/env python3
"""Writes test/parity/stress.jsonl: texts that probe every corner of BERT
normalisation, pre-tokenisation and WordPiece where a re-implementation is
likely to drift from Hugging Face `tokenizers`.

Format: one JSON string per line (ASCII-only JSON, so control characters,
U+2028, U+0085, BOMs and lone \\r survive any editor or git setting). Read it
with `[json.loads(l) for l in f.read().split('\\n') if l]`, never with
splitlines(), which would also split on those separators.

Deterministic: every random choice comes from random.Random(SEED). The
Cc/Cf enumeration uses Python's unicodedata (3.11 ships Unicode 14.0; the
generator warns when run with another version because the output would then
differ). The committed stress.jsonl is the reference; regenerate it with
`python3 test/parity/gen_stress.py` from the repository root.

What it covers (section names appear in the `# section` comments below):
  whitespace   every White_Space code point (Rust char::is_whitespace) plus
               Python-only spaces (U+001C..U+001F) and look-alikes that are
               not spaces (ZWSP, ZWJ, BOM, Mongolian vowel separator, Hangul
               fillers, braille blank): alone, between words, at start/end,
               doubled
  control      every Cc and Cf code point: alone, between words, at start/end
  marks        precomposed and decomposed accents, stacked marks in both
               orders (canonical reordering), marks at text start, after
               punctuation, CJK, digits and spaces, every mark of U+0300..036F,
               enclosing (Me) and spacing (Mc) marks, which are not stripped
  blocks       one random code point from every 16-aligned range of planes
               0-3 and 14 (so every Unicode block, assigned or not, including
               blocks newer than the reference's tables), a few from planes
               4-13, 15, 16; surrogates excluded (not encodable in UTF-8).
               Grouped space-separated, and adjacent inside a word
  cjk          unified ideographs (BMP, ext A, B, C, D, E, F, G, H, I), the
               0x2B820..0x2B91F gap that HF's is_chinese_char leaves out, the
               boundaries +-1 of every range, compatibility ideographs
               F900..FAFF and 2F800..2FA1F (NFD maps them to other ideographs),
               radicals, kana, bopomofo, CJK punctuation
  emoji        ZWJ sequences, skin tones, flags and tag flags, keycaps, VS15/
               VS16, ideographic variation selectors, recent emoji
  fullwidth    Ａ-Ｚ, ａ-ｚ, ０-９, fullwidth and halfwidth punctuation and kana
  long         words of exactly 99, 100, 101, 300 characters (ASCII, upper
               case, precomposed and decomposed accents where stripping
               changes the count, Hangul syllables whose NFD triples the
               count, CJK, Cyrillic, Greek, 4-byte letters), max_input_chars_
               per_word = 100 boundaries after normalisation
  unk          words with characters outside the vocabulary
  special      [CLS] [SEP] [PAD] [MASK] [UNK] inside words, adjacent,
               lower case, partial, spaced, fullwidth
  case         Greek final sigma, Turkish dotted/dotless i, ß/ẞ, Ǆ/ǅ/ǆ, Kelvin,
               Angstrom, Ohm, ligatures, Cherokee, Georgian, Deseret, titlecase
  scripts      Hangul syllables and jamo, Thai, Arabic, Hebrew, Devanagari,
               Bengali, Tamil, Vietnamese, Tibetan, Myanmar, Khmer with marks
  nul          NUL and U+FFFD in every position
  punct        every ASCII punctuation/symbol alone and inside words, Unicode
               punctuation and symbols ($+<=>^`|~ are punctuation to BERT)
  empty        empty text, only spaces, only newlines
  newlines     \\n, \\r\\n and lone \\r inside texts (whitespace to BERT)
  sentences    hand-written mixed sentences
  random       random mixes drawn from all the pools above
  markruns     runs of combining marks that NFD must reorder, mixing marks that
               accent stripping drops with the few it keeps (Mc and newer marks
               with a combining class), precomposed characters whose NFD adds
               marks to the run, and removed format characters between them:
               this is where offsets depend on how the reference's NFD carries
               alignments through the canonical sort
"""

import json
import os
import random
import sys
import unicodedata

SEED = 20240613
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stress.jsonl")
EXPECTED_UNIDATA = "14.0.0"

# Rust char::is_whitespace is Unicode White_Space; listed here so the result
# does not depend on the Python version.
WHITE_SPACE = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680,
               *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
# Spaces to Python's str.isspace() but not to Rust, and look-alikes.
SPACE_LIKE = [0x1C, 0x1D, 0x1E, 0x1F, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060,
              0xFEFF, 0x3164, 0x115F, 0x1160, 0xFFA0, 0x2800]

SURROGATES = range(0xD800, 0xE000)


def c(cp):
    return chr(cp)


def around(ch, word_a="hello", word_b="world"):
    """The four placements the brief asks for: alone, between words, start, end."""
    return [ch, f"{word_a}{ch}{word_b}", f"{ch}{word_a} {word_b}", f"{word_a} {word_b}{ch}"]


def sec_whitespace():
    out = []
    for cp in WHITE_SPACE + SPACE_LIKE:
        ch = c(cp)
        out += around(ch)
        out.append(f"a {ch} b")
        out.append(ch * 3)
        out.append(f"x{ch}{ch}y")
    return out


def sec_control():
    out = []
    cps = [cp for cp in range(0x110000)
           if cp not in SURROGATES and unicodedata.category(c(cp)) in ("Cc", "Cf")]
    # Cf in Unicode 15 (Egyptian hieroglyph format controls), newer than
    # Python 3.11's tables: the reference may know neither.
    cps += [cp for cp in range(0x13439, 0x13440) if cp not in cps]
    for cp in cps:
        out += around(c(cp), "abc", "def")
    return out


def sec_marks(rng):
    out = []
    words = ["café", "cafe\u0301", "naïve", "nai\u0308ve", "résumé", "re\u0301sume\u0301",
             "Ångström", "A\u030angstro\u0308m", "Crème Brûlée", "CRÈME BRÛLÉE",
             "façade", "fac\u0327ade", "Ḍ̇", "D\u0323\u0307", "D\u0307\u0323",
             "ệ", "e\u0323\u0302", "e\u0302\u0323", "Ệ", "ǘ", "u\u0308\u0301",
             "a\u0301\u0301\u0301\u0301", "e\u0300\u0301\u0302\u0303\u0304\u0305\u0306",
             "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349",
             "a\u0360\u0361\u0362l\u0489g\u0338o",
             "\u0301", "\u0301abc", "\u0301\u0302 x", " \u0301", "x \u0301y",
             ".\u0301", "!\u0301abc", "abc.\u0301def", "(\u0308)", "中\u0301", "中\u0301文",
             "日本\u0308語", "1\u0301", "9\u20e3", "\u20ddA", "a\u20dd", "a\u20e0b",
             "क\u093e", "क\u093f", "\u093ek", "a\u0903b", "ǅ\u0301", "İ\u0301", "ß\u0301",
             "\u00c5", "A\u030a", "\u212b", "\u0958", "\u0915\u093c",
             "\u1e9b\u0323", "\u0344", "\u0340\u0341", "\u0f73", "\u0f75", "\u0f81",
             "a\u0345", "\u1fb3", "\u0399\u0345", "\u03d3", "\u03d4",
             "\u00e9\u0301", "\u0065\u0301\u0301", "x\u034fy", "o\u035co", "a\u0362b",
             "\u3099", "か\u3099", "が", "か\u309a", "ﾊﾞ", "ﾊ\uff9e",
             "\u05b0\u05b1", "\u0591א", "א\u05bc\u05b7", "ع\u064e", "\u064eع"]
    out += words
    out += [w.upper() for w in words[:20]] + [f"the {w} is here" for w in words[:30]]
    for cp in range(0x0300, 0x0370):
        out.append(f"a{c(cp)}")
        out.append(f"A{c(cp)}b {c(cp)}")
    # Marks from other blocks: combining supplement, extended, symbols,
    # half marks, and a random sample of every Mn/Mc/Me code point.
    for start, end in [(0x1AB0, 0x1B00), (0x1DC0, 0x1E00), (0x20D0, 0x2100), (0xFE20, 0xFE30)]:
        out.append(" ".join(f"o{c(cp)}" for cp in range(start, end)))
    marks = [cp for cp in range(0x110000) if cp not in SURROGATES
             and unicodedata.category(c(cp)) in ("Mn", "Mc", "Me")]
    for _ in range(80):
        base = rng.choice(["a", "E", "中", "1", ".", " ", "ß", "\u0915", "한"])
        stack = "".join(c(rng.choice(marks)) for _ in range(rng.randint(1, 4)))
        out.append(f"{base}{stack}{rng.choice(['', 'z', ' z', '!'])}")
    return out


def sec_blocks(rng):
    out = []
    sample = []
    for plane in (0, 1, 2, 3, 14):
        for chunk in range(plane << 16, (plane + 1) << 16, 16):
            if chunk in SURROGATES:
                continue
            sample.append(chunk + rng.randrange(16))
    for plane in (4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16):
        for _ in range(4):
            sample.append((plane << 16) + rng.randrange(0x10000))
    for i in range(0, len(sample), 24):
        out.append(" ".join(c(cp) for cp in sample[i:i + 24]))
    # Adjacent inside a word, in smaller groups (one odd character turns the
    # whole word into [UNK]; groups keep that local). Planes 0 and 1 only:
    # planes 2, 3 are ideographs, which are split apart anyway.
    bmp_smp = [cp for cp in sample if cp < 0x20000]
    for i in range(0, len(bmp_smp), 6):
        out.append("w" + "".join(c(cp) for cp in bmp_smp[i:i + 6]) + "x")
    return out


CJK_RANGES = [  # (first, last) of each range, HF's chinese ranges and newer
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2B91F), (0x2B920, 0x2CEAF), (0x2CEB0, 0x2EBEF),
    (0x2EBF0, 0x2EE5F), (0x30000, 0x3134F), (0x31350, 0x323AF),
    (0xF900, 0xFAFF), (0x2F800, 0x2FA1F), (0x2E80, 0x2EFF), (0x2F00, 0x2FDF),
    (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x3100, 0x312F),
    (0x31A0, 0x31BF), (0x31C0, 0x31EF), (0x3200, 0x32FF), (0x3300, 0x33FF),
    (0xFE30, 0xFE4F), (0x1B000, 0x1B0FF)]


def sec_cjk(rng):
    out = []
    for first, last in CJK_RANGES:
        edge = [first - 1, first, first + 1, last - 1, last, last + 1]
        inner = [rng.randint(first, last) for _ in range(24)]
        out.append("".join(c(cp) for cp in edge))
        out.append(" ".join(c(cp) for cp in edge))
        out.append("".join(c(cp) for cp in inner))
        out.append("ab" + "".join(c(cp) for cp in inner[:6]) + "cd")
        for cp in edge:
            out.append(f"x{c(cp)}y")
    # The whole gap HF leaves out of is_chinese_char, between ideographs.
    for start in range(0x2B820, 0x2B920, 16):
        out.append("中" + "".join(c(cp) for cp in range(start, start + 16)) + "文")
    # Compatibility ideographs: every one of F900..FAFF in groups (NFD maps
    # most to unified ideographs, under strip_accents only).
    for start in range(0xF900, 0xFB00, 32):
        out.append("".join(c(cp) for cp in range(start, start + 32)))
    for start in range(0x2F800, 0x2FA20, 64):
        out.append("".join(c(cp) for cp in range(start, min(start + 64, 0x2FA20))))
    out += ["中文", "中文abc", "abc中文", "中a文", "ab中cd", "中。文", "「中文」", "中 文",
            "我爱北京天安门", "日本語のテキスト", "カタカナとひらがな", "ｶﾀｶﾅ", "ㄅㄆㄇ", "한자漢字",
            "〇一二三", "々", "〆", "〜", "・", "ー", "㈱", "㍿", "⺀", "⼀"]
    return out


def sec_emoji():
    return ["👨‍👩‍👧‍👦", "👩‍💻", "🏳️‍🌈", "🏳️‍⚧️", "🧑🏽‍🚀", "👍", "👍🏽", "👋🏿", "🏻",
            "🇺🇸", "🇨🇳🇯🇵", "🇺", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣", "#️⃣", "*️⃣", "1\u20e3", "☺︎", "☺️",
            "❤️", "❤", "\ufe0f", "a\ufe0fb", "a\ufe0eb", "葛\U000e0100", "葛\U000e0101x",
            "😀😃😄", "hello😀world", "😀 😃", "🫠", "🫨", "🪿", "🫎", "🐦‍🔥", "🪉", "🫩",
            "🙂‍↔️", "🧑‍🧑‍🧒", "⌚", "⏰", "☕", "♀", "♂️", "©️", "®", "™️", "🔟", "🆗",
            "I ❤️ NY", "ok👌🏼ok", "\u200d", "a\u200db", "👨\u200d", "\u200d👨",
            "\U0001f3fb\U0001f3fc", "👨🏻‍🤝‍👨🏿", "🧔‍♂️", "🀄", "🃏", "🎴"]


def sec_fullwidth():
    upper = "".join(c(cp) for cp in range(0xFF21, 0xFF3B))
    lower = "".join(c(cp) for cp in range(0xFF41, 0xFF5B))
    digits = "".join(c(cp) for cp in range(0xFF10, 0xFF1A))
    punct = [c(cp) for cp in list(range(0xFF01, 0xFF10)) + list(range(0xFF1A, 0xFF21))
             + list(range(0xFF3B, 0xFF41)) + list(range(0xFF5B, 0xFF66))]
    half = "".join(c(cp) for cp in range(0xFF66, 0xFFEF) if unicodedata.category(c(cp)) != "Cn")
    out = [upper, lower, digits, " ".join(upper), " ".join(digits), "".join(punct), half,
           "Ｈｅｌｌｏ　Ｗｏｒｌｄ！", "ＡＢＣ１２３", "ａｂｃ－ｘｙｚ", "（ｔｅｓｔ）", "１０％", "＄１００",
           "\uffe0\uffe1\uffe5\uffe6", "\uffe8\uffe9\uffea\uffeb\uffec\uffed\uffee"]
    out += [f"x{p}y" for p in punct]
    return out


def sec_long():
    out = []
    pieces = {
        "ascii": "a", "abc": "abcdefghij", "upper": "ABCDEFGHIJ", "cyr": "жизнь",
        "greek": "αβγδε", "pre_acc": "é", "pre_acc_up": "É", "cjk": "中", "hira": "あ",
        "math4": "\U0001d41a", "deseret": "\U00010428", "digits": "0123456789",
        "hangul2": "가", "hangul3": "각",
    }
    for name, unit in pieces.items():
        for n in (99, 100, 101, 300):
            word = (unit * (n // len(unit) + 1))[:n]
            out.append(word)
            out.append(f"x {word} y")
            out.append(f"{word}.")
    # Decomposed accents: raw count differs from the count after stripping.
    dec = "e\u0301"
    for k in (49, 50, 51, 99, 100, 101, 150):
        out.append(dec * k)
        out.append(dec * k + "e")
        out.append("E\u0301" * k)
    # Precomposed: NFD doubles the count, stripping brings it back.
    for k in (50, 99, 100, 101):
        out.append("é" * k)
        out.append("ệ" * k)
        out.append("e\u0323\u0302" * (k // 3) + "x" * (k % 3))
    # Lowercasing that lengthens: İ -> i + U+0307 (2 chars) without stripping.
    for k in (50, 51, 99, 100, 101):
        out.append("İ" * k)
        out.append("a" * (100 - k % 100) + "İ" * (k % 7))
    # Hangul: NFD turns one syllable into 2 or 3 jamo (Lo, kept by stripping).
    for k in (33, 34, 49, 50, 51, 100, 101):
        out.append("가" * k)
        out.append("각" * k)
    # Ligatures and special cases at the limit.
    for k in (99, 100, 101):
        out.append("ﬁ" * k)
        out.append("ß" * k)
        out.append("\u212b" * k)
    # Long words that would also be [UNK] pieces, and with punctuation.
    out += ["a" * 100 + "." + "b" * 101, "a" * 101 + " " + "b" * 100,
            "a" * 99 + "\u2603", "☃" * 101, "a" * 50 + "\u0000" * 60 + "b" * 50,
            "a" * 60 + "\u200b" * 50 + "a" * 40, "a" * 98 + "\u00ad\u00ad" + "a",
            "unbelievable" * 9, "unbelievable" * 8 + "abcd", "anti" * 25, "anti" * 25 + "s"]
    return out


def sec_unk():
    return ["☃", "snow☃man", "𝄞", "music𝄞note", "ᚠᚢᚦ", "ꙮ", "𓀀", "abc\U0001d11ezz",
            "hello ☃ world", "☃☃☃", "x☃", "☃x", "a☃b☃c", "ǂ", "ɮ", "ʬ", "ꝏ", "ÿ", "Ÿ",
            "ſ", "ẞ", "\U00010000", "\U000f0000", "\U0010fffd", "\ue000", "\ue000abc",
            "xyzzyplugh", "qqqqqqqq", "zzzzz##", "##", "#", "##a", "a##b", "[UNK]☃",
            "😀abc", "abc😀", "a😀b", "\U0001fae0x", "Ⓐ", "ⓐⓑ", "㊀", "∀x∈ℝ"]


def sec_special():
    toks = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"]
    out = []
    for t in toks:
        lo = t.lower()
        partial = t[:3] + " " + t[3:]
        out += [t, f"a{t}b", f"{t}{t}", f" {t} ", f"x {t} y", f"{t}abc", f"abc{t}", lo,
                f"a{lo}b", partial, t[:-1], t[1:], f"[{t}]", f"{t.upper()}", f"{t}.",
                f"中{t}文", f"{t}\u0301", f"é{t}", f"{t}\n{t}", f"{t}\u3000{t}",
                t.replace("[", "［").replace("]", "］"), t[0] + t[1:-1].capitalize() + t[-1],
                f"[ {t[1:-1]} ]", f"{t[:-1]} ]", f"\u200b{t}", f"{t}\u200b", f"\u00a0{t}"]
    out += ["[CLS][SEP][PAD][MASK][UNK]", "[CLS] hello [SEP] world [SEP]", "[CL S]", "[CLS",
            "CLS]", "[[CLS]]", "[unused1]", "[unused99]", "[unused100]", "[ CLS ]", "[CLS ]",
            "[MASK]ed", "un[MASK]able", "[SEP][SEP][SEP]", "[UNK][UNK]", "[PAD]ding",
            "[cls] [sep] [pad] [mask] [unk]", "[Cls]", "[CLS\u0301]", "[C\u0301LS]",
            "[CLS]" * 60, "a" * 98 + "[CLS]" + "b" * 98]
    return out


def sec_case():
    return ["ΟΔΟΣ", "οδος", "ΟΔΟΣ ΟΔΟΣ.", "Σ", "ΑΣ", "ΑΣΑ", "ΣΑ", "ΑΣ.", "Ὀδυσσεύς", "ΌΣΟΣ",
            "İstanbul", "İ", "i̇", "ı", "DİYARBAKIR", "ıİiI", "İ" * 3,
            "ß", "ẞ", "STRASSE", "Straße", "STRAẞE", "ßẞ",
            "Ǆ", "ǅ", "ǆ", "Ǆemal", "ǅemal", "ǇǈǉǊǋǌ", "ǱǲǳǶǷ",
            "\u212a", "\u212aelvin", "273 \u212a", "\u212b", "\u212bngstrom", "\u2126", "\u2126m",
            "ﬁ", "ﬁsh", "ﬂ", "ﬃ", "ﬄ", "ﬅ", "ﬆ", "ﬀ", "ﬓﬔﬕ", "ŉ", "ǰ", "ΐ", "ΰ", "ẖ", "ẘ",
            "\u13a0\u13a1\u13a2", "\uab70\uab71", "\u1c90\u1c91", "ა", "\U00010400\U00010401",
            "\U000104b0", "\U0001e900", "Ⅻ", "ⅻ", "Ⓐ", "ᾼ", "ᾳ", "ᾈ", "ῼ",
            "ĲĳĿŀ", "Ωω", "µ", "Μ", "ẞ" * 3, "Ϊ́", "Ꭰ", "ꞵ", "Ꞵ", "Ɐ", "Ɑ",
            "HELLO World", "CamelCaseWord", "McDonald's", "iPhone", "ABC-DEF"]


def sec_scripts():
    return ["한국어", "안녕하세요", "한국어 텍스트입니다.", "\u1112\u1161\u11ab", "\u1100\u1161",
            "ㅎㅏㄴ", "ﾡﾢ", "\u3164", "a\u3164b", "\u115f\u1160", "\u1100\u1100\u1161",
            "ภาษาไทย", "ที่นี่", "สวัสดีครับ", "เก่า", "ก\u0e31\u0e48",
            "مَرْحَبًا", "العربية", "كـــتـــاب", "\u0627\u0644\u0651\u0647", "ﷺ", "ﻻ", "٣٤٥",
            "שָׁלוֹם", "עִבְרִית", "\u05d0\u05b8", "שלום עולם",
            "हिन्दी", "नमस्ते", "क्षत्रिय", "\u0915\u094d\u200d\u0937", "॥", "१२३",
            "বাংলা", "தமிழ்", "తెలుగు", "ಕನ್ನಡ", "മലയാളം", "ਪੰਜਾਬੀ", "ગુજરાતી", "ଓଡ଼ିଆ",
            "Tiếng Việt", "Tiê\u0301ng Viê\u0323t", "Nguyễn", "ĐÀ NẴNG",
            "བོད་ཡིག", "မြန်မာ", "ខ្មែរ", "ລາວ", "ᠮᠣᠩᠭᠣᠯ", "ܣܘܪܝܝܐ", "ދިވެހި",
            "ⴰⵎⴰⵣⵉⵖ", "ᏣᎳᎩ", "ꆈꌠ", "ᐃᓄᒃᑎᑐᑦ", "ጤና", "ሰላም", "Ελληνικά", "русский язык",
            "Українська", "Ԓԓ", "Հայերեն", "ქართული"]


def sec_nul():
    out = []
    for ch in ("\u0000", "\ufffd"):
        out += [ch, ch * 3, f"a{ch}b", f"{ch}abc", f"abc{ch}", f"a {ch} b", f"中{ch}文",
                f"[CLS]{ch}", f"{ch}[SEP]", f"e{ch}\u0301", f"{ch}\u0301"]
    out += ["\u0000\ufffd\u0000", "a\ufffd\u0000b", "\ufffe", "\uffff", "a\uffffb", "\ufff9\ufffa\ufffb"]
    return out


def sec_punct():
    ascii_punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    out = list(ascii_punct)
    out += [f"a{p}b" for p in ascii_punct] + [f"{p}{p}" for p in ascii_punct]
    out += ["$5", "a+b=c", "<html>", "x^2", "`code`", "a|b", "~user", "3.14", "1,000,000",
            "e-mail", "don't", "U.S.A.", "...", "?!", "--", "(a)", "{}", "[]", "@user", "#tag",
            "50%", "a/b\\c", "\"quoted\""]
    uni = ["€", "£", "¥", "©", "®", "°", "±", "×", "÷", "→", "∑", "√", "∞", "≠", "♥", "★",
           "™", "§", "¶", "¿", "¡", "«", "»", "“", "”", "‘", "’", "…", "—", "–", "·", "•",
           "‰", "′", "″", "ː", "‐", "‑", "‒", "―", "‖", "‗", "‚", "„", "†", "‡", "※",
           "⁂", "、", "。", "〈", "〉", "《", "》", "【", "】", "〔", "〕", "﹏", "︰", "︵",
           "¦", "¨", "¯", "´", "¸", "˜", "˚", "^", "῾", "₹", "₿", "₩", "₽", "฿", "۔", "؟",
           "،", "׃", "।", "၊", "፧", "჻", "⸮", "⹀", "⹏", "⸺", "\u2e5d", "\U00016fe2",
           "\U0001e95e", "\U0001da87", "\U000110bb"]
    out += uni + [f"x{p}y" for p in uni] + [" ".join(uni), "".join(uni)]
    return out


def sec_empty():
    return ["", " ", "  ", "    ", "\t", "\n", "\r", "\r\n", " \t \n ", "\u3000", " \u3000 ",
            "\u00a0", "\u2028", "\n\n\n", "\u0085"]


def sec_newlines():
    return ["hello\nworld", "line1\r\nline2", "a\rb", "trailing\n", "\nleading", "\r", "x\r",
            "\rx", "a\n\nb", "a\r\n\r\nb", "a\n\rb", "中\n文", "[CLS]\n[SEP]", "é\né",
            "tab\there", "a\u2028b", "a\u2029b", "a\u0085b", "a\x0bb\x0cc", "one\ntwo\nthree\n",
            "\r\n", "\n\r", "word\r\nword\r\n"]


def sec_sentences():
    return ["Café déjà vu, naïve façade — résumé!",
            "The quick brown fox jumps over the lazy dog.",
            "I can't believe it's not butter!!!",
            "Ｈｅｌｌｏ　Ｗｏｒｌｄ — ça va? 你好，世界！",
            "Price: $9.99 (was €12,50) — 50% off!!",
            "emails: john.doe@example.com, http://example.com/path?q=1&r=2#frag",
            "He said \"hello\" and she said 'bye'.",
            "ΟΔΟΣ and İstanbul and STRAẞE and Ǆemal.",
            "这家酒店的服务非常好，房间也很干净。下次还会再来！",
            "質問：これは何ですか？答え：ペンです。",
            "Das Fräulein aß Käse in Köln.",
            "  leading and trailing spaces  ",
            "multiple     spaces\tand\ttabs",
            "UPPER lower MiXeD 123 4.5 6,7",
            "😀 emoji 👍🏽 in 🇺🇸 text 1️⃣",
            "zero\u200bwidth\u200cnon\u200djoiner",
            "soft\u00adhyphen", "bidi \u202eoverride\u202c text", "\ufeffBOM at start",
            "[CLS] already tokenized [SEP] text [SEP]",
            "unaffable unbelievably antidisestablishmentarianism"]


def random_pools():
    return {
        "ascii_word": ["hello", "world", "the", "a", "test", "Token", "BERT", "UNK", "x", "123"],
        "space": [c(cp) for cp in WHITE_SPACE + SPACE_LIKE],
        "control": ["\u0000", "\u0001", "\u007f", "\u0085", "\u00ad", "\u200b", "\u200e",
                    "\u202e", "\u2066", "\ufeff", "\ufff9", "\U000e0001", "\U000e0041"],
        "mark": [c(cp) for cp in range(0x0300, 0x0370)] + ["\u20dd", "\u093e", "\u0e31", "\u3099"],
        "accented": list("áàâäãåāăąçćčďéèêëēėęěíìîïīįıñńňóòôöõøōőœŕřśšşťúùûüūůűųýÿźżžÀÉÎÕÜÇ"),
        "cjk": list("中文字的一是不了人我在有他这为之大来以个国到说们和地也子时道出而要于就下得可你年生")
               + [c(0x3400), c(0x20000), c(0x2B820), c(0x2B920), c(0xF900), c(0x2F800), c(0x30000)],
        "kana_hangul": list("あいうえおカタカナｶﾀｶﾅ한국어가각ㅎ") + ["\u1100\u1161"],
        "emoji": ["😀", "👍🏽", "🇺🇸", "1️⃣", "👨‍👩‍👧", "❤️", "🫠", "\ufe0f", "\u200d"],
        "fullwidth": [c(cp) for cp in range(0xFF01, 0xFF5F)],
        "punct": list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~。、！？「」…—–“”‘’«»¿¡"),
        "symbol": list("€£¥©®°±×÷→∑√∞≠♥★™§¶☃𝄞"),
        "greek_cyr": list("ΑΒΓΔΣσςαβγδжизньЖИЗНЬ"),
        "special": ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "[cls]", "[CL S]", "##"],
        "case": ["İ", "ı", "ß", "ẞ", "Ǆ", "ǅ", "ǆ", "\u212a", "\u212b", "ﬁ", "Σ", "ΟΔΟΣ"],
        "nul": ["\u0000", "\ufffd", "\n", "\r", "\r\n", "\t"],
        "script": ["ภาษา", "مَرْحَبًا", "שָׁלוֹם", "हिन्दी", "Việt", "한국"],
    }


def sec_random(rng, n=1500):
    pools = random_pools()
    names = sorted(pools)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 24)):
            parts.append(rng.choice(pools[rng.choice(names)]))
            if rng.random() < 0.35:
                parts.append(" ")
        out.append("".join(parts))
    return out


def sec_markruns(seed=SEED + 1, n=1500):
    rng = random.Random(seed)  # its own stream: the sections above stay as they were
    marks = [c(cp) for cp in range(0x110000) if cp not in SURROGATES and unicodedata.combining(c(cp))]
    kept = [m for m in marks if unicodedata.category(m) != "Mn"]
    composed = [c(cp) for cp in range(0x110000) if cp not in SURROGATES
                and unicodedata.normalize("NFD", c(cp)) != c(cp)
                and any(unicodedata.combining(x) for x in unicodedata.normalize("NFD", c(cp)))]
    pool = marks + kept * 20 + composed + list("aAé \u200b\u00adİ中1.")
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def main():
    if unicodedata.unidata_version != EXPECTED_UNIDATA:
        print(f"warning: unicodedata {unicodedata.unidata_version}, expected {EXPECTED_UNIDATA}: "
              "the output will differ from the committed stress.jsonl", file=sys.stderr)
    rng = random.Random(SEED)
    sections = [
        ("whitespace", sec_whitespace()),
        ("control", sec_control()),
        ("marks", sec_marks(rng)),
        ("blocks", sec_blocks(rng)),
        ("cjk", sec_cjk(rng)),
        ("emoji", sec_emoji()),
        ("fullwidth", sec_fullwidth()),
        ("long", sec_long()),
        ("unk", sec_unk()),
        ("special", sec_special()),
        ("case", sec_case()),
        ("scripts", sec_scripts()),
        ("nul", sec_nul()),
        ("punct", sec_punct()),
        ("empty", sec_empty()),
        ("newlines", sec_newlines()),
        ("sentences", sec_sentences()),
        ("random", sec_random(rng)),
        ("markruns", sec_markruns()),
    ]
    seen = set()
    texts = []
    for name, items in sections:
        for t in items:
            if any(0xD800 <= ord(ch) < 0xE000 for ch in t):
                raise SystemExit(f"section {name}: surrogate in {t!r}")
            if t not in seen:  # keep the first occurrence, in section order
                seen.add(t)
                texts.append(t)
        print(f"{name:12s} {len(items):6d}", file=sys.stderr)
    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        for t in texts:
            f.write(json.dumps(t, ensure_ascii=True) + "\n")
    print(f"wrote {len(texts)} texts to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
