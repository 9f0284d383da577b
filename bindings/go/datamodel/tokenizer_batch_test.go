package datamodel

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const tinyVocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n.\n,\n"

func loadTinyVocab(t *testing.T) *Tokenizer {
	t.Helper()
	tok, err := LoadVocab([]byte(tinyVocab), nil)
	if err != nil {
		t.Fatalf("LoadVocab: %v", err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

// The flat batch holds exactly the per-text encodings, end to end, on any
// thread count, and EncodeBatch's encodings are its rows.
func TestEncodeBatchFlatEqualsSingle(t *testing.T) {
	tok := loadMiniLM(t)
	var texts []string
	for i := 0; i < 40; i++ {
		for _, s := range hfSingles {
			texts = append(texts, s.text)
		}
		texts = append(texts, "", "hello[SEP]world", "他说：“你好！”")
	}
	for _, threads := range []int{1, 3} {
		f, err := tok.EncodeBatchFlat(texts, nil, &EncodeOptions{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		if f.Len() != len(texts) || f.RowOffsets[0] != 0 || f.RowOffsets[f.Len()] != len(f.IDs) ||
			len(f.Offsets) != 2*len(f.IDs) {
			t.Fatalf("threads %d: %d rows, offsets %v..%v for %d ids", threads, f.Len(), f.RowOffsets[0],
				f.RowOffsets[f.Len()], len(f.IDs))
		}
		longest := 0
		for i, text := range texts {
			one, err := tok.Encode(text, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Encoding(i), one) {
				t.Fatalf("threads %d text %d: flat %+v != single %+v", threads, i, f.Encoding(i), one)
			}
			if one.Len() > longest {
				longest = one.Len()
			}
		}
		if f.Longest != longest {
			t.Errorf("Longest %d, want %d", f.Longest, longest)
		}
	}
}

func TestEncodeBatchFlatPaddingAndErrors(t *testing.T) {
	tok := loadTinyVocab(t)
	f, err := tok.EncodeBatchFlat([]string{"hello", "hello worlds.", ""}, nil,
		&EncodeOptions{Padding: PadToLongest, PadToMultipleOf: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Padded rows: a 3 x 8 matrix.
	if f.Longest != 8 || len(f.IDs) != 24 || !reflect.DeepEqual(f.RowOffsets, []int{0, 8, 16, 24}) {
		t.Fatalf("padded batch: longest %d, %d ids, rows %v", f.Longest, len(f.IDs), f.RowOffsets)
	}
	if !reflect.DeepEqual(f.IDs[:8], []int32{2, 5, 3, 0, 0, 0, 0, 0}) ||
		!reflect.DeepEqual(f.AttentionMask[16:24], []uint8{1, 1, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("padded rows: %v / %v", f.IDs[:8], f.AttentionMask[16:24])
	}
	if e := f.Encoding(1); !reflect.DeepEqual(e.Tokens[:6], []string{"[CLS]", "hello", "world", "##s", ".", "[SEP]"}) ||
		e.Offsets[3] != [2]int{11, 12} {
		t.Errorf("row 1: %+v", e)
	}
	empty, err := tok.EncodeBatchFlat(nil, nil, nil)
	if err != nil || empty.Len() != 0 || len(empty.IDs) != 0 {
		t.Errorf("empty batch: %+v, %v", empty, err)
	}
	_, err = tok.EncodeBatchFlat([]string{"fine", "bad \xff"}, nil, nil)
	if e := wantStatus(t, err, StatusUTF8, "bad UTF-8"); e != nil && !strings.Contains(e.Message, "text 1") {
		t.Errorf("message %q does not name text 1", e.Message)
	}
	_, err = tok.EncodeBatchFlat([]string{"a"}, []string{"b", "c"}, nil)
	wantStatus(t, err, StatusInvalidArgument, "pairs of another length")
}

// One meaning everywhere: a callback returning true cancels, false goes on.
func TestCallbackTrueCancelsFalseGoesOn(t *testing.T) {
	tok := loadTinyVocab(t)
	texts := make([]string, 1000)
	for i := range texts {
		texts[i] = "hello world"
	}
	calls := 0
	goOn := func(done, total uint64) bool { calls++; return false }
	if _, err := tok.EncodeBatch(texts, nil, &EncodeOptions{Threads: 2, Progress: goOn}); err != nil || calls == 0 {
		t.Errorf("EncodeBatch with a callback returning false: %v after %d calls", err, calls)
	}
	if _, err := tok.EncodeBatchFlat(texts, nil, &EncodeOptions{Progress: goOn}); err != nil {
		t.Errorf("EncodeBatchFlat with a callback returning false: %v", err)
	}
	calls = 0
	cancel := func(done, total uint64) bool { calls++; return true }
	_, err := tok.EncodeBatch(texts, nil, &EncodeOptions{Threads: 1, Progress: cancel})
	wantStatus(t, err, StatusCancelled, "EncodeBatch with a callback returning true")
	if calls != 1 {
		t.Errorf("cancelled after %d calls, want 1", calls)
	}
	_, err = tok.EncodeBatchFlat(texts, nil, &EncodeOptions{Progress: cancel})
	wantStatus(t, err, StatusCancelled, "EncodeBatchFlat with a callback returning true")

	corpus := writeCorpus(t, "corpus.txt", "hello world again\nworlds of hello\n")
	trained, err := TrainTokenizer([]string{corpus}, &TrainOptions{VocabSize: 60, MinFrequency: 1, Progress: goOn})
	if err != nil {
		t.Errorf("TrainTokenizer with a callback returning false: %v", err)
	}
	trained.Close()
	_, err = TrainTokenizer([]string{corpus}, &TrainOptions{VocabSize: 60, MinFrequency: 1, Progress: cancel})
	wantStatus(t, err, StatusCancelled, "TrainTokenizer with a callback returning true")
}

func writeCorpus(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Options that travel as C ints are refused when cgo would wrap them into a
// valid value (1<<32 + 1 is 1: longest_first, CSV, ...).
func TestOptionsDoNotWrap(t *testing.T) {
	if math.MaxInt == math.MaxInt32 {
		t.Skip("int is 32 bits: nothing to wrap")
	}
	tok := loadTinyVocab(t)
	wrap := 1<<32 + 1
	_, err := tok.Encode("hello", nil, &EncodeOptions{Truncation: Truncation(wrap), MaxLength: 3})
	wantStatus(t, err, StatusInvalidArgument, "Truncation 1<<32 + 1")
	_, err = tok.EncodeBatch([]string{"hello"}, nil, &EncodeOptions{Padding: Padding(wrap)})
	wantStatus(t, err, StatusInvalidArgument, "Padding 1<<32 + 1")
	_, err = tok.EncodeBatch([]string{"hello"}, nil, &EncodeOptions{Threads: wrap})
	wantStatus(t, err, StatusInvalidArgument, "Threads 1<<32 + 1")
	if s, ok := tok.IDToToken(wrap + 4); ok || s != "" { // 1<<32 + 5 is not id 5
		t.Errorf("IDToToken(1<<32 + 5) = %q, %v", s, ok)
	}
	_, err = NewPii(&PiiOptions{Threads: wrap})
	wantStatus(t, err, StatusInvalidArgument, "PiiOptions.Threads 1<<32 + 1")
	_, err = LoadDataset(writeCorpus(t, "data.csv", "text,label\na,x\n"), &DatasetOptions{Format: Format(wrap)})
	wantStatus(t, err, StatusInvalidArgument, "DatasetOptions.Format 1<<32 + 1")
	_, err = LoadModel(tinyDir, &ModelOptions{Device: Device(wrap)})
	wantStatus(t, err, StatusInvalidArgument, "ModelOptions.Device 1<<32 + 1")
	m := loadTiny(t, nil)
	_, err = m.Predict([]string{"a"}, nil, &InferOptions{Pooling: Pooling(wrap)})
	wantStatus(t, err, StatusInvalidArgument, "InferOptions.Pooling 1<<32 + 1")
}
