package datamodel

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// trainTexts returns the sentences of the tiny model's training batches
// (TINY_TRAIN of test/model/gen_fixtures.py) with their label names.
func trainTexts() ([]string, []string) {
	rows := [][2]string{
		{"The soup was far too salty.", "negative"}, {"What a wonderful surprise!", "positive"},
		{"这家餐厅的菜太咸了。", "negative"}, {"Does the museum open at 9?", "neutral"},
		{"The movie was boring and far too long.", "negative"}, {"We climbed the hill to watch the sunset.", "positive"},
		{"猫在沙发上睡了一整天。", "neutral"}, {"Please close the window.", "neutral"},
		{"He fixed the broken bicycle in ten minutes, which was great!", "positive"},
		{"Nobody answered the phone.", "neutral"}, {"Our garden has a small pond and tall sunflowers.", "positive"},
		{"The bread was stale.", "negative"},
	}
	texts, labels := make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		texts[i], labels[i] = r[0], r[1]
	}
	return texts, labels
}

func trainSet(t *testing.T) *Dataset {
	t.Helper()
	texts, labels := trainTexts()
	ds, err := DatasetFromTexts(texts, nil, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

func TestTrainShortRun(t *testing.T) {
	m := loadTiny(t, nil)
	ds := trainSet(t)
	before, _ := m.Predict(tinySingles, nil, nil)
	var seen []TrainProgress
	res, err := Train(m, ds, nil, &FineTuneOptions{MaxSteps: 3, BatchSize: 4, LearningRate: 1e-3,
		Callback: func(p *TrainProgress) bool { seen = append(seen, *p); return false }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 3 || !near(res.Epochs, 1, 1e-9) || !(res.FinalLoss > 0) || math.IsInf(res.FinalLoss, 0) ||
		!math.IsNaN(res.BestValMetric) || res.StoppedEarly || res.Seconds < 0 {
		t.Errorf("result %+v", res)
	}
	if len(seen) != 3 {
		t.Fatalf("%d callbacks, want 3", len(seen))
	}
	for i, p := range seen {
		if p.Step != uint64(i+1) || p.TotalSteps != 3 || p.Evaluated || !math.IsNaN(p.ValAccuracy) ||
			!(p.Loss > 0) || p.GradNorm <= 0 || p.LearningRate < 0 {
			t.Errorf("progress %d: %+v", i, p)
		}
	}
	if !near(seen[2].Epoch, 1, 1e-9) {
		t.Errorf("last epoch %v", seen[2].Epoch)
	}
	after, _ := m.Predict(tinySingles, nil, nil)
	if maxDiff(flatten(before.Logits), flatten(after.Logits)) < 1e-6 {
		t.Error("training did not change the weights")
	}
}

// Mixed precision (cpu-ref has bfloat16 products on every CPU): losses near
// float32's; a Precision that is none is refused.
func TestTrainMixedPrecision(t *testing.T) {
	t.Setenv("DM_BACKEND", "cpu-ref")
	ds := trainSet(t)
	losses := map[Precision][]float64{}
	noDropout := 0.0
	for _, p := range []Precision{PrecisionFP32, PrecisionBF16} {
		m := loadTiny(t, nil)
		if _, err := Train(m, ds, nil, &FineTuneOptions{MaxSteps: 4, BatchSize: 4, LearningRate: 1e-3, Dropout: &noDropout,
			Precision: p, Callback: func(pr *TrainProgress) bool {
				losses[p] = append(losses[p], pr.Loss)
				return false
			}}); err != nil {
			t.Fatalf("%v: %v", p, err)
		}
	}
	if len(losses[PrecisionBF16]) != 4 {
		t.Fatalf("bf16 losses %v", losses[PrecisionBF16])
	}
	for i, a := range losses[PrecisionFP32] {
		if b := losses[PrecisionBF16][i]; math.Abs(a-b) > 0.02*a {
			t.Errorf("step %d: fp32 loss %v, bf16 %v", i+1, a, b)
		}
	}
	m := loadTiny(t, nil)
	before, _ := m.Info()
	if _, err := Train(m, ds, nil, &FineTuneOptions{MaxSteps: 1, BatchSize: 4}); err != nil {
		t.Fatal(err)
	}
	after, _ := m.Info()
	if before.MemoryBytes < 4*before.NumParameters || after.MemoryPeakBytes <= before.MemoryPeakBytes {
		t.Errorf("memory: before %+v, after %+v", before, after)
	}
	_, err := Train(m, ds, nil, &FineTuneOptions{MaxSteps: 1, Precision: Precision(5)})
	wantTrainStatus(t, "Precision 5", err, StatusInvalidArgument, "Precision 5")
}

func TestTrainWithValidation(t *testing.T) {
	m := loadTiny(t, nil)
	ds := trainSet(t)
	var evals []TrainProgress
	res, err := Train(m, ds, ds, &FineTuneOptions{Epochs: 2, BatchSize: 6, LearningRate: 1e-3, WarmupRatio: 0.1,
		Schedule: ScheduleCosine, Dropout: Ptr(0.0), Shuffle: ToggleOff, ClassWeights: []float32{1, 2, 1},
		Callback: func(p *TrainProgress) bool {
			if p.Evaluated {
				evals = append(evals, *p)
			}
			return false
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 4 || !near(res.Epochs, 2, 1e-9) || len(evals) != 2 {
		t.Fatalf("result %+v, %d evaluations", res, len(evals))
	}
	best := 0.0
	for _, p := range evals {
		if p.ValAccuracy < 0 || p.ValAccuracy > 1 || math.IsNaN(p.ValLoss) {
			t.Errorf("evaluation %+v", p)
		}
		best = math.Max(best, p.ValAccuracy)
	}
	if !near(res.BestValMetric, best, 1e-12) || (res.BestStep != 2 && res.BestStep != 4) {
		t.Errorf("BestValMetric %v (want %v), BestStep %d", res.BestValMetric, best, res.BestStep)
	}
}

func TestTrainDeterministicWithOutput(t *testing.T) {
	ds := trainSet(t)
	dir := t.TempDir()
	out, log := filepath.Join(dir, "out"), filepath.Join(dir, "log.jsonl")
	var logits [2][][]float32
	for k := 0; k < 2; k++ {
		m := loadTiny(t, nil)
		opts := &FineTuneOptions{MaxSteps: 2, BatchSize: 4, Seed: Ptr(uint64(3)), LogJSONL: log, Threads: 1}
		if k == 1 {
			opts.OutputDir = out
		}
		if _, err := Train(m, ds, nil, opts); err != nil {
			t.Fatal(err)
		}
		p, _ := m.Predict(tinySingles, nil, nil)
		logits[k] = p.Logits
	}
	if !reflect.DeepEqual(logits[0], logits[1]) {
		t.Error("the same seed gave other weights")
	}
	saved, err := LoadModel(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer saved.Close()
	p, _ := saved.Predict(tinySingles, nil, nil)
	if !reflect.DeepEqual(p.Logits, logits[1]) {
		t.Error("the saved model predicts otherwise")
	}
	b, err := os.ReadFile(log)
	if err != nil || len(strings.Split(strings.TrimSpace(string(b)), "\n")) != 2 {
		t.Errorf("log: %v\n%s", err, b)
	}
}

func TestTrainCheckpointsAndResume(t *testing.T) {
	m := loadTiny(t, nil)
	ds := trainSet(t)
	out := filepath.Join(t.TempDir(), "run")
	opts := &FineTuneOptions{MaxSteps: 4, BatchSize: 4, GradAccum: 2, BalancedClassWeights: true, OutputDir: out,
		CheckpointSteps: 1, CheckpointLimit: 2}
	if _, err := Train(m, ds, nil, opts); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(out)
	var checkpoints []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "checkpoint-") {
			checkpoints = append(checkpoints, e.Name())
		}
	}
	sort.Strings(checkpoints)
	if !reflect.DeepEqual(checkpoints, []string{"checkpoint-3", "checkpoint-4"}) {
		t.Errorf("checkpoints %q", checkpoints)
	}
	fresh := loadTiny(t, nil)
	res, err := Train(fresh, ds, nil, &FineTuneOptions{MaxSteps: 4, BatchSize: 4, GradAccum: 2,
		BalancedClassWeights: true, ResumeFrom: filepath.Join(out, "checkpoint-4")})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.Predict(tinySingles, nil, nil)
	b, _ := fresh.Predict(tinySingles, nil, nil)
	if res.Steps != 4 || maxDiff(flatten(a.Logits), flatten(b.Logits)) > 1e-6 {
		t.Errorf("resumed: %+v, logits differ by %g", res, maxDiff(flatten(a.Logits), flatten(b.Logits)))
	}
}

func TestTrainCallbackCancels(t *testing.T) {
	m := loadTiny(t, nil)
	var steps []uint64
	_, err := Train(m, trainSet(t), nil, &FineTuneOptions{Epochs: 5, BatchSize: 4, Callback: func(p *TrainProgress) bool {
		steps = append(steps, p.Step)
		return p.Step >= 2
	}})
	wantStatus(t, err, StatusCancelled, "cancel")
	if !reflect.DeepEqual(steps, []uint64{1, 2}) {
		t.Errorf("steps %v", steps)
	}
	if _, err := m.Predict([]string{"still usable"}, nil, nil); err != nil {
		t.Error(err)
	}
}

func TestTrainCallbackPanicIsRaisedAgain(t *testing.T) {
	m := loadTiny(t, nil)
	ds := trainSet(t)
	calls := 0
	func() {
		defer func() {
			if r := recover(); r != "from the callback" {
				t.Errorf("recovered %v", r)
			}
		}()
		Train(m, ds, nil, &FineTuneOptions{Epochs: 5, BatchSize: 4, Callback: func(p *TrainProgress) bool {
			calls++
			panic("from the callback")
		}})
		t.Error("no panic")
	}()
	if calls != 1 {
		t.Errorf("%d calls: training should stop at once", calls)
	}
	if _, err := m.Predict([]string{"still usable"}, nil, nil); err != nil {
		t.Errorf("after the panic: %v", err)
	}
}

func TestTrainCallbackCannotUseTheModel(t *testing.T) {
	m := loadTiny(t, nil)
	var inner error
	_, err := Train(m, trainSet(t), nil, &FineTuneOptions{MaxSteps: 1, BatchSize: 4, Callback: func(p *TrainProgress) bool {
		_, inner = m.Predict([]string{"x"}, nil, nil)
		if m.Close() != ErrModelTraining {
			t.Error("Close inside the callback should fail with ErrModelTraining")
		}
		return false
	}})
	if err != nil {
		t.Fatal(err)
	}
	if inner != ErrModelTraining {
		t.Errorf("Predict inside the callback: %v, want ErrModelTraining", inner)
	}
}

func TestTrainErrors(t *testing.T) {
	m := loadTiny(t, nil)
	ds := trainSet(t)
	for _, c := range []struct {
		name string
		opts *FineTuneOptions
	}{
		{"negative lr", &FineTuneOptions{LearningRate: -1}},
		{"negative batch", &FineTuneOptions{BatchSize: -1}},
		{"dropout", &FineTuneOptions{Dropout: Ptr(1.5)}},
		{"warmup ratio", &FineTuneOptions{WarmupRatio: 2}},
		{"max length", &FineTuneOptions{MaxLength: 1}},
		{"checkpoints without output", &FineTuneOptions{CheckpointSteps: 1}},
		{"negative class weight", &FineTuneOptions{ClassWeights: []float32{1, 1, -1}}},
		{"class weight count", &FineTuneOptions{ClassWeights: []float32{1, 2}}},
		{"both class weights", &FineTuneOptions{ClassWeights: []float32{1, 1, 1}, BalancedClassWeights: true}},
		{"schedule", &FineTuneOptions{Schedule: 7}},
		{"betas", &FineTuneOptions{AdamBeta1: Ptr(1.0)}},
		{"toggle", &FineTuneOptions{Shuffle: 5}},
		{"NUL in a path", &FineTuneOptions{OutputDir: "a\x00b"}},
	} {
		_, err := Train(m, ds, nil, c.opts)
		wantStatus(t, err, StatusInvalidArgument, c.name)
	}
	unknown, _ := DatasetFromTexts([]string{"a", "b"}, nil, []string{"neutral", "unknown"}, nil)
	defer unknown.Close()
	_, err := Train(m, unknown, nil, &FineTuneOptions{MaxSteps: 1})
	if e := wantStatus(t, err, StatusInvalidArgument, "unknown label"); !strings.Contains(e.Message, "unknown") {
		t.Errorf("message %q", e.Message)
	}
	unlabelled, _ := DatasetFromTexts([]string{"a"}, nil, nil, nil)
	defer unlabelled.Close()
	_, err = Train(m, unlabelled, nil, &FineTuneOptions{MaxSteps: 1})
	wantStatus(t, err, StatusInvalidArgument, "no labels")
	_, err = Train(m, ds, nil, &FineTuneOptions{MaxSteps: 1, ResumeFrom: "/nonexistent/checkpoint-1"})
	if e, ok := err.(*Error); !ok || (e.Status != StatusIO && e.Status != StatusNotFound) {
		t.Errorf("missing checkpoint: %v", err)
	}
	_, err = Train(m, nil, nil, nil)
	wantStatus(t, err, StatusInvalidArgument, "nil training data")
	m.Close()
	_, err = Train(m, ds, nil, nil)
	if err != ErrModelClosed {
		t.Errorf("closed model: %v", err)
	}
}

func TestTrainEarlyStopping(t *testing.T) {
	m := loadTiny(t, nil)
	ds := trainSet(t)
	evals := 0
	// A learning rate too small to change any prediction: the second
	// evaluation is no better than the first, which stops training.
	res, err := Train(m, ds, ds, &FineTuneOptions{Epochs: 3, BatchSize: 4, LearningRate: 1e-12, EvalSteps: 1,
		EarlyStoppingPatience: 1, Callback: func(p *TrainProgress) bool {
			if p.Evaluated {
				evals++
			}
			return false
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.StoppedEarly || res.Steps != 2 || res.BestStep != 1 || evals != 2 || res.BestValMetric < 0 {
		t.Errorf("result %+v, %d evaluations", res, evals)
	}
}
