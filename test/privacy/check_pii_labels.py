#!/usr/bin/env python3
"""Independent checks of the PII quality set (fixtures/pii_cases.jsonl), and
Microsoft Presidio's pattern recognisers scored on it next to libdatamodel.

The generator (gen_pii_cases.py) and the detector (lib/privacy) come from the
same hand, so this script re-checks the labels with code written apart from
both: its own checksums (Luhn, ISO 13616 mod-97, ISO 7064 MOD 11-2), Python's
ipaddress, urllib.parse, email.utils, the phonenumbers library and, when
installed, python-stdnum (luhn, iban, cn.ric, us.ssn) as a second opinion.

Part 1: every gold entity confirmed or disputed, plus a scan of the unlabelled
text for valid-looking values the labels missed.
Part 2: per-type precision and recall (exact span, and partial overlap) of
Presidio's predefined pattern recognisers (no NLP engine: no spaCy model here,
so no context enhancement) and of dm_pii_detect with default options.

Run: python3 test/privacy/check_pii_labels.py [--fixture F] [--lib libdatamodel.so]
Needs phonenumbers and presidio_analyzer (pip); python-stdnum is optional.
Exits 0 always: it is a report, not a test."""
import argparse
import ctypes
import datetime
import email.utils
import ipaddress
import json
import os
import re
import sys
import urllib.parse

import phonenumbers

try:
    import stdnum.cn.ric
    import stdnum.iban
    import stdnum.luhn
    import stdnum.us.ssn
    HAVE_STDNUM = True
except ImportError:
    HAVE_STDNUM = False

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TYPES = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "URL", "US_SSN",
         "CN_RESIDENT_ID"]

# ============================================================================ independent validators


def luhn_ok(d):
    total = 0
    for i, ch in enumerate(reversed(d)):
        v = int(ch)
        if i % 2 == 1:
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return total % 10 == 0


# Issuer identification ranges (prefix low, prefix high, allowed lengths), after
# the networks' published tables (Wikipedia "Payment card number").
ISSUERS = [
    ("Visa", "4", "4", (13, 16, 19)),
    ("Mastercard", "51", "55", (16,)), ("Mastercard", "2221", "2720", (16,)),
    ("Amex", "34", "34", (15,)), ("Amex", "37", "37", (15,)),
    ("Discover", "6011", "6011", (16, 17, 18, 19)), ("Discover", "644", "649", (16, 17, 18, 19)),
    ("Discover", "65", "65", (16, 17, 18, 19)),
    ("JCB", "3528", "3589", (16, 17, 18, 19)),
    ("UnionPay", "62", "62", (16, 17, 18, 19)),
    ("Diners", "300", "305", (14, 15, 16, 17, 18, 19)), ("Diners", "36", "36", (14, 15, 16, 17, 18, 19)),
    ("Diners", "38", "39", (14, 15, 16, 17, 18, 19)),
]


def card_issuer(d):
    for name, lo, hi, lengths in ISSUERS:
        if lo <= d[:len(lo)] <= hi and len(d) in lengths:
            return name
    return None


def card_ok(d):
    ok = d.isdigit() and 13 <= len(d) <= 19 and luhn_ok(d) and card_issuer(d) is not None
    if ok and HAVE_STDNUM:
        ok = stdnum.luhn.is_valid(d)
    return ok


# ISO 13616 registry lengths (SWIFT IBAN registry).
IBAN_LEN = {"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
            "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
            "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
            "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
            "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
            "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
            "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
            "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20}


def iban_ok(s):
    c = s.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", c) or IBAN_LEN.get(c[:2]) != len(c):
        return False
    r = c[4:] + c[:4]
    return int("".join(str(int(ch, 36)) for ch in r)) % 97 == 1


def iban_stdnum_problem(s):
    """stdnum.iban also checks the BBAN layout and the national check digits
    of some countries (ES, NO, BE, FR, ...): stricter than ISO 13616."""
    c = s.replace(" ", "").upper()
    try:
        stdnum.iban.validate(c)
        return None
    except Exception as e:  # noqa: BLE001 - stdnum's ValidationError family
        return f"stdnum.iban: {type(e).__name__}"


# GB/T 2260 province-level codes (first two digits of a resident ID).
CN_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
                53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}


def cn_id_problem(s):
    """None when S is a valid 18-character resident ID, else why not."""
    if not re.fullmatch(r"\d{17}[\dXx]", s):
        return "shape"
    w = [pow(2, 17 - i, 11) for i in range(17)]  # ISO 7064 MOD 11-2 weights, computed not copied
    check = (12 - sum(int(c) * k for c, k in zip(s, w)) % 11) % 11
    if s[17].upper() != ("X" if check == 10 else str(check)):
        return "check"
    try:
        born = datetime.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return "date"
    if not datetime.date(1900, 1, 1) <= born <= datetime.date.today():
        return "date range"
    if int(s[:2]) not in CN_PROVINCES:
        return "province"
    return None


def cn_id_stdnum_problem(s):
    """stdnum.cn.ric also requires the county code to have existed in the
    birth year: a heuristic (the code is the county of registration when the
    number was issued, 1984 or later), so only a soft dispute."""
    try:
        stdnum.cn.ric.validate(s)
        return None
    except Exception as e:  # noqa: BLE001
        return f"stdnum.cn.ric: {type(e).__name__}"


def ssn_ok(s):
    d = re.sub(r"[ -]", "", s)
    if not re.fullmatch(r"\d{9}", d) or not re.fullmatch(r"\d{3}([- ]?)\d{2}\1\d{4}", s):
        return False
    area, group, serial = int(d[:3]), int(d[3:5]), int(d[5:])
    if area in (0, 666) or area >= 900 or group == 0 or serial == 0:
        return False
    if d in ("078051120", "219099999", "123456789"):  # published/advertising numbers
        return False
    return stdnum.us.ssn.is_valid(d) if HAVE_STDNUM else True


def ip_ok(s):
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


EMAIL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
                      r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


try:  # the public suffix list, offline (tldextract's bundled snapshot)
    import tldextract
    _TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
except ImportError:
    _TLD = None


def email_ok(s):
    name, addr = email.utils.parseaddr(s)
    if addr != s or EMAIL_RE.fullmatch(s) is None:
        return False
    return _TLD is None or _TLD(s.split("@", 1)[1]).suffix != ""


def url_ok(s):
    if s.lower().startswith("www."):
        s = "http://" + s
    try:
        u = urllib.parse.urlparse(s)
        u.port  # raises on a bad port
    except ValueError:
        return False
    host = u.hostname or ""
    return (u.scheme in ("http", "https", "ftp") and "." in host and not s[-1] in ".,;:!?'\""
            and s.count("(") == s.count(")") and not re.search(r"\s", s))


def phone_verdict(s):
    """(possible, valid, region) under the best of: international form, CN, US, GB."""
    t = "+" + s[2:] if s.startswith("00") else s
    best = (False, False, None)
    for region in ([None] if t.startswith("+") else ["CN", "US", "GB"]):
        try:
            n = phonenumbers.parse(t, region)
        except phonenumbers.NumberParseException:
            continue
        v = (phonenumbers.is_possible_number(n), phonenumbers.is_valid_number(n),
             phonenumbers.region_code_for_number(n))
        if v[:2] > best[:2]:
            best = v
    return best


def soft_problem(typ, value):
    """A second opinion from python-stdnum where it is stricter than the
    issue's rules: None, or a short reason."""
    if not HAVE_STDNUM:
        return None
    if typ == "IBAN_CODE":
        return iban_stdnum_problem(value)
    if typ == "CN_RESIDENT_ID":
        return cn_id_stdnum_problem(value)
    if typ == "PHONE_NUMBER":
        return None if phone_verdict(value)[1] else "phonenumbers: not is_valid_number"
    return None


def gold_problem(typ, value):
    """None when VALUE is confirmed as TYPE, else a short reason."""
    if typ == "CREDIT_CARD":
        d = re.sub(r"[ -]", "", value)
        if not re.fullmatch(r"\d+(?:([ -])\d+)*", value):
            return "separators"
        return None if card_ok(d) else ("luhn" if not luhn_ok(d) else "issuer/length")
    if typ == "IBAN_CODE":
        return None if iban_ok(value) else "iban"
    if typ == "CN_RESIDENT_ID":
        return cn_id_problem(value)
    if typ == "US_SSN":
        return None if ssn_ok(value) else "ssn ranges"
    if typ == "IP_ADDRESS":
        return None if ip_ok(value) else "ipaddress"
    if typ == "EMAIL_ADDRESS":
        return None if email_ok(value) else "email syntax"
    if typ == "URL":
        return None if url_ok(value) else "url"
    if typ == "PHONE_NUMBER":
        possible, valid, _ = phone_verdict(value)
        return None if possible else "not possible"
    return "unknown type"


# ============================================================================ part 1: labels


def boundary_problem(text, s, e):
    """Spans must not cut a word: an ASCII letter or digit on both sides of a cut."""
    before = text[s - 1] if s > 0 else " "
    after = text[e] if e < len(text) else " "
    if before.isascii() and before.isalnum() and text[s].isascii() and text[s].isalnum():
        return "starts inside a word"
    if after.isascii() and after.isalnum() and text[e - 1].isascii() and text[e - 1].isalnum():
        return "ends inside a word"
    return None


def covered(spans, s, e):
    return any(gs < e and s < ge for gs, ge in spans)


def scan_unlabelled(text, golds):
    """Values in TEXT (str, char offsets) outside every gold span that pass the
    independent validators: candidates the labels may have missed."""
    spans = [(s, e) for _, s, e in golds]
    found = []
    # card numbers: runs of digit groups joined by one space or dash; every
    # group-aligned window of 13..19 digits
    for m in re.finditer(r"(?<![\dA-Za-z])\d+(?:[ -]\d+)*", text):
        groups = [(g.start() + m.start(), g.end() + m.start()) for g in re.finditer(r"\d+", m.group())]
        for i in range(len(groups)):
            for j in range(i, len(groups)):
                s, e = groups[i][0], groups[j][1]
                d = re.sub(r"\D", "", text[s:e])
                if len(d) > 19:
                    break
                if len(d) >= 13 and card_ok(d) and not covered(spans, s, e):
                    whole = i == 0 and j == len(groups) - 1
                    found.append(("CREDIT_CARD" if whole else "CREDIT_CARD (window of a longer digit run)", s, e))
    for m in re.finditer(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])", text):
        if cn_id_problem(m.group()) is None and not covered(spans, m.start(), m.end()):
            found.append(("CN_RESIDENT_ID", m.start(), m.end()))
    for m in re.finditer(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){8,30}", text):
        c = m.group()
        for k in range(len(c), 11, -1):  # longest valid prefix
            if iban_ok(c[:k]) and not covered(spans, m.start(), m.start() + k):
                found.append(("IBAN_CODE", m.start(), m.start() + k))
                break
    for m in re.finditer(r"(?<![\dA-Za-z-])\d{3}-\d{2}-\d{4}(?![\dA-Za-z-])", text):
        if ssn_ok(m.group()) and not covered(spans, m.start(), m.end()):
            found.append(("US_SSN", m.start(), m.end()))
    for m in re.finditer(r"(?<![\w.:])[0-9A-Fa-f]*[.:][0-9A-Fa-f.:]+", text):
        tok = m.group().rstrip(".:")
        if ip_ok(tok) and not covered(spans, m.start(), m.start() + len(tok)):
            found.append(("IP_ADDRESS", m.start(), m.start() + len(tok)))
    for m in EMAIL_RE.finditer(text):
        if email_ok(m.group()) and not covered(spans, m.start(), m.end()):
            found.append(("EMAIL_ADDRESS", m.start(), m.end()))
    for m in re.finditer(r"(?i)\b(?:(?:https?|ftp)://|www\.)[^\s，。；、]+", text):
        if not covered(spans, m.start(), m.end()):
            found.append(("URL", m.start(), m.end()))
    for region in ("CN", "US", "GB"):
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            if not covered(spans, m.start, m.end):
                bare = re.fullmatch(r"\d{10,12}", m.raw_string) is not None
                found.append(("PHONE_NUMBER (bare 10-12 digits, no cue)" if bare else
                              f"PHONE_NUMBER (valid in {phonenumbers.region_code_for_number(m.number)})",
                              m.start, m.end))
    return sorted(set(found), key=lambda f: (f[1], f[0]))


def char_to_byte_table(text):
    table = [0]
    for ch in text:
        table.append(table[-1] + len(ch.encode()))
    return table


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            r = json.loads(line)
            text = r["text"]
            data = text.encode()
            c2b = char_to_byte_table(text)
            b2c = {b: c for c, b in enumerate(c2b)}
            golds = []
            for ent in r["entities"]:
                if ent["start"] not in b2c or ent["end"] not in b2c:
                    raise SystemExit(f"line {lineno}: {ent} does not fall on character boundaries")
                golds.append((ent["type"], b2c[ent["start"]], b2c[ent["end"]]))
            rows.append({"line": lineno, "text": text, "data": data, "c2b": c2b, "golds": golds,
                         "gold_bytes": {(t, c2b[s], c2b[e]) for t, s, e in golds}})
    return rows


def part1(rows, show):
    stats = {t: [0, 0, []] for t in TYPES}
    soft = {t: [] for t in TYPES}
    phone = {"possible": 0, "valid": 0, "invalid_list": []}
    boundary = []
    for r in rows:
        text = r["text"]
        for typ, s, e in r["golds"]:
            value = text[s:e]
            st = stats.setdefault(typ, [0, 0, []])
            st[0] += 1
            why = gold_problem(typ, value) or boundary_problem(text, s, e)
            if why is None:
                st[1] += 1
            else:
                st[2].append((r["line"], why, value, text))
            sw = soft_problem(typ, value)
            if sw:
                soft.setdefault(typ, []).append((r["line"], sw, value, text))
            if typ == "PHONE_NUMBER":
                possible, valid, region = phone_verdict(value)
                phone["possible"] += possible
                phone["valid"] += valid
                if not valid:
                    phone["invalid_list"].append((r["line"], value, region))
    missed = []
    for r in rows:
        for typ, s, e in scan_unlabelled(r["text"], r["golds"]):
            missed.append((typ, r["line"], r["text"][s:e], r["text"]))

    print("## Part 1: gold labels checked independently"
          f" (python-stdnum {'used' if HAVE_STDNUM else 'NOT installed: own checks only'})\n")
    print("| type | gold | confirmed | disputed | stricter 2nd opinion disputes | unlabelled values that validate |")
    print("|---|---:|---:|---:|---:|---:|")
    for t in TYPES:
        g, c, d = stats[t]
        print(f"| {t} | {g} | {c} | {len(d)} | {len(soft[t])} | {sum(1 for m in missed if m[0].split()[0] == t)} |")
    print()
    for t in TYPES:
        for line, why, value, text in stats[t][2][:show]:
            print(f"- disputed {t} line {line} ({why}): {value!r} in {text!r}")
    for t in TYPES:
        if soft[t]:
            kinds = {}
            for line, why, value, text in soft[t]:
                kinds.setdefault(why, []).append((line, value))
            for why, items in kinds.items():
                ex = ", ".join(f"line {ln} {v!r}" for ln, v in items[:3])
                print(f"- 2nd opinion on {t}: {len(items)} x {why}, e.g. {ex}")
    print(f"\nPHONE_NUMBER (phonenumbers {phonenumbers.__version__}, '+'/'00' numbers parsed as international, "
          f"others with region CN, US, GB): {phone['possible']}/{stats['PHONE_NUMBER'][0]} possible, "
          f"{phone['valid']}/{stats['PHONE_NUMBER'][0]} valid")
    by_kind = {}
    for line, value, region in phone["invalid_list"]:
        key = re.sub(r"\d", "9", value)
        by_kind.setdefault(key, []).append((line, value))
    for key, items in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        print(f"- not is_valid_number: {len(items)} x shape {key!r}, e.g. line {items[0][0]} {items[0][1]!r}")
    print()
    kinds = sorted({m[0] for m in missed})
    print("Unlabelled text that validates (outside every gold span):")
    for k in kinds:
        ms = [m for m in missed if m[0] == k]
        print(f"- {k}: {len(ms)}")
        for typ, line, value, text in ms[:show]:
            print(f"  - line {line} {value!r} in {text[:110]!r}")
    print()


# ============================================================================ part 2: Presidio and dm


def presidio_recognizers():
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IbanRecognizer,
                                                          IpRecognizer, PhoneRecognizer, UrlRecognizer,
                                                          UsSsnRecognizer)
    return [EmailRecognizer(), PhoneRecognizer(supported_regions=("US", "GB", "CN")), CreditCardRecognizer(),
            IbanRecognizer(), IpRecognizer(), UrlRecognizer(), UsSsnRecognizer()]


def run_presidio(rows):
    """Per row, [(type, byte start, byte end, score)] after the engine's own
    post-processing (drop score 0, remove_duplicates), threshold left to the caller."""
    from presidio_analyzer import EntityRecognizer
    recs = presidio_recognizers()
    ents = [t for t in TYPES if t != "CN_RESIDENT_ID"]
    out = []
    for r in rows:
        res = []
        for rec in recs:
            res += rec.analyze(r["text"], entities=ents, nlp_artifacts=None) or []
        res = [x for x in res if x.score > 0]
        out.append(res)
    return out, EntityRecognizer.remove_duplicates


def presidio_at(rows, raw, dedup, threshold):
    preds = []
    for r, res in zip(rows, raw):
        kept = dedup([x for x in res if x.score >= threshold])
        preds.append({(x.entity_type, r["c2b"][x.start], r["c2b"][x.end]) for x in kept})
    return preds


class PiiOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("types", ctypes.POINTER(ctypes.c_char_p)),
                ("n_types", ctypes.c_size_t), ("use_context", ctypes.c_int), ("min_score", ctypes.c_double),
                ("match_limit", ctypes.c_uint64), ("invalid_utf8", ctypes.c_int), ("threads", ctypes.c_int)]


class PiiEntity(ctypes.Structure):
    _fields_ = [("type", ctypes.c_char_p), ("start", ctypes.c_size_t), ("end", ctypes.c_size_t),
                ("score", ctypes.c_double)]


def run_dm(rows, libpath):
    lib = ctypes.CDLL(libpath)
    lib.dm_pii_options_default.argtypes = [ctypes.POINTER(PiiOptions)]
    lib.dm_pii_create.argtypes = [ctypes.POINTER(PiiOptions), ctypes.POINTER(ctypes.c_void_p)]
    lib.dm_pii_free.argtypes = [ctypes.c_void_p]
    lib.dm_pii_detect.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                  ctypes.POINTER(ctypes.POINTER(PiiEntity)), ctypes.POINTER(ctypes.c_size_t)]
    lib.dm_free.argtypes = [ctypes.c_void_p]
    opts = PiiOptions()
    lib.dm_pii_options_default(ctypes.byref(opts))
    h = ctypes.c_void_p()
    if lib.dm_pii_create(ctypes.byref(opts), ctypes.byref(h)) != 0:
        raise SystemExit("dm_pii_create failed")
    preds = []
    try:
        for r in rows:
            p, n = ctypes.POINTER(PiiEntity)(), ctypes.c_size_t()
            if lib.dm_pii_detect(h, r["data"], len(r["data"]), ctypes.byref(p), ctypes.byref(n)) != 0:
                raise SystemExit(f"dm_pii_detect failed on line {r['line']}")
            preds.append({(p[i].type.decode(), p[i].start, p[i].end) for i in range(n.value)})
            lib.dm_free(p)
    finally:
        lib.dm_pii_free(h)
    return preds


def scores(rows, preds, typ, partial):
    tp_p = n_p = tp_g = n_g = 0
    for r, pred in zip(rows, preds):
        gold = [g for g in r["gold_bytes"] if g[0] == typ]
        mine = [p for p in pred if p[0] == typ]
        n_p += len(mine)
        n_g += len(gold)
        if partial:
            tp_p += sum(1 for p in mine if any(g[1] < p[2] and p[1] < g[2] for g in gold))
            tp_g += sum(1 for g in gold if any(g[1] < p[2] and p[1] < g[2] for p in mine))
        else:
            tp_p += sum(1 for p in mine if p in r["gold_bytes"])
            tp_g += sum(1 for g in gold if g in pred)
    prec = tp_p / n_p if n_p else float("nan")
    rec = tp_g / n_g if n_g else float("nan")
    return prec, rec, n_p


def fmt(x):
    return "n/a" if x != x else f"{x:.3f}"


def disagreements(rows, preds, typ, show):
    out = []
    for r, pred in zip(rows, preds):
        data = r["data"]
        for g in sorted(r["gold_bytes"]):
            if g[0] == typ and g not in pred:
                near = [p for p in pred if p[1] < g[2] and g[1] < p[2]]
                got = ", ".join(f"{p[0]} {data[p[1]:p[2]].decode()!r}" for p in near) or "nothing"
                out.append(f"line {r['line']}: missed {data[g[1]:g[2]].decode()!r} (found {got})")
        for p in sorted(pred):
            if p[0] == typ and p not in r["gold_bytes"]:
                near = [g for g in r["gold_bytes"] if g[1] < p[2] and p[1] < g[2]]
                gold = ", ".join(f"{g[0]} {data[g[1]:g[2]].decode()!r}" for g in near) or "no gold"
                out.append(f"line {r['line']}: extra {data[p[1]:p[2]].decode()!r} (gold: {gold})")
        if len(out) >= show:
            break
    return out[:show]


def part2(rows, libpath, show):
    raw, dedup = run_presidio(rows)
    pres = {th: presidio_at(rows, raw, dedup, th) for th in (0.0, 0.4)}
    dm = run_dm(rows, libpath) if libpath else None
    print("## Part 2: precision and recall per type\n")
    print(f"dm: dm_pii_detect, default options (min_score 0.4, context on), {libpath or 'library not found'}.")
    print("Presidio: predefined pattern recognisers, no NLP engine (so no context boost), PhoneRecognizer"
          " regions US, GB, CN, remove_duplicates as AnalyzerEngine does; no CN_RESIDENT_ID recogniser exists.\n")
    for partial in (False, True):
        print(f"### {'partial overlap' if partial else 'exact span'}\n")
        print("| type | gold | dm P | dm R | Presidio P (>0) | Presidio R (>0) | Presidio P (>=0.4) | Presidio R (>=0.4) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for t in TYPES:
            gold = sum(1 for r in rows for g in r["golds"] if g[0] == t)
            cells = [t, str(gold)]
            if dm is not None:
                p, rc, _ = scores(rows, dm, t, partial)
                cells += [fmt(p), fmt(rc)]
            else:
                cells += ["-", "-"]
            for th in (0.0, 0.4):
                if t == "CN_RESIDENT_ID":
                    cells += ["none", "none"]
                else:
                    p, rc, _ = scores(rows, pres[th], t, partial)
                    cells += [fmt(p), fmt(rc)]
            print("| " + " | ".join(cells) + " |")
        print()
    print("### by language of the line (exact span; Chinese = any CJK character in the line)\n")
    print("| type | gold en/zh | dm R en | dm R zh | Presidio R en (>=0.4) | Presidio R zh (>=0.4) | Presidio P en | Presidio P zh |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    zh = [re.search(r"[\u3000-\u9fff\uff00-\uffef]", r["text"]) is not None for r in rows]
    for t in TYPES:
        cells = [t]
        parts = {}
        for lang, flag in (("en", False), ("zh", True)):
            idx = [i for i, z in enumerate(zh) if z == flag]
            sub = [rows[i] for i in idx]
            parts[lang] = (sub, [dm[i] for i in idx] if dm is not None else None, [pres[0.4][i] for i in idx])
        cells.append("/".join(str(sum(1 for r in parts[l][0] for g in r["golds"] if g[0] == t)) for l in ("en", "zh")))
        for l in ("en", "zh"):
            cells.append(fmt(scores(parts[l][0], parts[l][1], t, False)[1]) if dm is not None else "-")
        for k in (1, 0):
            for l in ("en", "zh"):
                cells.append("none" if t == "CN_RESIDENT_ID" else fmt(scores(parts[l][0], parts[l][2], t, False)[k]))
        print("| " + " | ".join(cells) + " |")
    print()
    print("### first disagreements with the gold (exact span)\n")
    for t in TYPES:
        for name, preds in (("dm", dm), ("Presidio >=0.4", pres[0.4]), ("Presidio >0", pres[0.0])):
            if preds is None or (t == "CN_RESIDENT_ID" and name != "dm"):
                continue
            d = disagreements(rows, preds, t, show)
            print(f"- {t}, {name}: " + ("none" if not d else ""))
            for x in d:
                print(f"  - {x}")
    print()


def find_lib():
    for p in (os.environ.get("DATAMODEL_LIB"), os.path.join(ROOT, "build", "lib", "libdatamodel.so")):
        if p and os.path.exists(p):
            return p
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixture", default=os.path.join(HERE, "fixtures", "pii_cases.jsonl"))
    ap.add_argument("--lib", default=find_lib())
    ap.add_argument("--show", type=int, default=5, help="examples listed per type")
    ap.add_argument("--skip-presidio", action="store_true")
    args = ap.parse_args()
    rows = load(args.fixture)
    print(f"{args.fixture}: {len(rows)} lines, {sum(len(r['golds']) for r in rows)} gold entities\n")
    part1(rows, args.show)
    if not args.skip_presidio:
        part2(rows, args.lib, args.show)


if __name__ == "__main__":
    sys.exit(main())
