package datamodel

// Many texts at once (dm_pii_anonymize_batch, dm_pii_detect_batch,
// dm_pii_decrypt_batch): one cgo call, the texts spread over the library's
// threads. Kept apart from pii.go,
// whose preamble may only declare C functions (it exports the validator).

/*
#include <stdint.h>
#include <stdlib.h>
#include <datamodel.h>

// Defined in progress.go (//export dmGoProgress).
extern int dmGoProgress(uint64_t done, uint64_t total, uintptr_t handle);

static int dm_go_pii_progress(uint64_t done, uint64_t total, void *user)
{
    return dmGoProgress(done, total, (uintptr_t)user);
}

// Set from C so that the handle (an integer) is never stored in a Go
// pointer-typed field. O is C memory.
static void dm_go_set_pii_batch_progress(dm_pii_batch_options *o, uintptr_t h)
{
    o->progress = dm_go_pii_progress;
    o->progress_user = (void *)h;
}
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// BatchOptions are the options of AnonymizeBatch and DecryptBatch (a nil
// *BatchOptions means the defaults).
type BatchOptions struct {
	// Threads: 0 for all cores; the results never depend on it.
	Threads int
	// Progress, if not nil, gets done/total in texts on the calling
	// goroutine; returning true cancels (StatusCancelled).
	Progress ProgressFunc
}

// AnonymizedText is one result of AnonymizeBatch: what Anonymize returns.
type AnonymizedText struct {
	Text     string
	Entities []Entity
}

// batchCall runs one batch call with texts in C memory and opts set up;
// run gets the C texts, lengths and options.
func batchCall(texts []string, opts *BatchOptions,
	run func(ptrs **C.char, lens *C.size_t, o *C.dm_pii_batch_options) C.dm_status) (*progressState, error) {
	copts := (*C.dm_pii_batch_options)(C.malloc(C.sizeof_dm_pii_batch_options))
	defer C.free(unsafe.Pointer(copts))
	C.dm_pii_batch_options_default(copts)
	var progress *progressState
	if opts != nil {
		copts.threads = C.int(opts.Threads)
		if opts.Progress != nil {
			progress = &progressState{fn: opts.Progress}
			h := cgo.NewHandle(progress)
			defer h.Delete()
			C.dm_go_set_pii_batch_progress(copts, C.uintptr_t(h))
		}
	}
	// The C API takes arrays of pointers, which cgo does not allow to point
	// into Go memory: the texts are copied into one C block first.
	in := newCStringBlock(texts)
	defer in.free()
	return progress, call(func() C.dm_status { return run(in.ptrs[0], in.lens[0], copts) })
}

// AnonymizeBatch is Anonymize over many texts in one call on opts.Threads
// threads (dm_pii_anonymize_batch): result i is what Anonymize(texts[i])
// returns, whatever the thread count. A text that fails fails the call with
// a message that starts "text K: " (K its index; the first failing text).
// opts may be nil.
func (p *Pii) AnonymizeBatch(texts []string, opts *BatchOptions) ([]AnonymizedText, error) {
	if p.closed() {
		return nil, errPiiClosed("AnonymizeBatch")
	}
	var outs **C.char
	var outLens, nEnts *C.size_t
	var ents **C.dm_pii_entity
	n := C.size_t(len(texts))
	progress, err := batchCall(texts, opts, func(ptrs **C.char, lens *C.size_t, o *C.dm_pii_batch_options) C.dm_status {
		return C.dm_pii_anonymize_batch(p.p, n, ptrs, lens, o, &outs, &outLens, &ents, &nEnts)
	})
	runtime.KeepAlive(p)
	if err != nil {
		progress.rethrow()
		p.rethrow()
		return nil, err
	}
	res := make([]AnonymizedText, len(texts))
	cOuts, cLens := unsafe.Slice(outs, len(texts)), unsafe.Slice(outLens, len(texts))
	cEnts, cN := unsafe.Slice(ents, len(texts)), unsafe.Slice(nEnts, len(texts))
	for i := range texts {
		res[i].Text = C.GoStringN(cOuts[i], C.int(cLens[i]))
		res[i].Entities = copyEntities(cEnts[i], cN[i], texts[i]) // freed with the batch
	}
	C.dm_pii_batch_free(n, outs, outLens, ents, nEnts)
	progress.rethrow()
	p.rethrow()
	return res, nil
}

// DetectBatch is Detect over many texts in one call on opts.Threads threads
// (dm_pii_detect_batch): result i is what Detect(texts[i]) returns; errors as
// AnonymizeBatch's. opts may be nil.
func (p *Pii) DetectBatch(texts []string, opts *BatchOptions) ([][]Entity, error) {
	if p.closed() {
		return nil, errPiiClosed("DetectBatch")
	}
	var ents **C.dm_pii_entity
	var nEnts *C.size_t
	n := C.size_t(len(texts))
	progress, err := batchCall(texts, opts, func(ptrs **C.char, lens *C.size_t, o *C.dm_pii_batch_options) C.dm_status {
		return C.dm_pii_detect_batch(p.p, n, ptrs, lens, o, &ents, &nEnts)
	})
	runtime.KeepAlive(p)
	if err != nil {
		progress.rethrow()
		p.rethrow()
		return nil, err
	}
	res := make([][]Entity, len(texts))
	cEnts, cN := unsafe.Slice(ents, len(texts)), unsafe.Slice(nEnts, len(texts))
	for i := range texts {
		res[i] = copyEntities(cEnts[i], cN[i], texts[i])
	}
	C.dm_pii_batch_free(n, nil, nil, ents, nEnts)
	progress.rethrow()
	p.rethrow()
	return res, nil
}

// DecryptBatch is Decrypt over many texts in one call on opts.Threads
// threads (dm_pii_decrypt_batch); errors as AnonymizeBatch's. opts may be
// nil.
func (p *Pii) DecryptBatch(texts []string, opts *BatchOptions) ([]string, error) {
	if p.closed() {
		return nil, errPiiClosed("DecryptBatch")
	}
	var outs **C.char
	var outLens *C.size_t
	n := C.size_t(len(texts))
	progress, err := batchCall(texts, opts, func(ptrs **C.char, lens *C.size_t, o *C.dm_pii_batch_options) C.dm_status {
		return C.dm_pii_decrypt_batch(p.p, n, ptrs, lens, o, &outs, &outLens)
	})
	runtime.KeepAlive(p)
	if err != nil {
		progress.rethrow()
		return nil, err
	}
	res := make([]string, len(texts))
	cOuts, cLens := unsafe.Slice(outs, len(texts)), unsafe.Slice(outLens, len(texts))
	for i := range texts {
		res[i] = C.GoStringN(cOuts[i], C.int(cLens[i]))
	}
	C.dm_pii_batch_free(n, outs, outLens, nil, nil)
	progress.rethrow()
	return res, nil
}
