package datamodel

/*
#include <stdint.h>
#include <stdlib.h>
#include <datamodel.h>

// Defined in progress.go (//export dmGoProgress).
extern int dmGoProgress(uint64_t done, uint64_t total, uintptr_t handle);

// The dm_progress_fn the library calls: forwards to Go with the cgo.Handle
// that travels in the user pointer.
static int dm_go_progress(uint64_t done, uint64_t total, void *user)
{
    return dmGoProgress(done, total, (uintptr_t)user);
}

// Set from C so that the handle (an integer) is never stored in a Go
// pointer-typed field. OPTS is C memory.
static void dm_go_set_encode_progress(dm_encode_options *opts, uintptr_t handle)
{
    opts->progress = dm_go_progress;
    opts->progress_user = (void *)handle;
}

static void dm_go_set_train_progress(dm_tokenizer_train_options *opts, uintptr_t handle)
{
    opts->progress = dm_go_progress;
    opts->progress_user = (void *)handle;
}
*/
import "C"

import (
	"math"
	"runtime"
	"runtime/cgo"
	"strconv"
	"sync"
	"unsafe"
)

// ErrClosed is returned by the methods of a Tokenizer that has been closed
// (or is nil).
var ErrClosed = newError(StatusInvalidArgument, "the tokenizer is closed or nil")

// Toggle is an on/off setting whose zero value keeps the default (for loading:
// what the tokenizer files say).
type Toggle int

const (
	ToggleDefault Toggle = iota // keep the default / what the files say
	ToggleOff                   // force off
	ToggleOn                    // force on
)

// toC maps the toggle to the C convention (0 off, 1 on), keeping def for
// ToggleDefault.
func (t Toggle) toC(field string, def C.int) (C.int, error) {
	switch t {
	case ToggleDefault:
		return def, nil
	case ToggleOff:
		return 0, nil
	case ToggleOn:
		return 1, nil
	}
	return 0, newError(StatusInvalidArgument, "%s: unknown Toggle value %d", field, int(t))
}

// TokenizerOptions are options for loading a tokenizer. The zero value (and a
// nil pointer) keeps what the files say.
type TokenizerOptions struct {
	Lowercase Toggle
	// StripAccents defaults to what the files say and, as in Hugging Face,
	// follows Lowercase when the files leave it unset.
	StripAccents Toggle
}

func (o *TokenizerOptions) toC() (*C.dm_tokenizer_options, error) {
	if o == nil {
		return nil, nil // NULL: all defaults
	}
	var c C.dm_tokenizer_options
	C.dm_tokenizer_options_default(&c)
	var err error
	if c.lowercase, err = o.Lowercase.toC("TokenizerOptions.Lowercase", c.lowercase); err != nil {
		return nil, err
	}
	if c.strip_accents, err = o.StripAccents.toC("TokenizerOptions.StripAccents", c.strip_accents); err != nil {
		return nil, err
	}
	return &c, nil
}

// Tokenizer is a loaded WordPiece tokenizer (dm_tokenizer). It is read-only
// once loaded: any number of goroutines may use it at the same time. Close
// releases it; it must not be called while other methods are running.
type Tokenizer struct {
	p *C.dm_tokenizer
	// owner is the model whose tokenizer this is (Model.Tokenizer), nil
	// for a tokenizer loaded on its own. A borrowed tokenizer is never freed
	// here: Close only detaches it, and it keeps the model's memory alive.
	owner interface{}
	// vocabList (id -> token) is read once, on the first batch.
	vocabOnce sync.Once
	vocabList []string
}

func newTokenizer(p *C.dm_tokenizer) *Tokenizer {
	t := &Tokenizer{p: p}
	// A safety net only: call Close to release the C memory promptly.
	runtime.SetFinalizer(t, func(t *Tokenizer) { t.Close() })
	return t
}

// Close releases the tokenizer (dm_tokenizer_free). It is safe to call more
// than once and on a nil *Tokenizer. It always returns nil.
func (t *Tokenizer) Close() error {
	if t == nil || t.p == nil {
		return nil
	}
	if t.owner == nil {
		C.dm_tokenizer_free(t.p)
	}
	t.p = nil
	t.owner = nil
	runtime.SetFinalizer(t, nil)
	return nil
}

func (t *Tokenizer) closed() bool { return t == nil || t.p == nil }

// LoadTokenizer loads a tokenizer from path, which is a Hugging Face
// tokenizer.json, a vocab.txt (BERT defaults, overridden by a
// tokenizer_config.json beside it), or a model folder holding either
// (dm_tokenizer_load). opts may be nil.
func LoadTokenizer(path string, opts *TokenizerOptions) (*Tokenizer, error) {
	copts, err := opts.toC()
	if err != nil {
		return nil, err
	}
	cpath, err := cPath("tokenizer path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	var out *C.dm_tokenizer
	if err := call(func() C.dm_status { return C.dm_tokenizer_load(cpath, copts, &out) }); err != nil {
		return nil, err
	}
	return newTokenizer(out), nil
}

// LoadTokenizerJSON loads a tokenizer from the contents of a tokenizer.json
// (dm_tokenizer_load_json). opts may be nil.
func LoadTokenizerJSON(json []byte, opts *TokenizerOptions) (*Tokenizer, error) {
	copts, err := opts.toC()
	if err != nil {
		return nil, err
	}
	var out *C.dm_tokenizer
	err = call(func() C.dm_status {
		return C.dm_tokenizer_load_json(bytesData(json), C.size_t(len(json)), copts, &out)
	})
	if err != nil {
		return nil, err
	}
	return newTokenizer(out), nil
}

// LoadVocab loads a tokenizer from the contents of a vocab.txt, one token per
// line, with the BERT defaults (dm_tokenizer_load_vocab). opts may be nil.
func LoadVocab(vocab []byte, opts *TokenizerOptions) (*Tokenizer, error) {
	copts, err := opts.toC()
	if err != nil {
		return nil, err
	}
	var out *C.dm_tokenizer
	err = call(func() C.dm_status {
		return C.dm_tokenizer_load_vocab(bytesData(vocab), C.size_t(len(vocab)), copts, &out)
	})
	if err != nil {
		return nil, err
	}
	return newTokenizer(out), nil
}

// VocabSize returns the number of ids: the largest id + 1, added tokens
// included (dm_tokenizer_vocab_size). 0 for a closed tokenizer.
func (t *Tokenizer) VocabSize() int {
	if t.closed() {
		return 0
	}
	n := C.dm_tokenizer_vocab_size(t.p)
	runtime.KeepAlive(t)
	return int(n)
}

// TokenToID returns the id of a token string (dm_tokenizer_token_to_id), and
// false when it is not in the vocabulary.
func (t *Tokenizer) TokenToID(token string) (int, bool) {
	if t.closed() {
		return 0, false
	}
	var id C.int32_t
	st := C.dm_tokenizer_token_to_id(t.p, stringData(token), C.size_t(len(token)), &id)
	runtime.KeepAlive(t)
	if st != C.DM_OK {
		return 0, false
	}
	return int(id), true
}

// IDToToken returns the token string of an id (dm_tokenizer_id_to_token),
// and false when the id is out of range or unused.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	if t.closed() || id < math.MinInt32 || id > math.MaxInt32 {
		return "", false
	}
	s := C.dm_tokenizer_id_to_token(t.p, C.int32_t(id))
	if s == nil {
		runtime.KeepAlive(t)
		return "", false
	}
	tok := C.GoString(s) // copy before the tokenizer may be freed
	runtime.KeepAlive(t)
	return tok, true
}

// SpecialToken names one of the special tokens.
type SpecialToken int

const (
	SpecialUNK  SpecialToken = C.DM_SPECIAL_UNK
	SpecialCLS  SpecialToken = C.DM_SPECIAL_CLS
	SpecialSEP  SpecialToken = C.DM_SPECIAL_SEP
	SpecialPAD  SpecialToken = C.DM_SPECIAL_PAD
	SpecialMASK SpecialToken = C.DM_SPECIAL_MASK
)

// SpecialID returns the id of a special token (dm_tokenizer_special_id), and
// false when the tokenizer has none (or kind is unknown).
func (t *Tokenizer) SpecialID(kind SpecialToken) (int, bool) {
	if t.closed() || kind < SpecialUNK || kind > SpecialMASK {
		return -1, false
	}
	id := C.dm_tokenizer_special_id(t.p, C.dm_special_token(kind))
	runtime.KeepAlive(t)
	if id < 0 {
		return -1, false
	}
	return int(id), true
}

// Truncation is the truncation strategy of EncodeOptions.
type Truncation int

const (
	TruncateNone         Truncation = C.DM_TRUNCATE_NONE
	TruncateLongestFirst Truncation = C.DM_TRUNCATE_LONGEST_FIRST // drop from the longer sequence first
	TruncateOnlyFirst    Truncation = C.DM_TRUNCATE_ONLY_FIRST
	TruncateOnlySecond   Truncation = C.DM_TRUNCATE_ONLY_SECOND
)

// Padding is the padding strategy of EncodeOptions.
type Padding int

const (
	PadNone      Padding = C.DM_PAD_NONE
	PadToLength  Padding = C.DM_PAD_TO_LENGTH  // pad every encoding to PadLength
	PadToLongest Padding = C.DM_PAD_TO_LONGEST // in a batch, pad to the longest encoding
)

// InvalidUTF8 is what encoding does with invalid UTF-8 in the text.
type InvalidUTF8 int

const (
	// UTF8Error fails with StatusUTF8 naming the byte offset.
	UTF8Error InvalidUTF8 = C.DM_UTF8_ERROR
	// UTF8Replace treats each bad sequence as U+FFFD (which BERT's text
	// cleaning then removes, as Hugging Face does).
	UTF8Replace InvalidUTF8 = C.DM_UTF8_REPLACE
)

// EncodeOptions are options for Encode and EncodeBatch. The zero value (and
// a nil pointer) are the library defaults: special tokens added, no
// truncation, no padding, invalid UTF-8 is an error, all cores.
type EncodeOptions struct {
	// NoSpecialTokens leaves out [CLS] A [SEP] (B [SEP]) of the template.
	NoSpecialTokens bool
	Truncation      Truncation
	// MaxLength is the total length with truncation, special tokens
	// included (as HF's max_length). Required when Truncation is set.
	MaxLength       int
	Padding         Padding
	PadLength       int // with PadToLength
	PadToMultipleOf int // 0: off; else round the padded length up
	InvalidUTF8     InvalidUTF8
	// Threads is for EncodeBatch only: 0 = all cores, else this many.
	Threads int
	// Progress is for EncodeBatch only: done/total in texts. May be nil.
	Progress ProgressFunc
}

// toC fills c (Go or C memory) from o; the progress fields are left to the
// caller.
func (o *EncodeOptions) toC(c *C.dm_encode_options) error {
	C.dm_encode_options_default(c)
	if o == nil {
		return nil
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxLength", o.MaxLength}, {"PadLength", o.PadLength}, {"PadToMultipleOf", o.PadToMultipleOf}} {
		if f.v < 0 {
			return newError(StatusInvalidArgument, "EncodeOptions.%s is negative (%d)", f.name, f.v)
		}
	}
	if o.Threads < 0 || o.Threads > math.MaxInt32 {
		return newError(StatusInvalidArgument, "EncodeOptions.Threads is out of range (%d)", o.Threads)
	}
	if o.Truncation < 0 || o.Padding < 0 || o.InvalidUTF8 < 0 {
		return newError(StatusInvalidArgument, "EncodeOptions: negative Truncation, Padding or InvalidUTF8")
	}
	err := checkCInts(namedInt{"EncodeOptions.Truncation", int(o.Truncation)},
		namedInt{"EncodeOptions.Padding", int(o.Padding)}, namedInt{"EncodeOptions.InvalidUTF8", int(o.InvalidUTF8)})
	if err != nil {
		return err
	}
	if o.NoSpecialTokens {
		c.add_special_tokens = 0
	}
	// Values out of the enums' range are passed on: the library rejects them
	// with a message naming the field.
	c.truncation = C.dm_truncation(o.Truncation)
	c.max_length = C.size_t(o.MaxLength)
	c.padding = C.dm_padding(o.Padding)
	c.pad_length = C.size_t(o.PadLength)
	c.pad_to_multiple_of = C.size_t(o.PadToMultipleOf)
	c.invalid_utf8 = C.dm_invalid_utf8(o.InvalidUTF8)
	c.threads = C.int(o.Threads)
	return nil
}

// Encoding is one encoded text (or pair), copied out of the library's
// dm_encoding. All slices have Len() entries.
type Encoding struct {
	IDs               []int32
	TypeIDs           []int32 // 0 for the first sequence, 1 for the second
	AttentionMask     []uint8 // 1 for real tokens, 0 for padding
	SpecialTokensMask []uint8 // 1 for template special tokens and padding
	// Offsets are UTF-8 byte offsets [start, end) into the text the token
	// came from (a pair's tokens into the pair text); {0, 0} for added
	// special tokens and padding. (Hugging Face's Python offsets count
	// characters instead.)
	Offsets [][2]int
	Tokens  []string
}

// Len returns the number of tokens.
func (e *Encoding) Len() int { return len(e.IDs) }

// copyEncoding copies a C encoding into Go memory; the caller frees e.
func copyEncoding(e *C.dm_encoding) *Encoding {
	n := int(e.length)
	out := &Encoding{
		IDs:               make([]int32, n),
		TypeIDs:           make([]int32, n),
		AttentionMask:     make([]uint8, n),
		SpecialTokensMask: make([]uint8, n),
		Offsets:           make([][2]int, n),
		Tokens:            make([]string, n),
	}
	if n == 0 {
		return out
	}
	copy(out.IDs, unsafe.Slice((*int32)(unsafe.Pointer(e.ids)), n))
	copy(out.TypeIDs, unsafe.Slice((*int32)(unsafe.Pointer(e.type_ids)), n))
	copy(out.AttentionMask, unsafe.Slice((*uint8)(unsafe.Pointer(e.attention_mask)), n))
	copy(out.SpecialTokensMask, unsafe.Slice((*uint8)(unsafe.Pointer(e.special_tokens_mask)), n))
	offs := unsafe.Slice((*uint32)(unsafe.Pointer(e.offsets)), 2*n)
	for i := range out.Offsets {
		out.Offsets[i] = [2]int{int(offs[2*i]), int(offs[2*i+1])}
	}
	if e.tokens != nil {
		toks := unsafe.Slice((**C.char)(unsafe.Pointer(e.tokens)), n)
		for i, s := range toks {
			if s != nil {
				out.Tokens[i] = C.GoString(s)
			}
		}
	}
	return out
}

// Encode encodes text, or the pair (text, *pair) when pair is not nil
// (dm_tokenizer_encode). opts may be nil; its Threads and Progress are not
// used here.
func (t *Tokenizer) Encode(text string, pair *string, opts *EncodeOptions) (*Encoding, error) {
	if t.closed() {
		return nil, ErrClosed
	}
	var copts C.dm_encode_options
	if err := opts.toC(&copts); err != nil {
		return nil, err
	}
	var cpair *C.char // NULL: no pair
	var cpairLen C.size_t
	if pair != nil {
		cpair, cpairLen = stringData(*pair), C.size_t(len(*pair))
	}
	var out *C.dm_encoding
	err := call(func() C.dm_status {
		return C.dm_tokenizer_encode(t.p, stringData(text), C.size_t(len(text)), cpair, cpairLen, &copts, &out)
	})
	runtime.KeepAlive(t)
	if err != nil {
		return nil, err
	}
	enc := copyEncoding(out) // tokens are owned by t: copy before t can go
	runtime.KeepAlive(t)
	C.dm_encoding_free(out)
	return enc, nil
}

const ptrSize = C.size_t(unsafe.Sizeof(uintptr(0)))
const sizeSize = C.size_t(unsafe.Sizeof(C.size_t(0)))

// FlatEncodings holds the encodings of a batch end to end in flat slices,
// as dm_tokenizer_encode_batch_flat returns them: encoding i is tokens
// RowOffsets[i] .. RowOffsets[i+1]-1 of every slice (Offsets holds two
// entries, start and end, per token). With padding (PadToLength or
// PadToLongest) every row has the same length, Longest, and each slice is
// a Len() x Longest matrix in row-major order.
type FlatEncodings struct {
	RowOffsets        []int // Len() + 1 entries
	IDs               []int32
	TypeIDs           []int32
	AttentionMask     []uint8
	SpecialTokensMask []uint8
	Offsets           []uint32 // 2 per token: UTF-8 byte offsets [start, end)
	Longest           int      // the longest row's length
	vocab             []string // id -> token, for Encoding
}

// Len returns the number of encodings (texts).
func (f *FlatEncodings) Len() int { return len(f.RowOffsets) - 1 }

// Encoding returns encoding i as an *Encoding whose slices share memory with
// f's (each capped at its own row).
func (f *FlatEncodings) Encoding(i int) *Encoding {
	a, b := f.RowOffsets[i], f.RowOffsets[i+1]
	e := &Encoding{
		IDs:               f.IDs[a:b:b],
		TypeIDs:           f.TypeIDs[a:b:b],
		AttentionMask:     f.AttentionMask[a:b:b],
		SpecialTokensMask: f.SpecialTokensMask[a:b:b],
		Offsets:           make([][2]int, b-a),
		Tokens:            make([]string, b-a),
	}
	for k := range e.Offsets {
		e.Offsets[k] = [2]int{int(f.Offsets[2*(a+k)]), int(f.Offsets[2*(a+k)+1])}
		e.Tokens[k] = f.vocab[f.IDs[a+k]]
	}
	return e
}

// vocab returns every id's token string, read from the library once per
// tokenizer (the Tokens of batch encodings come from it).
func (t *Tokenizer) vocab() []string {
	t.vocabOnce.Do(func() {
		n := t.VocabSize()
		v := make([]string, n)
		for id := range v {
			v[id], _ = t.IDToToken(id)
		}
		t.vocabList = v
	})
	return t.vocabList
}

// EncodeBatchFlat encodes texts, or the pairs (texts[i], pairs[i]) when pairs
// is not nil (it must then have the same length), on opts.Threads threads
// with one cgo call (dm_tokenizer_encode_batch_flat), and copies the result
// into flat slices. The result is the same whatever the thread count. On an
// error in any text the whole call fails and the message names the text's
// index. opts may be nil.
func (t *Tokenizer) EncodeBatchFlat(texts []string, pairs []string, opts *EncodeOptions) (*FlatEncodings, error) {
	if t.closed() {
		return nil, ErrClosed
	}
	if pairs != nil && len(pairs) != len(texts) {
		return nil, newError(StatusInvalidArgument, "EncodeBatch: %d texts but %d pairs", len(texts), len(pairs))
	}
	copts := (*C.dm_encode_options)(C.malloc(C.sizeof_dm_encode_options))
	defer C.free(unsafe.Pointer(copts))
	if err := opts.toC(copts); err != nil {
		return nil, err
	}
	var progress *progressState
	if opts != nil && opts.Progress != nil {
		progress = &progressState{fn: opts.Progress}
		h := cgo.NewHandle(progress)
		defer h.Delete()
		C.dm_go_set_encode_progress(copts, C.uintptr_t(h))
	}
	vocab := t.vocab()
	// The C API takes arrays of pointers, which cgo does not allow to point
	// into Go memory: the texts are copied into one C block first.
	in := newCStringBlock(texts, pairs)
	defer in.free()
	var out *C.dm_encodings_flat
	err := call(func() C.dm_status {
		return C.dm_tokenizer_encode_batch_flat(t.p, C.size_t(len(texts)), in.ptrs[0], in.lens[0], in.ptrs[1],
			in.lens[1], copts, &out)
	})
	runtime.KeepAlive(t)
	if err != nil {
		progress.rethrow()
		return nil, err
	}
	f := copyFlat(out, vocab)
	C.dm_encodings_flat_free(out)
	progress.rethrow()
	return f, nil
}

// copyFlat copies a dm_encodings_flat into Go memory, one copy per slice.
func copyFlat(c *C.dm_encodings_flat, vocab []string) *FlatEncodings {
	n, total := int(c.n), int(c.n_tokens)
	f := &FlatEncodings{
		RowOffsets:        make([]int, n+1),
		IDs:               make([]int32, total),
		TypeIDs:           make([]int32, total),
		AttentionMask:     make([]uint8, total),
		SpecialTokensMask: make([]uint8, total),
		Offsets:           make([]uint32, 2*total),
		Longest:           int(c.longest),
		vocab:             vocab,
	}
	for i, r := range unsafe.Slice(c.row_offsets, n+1) {
		f.RowOffsets[i] = int(r)
	}
	if total == 0 {
		return f
	}
	copy(f.IDs, unsafe.Slice((*int32)(unsafe.Pointer(c.ids)), total))
	copy(f.TypeIDs, unsafe.Slice((*int32)(unsafe.Pointer(c.type_ids)), total))
	copy(f.AttentionMask, unsafe.Slice((*uint8)(unsafe.Pointer(c.attention_mask)), total))
	copy(f.SpecialTokensMask, unsafe.Slice((*uint8)(unsafe.Pointer(c.special_tokens_mask)), total))
	copy(f.Offsets, unsafe.Slice((*uint32)(unsafe.Pointer(c.offsets)), 2*total))
	return f
}

// EncodeBatch encodes texts, or the pairs (texts[i], pairs[i]) when pairs is
// not nil (it must then have the same length), on opts.Threads threads. It
// is EncodeBatchFlat split into one *Encoding per text (their slices share
// the flat ones' memory): one cgo call whatever the number of texts. The
// result is the same whatever the thread count. On an error in any text the
// whole call fails and the message names the text's index. opts may be nil.
func (t *Tokenizer) EncodeBatch(texts []string, pairs []string, opts *EncodeOptions) ([]*Encoding, error) {
	f, err := t.EncodeBatchFlat(texts, pairs, opts)
	if err != nil {
		return nil, err
	}
	res := make([]*Encoding, f.Len())
	for i := range res {
		res[i] = f.Encoding(i)
	}
	return res, nil
}

// Decode turns ids back into text as HF's WordPiece decoder does ("##"
// pieces joined, spaces before punctuation cleaned up); skipSpecial drops
// special tokens (dm_tokenizer_decode). An id out of range gives an *Error
// of status StatusRange naming its position.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) (string, error) {
	if t.closed() {
		return "", ErrClosed
	}
	var cids *C.int32_t
	if len(ids) > 0 {
		cids = (*C.int32_t)(unsafe.Pointer(&ids[0]))
	}
	skip := C.int(0)
	if skipSpecial {
		skip = 1
	}
	var out *C.char
	var outLen C.size_t
	err := call(func() C.dm_status {
		return C.dm_tokenizer_decode(t.p, cids, C.size_t(len(ids)), skip, &out, &outLen)
	})
	runtime.KeepAlive(t)
	if err != nil {
		return "", err
	}
	s := string(unsafe.Slice((*byte)(unsafe.Pointer(out)), int(outLen)))
	C.dm_free(unsafe.Pointer(out))
	return s, nil
}

// Save writes dir/vocab.txt, dir/tokenizer.json (loadable by HF
// `tokenizers`) and dir/tokenizer_config.json, creating dir if needed
// (dm_tokenizer_save).
func (t *Tokenizer) Save(dir string) error {
	if t.closed() {
		return ErrClosed
	}
	cdir, err := cPath("directory", dir)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cdir))
	err = call(func() C.dm_status { return C.dm_tokenizer_save(t.p, cdir) })
	runtime.KeepAlive(t)
	return err
}

// TrainOptions are options for TrainTokenizer. The zero value (and a nil
// pointer) are the library defaults.
type TrainOptions struct {
	VocabSize int // 0: 30522
	// MinFrequency: pairs seen fewer times are not merged. 0: 2.
	MinFrequency uint64
	// SpecialTokens: nil or empty: [PAD] [UNK] [CLS] [SEP] [MASK].
	SpecialTokens []string
	// LimitAlphabet: 0 keeps every character; else the most frequent.
	LimitAlphabet      int
	Lowercase          Toggle // default on
	StripAccents       Toggle // default: follow Lowercase
	CleanText          Toggle // default on
	HandleChineseChars Toggle // default on
	// Progress receives done/total in merges. May be nil.
	Progress ProgressFunc
}

// toC builds the C options in C memory; free releases them.
func (o *TrainOptions) toC() (c *C.dm_tokenizer_train_options, free func(), err error) {
	c = (*C.dm_tokenizer_train_options)(C.malloc(C.sizeof_dm_tokenizer_train_options))
	C.dm_tokenizer_train_options_default(c)
	var specials []*C.char
	var specialArray unsafe.Pointer
	free = func() {
		for _, s := range specials {
			C.free(unsafe.Pointer(s))
		}
		C.free(specialArray)
		C.free(unsafe.Pointer(c))
	}
	if o == nil {
		return c, free, nil
	}
	defer func() {
		if err != nil {
			free()
			c, free = nil, nil
		}
	}()
	if o.VocabSize < 0 || o.LimitAlphabet < 0 {
		return c, free, newError(StatusInvalidArgument, "TrainOptions: negative VocabSize (%d) or LimitAlphabet (%d)",
			o.VocabSize, o.LimitAlphabet)
	}
	if o.VocabSize > 0 {
		c.vocab_size = C.size_t(o.VocabSize)
	}
	if o.MinFrequency > 0 {
		c.min_frequency = C.uint64_t(o.MinFrequency)
	}
	c.limit_alphabet = C.size_t(o.LimitAlphabet)
	for _, f := range []struct {
		name string
		t    Toggle
		dst  *C.int
	}{
		{"TrainOptions.Lowercase", o.Lowercase, &c.lowercase},
		{"TrainOptions.StripAccents", o.StripAccents, &c.strip_accents},
		{"TrainOptions.CleanText", o.CleanText, &c.clean_text},
		{"TrainOptions.HandleChineseChars", o.HandleChineseChars, &c.handle_chinese_chars},
	} {
		if *f.dst, err = f.t.toC(f.name, *f.dst); err != nil {
			return c, free, err
		}
	}
	if len(o.SpecialTokens) > 0 {
		for i, s := range o.SpecialTokens {
			cs, err := cPath("TrainOptions.SpecialTokens["+strconv.Itoa(i)+"]", s)
			if err != nil {
				return c, free, err
			}
			specials = append(specials, cs)
		}
		specialArray = C.malloc(C.size_t(len(specials)) * ptrSize)
		copy(unsafe.Slice((**C.char)(specialArray), len(specials)), specials)
		c.special_tokens = (**C.char)(specialArray)
		c.n_special_tokens = C.size_t(len(specials))
	}
	return c, free, nil
}

// TrainTokenizer learns a WordPiece vocabulary from UTF-8 text files (each
// line a text) the way HF's WordPieceTrainer does, and returns a tokenizer
// using it (dm_tokenizer_train). Save it with Tokenizer.Save. opts may be
// nil.
func TrainTokenizer(files []string, opts *TrainOptions) (*Tokenizer, error) {
	copts, free, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer free()
	var progress *progressState
	if opts != nil && opts.Progress != nil {
		progress = &progressState{fn: opts.Progress}
		h := cgo.NewHandle(progress)
		defer h.Delete()
		C.dm_go_set_train_progress(copts, C.uintptr_t(h))
	}
	cfiles := make([]*C.char, 0, len(files))
	defer func() {
		for _, f := range cfiles {
			C.free(unsafe.Pointer(f))
		}
	}()
	for _, f := range files {
		cf, err := cPath("training file", f)
		if err != nil {
			return nil, err
		}
		cfiles = append(cfiles, cf)
	}
	// A Go array holding C pointers only may be passed to C.
	var cfilesPtr **C.char
	if len(cfiles) > 0 {
		cfilesPtr = &cfiles[0]
	}

	var out *C.dm_tokenizer
	err = call(func() C.dm_status {
		return C.dm_tokenizer_train(cfilesPtr, C.size_t(len(cfiles)), copts, &out)
	})
	if err != nil {
		progress.rethrow()
		return nil, err
	}
	if progress != nil && progress.panicked { // the library ignored the cancel
		C.dm_tokenizer_free(out)
		progress.rethrow()
	}
	return newTokenizer(out), nil
}
