"""Dataset operations (datamodel.h, "Dataset operations"): the C option
structs, the function signatures and the option builders used by the methods
of datamodel.Dataset (clean, dedup, leakage, conflicts, split, resample,
class_weights, augment, profile) and by datamodel.profile_html. Imported by
datamodel/_data.py; use `import datamodel`.

Every option struct below mirrors its C struct field by field (same order,
same C types); tests/test_dataops.py checks sizes and offsets against the C
compiler's. Option builders start from the library's *_options_default and
then set every field the caller can choose, so Python's keyword defaults (the
documented C defaults) are what the library receives."""
import ctypes
import json
import numbers

from . import _PROGRESS, _bytes, _c_i32, _c_size, _check, _choice, _cint_value, _lib, _Progress, _sig

_status = ctypes.c_int
_Ds = ctypes.c_void_p
_Tok = ctypes.c_void_p
_charpp = ctypes.POINTER(ctypes.c_char_p)
_sizep = ctypes.POINTER(_c_size)
_voidpp = ctypes.POINTER(ctypes.c_void_p)

# ---------------------------------------------------------------------------- C structs


class _CleanOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("nfkc", ctypes.c_int), ("strip_control", ctypes.c_int),
                ("strip_html", ctypes.c_int), ("collapse_whitespace", ctypes.c_int), ("trim", ctypes.c_int),
                ("min_chars", _c_size), ("max_chars", _c_size), ("tokenizer", _Tok), ("min_tokens", _c_size),
                ("max_tokens", _c_size), ("drop_missing_labels", ctypes.c_int), ("allowed_labels", _charpp),
                ("n_allowed_labels", _c_size), ("progress", _PROGRESS), ("progress_user", ctypes.c_void_p)]


class _DedupOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("exact_only", ctypes.c_int), ("normalize", ctypes.c_int),
                ("ngram", _c_size), ("threshold", ctypes.c_double), ("num_perm", _c_size), ("bands", _c_size),
                ("rows_per_band", _c_size), ("verify", ctypes.c_int), ("seed", ctypes.c_uint64),
                ("threads", ctypes.c_int), ("report_pairs", ctypes.c_int), ("progress", _PROGRESS),
                ("progress_user", ctypes.c_void_p), ("label_conflicts", ctypes.c_int)]


class _SplitOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("train", ctypes.c_double), ("val", ctypes.c_double),
                ("test", ctypes.c_double), ("folds", _c_size), ("stratify", ctypes.c_int),
                ("group_by", ctypes.c_int), ("dedup", ctypes.POINTER(_DedupOptions)), ("seed", ctypes.c_uint64)]


class _ResampleOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("strategy", ctypes.c_int), ("target", ctypes.POINTER(ctypes.c_double)),
                ("n_target", _c_size), ("seed", ctypes.c_uint64)]


class _AugmentOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("ops", ctypes.c_uint), ("n", _c_size), ("alpha_sr", ctypes.c_double),
                ("alpha_ri", ctypes.c_double), ("alpha_rs", ctypes.c_double), ("alpha_rd", ctypes.c_double),
                ("char_rate", ctypes.c_double), ("wordnet_dir", ctypes.c_char_p), ("synonyms_path", ctypes.c_char_p),
                ("keep_original", ctypes.c_int), ("seed", ctypes.c_uint64), ("progress", _PROGRESS),
                ("progress_user", ctypes.c_void_p)]


class _ProfileOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("tokenizer", _Tok), ("near_duplicates", ctypes.c_int),
                ("dedup", ctypes.POINTER(_DedupOptions)), ("clean_report_json", ctypes.c_char_p),
                ("title", ctypes.c_char_p), ("progress", _PROGRESS), ("progress_user", ctypes.c_void_p)]


# The option structs with their C names and *_options_default functions (for tests and tools).
OPTION_STRUCTS = {"dm_clean_options": _CleanOptions, "dm_dedup_options": _DedupOptions,
                  "dm_split_options": _SplitOptions, "dm_resample_options": _ResampleOptions,
                  "dm_augment_options": _AugmentOptions, "dm_profile_options": _ProfileOptions}

# ---------------------------------------------------------------------------- C functions

_sig("dm_dataset_label_id", _c_i32, _Ds, ctypes.c_char_p)
_sig("dm_dataset_group", ctypes.c_void_p, _Ds, _c_size, _sizep)
_sig("dm_dataset_skipped_row", _status, _Ds, _c_size, _sizep, _charpp)
_sig("dm_dataset_write", _status, _Ds, ctypes.c_char_p, ctypes.c_int)
_sig("dm_dataset_select", _status, _Ds, _sizep, _c_size, ctypes.POINTER(_Ds))
for _name, _struct in OPTION_STRUCTS.items():
    _sig(_name + "_default", None, ctypes.POINTER(_struct))
_sig("dm_dataset_clean", _status, _Ds, ctypes.POINTER(_CleanOptions), ctypes.POINTER(_Ds), _voidpp)
_sig("dm_dataset_dedup", _status, _Ds, ctypes.POINTER(_DedupOptions), ctypes.POINTER(_Ds), _voidpp)
_sig("dm_dataset_leakage", _status, _Ds, ctypes.POINTER(_c_i32), _c_size, ctypes.POINTER(_DedupOptions),
     ctypes.POINTER(ctypes.c_uint64), _voidpp)
_sig("dm_dataset_conflicts", _status, _Ds, ctypes.c_int, ctypes.POINTER(_Ds), _voidpp)
_sig("dm_dataset_split", _status, _Ds, ctypes.POINTER(_SplitOptions), ctypes.POINTER(_c_i32), _voidpp)
_sig("dm_dataset_resample", _status, _Ds, ctypes.POINTER(_ResampleOptions), ctypes.POINTER(_Ds), _voidpp)
_sig("dm_dataset_class_weights", _status, _Ds, ctypes.POINTER(ctypes.c_double))
_sig("dm_dataset_augment", _status, _Ds, ctypes.POINTER(_AugmentOptions), ctypes.POINTER(_Ds), _voidpp)
_sig("dm_dataset_profile", _status, _Ds, ctypes.POINTER(_ProfileOptions), _voidpp)
_sig("dm_profile_html", _status, ctypes.c_char_p, _c_size, _voidpp, _sizep)

# ---------------------------------------------------------------------------- choices

CONFLICT_POLICY = {"keep": 0, "drop_all": 1, "majority": 2, "keep_first": 3}
GROUP_BY = {None: 0, "none": 0, "column": 1, "near_duplicates": 2}
RESAMPLE_STRATEGY = {"over": 0, "under": 1}
AUGMENT_OPS = {"eda": 1, "chars": 2}

# ---------------------------------------------------------------------------- helpers


def take_json(ptr):
    """Parses a NUL-terminated JSON buffer returned by the library and frees it."""
    if not ptr:
        return None
    try:
        return json.loads(ctypes.string_at(ptr).decode("utf-8", "replace"))
    finally:
        _lib.dm_free(ptr)


def take_string(ptr, n):
    """A str of N bytes at PTR (returned by the library), which is then freed."""
    try:
        return ctypes.string_at(ptr, n).decode("utf-8", "replace")
    finally:
        _lib.dm_free(ptr)


def _count(value, what, allow_none=False):
    """A non-negative integer option (None -> 0 with ALLOW_NONE: "no limit")."""
    if value is None and allow_none:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0 (got {value})")
    return _cint_value(value, what, "Q")  # size_t: 2**64 would wrap to 0


def _seed(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"seed must be an int, not {type(value).__name__}")
    if not 0 <= value < 2 ** 64:
        raise ValueError(f"seed must be in [0, 2**64) (got {value})")
    return int(value)


def _tokenizer_handle(tokenizer):
    if tokenizer is None:
        return None
    from . import Tokenizer
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a datamodel.Tokenizer, not {type(tokenizer).__name__}")
    return tokenizer._handle()


def _progress(opts, progress):
    """Sets OPTS.progress from a Python callable; returns the _Progress to keep alive and re-raise from."""
    cb = _Progress(progress)
    if progress is not None:
        opts.progress = cb.c
    return cb


def clean_options(nfkc, strip_control, strip_html, collapse_whitespace, trim, min_chars, max_chars, tokenizer,
                  min_tokens, max_tokens, drop_missing_labels, allowed_labels, progress):
    """(dm_clean_options, objects to keep alive, _Progress)."""
    o = _CleanOptions()
    _lib.dm_clean_options_default(ctypes.byref(o))
    o.nfkc = int(bool(nfkc))
    o.strip_control = int(bool(strip_control))
    o.strip_html = int(bool(strip_html))
    o.collapse_whitespace = int(bool(collapse_whitespace))
    o.trim = int(bool(trim))
    o.min_chars = _count(min_chars, "min_chars", True)
    o.max_chars = _count(max_chars, "max_chars", True)
    o.tokenizer = _tokenizer_handle(tokenizer)
    o.min_tokens = _count(min_tokens, "min_tokens", True)
    o.max_tokens = _count(max_tokens, "max_tokens", True)
    o.drop_missing_labels = int(bool(drop_missing_labels))
    keep = [tokenizer]
    if allowed_labels is not None:
        if isinstance(allowed_labels, (str, bytes)):
            raise TypeError("allowed_labels must be a list of label names, not a single string")
        data = [_bytes(s if isinstance(s, (str, bytes)) else str(s), "allowed label") for s in allowed_labels]
        arr = (ctypes.c_char_p * max(len(data), 1))(*data)
        keep += [data, arr]
        o.allowed_labels = arr
        o.n_allowed_labels = len(data)
    return o, keep, _progress(o, progress)


_DEDUP_KEYS = ("exact_only", "normalize", "ngram", "threshold", "num_perm", "bands", "rows_per_band", "verify",
               "seed", "threads", "report_pairs", "progress", "label_conflicts")


def dedup_options(exact_only=False, normalize=True, ngram=5, threshold=0.8, num_perm=128, bands=0, rows_per_band=0,
                  verify=True, seed=1, threads=0, report_pairs=False, progress=None, label_conflicts="keep"):
    """(dm_dedup_options, _Progress). Keyword defaults are the C defaults;
    LABEL_CONFLICTS is a CONFLICT_POLICY name (only dedup uses it)."""
    o = _DedupOptions()
    _lib.dm_dedup_options_default(ctypes.byref(o))
    o.exact_only = int(bool(exact_only))
    o.normalize = int(bool(normalize))
    o.ngram = _count(ngram, "ngram")
    o.threshold = float(threshold)
    o.num_perm = _count(num_perm, "num_perm")
    o.bands = _count(bands, "bands", True)
    o.rows_per_band = _count(rows_per_band, "rows_per_band", True)
    o.verify = int(bool(verify))
    o.seed = _seed(seed)
    o.threads = int(threads)
    o.report_pairs = int(bool(report_pairs))
    o.label_conflicts = _choice(CONFLICT_POLICY, label_conflicts, "label_conflicts")
    return o, _progress(o, progress)


def dedup_options_from(value, what):
    """(dm_dedup_options or None, _Progress) from None (library defaults) or a dict of dedup() keywords."""
    if value is None:
        return None, _Progress(None)
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be None or a dict of dedup options, not {type(value).__name__}")
    unknown = sorted(set(value) - set(_DEDUP_KEYS))
    if unknown:
        raise TypeError(f"{what}: unknown dedup option(s) {', '.join(map(repr, unknown))}; "
                        f"known: {', '.join(_DEDUP_KEYS)}")
    return dedup_options(**value)


def split_options(train, val, test, folds, stratify, group_by, seed, dedup):
    """(dm_split_options, objects to keep alive, _Progress of the dedup options)."""
    o = _SplitOptions()
    _lib.dm_split_options_default(ctypes.byref(o))
    o.train, o.val, o.test = float(train), float(val), float(test)
    o.folds = _count(folds, "folds", True)
    o.stratify = int(bool(stratify))
    o.group_by = _choice(GROUP_BY, group_by, "group_by")
    d, cb = dedup_options_from(dedup, "dedup")
    if d is not None:
        o.dedup = ctypes.pointer(d)
    o.seed = _seed(seed)
    return o, [d], cb


def augment_options(ops, n, alpha_sr, alpha_ri, alpha_rs, alpha_rd, alpha, char_rate, wordnet_dir, synonyms_path,
                    keep_original, seed, progress):
    """(dm_augment_options, objects to keep alive, _Progress)."""
    import os
    o = _AugmentOptions()
    _lib.dm_augment_options_default(ctypes.byref(o))
    if isinstance(ops, str):
        ops = (ops,)
    mask = 0
    for op in ops:
        mask |= _choice(AUGMENT_OPS, op, "augment op")
    o.ops = mask
    o.n = _count(n, "n")
    if alpha is not None:
        alpha_sr = alpha_ri = alpha_rs = alpha_rd = alpha
    o.alpha_sr, o.alpha_ri, o.alpha_rs, o.alpha_rd = (float(alpha_sr), float(alpha_ri), float(alpha_rs),
                                                      float(alpha_rd))
    o.char_rate = float(char_rate)
    keep = []
    for field, value in (("wordnet_dir", wordnet_dir), ("synonyms_path", synonyms_path)):
        if value is not None:
            b = os.fsencode(value)
            keep.append(b)
            setattr(o, field, b)
    o.keep_original = int(bool(keep_original))
    o.seed = _seed(seed)
    return o, keep, _progress(o, progress)


def profile_options(tokenizer, near_duplicates, dedup, clean_report, title, progress):
    """(dm_profile_options, objects to keep alive, [_Progress...])."""
    o = _ProfileOptions()
    _lib.dm_profile_options_default(ctypes.byref(o))
    o.tokenizer = _tokenizer_handle(tokenizer)
    o.near_duplicates = int(bool(near_duplicates))
    d, dcb = dedup_options_from(dedup, "dedup")
    if d is not None:
        o.dedup = ctypes.pointer(d)
    keep = [tokenizer, d]
    if clean_report is not None:
        if isinstance(clean_report, dict):
            clean_report = json.dumps(clean_report, ensure_ascii=False)
        b = _bytes(clean_report, "clean_report")
        keep.append(b)
        o.clean_report_json = b
    if title is not None:
        b = _bytes(title, "title")
        keep.append(b)
        o.title = b
    return o, keep, [_progress(o, progress), dcb]


def profile_html(profile):
    """A self-contained HTML page (inline CSS and SVG, no script) drawing a
    profile (dm_profile_html). PROFILE: the dict Dataset.profile() returns, or
    its JSON text (str or bytes)."""
    if isinstance(profile, dict):
        profile = json.dumps(profile, ensure_ascii=False)
    data = _bytes(profile, "profile")
    out = ctypes.c_void_p()
    n = _c_size()
    _check(_lib.dm_profile_html(data, len(data), ctypes.byref(out), ctypes.byref(n)))
    return take_string(out, n.value)
