package datamodel

// Tests of DPEpsilon, DPEpsilonPRV and DPNoiseMultiplier (dm_dp_epsilon,
// dm_dp_epsilon_prv, dm_dp_noise_multiplier): the issue's vectors (Opacus' own tests), the
// edges and the error statuses.

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDPEpsilonIssueVector(t *testing.T) {
	eps, order, err := DPEpsilon(1.5, 0.04, 2250, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(eps-7.32911117143) > 1e-9 || math.Abs(order-3.9) > 1e-12 {
		t.Errorf("DPEpsilon(1.5, 0.04, 2250, 1e-5) = %.12g at order %g, want 7.32911117143 at 3.9", eps, order)
	}
}

func TestDPNoiseMultiplierIssueVector(t *testing.T) {
	epochs, q := 90.0, 0.04
	steps := uint64(epochs / q) // as Opacus counts them
	sigma, err := DPNoiseMultiplier(8, 1e-5, q, steps, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if steps != 2250 || math.Abs(sigma-1.416) > 0.01 {
		t.Errorf("%d steps: noise multiplier %g, want 1.416", steps, sigma)
	}
	spent, _, err := DPEpsilon(sigma, q, steps, 1e-5)
	if err != nil || spent > 8 || spent < 8-0.01 {
		t.Errorf("the noise %g spends %g (%v), want within 0.01 below 8", sigma, spent, err)
	}
	if def, err := DPNoiseMultiplier(8, 1e-5, q, steps, 0); err != nil || def != sigma {
		t.Errorf("tolerance 0 (Opacus' 0.01): %g (%v), want %g", def, err, sigma)
	}
	finer, err := DPNoiseMultiplier(8, 1e-5, q, steps, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	if spent, _, _ := DPEpsilon(finer, q, steps, 1e-5); spent > 8 || spent < 8-1e-4 {
		t.Errorf("tolerance 1e-4: the noise %g spends %g", finer, spent)
	}
}

func TestDPEdges(t *testing.T) {
	if eps, order, err := DPEpsilon(1, 0.01, 0, 1e-5); err != nil || eps != 0 || !math.IsNaN(order) {
		t.Errorf("0 steps: %g at order %g (%v), want 0 at NaN", eps, order, err)
	}
	if eps, _, err := DPEpsilon(1, 0, 100, 1e-5); err != nil || eps != 0 {
		t.Errorf("sample rate 0: %g (%v), want 0", eps, err)
	}
	if eps, _, err := DPEpsilon(0, 0.01, 100, 1e-5); err != nil || !math.IsInf(eps, 1) {
		t.Errorf("no noise: %g (%v), want +Inf", eps, err)
	}
	if sigma, err := DPNoiseMultiplier(1, 1e-5, 0.01, 0, 0); err != nil || sigma != 0 {
		t.Errorf("0 steps: noise %g (%v), want 0", sigma, err)
	}
	a, _, _ := DPEpsilon(1, 0.01, 1000, 1e-5)
	b, _, _ := DPEpsilon(1, 0.01, 2000, 1e-5)
	c, _, _ := DPEpsilon(1, 0.02, 1000, 1e-5)
	d, _, _ := DPEpsilon(0.9, 0.01, 1000, 1e-5)
	if !(b > a && c > a && d > a) {
		t.Errorf("more steps, rate or less noise spent less: %g; %g %g %g", a, b, c, d)
	}
}

// Opacus' test_prv_accountant: steps int(90 // 0.04), which is 2249.
func TestDPEpsilonPRVOpacusVector(t *testing.T) {
	eps, err := DPEpsilonPRV(1.5, 0.04, 2249, 1e-5, 0)
	if err != nil || math.Abs(eps-6.777395712150674) > 1e-6 {
		t.Fatalf("DPEpsilonPRV(1.5, 0.04, 2249, 1e-5, 0) = %.12g, %v; want 6.777395712150674", eps, err)
	}
	if rdp, _, _ := DPEpsilon(1.5, 0.04, 2249, 1e-5); !(eps < rdp) {
		t.Errorf("PRV epsilon %g is not below RDP's %g", eps, rdp)
	}
	if same, err := DPEpsilonPRV(1.5, 0.04, 2249, 1e-5, 0.01); err != nil || same != eps {
		t.Errorf("epsError 0.01 gives %g, 0 gave %g (0 is the default 0.01)", same, eps)
	}
	if eps, err := DPEpsilonPRV(1, 0.01, 0, 1e-5, 0); err != nil || eps != 0 {
		t.Errorf("nothing released: %g, %v", eps, err)
	}
	if eps, err := DPEpsilonPRV(0, 0.01, 10, 1e-5, 0); err != nil || !math.IsInf(eps, 1) {
		t.Errorf("no noise: %g, %v", eps, err)
	}
}

func TestDPErrors(t *testing.T) {
	epsErr := func(sigma, q float64, steps uint64, delta float64) error {
		_, _, err := DPEpsilon(sigma, q, steps, delta)
		return err
	}
	prvErr := func(sigma, q float64, steps uint64, delta, epsError float64) error {
		_, err := DPEpsilonPRV(sigma, q, steps, delta, epsError)
		return err
	}
	noiseErr := func(eps, delta, q float64, steps uint64, tol float64) error {
		_, err := DPNoiseMultiplier(eps, delta, q, steps, tol)
		return err
	}
	for _, c := range []struct {
		err    error
		status int
		text   string
	}{
		{epsErr(1, 1.5, 10, 1e-5), StatusInvalidArgument, "sample_rate must be in [0, 1]"},
		{epsErr(1, -0.1, 10, 1e-5), StatusInvalidArgument, "got -0.1"},
		{epsErr(1, 0.1, 10, 0), StatusInvalidArgument, "delta must be in (0, 1)"},
		{epsErr(1, 0.1, 10, 1), StatusInvalidArgument, "delta must be in (0, 1)"},
		{epsErr(-1, 0.1, 10, 1e-5), StatusInvalidArgument, "noise_multiplier"},
		{epsErr(math.NaN(), 0.1, 10, 1e-5), StatusInvalidArgument, "noise_multiplier"},
		{epsErr(math.Inf(1), 0.1, 10, 1e-5), StatusInvalidArgument, "noise_multiplier"},
		{noiseErr(0, 1e-5, 0.1, 10, 0), StatusInvalidArgument, "epsilon must be"},
		{noiseErr(-2, 1e-5, 0.1, 10, 0), StatusInvalidArgument, "got -2"},
		{noiseErr(math.Inf(1), 1e-5, 0.1, 10, 0), StatusInvalidArgument, "epsilon"},
		{noiseErr(1, 2, 0.1, 10, 0), StatusInvalidArgument, "delta"},
		{noiseErr(1, 1e-5, 1.1, 10, 0), StatusInvalidArgument, "sample_rate"},
		{noiseErr(1, 1e-5, 0.1, 10, -1), StatusInvalidArgument, "tolerance"},
		{noiseErr(1e-4, 1e-5, 1, 1000000, 0), StatusRange, "budget is too small"},
		{prvErr(1, 0.1, 10, 1e-5, -0.01), StatusInvalidArgument, "eps_error must be finite and >= 0"},
		{prvErr(1, 0.1, 10, 1e-5, math.NaN()), StatusInvalidArgument, "eps_error"},
		{prvErr(1, 1.5, 10, 1e-5, 0), StatusInvalidArgument, "sample_rate must be in [0, 1]"},
		{prvErr(1, 0.1, 10, 0, 0), StatusInvalidArgument, "delta must be in (0, 1)"},
		{prvErr(-1, 0.1, 10, 1e-5, 0), StatusInvalidArgument, "noise_multiplier"},
		{prvErr(0.3, 0.5, 100000, 1e-5, 0.001), StatusRange, "use the RDP accountant"},
	} {
		e := wantStatus(t, c.err, c.status, c.text)
		if !strings.Contains(e.Message, c.text) {
			t.Errorf("message %q lacks %q", e.Message, c.text)
		}
		if !errors.Is(c.err, &Error{Status: c.status}) {
			t.Errorf("errors.Is(%v, status %s) is false", c.err, StatusName(c.status))
		}
	}
}
