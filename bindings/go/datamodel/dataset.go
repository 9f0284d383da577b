package datamodel

/*
#include <stdlib.h>
#include <string.h>
#include <datamodel.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unsafe"
)

// Format is the file format of a dataset (dm_file_format).
type Format int

const (
	// FormatAuto picks the format from the extension: .csv, .tsv/.tab,
	// .jsonl/.ndjson/.json.
	FormatAuto Format = C.DM_FORMAT_AUTO
	// FormatCSV is RFC 4180: a header line, "quoted, fields" with "" for a
	// quote, newlines inside quotes, CRLF or LF, an optional BOM.
	FormatCSV Format = C.DM_FORMAT_CSV
	// FormatTSV is a header line and fields split on TAB, without quoting.
	FormatTSV Format = C.DM_FORMAT_TSV
	// FormatJSONL is one JSON object per line; strings, numbers and booleans
	// become strings, null a missing value.
	FormatJSONL Format = C.DM_FORMAT_JSONL
)

// BadRows says what loading does with a row that has the wrong number of
// fields (dm_bad_rows).
type BadRows int

const (
	BadRowsFail BadRows = C.DM_BAD_ROWS_FAIL // the load fails, naming the line
	BadRowsSkip BadRows = C.DM_BAD_ROWS_SKIP // the row is skipped and counted (Dataset.Skipped)
)

// DatasetOptions are options for LoadDataset and DatasetFromTexts. The zero
// value (and a nil pointer) are the library defaults. DatasetFromTexts uses
// only Labels, RequireLabels and InvalidUTF8.
type DatasetOptions struct {
	Format Format
	// TextColumn: "" takes the first of "sentence", "text", "review" present.
	TextColumn string
	// PairColumn: "" for no text pair.
	PairColumn string
	// LabelColumn: "" uses "label" when present, else no labels.
	LabelColumn string
	// NoLabels reads no labels even when there is a "label" column (the C
	// API's label_column "").
	NoLabels bool
	// IDColumn: "" uses "id" when present, else ids are 1-based row numbers.
	IDColumn string
	// NoIDColumn makes ids the 1-based row numbers even when there is an
	// "id" column (the C API's id_column "").
	NoIDColumn bool
	// RequireLabels fails the load when a row has no label.
	RequireLabels bool
	// Labels, when not nil, is a fixed label set in id order: other labels
	// fail the load. nil: the label set comes from the data.
	Labels []string
	// InvalidUTF8: UTF8Error fails naming line and column; UTF8Replace
	// accepts the text; UTF8SkipRow skips the row and records it
	// (Dataset.SkippedRows).
	InvalidUTF8 InvalidUTF8
	BadRows     BadRows
	// GroupColumn: "" for none; else a column (a group or annotator id)
	// whose rows group-aware splits keep together (Dataset.Group).
	GroupColumn string
	// Key: nil for a plain file; else KeySize bytes (ReadKeyFile): the file
	// is dm-encrypted (EncryptFile) and LoadDataset decrypts it in memory,
	// never on disk, taking the format from the extension before ".enc"
	// (data.csv.enc is CSV). An encrypted file loaded without a key is
	// StatusInvalidArgument saying it needs one; a wrong key StatusAuth.
	Key []byte
}

// UTF8SkipRow (datasets only) skips a row holding invalid UTF-8 and records
// it (Dataset.SkippedRows); the tokenizer refuses it.
const UTF8SkipRow InvalidUTF8 = C.DM_UTF8_SKIP_ROW

// cOptions is a dm_dataset_options and the C memory its strings use.
type cOptions struct {
	c     *C.dm_dataset_options
	block *cStringBlock
	cols  []*C.char
	key   *C.uint8_t
}

func (o *cOptions) free() {
	if o == nil {
		return
	}
	for _, s := range o.cols {
		C.free(unsafe.Pointer(s))
	}
	o.block.free()
	freeKey(o.key)
	C.free(unsafe.Pointer(o.c))
}

// toC builds the C options in C memory; the caller frees them.
func (o *DatasetOptions) toC() (*cOptions, error) {
	co := &cOptions{c: (*C.dm_dataset_options)(C.malloc(C.sizeof_dm_dataset_options))}
	C.dm_dataset_options_default(co.c)
	if o == nil {
		return co, nil
	}
	fail := func(err error) (*cOptions, error) {
		co.free()
		return nil, err
	}
	if o.Format < 0 || o.InvalidUTF8 < 0 || o.BadRows < 0 {
		return fail(newError(StatusInvalidArgument, "DatasetOptions: negative Format, InvalidUTF8 or BadRows"))
	}
	column := func(field, name string, none bool, dst **C.char) error {
		if none {
			if name != "" {
				return newError(StatusInvalidArgument, "DatasetOptions: %s %q is set together with its No flag", field, name)
			}
			name = ""
		} else if name == "" {
			return nil // NULL: the default
		}
		cs, err := cPath("DatasetOptions."+field, name)
		if err != nil {
			return err
		}
		co.cols = append(co.cols, cs)
		*dst = cs
		return nil
	}
	for _, f := range []struct {
		field, name string
		none        bool
		dst         **C.char
	}{
		{"TextColumn", o.TextColumn, false, &co.c.text_column},
		{"PairColumn", o.PairColumn, false, &co.c.pair_column},
		{"LabelColumn", o.LabelColumn, o.NoLabels, &co.c.label_column},
		{"IDColumn", o.IDColumn, o.NoIDColumn, &co.c.id_column},
		{"GroupColumn", o.GroupColumn, false, &co.c.group_column},
	} {
		if err := column(f.field, f.name, f.none, f.dst); err != nil {
			return fail(err)
		}
	}
	if o.Labels != nil {
		if err := checkNoNUL("DatasetOptions.Labels", o.Labels); err != nil {
			return fail(err)
		}
		co.block = newCStringBlock(o.Labels)
		co.c.labels = co.block.ptrs[0]
		co.c.n_labels = C.size_t(len(o.Labels))
	}
	if o.RequireLabels {
		co.c.require_labels = 1
	}
	if o.Key != nil {
		k, err := cKey("DatasetOptions.Key", o.Key)
		if err != nil {
			return fail(err)
		}
		co.key = k
		co.c.key = k
	}
	// Enum values out of range are passed on: the library names the field
	// (but not values cgo would wrap into range).
	err := checkCInts(namedInt{"DatasetOptions.Format", int(o.Format)},
		namedInt{"DatasetOptions.InvalidUTF8", int(o.InvalidUTF8)}, namedInt{"DatasetOptions.BadRows", int(o.BadRows)})
	if err != nil {
		return fail(err)
	}
	co.c.format = C.dm_file_format(o.Format)
	co.c.invalid_utf8 = C.dm_invalid_utf8(o.InvalidUTF8)
	co.c.bad_rows = C.dm_bad_rows(o.BadRows)
	return co, nil
}

// checkNoNUL fails when a string that C reads NUL-terminated holds a NUL.
func checkNoNUL(what string, ss []string) error {
	for i, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return newError(StatusInvalidArgument, "%s[%d] %q contains a NUL byte", what, i, s)
		}
	}
	return nil
}

// cStringBlock holds copies of string slices in one C allocation: for each
// slice an array of char * (NUL-terminated copies; NULL for a nil slice's
// array) and an array of byte lengths. The C API takes arrays of pointers,
// which cgo does not allow to point into Go memory.
type cStringBlock struct {
	mem  unsafe.Pointer
	ptrs []**C.char  // per slice; nil for a nil slice
	lens []*C.size_t // per slice; nil for a nil slice
}

// newCStringBlock copies seqs into C memory. With nullEmpty, empty strings
// get NULL pointers (the C API's "absent" for labels).
func newCStringBlock(seqs ...[]string) *cStringBlock {
	return newCStringBlockOpt(false, seqs...)
}

func newCStringBlockOpt(nullEmpty bool, seqs ...[]string) *cStringBlock {
	header, total := C.size_t(0), C.size_t(1)
	for _, seq := range seqs {
		header += C.size_t(len(seq)) * (ptrSize + sizeSize)
		for _, s := range seq {
			total += C.size_t(len(s)) + 1
		}
	}
	b := &cStringBlock{mem: C.malloc(header + total), ptrs: make([]**C.char, len(seqs)),
		lens: make([]*C.size_t, len(seqs))}
	bytes := unsafe.Slice((*byte)(unsafe.Add(b.mem, header)), total)
	pos, at := C.size_t(0), 0
	for k, seq := range seqs {
		if seq == nil {
			continue
		}
		n := C.size_t(len(seq))
		if n == 0 { // a valid, non-NULL pointer for an empty array
			b.ptrs[k] = (**C.char)(unsafe.Add(b.mem, header))
			b.lens[k] = (*C.size_t)(unsafe.Add(b.mem, header))
			continue
		}
		b.ptrs[k] = (**C.char)(unsafe.Add(b.mem, pos))
		ptrs := unsafe.Slice(b.ptrs[k], len(seq))
		pos += n * ptrSize
		b.lens[k] = (*C.size_t)(unsafe.Add(b.mem, pos))
		lens := unsafe.Slice(b.lens[k], len(seq))
		pos += n * sizeSize
		for i, s := range seq {
			copy(bytes[at:], s)
			bytes[at+len(s)] = 0
			ptrs[i] = (*C.char)(unsafe.Pointer(&bytes[at]))
			if nullEmpty && s == "" {
				ptrs[i] = nil
			}
			lens[i] = C.size_t(len(s))
			at += len(s) + 1
		}
	}
	return b
}

func (b *cStringBlock) free() {
	if b != nil {
		C.free(b.mem)
		b.mem = nil
	}
}

// Dataset is a table of labelled text read from CSV, TSV or JSONL, or made
// from memory (dm_dataset). Labels are strings kept in a label set (id <->
// name): integers are ordered numerically, anything else by bytes, unless
// DatasetOptions.Labels imposes a set. A Dataset is read-only: any number of
// goroutines may read it at the same time. Close releases it; it must not be
// called while other methods (or a Train or Evaluate using it) are running.
//
// Row indexes run from 0 to Len()-1; an index out of range panics, as
// slice indexing does.
type Dataset struct {
	p *C.dm_dataset
}

func newDataset(p *C.dm_dataset) *Dataset {
	d := &Dataset{p: p}
	// A safety net only: call Close to release the C memory promptly.
	runtime.SetFinalizer(d, func(d *Dataset) { d.Close() })
	return d
}

// Close releases the dataset (dm_dataset_free). It is safe to call more than
// once and on a nil *Dataset. It always returns nil.
func (d *Dataset) Close() error {
	if d == nil || d.p == nil {
		return nil
	}
	C.dm_dataset_free(d.p)
	d.p = nil
	runtime.SetFinalizer(d, nil)
	return nil
}

func (d *Dataset) closed() bool { return d == nil || d.p == nil }

// LoadDataset reads a CSV, TSV or JSONL file (dm_dataset_load). Errors name
// the file, line and column. opts may be nil.
func LoadDataset(path string, opts *DatasetOptions) (*Dataset, error) {
	co, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer co.free()
	cpath, err := cPath("dataset path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	var out *C.dm_dataset
	if err := call(func() C.dm_status { return C.dm_dataset_load(cpath, co.c, &out) }); err != nil {
		return nil, err
	}
	return newDataset(out), nil
}

// DatasetFromTexts makes a dataset from memory (dm_dataset_from_texts):
// texts, optional pairs (nil for none, else one per text) and optional
// labels (nil for none, else one per text; "" for a row without a label).
// Ids are the 1-based row numbers. Only opts.Labels, opts.RequireLabels and
// opts.InvalidUTF8 apply; opts may be nil.
func DatasetFromTexts(texts, pairs, labels []string, opts *DatasetOptions) (*Dataset, error) {
	if pairs != nil && len(pairs) != len(texts) {
		return nil, newError(StatusInvalidArgument, "DatasetFromTexts: %d texts but %d pairs", len(texts), len(pairs))
	}
	if labels != nil && len(labels) != len(texts) {
		return nil, newError(StatusInvalidArgument, "DatasetFromTexts: %d texts but %d labels", len(texts), len(labels))
	}
	if err := checkNoNUL("DatasetFromTexts labels", labels); err != nil {
		return nil, err
	}
	co, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer co.free()
	if texts == nil {
		texts = []string{}
	}
	tb := newCStringBlock(texts, pairs)
	defer tb.free()
	lb := newCStringBlockOpt(true, labels)
	defer lb.free()
	var out *C.dm_dataset
	err = call(func() C.dm_status {
		return C.dm_dataset_from_texts(C.size_t(len(texts)), tb.ptrs[0], tb.lens[0], tb.ptrs[1], tb.lens[1],
			lb.ptrs[0], co.c, &out)
	})
	if err != nil {
		return nil, err
	}
	return newDataset(out), nil
}

// Len returns the number of rows (dm_dataset_size); 0 for a closed dataset.
func (d *Dataset) Len() int {
	if d.closed() {
		return 0
	}
	n := C.dm_dataset_size(d.p)
	runtime.KeepAlive(d)
	return int(n)
}

// Skipped returns the number of rows skipped under BadRowsSkip
// (dm_dataset_skipped).
func (d *Dataset) Skipped() int {
	if d.closed() {
		return 0
	}
	n := C.dm_dataset_skipped(d.p)
	runtime.KeepAlive(d)
	return int(n)
}

func (d *Dataset) row(i int) C.size_t {
	if d.closed() {
		panic("datamodel: Dataset used after Close")
	}
	if n := d.Len(); i < 0 || i >= n {
		panic(fmt.Sprintf("datamodel: Dataset row %d out of range [0, %d)", i, n))
	}
	return C.size_t(i)
}

// Text returns row i's text (dm_dataset_text).
func (d *Dataset) Text(i int) string {
	var n C.size_t
	p := C.dm_dataset_text(d.p, d.row(i), &n)
	s := C.GoStringN(p, C.int(n))
	runtime.KeepAlive(d)
	return s
}

// Pair returns row i's text pair, and false when the dataset has no pair
// column (dm_dataset_pair).
func (d *Dataset) Pair(i int) (string, bool) {
	var n C.size_t
	p := C.dm_dataset_pair(d.p, d.row(i), &n)
	if p == nil {
		runtime.KeepAlive(d)
		return "", false
	}
	s := C.GoStringN(p, C.int(n))
	runtime.KeepAlive(d)
	return s, true
}

// Label returns row i's label id (an index into Labels()), or -1 when the
// row has no label (dm_dataset_label).
func (d *Dataset) Label(i int) int {
	v := C.dm_dataset_label(d.p, d.row(i))
	runtime.KeepAlive(d)
	return int(v)
}

// LabelName returns row i's label name, and false when the row has no label.
// (The name of a label id is Labels()[id].)
func (d *Dataset) LabelName(i int) (string, bool) {
	id := d.Label(i)
	if id < 0 {
		return "", false
	}
	return d.labelName(id)
}

func (d *Dataset) labelName(id int) (string, bool) {
	s := C.dm_dataset_label_name(d.p, C.int32_t(id))
	if s == nil {
		runtime.KeepAlive(d)
		return "", false
	}
	name := C.GoString(s)
	runtime.KeepAlive(d)
	return name, true
}

// ID returns row i's id: the id column's value, or its 1-based row number
// (dm_dataset_id).
func (d *Dataset) ID(i int) string {
	s := C.dm_dataset_id(d.p, d.row(i))
	id := ""
	if s != nil {
		id = C.GoString(s)
	} else {
		id = strconv.Itoa(i + 1)
	}
	runtime.KeepAlive(d)
	return id
}

// NumLabels returns the size of the label set (dm_dataset_num_labels).
func (d *Dataset) NumLabels() int {
	if d.closed() {
		return 0
	}
	n := C.dm_dataset_num_labels(d.p)
	runtime.KeepAlive(d)
	return int(n)
}

// Labels returns the label set: the names in id order
// (dm_dataset_label_name); empty for a dataset without labels.
func (d *Dataset) Labels() []string {
	n := d.NumLabels()
	out := make([]string, n)
	for j := range out {
		out[j], _ = d.labelName(j)
	}
	return out
}
