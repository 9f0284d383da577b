package datamodel

// DP-SGD on a model (datamodel.h, "DP-SGD on a model"): DP wraps a dm_dp
// (per-example clipping to a norm C, Gaussian noise of sigma x C, and the
// accountant of one run); ExampleNorms gives each example's gradient norm.
// Train does all of it itself with FineTuneOptions.DPEpsilon or DPNoise.

/*
#include <stdlib.h>
#include <datamodel.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// ErrDPClosed is returned by the methods of a DP that has been closed (or is
// nil).
var ErrDPClosed = newError(StatusInvalidArgument, "the DP is closed or nil")

// DPOptions are options for NewDP (dm_dp_options). Zero fields are the
// library defaults, except SampleRate, which must be given.
type DPOptions struct {
	// MaxGradNorm is the per-example clipping norm C (0: 1.0).
	MaxGradNorm float64
	// NoiseMultiplier is sigma; 0 chooses it from TargetEpsilon.
	NoiseMultiplier float64
	// TargetEpsilon > 0 chooses sigma so that Steps steps at SampleRate
	// spend it at Delta (DPNoiseMultiplier); 0: none (NoiseMultiplier given).
	TargetEpsilon float64
	// Delta is in (0, 1) (0: 1e-5).
	Delta float64
	// SampleRate q in (0, 1]: each row's probability to be in a step's batch
	// (the expected batch over the rows).
	SampleRate float64
	// Steps are the planned steps (to choose sigma for TargetEpsilon).
	Steps uint64
	// NoiseSeed 0 keys the noise from the OS; else a fixed stream (tests
	// only: not private).
	NoiseSeed uint64
}

// DPInfo is what DP.Info returns (dm_dp_info).
type DPInfo struct {
	NoiseMultiplier float64 // sigma, chosen or given
	MaxGradNorm     float64
	SampleRate      float64
	Delta           float64
	Steps           uint64  // noisy steps taken (AddNoise calls)
	Epsilon         float64 // spent so far (RDP accountant, as Opacus)
	Clipped         uint64  // examples whose gradient was clipped so far
	Examples        uint64  // examples seen so far
}

// DP is a DP-SGD transform (dm_dp): each example's gradient clipped to norm
// C over every trainable tensor, the clipped gradients summed, Gaussian
// noise of standard deviation sigma x C added to the sum, and the epsilon
// spent counted. A DP is not tied to a model: ForwardBackward and AddNoise
// take one. Per step: ForwardBackward on each (micro-)batch of the step's
// sample, AddNoise once, then Optimizer.Step (an Optimizer with MaxGradNorm
// Ptr(0.0)); with the mean over the expected batch L = q N, the grad scale
// is 1 / L in both calls. Its methods may be called from any goroutine
// (they are serialised, and with the model's calls by the model's lock).
// Close releases it (a finalizer does otherwise, as a safety net).
type DP struct {
	mu sync.Mutex
	p  *C.dm_dp // guarded by mu
}

// NewDP makes a DP-SGD transform (dm_dp_create): with TargetEpsilon > 0 the
// noise multiplier is chosen for the planned steps, else NoiseMultiplier
// must be > 0. StatusInvalidArgument names a bad option (as the library
// words it), StatusRange a budget too small for the planned steps.
func NewDP(opts DPOptions) (*DP, error) {
	var c C.dm_dp_options
	C.dm_dp_options_default(&c)
	if opts.MaxGradNorm != 0 {
		c.max_grad_norm = C.double(opts.MaxGradNorm)
	}
	c.noise_multiplier = C.double(opts.NoiseMultiplier)
	c.target_epsilon = C.double(opts.TargetEpsilon)
	if opts.Delta != 0 {
		c.delta = C.double(opts.Delta)
	}
	c.sample_rate = C.double(opts.SampleRate)
	c.steps = C.uint64_t(opts.Steps)
	c.noise_seed = C.uint64_t(opts.NoiseSeed)
	var out *C.dm_dp
	if err := call(func() C.dm_status { return C.dm_dp_create(&c, &out) }); err != nil {
		return nil, err
	}
	d := &DP{p: out}
	runtime.SetFinalizer(d, (*DP).Close)
	return d, nil
}

// Close releases the DP (dm_dp_free). It is safe to call more than once and
// on a nil *DP.
func (d *DP) Close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p != nil {
		C.dm_dp_free(d.p)
		d.p = nil
	}
	runtime.SetFinalizer(d, nil)
	return nil
}

// lock takes the DP for one call; the caller holds the model's lock first
// when there is a model.
func (d *DP) lock() (*C.dm_dp, func(), error) {
	if d == nil {
		return nil, nil, ErrDPClosed
	}
	d.mu.Lock()
	if d.p == nil {
		d.mu.Unlock()
		return nil, nil, ErrDPClosed
	}
	return d.p, func() { runtime.KeepAlive(d); d.mu.Unlock() }, nil
}

// Info returns the transform's settings and what it has done so far
// (dm_dp_get_info).
func (d *DP) Info() (DPInfo, error) {
	p, unlock, err := d.lock()
	if err != nil {
		return DPInfo{}, err
	}
	defer unlock()
	var c C.dm_dp_info
	c.struct_size = C.sizeof_dm_dp_info
	if err := call(func() C.dm_status { return C.dm_dp_get_info(p, &c) }); err != nil {
		return DPInfo{}, err
	}
	return DPInfo{
		NoiseMultiplier: float64(c.noise_multiplier),
		MaxGradNorm:     float64(c.max_grad_norm),
		SampleRate:      float64(c.sample_rate),
		Delta:           float64(c.delta),
		Steps:           uint64(c.steps),
		Epsilon:         float64(c.epsilon),
		Clipped:         uint64(c.clipped),
		Examples:        uint64(c.examples),
	}, nil
}

// backwardOptions converts opts (nil: defaults) for Model.ForwardBackward and the DP calls.
func backwardOptions(opts *BackwardOptions) C.dm_backward_options {
	var co C.dm_backward_options
	C.dm_backward_options_default(&co)
	if opts != nil {
		if opts.GradScale != 0 {
			co.grad_scale = C.double(opts.GradScale)
		}
		if opts.Dropout != nil {
			co.dropout = C.double(*opts.Dropout)
		}
		if opts.Seed != nil {
			co.seed = C.uint64_t(*opts.Seed)
		}
		co.stream = C.uint64_t(opts.Stream)
	}
	return co
}

// ForwardBackward is Model.ForwardBackward with DP-SGD's clipping
// (dm_dp_forward_backward): what is ADDED to m's gradients is GradScale x
// sum_i clip_i grad(w_i loss_i), clip_i = min(1, C / (norm_i + 1e-6)). It
// returns lossSum = sum_i w_i loss_i and each example's gradient norm before
// clipping. opts may be nil.
func (d *DP) ForwardBackward(m *Model, b Batch, opts *BackwardOptions) (lossSum float64, norms []float32, err error) {
	cb, free, err := b.toC()
	if err != nil {
		return 0, nil, err
	}
	defer free()
	co := backwardOptions(opts)
	mp, unlockModel, err := m.lock()
	if err != nil {
		return 0, nil, err
	}
	defer unlockModel()
	p, unlock, err := d.lock()
	if err != nil {
		return 0, nil, err
	}
	defer unlock()
	out := make([]float32, len(b.IDs)+1)
	var loss C.double
	err = call(func() C.dm_status {
		return C.dm_dp_forward_backward(p, mp, cb, &co, &loss, (*C.float)(unsafe.Pointer(&out[0])))
	})
	if err != nil {
		return 0, nil, err
	}
	return float64(loss), out[:len(b.IDs):len(b.IDs)], nil
}

// AddNoise adds Gaussian noise of standard deviation gradScale x sigma x C
// to every trainable gradient of m and counts one step for the accountant
// (dm_dp_add_noise): once per optimizer step, after the step's
// ForwardBackward calls and before Optimizer.Step.
func (d *DP) AddNoise(m *Model, gradScale float64) error {
	mp, unlockModel, err := m.lock()
	if err != nil {
		return err
	}
	defer unlockModel()
	p, unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return call(func() C.dm_status { return C.dm_dp_add_noise(p, mp, C.double(gradScale)) })
}

// ExampleNorms returns each example's gradient norm (dm_dp_example_norms):
// norms[i] = || d(w_i loss_i) / d(trainable tensors) || for row i of b (w_i
// its weight, 1 without Weights; 0 for a row with label -1), with the
// dropout opts says (GradScale is ignored). m's gradients are not changed.
// opts may be nil.
func ExampleNorms(m *Model, b Batch, opts *BackwardOptions) ([]float32, error) {
	cb, free, err := b.toC()
	if err != nil {
		return nil, err
	}
	defer free()
	co := backwardOptions(opts)
	mp, unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := make([]float32, len(b.IDs)+1)
	err = call(func() C.dm_status {
		return C.dm_dp_example_norms(mp, cb, &co, (*C.float)(unsafe.Pointer(&out[0])))
	})
	if err != nil {
		return nil, err
	}
	return out[:len(b.IDs):len(b.IDs)], nil
}
