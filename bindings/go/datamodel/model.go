package datamodel

/*
#include <stdint.h>
#include <stdlib.h>
#include <datamodel.h>

// Defined in progress.go and train.go (//export): files with //export may
// only declare C functions, so the trampolines of both live here.
extern int dmGoProgress(uint64_t done, uint64_t total, uintptr_t handle);
extern int dmGoTrainCallback(dm_train_progress *p, uintptr_t handle);

static int dm_go_model_progress(uint64_t done, uint64_t total, void *user)
{
    return dmGoProgress(done, total, (uintptr_t)user);
}

static void dm_go_set_infer_progress(dm_infer_options *opts, uintptr_t handle)
{
    opts->progress = dm_go_model_progress;
    opts->progress_user = (void *)handle;
}

// The dm_train_fn the library calls: forwards to Go with the cgo.Handle that
// travels in the user pointer.
static int dm_go_train_callback(const dm_train_progress *p, void *user)
{
    return dmGoTrainCallback((dm_train_progress *)p, (uintptr_t)user);
}

static void dm_go_set_train_callback(dm_train_options *opts, uintptr_t handle)
{
    opts->callback = dm_go_train_callback;
    opts->callback_user = (void *)handle;
}
*/
import "C"

import (
	"math"
	"runtime"
	"runtime/cgo"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"
)

// ErrModelClosed is returned by the methods of a Model that has been closed
// (or is nil).
var ErrModelClosed = newError(StatusInvalidArgument, "the model is closed or nil")

// ErrModelTraining is returned by the methods of a Model that is being
// trained: by Train (for instance when a training callback calls them), or
// by an open Trainer (until its Close).
var ErrModelTraining = newError(StatusInvalidArgument, "the model is being trained")

// ErrModelInUse is returned by Model.Close while an Optimizer of the model is
// open: close it first.
var ErrModelInUse = newError(StatusBusy, "the model has an open Optimizer: close it first")

// Device is a compute backend (dm_device).
type Device int

const (
	DeviceAuto Device = C.DM_DEVICE_AUTO // CUDA when built with it and a GPU is present, else CPU
	DeviceCPU  Device = C.DM_DEVICE_CPU  // oneDNN
	DeviceCUDA Device = C.DM_DEVICE_CUDA
)

func (d Device) String() string {
	switch d {
	case DeviceAuto:
		return "auto"
	case DeviceCPU:
		return "cpu"
	case DeviceCUDA:
		return "cuda"
	}
	return "Device(" + strconv.Itoa(int(d)) + ")"
}

// Precision is the precision of inference (dm_precision).
type Precision int

const (
	// PrecisionFP32 is float32 throughout (the default), equal to PyTorch's
	// float32 to ~1e-6.
	PrecisionFP32 Precision = C.DM_PRECISION_FP32
	// PrecisionBF16 runs the matrix products on bfloat16 inputs with float32
	// accumulation: about twice as fast on CPUs with AVX512-BF16, results
	// within ~1e-2 of float32. For training see FineTuneOptions.Precision.
	PrecisionBF16 Precision = C.DM_PRECISION_BF16
)

func (p Precision) String() string {
	switch p {
	case PrecisionFP32:
		return "fp32"
	case PrecisionBF16:
		return "bf16"
	}
	return "Precision(" + strconv.Itoa(int(p)) + ")"
}

// Ptr returns a pointer to v, for the optional fields of the options
// structs (e.g. FineTuneOptions{WeightDecay: datamodel.Ptr(0.0)}).
func Ptr[T any](v T) *T { return &v }

// ModelOptions are options for LoadModel. The zero value (and a nil pointer)
// are the library defaults.
type ModelOptions struct {
	// NumLabels: 0 takes it from config.json (id2label / num_labels) or
	// Labels; else this many (a head of another size is replaced).
	NumLabels int
	// Labels are the label names in id order; nil: from config.json, else
	// "LABEL_0", "LABEL_1", ... as Hugging Face names them.
	Labels []string
	// Seed initialises a new head; nil: the library default (42).
	Seed      *uint64
	Device    Device
	Threads   int       // 0: all cores
	Precision Precision // of inference; the zero value is PrecisionFP32
	// NewHead asks for a new classification head even when the folder has
	// one trained for these labels. Labels never silently change meaning:
	// Labels naming the folder's trained labels in another order reorder
	// the head; other names over a trained head fail unless NewHead is set;
	// a config.json that does not belong to the weights fails
	// (dm_model_load).
	NewHead bool
	// Key: nil for plain weights; else KeySize bytes (ReadKeyFile): the
	// folder's weights are dm-encrypted (model.safetensors.enc, or an
	// encrypted model.safetensors; EncryptFile) and LoadModel decrypts them
	// in memory, never on disk (config.json and the tokenizer files stay
	// plain). Encrypted weights loaded without a key are
	// StatusInvalidArgument saying they need one; a wrong key, a tampered
	// or cut file, or a key given for plain weights StatusAuth.
	Key []byte
}

// modelHandle owns the C model. It is freed by Model.Close, or, once a
// Tokenizer has been taken from the model, when neither the Model nor any
// such Tokenizer is reachable any more.
type modelHandle struct {
	p    *C.dm_model
	lent bool // a Tokenizer sharing the C memory was handed out
}

func (h *modelHandle) free() {
	if h.p != nil {
		C.dm_model_free(h.p)
		h.p = nil
	}
}

// Model is a BERT encoder with a sequence-classification head, its tokenizer
// and its label names, on a compute backend (dm_model). Its methods may be
// called from several goroutines: they are serialised (the C model is not
// shared between threads). Close releases it.
type Model struct {
	mu sync.Mutex
	h  *modelHandle
	// training: Train runs, or a Trainer is open; the model's methods
	// return ErrModelTraining.
	training atomic.Bool
	// running: Train or Trainer.Run holds mu and may call back into Go;
	// what would wait for mu returns an error instead.
	running atomic.Bool
	users   int // open Optimizers and Trainers (guarded by mu)
}

func newModel(p *C.dm_model) *Model {
	h := &modelHandle{p: p}
	runtime.SetFinalizer(h, (*modelHandle).free)
	return &Model{h: h}
}

// LoadModel loads a Hugging Face model folder (dm_model_load): config.json
// (model_type "bert"), model.safetensors (F32, F16 or BF16) and the
// tokenizer (tokenizer.json or vocab.txt). Without a classification head in
// the weights, or with one of another size than asked, a new head is
// initialised from opts.Seed. opts may be nil.
func LoadModel(dir string, opts *ModelOptions) (*Model, error) {
	var c C.dm_model_options
	C.dm_model_options_default(&c)
	var labels *cStringBlock
	if opts != nil {
		if opts.NumLabels < 0 {
			return nil, newError(StatusInvalidArgument, "ModelOptions.NumLabels is negative (%d)", opts.NumLabels)
		}
		if opts.Threads < math.MinInt32 || opts.Threads > math.MaxInt32 {
			return nil, newError(StatusInvalidArgument, "ModelOptions.Threads is out of range (%d)", opts.Threads)
		}
		c.num_labels = C.size_t(opts.NumLabels)
		if opts.Labels != nil {
			if err := checkNoNUL("ModelOptions.Labels", opts.Labels); err != nil {
				return nil, err
			}
			labels = newCStringBlock(opts.Labels)
			defer labels.free()
			c.labels = labels.ptrs[0]
			c.n_labels = C.size_t(len(opts.Labels))
		}
		if opts.Seed != nil {
			c.seed = C.uint64_t(*opts.Seed)
		}
		err := checkCInts(namedInt{"ModelOptions.Device", int(opts.Device)},
			namedInt{"ModelOptions.Precision", int(opts.Precision)})
		if err != nil {
			return nil, err
		}
		c.device = C.dm_device(opts.Device)
		c.threads = C.int(opts.Threads)
		c.precision = C.dm_precision(opts.Precision)
		if opts.NewHead {
			c.new_head = 1
		}
		if opts.Key != nil {
			k, err := cKey("ModelOptions.Key", opts.Key)
			if err != nil {
				return nil, err
			}
			defer freeKey(k)
			c.key = k
		}
	}
	cdir, err := cPath("model folder", dir)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cdir))
	var out *C.dm_model
	if err := call(func() C.dm_status { return C.dm_model_load(cdir, &c, &out) }); err != nil {
		return nil, err
	}
	return newModel(out), nil
}

// lock takes the model for one call; the caller runs the returned unlock.
func (m *Model) lock() (*C.dm_model, func(), error) {
	if m == nil {
		return nil, nil, ErrModelClosed
	}
	if m.training.Load() {
		return nil, nil, ErrModelTraining
	}
	m.mu.Lock()
	if m.training.Load() { // a Trainer was made while this call waited
		m.mu.Unlock()
		return nil, nil, ErrModelTraining
	}
	if m.h == nil || m.h.p == nil {
		m.mu.Unlock()
		return nil, nil, ErrModelClosed
	}
	h := m.h
	return h.p, func() { runtime.KeepAlive(h); m.mu.Unlock() }, nil
}

// Close releases the model (dm_model_free). If Tokenizer was called, the C
// memory is released once the tokenizers it returned are unreachable too. It
// is safe to call more than once and on a nil *Model. It returns nil, or
// (and does nothing) ErrModelTraining while Train runs on the model or a
// Trainer of it is open, ErrModelInUse while an Optimizer of it is open.
func (m *Model) Close() error {
	if m == nil {
		return nil
	}
	if m.training.Load() {
		return ErrModelTraining
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.training.Load() {
		return ErrModelTraining
	}
	if m.users > 0 {
		return ErrModelInUse
	}
	h := m.h
	m.h = nil
	if h != nil && !h.lent {
		h.free()
		runtime.SetFinalizer(h, nil)
	}
	return nil
}

// Save writes dir (created if needed) as a BertForSequenceClassification
// folder that transformers' AutoModelForSequenceClassification opens:
// config.json, model.safetensors (F32) and the tokenizer files, each
// written atomically (dm_model_save).
func (m *Model) Save(dir string) error {
	p, unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	cdir, err := cPath("directory", dir)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cdir))
	return call(func() C.dm_status { return C.dm_model_save(p, cdir) })
}

// ModelInfo describes a loaded model (dm_model_info).
type ModelInfo struct {
	VocabSize, HiddenSize, NumLayers, NumHeads, IntermediateSize int
	MaxPositionEmbeddings, TypeVocabSize                         int
	NumLabels                                                    int
	NumParameters                                                int  // float parameters, head included
	NewHead                                                      bool // the head was initialised at load
	Device                                                       Device
	BackendName                                                  string // e.g. "cpu-onednn"
	Precision                                                    Precision
	// NumTrainableParameters counts the floats of the trainable tensors
	// (SetTrainable); NumParameters at load.
	NumTrainableParameters int
	// MemoryBytes is the backend's memory held now (GPU memory on CUDA),
	// MemoryPeakBytes the most it has held since the model was loaded.
	MemoryBytes, MemoryPeakBytes int
}

func (m *Model) info(p *C.dm_model) (ModelInfo, error) {
	var c C.dm_model_info
	c.struct_size = C.sizeof_dm_model_info
	if err := call(func() C.dm_status { return C.dm_model_get_info(p, &c) }); err != nil {
		return ModelInfo{}, err
	}
	return ModelInfo{
		VocabSize:             int(c.vocab_size),
		HiddenSize:            int(c.hidden_size),
		NumLayers:             int(c.num_layers),
		NumHeads:              int(c.num_heads),
		IntermediateSize:      int(c.intermediate_size),
		MaxPositionEmbeddings: int(c.max_position_embeddings),
		TypeVocabSize:         int(c.type_vocab_size),
		NumLabels:             int(c.num_labels),
		NumParameters:         int(c.num_parameters),
		NewHead:               c.new_head != 0,
		Device:                Device(c.device),
		BackendName:           C.GoString(c.backend_name),
		Precision:             Precision(c.precision),

		NumTrainableParameters: int(c.num_trainable_parameters),
		MemoryBytes:            int(c.memory_bytes),
		MemoryPeakBytes:        int(c.memory_peak_bytes),
	}, nil
}

// Info describes the model (dm_model_get_info).
func (m *Model) Info() (ModelInfo, error) {
	p, unlock, err := m.lock()
	if err != nil {
		return ModelInfo{}, err
	}
	defer unlock()
	return m.info(p)
}

func (m *Model) labels(p *C.dm_model, n int) []string {
	out := make([]string, n)
	for j := range out {
		if s := C.dm_model_label_name(p, C.int32_t(j)); s != nil {
			out[j] = C.GoString(s)
		}
	}
	return out
}

// Labels returns the label names in id order (dm_model_label_name); nil for
// a closed model.
func (m *Model) Labels() []string {
	p, unlock, err := m.lock()
	if err != nil {
		return nil
	}
	defer unlock()
	info, err := m.info(p)
	if err != nil {
		return nil
	}
	return m.labels(p, info.NumLabels)
}

// LabelName returns the name of label id, and false when id is out of range
// (dm_model_label_name).
func (m *Model) LabelName(id int) (string, bool) {
	if id < math.MinInt32 || id > math.MaxInt32 {
		return "", false
	}
	p, unlock, err := m.lock()
	if err != nil {
		return "", false
	}
	defer unlock()
	s := C.dm_model_label_name(p, C.int32_t(id))
	if s == nil {
		return "", false
	}
	return C.GoString(s), true
}

// Tokenizer returns the model's tokenizer (dm_model_tokenizer). It does not
// own its memory: the model does, and the returned Tokenizer keeps the
// model's C memory alive for as long as it is reachable (even after
// Model.Close). Its Close method only detaches it (the model's tokenizer is
// not freed). It returns nil for a closed model.
func (m *Model) Tokenizer() *Tokenizer {
	p, unlock, err := m.lock()
	if err != nil {
		return nil
	}
	defer unlock()
	h := m.h
	h.lent = true
	t := &Tokenizer{p: (*C.dm_tokenizer)(unsafe.Pointer(C.dm_model_tokenizer(p))), owner: h}
	// Not newTokenizer: its finalizer would free the model's tokenizer. This
	// one only keeps the model handle reachable while t is; Close detaches.
	runtime.SetFinalizer(t, func(*Tokenizer) { runtime.KeepAlive(h) })
	return t
}

// SetThreads sets the threads for compute (0 = all cores)
// (dm_model_set_threads).
func (m *Model) SetThreads(threads int) error {
	if threads < math.MinInt32 || threads > math.MaxInt32 {
		return newError(StatusInvalidArgument, "SetThreads: %d threads is out of range", threads)
	}
	p, unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return call(func() C.dm_status { return C.dm_model_set_threads(p, C.int(threads)) })
}

// SetPrecision sets the precision of inference (dm_model_set_precision).
// PrecisionBF16 fails with StatusUnsupported where the backend has no
// bfloat16 matrix products.
func (m *Model) SetPrecision(precision Precision) error {
	if precision < math.MinInt32 || precision > math.MaxInt32 {
		return newError(StatusInvalidArgument, "SetPrecision: %d is not a precision", int(precision))
	}
	p, unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return call(func() C.dm_status { return C.dm_model_set_precision(p, C.dm_precision(precision)) })
}

// ForwardOptions choose the extra outputs of Forward.
type ForwardOptions struct {
	Hidden bool // the last hidden states, batch x seq_len x hidden_size
	Pooled bool // the pooler output, batch x hidden_size
}

// ForwardOutput is what Forward returns. Each result's rows share one
// backing array.
type ForwardOutput struct {
	Logits [][]float32   // batch x num_labels
	Hidden [][][]float32 // batch x seq_len x hidden_size, when asked for
	Pooled [][]float32   // batch x hidden_size, when asked for
}

// rows cuts flat into n rows of w values.
func rows(flat []float32, n, w int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = flat[i*w : (i+1)*w : (i+1)*w]
	}
	return out
}

// Forward runs the encoder and head on token ids (dm_model_forward), with
// dropout off: ids, typeIDs and attentionMask are batch x seq_len, all rows
// of equal length (pad them). typeIDs nil means zeros; attentionMask nil
// means all ones, else 1 for a token and 0 for padding. opts may be nil.
func (m *Model) Forward(ids, typeIDs [][]int32, attentionMask [][]uint8, opts *ForwardOptions) (*ForwardOutput, error) {
	batch := len(ids)
	seq := 0
	if batch > 0 {
		seq = len(ids[0])
	}
	flatIDs := make([]int32, batch*seq+1)
	for i, r := range ids {
		if len(r) != seq {
			return nil, newError(StatusInvalidArgument, "Forward: ids[%d] has length %d, expected %d (pad the rows)", i, len(r), seq)
		}
		copy(flatIDs[i*seq:], r)
	}
	var ctypes *C.int32_t
	if typeIDs != nil {
		if len(typeIDs) != batch {
			return nil, newError(StatusInvalidArgument, "Forward: %d rows of typeIDs for %d rows of ids", len(typeIDs), batch)
		}
		flat := make([]int32, batch*seq+1)
		for i, r := range typeIDs {
			if len(r) != seq {
				return nil, newError(StatusInvalidArgument, "Forward: typeIDs[%d] has length %d, expected %d", i, len(r), seq)
			}
			copy(flat[i*seq:], r)
		}
		ctypes = (*C.int32_t)(unsafe.Pointer(&flat[0]))
	}
	var cmask *C.uint8_t
	if attentionMask != nil {
		if len(attentionMask) != batch {
			return nil, newError(StatusInvalidArgument, "Forward: %d rows of attentionMask for %d rows of ids",
				len(attentionMask), batch)
		}
		flat := make([]uint8, batch*seq+1)
		for i, r := range attentionMask {
			if len(r) != seq {
				return nil, newError(StatusInvalidArgument, "Forward: attentionMask[%d] has length %d, expected %d", i, len(r), seq)
			}
			copy(flat[i*seq:], r)
		}
		cmask = (*C.uint8_t)(unsafe.Pointer(&flat[0]))
	}
	p, unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	info, err := m.info(p)
	if err != nil {
		return nil, err
	}
	L, H := info.NumLabels, info.HiddenSize
	logits := make([]float32, batch*L+1)
	var hidden, pooled []float32
	var chidden, cpooled *C.float
	if opts != nil && opts.Hidden {
		hidden = make([]float32, batch*seq*H+1)
		chidden = (*C.float)(unsafe.Pointer(&hidden[0]))
	}
	if opts != nil && opts.Pooled {
		pooled = make([]float32, batch*H+1)
		cpooled = (*C.float)(unsafe.Pointer(&pooled[0]))
	}
	err = call(func() C.dm_status {
		return C.dm_model_forward(p, C.size_t(batch), C.size_t(seq), (*C.int32_t)(unsafe.Pointer(&flatIDs[0])), ctypes,
			cmask, (*C.float)(unsafe.Pointer(&logits[0])), chidden, cpooled)
	})
	if err != nil {
		return nil, err
	}
	out := &ForwardOutput{Logits: rows(logits, batch, L)}
	if hidden != nil {
		flat := rows(hidden, batch*seq, H)
		out.Hidden = make([][][]float32, batch)
		for b := range out.Hidden {
			out.Hidden[b] = flat[b*seq : (b+1)*seq : (b+1)*seq]
		}
	}
	if pooled != nil {
		out.Pooled = rows(pooled, batch, H)
	}
	return out, nil
}

// Pooling is how Embed pools token states into one vector (dm_pooling).
type Pooling int

const (
	PoolDefault Pooling = C.DM_POOL_DEFAULT // the folder's sentence-transformers pooling, else CLS
	PoolCLS     Pooling = C.DM_POOL_CLS
	PoolMean    Pooling = C.DM_POOL_MEAN // mean over real tokens
)

// InferOptions are options for Predict, Embed and Evaluate. The zero value
// (and a nil pointer) are the library defaults.
type InferOptions struct {
	// MaxLength: 0 takes sentence-transformers' max_seq_length for
	// embeddings, else max_position_embeddings; longer texts are truncated.
	MaxLength int
	// BatchSize: 0 is the library default (32). Texts are sorted by length
	// into batches.
	BatchSize int
	Pooling   Pooling // Embed only
	// Normalize is for Embed only: ToggleDefault does what the folder says
	// (sentence-transformers Normalize module).
	Normalize   Toggle
	InvalidUTF8 InvalidUTF8
	// Progress receives done/total in texts. May be nil.
	Progress ProgressFunc
}

// toC fills c (C memory) from o and returns the progress state (nil
// without a Progress function) and a function releasing its handle.
func (o *InferOptions) toC(c *C.dm_infer_options) (*progressState, func(), error) {
	C.dm_infer_options_default(c)
	if o == nil {
		return nil, func() {}, nil
	}
	if o.MaxLength < 0 || o.BatchSize < 0 {
		return nil, nil, newError(StatusInvalidArgument, "InferOptions: negative MaxLength (%d) or BatchSize (%d)",
			o.MaxLength, o.BatchSize)
	}
	if o.Pooling < 0 || o.InvalidUTF8 < 0 {
		return nil, nil, newError(StatusInvalidArgument, "InferOptions: negative Pooling or InvalidUTF8")
	}
	err := checkCInts(namedInt{"InferOptions.Pooling", int(o.Pooling)},
		namedInt{"InferOptions.InvalidUTF8", int(o.InvalidUTF8)})
	if err != nil {
		return nil, nil, err
	}
	c.max_length = C.size_t(o.MaxLength)
	if o.BatchSize > 0 {
		c.batch_size = C.size_t(o.BatchSize)
	}
	c.pooling = C.dm_pooling(o.Pooling)
	if c.normalize, err = o.Normalize.toC("InferOptions.Normalize", c.normalize); err != nil {
		return nil, nil, err
	}
	c.invalid_utf8 = C.dm_invalid_utf8(o.InvalidUTF8)
	if o.Progress == nil {
		return nil, func() {}, nil
	}
	ps := &progressState{fn: o.Progress}
	h := cgo.NewHandle(ps)
	C.dm_go_set_infer_progress(c, C.uintptr_t(h))
	return ps, h.Delete, nil
}

// setTrainCallback points opts at the C trampoline of training callbacks,
// with h as its user pointer (for train.go, whose preamble may not define
// it).
func setTrainCallback(opts *C.dm_train_options, h cgo.Handle) {
	C.dm_go_set_train_callback(opts, C.uintptr_t(h))
}

// Prediction is what Predict returns, one entry per text.
type Prediction struct {
	Labels   []string    // the predicted label names (the argmax)
	LabelIDs []int       // their ids
	Probs    [][]float32 // softmax, n x num_labels
	Logits   [][]float32 // n x num_labels
}

// Predict classifies texts, or the pairs (texts[i], pairs[i]) when pairs is
// not nil (it must then have the same length) (dm_model_predict). opts may
// be nil; its Pooling and Normalize are not used.
func (m *Model) Predict(texts, pairs []string, opts *InferOptions) (*Prediction, error) {
	if pairs != nil && len(pairs) != len(texts) {
		return nil, newError(StatusInvalidArgument, "Predict: %d texts but %d pairs", len(texts), len(pairs))
	}
	copts := (*C.dm_infer_options)(C.malloc(C.sizeof_dm_infer_options))
	defer C.free(unsafe.Pointer(copts))
	progress, release, err := opts.toC(copts)
	if err != nil {
		return nil, err
	}
	defer release()
	p, unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	info, err := m.info(p)
	if err != nil {
		return nil, err
	}
	n, L := len(texts), info.NumLabels
	if texts == nil {
		texts = []string{}
	}
	b := newCStringBlock(texts, pairs)
	defer b.free()
	logits := make([]float32, n*L+1)
	probs := make([]float32, n*L+1)
	ids := make([]int32, n+1)
	err = call(func() C.dm_status {
		return C.dm_model_predict(p, C.size_t(n), b.ptrs[0], b.lens[0], b.ptrs[1], b.lens[1], copts,
			(*C.float)(unsafe.Pointer(&logits[0])), (*C.float)(unsafe.Pointer(&probs[0])),
			(*C.int32_t)(unsafe.Pointer(&ids[0])))
	})
	progress.rethrow()
	if err != nil {
		return nil, err
	}
	names := m.labels(p, L)
	out := &Prediction{Labels: make([]string, n), LabelIDs: make([]int, n), Probs: rows(probs, n, L),
		Logits: rows(logits, n, L)}
	for i := 0; i < n; i++ {
		out.LabelIDs[i] = int(ids[i])
		if int(ids[i]) < len(names) {
			out.Labels[i] = names[ids[i]]
		}
	}
	return out, nil
}

// Embed returns sentence embeddings (n x hidden_size) of texts, pooled as
// opts say (dm_model_embed). opts may be nil.
func (m *Model) Embed(texts []string, opts *InferOptions) ([][]float32, error) {
	copts := (*C.dm_infer_options)(C.malloc(C.sizeof_dm_infer_options))
	defer C.free(unsafe.Pointer(copts))
	progress, release, err := opts.toC(copts)
	if err != nil {
		return nil, err
	}
	defer release()
	p, unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	info, err := m.info(p)
	if err != nil {
		return nil, err
	}
	n, H := len(texts), info.HiddenSize
	if texts == nil {
		texts = []string{}
	}
	b := newCStringBlock(texts)
	defer b.free()
	out := make([]float32, n*H+1)
	err = call(func() C.dm_status {
		return C.dm_model_embed(p, C.size_t(n), b.ptrs[0], b.lens[0], copts, (*C.float)(unsafe.Pointer(&out[0])))
	})
	progress.rethrow()
	if err != nil {
		return nil, err
	}
	return rows(out, n, H), nil
}

// Evaluate predicts every row of ds (which must have labels, named as the
// model's labels) and returns the metrics, with the mean cross-entropy as
// Loss (dm_model_evaluate). opts may be nil.
func (m *Model) Evaluate(ds *Dataset, opts *InferOptions) (*Report, error) {
	if ds.closed() {
		return nil, newError(StatusInvalidArgument, "Evaluate: the dataset is closed or nil")
	}
	copts := (*C.dm_infer_options)(C.malloc(C.sizeof_dm_infer_options))
	defer C.free(unsafe.Pointer(copts))
	progress, release, err := opts.toC(copts)
	if err != nil {
		return nil, err
	}
	defer release()
	p, unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out *C.dm_eval_report
	err = call(func() C.dm_status { return C.dm_model_evaluate(p, ds.p, copts, &out) })
	runtime.KeepAlive(ds)
	progress.rethrow()
	if err != nil {
		return nil, err
	}
	return takeReport(out), nil
}
