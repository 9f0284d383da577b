package datamodel

// Tests of DPAuditEpsilon and DPAuditGuesses (dm_dp_audit_epsilon,
// dm_dp_audit_guesses): the paper's number, a closed form, guesses from
// scores and the error statuses.

import (
	"math"
	"strings"
	"testing"
)

func TestDPAuditEpsilonPaper(t *testing.T) {
	// arXiv:2305.08846 Appendix D: m 1000, r 100, v 75, delta 1e-4, beta 0.05 -> 0.673
	eps, err := DPAuditEpsilon(1000, 100, 75, 1e-4, 0.05)
	if err != nil || math.Abs(eps-0.673) >= 5e-4 {
		t.Errorf("DPAuditEpsilon(1000, 100, 75, 1e-4, 0.05) = %g (%v), want 0.673", eps, err)
	}
	// delta 0, all right: q^r = beta with q = 1 / (1 + e^-eps)
	want := -math.Log(math.Expm1(-math.Log(0.05) / 1000))
	if eps, err := DPAuditEpsilon(1000, 1000, 1000, 0, 0.05); err != nil || math.Abs(eps-want) > 1e-8 {
		t.Errorf("all 1000 right: %g (%v), want %g", eps, err, want)
	}
	if eps, err := DPAuditEpsilon(1000, 100, 50, 1e-5, 0.05); err != nil || eps != 0 {
		t.Errorf("chance level: %g (%v), want 0", eps, err)
	}
}

func TestDPAuditGuesses(t *testing.T) {
	scores := []float64{0.9, 0.1, 0.8, 0.2, 0.5, 0.5, 0.7, 0.3}
	in := []bool{true, false, true, true, false, true, false, false}
	if r, v, err := DPAuditGuesses(scores, in, 3, 2); err != nil || r != 5 || v != 3 {
		t.Errorf("3 in, 2 out: %d guesses, %d right (%v), want 5, 3", r, v, err)
	}
	if r, v, err := DPAuditGuesses(scores, in, 4, 0); err != nil || r != 4 || v != 2 {
		t.Errorf("a tie, the earlier first: %d guesses, %d right (%v), want 4, 2", r, v, err)
	}
	if r, v, err := DPAuditGuesses(nil, nil, 0, 0); err != nil || r != 0 || v != 0 {
		t.Errorf("no canaries: %d, %d (%v)", r, v, err)
	}
}

func TestDPAuditErrors(t *testing.T) {
	epsErr := func(m, r, v uint64, delta, beta float64) error {
		_, err := DPAuditEpsilon(m, r, v, delta, beta)
		return err
	}
	guessErr := func(s []float64, in []bool, kp, km int) error {
		_, _, err := DPAuditGuesses(s, in, kp, km)
		return err
	}
	two := []float64{1, 2}
	for _, c := range []struct {
		err  error
		text string
	}{
		{epsErr(10, 11, 1, 0, 0.05), "r 11 > m 10"},
		{epsErr(10, 5, 6, 0, 0.05), "v 6 > r 5"},
		{epsErr(10, 5, 5, 1, 0.05), "delta must be in [0, 1)"},
		{epsErr(10, 5, 5, -1e-5, 0.05), "delta must be in [0, 1)"},
		{epsErr(10, 5, 5, 0, 0), "beta must be in (0, 1)"},
		{epsErr(10, 5, 5, 0, 1), "beta must be in (0, 1)"},
		{guessErr(two, []bool{true, false}, 2, 1), "k_plus + k_minus must be at most"},
		{guessErr([]float64{1, math.NaN()}, []bool{true, false}, 1, 1), "scores[1] is NaN"},
		{guessErr(two, []bool{true}, 1, 0), "differ in length"},
		{guessErr(two, []bool{true, false}, -1, 0), "must be >= 0"},
	} {
		e := wantStatus(t, c.err, StatusInvalidArgument, c.text)
		if e != nil && !strings.Contains(e.Message, c.text) {
			t.Errorf("message %q lacks %q", e.Message, c.text)
		}
	}
}
