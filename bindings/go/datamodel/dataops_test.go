package datamodel

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// An operation the library does not provide yet fails with
// StatusUnsupported and "not implemented yet": only then is a test skipped
// (checked at run time, so the skips go away by themselves).
func skipNotImplemented(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if errors.As(err, &e) && strings.Contains(e.Message, "not implemented yet") {
		t.Skip(e.Message)
	}
}

// must fails the test on err (after the not-implemented skip).
func must(t *testing.T, err error, what string) {
	t.Helper()
	skipNotImplemented(t, err)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantOpError checks err is an *Error of status whose message holds every word.
func wantOpError(t *testing.T, err error, status int, what string, words ...string) {
	t.Helper()
	skipNotImplemented(t, err)
	e := wantStatus(t, err, status, what)
	for _, w := range words {
		if !strings.Contains(e.Message, w) {
			t.Errorf("%s: message %q lacks %q", what, e.Message, w)
		}
	}
}

func fromTexts(t *testing.T, texts, labels []string) *Dataset {
	t.Helper()
	ds, err := DatasetFromTexts(texts, nil, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

func textsOf(d *Dataset) []string {
	out := make([]string, d.Len())
	for i := range out {
		out[i] = d.Text(i)
	}
	return out
}

func idsOf(d *Dataset) []string {
	out := make([]string, d.Len())
	for i := range out {
		out[i] = d.ID(i)
	}
	return out
}

func labelsOf(d *Dataset) []string {
	out := make([]string, d.Len())
	for i := range out {
		out[i], _ = d.LabelName(i)
	}
	return out
}

// num reads a JSON number of a report.
func num(t *testing.T, r OpReport, keys ...string) float64 {
	t.Helper()
	var v any = map[string]any(r)
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("report: %v is not an object at %q", v, k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("report lacks %q (path %q): %v", k, keys, r)
		}
	}
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("report %q is %T %v, not a number", keys, v, v)
	}
	return f
}

func counts(t *testing.T, v any) map[string]int {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v is not an object", v)
	}
	out := map[string]int{}
	for k, x := range m {
		out[k] = int(x.(float64))
	}
	return out
}

// ---------------------------------------------------------------- defaults

func TestDefaultOptionsMirrorC(t *testing.T) {
	ds := fromTexts(t, []string{"a b c", "d e f"}, []string{"x", "y"})
	_, _, err := ds.Dedup(DefaultDedupOptions())
	skipNotImplemented(t, err)
	d := DefaultDedupOptions()
	if d.ExactOnly || !d.Normalize || d.NGram != 5 || d.Threshold != 0.8 || d.NumPerm != 128 || d.Bands != 0 ||
		d.RowsPerBand != 0 || !d.Verify || d.Seed != 1 || d.Threads != 0 || d.ReportPairs {
		t.Errorf("DefaultDedupOptions = %+v", d)
	}
	_, _, err = ds.Clean(DefaultCleanOptions())
	skipNotImplemented(t, err)
	c := DefaultCleanOptions()
	if !c.NFKC || !c.StripControl || !c.StripHTML || !c.CollapseWhitespace || !c.Trim || c.MinChars != 1 ||
		c.MaxChars != 0 || c.MinTokens != 0 || c.MaxTokens != 0 || !c.DropMissingLabels || c.AllowedLabels != nil {
		t.Errorf("DefaultCleanOptions = %+v", c)
	}
	_, _, err = ds.Split(DefaultSplitOptions())
	skipNotImplemented(t, err)
	s := DefaultSplitOptions()
	if s.Train != 0.8 || s.Val != 0.1 || s.Test != 0.1 || s.Folds != 0 || s.Stratify || s.GroupBy != GroupNone ||
		s.Seed != 42 {
		t.Errorf("DefaultSplitOptions = %+v", s)
	}
	r := DefaultResampleOptions()
	if r.Strategy != ResampleOver || r.Target != nil || r.Seed != 42 {
		t.Errorf("DefaultResampleOptions = %+v", r)
	}
	a := DefaultAugmentOptions()
	if a.Ops != AugmentEDA || a.N != 4 || a.AlphaSR != 0.1 || a.AlphaRI != 0.1 || a.AlphaRS != 0.1 ||
		a.AlphaRD != 0.1 || a.CharRate != 0.05 || !a.KeepOriginal || a.Seed != 42 {
		t.Errorf("DefaultAugmentOptions = %+v", a)
	}
	if p := DefaultProfileOptions(); !p.NearDuplicates || p.Tokenizer != nil || p.Title != "" {
		t.Errorf("DefaultProfileOptions = %+v", p)
	}
}

func TestZeroOptionsRefused(t *testing.T) {
	ds := fromTexts(t, []string{"a"}, nil)
	_, _, err := ds.Clean(CleanOptions{MinChars: 3})
	wantOpError(t, err, StatusInvalidArgument, "Clean zero options", "DefaultCleanOptions")
	_, _, err = ds.Dedup(DedupOptions{})
	wantOpError(t, err, StatusInvalidArgument, "Dedup zero options", "DefaultDedupOptions")
	_, _, err = ds.Split(SplitOptions{})
	wantOpError(t, err, StatusInvalidArgument, "Split zero options", "DefaultSplitOptions")
	_, _, err = ds.Resample(ResampleOptions{})
	wantOpError(t, err, StatusInvalidArgument, "Resample zero options", "DefaultResampleOptions")
	_, _, err = ds.Augment(AugmentOptions{})
	wantOpError(t, err, StatusInvalidArgument, "Augment zero options", "DefaultAugmentOptions")
	_, err = ds.Profile(ProfileOptions{})
	wantOpError(t, err, StatusInvalidArgument, "Profile zero options", "DefaultProfileOptions")
}

// ---------------------------------------------------------------- dataset functions

func TestLabelIDGroupSkippedRows(t *testing.T) {
	path := writeFile(t, "g.csv", "text,label,annotator\nhello,pos,ann1\nbye,neg,ann2\nhi,pos,\n")
	ds := loadDataset(t, path, &DatasetOptions{GroupColumn: "annotator"})
	if ds.LabelID("pos") != 1 || ds.LabelID("neg") != 0 || ds.LabelID("nope") != -1 {
		t.Errorf("LabelID: pos %d neg %d nope %d", ds.LabelID("pos"), ds.LabelID("neg"), ds.LabelID("nope"))
	}
	for i, want := range []string{"ann1", "ann2", ""} {
		if g, ok := ds.Group(i); !ok || g != want {
			t.Errorf("Group(%d) = %q, %v", i, g, ok)
		}
	}
	plain := loadDataset(t, path, nil)
	if _, ok := plain.Group(0); ok {
		t.Error("Group without a group column")
	}
	_, err := LoadDataset(path, &DatasetOptions{GroupColumn: "missing"})
	wantOpError(t, err, StatusNotFound, "missing group column", "missing")

	bad := writeFile(t, "s.csv", "text,label\nfine,pos\n\xff bad,neg\ntoo,many,fields\nok,neg\n")
	_, err = LoadDataset(bad, nil)
	wantOpError(t, err, StatusUTF8, "invalid UTF-8")
	ds = loadDataset(t, bad, &DatasetOptions{InvalidUTF8: UTF8SkipRow, BadRows: BadRowsSkip})
	if got := textsOf(ds); !reflect.DeepEqual(got, []string{"fine", "ok"}) {
		t.Errorf("texts %q", got)
	}
	rows, err := ds.SkippedRows()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Line != 3 || rows[1].Line != 4 || !strings.Contains(rows[0].Reason, "UTF-8") ||
		!strings.Contains(rows[1].Reason, "fields") {
		t.Errorf("SkippedRows = %+v", rows)
	}
}

// ---------------------------------------------------------------- write and select

func TestWriteLoadRoundTrip(t *testing.T) {
	src := writeFile(t, "in.csv", "text,label,extra\n\"Hello, \"\"world\"\"\",pos,x\nsecond,neg,\nthird,,z\n")
	ds := loadDataset(t, src, nil)
	for _, f := range []struct {
		ext    string
		format Format
	}{{"csv", FormatCSV}, {"tsv", FormatTSV}, {"jsonl", FormatJSONL}} {
		for _, path := range []string{filepath.Join(t.TempDir(), "out."+f.ext), filepath.Join(t.TempDir(), "out.data")} {
			format := FormatAuto
			if strings.HasSuffix(path, ".data") {
				format = f.format
			}
			if err := ds.Write(path, format); err != nil {
				t.Fatalf("Write %s: %v", f.ext, err)
			}
			back := loadDataset(t, path, &DatasetOptions{Format: format})
			if !reflect.DeepEqual(textsOf(back), textsOf(ds)) || !reflect.DeepEqual(idsOf(back), idsOf(ds)) ||
				!reflect.DeepEqual(labelsOf(back), labelsOf(ds)) || !reflect.DeepEqual(back.Labels(), ds.Labels()) {
				t.Errorf("%s: round trip %q %q %q", path, textsOf(back), idsOf(back), labelsOf(back))
			}
		}
	}
	tab := fromTexts(t, []string{"a\tb"}, nil)
	wantOpError(t, tab.Write(filepath.Join(t.TempDir(), "x.tsv"), FormatAuto), StatusInvalidArgument, "TSV tab")
	wantOpError(t, tab.Write(filepath.Join(t.TempDir(), "x.unknown"), FormatAuto), StatusInvalidArgument,
		"unknown extension", "format")
	wantOpError(t, tab.Write(filepath.Join(t.TempDir(), "no", "dir.csv"), FormatAuto), StatusIO, "bad dir", "dir.csv")
	wantOpError(t, tab.Write(filepath.Join(t.TempDir(), "x.csv"), Format(9)), StatusInvalidArgument, "bad format")
}

func TestSelect(t *testing.T) {
	ds := fromTexts(t, []string{"a", "b", "c"}, []string{"x", "y", "x"})
	sub, err := ds.Select([]int{2, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if !reflect.DeepEqual(textsOf(sub), []string{"c", "a", "a"}) || !reflect.DeepEqual(idsOf(sub), []string{"3", "1", "1"}) ||
		!reflect.DeepEqual(sub.Labels(), ds.Labels()) {
		t.Errorf("Select: %q %q %q", textsOf(sub), idsOf(sub), sub.Labels())
	}
	empty, err := ds.Select(nil)
	if err != nil || empty.Len() != 0 {
		t.Fatalf("Select(nil): %v", err)
	}
	empty.Close()
	_, err = ds.Select([]int{3})
	wantOpError(t, err, StatusRange, "Select out of range", "3")
	_, err = ds.Select([]int{-1})
	wantOpError(t, err, StatusRange, "Select negative")
	ds.Close()
	_, err = ds.Select([]int{0})
	wantOpError(t, err, StatusInvalidArgument, "Select closed", "closed")
}

// ---------------------------------------------------------------- clean

func TestClean(t *testing.T) {
	dirty := []string{"  <b>Hello</b>   world&amp;co  ", "ok", "", "\ufb01ne text", "no label", "bad label", "  x  "}
	ds := fromTexts(t, dirty, []string{"pos", "neg", "pos", "neg", "", "meh", "pos"})
	o := DefaultCleanOptions()
	o.AllowedLabels = []string{"pos", "neg"}
	o.MinChars = 2
	out, rep, err := ds.Clean(o)
	must(t, err, "Clean")
	defer out.Close()
	if !reflect.DeepEqual(textsOf(out), []string{"Hello world&co", "ok", "fine text"}) ||
		!reflect.DeepEqual(idsOf(out), []string{"1", "2", "4"}) {
		t.Errorf("Clean: %q %q", textsOf(out), idsOf(out))
	}
	if num(t, rep, "rows_in") != 7 || num(t, rep, "rows_out") != 3 || num(t, rep, "dropped", "missing_label") != 1 ||
		num(t, rep, "dropped", "unknown_label") != 1 || num(t, rep, "changed", "nfkc") != 1 {
		t.Errorf("report %v", rep)
	}
	if rows, ok := rep["dropped_rows"].([]any); !ok || len(rows) != 4 {
		t.Errorf("dropped_rows %v", rep["dropped_rows"])
	}
	off := DefaultCleanOptions()
	off.NFKC, off.StripControl, off.StripHTML, off.CollapseWhitespace, off.Trim = false, false, false, false, false
	off.MinChars, off.DropMissingLabels = 0, false
	same, _, err := ds.Clean(off)
	must(t, err, "Clean off")
	if !reflect.DeepEqual(textsOf(same), dirty) {
		t.Errorf("Clean with every step off: %q", textsOf(same))
	}
	same.Close()

	bad := DefaultCleanOptions()
	bad.MinTokens = 2
	_, _, err = ds.Clean(bad)
	wantOpError(t, err, StatusInvalidArgument, "MinTokens without a tokenizer", "tokenizer")
	bad = DefaultCleanOptions()
	bad.MinChars = -1
	_, _, err = ds.Clean(bad)
	wantOpError(t, err, StatusInvalidArgument, "negative MinChars", "MinChars")
}

func TestProgressCancelAndPanic(t *testing.T) {
	texts := make([]string, 3000)
	labels := make([]string, 3000)
	for i := range texts {
		texts[i] = fmt.Sprintf("row number %d with some words", i)
		labels[i] = []string{"a", "b"}[i%2]
	}
	ds := fromTexts(t, texts, labels)
	o := DefaultCleanOptions()
	calls := 0
	o.Progress = func(done, total uint64) bool { calls++; return false }
	out, _, err := ds.Clean(o)
	must(t, err, "Clean with progress")
	out.Close()
	if calls == 0 {
		t.Error("progress never called")
	}
	o.Progress = func(done, total uint64) bool { return true }
	_, _, err = ds.Clean(o)
	wantOpError(t, err, StatusCancelled, "cancelled Clean")
	d := DefaultDedupOptions()
	d.Progress = func(done, total uint64) bool { return true }
	_, _, err = ds.Dedup(d)
	wantOpError(t, err, StatusCancelled, "cancelled Dedup")
	o.Progress = func(done, total uint64) bool { panic("from the callback") }
	defer func() {
		if r := recover(); r != "from the callback" {
			t.Errorf("recovered %v", r)
		}
	}()
	ds.Clean(o)
	t.Error("the panic was not raised again")
}

// ---------------------------------------------------------------- dedup, leakage, conflicts

func TestDedup(t *testing.T) {
	ds := fromTexts(t, []string{"the cat sat on the mat", "The  cat sat on the MAT",
		"a completely different sentence about dogs", "the cat sat on the mat!",
		"yet another unrelated line of text here"}, []string{"x", "x", "y", "x", "y"})
	o := DefaultDedupOptions()
	o.ReportPairs = true
	out, rep, err := ds.Dedup(o)
	must(t, err, "Dedup")
	defer out.Close()
	if !reflect.DeepEqual(idsOf(out), []string{"1", "3", "5"}) {
		t.Errorf("Dedup kept %q", idsOf(out))
	}
	if num(t, rep, "rows_out") != 3 || num(t, rep, "exact_duplicates") != 1 || num(t, rep, "near_duplicates") != 1 ||
		num(t, rep, "num_perm") != 128 {
		t.Errorf("report %v", rep)
	}
	if cl, ok := rep["clusters"].([]any); !ok || len(cl) != 1 {
		t.Errorf("clusters %v", rep["clusters"])
	}
	o = DefaultDedupOptions()
	o.ExactOnly = true
	exact, _, err := ds.Dedup(o)
	must(t, err, "Dedup exact")
	if !reflect.DeepEqual(idsOf(exact), []string{"1", "3", "4", "5"}) {
		t.Errorf("exact Dedup kept %q", idsOf(exact))
	}
	exact.Close()
	o1, o4 := DefaultDedupOptions(), DefaultDedupOptions()
	o1.Threads, o4.Threads, o1.Seed, o4.Seed = 1, 4, 7, 7
	a, ra, err := ds.Dedup(o1)
	must(t, err, "Dedup 1 thread")
	b, rb, err := ds.Dedup(o4)
	must(t, err, "Dedup 4 threads")
	if !reflect.DeepEqual(idsOf(a), idsOf(b)) || !reflect.DeepEqual(ra, rb) {
		t.Error("Dedup depends on the thread count")
	}
	a.Close()
	b.Close()
	o = DefaultDedupOptions()
	o.Threshold = 1.5
	_, _, err = ds.Dedup(o)
	wantOpError(t, err, StatusInvalidArgument, "threshold 1.5", "threshold")
}

func TestLeakage(t *testing.T) {
	ds := fromTexts(t, []string{"alpha beta gamma", "Alpha  beta gamma", "delta epsilon zeta", "eta theta iota",
		"eta theta iota"}, nil)
	o := DefaultDedupOptions()
	o.ExactOnly = true
	n, rep, err := ds.Leakage([]int{0, 1, 2, 2, 2}, 0, o)
	must(t, err, "Leakage")
	if n != 1 || num(t, rep, "exact_pairs") != 1 {
		t.Errorf("Leakage = %d, %v", n, rep)
	}
	byParts, ok := rep["by_parts"].([]any)
	if !ok || len(byParts) != 3 || byParts[0].([]any)[1].(float64) != 1 {
		t.Errorf("by_parts %v", rep["by_parts"])
	}
	if n, _, err = ds.Leakage([]int{0, -1, 1, 0, 1}, 2, o); err != nil || n != 1 {
		t.Errorf("Leakage with a row left out = %d, %v", n, err)
	}
	_, _, err = ds.Leakage([]int{0, 1}, 0, o)
	wantOpError(t, err, StatusInvalidArgument, "short assign", "assign")
	_, _, err = ds.Leakage([]int{0, 1, 5, 0, 0}, 3, o)
	wantOpError(t, err, StatusRange, "part out of range", "assign")
}

func TestDedupLabelConflicts(t *testing.T) {
	ds := fromTexts(t, []string{"the cat sat on the mat", "The cat sat on the MAT", "the cat sat on the mat!",
		"a lone row", "zebra crossing at noon", "Zebra crossing at noon"},
		[]string{"pos", "neg", "pos", "neg", "", "neg"})
	if DefaultDedupOptions().LabelConflicts != ConflictKeep {
		t.Errorf("default LabelConflicts %d", DefaultDedupOptions().LabelConflicts)
	}
	for policy, want := range map[ConflictPolicy][]string{ConflictKeep: {"1", "2", "4", "6"},
		ConflictDropAll: {"4", "6"}, ConflictMajority: {"1", "4", "6"}, ConflictKeepFirst: {"1", "4", "6"}} {
		o := DefaultDedupOptions()
		o.LabelConflicts = policy
		out, rep, err := ds.Dedup(o)
		must(t, err, "Dedup")
		if !reflect.DeepEqual(idsOf(out), want) {
			t.Errorf("policy %d kept %q, want %q", policy, idsOf(out), want)
		}
		out.Close()
		items, _ := rep["conflict_clusters"].([]any)
		if num(t, rep, "conflicts") != 1 || len(items) != 1 {
			t.Fatalf("policy %d: report %v", policy, rep)
		}
		item := items[0].(map[string]any)
		if !reflect.DeepEqual(item["ids"], []any{"1", "2", "3"}) ||
			!reflect.DeepEqual(item["labels"], []any{"pos", "neg", "pos"}) {
			t.Errorf("policy %d: conflict cluster %v", policy, item)
		}
		if num(t, rep, "rows_out") != num(t, rep, "rows_in")-num(t, rep, "exact_duplicates")-
			num(t, rep, "near_duplicates")+num(t, rep, "conflict_rows_kept")-num(t, rep, "conflict_rows_dropped") {
			t.Errorf("policy %d: counts do not add up: %v", policy, rep)
		}
	}
	o := DefaultDedupOptions()
	o.LabelConflicts = ConflictPolicy(7)
	_, _, err := ds.Dedup(o)
	wantOpError(t, err, StatusInvalidArgument, "label_conflicts must be a dm_conflict_policy")
}

func TestConflicts(t *testing.T) {
	ds := fromTexts(t, []string{"good movie", "Good  movie", "good movie", "bad", "fine"},
		[]string{"neg", "pos", "pos", "neg", "pos"})
	out, rep, err := ds.Conflicts(ConflictKeep)
	must(t, err, "Conflicts")
	out.Close()
	if num(t, rep, "conflicts") != 1 || num(t, rep, "rows_in_conflict") != 3 || num(t, rep, "rows_out") != 5 {
		t.Errorf("report %v", rep)
	}
	items := rep["items"].([]any)
	if got := counts(t, items[0].(map[string]any)["labels"]); !reflect.DeepEqual(got, map[string]int{"neg": 1, "pos": 2}) {
		t.Errorf("labels %v", got)
	}
	for policy, want := range map[ConflictPolicy][]string{ConflictDropAll: {"4", "5"},
		ConflictMajority: {"2", "3", "4", "5"}, ConflictKeepFirst: {"1", "4", "5"}} {
		out, _, err := ds.Conflicts(policy)
		must(t, err, "Conflicts")
		if !reflect.DeepEqual(idsOf(out), want) {
			t.Errorf("policy %d kept %q, want %q", policy, idsOf(out), want)
		}
		out.Close()
	}
	_, _, err = ds.Conflicts(ConflictPolicy(9))
	wantOpError(t, err, StatusInvalidArgument, "unknown policy")
}

// ---------------------------------------------------------------- splits, resampling, weights

func balanced(t *testing.T, n int) *Dataset {
	texts, labels := make([]string, n), make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("text %d", i)
		labels[i] = []string{"neg", "pos"}[i%2]
	}
	return fromTexts(t, texts, labels)
}

func partSizes(assign []int, k int) []int {
	out := make([]int, k)
	for _, a := range assign {
		out[a]++
	}
	return out
}

func TestSplit(t *testing.T) {
	ds := balanced(t, 100)
	assign, rep, err := ds.Split(DefaultSplitOptions())
	must(t, err, "Split")
	if got := partSizes(assign, 3); !reflect.DeepEqual(got, []int{80, 10, 10}) {
		t.Errorf("sizes %v", got)
	}
	if num(t, rep, "seed") != 42 || len(rep["parts"].([]any)) != 3 {
		t.Errorf("report %v", rep)
	}
	again, _, _ := ds.Split(DefaultSplitOptions())
	if !reflect.DeepEqual(again, assign) {
		t.Error("Split is not deterministic")
	}
	o := DefaultSplitOptions()
	o.Folds, o.Stratify = 5, true
	folds, _, err := ds.Split(o)
	must(t, err, "Split folds")
	if got := partSizes(folds, 5); !reflect.DeepEqual(got, []int{20, 20, 20, 20, 20}) {
		t.Errorf("fold sizes %v", got)
	}
	parts, err := ds.SplitDatasets(DefaultSplitOptions())
	must(t, err, "SplitDatasets")
	var all []string
	for _, name := range []string{"train", "val", "test"} {
		all = append(all, idsOf(parts[name])...)
		parts[name].Close()
	}
	sort.Strings(all)
	want := idsOf(ds)
	sort.Strings(want)
	if len(parts) != 3 || !reflect.DeepEqual(all, want) {
		t.Errorf("SplitDatasets lost or repeated rows")
	}

	var b strings.Builder
	b.WriteString("text,label,group\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "sentence %d,%s,g%d\n", i, []string{"neg", "pos"}[i%2], i/5)
	}
	grouped := loadDataset(t, writeFile(t, "g.csv", b.String()), &DatasetOptions{GroupColumn: "group"})
	o = DefaultSplitOptions()
	o.GroupBy = GroupColumn
	assign, _, err = grouped.Split(o)
	must(t, err, "Split by group")
	for g := 0; g < 20; g++ {
		for i := g * 5; i < g*5+5; i++ {
			if assign[i] != assign[g*5] {
				t.Fatalf("group %d straddles parts", g)
			}
		}
	}
	o = DefaultSplitOptions()
	o.GroupBy = GroupNearDuplicates
	dd := DefaultDedupOptions()
	dd.Threshold = 0.7
	o.Dedup = &dd
	if _, _, err = ds.Split(o); err != nil {
		must(t, err, "Split by near duplicates")
	}
	o = DefaultSplitOptions()
	o.Train = 0.5
	_, _, err = ds.Split(o)
	wantOpError(t, err, StatusInvalidArgument, "fractions not summing to 1")
	o = DefaultSplitOptions()
	o.Folds = 1
	_, _, err = ds.Split(o)
	wantOpError(t, err, StatusInvalidArgument, "folds 1", "folds")
}

func TestResampleAndClassWeights(t *testing.T) {
	labels := []string{"pos", "pos", "pos", "pos", "pos", "pos", "neg", "neg"}
	texts := make([]string, 8)
	for i := range texts {
		texts[i] = fmt.Sprintf("t%d", i)
	}
	ds := fromTexts(t, texts, labels)
	w, err := ds.ClassWeights()
	must(t, err, "ClassWeights")
	if math.Abs(w["neg"]-2) > 1e-12 || math.Abs(w["pos"]-8.0/12) > 1e-12 {
		t.Errorf("ClassWeights = %v", w)
	}
	out, rep, err := ds.Resample(DefaultResampleOptions())
	must(t, err, "Resample")
	if out.Len() != 12 || !reflect.DeepEqual(counts(t, rep["after"]), map[string]int{"neg": 6, "pos": 6}) {
		t.Errorf("Resample over: %d rows, %v", out.Len(), rep)
	}
	out.Close()
	o := DefaultResampleOptions()
	o.Strategy = ResampleUnder
	out, rep, err = ds.Resample(o)
	must(t, err, "Resample under")
	if out.Len() != 4 || !reflect.DeepEqual(counts(t, rep["after"]), map[string]int{"neg": 2, "pos": 2}) {
		t.Errorf("Resample under: %d rows, %v", out.Len(), rep)
	}
	out.Close()
	o = DefaultResampleOptions()
	o.TargetByLabel = map[string]float64{"pos": 1, "neg": 2}
	out, rep, err = ds.Resample(o)
	must(t, err, "Resample target")
	if !reflect.DeepEqual(counts(t, rep["after"]), map[string]int{"neg": 12, "pos": 6}) {
		t.Errorf("Resample to 1:2: %v", rep)
	}
	out.Close()
	o = DefaultResampleOptions()
	o.Target = []float64{1, 2, 3}
	_, _, err = ds.Resample(o)
	wantOpError(t, err, StatusInvalidArgument, "target of the wrong length", "target")
	o = DefaultResampleOptions()
	o.TargetByLabel = map[string]float64{"maybe": 1}
	_, _, err = ds.Resample(o)
	wantOpError(t, err, StatusInvalidArgument, "unknown target label", "maybe")
	unlabelled := fromTexts(t, []string{"a", "b"}, nil)
	_, _, err = unlabelled.Resample(DefaultResampleOptions())
	wantOpError(t, err, StatusInvalidArgument, "Resample without labels")
}

// ---------------------------------------------------------------- augment, profile

func TestAugment(t *testing.T) {
	texts := []string{"the quick brown fox jumps over the lazy dog", "a happy little cloud floats over the hills"}
	ds := fromTexts(t, texts, []string{"x", "y"})
	o := DefaultAugmentOptions()
	o.Ops, o.N, o.CharRate, o.Seed = AugmentChars, 2, 0.2, 5
	out, rep, err := ds.Augment(o)
	must(t, err, "Augment")
	defer out.Close()
	if float64(out.Len()) != num(t, rep, "rows_out") || num(t, rep, "rows_out") != 6-num(t, rep, "unchanged") {
		t.Errorf("Augment: %q %v", textsOf(out), rep)
	}
	var sources []string
	for k, id := range idsOf(out) {
		if !strings.Contains(id, "#aug") {
			sources = append(sources, out.Text(k))
			continue
		}
		src := strings.Split(id, "#")[0]
		if l, _ := out.LabelName(k); l != map[string]string{"1": "x", "2": "y"}[src] {
			t.Errorf("copy %q has label %q", id, l)
		}
	}
	if !reflect.DeepEqual(sources, texts) {
		t.Errorf("sources %q", sources)
	}
	again, rep2, err := ds.Augment(o)
	must(t, err, "Augment again")
	if !reflect.DeepEqual(textsOf(again), textsOf(out)) || !reflect.DeepEqual(rep, rep2) {
		t.Error("Augment is not deterministic")
	}
	again.Close()
	o = DefaultAugmentOptions()
	o.Ops = AugmentEDA | AugmentChars
	o.SynonymsPath = writeFile(t, "syn.txt", "quick fast rapid\nhappy glad cheerful\n")
	both, _, err := ds.Augment(o)
	must(t, err, "Augment EDA")
	both.Close()
	o = DefaultAugmentOptions()
	o.Ops, o.CharRate = AugmentChars, 2
	_, _, err = ds.Augment(o)
	wantOpError(t, err, StatusInvalidArgument, "char rate 2", "char_rate")
	o = DefaultAugmentOptions()
	o.SynonymsPath = filepath.Join(t.TempDir(), "missing.txt")
	_, _, err = ds.Augment(o)
	wantOpError(t, err, StatusIO, "missing synonyms file", "missing.txt")
}

func TestProfileAndHTML(t *testing.T) {
	ds := fromTexts(t, []string{"the cat sat on the mat", "the cat sat on the mat", "中文文本测试",
		"the cat sat on the mat!", "x"}, []string{"a", "b", "a", "a", "a"})
	o := DefaultProfileOptions()
	o.Title = "My data"
	prof, err := ds.Profile(o)
	must(t, err, "Profile")
	if num(t, prof, "rows") != 5 || num(t, prof, "exact_duplicates") != 1 || num(t, prof, "conflicts") != 1 ||
		!reflect.DeepEqual(counts(t, prof["per_class"]), map[string]int{"a": 4, "b": 1}) {
		t.Errorf("profile %v", prof)
	}
	_, cleanRep, err := ds.Clean(DefaultCleanOptions())
	if err == nil {
		o.CleanReport = cleanRep
		withClean, err := ds.Profile(o)
		must(t, err, "Profile with a clean report")
		if num(t, withClean, "clean", "rows_in") != 5 {
			t.Errorf("clean %v", withClean["clean"])
		}
	}
	html, err := ProfileHTML(prof)
	must(t, err, "ProfileHTML")
	if !strings.Contains(strings.ToLower(html), "<html") || !strings.Contains(html, "My data") ||
		strings.Contains(strings.ToLower(html), "<script") {
		t.Errorf("html %.200q", html)
	}
	html2, err := ds.ProfileHTML(o)
	must(t, err, "Dataset.ProfileHTML")
	if !strings.Contains(html2, "My data") {
		t.Error("Dataset.ProfileHTML lacks the title")
	}
	_, err = ProfileHTMLFromJSON([]byte("{not json"))
	wantOpError(t, err, StatusParse, "broken profile JSON")
}

func TestClosedDatasetOps(t *testing.T) {
	ds := fromTexts(t, []string{"a"}, nil)
	ds.Close()
	checks := map[string]error{}
	_, _, checks["Clean"] = ds.Clean(DefaultCleanOptions())
	_, _, checks["Dedup"] = ds.Dedup(DefaultDedupOptions())
	_, _, checks["Split"] = ds.Split(DefaultSplitOptions())
	_, _, checks["Conflicts"] = ds.Conflicts(ConflictKeep)
	_, checks["Profile"] = ds.Profile(DefaultProfileOptions())
	_, checks["ClassWeights"] = ds.ClassWeights()
	checks["Write"] = ds.Write("x.csv", FormatAuto)
	for name, err := range checks {
		wantOpError(t, err, StatusInvalidArgument, name, "closed")
	}
}
