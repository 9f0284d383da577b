package datamodel

// This file holds the exported Go side of progress callbacks; its preamble
// may only declare (a file with //export must not define C functions). The
// C trampoline that the library calls is in tokenizer.go.

/*
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
)

// ProgressFunc receives progress of long work: done so far out of total (in
// the units the calling function documents; total may be 0 when unknown).
// Return false to go on, true to cancel: the call then fails with an *Error
// of status StatusCancelled. This is the library's one meaning everywhere: a
// non-zero return cancels in C (dm_progress_fn), a truthy one in Python, and
// true here and in TrainCallback.
//
// It is called on the goroutine (and OS thread) that made the call. If it
// panics, the C work is cancelled, its resources freed, and the panic is
// raised again from the calling function.
type ProgressFunc func(done, total uint64) bool

// progressState carries a ProgressFunc through C as a cgo.Handle.
type progressState struct {
	fn       ProgressFunc
	panicked bool
	panicVal interface{}
}

// rethrow re-raises a panic of the callback once the C call has returned and
// its resources are freed.
func (p *progressState) rethrow() {
	if p != nil && p.panicked {
		panic(p.panicVal)
	}
}

//export dmGoProgress
func dmGoProgress(done, total C.uint64_t, handle C.uintptr_t) (cancel C.int) {
	p := cgo.Handle(handle).Value().(*progressState)
	if p.panicked {
		return 1
	}
	// A panic must not unwind through the C frames (their locks and
	// allocations would be left behind): keep it and cancel instead.
	defer func() {
		if r := recover(); r != nil {
			p.panicked, p.panicVal = true, r
			cancel = 1
		}
	}()
	if p.fn(uint64(done), uint64(total)) {
		return 1
	}
	return 0
}
