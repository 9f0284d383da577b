package datamodel

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

var (
	yTrue = []int{0, 0, 1, 1, 2, 2}
	yPred = []int{0, 1, 1, 1, 2, 0}
)

// Values computed by hand (they equal scikit-learn's on the same inputs).
func TestMetricsHandComputed(t *testing.T) {
	r, err := Metrics(yTrue, yPred, &MetricsOptions{Labels: []string{"a", "b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.NExamples != 6 || r.NClasses() != 3 || !reflect.DeepEqual(r.Labels, []string{"a", "b", "c"}) {
		t.Fatalf("NExamples %d, classes %d, labels %q", r.NExamples, r.NClasses(), r.Labels)
	}
	if !near(r.Accuracy, 4.0/6, 1e-12) {
		t.Errorf("Accuracy = %v", r.Accuracy)
	}
	// a: tp 1 of 2 predicted, 2 true; b: tp 2 of 3 predicted, 2 true; c: tp 1 of 1 predicted, 2 true
	prec := []float64{0.5, 2.0 / 3, 1}
	rec := []float64{0.5, 1, 0.5}
	var sumP, sumR, sumF float64
	for j, pc := range r.PerClass {
		f1 := 2 * prec[j] * rec[j] / (prec[j] + rec[j])
		sumP, sumR, sumF = sumP+prec[j], sumR+rec[j], sumF+f1
		if pc.Name != r.Labels[j] || !near(pc.Precision, prec[j], 1e-12) || !near(pc.Recall, rec[j], 1e-12) ||
			!near(pc.F1, f1, 1e-12) || pc.Support != 2 || !math.IsNaN(pc.ROCAUC) {
			t.Errorf("class %d: %+v", j, pc)
		}
	}
	if !near(r.MacroPrecision, sumP/3, 1e-12) || !near(r.MacroRecall, sumR/3, 1e-12) || !near(r.MacroF1, sumF/3, 1e-12) {
		t.Errorf("macro %v %v %v", r.MacroPrecision, r.MacroRecall, r.MacroF1)
	}
	if !near(r.WeightedF1, sumF/3, 1e-12) { // equal supports
		t.Errorf("WeightedF1 = %v", r.WeightedF1)
	}
	if want := [][]uint64{{1, 1, 0}, {0, 2, 0}, {1, 0, 1}}; !reflect.DeepEqual(r.Confusion, want) {
		t.Errorf("Confusion = %v", r.Confusion)
	}
	if !math.IsNaN(r.LogLoss) || !math.IsNaN(r.ROCAUC) || !math.IsNaN(r.Loss) {
		t.Errorf("LogLoss %v, ROCAUC %v, Loss %v: want NaN", r.LogLoss, r.ROCAUC, r.Loss)
	}
}

func TestMetricsProbabilities(t *testing.T) {
	p1 := []float32{0.1, 0.4, 0.35, 0.8}
	probs := make([][]float32, 4)
	for i, p := range p1 {
		probs[i] = []float32{1 - p, p}
	}
	r, err := Metrics([]int{0, 0, 1, 1}, []int{0, 0, 0, 1}, &MetricsOptions{Probs: probs})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Labels, []string{"0", "1"}) {
		t.Errorf("Labels = %q", r.Labels)
	}
	if !near(r.ROCAUC, 0.75, 1e-9) || !near(r.PerClass[1].ROCAUC, 0.75, 1e-9) { // roc_auc_score's example
		t.Errorf("ROCAUC = %v", r.ROCAUC)
	}
	want := 0.0
	for _, p := range []float64{0.9, 0.6, 0.35, 0.8} {
		want -= math.Log(float64(float32(p))) / 4
	}
	if !near(r.LogLoss, want, 1e-6) {
		t.Errorf("LogLoss = %v, want %v", r.LogLoss, want)
	}
}

func TestReportJSONAndText(t *testing.T) {
	r, err := Metrics(yTrue, yPred, &MetricsOptions{Labels: []string{"neg", "neu", "pos"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Accuracy  float64                    `json:"accuracy"`
		MacroF1   float64                    `json:"macro_f1"`
		Confusion [][]uint64                 `json:"confusion_matrix"`
		Labels    []string                   `json:"labels"`
		LogLoss   *float64                   `json:"log_loss"`
		PerClass  map[string]json.RawMessage `json:"per_class"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("JSON: %v\n%s", err, b)
	}
	if !near(j.Accuracy, r.Accuracy, 1e-9) || !near(j.MacroF1, r.MacroF1, 1e-9) ||
		!reflect.DeepEqual(j.Confusion, r.Confusion) || !reflect.DeepEqual(j.Labels, r.Labels) ||
		j.LogLoss != nil || len(j.PerClass) != 3 {
		t.Errorf("JSON = %s", b)
	}
	text, err := r.Text(2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "precision") || !strings.Contains(text, "neu") || !strings.Contains(text, "0.67") {
		t.Errorf("Text:\n%s", text)
	}
	// 0 decimals as classification_report(digits=0): 0.5 rounds to 0 (half to even), 2/3 to 1.
	if t0, _ := r.Text(0); !strings.Contains(t0, "         neg          0         0         0         2\n") ||
		!strings.Contains(t0, "         neu          1         1         1         2\n") {
		t.Errorf("Text(0):\n%s", t0)
	}
	if t4, _ := r.Text(4); !strings.Contains(t4, "0.6667") {
		t.Errorf("Text(4):\n%s", t4)
	}
	_, err = r.Text(101)
	wantStatus(t, err, StatusRange, "digits 101")
	bad := *r
	bad.Confusion = bad.Confusion[:2]
	_, err = bad.JSON()
	wantStatus(t, err, StatusInvalidArgument, "inconsistent report")
}

// scikit-learn's edge cases: one class (classification_report(labels=["a"])),
// and a macro ROC AUC that is NaN when a class has no true example.
func TestMetricsEdgeCases(t *testing.T) {
	r, err := Metrics([]int{0, 0, 0}, []int{0, 0, 0}, &MetricsOptions{Labels: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := r.Text(2)
	if r.Accuracy != 1 || r.MacroF1 != 1 || r.PerClass[0].Support != 3 ||
		!strings.HasPrefix(text, "              precision    recall  f1-score   support\n\n"+
			"           a       1.00      1.00      1.00         3\n\n"+
			"    accuracy                           1.00         3\n") {
		t.Errorf("one class: %+v\n%s", r, text)
	}
	probs := [][]float32{{0.6, 0.3, 0.1}, {0.2, 0.7, 0.1}, {0.4, 0.5, 0.1}, {0.1, 0.8, 0.1}}
	r, err = Metrics([]int{0, 1, 0, 1}, []int{0, 1, 1, 1}, &MetricsOptions{Probs: probs})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(r.ROCAUC) || !math.IsNaN(r.PerClass[2].ROCAUC) || r.PerClass[0].ROCAUC != 1 || r.PerClass[1].ROCAUC != 1 {
		t.Errorf("ROCAUC %v, per class %+v", r.ROCAUC, r.PerClass)
	}
}

func TestMetricsErrors(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		name   string
		yt, yp []int
		opts   *MetricsOptions
		status int
	}{
		{"no class", []int{0, 0}, []int{0, 0}, &MetricsOptions{NClasses: 0, Labels: []string{}}, StatusRange},
		{"one class with probabilities", []int{0, 0}, []int{0, 0}, &MetricsOptions{Probs: [][]float32{{1}, {1}}}, StatusRange},
		{"id out of range", []int{0, 3}, []int{0, 1}, &MetricsOptions{NClasses: 2}, StatusRange},
		{"empty", nil, nil, &MetricsOptions{NClasses: 2}, StatusRange},
		{"NaN probability", []int{0, 1}, []int{0, 1}, &MetricsOptions{Probs: [][]float32{{0.5, 0.5}, {nan, 0.5}}}, StatusNumeric},
		{"probability > 1", []int{0, 1}, []int{0, 1}, &MetricsOptions{Probs: [][]float32{{0.5, 0.5}, {1.5, 0.5}}}, StatusRange},
		{"bad UTF-8 name", []int{0, 1}, []int{0, 1}, &MetricsOptions{Labels: []string{"ok", "bad\xff"}}, StatusUTF8},
		{"lengths", []int{0, 1}, []int{0}, nil, StatusInvalidArgument},
		{"probs width", []int{0, 1}, []int{0, 1}, &MetricsOptions{NClasses: 2, Probs: [][]float32{{1}, {1}}}, StatusInvalidArgument},
		{"names count", []int{0, 1}, []int{0, 1}, &MetricsOptions{NClasses: 3, Labels: []string{"a", "b"}}, StatusInvalidArgument},
	} {
		r, err := Metrics(c.yt, c.yp, c.opts)
		if r != nil {
			t.Errorf("%s: got a report with the error", c.name)
		}
		wantStatus(t, err, c.status, c.name)
	}
}
