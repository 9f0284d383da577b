package datamodel

// Tests of AnonymizeBatch, DetectBatch and DecryptBatch (pii_batch.go): each
// result equals Anonymize (Detect, Decrypt) on the text alone, on 1 and on many threads;
// progress and cancelling (true cancels); a failing text is named by its
// index, the first one whatever the thread count.

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func batchTexts(n int) []string {
	pieces := []string{"mail " + piiEmail, "call " + piiPhone, "card " + piiCard + " / " + piiBad, "nothing here",
		"身份证 " + piiCNID, "IBAN " + piiIBAN, ""}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%d: %s %s", i, pieces[i%len(pieces)], pieces[(i*5+1)%len(pieces)])
	}
	return out
}

func TestPiiAnonymizeBatchEqualsAnonymize(t *testing.T) {
	p := newTestPii(t, nil)
	hash := DefaultOperatorConfig(OpHash)
	must(t, p.SetOperator("EMAIL_ADDRESS", &hash), "SetOperator")
	mask := DefaultOperatorConfig(OpMask)
	must(t, p.SetOperator("PHONE_NUMBER", &mask), "SetOperator")
	must(t, p.SetKey(randomKey(t)), "SetKey")
	texts := batchTexts(700)
	want := make([]AnonymizedText, len(texts))
	for i, s := range texts {
		out, ents, err := p.Anonymize(s)
		must(t, err, "Anonymize")
		want[i] = AnonymizedText{out, ents}
	}
	for _, threads := range []int{0, 1, 6} {
		got, err := p.AnonymizeBatch(texts, &BatchOptions{Threads: threads})
		must(t, err, "AnonymizeBatch")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("threads %d: batch differs from Anonymize one by one", threads)
		}
	}
	found, err := p.DetectBatch(texts, &BatchOptions{Threads: 3})
	must(t, err, "DetectBatch")
	for i, s := range texts {
		one, err := p.Detect(s)
		must(t, err, "Detect")
		if !reflect.DeepEqual(found[i], one) {
			t.Fatalf("DetectBatch differs from Detect at %d", i)
		}
	}
	got, err := p.AnonymizeBatch(nil, nil)
	must(t, err, "AnonymizeBatch of none")
	if len(got) != 0 {
		t.Errorf("no texts: %v", got)
	}
}

func TestPiiDecryptBatch(t *testing.T) {
	p := newTestPii(t, nil)
	enc := DefaultOperatorConfig(OpEncrypt)
	must(t, p.SetOperator("", &enc), "SetOperator")
	must(t, p.SetKey(randomKey(t)), "SetKey")
	texts := batchTexts(300)
	res, err := p.AnonymizeBatch(texts, &BatchOptions{Threads: 3})
	must(t, err, "AnonymizeBatch")
	encrypted := make([]string, len(res))
	for i, r := range res {
		encrypted[i] = r.Text
	}
	back, err := p.DecryptBatch(encrypted, &BatchOptions{Threads: 3})
	must(t, err, "DecryptBatch")
	if !reflect.DeepEqual(back, texts) {
		t.Fatal("DecryptBatch does not restore the texts")
	}
	encrypted[9] = strings.Replace(encrypted[9], ">", "A>", 1)
	_, err = p.DecryptBatch(encrypted, nil)
	e := wantStatus(t, err, StatusAuth, "tampered token")
	if !strings.HasPrefix(e.Message, "text 9: ") {
		t.Errorf("message %q does not name text 9", e.Message)
	}
}

func TestPiiBatchProgressAndCancel(t *testing.T) {
	p := newTestPii(t, nil)
	texts := batchTexts(2000)
	var last, calls uint64
	_, err := p.AnonymizeBatch(texts, &BatchOptions{Threads: 4, Progress: func(done, total uint64) bool {
		if done < last || total != 2000 {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last, calls = done, calls+1
		return false
	}})
	must(t, err, "AnonymizeBatch")
	if calls == 0 || last != 2000 {
		t.Errorf("progress: %d calls, last %d", calls, last)
	}
	_, err = p.AnonymizeBatch(texts, &BatchOptions{Threads: 4, Progress: func(done, total uint64) bool { return true }})
	wantStatus(t, err, StatusCancelled, "cancelled batch")
	defer func() {
		if r := recover(); r != "from the callback" {
			t.Errorf("recovered %v", r)
		}
	}()
	p.AnonymizeBatch(texts, &BatchOptions{Progress: func(done, total uint64) bool { panic("from the callback") }})
}

func TestPiiBatchBadTextNamesItsIndex(t *testing.T) {
	p := newTestPii(t, nil)
	texts := batchTexts(1000)
	texts[612] = "bad \xff byte"
	texts[900] = "also \xc3 bad"
	for _, threads := range []int{1, 2, 8} {
		_, err := p.AnonymizeBatch(texts, &BatchOptions{Threads: threads})
		e := wantStatus(t, err, StatusUTF8, "invalid UTF-8")
		if !strings.HasPrefix(e.Message, "text 612: ") || !strings.Contains(e.Message, "byte offset 4") {
			t.Errorf("threads %d: message %q", threads, e.Message)
		}
	}
	_, err := p.AnonymizeBatch([]string{"ok"}, &BatchOptions{Threads: -1})
	wantStatus(t, err, StatusInvalidArgument, "negative threads")
	p.Close()
	_, err = p.AnonymizeBatch([]string{"ok"}, nil)
	wantStatus(t, err, StatusInvalidArgument, "closed Pii")
}
