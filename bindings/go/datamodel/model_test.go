package datamodel

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The tiny random BERT of test/model/fixtures (3 labels, hidden 48) and its
// Hugging Face reference outputs.
var (
	fixtures   = filepath.Join("..", "..", "..", "test", "model", "fixtures")
	tinyDir    = filepath.Join(fixtures, "tiny")
	tinyLabels = []string{"negative", "neutral", "positive"}
)

// TINY_INPUTS of test/model/gen_fixtures.py: the inputs of the reference
// forward pass, three sentences and one pair.
var (
	tinySingles = []string{
		"I really enjoyed the concert last night!",
		"My sister is walking to the market \U0001F642 with a basket of sunflowers, but the storm starts soon.",
		"今天的天气很好，我们去公园散步吧。",
	}
	tinyPair = [2]string{"The train arrived late again.", "Everyone was annoyed and quietly waited."}
)

// stTensor is one tensor of a safetensors file.
type stTensor struct {
	Shape []int
	F32   []float32
	I32   []int32
}

// readSafetensors reads a safetensors file: an 8-byte little-endian header
// length, a JSON header (name -> dtype, shape, data_offsets into the data
// that follows; "__metadata__" aside), then the data. F32 and I32 only.
func readSafetensors(t *testing.T, path string) map[string]stTensor {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 8 {
		t.Fatalf("%s: too short", path)
	}
	n := binary.LittleEndian.Uint64(raw[:8])
	if n > uint64(len(raw)-8) {
		t.Fatalf("%s: header length %d exceeds the file", path, n)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	data := raw[8+n:]
	out := map[string]stTensor{}
	for name, msg := range header {
		if name == "__metadata__" {
			continue
		}
		var h struct {
			DType   string    `json:"dtype"`
			Shape   []int     `json:"shape"`
			Offsets [2]uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &h); err != nil {
			t.Fatalf("%s: tensor %s: %v", path, name, err)
		}
		if h.Offsets[0] > h.Offsets[1] || h.Offsets[1] > uint64(len(data)) {
			t.Fatalf("%s: tensor %s: bad offsets %v", path, name, h.Offsets)
		}
		b := data[h.Offsets[0]:h.Offsets[1]]
		count := 1
		for _, d := range h.Shape {
			count *= d
		}
		if len(b) != 4*count {
			continue // other dtypes (F64, I64) are not needed here
		}
		tt := stTensor{Shape: h.Shape}
		switch h.DType {
		case "F32":
			tt.F32 = make([]float32, count)
			for i := range tt.F32 {
				tt.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case "I32":
			tt.I32 = make([]int32, count)
			for i := range tt.I32 {
				tt.I32[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
			}
		default:
			continue
		}
		out[name] = tt
	}
	return out
}

var (
	refOnce sync.Once
	refData map[string]stTensor
)

func tinyRef(t *testing.T) map[string]stTensor {
	t.Helper()
	refOnce.Do(func() { refData = readSafetensors(t, filepath.Join(fixtures, "tiny_ref.safetensors")) })
	if refData == nil {
		t.Fatal("tiny_ref.safetensors could not be read")
	}
	return refData
}

// int32Rows / uint8Rows cut a [batch, seq] I32 tensor into rows.
func int32Rows(tt stTensor) [][]int32 {
	b, s := tt.Shape[0], tt.Shape[1]
	out := make([][]int32, b)
	for i := range out {
		out[i] = tt.I32[i*s : (i+1)*s]
	}
	return out
}

func uint8Rows(tt stTensor) [][]uint8 {
	out := make([][]uint8, tt.Shape[0])
	for i, r := range int32Rows(tt) {
		out[i] = make([]uint8, len(r))
		for j, v := range r {
			out[i][j] = uint8(v)
		}
	}
	return out
}

func maxDiff(a []float32, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func flatten(rows [][]float32) []float32 {
	var out []float32
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

func loadTiny(t *testing.T, opts *ModelOptions) *Model {
	t.Helper()
	m, err := LoadModel(tinyDir, opts)
	if err != nil {
		t.Fatalf("LoadModel: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestModelInfoAndLabels(t *testing.T) {
	m := loadTiny(t, &ModelOptions{Threads: 2})
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	want := ModelInfo{VocabSize: 315, HiddenSize: 48, NumLayers: 2, NumHeads: 4, IntermediateSize: 96,
		MaxPositionEmbeddings: 64, TypeVocabSize: 2, NumLabels: 3}
	got := info
	got.NumParameters, got.NumTrainableParameters, got.Device, got.BackendName = 0, 0, 0, ""
	got.MemoryBytes, got.MemoryPeakBytes = 0, 0
	if got != want || info.NumParameters <= 0 || info.NewHead || info.BackendName == "" ||
		info.MemoryBytes < 4*info.NumParameters || info.MemoryPeakBytes < info.MemoryBytes {
		t.Errorf("Info = %+v", info)
	}
	if info.Device != DeviceCPU && info.Device != DeviceCUDA {
		t.Errorf("Device = %v", info.Device)
	}
	if labels := m.Labels(); !reflect.DeepEqual(labels, tinyLabels) {
		t.Errorf("Labels = %q", labels)
	}
	if name, ok := m.LabelName(2); !ok || name != "positive" {
		t.Errorf("LabelName(2) = %q, %v", name, ok)
	}
	if _, ok := m.LabelName(3); ok {
		t.Error("LabelName(3) should not exist")
	}
	if DeviceCPU.String() != "cpu" || Device(7).String() != "Device(7)" {
		t.Errorf("Device.String: %s %s", DeviceCPU, Device(7))
	}
}

func TestModelNewHead(t *testing.T) {
	opts := &ModelOptions{NumLabels: 2, Labels: []string{"bad", "good"}, Seed: Ptr(uint64(7))}
	a := loadTiny(t, opts)
	b := loadTiny(t, opts)
	info, _ := a.Info()
	if !info.NewHead || info.NumLabels != 2 || !reflect.DeepEqual(a.Labels(), []string{"bad", "good"}) {
		t.Errorf("Info %+v, Labels %q", info, a.Labels())
	}
	pa, err := a.Predict([]string{"hello"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := b.Predict([]string{"hello"}, nil, nil)
	if !reflect.DeepEqual(pa.Logits, pb.Logits) {
		t.Errorf("the same seed gave other heads: %v %v", pa.Logits, pb.Logits)
	}
	four := loadTiny(t, &ModelOptions{NumLabels: 4})
	if got := four.Labels(); !reflect.DeepEqual(got, []string{"LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"}) {
		t.Errorf("Labels = %q", got)
	}
}

func TestModelLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadModel(filepath.Join(dir, "missing"), nil)
	if e := wantStatus(t, err, StatusIO, "missing folder"); !strings.Contains(e.Message, "missing") {
		t.Errorf("message %q", e.Message)
	}
	_, err = LoadModel(dir, nil)
	wantStatus(t, err, StatusNotFound, "no config.json")
	other := filepath.Join(dir, "gpt2")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(tinyDir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(tinyDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "config.json" {
			b = []byte(strings.Replace(string(b), `"model_type": "bert"`, `"model_type": "gpt2"`, 1))
		}
		if err := os.WriteFile(filepath.Join(other, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = LoadModel(other, nil)
	if e := wantStatus(t, err, StatusUnsupported, "gpt2"); !strings.Contains(e.Message, "gpt2") {
		t.Errorf("message %q", e.Message)
	}
	_, err = LoadModel(tinyDir, &ModelOptions{NumLabels: -1})
	wantStatus(t, err, StatusInvalidArgument, "negative NumLabels")
	_, err = LoadModel(tinyDir, &ModelOptions{Device: 9})
	wantStatus(t, err, StatusInvalidArgument, "unknown device")
}

func TestModelClosed(t *testing.T) {
	m, err := LoadModel(tinyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	m.Close()
	if _, err := m.Predict([]string{"x"}, nil, nil); err != ErrModelClosed {
		t.Errorf("Predict after Close: %v", err)
	}
	if _, err := m.Info(); err != ErrModelClosed {
		t.Errorf("Info after Close: %v", err)
	}
	if m.Labels() != nil || m.Tokenizer() != nil {
		t.Error("Labels / Tokenizer after Close")
	}
	var nilModel *Model
	if nilModel.Close() != nil || nilModel.Save(t.TempDir()) != ErrModelClosed {
		t.Error("nil model")
	}
}

func TestModelForwardMatchesReference(t *testing.T) {
	ref := tinyRef(t)
	m := loadTiny(t, nil)
	ids, types, mask := int32Rows(ref["input_ids"]), int32Rows(ref["token_type_ids"]), uint8Rows(ref["attention_mask"])
	out, err := m.Forward(ids, types, mask, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Logits) != 4 || len(out.Logits[0]) != 3 || out.Hidden != nil || out.Pooled != nil {
		t.Fatalf("shapes: %d x %d, hidden %v, pooled %v", len(out.Logits), len(out.Logits[0]), out.Hidden != nil, out.Pooled != nil)
	}
	if d := maxDiff(flatten(out.Logits), ref["logits"].F32); d > 1e-4 {
		t.Errorf("logits differ from the reference by %g", d)
	}
	full, err := m.Forward(ids, types, mask, &ForwardOptions{Hidden: true, Pooled: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(flatten(full.Pooled), ref["pooled"].F32); d > 1e-4 {
		t.Errorf("pooled differs by %g", d)
	}
	h, rh := full.Hidden, ref["hidden.2"].F32
	if len(h) != 4 || len(h[0]) != 33 || len(h[0][0]) != 48 {
		t.Fatalf("hidden shape %d x %d x %d", len(h), len(h[0]), len(h[0][0]))
	}
	for b := range h {
		for tok := range h[b] {
			if mask[b][tok] == 0 {
				continue // padding positions are not compared
			}
			at := (b*33 + tok) * 48
			if d := maxDiff(h[b][tok], rh[at:at+48]); d > 1e-4 {
				t.Fatalf("hidden[%d][%d] differs by %g", b, tok, d)
			}
		}
	}
	// type ids and mask default to zeros and ones
	one, err := m.Forward([][]int32{ids[0][:10]}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(one.Logits[0], ref["logits"].F32[:3]); d > 1e-4 {
		t.Errorf("defaults: logits differ by %g", d)
	}
}

func TestModelForwardErrors(t *testing.T) {
	m := loadTiny(t, nil)
	_, err := m.Forward([][]int32{{2, 5, 3}, {2, 3}}, nil, nil, nil)
	wantStatus(t, err, StatusInvalidArgument, "ragged ids")
	_, err = m.Forward([][]int32{{2, 5, 3}}, [][]int32{{0, 0}}, nil, nil)
	wantStatus(t, err, StatusInvalidArgument, "typeIDs shape")
	_, err = m.Forward([][]int32{{2, 5000, 3}}, nil, nil, nil)
	wantStatus(t, err, StatusRange, "id out of range")
	_, err = m.Forward([][]int32{{2, 5, 3}}, nil, [][]uint8{{0, 0, 0}}, nil)
	wantStatus(t, err, StatusInvalidArgument, "all-zero mask")
	_, err = m.Forward(nil, nil, nil, nil)
	wantStatus(t, err, StatusRange, "empty batch")
	long := make([]int32, 65)
	_, err = m.Forward([][]int32{long}, nil, nil, nil)
	wantStatus(t, err, StatusRange, "longer than max_position_embeddings")
}

func TestModelPredictMatchesReference(t *testing.T) {
	ref := tinyRef(t)
	m := loadTiny(t, nil)
	p, err := m.Predict(tinySingles, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Labels) != 3 || len(p.Probs) != 3 || len(p.Logits) != 3 || len(p.LabelIDs) != 3 {
		t.Fatalf("Prediction sizes: %+v", p)
	}
	if d := maxDiff(flatten(p.Logits), ref["logits"].F32[:9]); d > 1e-4 {
		t.Errorf("logits differ from the reference by %g", d)
	}
	for i := range p.Probs {
		sum, best := 0.0, 0
		for j, v := range p.Probs[i] {
			sum += float64(v)
			if p.Logits[i][j] > p.Logits[i][best] {
				best = j
			}
		}
		if !near(sum, 1, 1e-5) || p.LabelIDs[i] != best || p.Labels[i] != tinyLabels[best] {
			t.Errorf("row %d: probs %v sum %g, label %d %q, argmax %d", i, p.Probs[i], sum, p.LabelIDs[i], p.Labels[i], best)
		}
	}
	pair, err := m.Predict([]string{tinyPair[0]}, []string{tinyPair[1]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(pair.Logits[0], ref["logits"].F32[9:12]); d > 1e-4 {
		t.Errorf("pair logits differ by %g", d)
	}
	empty, err := m.Predict(nil, nil, nil)
	if err != nil || len(empty.Labels) != 0 {
		t.Errorf("empty Predict: %v %+v", err, empty)
	}
}

func TestModelPredictOptions(t *testing.T) {
	m := loadTiny(t, nil)
	texts := append(append(append([]string{}, tinySingles...), tinySingles...), tinySingles...)
	a, err := m.Predict(texts, nil, &InferOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Predict(texts, nil, nil)
	if d := maxDiff(flatten(a.Logits), flatten(b.Logits)); d > 1e-5 {
		t.Errorf("batch size changed logits by %g", d)
	}
	var calls [][2]uint64
	_, err = m.Predict(texts, nil, &InferOptions{BatchSize: 2, Progress: func(done, total uint64) bool {
		calls = append(calls, [2]uint64{done, total})
		return false
	}})
	if err != nil || len(calls) == 0 || calls[len(calls)-1] != [2]uint64{9, 9} {
		t.Errorf("progress: %v, calls %v", err, calls)
	}
	_, err = m.Predict(texts, nil, &InferOptions{BatchSize: 2, Progress: func(done, total uint64) bool { return true }})
	wantStatus(t, err, StatusCancelled, "cancel")
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the callback's panic", r)
			}
		}()
		m.Predict(texts, nil, &InferOptions{Progress: func(done, total uint64) bool { panic("boom") }})
		t.Error("no panic")
	}()
	short, _ := m.Predict(texts, nil, &InferOptions{MaxLength: 4})
	if maxDiff(short.Logits[1], b.Logits[1]) < 1e-6 {
		t.Error("MaxLength did not truncate")
	}
	_, err = m.Predict([]string{"bad \xff utf-8"}, nil, nil)
	wantStatus(t, err, StatusUTF8, "invalid UTF-8")
	if _, err := m.Predict([]string{"bad \xff utf-8"}, nil, &InferOptions{InvalidUTF8: UTF8Replace}); err != nil {
		t.Errorf("UTF8Replace: %v", err)
	}
	_, err = m.Predict([]string{"a", "b"}, []string{"x"}, nil)
	wantStatus(t, err, StatusInvalidArgument, "pair count")
	_, err = m.Predict(texts, nil, &InferOptions{BatchSize: -1})
	wantStatus(t, err, StatusInvalidArgument, "negative BatchSize")
	// The model still works after a panic in a callback.
	if _, err := m.Predict(tinySingles, nil, nil); err != nil {
		t.Errorf("after the panic: %v", err)
	}
}

func TestModelEmbed(t *testing.T) {
	ref := tinyRef(t)
	m := loadTiny(t, nil)
	e, err := m.Embed(tinySingles, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(e) != 3 || len(e[0]) != 48 {
		t.Fatalf("shape %d x %d", len(e), len(e[0]))
	}
	// Not a sentence-transformers folder: CLS pooling, no normalisation.
	cls, err := m.Embed(tinySingles, &InferOptions{Pooling: PoolCLS, Normalize: ToggleOff})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e, cls) {
		t.Error("default pooling is not CLS")
	}
	rh := ref["hidden.2"].F32
	for i := range cls {
		if d := maxDiff(cls[i], rh[i*33*48:i*33*48+48]); d > 1e-4 {
			t.Errorf("CLS embedding %d differs from the reference by %g", i, d)
		}
	}
	unit, err := m.Embed(tinySingles, &InferOptions{Pooling: PoolMean, Normalize: ToggleOn})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range unit {
		ss := 0.0
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		if !near(math.Sqrt(ss), 1, 1e-5) {
			t.Errorf("embedding %d has norm %g", i, math.Sqrt(ss))
		}
	}
	mean, _ := m.Embed(tinySingles[:1], &InferOptions{Pooling: PoolMean, Normalize: ToggleOff})
	n := 0
	for _, v := range ref["attention_mask"].I32[:33] {
		n += int(v)
	}
	want := make([]float32, 48)
	for c := range want {
		s := 0.0
		for tok := 0; tok < n; tok++ {
			s += float64(rh[tok*48+c])
		}
		want[c] = float32(s / float64(n))
	}
	if d := maxDiff(mean[0], want); d > 1e-4 {
		t.Errorf("mean pooling differs by %g", d)
	}
	_, err = m.Embed(tinySingles, &InferOptions{Pooling: 7})
	wantStatus(t, err, StatusInvalidArgument, "unknown pooling")
	_, err = m.Embed(tinySingles, &InferOptions{Normalize: 9})
	wantStatus(t, err, StatusInvalidArgument, "unknown Toggle")
}

func TestModelSaveReload(t *testing.T) {
	m := loadTiny(t, nil)
	out := filepath.Join(t.TempDir(), "saved")
	if err := m.Save(out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	again, err := LoadModel(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	a, _ := m.Predict(tinySingles, nil, nil)
	b, _ := again.Predict(tinySingles, nil, nil)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("reloaded predictions differ:\n%v\n%v", a.Logits, b.Logits)
	}
	err = m.Save(filepath.Join(out, "config.json", "x"))
	wantStatus(t, err, StatusIO, "save under a file")
}

func TestModelTokenizerIsBorrowed(t *testing.T) {
	m, err := LoadModel(tinyDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := m.Tokenizer()
	if tok.VocabSize() != 315 {
		t.Errorf("VocabSize = %d", tok.VocabSize())
	}
	enc, err := tok.Encode("I really enjoyed the concert", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Close() // the tokenizer keeps the C model alive
	m = nil
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	again, err := tok.Encode("I really enjoyed the concert", nil, nil)
	if err != nil || !reflect.DeepEqual(again.IDs, enc.IDs) {
		t.Errorf("after the model's Close: %v %v", err, again)
	}
	runtime.KeepAlive(tok)
	tok = nil
	for i := 0; i < 3; i++ { // the model is freed now, once
		runtime.GC()
	}
	// Many borrowed tokenizers, dropped without Close.
	m2 := loadTiny(t, nil)
	for i := 0; i < 10; i++ {
		if m2.Tokenizer().VocabSize() != 315 {
			t.Fatal("VocabSize")
		}
	}
	runtime.GC()
	if _, err := m2.Predict([]string{"still fine"}, nil, nil); err != nil {
		t.Error(err)
	}
}

func TestModelSetThreads(t *testing.T) {
	m := loadTiny(t, nil)
	a, _ := m.Predict(tinySingles, nil, nil)
	if err := m.SetThreads(1); err != nil {
		t.Fatal(err)
	}
	b, _ := m.Predict(tinySingles, nil, nil)
	if d := maxDiff(flatten(a.Logits), flatten(b.Logits)); d > 1e-5 {
		t.Errorf("1 thread changed logits by %g", d)
	}
	wantStatus(t, m.SetThreads(-2), StatusInvalidArgument, "negative threads")
}

func TestModelConcurrentUse(t *testing.T) {
	m := loadTiny(t, nil)
	want, err := m.Predict(tinySingles, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				got, err := m.Predict(tinySingles, nil, nil)
				if err != nil || maxDiff(flatten(got.Logits), flatten(want.Logits)) > 1e-5 {
					errs <- "goroutine " + string(rune('0'+g)) + ": other result"
					return
				}
				if g%2 == 0 {
					m.Embed(tinySingles[:1], nil)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestModelEvaluate(t *testing.T) {
	m := loadTiny(t, nil)
	texts, labels := trainTexts()
	ds, err := DatasetFromTexts(texts, nil, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	r, err := m.Evaluate(ds, &InferOptions{BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.NExamples != len(texts) || !reflect.DeepEqual(r.Labels, tinyLabels) {
		t.Errorf("NExamples %d, Labels %q", r.NExamples, r.Labels)
	}
	p, _ := m.Predict(texts, nil, nil)
	hits, nll := 0, 0.0
	for i := range texts {
		y := sort.SearchStrings(tinyLabels, labels[i])
		if p.Labels[i] == labels[i] {
			hits++
		}
		nll -= math.Log(float64(p.Probs[i][y]))
	}
	if !near(r.Accuracy, float64(hits)/float64(len(texts)), 1e-12) {
		t.Errorf("Accuracy %v, want %v", r.Accuracy, float64(hits)/float64(len(texts)))
	}
	if !near(r.Loss, nll/float64(len(texts)), 1e-4) || !near(r.LogLoss, r.Loss, 1e-4) {
		t.Errorf("Loss %v, LogLoss %v, want %v", r.Loss, r.LogLoss, nll/float64(len(texts)))
	}
	other, _ := DatasetFromTexts([]string{"a"}, nil, []string{"other"}, nil)
	defer other.Close()
	_, err = m.Evaluate(other, nil)
	if e := wantStatus(t, err, StatusInvalidArgument, "unknown label"); !strings.Contains(e.Message, "other") {
		t.Errorf("message %q", e.Message)
	}
	other.Close()
	_, err = m.Evaluate(other, nil)
	wantStatus(t, err, StatusInvalidArgument, "closed dataset")
}

// Closing the tokenizer a model lends only detaches it: the model goes on
// working (its tokenizer was not freed under it).
func TestModelTokenizerCloseDetaches(t *testing.T) {
	m := loadTiny(t, &ModelOptions{Threads: 1})
	tok := m.Tokenizer()
	if tok == nil {
		t.Fatal("Tokenizer() = nil")
	}
	if _, err := tok.Encode("the old boat", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Encode("the old boat", nil, nil); err == nil {
		t.Error("Encode on a closed tokenizer should fail")
	}
	if _, err := m.Predict([]string{"the old boat"}, nil, nil); err != nil {
		t.Fatalf("the model broke after its lent tokenizer was closed: %v", err)
	}
	if tok2 := m.Tokenizer(); tok2 == nil {
		t.Error("a second Tokenizer() = nil")
	} else if _, err := tok2.Encode("blue boat", nil, nil); err != nil {
		t.Error(err)
	}
}

// bfloat16 inference stays close to float32 and can be switched back.
func TestModelPrecision(t *testing.T) {
	m := loadTiny(t, &ModelOptions{Threads: 1})
	texts := []string{"the old lighthouse keeper painted his boat blue", "this soup was far too salty"}
	ref, err := m.Predict(texts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetPrecision(PrecisionBF16); err != nil {
		t.Fatal(err)
	}
	if info, _ := m.Info(); info.Precision != PrecisionBF16 || info.Precision.String() != "bf16" {
		t.Errorf("Info().Precision = %v", info.Precision)
	}
	low, err := m.Predict(texts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref.Logits {
		for j := range ref.Logits[i] {
			if d := math.Abs(float64(ref.Logits[i][j] - low.Logits[i][j])); d > 2e-2 {
				t.Errorf("bf16 logit [%d][%d] off by %g", i, j, d)
			}
		}
	}
	if err := m.SetPrecision(Precision(9)); err == nil {
		t.Error("SetPrecision(9) should fail")
	}
	if err := m.SetPrecision(PrecisionFP32); err != nil {
		t.Fatal(err)
	}
	again, _ := m.Predict(texts, nil, nil)
	if !reflect.DeepEqual(again.Logits, ref.Logits) {
		t.Error("float32 after bfloat16 differs from the first float32 run")
	}
	m2, err := LoadModel(tinyDir, &ModelOptions{Precision: PrecisionBF16})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if info, _ := m2.Info(); info.Precision != PrecisionBF16 {
		t.Errorf("LoadModel with PrecisionBF16: Info().Precision = %v", info.Precision)
	}
}
