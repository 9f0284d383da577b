package datamodel

// The one-run privacy audit of Steinke, Nasr and Jagielski, "Privacy
// Auditing with One (1) Training Run" (NeurIPS 2023): the lower bound on
// epsilon that canary membership guesses certify (datamodel.h,
// dm_dp_audit_epsilon and dm_dp_audit_guesses).

/*
#include <datamodel.h>
*/
import "C"

import "unsafe"

// DPAuditEpsilon returns the largest epsilon that a one-run audit certifies
// at confidence 1 - beta (dm_dp_audit_epsilon; the paper's Corollary 5.4):
// m canaries, each put in the training set with probability 1/2, r
// membership guesses (the rest abstained), v of them right. A run that were
// (epsilon, delta)-DP for any smaller epsilon would get v or more right with
// probability below beta. 0 when nothing is certified. delta 0 tests pure DP;
// beta 0.05 is 95% confidence.
//
// StatusInvalidArgument for r > m, v > r, delta outside [0, 1), beta outside
// (0, 1).
func DPAuditEpsilon(m, r, v uint64, delta, beta float64) (float64, error) {
	var eps C.double
	err := call(func() C.dm_status {
		return C.dm_dp_audit_epsilon(C.uint64_t(m), C.uint64_t(r), C.uint64_t(v), C.double(delta), C.double(beta),
			&eps)
	})
	if err != nil {
		return 0, err
	}
	return float64(eps), nil
}

// DPAuditGuesses turns canary scores into the audit's guesses
// (dm_dp_audit_guesses): "in" for the kPlus highest scores (higher: more
// likely in), "out" for the kMinus lowest, the rest abstained; ties ranked by
// position (the earlier canary counts as higher). included[i] says whether
// canary i was in the training set. It returns r = kPlus + kMinus guesses and
// the v right, for DPAuditEpsilon.
//
// StatusInvalidArgument for kPlus + kMinus > len(scores), a NaN score, or
// scores and included of different lengths.
func DPAuditGuesses(scores []float64, included []bool, kPlus, kMinus int) (r, v uint64, err error) {
	if len(scores) != len(included) {
		return 0, 0, newError(StatusInvalidArgument, "DPAuditGuesses: scores (%d) and included (%d) differ in length",
			len(scores), len(included))
	}
	if kPlus < 0 || kMinus < 0 {
		return 0, 0, newError(StatusInvalidArgument, "DPAuditGuesses: kPlus and kMinus must be >= 0, got %d and %d",
			kPlus, kMinus)
	}
	n := len(scores)
	inc := make([]uint8, n+1) // +1: a valid address when empty
	sc := make([]float64, n+1)
	copy(sc, scores)
	for i, in := range included {
		if in {
			inc[i] = 1
		}
	}
	var cr, cv C.uint64_t
	err = call(func() C.dm_status {
		return C.dm_dp_audit_guesses(C.size_t(n), (*C.double)(unsafe.Pointer(&sc[0])),
			(*C.uint8_t)(unsafe.Pointer(&inc[0])), C.size_t(kPlus), C.size_t(kMinus), &cr, &cv)
	})
	if err != nil {
		return 0, 0, err
	}
	return uint64(cr), uint64(cv), nil
}
