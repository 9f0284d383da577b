package datamodel

// Dataset operations (datamodel.h, "Dataset operations"): writing, subsets,
// cleaning, deduplication, leakage, label conflicts, splits, resampling,
// class weights, augmentation and profiles.

/*
#include <stdint.h>
#include <stdlib.h>
#include <datamodel.h>

// Defined in progress.go (//export dmGoProgress).
extern int dmGoProgress(uint64_t done, uint64_t total, uintptr_t handle);

static int dm_go_ops_progress(uint64_t done, uint64_t total, void *user)
{
    return dmGoProgress(done, total, (uintptr_t)user);
}

// Set from C so that the handle (an integer) is never stored in a Go
// pointer-typed field. The options are C memory.
static void dm_go_set_clean_progress(dm_clean_options *o, uintptr_t h)
{
    o->progress = dm_go_ops_progress;
    o->progress_user = (void *)h;
}

static void dm_go_set_dedup_progress(dm_dedup_options *o, uintptr_t h)
{
    o->progress = dm_go_ops_progress;
    o->progress_user = (void *)h;
}

static void dm_go_set_augment_progress(dm_augment_options *o, uintptr_t h)
{
    o->progress = dm_go_ops_progress;
    o->progress_user = (void *)h;
}

static void dm_go_set_profile_progress(dm_profile_options *o, uintptr_t h)
{
    o->progress = dm_go_ops_progress;
    o->progress_user = (void *)h;
}
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// OpReport is the JSON report of a dataset operation, decoded with
// encoding/json (numbers are float64, objects map[string]any, arrays
// []any). Its keys are documented with each operation and only ever added
// to. (Report is the classification report of Metrics and Evaluate.)
type OpReport map[string]any

// errDatasetClosed is returned by the operations of a closed (or nil) Dataset.
func errDatasetClosed(op string) error {
	return newError(StatusInvalidArgument, "%s: the dataset is closed or nil", op)
}

// errNotDefault is returned for an options struct that was not made by its
// DefaultXxxOptions constructor: its zero value would turn every step off
// and zero every threshold, which is never what a caller means.
func errNotDefault(what string) error {
	return newError(StatusInvalidArgument,
		"%s: start from Default%s() (the zero value is not the library's defaults)", what, what)
}

// cArena holds the C memory of one call's options; free releases it all.
type cArena struct {
	ptrs    []unsafe.Pointer
	handles []cgo.Handle
}

func (a *cArena) calloc(size C.size_t) unsafe.Pointer {
	p := C.calloc(1, size)
	a.ptrs = append(a.ptrs, p)
	return p
}

func (a *cArena) str(what, s string) (*C.char, error) {
	cs, err := cPath(what, s)
	if err != nil {
		return nil, err
	}
	a.ptrs = append(a.ptrs, unsafe.Pointer(cs))
	return cs, nil
}

// strings copies ss into a C array of NUL-terminated strings.
func (a *cArena) strings(what string, ss []string) (**C.char, error) {
	if err := checkNoNUL(what, ss); err != nil {
		return nil, err
	}
	b := newCStringBlock(ss)
	a.ptrs = append(a.ptrs, b.mem)
	return b.ptrs[0], nil
}

// progress registers fn for the C call; the handle lives until free.
func (a *cArena) progress(fn ProgressFunc) (*progressState, C.uintptr_t) {
	p := &progressState{fn: fn}
	h := cgo.NewHandle(p)
	a.handles = append(a.handles, h)
	return p, C.uintptr_t(h)
}

func (a *cArena) free() {
	for _, p := range a.ptrs {
		C.free(p)
	}
	for _, h := range a.handles {
		h.Delete()
	}
	a.ptrs, a.handles = nil, nil
}

// takeReport decodes a JSON report the library returned, then frees it.
func takeOpReport(p *C.char) (OpReport, error) {
	if p == nil {
		return nil, nil
	}
	data := C.GoString(p)
	C.dm_free(unsafe.Pointer(p))
	var r OpReport
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return nil, newError(StatusInternal, "the library returned a report that is not valid JSON: %v", err)
	}
	return r, nil
}

func nonNegative(what string, v int) (C.size_t, error) {
	if v < 0 {
		return 0, newError(StatusInvalidArgument, "%s must be >= 0 (got %d)", what, v)
	}
	return C.size_t(v), nil
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// rethrowAll re-raises a panic of any progress callback of the call.
func rethrowAll(ps ...*progressState) {
	for _, p := range ps {
		p.rethrow()
	}
}

// finish turns the result of an operation that makes a dataset into Go
// values: on success the new Dataset and its decoded report. A panic in a
// progress callback is raised again once the C memory is released.
func finish(err error, out *C.dm_dataset, rep *C.char, ps ...*progressState) (*Dataset, OpReport, error) {
	if err != nil {
		rethrowAll(ps...)
		return nil, nil, err
	}
	ds := newDataset(out)
	r, rerr := takeOpReport(rep)
	for _, p := range ps {
		if p != nil && p.panicked { // the library ignored the cancel
			ds.Close()
			p.rethrow()
		}
	}
	if rerr != nil {
		ds.Close()
		return nil, nil, rerr
	}
	return ds, r, nil
}

// ---------------------------------------------------------------- rows, writing, subsets

// LabelID returns the id of label name in the label set, or -1
// (dm_dataset_label_id).
func (d *Dataset) LabelID(name string) int {
	if d.closed() {
		return -1
	}
	cs, err := cPath("label name", name)
	if err != nil {
		return -1
	}
	defer C.free(unsafe.Pointer(cs))
	v := C.dm_dataset_label_id(d.p, cs)
	runtime.KeepAlive(d)
	return int(v)
}

// Group returns row i's value in the group column, and false when the
// dataset has no group column (dm_dataset_group).
func (d *Dataset) Group(i int) (string, bool) {
	var n C.size_t
	p := C.dm_dataset_group(d.p, d.row(i), &n)
	if p == nil {
		runtime.KeepAlive(d)
		return "", false
	}
	s := C.GoStringN(p, C.int(n))
	runtime.KeepAlive(d)
	return s, true
}

// SkippedRow is a row skipped when loading: the file line where it starts
// and why it was skipped.
type SkippedRow struct {
	Line   int
	Reason string
}

// SkippedRows returns the rows skipped when loading (dm_dataset_skipped_row).
func (d *Dataset) SkippedRows() ([]SkippedRow, error) {
	if d.closed() {
		return nil, errDatasetClosed("SkippedRows")
	}
	n := d.Skipped()
	out := make([]SkippedRow, 0, n)
	for i := 0; i < n; i++ {
		var line C.size_t
		var reason *C.char
		if err := call(func() C.dm_status {
			return C.dm_dataset_skipped_row(d.p, C.size_t(i), &line, &reason)
		}); err != nil {
			return nil, err
		}
		out = append(out, SkippedRow{Line: int(line), Reason: C.GoString(reason)})
	}
	runtime.KeepAlive(d)
	return out, nil
}

// Write writes the dataset to path, atomically, as format (FormatAuto: from
// the extension) (dm_dataset_write). Every column is written; an "id" column
// comes first when the ids are row numbers.
func (d *Dataset) Write(path string, format Format) error {
	if d.closed() {
		return errDatasetClosed("Write")
	}
	cs, err := cPath("Write path", path)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cs))
	if err := checkCInts(namedInt{"Write format", int(format)}); err != nil {
		return err
	}
	err = call(func() C.dm_status { return C.dm_dataset_write(d.p, cs, C.dm_file_format(format)) })
	runtime.KeepAlive(d)
	return err
}

// Select returns a dataset of the given rows, in that order; a row may
// appear more than once (dm_dataset_select). An index out of range gives a
// StatusRange error naming it.
func (d *Dataset) Select(rows []int) (*Dataset, error) {
	if d.closed() {
		return nil, errDatasetClosed("Select")
	}
	n := len(rows)
	var a cArena
	defer a.free()
	var crows *C.size_t
	if n > 0 {
		crows = (*C.size_t)(a.calloc(C.size_t(n) * sizeSize))
		cs := unsafe.Slice(crows, n)
		for i, r := range rows {
			if r < 0 {
				return nil, newError(StatusRange, "Select: rows[%d] = %d is negative", i, r)
			}
			cs[i] = C.size_t(r)
		}
	}
	var out *C.dm_dataset
	err := call(func() C.dm_status { return C.dm_dataset_select(d.p, crows, C.size_t(n), &out) })
	runtime.KeepAlive(d)
	if err != nil {
		return nil, err
	}
	return newDataset(out), nil
}

// ---------------------------------------------------------------- cleaning

// CleanOptions are the options of Clean. Start from DefaultCleanOptions().
type CleanOptions struct {
	NFKC               bool // Unicode NFKC
	StripControl       bool // remove a BOM, control and format characters (emoji joiners kept)
	StripHTML          bool // remove tags, comments, script/style bodies; decode entities
	CollapseWhitespace bool // runs of Unicode whitespace -> one space
	Trim               bool // no leading or trailing whitespace
	// MinChars drops shorter texts (code points, after cleaning); 0 keeps
	// empty texts. MaxChars 0: no limit.
	MinChars, MaxChars int
	// Tokenizer counts tokens (no special tokens) for MinTokens/MaxTokens
	// (0: no limit).
	Tokenizer            *Tokenizer
	MinTokens, MaxTokens int
	// DropMissingLabels drops rows without a label (with a label column).
	DropMissingLabels bool
	// AllowedLabels: nil keeps any label; else rows with other labels are
	// dropped as "unknown label".
	AllowedLabels []string
	// Progress receives done/total in rows. May be nil.
	Progress ProgressFunc

	valid bool
}

// DefaultCleanOptions returns the library's defaults (dm_clean_options_default).
func DefaultCleanOptions() CleanOptions {
	var c C.dm_clean_options
	C.dm_clean_options_default(&c)
	return CleanOptions{NFKC: c.nfkc != 0, StripControl: c.strip_control != 0, StripHTML: c.strip_html != 0,
		CollapseWhitespace: c.collapse_whitespace != 0, Trim: c.trim != 0, MinChars: int(c.min_chars),
		MaxChars: int(c.max_chars), MinTokens: int(c.min_tokens), MaxTokens: int(c.max_tokens),
		DropMissingLabels: c.drop_missing_labels != 0, valid: true}
}

func (o *CleanOptions) toC(a *cArena) (*C.dm_clean_options, *progressState, error) {
	if !o.valid {
		return nil, nil, errNotDefault("CleanOptions")
	}
	c := (*C.dm_clean_options)(a.calloc(C.sizeof_dm_clean_options))
	C.dm_clean_options_default(c)
	c.nfkc, c.strip_control, c.strip_html = cBool(o.NFKC), cBool(o.StripControl), cBool(o.StripHTML)
	c.collapse_whitespace, c.trim = cBool(o.CollapseWhitespace), cBool(o.Trim)
	var err error
	for _, f := range []struct {
		what string
		v    int
		dst  *C.size_t
	}{{"CleanOptions.MinChars", o.MinChars, &c.min_chars}, {"CleanOptions.MaxChars", o.MaxChars, &c.max_chars},
		{"CleanOptions.MinTokens", o.MinTokens, &c.min_tokens}, {"CleanOptions.MaxTokens", o.MaxTokens, &c.max_tokens}} {
		if *f.dst, err = nonNegative(f.what, f.v); err != nil {
			return nil, nil, err
		}
	}
	if o.Tokenizer != nil {
		if o.Tokenizer.closed() {
			return nil, nil, newError(StatusInvalidArgument, "CleanOptions.Tokenizer is closed")
		}
		c.tokenizer = o.Tokenizer.p
	}
	c.drop_missing_labels = cBool(o.DropMissingLabels)
	if o.AllowedLabels != nil {
		if c.allowed_labels, err = a.strings("CleanOptions.AllowedLabels", o.AllowedLabels); err != nil {
			return nil, nil, err
		}
		c.n_allowed_labels = C.size_t(len(o.AllowedLabels))
	}
	var p *progressState
	if o.Progress != nil {
		var h C.uintptr_t
		p, h = a.progress(o.Progress)
		C.dm_go_set_clean_progress(c, h)
	}
	return c, p, nil
}

// Clean cleans the text (and pair) of every row and drops rows that fail a
// filter (dm_dataset_clean). Report keys: rows_in, rows_out, changed (per
// step), dropped (per reason), dropped_rows ([{id, line, reason}]).
func (d *Dataset) Clean(opts CleanOptions) (*Dataset, OpReport, error) {
	if d.closed() {
		return nil, nil, errDatasetClosed("Clean")
	}
	var a cArena
	defer a.free()
	c, p, err := opts.toC(&a)
	if err != nil {
		return nil, nil, err
	}
	var out *C.dm_dataset
	var rep *C.char
	err = call(func() C.dm_status { return C.dm_dataset_clean(d.p, c, &out, &rep) })
	runtime.KeepAlive(d)
	runtime.KeepAlive(opts.Tokenizer)
	return finish(err, out, rep, p)
}

// ---------------------------------------------------------------- deduplication and leakage

// DedupOptions are the options of Dedup and Leakage (and of near-duplicate
// groups in Split and Profile). Start from DefaultDedupOptions().
type DedupOptions struct {
	ExactOnly bool // only exact duplicates
	Normalize bool // compare after NFKC, case folding and whitespace collapsing
	NGram     int  // shingles are character n-grams (code points)
	Threshold float64
	NumPerm   int // MinHash permutations
	// Bands and RowsPerBand: 0 chooses them as datasketch's MinHashLSH does.
	Bands, RowsPerBand int
	// Verify counts a candidate pair only when the exact Jaccard of its
	// shingle sets reaches Threshold.
	Verify      bool
	Seed        uint64
	Threads     int  // 0: all cores
	ReportPairs bool // the report lists every near-duplicate pair
	// Progress receives done/total in rows. May be nil.
	Progress ProgressFunc
	// LabelConflicts says what Dedup does with a cluster whose rows carry
	// different labels (the report lists each such cluster with its ids and
	// labels): ConflictKeep (the default) keeps the first row of each label,
	// ConflictDropAll drops the whole cluster, ConflictMajority keeps the
	// first row of its most frequent label (ties: the label seen first),
	// ConflictKeepFirst keeps the first labelled row.
	LabelConflicts ConflictPolicy

	valid bool
}

// DefaultDedupOptions returns the library's defaults (dm_dedup_options_default).
func DefaultDedupOptions() DedupOptions {
	var c C.dm_dedup_options
	C.dm_dedup_options_default(&c)
	return DedupOptions{ExactOnly: c.exact_only != 0, Normalize: c.normalize != 0, NGram: int(c.ngram),
		Threshold: float64(c.threshold), NumPerm: int(c.num_perm), Bands: int(c.bands),
		RowsPerBand: int(c.rows_per_band), Verify: c.verify != 0, Seed: uint64(c.seed), Threads: int(c.threads),
		ReportPairs: c.report_pairs != 0, LabelConflicts: ConflictPolicy(c.label_conflicts), valid: true}
}

func (o *DedupOptions) toC(a *cArena) (*C.dm_dedup_options, *progressState, error) {
	if !o.valid {
		return nil, nil, errNotDefault("DedupOptions")
	}
	c := (*C.dm_dedup_options)(a.calloc(C.sizeof_dm_dedup_options))
	C.dm_dedup_options_default(c)
	c.exact_only, c.normalize, c.verify = cBool(o.ExactOnly), cBool(o.Normalize), cBool(o.Verify)
	var err error
	for _, f := range []struct {
		what string
		v    int
		dst  *C.size_t
	}{{"DedupOptions.NGram", o.NGram, &c.ngram}, {"DedupOptions.NumPerm", o.NumPerm, &c.num_perm},
		{"DedupOptions.Bands", o.Bands, &c.bands}, {"DedupOptions.RowsPerBand", o.RowsPerBand, &c.rows_per_band}} {
		if *f.dst, err = nonNegative(f.what, f.v); err != nil {
			return nil, nil, err
		}
	}
	if o.Threads < math.MinInt32 || o.Threads > math.MaxInt32 {
		return nil, nil, newError(StatusInvalidArgument, "DedupOptions.Threads %d is out of range", o.Threads)
	}
	c.threshold = C.double(o.Threshold)
	c.seed = C.uint64_t(o.Seed)
	c.threads = C.int(o.Threads)
	c.report_pairs = cBool(o.ReportPairs)
	if o.LabelConflicts < math.MinInt32 || o.LabelConflicts > math.MaxInt32 {
		return nil, nil, newError(StatusInvalidArgument, "DedupOptions.LabelConflicts %d is out of range", o.LabelConflicts)
	}
	c.label_conflicts = C.int(o.LabelConflicts) // other values are passed on: the library names them
	var p *progressState
	if o.Progress != nil {
		var h C.uintptr_t
		p, h = a.progress(o.Progress)
		C.dm_go_set_dedup_progress(c, h)
	}
	return c, p, nil
}

// Dedup removes exact and near duplicates, keeping the first row of each
// cluster, the first labelled one when an unlabelled copy comes first; a
// cluster whose rows carry different labels keeps what opts.LabelConflicts
// says (dm_dataset_dedup). Report keys: rows_in, rows_out,
// exact_duplicates, near_duplicates, near_pairs, candidate_pairs, num_perm,
// bands, rows_per_band, clusters ([{kept (null when dropped), members,
// texts}]), label_conflicts ("keep", "drop_all", "majority",
// "keep_first"), conflicts, rows_in_conflict, conflict_rows_kept,
// conflict_rows_dropped, conflict_clusters ([{ids, labels (null when
// unlabelled), kept}]), pairs (with ReportPairs: [[id, id, jaccard], ...]).
func (d *Dataset) Dedup(opts DedupOptions) (*Dataset, OpReport, error) {
	if d.closed() {
		return nil, nil, errDatasetClosed("Dedup")
	}
	var a cArena
	defer a.free()
	c, p, err := opts.toC(&a)
	if err != nil {
		return nil, nil, err
	}
	var out *C.dm_dataset
	var rep *C.char
	err = call(func() C.dm_status { return C.dm_dataset_dedup(d.p, c, &out, &rep) })
	runtime.KeepAlive(d)
	return finish(err, out, rep, p)
}

// Leakage counts duplicate pairs (exact or near, as opts says) whose rows lie
// in different parts (dm_dataset_leakage). assign has one entry per row: its
// part 0 .. nParts-1, or -1 to leave the row out (Split's result fits);
// nParts 0 takes max(assign)+1. It returns the number of such pairs and the
// report: exact_pairs, near_pairs, by_parts (nParts x nParts counts, upper
// triangle), examples ([{a, b, jaccard}], up to 20).
func (d *Dataset) Leakage(assign []int, nParts int, opts DedupOptions) (uint64, OpReport, error) {
	if d.closed() {
		return 0, nil, errDatasetClosed("Leakage")
	}
	if n := d.Len(); len(assign) != n {
		return 0, nil, newError(StatusInvalidArgument, "Leakage: assign has %d entries but the dataset has %d rows",
			len(assign), n)
	}
	if nParts < 0 {
		return 0, nil, newError(StatusInvalidArgument, "Leakage: nParts %d is negative", nParts)
	}
	if nParts == 0 {
		for _, v := range assign {
			if v+1 > nParts {
				nParts = v + 1
			}
		}
	}
	var a cArena
	defer a.free()
	c, p, err := opts.toC(&a)
	if err != nil {
		return 0, nil, err
	}
	var cassign *C.int32_t
	if len(assign) > 0 {
		cassign = (*C.int32_t)(a.calloc(C.size_t(len(assign)) * 4))
		cs := unsafe.Slice(cassign, len(assign))
		for i, v := range assign {
			if v < math.MinInt32 || v > math.MaxInt32 {
				return 0, nil, newError(StatusInvalidArgument, "Leakage: assign[%d] = %d is out of range", i, v)
			}
			cs[i] = C.int32_t(v)
		}
	}
	var pairs C.uint64_t
	var rep *C.char
	err = call(func() C.dm_status {
		return C.dm_dataset_leakage(d.p, cassign, C.size_t(nParts), c, &pairs, &rep)
	})
	runtime.KeepAlive(d)
	if err != nil {
		p.rethrow()
		return 0, nil, err
	}
	r, err := takeOpReport(rep)
	p.rethrow()
	if err != nil {
		return 0, nil, err
	}
	return uint64(pairs), r, nil
}

// ---------------------------------------------------------------- label conflicts

// ConflictPolicy says what Conflicts does with texts that carry different
// labels (dm_conflict_policy).
type ConflictPolicy int

const (
	ConflictKeep      ConflictPolicy = C.DM_CONFLICT_KEEP       // report only; every row kept
	ConflictDropAll   ConflictPolicy = C.DM_CONFLICT_DROP_ALL   // drop every row of a conflicting text
	ConflictMajority  ConflictPolicy = C.DM_CONFLICT_MAJORITY   // keep the most frequent label's rows (ties: first seen)
	ConflictKeepFirst ConflictPolicy = C.DM_CONFLICT_KEEP_FIRST // keep the rows with the first row's label
)

// Conflicts finds texts (equal after Dedup's normalisation, pairs included)
// that carry different labels, and applies policy (dm_dataset_conflicts).
// Report keys: rows_in, rows_out, conflicts, rows_in_conflict, items ([{text,
// labels: {label: count}, ids, kept_label}]).
func (d *Dataset) Conflicts(policy ConflictPolicy) (*Dataset, OpReport, error) {
	if d.closed() {
		return nil, nil, errDatasetClosed("Conflicts")
	}
	var out *C.dm_dataset
	var rep *C.char
	// Values out of range are passed on: the library names the policy.
	err := call(func() C.dm_status { return C.dm_dataset_conflicts(d.p, C.dm_conflict_policy(policy), &out, &rep) })
	runtime.KeepAlive(d)
	return finish(err, out, rep)
}

// ---------------------------------------------------------------- splits

// GroupBy says which rows a split keeps together (dm_group_by).
type GroupBy int

const (
	GroupNone           GroupBy = C.DM_GROUP_NONE
	GroupColumn         GroupBy = C.DM_GROUP_COLUMN          // the dataset's group column (DatasetOptions.GroupColumn)
	GroupNearDuplicates GroupBy = C.DM_GROUP_NEAR_DUPLICATES // clusters of exact and near duplicates
)

// SplitOptions are the options of Split. Start from DefaultSplitOptions().
type SplitOptions struct {
	// Train, Val, Test: fractions in [0, 1] summing to 1.
	Train, Val, Test float64
	// Folds 0: train/val/test; K >= 2: K folds instead.
	Folds    int
	Stratify bool // each part keeps the label distribution
	GroupBy  GroupBy
	// Dedup is for GroupNearDuplicates; nil: defaults.
	Dedup *DedupOptions
	Seed  uint64

	valid bool
}

// DefaultSplitOptions returns the library's defaults (dm_split_options_default).
func DefaultSplitOptions() SplitOptions {
	var c C.dm_split_options
	C.dm_split_options_default(&c)
	return SplitOptions{Train: float64(c.train), Val: float64(c.val), Test: float64(c.test), Folds: int(c.folds),
		Stratify: c.stratify != 0, GroupBy: GroupBy(c.group_by), Seed: uint64(c.seed), valid: true}
}

// Split assigns every row to a part (dm_dataset_split): the result has one
// entry per row, 0 (train), 1 (val) or 2 (test), or the fold 0 .. K-1.
// Report keys: parts ([{name, rows, per_class}]), groups, seed.
func (d *Dataset) Split(opts SplitOptions) ([]int, OpReport, error) {
	if d.closed() {
		return nil, nil, errDatasetClosed("Split")
	}
	if !opts.valid {
		return nil, nil, errNotDefault("SplitOptions")
	}
	var a cArena
	defer a.free()
	c := (*C.dm_split_options)(a.calloc(C.sizeof_dm_split_options))
	C.dm_split_options_default(c)
	c.train, c.val, c.test = C.double(opts.Train), C.double(opts.Val), C.double(opts.Test)
	var err error
	if c.folds, err = nonNegative("SplitOptions.Folds", opts.Folds); err != nil {
		return nil, nil, err
	}
	c.stratify = cBool(opts.Stratify)
	if err := checkCInts(namedInt{"SplitOptions.GroupBy", int(opts.GroupBy)}); err != nil {
		return nil, nil, err
	}
	c.group_by = C.dm_group_by(opts.GroupBy)
	var p *progressState
	if opts.Dedup != nil {
		if c.dedup, p, err = opts.Dedup.toC(&a); err != nil {
			return nil, nil, err
		}
	}
	c.seed = C.uint64_t(opts.Seed)
	n := d.Len()
	cassign := (*C.int32_t)(a.calloc(C.size_t(n+1) * 4))
	var rep *C.char
	err = call(func() C.dm_status { return C.dm_dataset_split(d.p, c, cassign, &rep) })
	runtime.KeepAlive(d)
	if err != nil {
		p.rethrow()
		return nil, nil, err
	}
	r, err := takeOpReport(rep)
	p.rethrow()
	if err != nil {
		return nil, nil, err
	}
	assign := make([]int, n)
	for i, v := range unsafe.Slice(cassign, n) {
		assign[i] = int(v)
	}
	return assign, r, nil
}

// SplitDatasets is Split made into datasets: "train", "val" and "test" (or
// "fold0" .. "fold<K-1>"), rows in their original order; a part may be
// empty. Close each dataset when done.
func (d *Dataset) SplitDatasets(opts SplitOptions) (map[string]*Dataset, error) {
	assign, _, err := d.Split(opts)
	if err != nil {
		return nil, err
	}
	names := []string{"train", "val", "test"}
	if opts.Folds > 0 {
		names = make([]string, opts.Folds)
		for k := range names {
			names[k] = fmt.Sprintf("fold%d", k)
		}
	}
	rows := make([][]int, len(names))
	for i, v := range assign {
		if v < 0 || v >= len(names) {
			return nil, newError(StatusInternal, "SplitDatasets: row %d was assigned part %d", i, v)
		}
		rows[v] = append(rows[v], i)
	}
	out := make(map[string]*Dataset, len(names))
	for k, name := range names {
		ds, err := d.Select(rows[k])
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out[name] = ds
	}
	return out, nil
}

// ---------------------------------------------------------------- resampling and class weights

// ResampleStrategy is how Resample reaches the target (dm_resample_strategy).
type ResampleStrategy int

const (
	ResampleOver  ResampleStrategy = C.DM_RESAMPLE_OVER  // repeat random rows of smaller classes
	ResampleUnder ResampleStrategy = C.DM_RESAMPLE_UNDER // drop random rows of larger classes
)

// ResampleOptions are the options of Resample. Start from
// DefaultResampleOptions().
type ResampleOptions struct {
	Strategy ResampleStrategy
	// Target, when not nil, is the wanted distribution: one weight per
	// label in Labels() order (any positive scale). TargetByLabel gives it
	// by label name instead (labels missing from it weigh 0). Both nil:
	// uniform. Set at most one.
	Target        []float64
	TargetByLabel map[string]float64
	Seed          uint64

	valid bool
}

// DefaultResampleOptions returns the library's defaults
// (dm_resample_options_default).
func DefaultResampleOptions() ResampleOptions {
	var c C.dm_resample_options
	C.dm_resample_options_default(&c)
	return ResampleOptions{Strategy: ResampleStrategy(c.strategy), Seed: uint64(c.seed), valid: true}
}

// Resample over- or under-samples the classes towards the target
// (dm_dataset_resample). Report keys: rows_in, rows_out, before, after
// ({label: count}).
func (d *Dataset) Resample(opts ResampleOptions) (*Dataset, OpReport, error) {
	if d.closed() {
		return nil, nil, errDatasetClosed("Resample")
	}
	if !opts.valid {
		return nil, nil, errNotDefault("ResampleOptions")
	}
	target := opts.Target
	if opts.TargetByLabel != nil {
		if target != nil {
			return nil, nil, newError(StatusInvalidArgument, "ResampleOptions: set Target or TargetByLabel, not both")
		}
		labels := d.Labels()
		target = make([]float64, len(labels))
		known := make(map[string]int, len(labels))
		for j, name := range labels {
			known[name] = j
		}
		for name, w := range opts.TargetByLabel {
			j, ok := known[name]
			if !ok {
				return nil, nil, newError(StatusInvalidArgument,
					"ResampleOptions.TargetByLabel: label %q is not in the dataset (labels: %q)", name, labels)
			}
			target[j] = w
		}
	}
	var a cArena
	defer a.free()
	c := (*C.dm_resample_options)(a.calloc(C.sizeof_dm_resample_options))
	C.dm_resample_options_default(c)
	if err := checkCInts(namedInt{"ResampleOptions.Strategy", int(opts.Strategy)}); err != nil {
		return nil, nil, err
	}
	c.strategy = C.dm_resample_strategy(opts.Strategy)
	if target != nil {
		ct := (*C.double)(a.calloc(C.size_t(len(target)+1) * 8))
		for j, w := range target {
			unsafe.Slice(ct, len(target))[j] = C.double(w)
		}
		c.target, c.n_target = ct, C.size_t(len(target))
	}
	c.seed = C.uint64_t(opts.Seed)
	var out *C.dm_dataset
	var rep *C.char
	err := call(func() C.dm_status { return C.dm_dataset_resample(d.p, c, &out, &rep) })
	runtime.KeepAlive(d)
	return finish(err, out, rep)
}

// ClassWeights returns class weights as scikit-learn's
// compute_class_weight("balanced"): label -> n_rows / (n_classes * count)
// over labelled rows, 0 for a class with no rows (dm_dataset_class_weights).
func (d *Dataset) ClassWeights() (map[string]float64, error) {
	if d.closed() {
		return nil, errDatasetClosed("ClassWeights")
	}
	labels := d.Labels()
	w := make([]C.double, len(labels)+1)
	err := call(func() C.dm_status { return C.dm_dataset_class_weights(d.p, &w[0]) })
	runtime.KeepAlive(d)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(labels))
	for j, name := range labels {
		out[name] = float64(w[j])
	}
	return out, nil
}

// ---------------------------------------------------------------- augmentation

// AugmentOp is a set of augmentation operations (dm_augment_op); combine
// them with |.
type AugmentOp uint

const (
	// AugmentEDA: synonym replacement (WordNet, or the synonyms file),
	// random insertion, swap and deletion (Wei & Zou 2019).
	AugmentEDA AugmentOp = C.DM_AUGMENT_EDA
	// AugmentChars: character noise (keyboard typos, swaps, deletions).
	AugmentChars AugmentOp = C.DM_AUGMENT_CHARS
)

// AugmentOptions are the options of Augment. Start from
// DefaultAugmentOptions().
type AugmentOptions struct {
	Ops AugmentOp
	N   int // new rows per source row
	// AlphaSR, AlphaRI, AlphaRS, AlphaRD: share of words changed by synonym
	// replacement, insertion, swap and deletion.
	AlphaSR, AlphaRI, AlphaRS, AlphaRD float64
	CharRate                           float64 // share of characters changed by AugmentChars
	WordNetDir                         string  // "": /usr/share/wordnet
	SynonymsPath                       string  // "": none; else one group of synonyms per line
	KeepOriginal                       bool    // source rows come first in the output
	Seed                               uint64
	// Progress receives done/total in rows. May be nil.
	Progress ProgressFunc

	valid bool
}

// DefaultAugmentOptions returns the library's defaults
// (dm_augment_options_default).
func DefaultAugmentOptions() AugmentOptions {
	var c C.dm_augment_options
	C.dm_augment_options_default(&c)
	return AugmentOptions{Ops: AugmentOp(c.ops), N: int(c.n), AlphaSR: float64(c.alpha_sr),
		AlphaRI: float64(c.alpha_ri), AlphaRS: float64(c.alpha_rs), AlphaRD: float64(c.alpha_rd),
		CharRate: float64(c.char_rate), KeepOriginal: c.keep_original != 0, Seed: uint64(c.seed), valid: true}
}

// Augment makes new rows from each row's text, label kept
// (dm_dataset_augment). New rows get ids "<source id>#aug<k>" and a
// "source_id" column. Report keys: rows_in, rows_out, ops ({op: count}),
// unchanged.
func (d *Dataset) Augment(opts AugmentOptions) (*Dataset, OpReport, error) {
	if d.closed() {
		return nil, nil, errDatasetClosed("Augment")
	}
	if !opts.valid {
		return nil, nil, errNotDefault("AugmentOptions")
	}
	var a cArena
	defer a.free()
	c := (*C.dm_augment_options)(a.calloc(C.sizeof_dm_augment_options))
	C.dm_augment_options_default(c)
	c.ops = C.uint(opts.Ops)
	var err error
	if c.n, err = nonNegative("AugmentOptions.N", opts.N); err != nil {
		return nil, nil, err
	}
	c.alpha_sr, c.alpha_ri = C.double(opts.AlphaSR), C.double(opts.AlphaRI)
	c.alpha_rs, c.alpha_rd = C.double(opts.AlphaRS), C.double(opts.AlphaRD)
	c.char_rate = C.double(opts.CharRate)
	if opts.WordNetDir != "" {
		if c.wordnet_dir, err = a.str("AugmentOptions.WordNetDir", opts.WordNetDir); err != nil {
			return nil, nil, err
		}
	}
	if opts.SynonymsPath != "" {
		if c.synonyms_path, err = a.str("AugmentOptions.SynonymsPath", opts.SynonymsPath); err != nil {
			return nil, nil, err
		}
	}
	c.keep_original = cBool(opts.KeepOriginal)
	c.seed = C.uint64_t(opts.Seed)
	var p *progressState
	if opts.Progress != nil {
		var h C.uintptr_t
		p, h = a.progress(opts.Progress)
		C.dm_go_set_augment_progress(c, h)
	}
	var out *C.dm_dataset
	var rep *C.char
	err = call(func() C.dm_status { return C.dm_dataset_augment(d.p, c, &out, &rep) })
	runtime.KeepAlive(d)
	return finish(err, out, rep, p)
}

// ---------------------------------------------------------------- profile

// ProfileOptions are the options of Profile. Start from
// DefaultProfileOptions().
type ProfileOptions struct {
	Tokenizer      *Tokenizer    // nil: no token lengths
	NearDuplicates bool          // count near duplicates (MinHash)
	Dedup          *DedupOptions // nil: defaults
	// CleanReport, when not nil, is Clean's report, drawn as the cleaning
	// funnel.
	CleanReport OpReport
	Title       string // "": "Dataset profile"
	// Progress may be nil.
	Progress ProgressFunc

	valid bool
}

// DefaultProfileOptions returns the library's defaults
// (dm_profile_options_default).
func DefaultProfileOptions() ProfileOptions {
	var c C.dm_profile_options
	C.dm_profile_options_default(&c)
	return ProfileOptions{NearDuplicates: c.near_duplicates != 0, valid: true}
}

// Profile describes the dataset (dm_dataset_profile): rows, columns, labels,
// per_class, imbalance_ratio, length_chars and length_tokens, empty,
// exact_duplicates, near_duplicates, near_pairs, duplicate_clusters,
// conflicts, scripts, skipped_rows, clean. Draw it with ProfileHTML.
func (d *Dataset) Profile(opts ProfileOptions) (OpReport, error) {
	if d.closed() {
		return nil, errDatasetClosed("Profile")
	}
	if !opts.valid {
		return nil, errNotDefault("ProfileOptions")
	}
	var a cArena
	defer a.free()
	c := (*C.dm_profile_options)(a.calloc(C.sizeof_dm_profile_options))
	C.dm_profile_options_default(c)
	if opts.Tokenizer != nil {
		if opts.Tokenizer.closed() {
			return nil, newError(StatusInvalidArgument, "ProfileOptions.Tokenizer is closed")
		}
		c.tokenizer = opts.Tokenizer.p
	}
	c.near_duplicates = cBool(opts.NearDuplicates)
	var err error
	var dp, p *progressState
	if opts.Dedup != nil {
		if c.dedup, dp, err = opts.Dedup.toC(&a); err != nil {
			return nil, err
		}
	}
	if opts.CleanReport != nil {
		js, err := json.Marshal(opts.CleanReport)
		if err != nil {
			return nil, newError(StatusInvalidArgument, "ProfileOptions.CleanReport: %v", err)
		}
		if c.clean_report_json, err = a.str("ProfileOptions.CleanReport", string(js)); err != nil {
			return nil, err
		}
	}
	if opts.Title != "" {
		if c.title, err = a.str("ProfileOptions.Title", opts.Title); err != nil {
			return nil, err
		}
	}
	if opts.Progress != nil {
		var h C.uintptr_t
		p, h = a.progress(opts.Progress)
		C.dm_go_set_profile_progress(c, h)
	}
	var js *C.char
	err = call(func() C.dm_status { return C.dm_dataset_profile(d.p, c, &js) })
	runtime.KeepAlive(d)
	runtime.KeepAlive(opts.Tokenizer)
	if err != nil {
		rethrowAll(p, dp)
		return nil, err
	}
	r, err := takeOpReport(js)
	rethrowAll(p, dp)
	return r, err
}

// ProfileHTML profiles the dataset and draws it as a self-contained HTML
// page (Profile, then the package function ProfileHTML).
func (d *Dataset) ProfileHTML(opts ProfileOptions) (string, error) {
	prof, err := d.Profile(opts)
	if err != nil {
		return "", err
	}
	return ProfileHTML(prof)
}

// ProfileHTML draws a profile (Dataset.Profile's result) as a self-contained
// HTML page: inline CSS and SVG, no script or network access
// (dm_profile_html).
func ProfileHTML(profile OpReport) (string, error) {
	js, err := json.Marshal(profile)
	if err != nil {
		return "", newError(StatusInvalidArgument, "ProfileHTML: %v", err)
	}
	return ProfileHTMLFromJSON(js)
}

// ProfileHTMLFromJSON is ProfileHTML for a profile given as JSON text.
func ProfileHTMLFromJSON(profileJSON []byte) (string, error) {
	var html *C.char
	var n C.size_t
	err := call(func() C.dm_status {
		return C.dm_profile_html(bytesData(profileJSON), C.size_t(len(profileJSON)), &html, &n)
	})
	runtime.KeepAlive(profileJSON)
	if err != nil {
		return "", err
	}
	s := C.GoStringN(html, C.int(n))
	C.dm_free(unsafe.Pointer(html))
	return s, nil
}
