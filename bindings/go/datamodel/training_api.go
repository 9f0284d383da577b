package datamodel

// The public pieces of fine-tuning (datamodel.h, "Fine-tuning (AdamW)"):
// trainable tensors, the forward and backward pass on a batch of token ids,
// Optimizer (dm_optimizer) and Trainer (dm_trainer). Train (train.go) is
// the usual loop made of them.

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <datamodel.h>
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"
)

// ErrOptimizerClosed is returned by the methods of an Optimizer that has
// been closed (or is nil).
var ErrOptimizerClosed = newError(StatusInvalidArgument, "the optimizer is closed or nil")

// ErrOptimizerInUse is returned by Optimizer.Close while an open Trainer
// uses the optimizer: close the Trainer first.
var ErrOptimizerInUse = newError(StatusBusy, "the optimizer is used by an open Trainer: close the Trainer first")

// ErrTrainerClosed is returned by the methods of a Trainer that has been
// closed (or is nil).
var ErrTrainerClosed = newError(StatusInvalidArgument, "the trainer is closed or nil")

// ErrTrainerRunning is returned by the methods of a Trainer while its Run is
// in progress (from its callback).
var ErrTrainerRunning = newError(StatusBusy, "the trainer's Run is in progress")

// ------------------------------------------------------------------ trainable tensors

// SetTrainable marks the tensors whose Hugging Face names start with prefix
// (e.g. "bert.embeddings.", "bert.encoder.layer.0.", "" for all) as
// trainable or frozen (dm_model_set_trainable); all are trainable at load.
// A frozen tensor gets no gradient and no optimizer state, and the backward
// pass stops below the lowest trainable layer. A layer's query, key and
// value go together (StatusUnsupported otherwise). StatusNotFound when no
// tensor matches; StatusBusy while an Optimizer of the model is open (its
// state follows the trainable tensors). Gradients accumulated so far are
// dropped.
func (m *Model) SetTrainable(prefix string, trainable bool) error {
	cs, err := cPath("SetTrainable: prefix", prefix)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cs))
	p, unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	v := C.int(0)
	if trainable {
		v = 1
	}
	return call(func() C.dm_status { return C.dm_model_set_trainable(p, cs, v) })
}

// IsTrainable says whether the tensor name (a Hugging Face name, e.g.
// "classifier.weight") is trainable (dm_model_is_trainable); an *Error of
// status StatusNotFound when the model has no such tensor.
func (m *Model) IsTrainable(name string) (bool, error) {
	cs, err := cPath("IsTrainable: tensor name", name)
	if err != nil {
		return false, err
	}
	defer C.free(unsafe.Pointer(cs))
	p, unlock, err := m.lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	switch C.dm_model_is_trainable(p, cs) {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, newError(StatusNotFound, "IsTrainable: the model has no tensor %q", name)
}

// ------------------------------------------------------------------ forward and backward

// Batch is one batch of token ids for ForwardBackward (dm_batch): IDs,
// TypeIDs and AttentionMask are batch x seq_len, all rows of equal length
// (pad them).
type Batch struct {
	IDs           [][]int32
	TypeIDs       [][]int32 // nil: zeros
	AttentionMask [][]uint8 // nil: all ones, else 1 for a token, 0 for padding; every row needs a 1
	Labels        []int32   // one label id of the model per row; -1: no loss for that row
	Weights       []float32 // nil: all 1; else one loss weight >= 0 per row
}

// toC lays the batch out in one block of C memory (the dm_batch and its
// arrays); free releases it.
func (b *Batch) toC() (cb *C.dm_batch, free func(), err error) {
	n := len(b.IDs)
	seq := 0
	if n > 0 {
		seq = len(b.IDs[0])
	}
	bad := func(format string, args ...interface{}) (*C.dm_batch, func(), error) {
		return nil, nil, newError(StatusInvalidArgument, "ForwardBackward: "+format, args...)
	}
	for i, r := range b.IDs {
		if len(r) != seq {
			return bad("IDs[%d] has length %d, expected %d (pad the rows)", i, len(r), seq)
		}
	}
	if b.TypeIDs != nil {
		if len(b.TypeIDs) != n {
			return bad("%d rows of TypeIDs for %d rows of IDs", len(b.TypeIDs), n)
		}
		for i, r := range b.TypeIDs {
			if len(r) != seq {
				return bad("TypeIDs[%d] has length %d, expected %d", i, len(r), seq)
			}
		}
	}
	if b.AttentionMask != nil {
		if len(b.AttentionMask) != n {
			return bad("%d rows of AttentionMask for %d rows of IDs", len(b.AttentionMask), n)
		}
		for i, r := range b.AttentionMask {
			if len(r) != seq {
				return bad("AttentionMask[%d] has length %d, expected %d", i, len(r), seq)
			}
		}
	}
	if len(b.Labels) != n {
		return bad("%d Labels for %d rows of IDs", len(b.Labels), n)
	}
	if b.Weights != nil && len(b.Weights) != n {
		return bad("%d Weights for %d rows of IDs", len(b.Weights), n)
	}
	// The struct, then the 4-byte arrays, then the mask.
	size := uintptr(C.sizeof_dm_batch) + 4*uintptr(n*seq) + 4*uintptr(n)
	if b.TypeIDs != nil {
		size += 4 * uintptr(n*seq)
	}
	if b.Weights != nil {
		size += 4 * uintptr(n)
	}
	if b.AttentionMask != nil {
		size += uintptr(n * seq)
	}
	mem := C.malloc(C.size_t(size + 4)) // never empty: the pointers of an empty batch are valid
	if mem == nil {
		return nil, nil, newError(StatusNoMemory, "ForwardBackward: cannot allocate the batch (%d bytes)", size)
	}
	C.memset(mem, 0, C.size_t(size+4))
	cb = (*C.dm_batch)(mem)
	cb.struct_size = C.sizeof_dm_batch
	cb.batch = C.size_t(n)
	cb.seq_len = C.size_t(seq)
	off := uintptr(C.sizeof_dm_batch)
	int32s := func(count int) (*C.int32_t, []int32) {
		p := unsafe.Add(mem, off)
		off += 4 * uintptr(count)
		return (*C.int32_t)(p), unsafe.Slice((*int32)(p), count)
	}
	var ids []int32
	cb.ids, ids = int32s(n * seq)
	for i, r := range b.IDs {
		copy(ids[i*seq:], r)
	}
	if b.TypeIDs != nil {
		var types []int32
		cb.type_ids, types = int32s(n * seq)
		for i, r := range b.TypeIDs {
			copy(types[i*seq:], r)
		}
	}
	var labels []int32
	cb.labels, labels = int32s(n)
	copy(labels, b.Labels)
	if b.Weights != nil {
		p := unsafe.Add(mem, off)
		off += 4 * uintptr(n)
		cb.weights = (*C.float)(p)
		copy(unsafe.Slice((*float32)(p), n), b.Weights)
	}
	if b.AttentionMask != nil {
		p := unsafe.Add(mem, off)
		cb.attention_mask = (*C.uint8_t)(p)
		mask := unsafe.Slice((*uint8)(p), n*seq)
		for i, r := range b.AttentionMask {
			copy(mask[i*seq:], r)
		}
	}
	return cb, func() { C.free(mem) }, nil
}

// BackwardOptions are options for ForwardBackward (dm_backward_options).
// The zero value (and a nil pointer) are the library defaults.
type BackwardOptions struct {
	// GradScale multiplies the gradients added: those of GradScale * sum_i
	// w_i loss_i. 0 is the library default, 1; a batch's mean loss is
	// 1 / sum_i w_i (1 / batch without Weights).
	GradScale float64
	// Dropout: nil keeps config.json's rates; Ptr(0.0) turns dropout off;
	// else every rate.
	Dropout *float64
	// Seed and Stream name the dropout masks (use a new Stream per batch,
	// e.g. the batch's number). Seed nil: 42.
	Seed   *uint64
	Stream uint64
}

// ForwardBackward runs the forward and backward pass on a batch
// (dm_model_forward_backward): the cross-entropy loss_i of each row, and the
// gradients of GradScale * sum_i w_i loss_i ADDED to the model's gradients
// of its trainable tensors (they accumulate over calls until
// Optimizer.Step or ZeroGrad clears them). It returns lossSum = sum_i w_i
// loss_i and the logits (batch x num_labels, one backing array). A label
// out of range is StatusRange, a negative or non-finite weight
// StatusInvalidArgument, a NaN or infinite loss StatusNumeric (no gradient
// is added). opts may be nil.
func (m *Model) ForwardBackward(b Batch, opts *BackwardOptions) (lossSum float64, logits [][]float32, err error) {
	cb, free, err := b.toC()
	if err != nil {
		return 0, nil, err
	}
	defer free()
	co := backwardOptions(opts)
	p, unlock, err := m.lock()
	if err != nil {
		return 0, nil, err
	}
	defer unlock()
	info, err := m.info(p)
	if err != nil {
		return 0, nil, err
	}
	n, L := len(b.IDs), info.NumLabels
	out := make([]float32, n*L+1)
	var loss C.double
	err = call(func() C.dm_status {
		return C.dm_model_forward_backward(p, cb, &co, &loss, (*C.float)(unsafe.Pointer(&out[0])))
	})
	if err != nil {
		return 0, nil, err
	}
	return float64(loss), rows(out, n, L), nil
}

// ZeroGrad sets the model's gradients to zero (dm_model_zero_grad).
func (m *Model) ZeroGrad() error {
	p, unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return call(func() C.dm_status { return C.dm_model_zero_grad(p) })
}

// tensorShape is the shape of the model's tensor name (its Hugging Face
// name, as safetensors lays it out), from the model's dimensions (the
// table of lib/model/bert.c); nil for a name that is not one of them.
func tensorShape(info ModelInfo, name string) []int {
	V, H, P, TV := info.VocabSize, info.HiddenSize, info.MaxPositionEmbeddings, info.TypeVocabSize
	I, L := info.IntermediateSize, info.NumLabels
	switch name {
	case "bert.embeddings.word_embeddings.weight":
		return []int{V, H}
	case "bert.embeddings.position_embeddings.weight":
		return []int{P, H}
	case "bert.embeddings.token_type_embeddings.weight":
		return []int{TV, H}
	case "bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias", "bert.pooler.dense.bias":
		return []int{H}
	case "bert.pooler.dense.weight":
		return []int{H, H}
	case "classifier.weight":
		return []int{L, H}
	case "classifier.bias":
		return []int{L}
	}
	const prefix = "bert.encoder.layer."
	if !strings.HasPrefix(name, prefix) {
		return nil
	}
	layer, rest, ok := strings.Cut(name[len(prefix):], ".")
	l, err := strconv.Atoi(layer)
	if !ok || err != nil || l < 0 || l >= info.NumLayers || strconv.Itoa(l) != layer {
		return nil
	}
	switch rest {
	case "attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight",
		"attention.output.dense.weight":
		return []int{H, H}
	case "attention.self.query.bias", "attention.self.key.bias", "attention.self.value.bias",
		"attention.output.dense.bias", "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
		"output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias":
		return []int{H}
	case "intermediate.dense.weight":
		return []int{I, H}
	case "intermediate.dense.bias":
		return []int{I}
	case "output.dense.weight":
		return []int{H, I}
	}
	return nil
}

// Grad returns the model's accumulated gradient of the tensor name (a
// Hugging Face name), flat in the tensor's safetensors layout (row-major)
// (dm_model_get_grad). StatusNotFound for an unknown name,
// StatusInvalidArgument for a frozen tensor (it has no gradient).
func (m *Model) Grad(name string) ([]float32, error) {
	cs, err := cPath("Grad: tensor name", name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cs))
	p, unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	info, err := m.info(p)
	if err != nil {
		return nil, err
	}
	shape := tensorShape(info, name)
	if shape == nil { // not one of the model's tensors: the library says so
		var dummy C.float
		if err := call(func() C.dm_status { return C.dm_model_get_grad(p, cs, &dummy, 0) }); err != nil {
			return nil, err
		}
		return nil, newError(StatusNotFound, "Grad: the model has no tensor %q", name)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	out := make([]float32, n+1)
	err = call(func() C.dm_status {
		return C.dm_model_get_grad(p, cs, (*C.float)(unsafe.Pointer(&out[0])), C.size_t(n))
	})
	if err != nil {
		return nil, err
	}
	return out[:n:n], nil
}

// ------------------------------------------------------------------ the optimizer

// OptimizerOptions are options for NewOptimizer (dm_optimizer_options). The
// zero value (and a nil pointer) are the library defaults; fields whose
// zero is a meaningful setting different from the default are pointers.
type OptimizerOptions struct {
	LearningRate float64  // 0: 5e-5 (the peak, after warmup)
	WeightDecay  *float64 // nil: 0.01; decoupled; never on biases and LayerNorm weights
	AdamBeta1    *float64 // nil: 0.9
	AdamBeta2    *float64 // nil: 0.999
	AdamEpsilon  float64  // 0: 1e-8
	MaxGradNorm  *float64 // nil: 1.0; Ptr(0.0) turns clipping off
	Schedule     Schedule
	WarmupSteps  uint64
	// TotalSteps is the schedule's length; 0 keeps the rate constant after
	// warmup (given to a Trainer: the run's steps).
	TotalSteps uint64
}

// StepInfo is what Optimizer.Step returns (dm_optimizer_step_info).
type StepInfo struct {
	Step         uint64  // steps done, this one included
	LearningRate float64 // used for this step
	GradNorm     float64 // the global norm before clipping
}

// Optimizer is AdamW (PyTorch's torch.optim.AdamW) over the tensors of a
// model that were trainable when it was made (dm_optimizer): global-norm
// clipping, a learning-rate schedule and decoupled weight decay. With
// Model.ForwardBackward it makes a hand-written training loop:
//
//	opt, err := datamodel.NewOptimizer(m, &datamodel.OptimizerOptions{LearningRate: 1e-4})
//	...
//	defer opt.Close()
//	for i, b := range batches {
//		_, _, err = m.ForwardBackward(b, &datamodel.BackwardOptions{GradScale: 1 / float64(len(b.IDs)), Stream: uint64(i)})
//		_, err = opt.Step()
//	}
//
// While it is open, the model stays open (Model.Close returns
// ErrModelInUse) and its trainable set is fixed (SetTrainable fails with
// StatusBusy). Its methods are serialised with the model's. Close releases
// it (a finalizer does otherwise, as a safety net).
type Optimizer struct {
	m        *Model
	p        *C.dm_optimizer // guarded by m.mu
	trainers int             // open Trainers using it (guarded by m.mu)
}

// NewOptimizer makes an optimizer over m's tensors trainable now
// (dm_optimizer_create). opts may be nil.
func NewOptimizer(m *Model, opts *OptimizerOptions) (*Optimizer, error) {
	var c C.dm_optimizer_options
	C.dm_optimizer_options_default(&c)
	if opts != nil {
		if opts.LearningRate != 0 {
			c.learning_rate = C.double(opts.LearningRate)
		}
		for _, f := range []struct {
			v   *float64
			dst *C.double
		}{{opts.WeightDecay, &c.weight_decay}, {opts.AdamBeta1, &c.adam_beta1}, {opts.AdamBeta2, &c.adam_beta2},
			{opts.MaxGradNorm, &c.max_grad_norm}} {
			if f.v != nil {
				*f.dst = C.double(*f.v)
			}
		}
		if opts.AdamEpsilon != 0 {
			c.adam_epsilon = C.double(opts.AdamEpsilon)
		}
		if err := checkCInts(namedInt{"OptimizerOptions.Schedule", int(opts.Schedule)}); err != nil {
			return nil, err
		}
		c.schedule = C.dm_lr_schedule(opts.Schedule) // out of range: the library names it
		c.warmup_steps = C.uint64_t(opts.WarmupSteps)
		c.total_steps = C.uint64_t(opts.TotalSteps)
	}
	p, unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out *C.dm_optimizer
	if err := call(func() C.dm_status { return C.dm_optimizer_create(p, &c, &out) }); err != nil {
		return nil, err
	}
	m.users++
	o := &Optimizer{m: m, p: out}
	runtime.SetFinalizer(o, (*Optimizer).finalize)
	return o, nil
}

// lock takes the model for one call on the optimizer.
func (o *Optimizer) lock() (*C.dm_optimizer, func(), error) {
	if o == nil || o.m == nil {
		return nil, nil, ErrOptimizerClosed
	}
	_, unlock, err := o.m.lock()
	if err != nil {
		return nil, nil, err
	}
	if o.p == nil {
		unlock()
		return nil, nil, ErrOptimizerClosed
	}
	return o.p, func() { runtime.KeepAlive(o); unlock() }, nil
}

// free releases the C optimizer; the caller holds o.m.mu.
func (o *Optimizer) free() {
	if o.p != nil {
		C.dm_optimizer_free(o.p)
		o.p = nil
		o.m.users--
	}
	runtime.SetFinalizer(o, nil)
}

func (o *Optimizer) finalize() {
	// Not on the finalizer goroutine: the model's lock may be held by a
	// long call.
	go func() {
		o.m.mu.Lock()
		defer o.m.mu.Unlock()
		o.free()
	}()
}

// Close releases the optimizer (dm_optimizer_free). It is safe to call more
// than once and on a nil *Optimizer. It returns nil, or (and does nothing)
// ErrOptimizerInUse while an open Trainer uses it, ErrModelTraining when
// called from a training callback.
func (o *Optimizer) Close() error {
	if o == nil || o.m == nil {
		return nil
	}
	if o.m.running.Load() {
		return ErrModelTraining
	}
	o.m.mu.Lock()
	defer o.m.mu.Unlock()
	if o.p == nil {
		return nil
	}
	if o.trainers > 0 {
		return ErrOptimizerInUse
	}
	o.free()
	return nil
}

// Step takes one AdamW step with the model's gradients: global-norm
// clipping, the scheduled learning rate, the update, then the gradients set
// to zero (dm_optimizer_step). A NaN or infinite gradient norm is
// StatusNumeric before anything changes.
func (o *Optimizer) Step() (StepInfo, error) {
	p, unlock, err := o.lock()
	if err != nil {
		return StepInfo{}, err
	}
	defer unlock()
	var info C.dm_optimizer_step_info
	info.struct_size = C.sizeof_dm_optimizer_step_info
	if err := call(func() C.dm_status { return C.dm_optimizer_step(p, &info) }); err != nil {
		return StepInfo{}, err
	}
	return StepInfo{Step: uint64(info.step), LearningRate: float64(info.learning_rate),
		GradNorm: float64(info.grad_norm)}, nil
}

// Steps returns the steps done so far (after Load: those of the saved
// state) (dm_optimizer_steps).
func (o *Optimizer) Steps() (uint64, error) {
	p, unlock, err := o.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	return uint64(C.dm_optimizer_steps(p)), nil
}

// Save writes the state (AdamW moments of every trainable tensor, the step
// count, the options) to path, a safetensors file written atomically
// (dm_optimizer_save).
func (o *Optimizer) Save(path string) error {
	return o.withPath("Save", path, func(p *C.dm_optimizer, cp *C.char) C.dm_status {
		return C.dm_optimizer_save(p, cp)
	})
}

// Load reads a state written by Save (dm_optimizer_load): a state of other
// trainable tensors or other options is StatusInvalidArgument.
func (o *Optimizer) Load(path string) error {
	return o.withPath("Load", path, func(p *C.dm_optimizer, cp *C.char) C.dm_status {
		return C.dm_optimizer_load(p, cp)
	})
}

func (o *Optimizer) withPath(what, path string, f func(*C.dm_optimizer, *C.char) C.dm_status) error {
	cp, err := cPath("Optimizer."+what+": path", path)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cp))
	p, unlock, err := o.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return call(func() C.dm_status { return f(p, cp) })
}

// ------------------------------------------------------------------ the trainer

// osThread runs functions on one goroutine locked to one OS thread. The
// library binds a model being trained by a dm_trainer to the thread that
// made the trainer (other threads' calls are DM_ERR_BUSY, the final save of
// dm_trainer_run included), and goroutines move between threads: every C
// call of a Trainer runs here.
type osThread struct{ jobs chan func() }

func newOSThread() *osThread {
	t := &osThread{jobs: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		for f := range t.jobs {
			f()
		}
	}()
	return t
}

// do runs f on the thread and waits for it.
func (t *osThread) do(f func()) {
	done := make(chan struct{})
	t.jobs <- func() {
		defer close(done)
		f()
	}
	<-done
}

func (t *osThread) stop() { close(t.jobs) }

// Trainer is a training run, step by step (dm_trainer): what Train does, in
// the caller's hands.
//
//	tr, err := datamodel.NewTrainer(m, nil, train, val, &datamodel.FineTuneOptions{Epochs: 3})
//	...
//	for !tr.Done() {
//		p, err := tr.Step() // one optimizer step
//		...
//	}
//	report, err := tr.Evaluate() // the validation report (keeps the best weights)
//	err = tr.Save("ckpt")       // a checkpoint: Resume("ckpt") on a new Trainer goes on exactly
//	err = tr.Close()
//
// Run does the rest of the plan as Train does (evaluations, checkpoints,
// early stopping, the best weights, the final save) and calls the
// FineTuneOptions.Callback; Step does not call it.
//
// The model is being trained until Close: its methods (and those of its
// Optimizers) return ErrModelTraining, Model.Close included. The trainer's
// C calls all run on one OS thread of its own (the library binds the model
// to the thread that made the trainer), so its methods may be called from
// any goroutine; they are serialised. Close it before the Optimizer it
// uses, and both before the model (a finalizer frees an unreachable
// Trainer, as a safety net).
type Trainer struct {
	m     *Model
	opt   *Optimizer
	p     *C.dm_trainer // guarded by m.mu
	th    *osThread
	copts *C.dm_train_options // read by the library until the trainer is freed (paths, callback)
	free  func()
	state *trainState
	h     cgo.Handle
	// running: Run is in progress (m.mu is held); m.running says the same
	// to the model's other users.
	running atomic.Bool
}

// NewTrainer prepares a run of m on train (val may be nil) as opts say
// (dm_trainer_create): freezes what FreezeEmbeddings and FreezeLayers say,
// tokenizes both sets once, plans the epochs and makes the optimizer from
// opts, or uses opt (an Optimizer of m; freeze with SetTrainable before
// making it: the Freeze options are refused with one). The same checks as
// Train run first (labels, OutputDir). With opts.ResumeFrom it resumes from
// that checkpoint at once. opt and opts may be nil.
func NewTrainer(m *Model, opt *Optimizer, train, val *Dataset, opts *FineTuneOptions) (*Trainer, error) {
	if train.closed() {
		return nil, newError(StatusInvalidArgument, "NewTrainer: the training data is nil or closed")
	}
	if val != nil && val.p == nil {
		return nil, newError(StatusInvalidArgument, "NewTrainer: the validation data is closed")
	}
	if opt != nil && opt.m != m {
		return nil, newError(StatusInvalidArgument, "NewTrainer: the optimizer belongs to another model")
	}
	p, unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var copt *C.dm_optimizer
	if opt != nil {
		if opt.p == nil {
			return nil, ErrOptimizerClosed
		}
		copt = opt.p
	}
	info, err := m.info(p)
	if err != nil {
		return nil, err
	}
	copts, free, err := opts.toC(info.NumLabels)
	if err != nil {
		return nil, err
	}
	t := &Trainer{m: m, opt: opt, th: newOSThread(), copts: copts, free: free}
	if opts != nil && opts.Callback != nil {
		t.state = &trainState{fn: opts.Callback}
		t.h = cgo.NewHandle(t.state)
		setTrainCallback(copts, t.h)
	}
	var cval *C.dm_dataset
	if val != nil {
		cval = val.p
	}
	var out *C.dm_trainer
	t.th.do(func() {
		err = call(func() C.dm_status { return C.dm_trainer_create(p, copt, train.p, cval, copts, &out) })
	})
	runtime.KeepAlive(train)
	runtime.KeepAlive(val)
	if err != nil {
		t.release()
		return nil, err
	}
	t.p = out
	m.training.Store(true)
	m.users++
	if opt != nil {
		opt.trainers++
	}
	if copts.resume_from != nil {
		t.th.do(func() { err = call(func() C.dm_status { return C.dm_trainer_resume(out, copts.resume_from) }) })
		if err != nil {
			t.freeLocked()
			return nil, err
		}
	}
	runtime.SetFinalizer(t, (*Trainer).finalize)
	return t, nil
}

// release frees what the trainer holds besides the C trainer.
func (t *Trainer) release() {
	if t.free != nil {
		t.free()
		t.free, t.copts = nil, nil
	}
	if t.state != nil {
		t.h.Delete()
		t.state = nil
	}
	if t.th != nil {
		t.th.stop()
		t.th = nil
	}
}

// freeLocked frees the C trainer; the caller holds m.mu.
func (t *Trainer) freeLocked() {
	if t.p != nil {
		p := t.p
		t.th.do(func() { C.dm_trainer_free(p) })
		t.p = nil
		t.m.training.Store(false)
		t.m.users--
		if t.opt != nil {
			t.opt.trainers--
		}
	}
	t.release()
	runtime.SetFinalizer(t, nil)
}

func (t *Trainer) finalize() {
	go func() {
		t.m.mu.Lock()
		defer t.m.mu.Unlock()
		t.freeLocked()
	}()
}

// Close releases the trainer (dm_trainer_free): the model is no longer
// being trained; an Optimizer given to NewTrainer stays open. It is safe to
// call more than once and on a nil *Trainer. It returns nil, or (and does
// nothing) ErrTrainerRunning when called from the callback of Run.
func (t *Trainer) Close() error {
	if t == nil || t.m == nil {
		return nil
	}
	if t.running.Load() {
		return ErrTrainerRunning
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.freeLocked()
	return nil
}

// enter takes the model for one call on the trainer.
func (t *Trainer) enter() (*C.dm_trainer, func(), error) {
	if t == nil || t.m == nil {
		return nil, nil, ErrTrainerClosed
	}
	if t.running.Load() {
		return nil, nil, ErrTrainerRunning
	}
	t.m.mu.Lock()
	if t.p == nil {
		t.m.mu.Unlock()
		return nil, nil, ErrTrainerClosed
	}
	return t.p, func() { runtime.KeepAlive(t); t.m.mu.Unlock() }, nil
}

// do runs one fallible C call of the trainer on its thread.
func (t *Trainer) do(f func() C.dm_status) (err error) {
	t.th.do(func() { err = call(f) })
	return err
}

// Step takes one optimizer step (GradAccum batches of the epoch's order)
// and writes its log line (dm_trainer_step). It returns what a
// TrainCallback sees (Evaluated false); StatusRange when the run's steps
// are done.
func (t *Trainer) Step() (TrainProgress, error) {
	p, unlock, err := t.enter()
	if err != nil {
		return TrainProgress{}, err
	}
	defer unlock()
	cp := (*C.dm_train_progress)(C.calloc(1, C.sizeof_dm_train_progress))
	defer C.free(unsafe.Pointer(cp))
	cp.struct_size = C.sizeof_dm_train_progress
	if err := t.do(func() C.dm_status { return C.dm_trainer_step(p, cp) }); err != nil {
		return TrainProgress{}, err
	}
	return *progressFromC(cp), nil
}

// Done says whether the run's steps are done (or early stopping stopped it)
// (dm_trainer_done): true for a closed trainer, false while Run runs.
func (t *Trainer) Done() bool {
	p, unlock, err := t.enter()
	if err == ErrTrainerRunning {
		return false
	}
	if err != nil {
		return true
	}
	defer unlock()
	return C.dm_trainer_done(p) != 0
}

// Evaluate evaluates on the validation set and returns the report, with the
// mean loss; it keeps the best weights and counts evaluations without
// improvement, as Train does at each evaluation (dm_trainer_evaluate).
// StatusInvalidArgument without validation data.
func (t *Trainer) Evaluate() (*Report, error) {
	p, unlock, err := t.enter()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out *C.dm_eval_report
	if err := t.do(func() C.dm_status { return C.dm_trainer_evaluate(p, &out) }); err != nil {
		return nil, err
	}
	return takeReport(out), nil
}

// Save writes a checkpoint of the run at its current step into dir (a model
// folder with the optimizer's and the trainer's state, written whole)
// (dm_trainer_save).
func (t *Trainer) Save(dir string) error {
	return t.withDir("Save", dir, func(p *C.dm_trainer, cd *C.char) C.dm_status { return C.dm_trainer_save(p, cd) })
}

// Resume goes on from a checkpoint written by Save (or by Train's
// CheckpointSteps), bit for bit (dm_trainer_resume): the data, options and
// labels must be those it was written with. Only before the first step.
func (t *Trainer) Resume(dir string) error {
	return t.withDir("Resume", dir, func(p *C.dm_trainer, cd *C.char) C.dm_status {
		return C.dm_trainer_resume(p, cd)
	})
}

func (t *Trainer) withDir(what, dir string, f func(*C.dm_trainer, *C.char) C.dm_status) error {
	cd, err := cPath("Trainer."+what+": directory", dir)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cd))
	p, unlock, err := t.enter()
	if err != nil {
		return err
	}
	defer unlock()
	return t.do(func() C.dm_status { return f(p, cd) })
}

// Run runs the rest of the plan as Train does: steps, evaluations every
// EvalSteps or epoch, checkpoints, early stopping, the best weights kept and
// the final model saved to OutputDir, with the Callback after every step
// (dm_trainer_run). The Callback runs on the trainer's goroutine; if it
// panics, the panic is raised again from Run.
func (t *Trainer) Run() (*TrainResult, error) {
	p, unlock, err := t.enter()
	if err != nil {
		return nil, err
	}
	defer unlock()
	t.running.Store(true)
	t.m.running.Store(true)
	res := (*C.dm_train_result)(C.calloc(1, C.sizeof_dm_train_result))
	defer C.free(unsafe.Pointer(res))
	res.struct_size = C.sizeof_dm_train_result
	err = t.do(func() C.dm_status { return C.dm_trainer_run(p, res) })
	t.m.running.Store(false)
	t.running.Store(false)
	if s := t.state; s != nil && s.panicked {
		v := s.panicVal
		s.panicked, s.panicVal = false, nil
		panic(v)
	}
	if err != nil {
		return nil, err
	}
	return resultFromC(res), nil
}
