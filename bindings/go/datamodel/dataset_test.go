package datamodel

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadDataset(t *testing.T, path string, opts *DatasetOptions) *Dataset {
	t.Helper()
	ds, err := LoadDataset(path, opts)
	if err != nil {
		t.Fatalf("LoadDataset(%s): %v", filepath.Base(path), err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

// wantStatus checks that err is an *Error of the given status.
func wantStatus(t *testing.T, err error, status int, what string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: got %v (%T), want an *Error %s", what, err, err, StatusName(status))
	}
	if e.Status != status || e.Name != StatusName(status) {
		t.Fatalf("%s: got %s (%s), want %s", what, e.Name, e.Message, StatusName(status))
	}
	if e.Message == "" {
		t.Errorf("%s: empty message", what)
	}
	return e
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

func TestDatasetCSV(t *testing.T) {
	ds := loadDataset(t, writeFile(t, "d.csv",
		"id,text,label,extra\n"+
			"a1,\"Hello, world\",pos,x\n"+
			"a2,\"multi\nline \"\"quoted\"\"\",neg,y\n"+
			"a3,no label here,,z\n"+
			"a4,  spaced  , pos ,w\n"), nil)
	if ds.Len() != 4 || ds.Skipped() != 0 {
		t.Fatalf("Len %d, Skipped %d", ds.Len(), ds.Skipped())
	}
	if got := ds.Labels(); !reflect.DeepEqual(got, []string{"neg", "pos"}) {
		t.Errorf("Labels = %q", got)
	}
	if ds.NumLabels() != 2 {
		t.Errorf("NumLabels = %d", ds.NumLabels())
	}
	texts := []string{"Hello, world", "multi\nline \"quoted\"", "no label here", "  spaced  "}
	labels := []int{1, 0, -1, 1}
	ids := []string{"a1", "a2", "a3", "a4"}
	for i := 0; i < 4; i++ {
		if got := ds.Text(i); got != texts[i] {
			t.Errorf("Text(%d) = %q, want %q", i, got, texts[i])
		}
		if got := ds.Label(i); got != labels[i] {
			t.Errorf("Label(%d) = %d, want %d", i, got, labels[i])
		}
		name, ok := ds.LabelName(i)
		if ok != (labels[i] >= 0) || (ok && name != ds.Labels()[labels[i]]) {
			t.Errorf("LabelName(%d) = %q, %v", i, name, ok)
		}
		if got := ds.ID(i); got != ids[i] {
			t.Errorf("ID(%d) = %q, want %q", i, got, ids[i])
		}
		if _, ok := ds.Pair(i); ok {
			t.Errorf("Pair(%d): no pair column expected", i)
		}
	}
	mustPanic(t, "Text(4)", func() { ds.Text(4) })
	mustPanic(t, "Label(-1)", func() { ds.Label(-1) })
}

func TestDatasetNumericLabels(t *testing.T) {
	ds := loadDataset(t, writeFile(t, "d.csv", "text,label\na,10\nb,2\nc,-1\nd,2\n"), nil)
	if got := ds.Labels(); !reflect.DeepEqual(got, []string{"-1", "2", "10"}) {
		t.Errorf("Labels = %q, want numeric order", got)
	}
	for i, want := range []int{2, 1, 0, 1} {
		if got := ds.Label(i); got != want {
			t.Errorf("Label(%d) = %d, want %d", i, got, want)
		}
	}
}

func TestDatasetJSONLColumnsAndPairs(t *testing.T) {
	ds := loadDataset(t, writeFile(t, "d.jsonl",
		`{"uid": 7, "q": "Is it good?", "a": "Yes.", "y": "yes"}`+"\n"+
			`{"uid": 8, "q": "Is it bad?", "a": "No.", "y": "no", "more": true}`+"\n"),
		&DatasetOptions{TextColumn: "q", PairColumn: "a", LabelColumn: "y", IDColumn: "uid"})
	if ds.Len() != 2 {
		t.Fatalf("Len = %d", ds.Len())
	}
	if p, ok := ds.Pair(0); !ok || p != "Yes." {
		t.Errorf("Pair(0) = %q, %v", p, ok)
	}
	if ds.Text(1) != "Is it bad?" || ds.ID(0) != "7" {
		t.Errorf("Text(1) = %q, ID(0) = %q", ds.Text(1), ds.ID(0))
	}
	if name, _ := ds.LabelName(0); name != "yes" {
		t.Errorf("LabelName(0) = %q", name)
	}
}

func TestDatasetTSVNoLabelsNoIDs(t *testing.T) {
	path := writeFile(t, "d.txt", "sentence\tlabel\tid\nfirst\tA\tx\nsecond\tB\ty\n")
	_, err := LoadDataset(path, nil)
	wantStatus(t, err, StatusInvalidArgument, "no extension")
	ds := loadDataset(t, path, &DatasetOptions{Format: FormatTSV, NoLabels: true, NoIDColumn: true})
	if ds.Text(0) != "first" || ds.Text(1) != "second" {
		t.Errorf("texts %q %q", ds.Text(0), ds.Text(1))
	}
	if ds.NumLabels() != 0 || len(ds.Labels()) != 0 || ds.Label(0) != -1 {
		t.Errorf("labels: %q, Label(0) = %d", ds.Labels(), ds.Label(0))
	}
	if _, ok := ds.LabelName(0); ok {
		t.Error("LabelName(0): no label expected")
	}
	if ds.ID(1) != "2" {
		t.Errorf("ID(1) = %q, want the row number", ds.ID(1))
	}
	with := loadDataset(t, path, &DatasetOptions{Format: FormatTSV})
	if with.ID(1) != "y" || with.NumLabels() != 2 {
		t.Errorf("defaults: ID(1) = %q, %d labels", with.ID(1), with.NumLabels())
	}
	_, err = LoadDataset(path, &DatasetOptions{Format: FormatTSV, LabelColumn: "label", NoLabels: true})
	wantStatus(t, err, StatusInvalidArgument, "LabelColumn with NoLabels")
}

func TestDatasetFixedLabelsAndRequire(t *testing.T) {
	path := writeFile(t, "d.csv", "text,label\na,pos\nb,neutral\nc,\n")
	ds := loadDataset(t, path, &DatasetOptions{Labels: []string{"pos", "neutral", "neg"}})
	if got := ds.Labels(); !reflect.DeepEqual(got, []string{"pos", "neutral", "neg"}) {
		t.Errorf("Labels = %q", got)
	}
	if ds.Label(0) != 0 || ds.Label(1) != 1 || ds.Label(2) != -1 {
		t.Errorf("labels %d %d %d", ds.Label(0), ds.Label(1), ds.Label(2))
	}
	_, err := LoadDataset(path, &DatasetOptions{Labels: []string{"pos", "neg"}})
	if e := wantStatus(t, err, StatusInvalidArgument, "label outside the set"); !strings.Contains(e.Message, "neutral") {
		t.Errorf("message %q does not name the label", e.Message)
	}
	_, err = LoadDataset(path, &DatasetOptions{RequireLabels: true})
	wantStatus(t, err, StatusInvalidArgument, "RequireLabels")
	_, err = LoadDataset(path, &DatasetOptions{Labels: []string{"a\x00b"}})
	wantStatus(t, err, StatusInvalidArgument, "NUL in a label")
}

func TestDatasetBadRows(t *testing.T) {
	path := writeFile(t, "d.csv", "text,label\na,x\nb,y,extra\nc,z\n")
	_, err := LoadDataset(path, nil)
	wantStatus(t, err, StatusParse, "wrong field count")
	ds := loadDataset(t, path, &DatasetOptions{BadRows: BadRowsSkip})
	if ds.Len() != 2 || ds.Skipped() != 1 || ds.Text(1) != "c" {
		t.Errorf("Len %d, Skipped %d, Text(1) %q", ds.Len(), ds.Skipped(), ds.Text(1))
	}
}

func TestDatasetInvalidUTF8(t *testing.T) {
	path := writeFile(t, "d.csv", "text,label\nab\xffcd,x\n")
	_, err := LoadDataset(path, nil)
	wantStatus(t, err, StatusUTF8, "invalid UTF-8")
	ds := loadDataset(t, path, &DatasetOptions{InvalidUTF8: UTF8Replace})
	if ds.Len() != 1 || !strings.HasPrefix(ds.Text(0), "ab") {
		t.Errorf("Len %d, Text(0) %q", ds.Len(), ds.Text(0))
	}
}

func TestDatasetLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		path   string
		opts   *DatasetOptions
		status int
	}{
		{filepath.Join(dir, "missing.csv"), nil, StatusIO},
		{write("a.csv", "text,label\nx,y\n"), &DatasetOptions{TextColumn: "body"}, StatusNotFound},
		{write("b.csv", "text,label\n\"unterminated,y\n"), nil, StatusParse},
		{write("c.jsonl", `{"text": "a", "label": "b"`+"\n"), nil, StatusParse},
		{write("d.csv", ""), nil, StatusRange},
		{write("e.csv", "text\nx\n"), &DatasetOptions{Format: 9}, StatusInvalidArgument},
		{"bad\x00path.csv", nil, StatusInvalidArgument},
	} {
		ds, err := LoadDataset(c.path, c.opts)
		if ds != nil {
			t.Errorf("%s: got a dataset with the error", c.path)
		}
		wantStatus(t, err, c.status, filepath.Base(c.path))
	}
}

func TestDatasetFromTexts(t *testing.T) {
	ds, err := DatasetFromTexts([]string{"one", "two", "three"}, []string{"x", "y", "z"}, []string{"b", "", "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if ds.Len() != 3 || !reflect.DeepEqual(ds.Labels(), []string{"1", "b"}) {
		t.Fatalf("Len %d, Labels %q", ds.Len(), ds.Labels())
	}
	if ds.Label(1) != -1 || ds.Label(2) != 0 || ds.ID(2) != "3" {
		t.Errorf("Label(1) %d, Label(2) %d, ID(2) %q", ds.Label(1), ds.Label(2), ds.ID(2))
	}
	if p, ok := ds.Pair(2); !ok || p != "z" {
		t.Errorf("Pair(2) = %q, %v", p, ok)
	}
	plain, err := DatasetFromTexts([]string{"a", "b\x00c"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.Pair(0); ok || plain.NumLabels() != 0 || plain.Text(1) != "b\x00c" {
		t.Errorf("plain: pair %v, %d labels, Text(1) %q", ok, plain.NumLabels(), plain.Text(1))
	}
	plain.Close()
	fixed, err := DatasetFromTexts([]string{"a", "b"}, nil, []string{"neg", "pos"},
		&DatasetOptions{Labels: []string{"pos", "neg"}})
	if err != nil {
		t.Fatal(err)
	}
	if fixed.Label(0) != 1 {
		t.Errorf("fixed.Label(0) = %d", fixed.Label(0))
	}
	fixed.Close()
	_, err = DatasetFromTexts([]string{"a"}, nil, []string{"other"}, &DatasetOptions{Labels: []string{"pos"}})
	wantStatus(t, err, StatusInvalidArgument, "label outside the set")
	_, err = DatasetFromTexts([]string{"a", "b"}, nil, []string{"x", ""}, &DatasetOptions{RequireLabels: true})
	wantStatus(t, err, StatusInvalidArgument, "RequireLabels")
	_, err = DatasetFromTexts([]string{"ok", "bad\xff"}, nil, nil, nil)
	if e := wantStatus(t, err, StatusUTF8, "invalid UTF-8"); !strings.Contains(e.Message, "[1]") {
		t.Errorf("message %q does not name the index", e.Message)
	}
	_, err = DatasetFromTexts([]string{"a", "b"}, nil, []string{"x"}, nil)
	wantStatus(t, err, StatusInvalidArgument, "label count")
	_, err = DatasetFromTexts([]string{"a", "b"}, []string{"x"}, nil, nil)
	wantStatus(t, err, StatusInvalidArgument, "pair count")
}

func TestDatasetClose(t *testing.T) {
	ds, err := DatasetFromTexts([]string{"a"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 0 || ds.NumLabels() != 0 || ds.Skipped() != 0 {
		t.Error("a closed dataset should look empty")
	}
	mustPanic(t, "Text after Close", func() { ds.Text(0) })
	var nilDS *Dataset
	if nilDS.Close() != nil || nilDS.Len() != 0 {
		t.Error("nil dataset")
	}
}
