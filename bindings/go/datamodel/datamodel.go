// Package datamodel is the Go binding of libdatamodel, a C library that takes
// text to a deployed text classifier with no Python runtime in the loop.
//
// This package wraps the whole C API (include/datamodel.h):
//
//   - Tokenizer: a WordPiece tokenizer that gives the same ids as Hugging
//     Face `tokenizers` (LoadTokenizer, TrainTokenizer).
//   - Dataset: labelled text read from CSV, TSV or JSONL (LoadDataset) or
//     made from memory (DatasetFromTexts).
//   - Metrics and Report: classification metrics equal to scikit-learn's,
//     with JSON and text reports.
//   - Model: a BERT sequence classifier loaded from a Hugging Face folder
//     (LoadModel), with Forward, Predict, Embed, Evaluate and Save.
//   - Train: fine-tuning with AdamW (FineTuneOptions), with a progress
//     callback, validation, early stopping and checkpoints.
//   - The pieces Train is made of, for a loop of one's own: trainable
//     tensors (Model.SetTrainable), Model.ForwardBackward and Grad,
//     Optimizer (AdamW), and Trainer (Train step by step, with
//     checkpoints to resume).
//
// A typical run:
//
//	train, err := datamodel.LoadDataset("train.csv", nil) // text,label columns
//	...
//	defer train.Close()
//	m, err := datamodel.LoadModel("bert-folder", &datamodel.ModelOptions{Labels: train.Labels()})
//	...
//	defer m.Close()
//	res, err := datamodel.Train(m, train, nil, &datamodel.FineTuneOptions{Epochs: 3})
//	pred, err := m.Predict([]string{"a great film"}, nil, nil) // pred.Labels, pred.Probs
//	err = m.Save("out")
//
// Option structs follow one rule: the zero value of a field (and a nil
// options pointer) is the library's default. Where zero is a meaningful
// setting different from the default (FineTuneOptions.WeightDecay, Seed,
// Dropout, ...), the field is a pointer: set it with Ptr. On/off settings
// whose default is on are Toggles.
//
// Memory: Tokenizer, Dataset and Model hold C memory. Close them when done
// (a finalizer releases them otherwise, as a safety net). Reports,
// predictions and encodings are copied into Go memory and need no closing.
//
// The binding links through pkg-config (package "datamodel"). Against an
// installed library nothing needs setting; against a build tree use
// bindings/go/test.sh, which sets PKG_CONFIG_PATH, CGO_CFLAGS and
// LD_LIBRARY_PATH for a meson build directory.
//
// Errors returned by the C library are *Error values carrying the status
// code, its name (e.g. "DM_ERR_PARSE") and the library's message.
package datamodel

/*
#cgo pkg-config: datamodel
#include <stdlib.h>
#include <datamodel.h>
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"unsafe"
)

// Status codes of the C library (dm_status).
const (
	StatusOK              = int(C.DM_OK)
	StatusInvalidArgument = int(C.DM_ERR_INVALID_ARGUMENT) // NULL where a value is needed, bad option
	StatusIO              = int(C.DM_ERR_IO)               // a file could not be opened, read or written
	StatusParse           = int(C.DM_ERR_PARSE)            // malformed input file (JSON, vocab, ...)
	StatusUTF8            = int(C.DM_ERR_UTF8)             // invalid UTF-8 in text
	StatusNotFound        = int(C.DM_ERR_NOT_FOUND)        // a token, file, column or key that must exist does not
	StatusNoMemory        = int(C.DM_ERR_NO_MEMORY)        // an allocation failed
	StatusUnsupported     = int(C.DM_ERR_UNSUPPORTED)      // valid input using a feature not implemented
	StatusCancelled       = int(C.DM_ERR_CANCELLED)        // a progress callback asked to stop
	StatusRange           = int(C.DM_ERR_RANGE)            // a size or length out of the allowed range
	StatusNumeric         = int(C.DM_ERR_NUMERIC)          // NaN or Inf met in a computation
	StatusInternal        = int(C.DM_ERR_INTERNAL)         // a bug in the library
	StatusAuth            = int(C.DM_ERR_AUTH)             // a wrong key or tampered data
	StatusBusy            = int(C.DM_ERR_BUSY)             // the handle is in use by a call that excludes this one
)

// Error is a failure reported by libdatamodel (or detected by this binding
// before calling it, with the status the library would have used).
type Error struct {
	Status  int    // one of the Status* constants
	Name    string // the status name, e.g. "DM_ERR_IO"
	Message string // what was wrong: file, line, byte offset, field, ...
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "datamodel: " + e.Name
	}
	return "datamodel: " + e.Name + ": " + e.Message
}

// Is lets errors.Is match on the status alone: a target *Error with an empty
// Message matches every *Error of the same Status, as in
// errors.Is(err, &datamodel.Error{Status: datamodel.StatusIO}). Targets with
// a message (such as ErrClosed) match only themselves.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Message == "" && t.Status == e.Status
}

// StatusName returns the constant name of a status code, e.g. "DM_ERR_PARSE"
// (dm_status_name).
func StatusName(status int) string {
	return C.GoString(C.dm_status_name(C.dm_status(status)))
}

// Version returns the version of the loaded C library, e.g. "0.1.0"
// (dm_version).
func Version() string {
	return C.GoString(C.dm_version())
}

// VersionNumber returns the loaded library's version as
// MAJOR*10000 + MINOR*100 + PATCH (dm_version_number).
func VersionNumber() int {
	return int(C.dm_version_number())
}

// HeaderVersionNumber is the version of the datamodel.h this package was
// compiled against, in the same form as VersionNumber.
const HeaderVersionNumber = int(C.DM_VERSION_MAJOR)*10000 + int(C.DM_VERSION_MINOR)*100 + int(C.DM_VERSION_PATCH)

// newError builds an *Error for a failure detected on the Go side.
func newError(status int, format string, args ...interface{}) *Error {
	return &Error{Status: status, Name: StatusName(status), Message: fmt.Sprintf(format, args...)}
}

// namedInt is an integer option on its way to a C int or enum field.
type namedInt struct {
	name string
	v    int
}

// checkCInts refuses any value that does not fit a C int (int32): a cgo
// conversion would wrap it silently, and 1<<32 + 1 would arrive as 1, a
// valid choice. In-range values the library does not know are passed on:
// it names the field.
func checkCInts(fields ...namedInt) error {
	for _, f := range fields {
		if f.v < math.MinInt32 || f.v > math.MaxInt32 {
			return newError(StatusInvalidArgument, "%s = %d is out of range for a C int [%d, %d]", f.name, f.v,
				math.MinInt32, math.MaxInt32)
		}
	}
	return nil
}

// call runs f, which makes one fallible C call, and turns a failing status
// into an *Error. dm_last_error is thread-local, so the goroutine is locked to
// its OS thread from the call until the message has been copied.
func call(f func() C.dm_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st == C.DM_OK {
		return nil
	}
	return &Error{
		Status:  int(st),
		Name:    C.GoString(C.dm_status_name(st)),
		Message: C.GoString(C.dm_last_error()),
	}
}

// cPath converts a path to a C string the caller must free. A NUL byte inside
// would silently cut the path short in C, so it is an error here.
func cPath(what, path string) (*C.char, error) {
	if strings.IndexByte(path, 0) >= 0 {
		return nil, newError(StatusInvalidArgument, "%s %q contains a NUL byte", what, path)
	}
	return C.CString(path), nil
}

// stringData returns a pointer to the bytes of s for a C call that takes an
// explicit length and does not keep the pointer. It is never NULL (an empty
// string gets a pointer to a static empty C string), which matters where the
// C API reads NULL as "absent" (the pair of dm_tokenizer_encode). The bytes
// must not be written by C: every such parameter is const char *.
func stringData(s string) *C.char {
	if len(s) == 0 {
		return emptyCString
	}
	// The first word of a string header is its data pointer (Go 1.19 has no
	// unsafe.StringData). String bytes hold no Go pointers, so cgo allows it.
	return (*C.char)(*(*unsafe.Pointer)(unsafe.Pointer(&s)))
}

// bytesData is stringData for a byte slice; NULL when empty (the C calls
// taking (ptr, len) accept NULL with length 0).
func bytesData(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// emptyCString is a NUL-terminated empty string in C memory, allocated once
// and never freed.
var emptyCString = (*C.char)(C.calloc(1, 1))
