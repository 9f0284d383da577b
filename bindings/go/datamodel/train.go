package datamodel

// This file holds the exported Go side of training callbacks; its preamble
// may only declare (a file with //export must not define C functions). The C
// trampoline that the library calls is in model.go.

/*
#include <stdlib.h>
#include <datamodel.h>
*/
import "C"

import (
	"math"
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// Schedule is the learning-rate schedule of fine-tuning (dm_lr_schedule).
type Schedule int

const (
	ScheduleLinear   Schedule = C.DM_SCHEDULE_LINEAR   // linear warmup, then linear decay to 0 (HF default)
	ScheduleConstant Schedule = C.DM_SCHEDULE_CONSTANT // linear warmup, then constant
	ScheduleCosine   Schedule = C.DM_SCHEDULE_COSINE   // linear warmup, then half a cosine to 0
)

// TrainProgress is what a TrainCallback sees (dm_train_progress).
type TrainProgress struct {
	Step, TotalSteps uint64  // optimizer steps
	Epoch            float64 // fractional: 1.5 = half-way through the second epoch
	Epochs           int
	Loss             float64 // the last step's mean training loss
	LearningRate     float64 // used for the last step
	GradNorm         float64 // before clipping
	ExamplesPerSec   float64
	ElapsedSec       float64
	EtaSec           float64
	Evaluated        bool // this call reports an evaluation
	// ValLoss, ValAccuracy, ValMacroF1 are NaN when there is no evaluation.
	ValLoss, ValAccuracy, ValMacroF1 float64
	// DPEpsilon is the DP-SGD epsilon spent so far; NaN without DP-SGD.
	DPEpsilon float64
}

// TrainCallback is called after every optimizer step (with the evaluation
// of that step, if any). Return false to go on, true to stop (as for
// ProgressFunc, and as a non-zero dm_train_fn return in C): Train then
// fails with an *Error of status StatusCancelled, the model holding the
// weights of the last step. It runs on the goroutine that called Train (for
// Trainer.Run, on the trainer's own goroutine) and must not call the
// methods of the model being trained (they return ErrModelTraining) or of
// the Trainer running it (ErrTrainerRunning). If it panics, training stops,
// its resources are freed and the panic is raised again from Train (or
// Trainer.Run).
type TrainCallback func(p *TrainProgress) bool

// FineTuneOptions are options for Train (dm_train_options). (TrainOptions
// is the tokenizer trainer's.) The zero value (and a nil pointer) are the
// library defaults; fields whose zero is a meaningful setting different
// from the default are pointers (set them with Ptr).
type FineTuneOptions struct {
	Epochs    int    // 0: 3
	MaxSteps  uint64 // 0: from Epochs; else stop after this many steps
	BatchSize int    // 0: 32. Examples per optimizer step: BatchSize * GradAccum
	GradAccum int    // 0: 1
	// LearningRate: 0 is the library default (5e-5).
	LearningRate float64
	// WeightDecay: nil: 0.01. Never applied to biases and LayerNorm weights.
	WeightDecay *float64
	AdamBeta1   *float64 // nil: 0.9
	AdamBeta2   *float64 // nil: 0.999
	AdamEpsilon float64  // 0: 1e-8
	// MaxGradNorm: nil: 1.0; Ptr(0.0) turns clipping off.
	MaxGradNorm *float64
	Schedule    Schedule
	WarmupRatio float64 // fraction of total steps
	WarmupSteps uint64  // overrides WarmupRatio when non-zero
	MaxLength   int     // 0: 128; longer texts are truncated
	Seed        *uint64 // nil: 42 (shuffling and dropout)
	// Dropout: nil keeps config.json's rates; else every dropout rate.
	Dropout       *float64
	Shuffle       Toggle         // default on
	GroupByLength LengthGrouping // how rows become batches (LengthsDefault: the library's)
	// ClassWeights: nil for none; else one weight per model label.
	ClassWeights []float32
	// BalancedClassWeights uses n / (k * count), as scikit-learn's "balanced".
	BalancedClassWeights bool
	// EvalSteps: 0 evaluates after every epoch when a validation set is
	// given; else every this many steps.
	EvalSteps uint64
	// EarlyStoppingPatience: 0 is off; else stop after this many
	// evaluations without a better validation accuracy.
	EarlyStoppingPatience int
	KeepBest              Toggle // default on: end with the weights of the best evaluation
	// OutputDir: "" writes nothing; else the final model (and the best,
	// with KeepBest) is saved here and checkpoints go to
	// OutputDir/checkpoint-STEP.
	OutputDir       string
	CheckpointSteps uint64 // 0: no checkpoints; else one every this many steps
	CheckpointLimit int    // 0: 2; negative: keep every checkpoint
	// ResumeFrom is a checkpoint folder to resume from exactly ("": none).
	ResumeFrom string
	// LogJSONL: "" for none; else one JSON object per step and evaluation.
	LogJSONL string
	Threads  int // 0: the model's setting
	Callback TrainCallback
	// FreezeEmbeddings leaves the embedding tables and their LayerNorm
	// untrained.
	FreezeEmbeddings bool
	// FreezeLayers leaves the bottom FreezeLayers encoder layers untrained
	// (with FreezeEmbeddings: nothing below layer FreezeLayers), for the
	// run only: the model's own trainable set is back afterwards.
	FreezeLayers int
	// Rank and WorldSize place this worker among data-parallel ones (0 and
	// 0 or 1: one worker). WorldSize above 1 fails with StatusUnsupported
	// until the gradient exchange of distributed training exists.
	Rank, WorldSize int
	// Precision PrecisionBF16 trains in mixed precision (as PyTorch's
	// autocast): the encoder's matrix products, forward and backward, on
	// bfloat16 inputs; weights, AdamW and the rest in float32. Part of a
	// checkpoint's recipe. Zero: float32.
	Precision Precision
	// DP-SGD (see DP): on when DPEpsilon > 0 or DPNoise > 0. Each step is a
	// Poisson sample of the rows at rate BatchSize * GradAccum / N, each
	// example's gradient clipped to DPMaxGradNorm, Gaussian noise added;
	// MaxGradNorm is not applied. float32 and one worker only. Every saved
	// folder gets privacy.json. Negative values are passed on: the library
	// names them.
	DPEpsilon float64 // 0: no budget (then DPNoise must be set for DP)
	DPDelta   float64 // 0: 1e-5; in (0, 1)
	// DPMaxGradNorm is the per-example clipping norm C (0: 1.0).
	DPMaxGradNorm float64
	// DPNoise: 0 chooses the noise multiplier so that the planned steps
	// spend DPEpsilon; else this noise multiplier (DPEpsilon, when set, is
	// then a budget the run stops at).
	DPNoise float64
	// DPNoiseSeed: 0 keys the noise from the OS; else a fixed stream (tests
	// only: then a resume is exact bit for bit).
	DPNoiseSeed uint64
}

// LengthGrouping is how an epoch's shuffled rows become batches
// (dm_length_grouping): grouping rows of similar length pads less.
type LengthGrouping int

const (
	LengthsDefault LengthGrouping = iota // the library's default (LengthsBuckets)
	LengthsMixed                         // batches in the shuffled order
	LengthsSorted                        // megabatches of 50 batches sorted longest first (Hugging Face's LengthGroupedSampler)
	LengthsBuckets                       // the same batches, each megabatch's in a random order
)

// TrainResult is what Train returns (dm_train_result).
type TrainResult struct {
	Steps     uint64
	Epochs    float64 // epochs done, fractional
	FinalLoss float64 // mean training loss of the last epoch's steps
	// BestValMetric is the accuracy of the best evaluation; NaN without
	// validation data.
	BestValMetric float64
	BestStep      uint64
	StoppedEarly  bool
	Seconds       float64
}

// trainState carries a TrainCallback through C as a cgo.Handle.
type trainState struct {
	fn       TrainCallback
	panicked bool
	panicVal interface{}
}

//export dmGoTrainCallback
func dmGoTrainCallback(p *C.dm_train_progress, handle C.uintptr_t) (cancel C.int) {
	s := cgo.Handle(handle).Value().(*trainState)
	if s.panicked {
		return 1
	}
	// A panic must not unwind through the C frames: keep it and cancel.
	defer func() {
		if r := recover(); r != nil {
			s.panicked, s.panicVal = true, r
			cancel = 1
		}
	}()
	if s.fn(progressFromC(p)) {
		return 1
	}
	return 0
}

// progressFromC copies a dm_train_progress.
func progressFromC(p *C.dm_train_progress) *TrainProgress {
	return &TrainProgress{
		Step:           uint64(p.step),
		TotalSteps:     uint64(p.total_steps),
		Epoch:          float64(p.epoch),
		Epochs:         int(p.epochs),
		Loss:           float64(p.loss),
		LearningRate:   float64(p.learning_rate),
		GradNorm:       float64(p.grad_norm),
		ExamplesPerSec: float64(p.examples_per_sec),
		ElapsedSec:     float64(p.elapsed_sec),
		EtaSec:         float64(p.eta_sec),
		Evaluated:      p.evaluated != 0,
		ValLoss:        float64(p.val_loss),
		ValAccuracy:    float64(p.val_accuracy),
		ValMacroF1:     float64(p.val_macro_f1),
		DPEpsilon:      float64(p.dp_epsilon),
	}
}

// toC builds the C options in C memory; free releases them.
func (o *FineTuneOptions) toC(numLabels int) (c *C.dm_train_options, free func(), err error) {
	c = (*C.dm_train_options)(C.malloc(C.sizeof_dm_train_options))
	C.dm_train_options_default(c)
	var strs []*C.char
	var weights unsafe.Pointer
	free = func() {
		for _, s := range strs {
			C.free(unsafe.Pointer(s))
		}
		C.free(weights)
		C.free(unsafe.Pointer(c))
	}
	if o == nil {
		return c, free, nil
	}
	defer func() {
		if err != nil {
			free()
			c, free = nil, nil
		}
	}()
	bad := func(format string, args ...interface{}) (*C.dm_train_options, func(), error) {
		return c, free, newError(StatusInvalidArgument, "FineTuneOptions: "+format, args...)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Epochs", o.Epochs}, {"BatchSize", o.BatchSize}, {"GradAccum", o.GradAccum}, {"MaxLength", o.MaxLength},
		{"EarlyStoppingPatience", o.EarlyStoppingPatience}, {"Threads", o.Threads},
		{"FreezeLayers", o.FreezeLayers}, {"Rank", o.Rank}, {"WorldSize", o.WorldSize}} {
		if f.v < 0 || f.v > math.MaxInt32 {
			return bad("%s is out of range (%d)", f.name, f.v)
		}
	}
	if o.CheckpointLimit < math.MinInt32 || o.CheckpointLimit > math.MaxInt32 {
		return bad("CheckpointLimit is out of range (%d)", o.CheckpointLimit)
	}
	if o.Schedule < 0 {
		return bad("negative Schedule")
	}
	if o.Epochs > 0 {
		c.epochs = C.int(o.Epochs)
	}
	c.max_steps = C.uint64_t(o.MaxSteps)
	if o.BatchSize > 0 {
		c.batch_size = C.size_t(o.BatchSize)
	}
	if o.GradAccum > 0 {
		c.grad_accum = C.int(o.GradAccum)
	}
	if o.LearningRate != 0 {
		c.learning_rate = C.double(o.LearningRate)
	}
	for _, f := range []struct {
		v   *float64
		dst *C.double
	}{{o.WeightDecay, &c.weight_decay}, {o.AdamBeta1, &c.adam_beta1}, {o.AdamBeta2, &c.adam_beta2},
		{o.MaxGradNorm, &c.max_grad_norm}, {o.Dropout, &c.dropout}} {
		if f.v != nil {
			*f.dst = C.double(*f.v)
		}
	}
	if o.AdamEpsilon != 0 {
		c.adam_epsilon = C.double(o.AdamEpsilon)
	}
	if err := checkCInts(namedInt{"FineTuneOptions.Schedule", int(o.Schedule)}); err != nil {
		return c, free, err
	}
	c.schedule = C.dm_lr_schedule(o.Schedule) // out of range: the library names it
	c.warmup_ratio = C.double(o.WarmupRatio)
	c.warmup_steps = C.uint64_t(o.WarmupSteps)
	if o.MaxLength > 0 {
		c.max_length = C.size_t(o.MaxLength)
	}
	if o.Seed != nil {
		c.seed = C.uint64_t(*o.Seed)
	}
	for _, f := range []struct {
		name string
		t    Toggle
		dst  *C.int
	}{
		{"FineTuneOptions.Shuffle", o.Shuffle, &c.shuffle},
		{"FineTuneOptions.KeepBest", o.KeepBest, &c.keep_best},
	} {
		if *f.dst, err = f.t.toC(f.name, *f.dst); err != nil {
			return c, free, err
		}
	}
	switch o.GroupByLength {
	case LengthsDefault:
	case LengthsMixed, LengthsSorted, LengthsBuckets:
		c.group_by_length = C.int(o.GroupByLength - 1)
	default:
		return bad("unknown GroupByLength %d", int(o.GroupByLength))
	}
	if o.ClassWeights != nil {
		// The library reads num_labels weights: a shorter slice would be
		// read past its end.
		if len(o.ClassWeights) != numLabels {
			return bad("ClassWeights has %d values but the model has %d labels", len(o.ClassWeights), numLabels)
		}
		weights = C.malloc(C.size_t(4 * (len(o.ClassWeights) + 1)))
		copy(unsafe.Slice((*float32)(weights), len(o.ClassWeights)), o.ClassWeights)
		c.class_weights = (*C.float)(weights)
	}
	if o.BalancedClassWeights {
		c.balanced_class_weights = 1
	}
	c.eval_steps = C.uint64_t(o.EvalSteps)
	c.early_stopping_patience = C.int(o.EarlyStoppingPatience)
	for _, f := range []struct {
		name, v string
		dst     **C.char
	}{{"OutputDir", o.OutputDir, &c.output_dir}, {"ResumeFrom", o.ResumeFrom, &c.resume_from},
		{"LogJSONL", o.LogJSONL, &c.log_jsonl}} {
		if f.v == "" {
			continue
		}
		cs, err := cPath("FineTuneOptions."+f.name, f.v)
		if err != nil {
			return c, free, err
		}
		strs = append(strs, cs)
		*f.dst = cs
	}
	c.checkpoint_steps = C.uint64_t(o.CheckpointSteps)
	if o.CheckpointLimit != 0 {
		c.checkpoint_limit = C.int(o.CheckpointLimit)
	}
	c.threads = C.int(o.Threads)
	if o.FreezeEmbeddings {
		c.freeze_embeddings = 1
	}
	c.freeze_layers = C.int(o.FreezeLayers)
	c.rank = C.int(o.Rank)
	if o.WorldSize > 0 {
		c.world_size = C.int(o.WorldSize)
	}
	if o.Precision != PrecisionFP32 && o.Precision != PrecisionBF16 {
		return bad("Precision %d is not a Precision", int(o.Precision))
	}
	c.precision = C.dm_precision(o.Precision)
	c.dp_epsilon = C.double(o.DPEpsilon)
	if o.DPDelta != 0 {
		c.dp_delta = C.double(o.DPDelta)
	}
	if o.DPMaxGradNorm != 0 {
		c.dp_max_grad_norm = C.double(o.DPMaxGradNorm)
	}
	c.dp_noise = C.double(o.DPNoise)
	c.dp_noise_seed = C.uint64_t(o.DPNoiseSeed)
	return c, free, nil
}

// Train fine-tunes m on train with AdamW as Hugging Face's Trainer does
// (dm_train), evaluating on val (which may be nil). train must have labels
// named as the model's labels. While it runs, the model's other methods
// return ErrModelTraining. opts may be nil.
func Train(m *Model, train, val *Dataset, opts *FineTuneOptions) (*TrainResult, error) {
	if train.closed() {
		return nil, newError(StatusInvalidArgument, "Train: the training data is nil or closed")
	}
	if val != nil && val.p == nil {
		return nil, newError(StatusInvalidArgument, "Train: the validation data is closed")
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
	copts, free, err := opts.toC(info.NumLabels)
	if err != nil {
		return nil, err
	}
	defer free()
	var state *trainState
	if opts != nil && opts.Callback != nil {
		state = &trainState{fn: opts.Callback}
		h := cgo.NewHandle(state)
		defer h.Delete()
		setTrainCallback(copts, h)
	}
	var cval *C.dm_dataset
	if val != nil {
		cval = val.p
	}
	var res C.dm_train_result
	res.struct_size = C.sizeof_dm_train_result
	m.training.Store(true)
	m.running.Store(true)
	err = call(func() C.dm_status { return C.dm_train(p, train.p, cval, copts, &res) })
	m.running.Store(false)
	m.training.Store(false)
	runtime.KeepAlive(train)
	runtime.KeepAlive(val)
	if state != nil && state.panicked {
		panic(state.panicVal)
	}
	if err != nil {
		return nil, err
	}
	return resultFromC(&res), nil
}

// resultFromC copies a dm_train_result.
func resultFromC(res *C.dm_train_result) *TrainResult {
	return &TrainResult{
		Steps:         uint64(res.steps),
		Epochs:        float64(res.epochs),
		FinalLoss:     float64(res.final_loss),
		BestValMetric: float64(res.best_val_metric),
		BestStep:      uint64(res.best_step),
		StoppedEarly:  res.stopped_early != 0,
		Seconds:       float64(res.seconds),
	}
}
