#!/usr/bin/env python3
"""PII detection: `dm redact --detect-only` and dm_pii_detect against Microsoft
Presidio's pattern recognizers, on real text with planted personal data.

Data: the reviews of online_shopping_10_cats (62,774, Chinese) and the
sentences of SST-2 train (67,349, English), one text per line (newlines in a
text become spaces). Into about 20% of the lines (random.Random(SEED)) one
value is planted at a word boundary: an email, a phone number (US, UK, +86
and bare mainland-China mobile), a Luhn-valid card, an IPv4 or IPv6 address,
a URL, a valid US SSN, a valid IBAN, or a CN resident ID with a correct MOD
11-2 check character. The texts go to a temporary file.

What is timed (best of --repeat runs; MB/s = UTF-8 input bytes / seconds):
  dm cli     the whole process `dm redact --detect-only --format json -j N
             FILE`, output to /dev/null: start-up, reading, detection, JSON.
  dm lib     dm_pii_detect called through ctypes once per text (the handle
             made beforehand); "all" runs one Python thread per core over
             interleaved texts (ctypes releases the GIL during the call).
  presidio   the predefined pattern recognizers of presidio_analyzer, each
             made once: EmailRecognizer, PhoneRecognizer (phonenumbers;
             regions US, UK, DE, FE, IL, IN, CA, BR and CN), CreditCardRecognizer,
             IbanRecognizer, IpRecognizer, UrlRecognizer, UsSsnRecognizer,
             calling .analyze(text, entities, nlp_artifacts=None) per text, as
             AnalyzerEngine does without its NLP engine (no spaCy model is
             installed; none is needed by these recognizers). Presidio has no
             CN resident ID recognizer, so it does less work than dm here.
             "all" runs one process per core over interleaved texts. On
             --presidio-share of the lines (every k-th line; default 0.25), as
             it is slow; MB/s is a rate, so the share does not bias it.
  If presidio_analyzer cannot be imported, Python `re` with equivalent
  patterns (and the same checksums) stands in, and the output says so.

Entity counts by type from both tools on the lines Presidio saw are printed as
a sanity check (not an accuracy claim: the quality test set is
test/privacy's).

Usage (from the repository root, after building the library and dm):
  python3 test/bench/bench_pii.py [--build build] [--out test/bench/out/pii.json]
      [--repeat 3] [--presidio-share 0.25] [--threads N]
  DATAMODEL_LIB overrides the library path; DATA (default ../shared/data) the data folder.
"""

import argparse
import collections
import csv
import ctypes
import json
import multiprocessing
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEED = 20240605
PLANT_RATE = 0.2

# ---------------------------------------------------------------------------- data


def luhn_complete(digits):
    """DIGITS plus the Luhn check digit."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        v = int(d)
        if i % 2 == 0:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return digits + str((10 - total % 10) % 10)


def cn_id(rng):
    region = rng.choice(["110101", "310104", "440305", "510107", "330106"])
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = region + birth + f"{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


def iban(rng):
    country, bban = rng.choice([("GB", lambda: "WEST" + "".join(str(rng.randint(0, 9)) for _ in range(14))),
                                ("DE", lambda: "".join(str(rng.randint(0, 9)) for _ in range(18))),
                                ("FR", lambda: "".join(str(rng.randint(0, 9)) for _ in range(23)))])
    b = bban()
    num = "".join(str(int(c, 36)) for c in b + country + "00")
    check = 98 - int(num) % 97
    code = f"{country}{check:02d}{b}"
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4)) if rng.random() < 0.5 else code


def ssn(rng):
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def card(rng):
    prefix = rng.choice(["4", "51", "52", "37", "6011"])
    length = 15 if prefix == "37" else 16
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    num = luhn_complete(body)
    if rng.random() < 0.5 and length == 16:
        return " ".join(num[i:i + 4] for i in range(0, 16, 4))
    return num


def phone(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return f"({rng.randint(201, 989)}) {rng.randint(201, 989)}-{rng.randint(0, 9999):04d}"
    if kind == 1:
        return f"+44 20 {rng.randint(7000, 8999)} {rng.randint(0, 9999):04d}"
    mobile = f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"
    if kind == 2:
        return f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    return mobile


def ipv4(rng):
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def ipv6(rng):
    groups = [f"{rng.randint(0, 65535):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return "2001:db8::" + ":".join(groups[:2])
    return ":".join(groups)


def email(rng):
    user = rng.choice(["zhang.wei", "li_na", "john.doe", "mary", "wang123", "support"])
    return f"{user}{rng.randint(0, 999)}@{rng.choice(['example.com', 'qq.com', '163.com', 'mail.example.org'])}"


def url(rng):
    return f"https://{rng.choice(['www.example.com', 'shop.example.cn', 'docs.example.org'])}/p/{rng.randint(1, 99999)}"


PLANTERS = [("EMAIL_ADDRESS", email), ("PHONE_NUMBER", phone), ("CREDIT_CARD", card), ("IP_ADDRESS", ipv4),
            ("IP_ADDRESS", ipv6), ("URL", url), ("US_SSN", ssn), ("IBAN_CODE", iban),
            ("CN_RESIDENT_ID", cn_id)]


def plant(texts, rng):
    """Inserts a value into ~PLANT_RATE of TEXTS (in place); returns the counts planted by type and
    the type planted in each text (None when none)."""
    counts = collections.Counter()
    where = [None] * len(texts)
    for i, t in enumerate(texts):
        if rng.random() >= PLANT_RATE:
            continue
        typ, make = rng.choice(PLANTERS)
        value = make(rng)
        spaces = [m.start() for m in re.finditer(" ", t)]
        at = rng.choice(spaces) if spaces else (len(t) if rng.random() < 0.5 else 0)
        texts[i] = f"{t[:at]} {value} {t[at:]}".strip() if spaces or not t else (
            f"{t} {value}" if at else f"{value} {t}")
        counts[typ] += 1
        where[i] = typ
    return counts, where


def load_texts(data):
    shop = os.path.join(data, "online_shopping_10_cats", "online_shopping_10_cats.csv")
    sst = os.path.join(data, "sst2", "train.tsv")
    texts = []
    with open(shop, encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        col = next(r).index("review")
        texts += [row[col] for row in r if len(row) > col]
    n_zh = len(texts)
    with open(sst, encoding="utf-8") as f:
        r = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        col = next(r).index("sentence")
        texts += [row[col] for row in r if len(row) > col]
    texts = [re.sub(r"[\r\n]+", " ", t) for t in texts]
    return texts, n_zh


# ---------------------------------------------------------------------------- dm through ctypes


class PiiOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("types", ctypes.c_void_p), ("n_types", ctypes.c_size_t),
                ("use_context", ctypes.c_int), ("min_score", ctypes.c_double), ("match_limit", ctypes.c_uint64),
                ("invalid_utf8", ctypes.c_int), ("threads", ctypes.c_int)]


class Entity(ctypes.Structure):
    _fields_ = [("type", ctypes.c_char_p), ("start", ctypes.c_size_t), ("end", ctypes.c_size_t),
                ("score", ctypes.c_double)]


def open_lib(path):
    lib = ctypes.CDLL(path)
    lib.dm_pii_options_default.argtypes = [ctypes.POINTER(PiiOptions)]
    lib.dm_pii_create.argtypes = [ctypes.POINTER(PiiOptions), ctypes.POINTER(ctypes.c_void_p)]
    lib.dm_pii_free.argtypes = [ctypes.c_void_p]
    lib.dm_pii_detect.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                  ctypes.POINTER(ctypes.POINTER(Entity)), ctypes.POINTER(ctypes.c_size_t)]
    lib.dm_free.argtypes = [ctypes.c_void_p]
    lib.dm_last_error.restype = ctypes.c_char_p
    return lib


def make_pii(lib):
    o = PiiOptions()
    lib.dm_pii_options_default(ctypes.byref(o))
    h = ctypes.c_void_p()
    if lib.dm_pii_create(ctypes.byref(o), ctypes.byref(h)):
        raise RuntimeError("dm_pii_create: " + lib.dm_last_error().decode())
    return h


def lib_detect(lib, h, data, idx, types_out):
    """dm_pii_detect on DATA[i] for i in IDX; TYPES_OUT[i] gets the list of types."""
    ents = ctypes.POINTER(Entity)()
    n = ctypes.c_size_t()
    detect = lib.dm_pii_detect
    for i in idx:
        b = data[i]
        if detect(h, b, len(b), ctypes.byref(ents), ctypes.byref(n)):
            raise RuntimeError(f"dm_pii_detect, text {i}: " + lib.dm_last_error().decode())
        k = n.value
        types_out[i] = [ents[j].type.decode() for j in range(k)] if k else []
        if k:
            lib.dm_free(ents)


def time_lib(lib, h, data, threads):
    types = [None] * len(data)
    t0 = time.perf_counter()
    if threads == 1:
        lib_detect(lib, h, data, range(len(data)), types)
    else:
        ts = [threading.Thread(target=lib_detect, args=(lib, h, data, range(k, len(data), threads), types))
              for k in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return time.perf_counter() - t0, types


# ---------------------------------------------------------------------------- presidio (or re)


def offline_tldextract():
    """EmailRecognizer validates domains with tldextract, which would try to
    download the public suffix list: use its bundled snapshot instead."""
    try:
        import tldextract
        tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    except Exception:  # noqa: BLE001 - only a speed-up for the first call
        pass


def presidio_recognizers():
    offline_tldextract()
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IbanRecognizer,
                                                          IpRecognizer, PhoneRecognizer, UrlRecognizer,
                                                          UsSsnRecognizer)
    recs = [EmailRecognizer(), CreditCardRecognizer(), IbanRecognizer(), IpRecognizer(), UrlRecognizer(),
            UsSsnRecognizer()]
    left_out = []
    try:
        recs.insert(1, PhoneRecognizer(supported_regions=("US", "UK", "DE", "FE", "IL", "IN", "CA", "BR", "CN")))
    except Exception as e:  # noqa: BLE001 - phonenumbers missing
        left_out.append(f"PhoneRecognizer ({e})")
    return recs, left_out


def presidio_analyze(recs, text):
    out = []
    for r in recs:
        out += r.analyze(text, r.supported_entities, nlp_artifacts=None) or []
    # As AnalyzerEngine: drop weak results (score threshold 0) and exact duplicates.
    return sorted({(x.entity_type, x.start, x.end) for x in out if x.score > 0}, key=lambda x: x[1])


def luhn_ok(s):
    d = [int(c) for c in s if c.isdigit()]
    return len(d) >= 13 and sum(x if i % 2 == 0 else (x * 2 - 9 if x * 2 > 9 else x * 2)
                                for i, x in enumerate(reversed(d))) % 10 == 0


def iban_ok(s):
    c = s.replace(" ", "")
    return int("".join(str(int(ch, 36)) for ch in c[4:] + c[:4])) % 97 == 1


RE_PATTERNS = [  # a stand-in with Presidio's kinds of patterns, used only if Presidio is missing
    ("EMAIL_ADDRESS", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"), None),
    ("PHONE_NUMBER", re.compile(r"(?:\+\d{1,3}[ -]?)?(?:\(\d{3}\)\s?|\b\d{3}[ -])\d{3,4}[ -]\d{4}\b|\b1[3-9]\d{9}\b"),
     None),
    ("CREDIT_CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), luhn_ok),
    ("IBAN_CODE", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), iban_ok),
    ("IP_ADDRESS", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b|"
                              r"(?:[0-9a-fA-F]{1,4}:){2,7}(?::|[0-9a-fA-F]{1,4})"), None),
    ("URL", re.compile(r"https?://[^\s]+"), None),
    ("US_SSN", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"), None),
]


def re_analyze(_recs, text):
    out = []
    for typ, pat, check in RE_PATTERNS:
        for m in pat.finditer(text):
            if check is None or check(m.group()):
                out.append((typ, m.start(), m.end()))
    return out


_worker = {}


def _init_worker(use_presidio):
    _worker["recs"] = presidio_recognizers()[0] if use_presidio else None
    _worker["fn"] = presidio_analyze if use_presidio else re_analyze


def _work(texts):
    return [[t for t, _, _ in _worker["fn"](_worker["recs"], x)] for x in texts]


def time_reference(texts, use_presidio, threads):
    """Seconds and the types found per text, on THREADS processes (recognizers made before timing)."""
    if threads == 1:
        _init_worker(use_presidio)
        _work(texts[:50])  # warm-up: first-call caches
        t0 = time.perf_counter()
        types = _work(texts)
        return time.perf_counter() - t0, types
    parts = [texts[k::threads] for k in range(threads)]
    with multiprocessing.get_context("fork").Pool(threads, _init_worker, (use_presidio,)) as pool:
        pool.map(_work, [p[:50] for p in parts])  # warm-up in every worker
        t0 = time.perf_counter()
        res = pool.map(_work, parts, chunksize=1)
        dt = time.perf_counter() - t0
    types = [None] * len(texts)
    for k, r in enumerate(res):
        types[k::threads] = r
    return dt, types


# ---------------------------------------------------------------------------- main


def best(fn, repeat):
    runs = [fn() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def count_types(type_lists):
    c = collections.Counter()
    for ts in type_lists:
        c.update(ts)
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--lib", default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "out", "pii.json"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--presidio-share", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="'all' threads (default: all cores)")
    args = ap.parse_args()
    data_dir = os.environ.get("DATA") or os.path.join(os.path.dirname(ROOT), "shared", "data")
    lib_path = os.environ.get("DATAMODEL_LIB") or args.lib or os.path.join(ROOT, args.build, "lib",
                                                                             "libdatamodel.so")
    dm_exe = os.path.join(ROOT, args.build, "bindings", "cli", "dm")
    all_t = max(1, args.threads)

    texts, n_zh = load_texts(data_dir)
    planted, planted_at = plant(texts, random.Random(SEED))
    data = [t.encode("utf-8") for t in texts]
    total_bytes = sum(len(b) for b in data) + len(data)  # newlines included, as the file holds them
    mb = total_bytes / 1e6
    print(f"{len(texts)} texts ({n_zh} Chinese reviews, {len(texts) - n_zh} SST-2 sentences), {mb:.1f} MB; "
          f"planted {sum(planted.values())} values: {dict(sorted(planted.items()))}")

    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "python": platform.python_version()},
               "data": {"texts": len(texts), "chinese": n_zh, "english": len(texts) - n_zh, "bytes": total_bytes,
                        "planted": dict(planted), "seed": SEED, "plant_rate": PLANT_RATE},
               "threads_all": all_t, "rows": []}

    lib = open_lib(lib_path)
    h = make_pii(lib)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "planted.txt")
        with open(path, "wb") as f:
            f.write(b"".join(b + b"\n" for b in data))

        # dm, the whole process.
        def cli(threads):
            def run():
                t0 = time.perf_counter()
                with open(os.devnull, "wb") as null:
                    p = subprocess.run([dm_exe, "redact", "--detect-only", "--format", "json", "--no-progress",
                                        "-j", str(threads), path], stdout=null, stderr=subprocess.PIPE)
                dt = time.perf_counter() - t0
                if p.returncode:
                    raise RuntimeError(p.stderr.decode())
                return (dt,)
            return best(run, args.repeat)[0]

        cli_out = subprocess.run([dm_exe, "redact", "--detect-only", "--format", "json", "--no-progress", path],
                                 capture_output=True, check=True).stdout.decode().splitlines()
        cli_types = [[e["type"] for e in json.loads(x)["entities"]] for x in cli_out]
        t_cli1, t_cli_all = cli(1), cli(all_t)

        # dm_pii_detect through ctypes.
        t_lib1, lib_types = best(lambda: time_lib(lib, h, data, 1), args.repeat)
        t_lib_all, lib_types_all = best(lambda: time_lib(lib, h, data, all_t), args.repeat)
        assert lib_types_all == lib_types, "threads changed dm's results"
        assert cli_types == lib_types, "dm redact and dm_pii_detect disagree"
    lib.dm_pii_free(h)

    # The reference, on every k-th text.
    k = max(1, round(1 / args.presidio_share)) if args.presidio_share > 0 else 1
    sample = list(range(0, len(texts), k))
    sample_texts = [texts[i] for i in sample]
    sample_mb = (sum(len(data[i]) + 1 for i in sample)) / 1e6
    try:
        recs, left_out = presidio_recognizers()
        use_presidio, ref_name = True, "presidio"
        ref_note = ("Presidio pattern recognizers: " + ", ".join(type(r).__name__ for r in recs) +
                    (f"; left out: {', '.join(left_out)}" if left_out else "") + "; no CN_RESIDENT_ID recognizer")
    except Exception as e:  # noqa: BLE001
        use_presidio, ref_name = False, "python-re"
        ref_note = f"presidio_analyzer could not run ({e}); Python re with equivalent patterns and checksums"
    print(f"reference: {ref_note}; on {len(sample)} texts (1/{k}), {sample_mb:.1f} MB")
    t_ref1, ref_types = time_reference(sample_texts, use_presidio, 1)
    t_ref_all, _ = time_reference(sample_texts, use_presidio, all_t)

    rows = [("dm cli", 1, mb / t_cli1), ("dm cli", all_t, mb / t_cli_all),
            ("dm lib", 1, mb / t_lib1), ("dm lib", all_t, mb / t_lib_all),
            (ref_name, 1, sample_mb / t_ref1), (ref_name, all_t, sample_mb / t_ref_all)]
    ref_rate = {1: sample_mb / t_ref1, all_t: sample_mb / t_ref_all}
    print(f"\n{'tool':<10} {'threads':>7} {'MB/s':>10} {'x ' + ref_name + ' (same threads)':>28}")
    for name, th, rate in rows:
        ratio = rate / ref_rate[th]
        print(f"{name:<10} {th:>7} {rate:>10.2f} {ratio:>28.1f}")
        results["rows"].append({"tool": name, "threads": th, "mb_per_s": round(rate, 3),
                                "ratio_vs_reference": round(ratio, 1)})

    dm_counts = count_types(lib_types[i] for i in sample)
    ref_counts = count_types(ref_types)
    planted_sample = collections.Counter(planted_at[i] for i in sample if planted_at[i])
    types = sorted(set(dm_counts) | set(ref_counts) | set(planted))
    print(f"\nentities by type on the {len(sample)} texts the reference saw (a sanity check, not accuracy)")
    print(f"{'type':<16} {'planted':>8} {'dm':>7} {ref_name:>9}")
    for t in types:
        print(f"{t:<16} {planted_sample.get(t, 0):>8} {dm_counts.get(t, 0):>7} {ref_counts.get(t, 0):>9}")
    results.update({"reference": ref_name, "reference_note": ref_note, "reference_share": f"1/{k}",
                    "reference_texts": len(sample), "reference_mb": round(sample_mb, 3),
                    "counts_on_reference_texts": {"planted": dict(planted_sample), "dm": dict(dm_counts),
                                                  ref_name: dict(ref_counts)},
                    "dm_counts_all_texts": dict(count_types(lib_types)),
                    "seconds": {"dm_cli_1": t_cli1, "dm_cli_all": t_cli_all, "dm_lib_1": t_lib1,
                                "dm_lib_all": t_lib_all, "ref_1": t_ref1, "ref_all": t_ref_all}})
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
