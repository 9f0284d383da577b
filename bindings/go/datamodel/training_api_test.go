package datamodel

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Tests of the public pieces of training (trainable tensors,
// ForwardBackward, Optimizer, Trainer) on the tiny random BERT (labels
// negative, neutral, positive; 2 layers, hidden 48).

// quickRun: the 12 rows of trainTexts in batches of 4, 3 steps an epoch.
func quickRun() *FineTuneOptions {
	return &FineTuneOptions{Epochs: 2, BatchSize: 4, LearningRate: 1e-2, MaxLength: 16, Threads: 1}
}

func loadTiny1(t *testing.T) *Model {
	return loadTiny(t, &ModelOptions{Threads: 1, Device: DeviceCPU})
}

func valSet(t *testing.T) *Dataset {
	t.Helper()
	ds, err := DatasetFromTexts([]string{"A dull and salty meal.", "Lovely sunny garden!", "The bus leaves at noon.",
		"The film was too long."}, nil, []string{"negative", "positive", "neutral", "negative"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

// batchOf tokenizes rows lo..hi of trainTexts into a Batch padded to its longest.
func batchOf(t *testing.T, m *Model, lo, hi int) Batch {
	t.Helper()
	texts, labels := trainTexts()
	encs, err := m.Tokenizer().EncodeBatch(texts[lo:hi], nil, &EncodeOptions{Truncation: TruncateLongestFirst,
		MaxLength: 16, Padding: PadToLongest})
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	for i, e := range encs {
		b.IDs = append(b.IDs, e.IDs)
		b.AttentionMask = append(b.AttentionMask, e.AttentionMask)
		for j, name := range tinyLabels {
			if name == labels[lo+i] {
				b.Labels = append(b.Labels, int32(j))
			}
		}
	}
	return b
}

// savedTensors saves m and reads its model.safetensors back.
func savedTensors(t *testing.T, m *Model) (map[string]stTensor, []byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return readSafetensors(t, filepath.Join(dir, "model.safetensors")), raw
}

func wantTrainStatus(t *testing.T, what string, err error, status int, contains string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != status || !strings.Contains(e.Message, contains) {
		t.Errorf("%s: got %v, want status %s with %q", what, err, StatusName(status), contains)
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestTrainableTensors(t *testing.T) {
	m := loadTiny1(t)
	info, _ := m.Info()
	if info.NumTrainableParameters != info.NumParameters {
		t.Errorf("at load %d of %d parameters are trainable", info.NumTrainableParameters, info.NumParameters)
	}
	if err := m.SetTrainable("bert.embeddings.", false); err != nil {
		t.Fatal(err)
	}
	H := info.HiddenSize
	emb := (info.VocabSize+info.MaxPositionEmbeddings+info.TypeVocabSize)*H + 2*H
	if after, _ := m.Info(); after.NumTrainableParameters != info.NumParameters-emb {
		t.Errorf("NumTrainableParameters = %d, want %d", after.NumTrainableParameters, info.NumParameters-emb)
	}
	if v, err := m.IsTrainable("bert.embeddings.LayerNorm.bias"); v || err != nil {
		t.Errorf("IsTrainable(embeddings LayerNorm) = %v, %v", v, err)
	}
	if v, err := m.IsTrainable("classifier.bias"); !v || err != nil {
		t.Errorf("IsTrainable(classifier.bias) = %v, %v", v, err)
	}
	_, err := m.IsTrainable("nope")
	wantTrainStatus(t, "IsTrainable(nope)", err, StatusNotFound, "nope")
	wantTrainStatus(t, "SetTrainable(nothing.)", m.SetTrainable("nothing.", false), StatusNotFound, "nothing.")
	wantTrainStatus(t, "SetTrainable(query)", m.SetTrainable("bert.encoder.layer.0.attention.self.query.", false),
		StatusUnsupported, "query, key and value")
	wantTrainStatus(t, "SetTrainable(NUL)", m.SetTrainable("bert.\x00", false), StatusInvalidArgument, "NUL")
	if err := m.SetTrainable("", true); err != nil {
		t.Fatal(err)
	}
	if err := m.SetTrainable("bert.encoder.layer.1.", false); err != nil {
		t.Fatal(err)
	}
	_, err = m.Grad("bert.encoder.layer.1.output.dense.bias")
	wantTrainStatus(t, "Grad(frozen)", err, StatusInvalidArgument, "frozen")
	_, err = m.Grad("bert.encoder.layer.7.output.dense.bias")
	wantTrainStatus(t, "Grad(layer 7)", err, StatusNotFound, "layer.7")
	_, err = m.Grad("nope")
	wantTrainStatus(t, "Grad(nope)", err, StatusNotFound, "nope")
}

func TestForwardBackward(t *testing.T) {
	m := loadTiny1(t)
	b := batchOf(t, m, 0, 6)
	off := &BackwardOptions{Dropout: Ptr(0.0)}
	loss, logits, err := m.ForwardBackward(b, off)
	if err != nil {
		t.Fatal(err)
	}
	if !(loss > 0) || math.IsInf(loss, 0) || len(logits) != 6 || len(logits[0]) != 3 {
		t.Fatalf("loss %v, logits %v", loss, logits)
	}
	ref, err := m.Forward(b.IDs, nil, b.AttentionMask, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(flatten(logits), flatten(ref.Logits)); d > 1e-5 {
		t.Errorf("logits differ from Forward's by %g", d)
	}
	const name = "bert.encoder.layer.0.intermediate.dense.weight"
	whole, err := m.Grad(name)
	if err != nil || len(whole) != 96*48 {
		t.Fatalf("Grad: %d values, %v", len(whole), err)
	}
	// The batch in two halves accumulates to the same loss and gradient.
	if err := m.ZeroGrad(); err != nil {
		t.Fatal(err)
	}
	if g, _ := m.Grad(name); maxDiff(g, make([]float32, len(g))) != 0 {
		t.Error("ZeroGrad left a gradient")
	}
	h1 := Batch{IDs: b.IDs[:3], AttentionMask: b.AttentionMask[:3], Labels: b.Labels[:3]}
	h2 := Batch{IDs: b.IDs[3:], AttentionMask: b.AttentionMask[3:], Labels: b.Labels[3:]}
	l1, _, err1 := m.ForwardBackward(h1, off)
	l2, _, err2 := m.ForwardBackward(h2, off)
	if err1 != nil || err2 != nil || math.Abs(l1+l2-loss) > 1e-5*loss {
		t.Errorf("halves: %v + %v vs %v (%v, %v)", l1, l2, loss, err1, err2)
	}
	if g, _ := m.Grad(name); maxDiff(g, whole) > 1e-5 {
		t.Errorf("accumulated gradient differs by %g", maxDiff(g, whole))
	}
	// Weights scale each loss; label -1 has none.
	w := b
	w.Weights = []float32{2, 2, 2, 2, 2, 2}
	if l, _, err := m.ForwardBackward(w, off); err != nil || math.Abs(l-2*loss) > 1e-5*loss {
		t.Errorf("weighted loss %v, want %v (%v)", l, 2*loss, err)
	}
	none := b
	none.Labels = []int32{-1, -1, -1, -1, -1, -1}
	if l, _, err := m.ForwardBackward(none, off); err != nil || l != 0 {
		t.Errorf("no labels: loss %v, %v", l, err)
	}
	// Every tensor's gradient has the tensor's size.
	tensors, _ := savedTensors(t, m)
	if len(tensors) != 5+2*16+4 {
		t.Errorf("%d tensors saved", len(tensors))
	}
	for name, tt := range tensors {
		g, err := m.Grad(name)
		if err != nil || len(g) != len(tt.F32) {
			t.Errorf("Grad(%s): %d values, want %d (%v)", name, len(g), len(tt.F32), err)
		}
	}
}

func TestForwardBackwardErrors(t *testing.T) {
	m := loadTiny1(t)
	b := batchOf(t, m, 0, 3)
	seq := len(b.IDs[0])
	bad := func(what string, mutate func(*Batch), opts *BackwardOptions, status int, contains string) {
		t.Helper()
		c := Batch{IDs: append([][]int32{}, b.IDs...), AttentionMask: append([][]uint8{}, b.AttentionMask...),
			Labels: append([]int32{}, b.Labels...)}
		mutate(&c)
		_, _, err := m.ForwardBackward(c, opts)
		wantTrainStatus(t, what, err, status, contains)
	}
	bad("ragged", func(c *Batch) { c.IDs[1] = c.IDs[1][:seq-1] }, nil, StatusInvalidArgument, "IDs[1] has length")
	bad("labels", func(c *Batch) { c.Labels = c.Labels[:2] }, nil, StatusInvalidArgument, "2 Labels for 3 rows")
	bad("mask rows", func(c *Batch) { c.AttentionMask = c.AttentionMask[:2] }, nil, StatusInvalidArgument, "AttentionMask")
	bad("mask row", func(c *Batch) { c.AttentionMask[2] = c.AttentionMask[2][:1] }, nil, StatusInvalidArgument,
		"AttentionMask[2]")
	bad("types", func(c *Batch) { c.TypeIDs = [][]int32{{0}} }, nil, StatusInvalidArgument, "TypeIDs")
	bad("weights", func(c *Batch) { c.Weights = []float32{1} }, nil, StatusInvalidArgument, "1 Weights")
	bad("label 3", func(c *Batch) { c.Labels[1] = 3 }, nil, StatusRange, "labels[1] = 3")
	bad("label -2", func(c *Batch) { c.Labels[1] = -2 }, nil, StatusRange, "labels[1] = -2")
	bad("token id", func(c *Batch) { c.IDs[0] = append([]int32{1 << 30}, c.IDs[0][1:]...) }, nil, StatusRange,
		"not a token id")
	bad("type id", func(c *Batch) {
		c.TypeIDs = [][]int32{make([]int32, seq), make([]int32, seq), make([]int32, seq)}
		c.TypeIDs[2][0] = 2
	},
		nil, StatusRange, "type_ids")
	bad("weight", func(c *Batch) { c.Weights = []float32{1, -1, 1} }, nil, StatusInvalidArgument, "weights[1]")
	bad("NaN weight", func(c *Batch) { c.Weights = []float32{1, float32(math.NaN()), 1} }, nil, StatusInvalidArgument,
		"weights[1]")
	bad("mask zeros", func(c *Batch) { c.AttentionMask[0] = make([]uint8, seq) }, nil, StatusInvalidArgument, "all zeros")
	bad("empty", func(c *Batch) { *c = Batch{} }, nil, StatusRange, "empty batch")
	bad("too long", func(c *Batch) { *c = Batch{IDs: [][]int32{make([]int32, 65)}, Labels: []int32{0}} }, nil,
		StatusRange, "max_position_embeddings")
	bad("dropout", func(c *Batch) {}, &BackwardOptions{Dropout: Ptr(1.5)}, StatusInvalidArgument, "dropout")
	bad("grad scale", func(c *Batch) {}, &BackwardOptions{GradScale: math.Inf(1)}, StatusInvalidArgument, "grad_scale")
	m.Close()
	if _, _, err := m.ForwardBackward(b, nil); err != ErrModelClosed {
		t.Errorf("closed model: %v", err)
	}
	if m.ZeroGrad() != ErrModelClosed {
		t.Error("ZeroGrad on a closed model")
	}
	if _, err := m.Grad("classifier.bias"); err != ErrModelClosed {
		t.Errorf("Grad on a closed model: %v", err)
	}
	if _, err := NewOptimizer(m, nil); err != ErrModelClosed {
		t.Errorf("NewOptimizer on a closed model: %v", err)
	}
}

func TestHandWrittenLoop(t *testing.T) {
	m := loadTiny1(t)
	for _, prefix := range []string{"bert.encoder.layer.0.", "bert.embeddings."} {
		if err := m.SetTrainable(prefix, false); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := savedTensors(t, m)
	batches := []Batch{batchOf(t, m, 0, 4), batchOf(t, m, 4, 8), batchOf(t, m, 8, 12)}
	const epochs = 8
	opt, err := NewOptimizer(m, &OptimizerOptions{LearningRate: 1e-2, WarmupSteps: 2, TotalSteps: 3 * epochs})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	var losses []float64
	for e := 0; e < epochs; e++ {
		total := 0.0
		for k, b := range batches {
			loss, _, err := m.ForwardBackward(b, &BackwardOptions{GradScale: 1 / float64(len(b.IDs)),
				Dropout: Ptr(0.0), Stream: uint64(e*3 + k)})
			if err != nil {
				t.Fatal(err)
			}
			total += loss
			info, err := opt.Step()
			if err != nil {
				t.Fatal(err)
			}
			step := uint64(e*3 + k + 1)
			if info.Step != step || !(info.GradNorm > 0) {
				t.Errorf("step %d: %+v", step, info)
			}
			if step <= 3 && !near(info.LearningRate, 0.5e-2*float64(step-1), 1e-12) { // warmup: 0, 1/2, 1
				t.Errorf("step %d: learning rate %v", step, info.LearningRate)
			}
		}
		losses = append(losses, total/12)
	}
	if n, err := opt.Steps(); n != 3*epochs || err != nil {
		t.Errorf("Steps = %d, %v", n, err)
	}
	if !(losses[epochs-1] < 0.7*losses[0]) {
		t.Errorf("the loss did not decrease: %v", losses)
	}
	if g, _ := m.Grad("classifier.weight"); maxDiff(g, make([]float32, len(g))) != 0 {
		t.Error("Step did not clear the gradients")
	}
	after, _ := savedTensors(t, m)
	for name, w := range before {
		frozen := strings.HasPrefix(name, "bert.encoder.layer.0.") || strings.HasPrefix(name, "bert.embeddings.")
		if same := equalF32(w.F32, after[name].F32); same != frozen {
			t.Errorf("%s: unchanged %v, frozen %v", name, same, frozen)
		}
	}
}

func TestOptimizerSaveLoadAndLifetimes(t *testing.T) {
	m := loadTiny1(t)
	b := batchOf(t, m, 0, 4)
	path := filepath.Join(t.TempDir(), "opt.safetensors")
	opt, err := NewOptimizer(m, &OptimizerOptions{LearningRate: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := m.ForwardBackward(b, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := opt.Step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := opt.Save(path); err != nil {
		t.Fatal(err)
	}
	wantTrainStatus(t, "SetTrainable with an optimizer", m.SetTrainable("bert.embeddings.", false), StatusBusy,
		"optimizer")
	if err := m.Close(); err != ErrModelInUse || !errors.Is(err, &Error{Status: StatusBusy}) {
		t.Errorf("Model.Close with an open optimizer: %v", err)
	}
	if _, err := m.Info(); err != nil {
		t.Errorf("the model was closed: %v", err)
	}
	if opt.Close() != nil || opt.Close() != nil {
		t.Error("Optimizer.Close twice")
	}
	if _, err := opt.Step(); err != ErrOptimizerClosed {
		t.Errorf("Step on a closed optimizer: %v", err)
	}
	if _, err := opt.Steps(); err != ErrOptimizerClosed {
		t.Errorf("Steps on a closed optimizer: %v", err)
	}
	if opt.Save(path) != ErrOptimizerClosed || (*Optimizer)(nil).Close() != nil {
		t.Error("Save on a closed optimizer, or Close on nil")
	}
	again, err := NewOptimizer(m, &OptimizerOptions{LearningRate: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Load(path); err != nil {
		t.Fatal(err)
	}
	if n, _ := again.Steps(); n != 3 {
		t.Errorf("Steps after Load = %d", n)
	}
	m.ForwardBackward(b, nil)
	if info, err := again.Step(); err != nil || info.Step != 4 {
		t.Errorf("step after Load: %+v, %v", info, err)
	}
	again.Close()
	other, _ := NewOptimizer(m, &OptimizerOptions{LearningRate: 1e-3, AdamBeta2: Ptr(0.98)})
	wantTrainStatus(t, "Load with other options", other.Load(path), StatusInvalidArgument, "adam_beta2")
	wantTrainStatus(t, "Load of a missing file", other.Load(path+".missing"), StatusIO, "missing")
	wantTrainStatus(t, "Load path with NUL", other.Load("a\x00b"), StatusInvalidArgument, "NUL")
	other.Close()
	m.SetTrainable("bert.embeddings.", false)
	fewer, _ := NewOptimizer(m, &OptimizerOptions{LearningRate: 1e-3})
	wantTrainStatus(t, "Load for other tensors", fewer.Load(path), StatusInvalidArgument, "other tensors trainable")
	fewer.Close()
	_, err = NewOptimizer(m, &OptimizerOptions{LearningRate: -1})
	wantTrainStatus(t, "negative learning rate", err, StatusInvalidArgument, "learning_rate")
	_, err = NewOptimizer(m, &OptimizerOptions{Schedule: 7})
	wantTrainStatus(t, "bad schedule", err, StatusInvalidArgument, "schedule")
	if err := m.Close(); err != nil {
		t.Errorf("Model.Close after the optimizers: %v", err)
	}
}

func TestOptimizerFinalizerKeepsTheModel(t *testing.T) {
	m, err := LoadModel(tinyDir, &ModelOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	opt, err := NewOptimizer(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	m = nil
	runtime.GC()
	if n, err := opt.Steps(); n != 0 || err != nil {
		t.Errorf("Steps = %d, %v", n, err)
	}
	opt = nil
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
}

func TestTrainFreezing(t *testing.T) {
	m := loadTiny1(t)
	ds := trainSet(t)
	before, _ := savedTensors(t, m)
	opts := quickRun()
	opts.FreezeEmbeddings, opts.FreezeLayers = true, 1
	res, err := Train(m, ds, nil, opts)
	if err != nil || res.Steps != 6 {
		t.Fatalf("Train: %+v, %v", res, err)
	}
	after, _ := savedTensors(t, m)
	for name, w := range before {
		frozen := strings.HasPrefix(name, "bert.encoder.layer.0.") || strings.HasPrefix(name, "bert.embeddings.")
		if same := equalF32(w.F32, after[name].F32); same != frozen {
			t.Errorf("%s: unchanged %v, frozen %v", name, same, frozen)
		}
	}
	// The freezing was the run's: the model's own trainable set is back afterwards.
	if v, _ := m.IsTrainable("bert.encoder.layer.0.output.dense.weight"); !v {
		t.Error("layer 0 should be trainable again after Train")
	}
	if info, _ := m.Info(); info.NumTrainableParameters != info.NumParameters {
		t.Errorf("NumTrainableParameters %d of %d", info.NumTrainableParameters, info.NumParameters)
	}
	opts.FreezeLayers = 3
	_, err = Train(m, ds, nil, opts)
	wantTrainStatus(t, "FreezeLayers 3", err, StatusInvalidArgument, "freeze_layers")
	opts.FreezeLayers = -1
	_, err = Train(m, ds, nil, opts)
	wantTrainStatus(t, "FreezeLayers -1", err, StatusInvalidArgument, "FreezeLayers")
}

func TestTrainLengthGroupingAndWorkers(t *testing.T) {
	ds := trainSet(t)
	weights := map[LengthGrouping][]byte{}
	for _, g := range []LengthGrouping{LengthsDefault, LengthsMixed, LengthsSorted, LengthsBuckets} {
		m := loadTiny1(t)
		opts := quickRun()
		opts.GroupByLength = g
		if res, err := Train(m, ds, nil, opts); err != nil || res.Steps != 6 {
			t.Fatalf("GroupByLength %d: %+v, %v", g, res, err)
		}
		_, raw := savedTensors(t, m)
		weights[g] = raw
	}
	if !bytes.Equal(weights[LengthsDefault], weights[LengthsBuckets]) {
		t.Error("the default grouping is not LengthsBuckets")
	}
	if bytes.Equal(weights[LengthsMixed], weights[LengthsSorted]) {
		t.Error("mixed and sorted batches trained the same weights")
	}
	m := loadTiny1(t)
	opts := quickRun()
	opts.GroupByLength = LengthGrouping(9)
	_, err := Train(m, ds, nil, opts)
	wantTrainStatus(t, "GroupByLength 9", err, StatusInvalidArgument, "GroupByLength")
	opts = quickRun()
	opts.WorldSize = 2
	_, err = Train(m, ds, nil, opts)
	wantTrainStatus(t, "WorldSize 2", err, StatusUnsupported, "world_size 2")
	opts.WorldSize, opts.Rank = 1, 1
	_, err = Train(m, ds, nil, opts)
	wantTrainStatus(t, "Rank 1", err, StatusInvalidArgument, "rank must be in")
}

func TestTrainerResumeEqualsTrain(t *testing.T) {
	ds, val := trainSet(t), valSet(t)
	opts := quickRun()
	opts.Dropout, opts.GradAccum, opts.BatchSize = Ptr(0.1), 2, 2 // 6 micro-batches = 3 steps an epoch
	a := loadTiny1(t)
	ref, err := Train(a, ds, val, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, want := savedTensors(t, a)
	ckpt := filepath.Join(t.TempDir(), "ckpt")

	b := loadTiny1(t)
	tr, err := NewTrainer(b, nil, ds, val, opts)
	if err != nil {
		t.Fatal(err)
	}
	var last TrainProgress
	for i := 0; i < 3 && !tr.Done(); i++ {
		// From goroutines of their own: the trainer's calls all run on its thread.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // a thread that is surely not the trainer's
			defer runtime.UnlockOSThread()
			last, err = tr.Step()
		}()
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
	}
	if last.Step != 3 || last.TotalSteps != 6 || !near(last.Epoch, 1, 1e-12) || last.Evaluated ||
		!math.IsNaN(last.ValLoss) {
		t.Errorf("progress after 3 steps: %+v", last)
	}
	// Step 3 ends the first epoch: Train evaluates there (the best weights).
	report, err := tr.Evaluate()
	if err != nil || report.NExamples != 4 {
		t.Fatalf("Evaluate: %+v, %v", report, err)
	}
	if err := tr.Save(ckpt); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	c := loadTiny1(t)
	tr, err = NewTrainer(c, nil, ds, val, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Resume(ckpt); err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Done() || res.Steps != ref.Steps || res.BestStep != ref.BestStep {
		t.Errorf("Run: %+v, Train: %+v", res, ref)
	}
	_, err = tr.Step()
	wantTrainStatus(t, "Step after the end", err, StatusRange, "are done")
	tr.Close()
	if _, got := savedTensors(t, c); !bytes.Equal(got, want) {
		t.Error("step by step with a resume differs from Train")
	}
	// ResumeFrom in the options does the same.
	d := loadTiny1(t)
	withResume := *opts
	withResume.ResumeFrom = ckpt
	tr, err = NewTrainer(d, nil, ds, val, &withResume)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if _, got := savedTensors(t, d); !bytes.Equal(got, want) {
		t.Error("ResumeFrom differs from Train")
	}
}

func TestTrainerRunCallbackAndOutputDir(t *testing.T) {
	m := loadTiny1(t)
	ds, val := trainSet(t), valSet(t)
	opt, err := NewOptimizer(m, &OptimizerOptions{LearningRate: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	var tr *Trainer
	var steps []uint64
	var inside []error
	out := filepath.Join(t.TempDir(), "out")
	opts := quickRun()
	opts.OutputDir = out
	opts.Callback = func(p *TrainProgress) bool {
		steps = append(steps, p.Step)
		if p.Step == 1 {
			_, e1 := tr.Step()
			_, e2 := m.Predict([]string{"hi"}, nil, nil)
			inside = append(inside, e1, e2, opt.Close(), tr.Close(), m.Close())
		}
		return false
	}
	// Made on a goroutine whose thread ends with it, run on another: the
	// library's calls that are bound to the thread that made the trainer
	// (the final save) still work.
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		tr, err = NewTrainer(m, opt, ds, val, opts)
	}()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	var res *TrainResult
	done = make(chan struct{})
	go func() {
		defer close(done)
		res, err = tr.Run()
	}()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 6 || res.Steps != 6 {
		t.Errorf("callback steps %v, result %+v", steps, res)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Errorf("the final model was not saved: %v", err)
	}
	want := []error{ErrTrainerRunning, ErrModelTraining, ErrModelTraining, ErrTrainerRunning, ErrModelTraining}
	for i := range want {
		if i >= len(inside) || inside[i] != want[i] {
			t.Errorf("calls inside the callback: %v, want %v", inside, want)
			break
		}
	}
	// Open, not running: the model is being trained, the optimizer is in use.
	if _, err := m.Info(); err != ErrModelTraining {
		t.Errorf("Info with an open trainer: %v", err)
	}
	if m.Close() != ErrModelTraining || opt.Close() != ErrOptimizerInUse {
		t.Error("Close of the model or the optimizer of an open trainer")
	}
	if _, err := opt.Step(); err != ErrModelTraining {
		t.Errorf("Optimizer.Step with an open trainer: %v", err)
	}
	_, err = NewTrainer(m, nil, ds, nil, quickRun())
	if err != ErrModelTraining {
		t.Errorf("a second trainer: %v", err)
	}
	if _, err := Train(m, ds, nil, quickRun()); err != ErrModelTraining {
		t.Errorf("Train with an open trainer: %v", err)
	}
	if err := tr.Close(); err != nil || tr.Close() != nil {
		t.Fatal("Trainer.Close", err)
	}
	if _, err := tr.Step(); err != ErrTrainerClosed || !tr.Done() {
		t.Errorf("Step on a closed trainer: %v", err)
	}
	if _, err := tr.Evaluate(); err != ErrTrainerClosed {
		t.Errorf("Evaluate on a closed trainer: %v", err)
	}
	if n, err := opt.Steps(); n != 6 || err != nil {
		t.Errorf("the given optimizer took %d steps (%v)", n, err)
	}
	if err := opt.Close(); err != nil {
		t.Error(err)
	}
	if err := m.Close(); err != nil {
		t.Error(err)
	}
}

func TestTrainerCancelPanicAndErrors(t *testing.T) {
	m := loadTiny1(t)
	ds := trainSet(t)
	opts := quickRun()
	opts.Callback = func(p *TrainProgress) bool { return true }
	tr, err := NewTrainer(m, nil, ds, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Run()
	wantTrainStatus(t, "cancelled Run", err, StatusCancelled, "cancelled")
	if p, err := tr.Step(); err != nil || p.Step != 2 {
		t.Errorf("Step after a cancelled Run: %+v, %v", p, err)
	}
	_, err = tr.Evaluate()
	wantTrainStatus(t, "Evaluate without validation data", err, StatusInvalidArgument, "no validation data")
	wantTrainStatus(t, "Resume after steps", tr.Resume(t.TempDir()), StatusInvalidArgument, "taken steps")
	tr.Close()

	opts.Callback = func(p *TrainProgress) bool { panic("boom") }
	tr, err = NewTrainer(m, nil, ds, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v", r)
			}
		}()
		tr.Run()
		t.Error("Run did not panic")
	}()
	if p, err := tr.Step(); err != nil || p.Step != 2 {
		t.Errorf("Step after a panicking Run: %+v, %v", p, err)
	}
	tr.Close()

	bad := quickRun()
	bad.Epochs, bad.MaxSteps = 0, 0
	if _, err := NewTrainer(m, nil, nil, nil, bad); err == nil {
		t.Error("NewTrainer without data")
	}
	bad.FreezeLayers = 5
	_, err = NewTrainer(m, nil, ds, nil, bad)
	wantTrainStatus(t, "FreezeLayers 5", err, StatusInvalidArgument, "freeze_layers")
	other := loadTiny1(t)
	foreign, _ := NewOptimizer(other, nil)
	defer foreign.Close()
	_, err = NewTrainer(m, foreign, ds, nil, nil)
	wantTrainStatus(t, "optimizer of another model", err, StatusInvalidArgument, "another model")
	own, _ := NewOptimizer(m, nil)
	withFreeze := quickRun()
	withFreeze.FreezeEmbeddings = true
	_, err = NewTrainer(m, own, ds, nil, withFreeze)
	wantTrainStatus(t, "freezing with an optimizer", err, StatusInvalidArgument, "freeze")
	own.Close()
	_, err = NewTrainer(m, own, ds, nil, nil)
	if err != ErrOptimizerClosed {
		t.Errorf("a closed optimizer: %v", err)
	}
	unlabelled, _ := DatasetFromTexts([]string{"no label"}, nil, nil, nil)
	defer unlabelled.Close()
	if _, err := NewTrainer(m, nil, unlabelled, nil, nil); err == nil {
		t.Error("NewTrainer on data without labels")
	}
	// After every failure the model is free again.
	if _, err := m.Info(); err != nil {
		t.Errorf("the model after failed NewTrainer calls: %v", err)
	}
	var nilTrainer *Trainer
	if nilTrainer.Close() != nil || !nilTrainer.Done() {
		t.Error("nil trainer")
	}
	if _, err := nilTrainer.Step(); err != ErrTrainerClosed {
		t.Errorf("Step on nil: %v", err)
	}
}

func TestTrainerFinalizers(t *testing.T) {
	ds := trainSet(t)
	for i := 0; i < 2; i++ {
		m, err := LoadModel(tinyDir, &ModelOptions{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		opt, _ := NewOptimizer(m, nil)
		tr, err := NewTrainer(m, opt, ds, nil, quickRun())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
		m, opt, tr = nil, nil, nil
	}
	for i := 0; i < 5; i++ {
		runtime.GC()
		runtime.Gosched()
	}
}
