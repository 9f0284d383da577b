package datamodel

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Tests of DP-SGD on a model (DP, ExampleNorms; dm_dp_*) and of
// FineTuneOptions' DP fields, on the tiny random BERT.

// tinyTensorNames lists every tensor of the model (the table of
// lib/model/bert.c).
func tinyTensorNames(t *testing.T, info ModelInfo) []string {
	t.Helper()
	names := []string{"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
		"bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
		"bert.embeddings.LayerNorm.bias", "bert.pooler.dense.weight", "bert.pooler.dense.bias",
		"classifier.weight", "classifier.bias"}
	for i := 0; i < info.NumLayers; i++ {
		p := fmt.Sprintf("bert.encoder.layer.%d.", i)
		for _, r := range []string{"attention.self.query", "attention.self.key", "attention.self.value",
			"attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense",
			"output.LayerNorm"} {
			names = append(names, p+r+".weight", p+r+".bias")
		}
	}
	for _, n := range names {
		if tensorShape(info, n) == nil {
			t.Fatalf("not a tensor: %s", n)
		}
	}
	return names
}

// gradNorm is the norm of m's accumulated gradient over its trainable tensors.
func gradNorm(t *testing.T, m *Model) float64 {
	t.Helper()
	info, _ := m.Info()
	s := 0.0
	for _, n := range tinyTensorNames(t, info) {
		if ok, _ := m.IsTrainable(n); !ok {
			continue
		}
		g, err := m.Grad(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range g {
			s += float64(v) * float64(v)
		}
	}
	return math.Sqrt(s)
}

// row is example i of b alone, cut to its tokens.
func row(b Batch, i int) Batch {
	n := 0
	for _, v := range b.AttentionMask[i] {
		n += int(v)
	}
	one := Batch{IDs: [][]int32{b.IDs[i][:n]}, AttentionMask: [][]uint8{b.AttentionMask[i][:n]},
		Labels: []int32{b.Labels[i]}}
	if b.Weights != nil {
		one.Weights = []float32{b.Weights[i]}
	}
	return one
}

func relErr(a, b float64) float64 { return math.Abs(a-b) / math.Max(math.Abs(b), 1e-30) }

func TestExampleNormsEqualGradientsAlone(t *testing.T) {
	m := loadTiny1(t)
	b := batchOf(t, m, 0, 6)
	b.Weights = []float32{1, 0.5, 2, 1, 0, 1}
	b.Labels[3] = -1
	noDropout := &BackwardOptions{Dropout: Ptr(0.0)}
	norms, err := ExampleNorms(m, b, noDropout)
	if err != nil || len(norms) != 6 {
		t.Fatalf("ExampleNorms: %v, %v", norms, err)
	}
	if norms[3] != 0 || norms[4] != 0 {
		t.Errorf("norms of a row without a label / of weight 0: %v, %v", norms[3], norms[4])
	}
	for i := range norms {
		if err := m.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m.ForwardBackward(row(b, i), noDropout); err != nil {
			t.Fatal(err)
		}
		alone := gradNorm(t, m)
		if i == 3 || i == 4 {
			continue
		}
		if relErr(float64(norms[i]), alone) > 1e-5 {
			t.Errorf("example %d: norm %v, alone %v", i, norms[i], alone)
		}
	}
	// The model's gradients are not changed.
	m.ZeroGrad()
	if _, err := ExampleNorms(m, b, noDropout); err != nil {
		t.Fatal(err)
	}
	if n := gradNorm(t, m); n != 0 {
		t.Errorf("ExampleNorms changed the gradients: norm %v", n)
	}
	_, err = ExampleNorms(m, Batch{IDs: b.IDs, AttentionMask: b.AttentionMask, Labels: []int32{0, 7, 0, 0, 0, 0}}, nil)
	wantTrainStatus(t, "ExampleNorms(label 7)", err, StatusRange, "7")
	_, err = ExampleNorms(nil, b, nil)
	if err != ErrModelClosed {
		t.Errorf("ExampleNorms(nil model) = %v", err)
	}
}

func TestDPOptionsAndInfo(t *testing.T) {
	d, err := NewDP(DPOptions{TargetEpsilon: 8, SampleRate: 0.04, Steps: 2250})
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.Info()
	sigma, _ := DPNoiseMultiplier(8, 1e-5, 0.04, 2250, 0)
	if err != nil || info.MaxGradNorm != 1 || info.Delta != 1e-5 || info.SampleRate != 0.04 || info.Steps != 0 ||
		info.Epsilon != 0 || info.Examples != 0 || math.Abs(info.NoiseMultiplier-sigma) > 1e-12 {
		t.Errorf("Info = %+v, %v (sigma %v)", info, err, sigma)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := d.Info(); err != ErrDPClosed {
		t.Errorf("Info after Close: %v", err)
	}
	var nilDP *DP
	if nilDP.Close() != nil {
		t.Error("Close on nil")
	}
	for _, c := range []struct {
		o      DPOptions
		status int
		words  string
	}{
		{DPOptions{NoiseMultiplier: 1, SampleRate: 0.1, Delta: -1}, StatusInvalidArgument, "delta must be in (0, 1)"},
		{DPOptions{NoiseMultiplier: 1, SampleRate: 0.1, Delta: 1}, StatusInvalidArgument, "delta must be in (0, 1)"},
		{DPOptions{NoiseMultiplier: 1}, StatusInvalidArgument, "sample rate q must be in (0, 1]"},
		{DPOptions{NoiseMultiplier: 1, SampleRate: 2}, StatusInvalidArgument, "sample rate q must be in (0, 1]"},
		{DPOptions{NoiseMultiplier: 1, SampleRate: 0.1, MaxGradNorm: -1}, StatusInvalidArgument, "max_grad_norm"},
		{DPOptions{TargetEpsilon: -1, SampleRate: 0.1, Steps: 9}, StatusInvalidArgument, "epsilon must be"},
		{DPOptions{SampleRate: 0.1}, StatusInvalidArgument, "give a target epsilon"},
		{DPOptions{TargetEpsilon: 8, SampleRate: 0.1}, StatusInvalidArgument, "needs the planned steps"},
		{DPOptions{TargetEpsilon: 1e-9, SampleRate: 1, Steps: 1000000}, StatusRange, "too small a budget"},
	} {
		_, err := NewDP(c.o)
		wantTrainStatus(t, fmt.Sprintf("NewDP(%+v)", c.o), err, c.status, c.words)
	}
}

func TestDPForwardBackwardAndNoise(t *testing.T) {
	m := loadTiny1(t)
	b := batchOf(t, m, 0, 5)
	noDropout := &BackwardOptions{Dropout: Ptr(0.0), GradScale: 0.2}
	norms, err := ExampleNorms(m, b, noDropout)
	if err != nil {
		t.Fatal(err)
	}
	// C between the norms: some clipped, some not.
	lo, hi := norms[0], norms[0]
	for _, n := range norms {
		lo, hi = float32(math.Min(float64(lo), float64(n))), float32(math.Max(float64(hi), float64(n)))
	}
	C := float64(lo+hi) / 2
	weights := make([]float32, len(norms))
	clipped := uint64(0)
	for i, n := range norms {
		weights[i] = float32(math.Min(1, C/(float64(n)+1e-6)))
		if C/(float64(n)+1e-6) < 1 {
			clipped++
		}
	}
	m.ZeroGrad()
	wb := b
	wb.Weights = weights
	if _, _, err := m.ForwardBackward(wb, noDropout); err != nil {
		t.Fatal(err)
	}
	want, _ := m.Grad("bert.encoder.layer.0.attention.self.query.weight")
	m.ZeroGrad()

	d, err := NewDP(DPOptions{NoiseMultiplier: 1, MaxGradNorm: C, SampleRate: 0.5, NoiseSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	loss, got, err := d.ForwardBackward(m, b, noDropout)
	if err != nil || len(got) != len(norms) || !(loss > 0) {
		t.Fatalf("ForwardBackward: %v %v %v", loss, got, err)
	}
	for i := range got {
		if relErr(float64(got[i]), float64(norms[i])) > 1e-5 {
			t.Errorf("norm %d: %v, ExampleNorms %v", i, got[i], norms[i])
		}
	}
	g, _ := m.Grad("bert.encoder.layer.0.attention.self.query.weight")
	scale, worst := 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		worst = math.Max(worst, math.Abs(float64(g[i]-want[i])))
	}
	if worst > 1e-5*scale+1e-9 {
		t.Errorf("the clipped sum differs from the weighted one by %g (scale %g)", worst, scale)
	}
	info, _ := d.Info()
	if info.Examples != 5 || info.Clipped != clipped || info.Steps != 0 {
		t.Errorf("Info after ForwardBackward = %+v, want 5 examples, %d clipped", info, clipped)
	}
	if err := d.AddNoise(m, 0.2); err != nil {
		t.Fatal(err)
	}
	info, _ = d.Info()
	eps, _, _ := DPEpsilon(1, 0.5, 1, 1e-5)
	if info.Steps != 1 || math.Abs(info.Epsilon-eps) > 1e-9 {
		t.Errorf("Info after AddNoise = %+v, want epsilon %v", info, eps)
	}
	wantTrainStatus(t, "AddNoise(0)", d.AddNoise(m, 0), StatusInvalidArgument, "grad_scale")

	// Seeded noise is reproducible.
	noisy := func(seed uint64) []float32 {
		m.ZeroGrad()
		d, err := NewDP(DPOptions{NoiseMultiplier: 2, MaxGradNorm: 0.5, SampleRate: 0.5, NoiseSeed: seed})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if err := d.AddNoise(m, 0.5); err != nil {
			t.Fatal(err)
		}
		g, _ := m.Grad("classifier.weight")
		return g
	}
	a, a2, c := noisy(7), noisy(7), noisy(8)
	if !equalF32(a, a2) || equalF32(a, c) {
		t.Error("the noise of a seed is not reproducible, or two seeds give the same")
	}
	// Its standard deviation: grad_scale x sigma x C = 0.5.
	m.ZeroGrad()
	noisy(9)
	n, count := gradNorm(t, m), 0
	info2, _ := m.Info()
	count = info2.NumTrainableParameters
	if sd := n / math.Sqrt(float64(count)); math.Abs(sd-0.5) > 0.05 {
		t.Errorf("noise std %v, want 0.5", sd)
	}

	// Shared by goroutines.
	var wg sync.WaitGroup
	for k := 0; k < 3; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 2; j++ {
				if _, _, err := d.ForwardBackward(m, b, noDropout); err != nil {
					t.Error(err)
				}
				d.Info()
			}
		}()
	}
	wg.Wait()
	if info, _ := d.Info(); info.Examples != 5+30 {
		t.Errorf("examples after the goroutines: %d", info.Examples)
	}
	d.Close()
	if _, _, err := d.ForwardBackward(m, b, nil); err != ErrDPClosed {
		t.Errorf("ForwardBackward after Close: %v", err)
	}
	if err := d.AddNoise(m, 1); err != ErrDPClosed {
		t.Errorf("AddNoise after Close: %v", err)
	}
}

func TestTrainWithDPWritesPrivacyJSON(t *testing.T) {
	m := loadTiny1(t)
	texts, labels := trainTexts()
	ds, err := DatasetFromTexts(texts, nil, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	out := filepath.Join(t.TempDir(), "out")
	var seen []float64
	opts := &FineTuneOptions{Epochs: 2, BatchSize: 3, LearningRate: 1e-3, MaxLength: 16, Threads: 1,
		OutputDir: out, DPEpsilon: 8, DPDelta: 1e-4, DPMaxGradNorm: 0.7, DPNoiseSeed: 11,
		Callback: func(p *TrainProgress) bool { seen = append(seen, p.DPEpsilon); return false }}
	res, err := Train(m, ds, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 {
		t.Fatal("no progress")
	}
	for i, e := range seen {
		if !(e > 0 && e <= 8) || (i > 0 && e < seen[i-1]) {
			t.Errorf("progress epsilon %d: %v", i, e)
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, "privacy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var priv struct {
		Epsilon, Delta, MaxGradNorm, NoiseMultiplier, SampleRate, TargetEpsilon float64
		Steps                                                                   uint64
	}
	var j map[string]interface{}
	json.Unmarshal(raw, &j)
	priv.Epsilon, priv.Delta = j["epsilon"].(float64), j["delta"].(float64)
	priv.MaxGradNorm, priv.NoiseMultiplier = j["max_grad_norm"].(float64), j["noise_multiplier"].(float64)
	priv.SampleRate, priv.TargetEpsilon = j["sample_rate"].(float64), j["target_epsilon"].(float64)
	priv.Steps = uint64(j["steps"].(float64))
	if !(priv.Epsilon > 0 && priv.Epsilon <= 8) || priv.Delta != 1e-4 || priv.MaxGradNorm != 0.7 ||
		priv.TargetEpsilon != 8 || math.Abs(priv.SampleRate-0.25) > 1e-12 || priv.Steps != res.Steps ||
		!(priv.NoiseMultiplier > 0) || math.Abs(priv.Epsilon-seen[len(seen)-1]) > 1e-9 {
		t.Errorf("privacy.json = %s (result %+v)", raw, res)
	}

	// Without DP the progress says NaN.
	seen = nil
	if _, err := Train(m, ds, nil, &FineTuneOptions{MaxSteps: 1, BatchSize: 3, MaxLength: 16, Threads: 1,
		Callback: func(p *TrainProgress) bool { seen = append(seen, p.DPEpsilon); return false }}); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 || !math.IsNaN(seen[0]) {
		t.Errorf("DPEpsilon without DP: %v", seen)
	}

	for _, c := range []struct {
		o      FineTuneOptions
		status int
		words  string
	}{
		{FineTuneOptions{DPEpsilon: 8, DPDelta: 2}, StatusInvalidArgument, "dp_delta must be in (0, 1)"},
		{FineTuneOptions{DPEpsilon: -1}, StatusInvalidArgument, "dp_epsilon must be a finite number > 0"},
		{FineTuneOptions{DPNoise: -1}, StatusInvalidArgument, "dp_noise must be a finite number > 0"},
		{FineTuneOptions{DPEpsilon: 8, DPMaxGradNorm: -1}, StatusInvalidArgument, "dp_max_grad_norm"},
		{FineTuneOptions{DPEpsilon: 8, BatchSize: 64}, StatusInvalidArgument, "larger than the training data"},
		{FineTuneOptions{DPEpsilon: 8, Precision: PrecisionBF16}, StatusUnsupported, "float32 only"},
	} {
		o := c.o
		o.Epochs, o.MaxLength, o.Threads = 1, 16, 1
		if o.BatchSize == 0 {
			o.BatchSize = 3
		}
		_, err := Train(m, ds, nil, &o)
		wantTrainStatus(t, fmt.Sprintf("Train(%+v)", c.o), err, c.status, c.words)
	}
}
