"""Datasets (dm_dataset_*) and evaluation metrics (dm_metrics_compute,
dm_eval_report_*). Imported by datamodel/__init__.py; use `import datamodel`."""
import collections
import ctypes
import json
import numbers
import os

from . import _INVALID_UTF8, Error, _bytes, _c_i32, _c_size, _check, _choice, _int_array, _lib, _Owned, _SIZE_CODE, _sig

try:  # optional: accepted as input, never required
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the machine
    _np = None

# ---------------------------------------------------------------------------- C declarations


class _DatasetOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("format", ctypes.c_int), ("text_column", ctypes.c_char_p),
                ("pair_column", ctypes.c_char_p), ("label_column", ctypes.c_char_p),
                ("id_column", ctypes.c_char_p), ("require_labels", ctypes.c_int),
                ("labels", ctypes.POINTER(ctypes.c_char_p)), ("n_labels", _c_size),
                ("invalid_utf8", ctypes.c_int), ("bad_rows", ctypes.c_int), ("group_column", ctypes.c_char_p),
                ("key", ctypes.POINTER(ctypes.c_uint8))]


class _ClassMetrics(ctypes.Structure):
    _fields_ = [("precision", ctypes.c_double), ("recall", ctypes.c_double), ("f1", ctypes.c_double),
                ("support", ctypes.c_uint64), ("roc_auc", ctypes.c_double)]


class _EvalReport(ctypes.Structure):
    _fields_ = [("n_examples", _c_size), ("n_classes", _c_size), ("label_names", ctypes.POINTER(ctypes.c_char_p)),
                ("accuracy", ctypes.c_double), ("macro_precision", ctypes.c_double),
                ("macro_recall", ctypes.c_double), ("macro_f1", ctypes.c_double),
                ("weighted_precision", ctypes.c_double), ("weighted_recall", ctypes.c_double),
                ("weighted_f1", ctypes.c_double), ("log_loss", ctypes.c_double), ("roc_auc", ctypes.c_double),
                ("loss", ctypes.c_double), ("per_class", ctypes.POINTER(_ClassMetrics)),
                ("confusion", ctypes.POINTER(ctypes.c_uint64))]


_Ds = ctypes.c_void_p
_ReportP = ctypes.POINTER(_EvalReport)
_status = ctypes.c_int
_charpp = ctypes.POINTER(ctypes.c_char_p)
_sizep = ctypes.POINTER(_c_size)

_sig("dm_dataset_options_default", None, ctypes.POINTER(_DatasetOptions))
_sig("dm_dataset_load", _status, ctypes.c_char_p, ctypes.POINTER(_DatasetOptions), ctypes.POINTER(_Ds))
_sig("dm_dataset_from_texts", _status, _c_size, _charpp, _sizep, _charpp, _sizep, _charpp,
     ctypes.POINTER(_DatasetOptions), ctypes.POINTER(_Ds))
_sig("dm_dataset_free", None, _Ds)
_sig("dm_dataset_size", _c_size, _Ds)
_sig("dm_dataset_skipped", _c_size, _Ds)
# Returned as void* (not c_char_p): the texts have explicit lengths and may hold NUL bytes.
_sig("dm_dataset_text", ctypes.c_void_p, _Ds, _c_size, _sizep)
_sig("dm_dataset_pair", ctypes.c_void_p, _Ds, _c_size, _sizep)
_sig("dm_dataset_label", _c_i32, _Ds, _c_size)
_sig("dm_dataset_id", ctypes.c_char_p, _Ds, _c_size)
_sig("dm_dataset_num_labels", _c_size, _Ds)
_sig("dm_dataset_label_name", ctypes.c_char_p, _Ds, _c_i32)

_sig("dm_metrics_compute", _status, _c_size, _c_size, ctypes.POINTER(_c_i32), ctypes.POINTER(_c_i32),
     ctypes.POINTER(ctypes.c_float), _charpp, ctypes.POINTER(_ReportP))
_sig("dm_eval_report_json", _status, _ReportP, ctypes.POINTER(ctypes.c_void_p), _sizep)
_sig("dm_eval_report_text", _status, _ReportP, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), _sizep)
_sig("dm_eval_report_free", None, _ReportP)

_FORMAT = {None: 0, "auto": 0, "csv": 1, "tsv": 2, "jsonl": 3}
_BAD_ROWS = {"fail": 0, "skip": 1}
# Datasets add DM_UTF8_SKIP_ROW to the tokenizer's choices.
_DATASET_INVALID_UTF8 = dict(_INVALID_UTF8, skip_row=2)


def _text_of(data, what):
    """Bytes for C from str, bytes or any other value (str() of it: labels may be ints)."""
    if isinstance(data, (str, bytes, bytearray, memoryview)):
        return _bytes(data, what)
    return str(data).encode("utf-8")


def _c_strings(values, what):
    """A ctypes char* array of VALUES (None entries become NULL) and the list of
    bytes objects backing it (keep both alive during the call)."""
    data = [None if v is None else _text_of(v, what) for v in values]
    return (ctypes.c_char_p * max(len(data), 1))(*data), data


def _decode(ptr, n):
    return ctypes.string_at(ptr, n).decode("utf-8", "replace")


# ---------------------------------------------------------------------------- datasets

Row = collections.namedtuple("Row", ["text", "pair", "label", "id"])
Row.__doc__ = """One row of a Dataset: text, pair (None without a pair column), label
(its name, or None when the row has none) and id (a string)."""


class Dataset(_Owned):
    """Labelled text read from CSV, TSV or JSONL (or made from Python lists).

    len(ds), ds[i] (a Row), iteration (Rows), ds.text(i), ds.pair(i),
    ds.label(i) (label id in ds.labels, or None), ds.label_name(i) (row i's
    label name, or None), ds.id(i), ds.labels (the label set, in id order),
    ds.skipped (rows skipped when loading; ds.skipped_rows() says where and
    why), ds.label_id(name), ds.group(i). Negative indexes count from the end.

    Operations never change the dataset; they return new objects and, where
    the library reports what it did, a dict: write, select, clean, dedup,
    leakage, conflicts, split, split_datasets, resample, class_weights,
    augment, profile (draw it with datamodel.profile_html). Close it with
    close() or a `with` block (or let the garbage collector)."""

    def __init__(self, handle):
        if not handle:
            raise ValueError("use Dataset.load or Dataset.from_texts")
        self._h = handle

    @staticmethod
    def _options(format="auto", text_column=None, pair_column=None, label_column=None, id_column=None,
                 labels=None, require_labels=False, invalid_utf8="error", bad_rows="fail", group_column=None,
                 key=None):
        o = _DatasetOptions()
        _lib.dm_dataset_options_default(ctypes.byref(o))
        keep = []
        o.format = _choice(_FORMAT, format, "format")
        for field, value in (("text_column", text_column), ("pair_column", pair_column),
                             ("label_column", label_column), ("id_column", id_column),
                             ("group_column", group_column)):
            if value is not None:
                b = _bytes(value, field)
                keep.append(b)
                setattr(o, field, b)
        if labels is not None:
            if isinstance(labels, (str, bytes)):
                raise TypeError("labels must be a list of label names, not a single string")
            arr, data = _c_strings(list(labels), "label")
            if any(d is None for d in data):
                raise TypeError("labels must not contain None")
            keep += [arr, data]
            o.labels = arr
            o.n_labels = len(data)
        o.require_labels = int(bool(require_labels))
        o.invalid_utf8 = _choice(_DATASET_INVALID_UTF8, invalid_utf8, "invalid_utf8")
        o.bad_rows = _choice(_BAD_ROWS, bad_rows, "bad_rows")
        if key is not None:
            from ._crypt import _key
            k = _key(key)
            keep.append(k)
            o.key = ctypes.cast(k, ctypes.POINTER(ctypes.c_uint8))
        return o, keep

    @classmethod
    def load(cls, path, text_column=None, pair_column=None, label_column=None, id_column=None, format=None,
             labels=None, require_labels=False, invalid_utf8="error", bad_rows="fail", group_column=None,
             key=None):
        """Reads a CSV, TSV or JSONL file (dm_dataset_load).

        text_column: None picks the first of "sentence", "text", "review".
        pair_column: None for no text pair. label_column: None uses "label"
        when present; "" means no labels. id_column: None uses "id" when
        present, else 1-based row numbers. format: None/"auto" (from the
        extension), "csv", "tsv" or "jsonl". labels: a fixed label set, in id
        order (other labels fail the load). require_labels: fail on a row
        without a label. invalid_utf8: "error", "replace" or "skip_row" (the
        row is skipped and recorded). bad_rows: "fail" or "skip" (rows with a
        wrong field count). Skipped rows: .skipped and .skipped_rows().
        group_column: None for none, else a column (a group or annotator id)
        whose rows group-aware splits keep together (see .group(i)).
        key: None for a plain file; else 32 bytes (datamodel.read_key_file):
        the file is dm-encrypted and is decrypted in memory, never on disk,
        its format taken from the extension before ".enc" (data.csv.enc is
        CSV). An encrypted file without a key raises Error
        DM_ERR_INVALID_ARGUMENT saying it needs one; a wrong key or a
        tampered file DM_ERR_AUTH."""
        o, keep = cls._options(format, text_column, pair_column, label_column, id_column, labels, require_labels,
                               invalid_utf8, bad_rows, group_column, key)
        h = _Ds()
        _check(_lib.dm_dataset_load(os.fsencode(path), ctypes.byref(o), ctypes.byref(h)))
        del keep
        return cls(h)

    @classmethod
    def from_texts(cls, texts, labels=None, pairs=None, label_set=None, require_labels=False,
                   invalid_utf8="error"):
        """A dataset from memory (dm_dataset_from_texts): TEXTS (str or bytes),
        optional LABELS (one per text: a name, None or "" for no label; other
        values are converted with str()), optional PAIRS (one per text), and
        an optional fixed LABEL_SET (names in id order). Ids are the 1-based
        row numbers."""
        if isinstance(texts, (str, bytes)):
            raise TypeError("texts must be a list of texts, not a single string")
        texts = list(texts)
        n = len(texts)
        for name, seq in (("labels", labels), ("pairs", pairs)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"{n} texts but {len(seq)} {name}")
        o, keep = cls._options(labels=label_set, require_labels=require_labels, invalid_utf8=invalid_utf8)
        tdata = [_bytes(t, "text") for t in texts]
        tarr = (ctypes.c_char_p * max(n, 1))(*tdata)
        tlens = (_c_size * max(n, 1))(*map(len, tdata))
        parr = plens = larr = None
        if pairs is not None:
            pdata = [_bytes(t, "pair") for t in pairs]
            parr = (ctypes.c_char_p * max(n, 1))(*pdata)
            plens = (_c_size * max(n, 1))(*map(len, pdata))
        if labels is not None:
            larr, ldata = _c_strings(list(labels), "label")
            keep.append(ldata)
        h = _Ds()
        _check(_lib.dm_dataset_from_texts(n, tarr, tlens, parr, plens, larr, ctypes.byref(o), ctypes.byref(h)))
        del keep
        return cls(h)

    _FREE = "dm_dataset_free"
    _WHAT = "dataset"

    def _row(self, i):
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"row {i} out of range (the dataset has {n} rows)")
        return i

    # ---- rows
    def __len__(self):
        return _lib.dm_dataset_size(self._handle())

    def text(self, i):
        """Row I's text."""
        i = self._row(i)
        n = _c_size()
        p = _lib.dm_dataset_text(self._h, i, ctypes.byref(n))
        return _decode(p, n.value) if p else ""

    def pair(self, i):
        """Row I's text pair, or None when the dataset has no pair column."""
        i = self._row(i)
        n = _c_size()
        p = _lib.dm_dataset_pair(self._h, i, ctypes.byref(n))
        return None if not p else _decode(p, n.value)

    def label(self, i):
        """Row I's label id (an index into .labels), or None without a label."""
        v = _lib.dm_dataset_label(self._h, self._row(i))
        return None if v < 0 else v

    def label_name(self, i):
        """Row I's label name, or None without a label (for the name of a label
        id, index .labels)."""
        v = self.label(i)
        return None if v is None else self._label(v)

    def id(self, i):
        """Row I's id: the id column's value, or its 1-based row number."""
        s = _lib.dm_dataset_id(self._h, self._row(i))
        return None if s is None else s.decode("utf-8", "replace")

    def _label(self, id):
        s = _lib.dm_dataset_label_name(self._handle(), id)
        return None if s is None else s.decode("utf-8", "replace")

    @property
    def labels(self):
        """The label set: names in id order."""
        return [self._label(j) for j in range(_lib.dm_dataset_num_labels(self._handle()))]

    @property
    def skipped(self):
        """Rows skipped under bad_rows="skip"."""
        return _lib.dm_dataset_skipped(self._handle())

    def __getitem__(self, i):
        i = self._row(i)
        return Row(self.text(i), self.pair(i), self.label_name(i), self.id(i))

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        if not self._h:
            return "Dataset(closed)"
        return f"Dataset(rows={len(self)}, labels={self.labels})"

    # ---- lookups
    def label_id(self, name):
        """The id of label NAME in .labels, or None when it is not in the set."""
        v = _lib.dm_dataset_label_id(self._handle(), _text_of(name, "label name"))
        return None if v < 0 else v

    def group(self, i):
        """Row I's value in the group column, or None without a group column."""
        i = self._row(i)
        n = _c_size()
        p = _lib.dm_dataset_group(self._h, i, ctypes.byref(n))
        return None if not p else _decode(p, n.value)

    def skipped_rows(self):
        """The rows skipped when loading, as a list of (line, reason): the file
        line where the row starts and why it was skipped."""
        h = self._handle()
        line = _c_size()
        reason = ctypes.c_char_p()
        out = []
        for i in range(_lib.dm_dataset_skipped(h)):
            _check(_lib.dm_dataset_skipped_row(h, i, ctypes.byref(line), ctypes.byref(reason)))
            out.append((line.value, (reason.value or b"").decode("utf-8", "replace")))
        return out

    # ---- writing and subsets
    def write(self, path, format=None):
        """Writes every column to PATH (atomically) as format None/"auto" (from
        the extension), "csv", "tsv" or "jsonl" (dm_dataset_write). An "id"
        column comes first when the ids are row numbers."""
        _check(_lib.dm_dataset_write(self._handle(), os.fsencode(path), _choice(_FORMAT, format, "format")))

    def select(self, rows):
        """A new dataset of ROWS (indexes, in that order; repeats allowed;
        negative indexes count from the end), e.g. ds.select([0, 2, 2])."""
        n = len(self)
        if _np is not None and isinstance(rows, _np.ndarray):
            rows = rows.reshape(-1).tolist()
        idx = []
        for r in rows:
            if isinstance(r, bool) or not isinstance(r, numbers.Integral):
                raise TypeError(f"rows must be integers, not {type(r).__name__}")
            r = int(r)
            idx.append(r + n if r < 0 else r)
        if any(r < 0 for r in idx):
            bad = next(r - n for r in idx if r < 0)
            raise IndexError(f"row {bad} out of range (the dataset has {n} rows)")
        # Checked: ctypes would wrap 2**64 + 1 to row 1 (rows past the end fail in C, named).
        arr = (_c_size * max(len(idx), 1)).from_buffer(_int_array(idx or [0], "rows", _SIZE_CODE))
        h = _Ds()
        _check(_lib.dm_dataset_select(self._handle(), arr, len(idx), ctypes.byref(h)))
        return Dataset(h)

    # ---- operations (each returns new objects; the dataset itself never changes)
    def _derive(self, fn, opts, callbacks, *args):
        """Runs FN(ds, *ARGS, opts, &out, &report) and returns (Dataset, report dict)."""
        h = _Ds()
        rep = ctypes.c_void_p()
        st = fn(self._handle(), *args, opts, ctypes.byref(h), ctypes.byref(rep))
        out = Dataset(h) if not st and h else None
        report = _dataops.take_json(rep.value) if not st else None
        _reraise(callbacks, out)
        _check(st)
        return out, report

    def clean(self, nfkc=True, strip_control=True, strip_html=True, collapse_whitespace=True, trim=True,
              min_chars=1, max_chars=None, tokenizer=None, min_tokens=None, max_tokens=None,
              drop_missing_labels=True, allowed_labels=None, progress=None):
        """Cleans the text (and pair) of every row and drops rows failing a
        filter (dm_dataset_clean). Returns (Dataset, report): report keys
        rows_in, rows_out, changed {step: rows}, dropped {reason: rows},
        dropped_rows [{id, line, reason}].

        nfkc, strip_control, strip_html, collapse_whitespace, trim: the steps.
        min_chars / max_chars: text length bounds in code points after
        cleaning (min_chars=0 keeps empty texts; max_chars None: no limit).
        min_tokens / max_tokens: bounds in tokens of TOKENIZER (None: no
        limit). drop_missing_labels: drop rows without a label (when there is
        a label column). allowed_labels: None, or the labels to keep.
        progress(done, total) in rows; return True to cancel."""
        o, keep, cb = _dataops.clean_options(nfkc, strip_control, strip_html, collapse_whitespace, trim, min_chars,
                                             max_chars, tokenizer, min_tokens, max_tokens, drop_missing_labels,
                                             allowed_labels, progress)
        res = self._derive(_lib.dm_dataset_clean, ctypes.byref(o), [cb])
        del keep
        return res

    def dedup(self, exact_only=False, normalize=True, ngram=5, threshold=0.8, num_perm=128, bands=0,
              rows_per_band=0, verify=True, seed=1, threads=0, report_pairs=False, progress=None,
              label_conflicts="keep"):
        """Removes exact and near duplicates (MinHash LSH over character
        NGRAM shingles, Jaccard >= THRESHOLD), keeping the first row of each
        cluster, the first labelled one when an unlabelled copy comes first
        (dm_dataset_dedup). LABEL_CONFLICTS, for a cluster whose rows carry
        different labels: "keep" (the first row of each label: such copies
        are not merged), "drop_all" (the whole cluster), "majority" (the
        first row of the most frequent label; ties: the label seen first) or
        "keep_first" (the first labelled row). Returns (Dataset, report):
        report keys rows_in, rows_out, exact_duplicates, near_duplicates,
        near_pairs, candidate_pairs, num_perm, bands, rows_per_band,
        clusters [{kept (None when dropped), members, texts}],
        label_conflicts, conflicts, rows_in_conflict, conflict_rows_kept,
        conflict_rows_dropped, conflict_clusters [{ids, labels (None when
        unlabelled), kept}], pairs (with report_pairs: [[id, id,
        jaccard]]). bands/rows_per_band 0: chosen as datasketch does.
        threads 0: all cores. progress(done, total) in rows; return True to
        cancel."""
        o, cb = _dataops.dedup_options(exact_only, normalize, ngram, threshold, num_perm, bands, rows_per_band,
                                       verify, seed, threads, report_pairs, progress, label_conflicts)
        return self._derive(_lib.dm_dataset_dedup, ctypes.byref(o), [cb])

    def leakage(self, assign, n_parts=None, **dedup_options):
        """Counts duplicate pairs (exact or near, as the dedup() keywords say)
        whose rows lie in different parts (dm_dataset_leakage). ASSIGN: each
        row's part 0 .. n_parts-1, or -1 to leave the row out (a list or numpy
        array, e.g. split()'s). n_parts None: max(assign) + 1. Returns
        (cross_pairs, report): report keys exact_pairs, near_pairs, by_parts
        (n_parts x n_parts counts, upper triangle), examples [{a, b,
        jaccard}]."""
        if _np is not None and isinstance(assign, _np.ndarray):
            assign = assign.reshape(-1).tolist()
        assign = [int(a) for a in assign]
        n = len(self)
        if len(assign) != n:
            raise ValueError(f"assign has {len(assign)} entries but the dataset has {n} rows")
        if n_parts is None:
            n_parts = max(assign, default=-1) + 1
        n_parts = _dataops._count(n_parts, "n_parts")
        o, cb = _dataops.dedup_options(**dedup_options)
        # Checked: ctypes would wrap 2**32 to part 0.
        arr = (_c_i32 * max(n, 1)).from_buffer(_int_array(assign or [0], "assign", "i"))
        pairs = ctypes.c_uint64()
        rep = ctypes.c_void_p()
        st = _lib.dm_dataset_leakage(self._handle(), arr, n_parts, ctypes.byref(o), ctypes.byref(pairs),
                                     ctypes.byref(rep))
        report = _dataops.take_json(rep.value) if not st else None
        _reraise([cb])
        _check(st)
        return pairs.value, report

    def conflicts(self, policy="keep"):
        """Finds texts (equal after dedup normalisation, pairs included) that
        carry different labels (dm_dataset_conflicts). POLICY: "keep" (report
        only), "drop_all", "majority" or "keep_first". Returns (Dataset,
        report): report keys rows_in, rows_out, conflicts, rows_in_conflict,
        items [{text, labels {label: count}, ids, kept_label}]."""
        p = _choice(_dataops.CONFLICT_POLICY, policy, "policy")
        h = _Ds()
        rep = ctypes.c_void_p()
        _check(_lib.dm_dataset_conflicts(self._handle(), p, ctypes.byref(h), ctypes.byref(rep)))
        out = Dataset(h)
        return out, _dataops.take_json(rep.value)

    def split(self, train=0.8, val=0.1, test=0.1, folds=0, stratify=False, group_by=None, seed=42, dedup=None,
              return_numpy=False):
        """Assigns every row to a part (dm_dataset_split): 0 train, 1 val, 2
        test, or with folds=K >= 2 the fold 0 .. K-1. stratify keeps the label
        distribution per part; group_by None, "column" (the group column) or
        "near_duplicates" (clusters of duplicates, found with the DEDUP dict
        of dedup() keywords; None: defaults) keeps groups whole. Returns
        (assign, report): assign a list of ints (a numpy int32 array with
        return_numpy=True), report keys parts [{name, rows, per_class}],
        groups, seed."""
        o, keep, cb = _dataops.split_options(train, val, test, folds, stratify, group_by, seed, dedup)
        n = len(self)
        arr = (_c_i32 * max(n, 1))()
        rep = ctypes.c_void_p()
        st = _lib.dm_dataset_split(self._handle(), ctypes.byref(o), arr, ctypes.byref(rep))
        report = _dataops.take_json(rep.value) if not st else None
        _reraise([cb])
        _check(st)
        del keep
        if return_numpy:
            if _np is None:
                raise ImportError("return_numpy=True needs numpy")
            return _np.ctypeslib.as_array(arr)[:n].copy(), report
        return arr[:n], report

    def split_datasets(self, train=0.8, val=0.1, test=0.1, folds=0, stratify=False, group_by=None, seed=42,
                       dedup=None):
        """split() made into datasets: a dict {"train", "val", "test"} (or
        {"fold0" .. "fold<K-1>"} with folds=K) -> Dataset, rows in their
        original order; a part may be empty. The same keywords as split(),
        whose report this form leaves out."""
        assign, _ = self.split(train, val, test, folds, stratify, group_by, seed, dedup)
        names = [f"fold{k}" for k in range(folds)] if folds else ["train", "val", "test"]
        rows = {k: [] for k in range(len(names))}
        for i, a in enumerate(assign):
            rows[a].append(i)
        return {name: self.select(rows[k]) for k, name in enumerate(names)}

    def resample(self, strategy="over", target=None, seed=42):
        """Over- or under-samples the classes towards a target distribution
        (dm_dataset_resample). strategy "over" (repeat random rows of smaller
        classes) or "under" (drop random rows of larger ones). target None:
        uniform; a dict {label: weight} (labels missing from it weigh 0) or a
        list of weights in .labels order (any positive scale). Returns
        (Dataset, report): report keys rows_in, rows_out, before, after
        ({label: count})."""
        o = _dataops._ResampleOptions()
        _lib.dm_resample_options_default(ctypes.byref(o))
        o.strategy = _choice(_dataops.RESAMPLE_STRATEGY, strategy, "strategy")
        keep = None
        if target is not None:
            labels = self.labels
            if isinstance(target, dict):
                unknown = [k for k in target if str(k) not in labels]
                if unknown:
                    raise ValueError(f"target names label(s) not in the dataset: {unknown!r} (labels: {labels!r})")
                weights = {str(k): float(v) for k, v in target.items()}
                values = [weights.get(name, 0.0) for name in labels]
            else:
                values = [float(v) for v in target]
            keep = (ctypes.c_double * max(len(values), 1))(*values)
            o.target = keep
            o.n_target = len(values)
        o.seed = _dataops._seed(seed)
        res = self._derive(_lib.dm_dataset_resample, ctypes.byref(o), [])
        del keep
        return res

    def class_weights(self):
        """Class weights as scikit-learn's compute_class_weight("balanced"):
        a dict {label: n_rows / (n_classes * count)} over labelled rows (0 for
        a class with no rows) (dm_dataset_class_weights)."""
        labels = self.labels
        arr = (ctypes.c_double * max(len(labels), 1))()
        _check(_lib.dm_dataset_class_weights(self._handle(), arr))
        return {name: arr[j] for j, name in enumerate(labels)}

    def augment(self, ops=("eda",), n=4, alpha_sr=0.1, alpha_ri=0.1, alpha_rs=0.1, alpha_rd=0.1, alpha=None,
                char_rate=0.05, wordnet_dir=None, synonyms_path=None, keep_original=True, seed=42, progress=None):
        """New rows made from each row's text, label kept (dm_dataset_augment).
        ops: "eda" (synonym replacement, random insertion, swap, deletion),
        "chars" (typos, swaps, deletions), or a sequence of them. n: new rows
        per row. alpha_sr/ri/rs/rd: share of words changed per EDA operation
        (alpha sets all four). char_rate: share of characters changed by
        "chars". wordnet_dir: None for /usr/share/wordnet. synonyms_path: a
        file of synonym groups, one per line. keep_original: source rows come
        first. Returns (Dataset, report): report keys rows_in, rows_out, ops
        {op: count}, unchanged. New rows get ids "<id>#aug<k>" and a
        "source_id" column. progress(done, total) in rows; return True to
        cancel."""
        o, keep, cb = _dataops.augment_options(ops, n, alpha_sr, alpha_ri, alpha_rs, alpha_rd, alpha, char_rate,
                                               wordnet_dir, synonyms_path, keep_original, seed, progress)
        res = self._derive(_lib.dm_dataset_augment, ctypes.byref(o), [cb])
        del keep
        return res

    def profile(self, tokenizer=None, near_duplicates=True, clean_report=None, title=None, dedup=None,
                progress=None):
        """Profiles the dataset (dm_dataset_profile) as a dict: rows, columns,
        labels, per_class, imbalance_ratio, length_chars and length_tokens
        (with TOKENIZER), empty, exact_duplicates, near_duplicates (with
        near_duplicates=True, using the DEDUP dict of dedup() keywords),
        near_pairs, duplicate_clusters, conflicts, scripts, skipped_rows and
        clean (CLEAN_REPORT: the report clean() returned, drawn as a funnel).
        Draw it with datamodel.profile_html(profile). progress(done, total);
        return True to cancel."""
        o, keep, cbs = _dataops.profile_options(tokenizer, near_duplicates, dedup, clean_report, title, progress)
        rep = ctypes.c_void_p()
        st = _lib.dm_dataset_profile(self._handle(), ctypes.byref(o), ctypes.byref(rep))
        report = _dataops.take_json(rep.value) if not st else None
        _reraise(cbs)
        _check(st)
        del keep
        return report


def _reraise(callbacks, out=None):
    """Re-raises an exception from a progress callback once the C call has
    returned (closing OUT, a result the library made anyway)."""
    for cb in callbacks:
        if cb.error is not None:
            if out is not None:
                out.close()
            cb.reraise()


# ---------------------------------------------------------------------------- reports


class Report:
    """Classification metrics (dm_eval_report), copied into Python: it holds
    no C memory and needs no closing.

    Attributes: n_examples, n_classes, labels (class names), accuracy,
    macro_precision, macro_recall, macro_f1, weighted_precision,
    weighted_recall, weighted_f1, log_loss, roc_auc, loss (float; NaN when
    undefined or not available), per_class (a list of dicts with name,
    precision, recall, f1, support, roc_auc, in class order) and confusion (a
    list of n_classes rows of counts: row = true class, column = predicted).
    to_json() and text() format it with the library."""

    _SCALARS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision", "weighted_recall",
                "weighted_f1", "log_loss", "roc_auc", "loss")

    def __init__(self, c):
        """From a dm_eval_report (a _EvalReport structure)."""
        k = c.n_classes
        self.n_examples = c.n_examples
        self.n_classes = k
        self.labels = [c.label_names[j].decode("utf-8", "replace") for j in range(k)]
        for f in self._SCALARS:
            setattr(self, f, getattr(c, f))
        self.per_class = [{"name": self.labels[j], "precision": c.per_class[j].precision,
                           "recall": c.per_class[j].recall, "f1": c.per_class[j].f1,
                           "support": c.per_class[j].support, "roc_auc": c.per_class[j].roc_auc}
                          for j in range(k)]
        flat = c.confusion[:k * k]
        self.confusion = [flat[r * k:(r + 1) * k] for r in range(k)]

    @classmethod
    def _take(cls, ptr):
        """Copies a report returned by the library and frees it."""
        try:
            return cls(ptr.contents)
        finally:
            _lib.dm_eval_report_free(ptr)

    def _to_c(self):
        """A dm_eval_report in ctypes memory with the same content; returns the
        structure and the objects that must stay alive while C reads it."""
        k = self.n_classes
        names = [_bytes(n, "label name") for n in self.labels]
        arr = (ctypes.c_char_p * max(k, 1))(*names)
        per = (_ClassMetrics * max(k, 1))()
        for j, pc in enumerate(self.per_class):
            per[j] = _ClassMetrics(pc["precision"], pc["recall"], pc["f1"], pc["support"], pc["roc_auc"])
        conf = (ctypes.c_uint64 * max(k * k, 1))(*[v for row in self.confusion for v in row])
        c = _EvalReport(self.n_examples, k, arr, *[getattr(self, f) for f in self._SCALARS], per, conf)
        return c, (names, arr, per, conf)

    def _format(self, fn, *args):
        c, keep = self._to_c()
        out = ctypes.c_void_p()
        n = _c_size()
        _check(fn(ctypes.byref(c), *args, ctypes.byref(out), ctypes.byref(n)))
        del keep
        try:
            return ctypes.string_at(out, n.value).decode("utf-8", "replace")
        finally:
            _lib.dm_free(out)

    def to_json(self):
        """The library's JSON report (dm_eval_report_json) parsed into a dict:
        accuracy, macro/weighted averages, per_class (keyed by name),
        confusion_matrix, log_loss, roc_auc, labels (NaN as None). Label names
        must be distinct."""
        return json.loads(self._format(_lib.dm_eval_report_json))

    def text(self, digits=2):
        """The report laid out like scikit-learn's classification_report, with
        DIGITS decimals (0 to 100; 0 rounds to whole numbers, as
        classification_report(digits=0)), followed by the confusion matrix."""
        return self._format(_lib.dm_eval_report_text, int(digits))

    def __str__(self):
        return self.text()

    def __repr__(self):
        return (f"Report(n_examples={self.n_examples}, accuracy={self.accuracy:.4g}, macro_f1={self.macro_f1:.4g}, "
                f"labels={self.labels})")


def _int32_array(values, what):
    """(ctypes int32 array or pointer, keepalive, length) from a sequence or numpy array."""
    if _np is not None and isinstance(values, _np.ndarray):
        a = _np.ascontiguousarray(values, dtype=_np.int32).reshape(-1)
        return a.ctypes.data_as(ctypes.POINTER(_c_i32)), a, len(a)
    vals = [int(v) for v in values]
    return (_c_i32 * max(len(vals), 1))(*vals), None, len(vals)


def _float_matrix(rows, n_cols, what):
    """(float32 pointer, keepalive, n_rows, n_cols) of a 2-D sequence or numpy
    array; N_COLS None infers the width."""
    if _np is not None and isinstance(rows, _np.ndarray):
        a = _np.ascontiguousarray(rows, dtype=_np.float32)
        if a.ndim != 2:
            raise ValueError(f"{what} must be 2-D (got shape {a.shape})")
        return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), a, a.shape[0], a.shape[1]
    rows = [list(r) for r in rows]
    width = n_cols if n_cols is not None else (len(rows[0]) if rows else 0)
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"{what}[{i}] has {len(r)} values, expected {width}")
    flat = [float(v) for r in rows for v in r]
    return (ctypes.c_float * max(len(flat), 1))(*flat), None, len(rows), width


def metrics(y_true, y_pred, probs=None, labels=None, n_classes=None):
    """Classification metrics equal to scikit-learn's (dm_metrics_compute).

    y_true, y_pred: class ids 0 .. n_classes-1 (sequences or numpy arrays).
    probs: optional n x n_classes probabilities (for log_loss and roc_auc),
    used as given. labels: optional class names (default "0", "1", ...).
    n_classes: default len(labels), else the width of probs, else
    max(y_true + y_pred) + 1; one class is allowed, without probs (as
    classification_report(labels=[a])). roc_auc is the one-vs-rest macro
    average, NaN as scikit-learn's when any class's AUC is undefined (the
    others' are in per_class). Returns a Report."""
    if _np is None or not isinstance(y_true, _np.ndarray):
        y_true = list(y_true)
    if _np is None or not isinstance(y_pred, _np.ndarray):
        y_pred = list(y_pred)
    yt, keep_t, n = _int32_array(y_true, "y_true")
    yp, keep_p, n_pred = _int32_array(y_pred, "y_pred")
    if n_pred != n:
        raise ValueError(f"{n} true labels but {n_pred} predictions")
    if n_classes is None:
        if labels is not None:
            n_classes = len(labels)
        elif probs is not None and len(probs):
            n_classes = len(probs[0])
        else:
            ids = [int(v) for v in (list(y_true) + list(y_pred))]
            n_classes = max(ids) + 1 if ids else 0
    n_classes = int(n_classes)
    if n_classes < 0:
        raise Error(1, f"n_classes is negative ({n_classes})")
    if labels is not None and len(labels) != n_classes:
        raise ValueError(f"{len(labels)} label names for {n_classes} classes")
    pp = keep_probs = None
    if probs is not None:
        pp, keep_probs, rows, cols = _float_matrix(probs, None, "probs")
        if rows != n or cols != n_classes:
            raise ValueError(f"probs is {rows} x {cols}, expected {n} x {n_classes}")
    names = keep_names = None
    if labels is not None:
        names, keep_names = _c_strings(list(labels), "label name")
    out = _ReportP()
    _check(_lib.dm_metrics_compute(n, n_classes, yt, yp, pp, names, ctypes.byref(out)))
    del keep_t, keep_p, keep_probs, keep_names
    return Report._take(out)


from . import _dataops  # noqa: E402 - needs the names above; declares the operations' C functions
