package datamodel

// Differential privacy accounting (datamodel.h, "Privacy: differential
// privacy accounting (DP-SGD)"): the privacy that DP-SGD training spends, and
// the noise that keeps it within a budget, computed as Opacus'
// RDPAccountant and get_noise_multiplier compute them (the same epsilon to
// 1e-9); DPEpsilonPRV as its PRVAccountant does.

/*
#include <datamodel.h>
*/
import "C"

// DPEpsilon returns the (epsilon, delta) privacy that steps steps of DP-SGD
// spend (dm_dp_epsilon): each step samples every row with probability
// sampleRate (the expected batch size over the rows) and adds Gaussian noise
// of noiseMultiplier times the clipping norm. order is the Rényi order that
// gave epsilon. Steps from epochs as Opacus counts them:
// uint64(epochs / sampleRate).
//
// Nothing released (steps 0 or sampleRate 0) spends epsilon 0, with order
// NaN; a noiseMultiplier of 0 spends an infinite epsilon. StatusInvalidArgument
// for sampleRate outside [0, 1], delta outside (0, 1), or a negative, NaN or
// infinite noiseMultiplier.
func DPEpsilon(noiseMultiplier, sampleRate float64, steps uint64, delta float64) (epsilon, order float64, err error) {
	var eps, ord C.double
	err = call(func() C.dm_status {
		return C.dm_dp_epsilon(C.double(noiseMultiplier), C.double(sampleRate), C.uint64_t(steps), C.double(delta),
			&eps, &ord)
	})
	if err != nil {
		return 0, 0, err
	}
	return float64(eps), float64(ord), nil
}

// DPEpsilonPRV returns the epsilon of DPEpsilon by the PRV accountant
// (dm_dp_epsilon_prv), computed as Opacus' PRVAccountant does: its upper
// bound at accuracy epsError (0: Opacus' 0.01), tighter than the RDP bound for
// many steps. Nothing released spends 0; a noiseMultiplier of 0 spends an
// infinite epsilon. StatusInvalidArgument as DPEpsilon and for a negative,
// NaN or infinite epsError; StatusRange when the discretised domain would be
// too large (use DPEpsilon or a larger epsError).
func DPEpsilonPRV(noiseMultiplier, sampleRate float64, steps uint64, delta, epsError float64) (float64, error) {
	var eps C.double
	err := call(func() C.dm_status {
		return C.dm_dp_epsilon_prv(C.double(noiseMultiplier), C.double(sampleRate), C.uint64_t(steps),
			C.double(delta), C.double(epsError), &eps)
	})
	if err != nil {
		return 0, err
	}
	return float64(eps), nil
}

// DPNoiseMultiplier returns the noise multiplier that keeps steps steps at
// sampleRate within the budget (epsilon, delta), found as Opacus'
// get_noise_multiplier finds it (dm_dp_noise_multiplier): bisected until the
// epsilon it spends is within tolerance below the budget (0: Opacus' 0.01),
// never above it. It is 0 when nothing is released (steps 0 or sampleRate 0).
//
// StatusRange when even a multiplier of 1e6 spends more (the budget is too
// small); StatusInvalidArgument for epsilon <= 0, a negative tolerance, and
// as DPEpsilon.
func DPNoiseMultiplier(epsilon, delta, sampleRate float64, steps uint64, tolerance float64) (float64, error) {
	var sigma C.double
	err := call(func() C.dm_status {
		return C.dm_dp_noise_multiplier(C.double(epsilon), C.double(delta), C.double(sampleRate), C.uint64_t(steps),
			C.double(tolerance), &sigma)
	})
	if err != nil {
		return 0, err
	}
	return float64(sigma), nil
}
