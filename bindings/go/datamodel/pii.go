package datamodel

// Personal data (datamodel.h, "Privacy: detecting and anonymising personal
// data (PII)"): Pii finds entities (emails, phone numbers, cards, IBANs, IP
// addresses, URLs, US SSNs, Chinese resident IDs, and user patterns and
// deny-lists) and anonymises them with an operator per type;
// Dataset.Anonymize applies it to a dataset's text column.
//
// This file exports the validator callback, so its preamble may only
// declare C functions (cgo's rule for files with //export).

/*
#include <stdint.h>
#include <stdlib.h>
#include <datamodel.h>

extern int dmGoPiiValidate(char *match, size_t len, void *user);
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"strconv"
	"sync"
	"unsafe"
)

// PiiOperator is what Anonymize does with an entity (dm_pii_operator).
type PiiOperator int

const (
	OpReplace PiiOperator = C.DM_PII_REPLACE // "<TYPE>" (the default of every type)
	OpRedact  PiiOperator = C.DM_PII_REDACT  // removed
	OpMask    PiiOperator = C.DM_PII_MASK    // all but the last KeepLast characters become MaskChar
	// OpHash gives a keyed pseudonym "<TYPE_3f9a1c2b>": HashChars hex digits
	// of HMAC-SHA-256(key, TYPE NUL value); the same value always gives the
	// same token under one key.
	OpHash PiiOperator = C.DM_PII_HASH
	// OpEncrypt gives "<TYPE:base64url(nonce | ciphertext | tag)>"
	// (XChaCha20-Poly1305 under the key); Decrypt restores the value.
	OpEncrypt PiiOperator = C.DM_PII_ENCRYPT
	OpKeep    PiiOperator = C.DM_PII_KEEP // left as it is (still detected and reported)
)

// String returns the operator's name as dm redact spells it ("mask").
func (o PiiOperator) String() string {
	names := [...]string{"replace", "redact", "mask", "hash", "encrypt", "keep"}
	if o >= 0 && int(o) < len(names) {
		return names[o]
	}
	return "PiiOperator(" + strconv.Itoa(int(o)) + ")"
}

// PiiOptions are the options of NewPii. Start from DefaultPiiOptions() (a
// nil *PiiOptions means the defaults).
type PiiOptions struct {
	// Types: nil for every built-in type, else only these (built-in names:
	// EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, IP_ADDRESS, URL,
	// US_SSN, CN_RESIDENT_ID). User recognisers are always on.
	Types []string
	// UseContext: context words ("card", "电话", ...) shortly before a
	// match raise its score.
	UseContext bool
	// MinScore: weaker entities are dropped.
	MinScore float64
	// MatchLimit: PCRE2's match limit per match attempt of a user pattern
	// (stops runaway backtracking).
	MatchLimit uint64
	// InvalidUTF8: UTF8Error (fail naming the byte offset) or UTF8Replace.
	InvalidUTF8 InvalidUTF8
	// Threads for Dataset.Anonymize (0: all cores).
	Threads int

	valid bool
}

// DefaultPiiOptions returns the library's defaults (dm_pii_options_default).
func DefaultPiiOptions() PiiOptions {
	var c C.dm_pii_options
	C.dm_pii_options_default(&c)
	return PiiOptions{UseContext: c.use_context != 0, MinScore: float64(c.min_score),
		MatchLimit: uint64(c.match_limit), InvalidUTF8: InvalidUTF8(c.invalid_utf8), Threads: int(c.threads),
		valid: true}
}

// OperatorConfig configures an operator (dm_pii_operator_config). Start from
// DefaultOperatorConfig.
type OperatorConfig struct {
	Op        PiiOperator
	MaskChar  rune // OpMask: the masking character (default '*')
	KeepLast  int  // OpMask: characters (code points) left unmasked at the end (default 4)
	HashChars int  // OpHash: hex digits of a pseudonym, 8 .. 64 (default 8)

	valid bool
}

// DefaultOperatorConfig returns the library's defaults for op
// (dm_pii_operator_config_default).
func DefaultOperatorConfig(op PiiOperator) OperatorConfig {
	var c C.dm_pii_operator_config
	C.dm_pii_operator_config_default(&c)
	return OperatorConfig{Op: op, MaskChar: rune(c.mask_char), KeepLast: int(c.keep_last),
		HashChars: int(c.hash_chars), valid: true}
}

// Entity is one entity found in a text: its type (a Presidio name such as
// "EMAIL_ADDRESS"), its byte offsets into the text (End exclusive), its
// score in (0, 1] and the text itself.
type Entity struct {
	Type       string
	Start, End int
	Score      float64
	Text       string
}

// Pii holds recognisers, an operator per type and a key (dm_pii). Configure
// it first (AddPattern, AddDenyList, SetOperator, SetKey, LoadKeyFile); then
// Detect, Anonymize, Decrypt and Dataset.Anonymize may run from several
// goroutines at once. Close releases it; it must not run concurrently with
// anything else on it.
type Pii struct {
	p          *C.dm_pii
	validators []*piiValidator // kept alive as long as the handle
}

// piiValidator carries a user validator through C: the C memory at user
// holds its cgo.Handle, so the library gets a real C pointer.
type piiValidator struct {
	fn     func(match string) bool
	handle cgo.Handle
	user   unsafe.Pointer

	mu       sync.Mutex
	panicked bool
	panicVal interface{}
}

// NewPii makes a handle with the built-in recognisers, every type replaced
// by "<TYPE>" and no key (dm_pii_create). opts may be nil. An unknown type
// in opts.Types is an error naming it.
func NewPii(opts *PiiOptions) (*Pii, error) {
	o := DefaultPiiOptions()
	if opts != nil {
		if !opts.valid {
			return nil, errNotDefault("PiiOptions")
		}
		o = *opts
	}
	if o.Threads < 0 {
		return nil, newError(StatusInvalidArgument, "PiiOptions.Threads must be >= 0 (got %d)", o.Threads)
	}
	err := checkCInts(namedInt{"PiiOptions.Threads", o.Threads}, namedInt{"PiiOptions.InvalidUTF8", int(o.InvalidUTF8)})
	if err != nil {
		return nil, err
	}
	var c C.dm_pii_options
	C.dm_pii_options_default(&c)
	var a cArena
	defer a.free()
	if o.Types != nil {
		types, err := a.strings("PiiOptions.Types", o.Types)
		if err != nil {
			return nil, err
		}
		c.types = types
		c.n_types = C.size_t(len(o.Types))
	}
	c.use_context = cBool(o.UseContext)
	c.min_score = C.double(o.MinScore)
	c.match_limit = C.uint64_t(o.MatchLimit)
	c.invalid_utf8 = C.dm_invalid_utf8(o.InvalidUTF8)
	c.threads = C.int(o.Threads)
	var out *C.dm_pii
	if err := call(func() C.dm_status { return C.dm_pii_create(&c, &out) }); err != nil {
		return nil, err
	}
	p := &Pii{p: out}
	// A safety net only: call Close to release the C memory promptly.
	runtime.SetFinalizer(p, func(p *Pii) { p.Close() })
	return p, nil
}

// Close releases the handle and its validators (dm_pii_free). It is safe to
// call more than once and on a nil *Pii. It always returns nil.
func (p *Pii) Close() error {
	if p == nil || p.p == nil {
		return nil
	}
	C.dm_pii_free(p.p)
	p.p = nil
	for _, v := range p.validators {
		v.handle.Delete()
		C.free(v.user)
	}
	p.validators = nil
	runtime.SetFinalizer(p, nil)
	return nil
}

func (p *Pii) closed() bool { return p == nil || p.p == nil }

func errPiiClosed(op string) error {
	return newError(StatusInvalidArgument, "%s: the Pii is closed or nil", op)
}

//export dmGoPiiValidate
func dmGoPiiValidate(match *C.char, n C.size_t, user unsafe.Pointer) (ok C.int) {
	v := (*(*cgo.Handle)(user)).Value().(*piiValidator)
	// A panic must not unwind through the C frames: keep it, reject the
	// match, and raise it again once the call has returned.
	defer func() {
		if r := recover(); r != nil {
			v.mu.Lock()
			if !v.panicked {
				v.panicked, v.panicVal = true, r
			}
			v.mu.Unlock()
			ok = 0
		}
	}()
	if v.fn(C.GoStringN(match, C.int(n))) {
		return 1
	}
	return 0
}

func (p *Pii) validatorPanicked() bool {
	for _, v := range p.validators {
		v.mu.Lock()
		panicked := v.panicked
		v.mu.Unlock()
		if panicked {
			return true
		}
	}
	return false
}

// rethrow raises again the first panic of a validator during the last call.
func (p *Pii) rethrow() {
	for _, v := range p.validators {
		v.mu.Lock()
		panicked, val := v.panicked, v.panicVal
		v.panicked, v.panicVal = false, nil
		v.mu.Unlock()
		if panicked {
			panic(val)
		}
	}
}

// AddPattern adds a recogniser (dm_pii_add_pattern): pattern (PCRE2 syntax,
// UTF-8 and Unicode properties on) finds entities of typ (capital letters,
// digits and '_'; a built-in name adds to that type) with score in (0, 1].
// validator (may be nil) must accept each match; it may be called from
// several threads at once (Dataset.Anonymize). context words (may be nil)
// raise the score when found shortly before a match. A pattern that does not
// compile is a StatusParse error naming it and the offset.
func (p *Pii) AddPattern(typ, pattern string, score float64, validator func(match string) bool,
	context []string) error {
	if p.closed() {
		return errPiiClosed("AddPattern")
	}
	var a cArena
	defer a.free()
	ctype, err := a.str("AddPattern type", typ)
	if err != nil {
		return err
	}
	cpat, err := a.str("AddPattern pattern", pattern)
	if err != nil {
		return err
	}
	var cctx **C.char
	if len(context) > 0 {
		if cctx, err = a.strings("AddPattern context", context); err != nil {
			return err
		}
	}
	var fn C.dm_pii_validator_fn
	var v *piiValidator
	var user unsafe.Pointer
	if validator != nil {
		v = &piiValidator{fn: validator}
		v.handle = cgo.NewHandle(v)
		v.user = C.malloc(C.size_t(unsafe.Sizeof(uintptr(0))))
		*(*cgo.Handle)(v.user) = v.handle
		fn = C.dm_pii_validator_fn(C.dmGoPiiValidate)
		user = v.user
	}
	err = call(func() C.dm_status {
		return C.dm_pii_add_pattern(p.p, ctype, cpat, C.double(score), fn, user, cctx, C.size_t(len(context)))
	})
	if v != nil {
		if err != nil {
			v.handle.Delete()
			C.free(v.user)
		} else {
			p.validators = append(p.validators, v)
		}
	}
	runtime.KeepAlive(p)
	return err
}

// AddDenyList adds a deny-list (dm_pii_add_deny_list): each of words
// (matched whole, letters case-insensitively) is an entity of typ with score.
func (p *Pii) AddDenyList(typ string, words []string, score float64) error {
	if p.closed() {
		return errPiiClosed("AddDenyList")
	}
	var a cArena
	defer a.free()
	ctype, err := a.str("AddDenyList type", typ)
	if err != nil {
		return err
	}
	var cw **C.char
	if len(words) > 0 {
		if cw, err = a.strings("AddDenyList words", words); err != nil {
			return err
		}
	}
	err = call(func() C.dm_status {
		return C.dm_pii_add_deny_list(p.p, ctype, cw, C.size_t(len(words)), C.double(score))
	})
	runtime.KeepAlive(p)
	return err
}

// SetOperator sets the operator of typ, or with typ "" of every type
// without one of its own (dm_pii_set_operator). cfg nil: the defaults of
// OpReplace.
func (p *Pii) SetOperator(typ string, cfg *OperatorConfig) error {
	if p.closed() {
		return errPiiClosed("SetOperator")
	}
	o := DefaultOperatorConfig(OpReplace)
	if cfg != nil {
		if !cfg.valid {
			return errNotDefault("OperatorConfig")
		}
		o = *cfg
	}
	if o.KeepLast < 0 || o.HashChars < 0 || o.MaskChar < 0 || o.Op < 0 {
		return newError(StatusInvalidArgument, "OperatorConfig: negative Op, MaskChar, KeepLast or HashChars")
	}
	if err := checkCInts(namedInt{"OperatorConfig.Op", int(o.Op)}); err != nil {
		return err
	}
	var c C.dm_pii_operator_config
	C.dm_pii_operator_config_default(&c)
	c.op = C.dm_pii_operator(o.Op)
	c.mask_char = C.uint32_t(o.MaskChar)
	c.keep_last = C.size_t(o.KeepLast)
	c.hash_chars = C.size_t(o.HashChars)
	var ctype *C.char
	if typ != "" {
		cs, err := cPath("SetOperator type", typ)
		if err != nil {
			return err
		}
		defer C.free(unsafe.Pointer(cs))
		ctype = cs
	}
	err := call(func() C.dm_status { return C.dm_pii_set_operator(p.p, ctype, &c) })
	runtime.KeepAlive(p)
	return err
}

// SetKey sets the key of the hash and encrypt operators: 32 bytes
// (dm_pii_set_key).
func (p *Pii) SetKey(key []byte) error {
	if p.closed() {
		return errPiiClosed("SetKey")
	}
	var ck *C.uint8_t
	if len(key) > 0 {
		ck = (*C.uint8_t)(C.CBytes(key))
		defer func() { // wipe the copy of the key before giving it back
			b := unsafe.Slice((*byte)(unsafe.Pointer(ck)), len(key))
			for i := range b {
				b[i] = 0
			}
			C.free(unsafe.Pointer(ck))
		}()
	}
	err := call(func() C.dm_status { return C.dm_pii_set_key(p.p, ck, C.size_t(len(key))) })
	runtime.KeepAlive(p)
	return err
}

// LoadKeyFile reads the key from path: 64 hex characters (what `openssl rand
// -hex 32` prints), optionally followed by a newline (dm_pii_load_key_file).
// An unreadable file is StatusIO, a malformed one StatusParse.
func (p *Pii) LoadKeyFile(path string) error {
	if p.closed() {
		return errPiiClosed("LoadKeyFile")
	}
	cs, err := cPath("LoadKeyFile path", path)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cs))
	err = call(func() C.dm_status { return C.dm_pii_load_key_file(p.p, cs) })
	runtime.KeepAlive(p)
	return err
}

// takeEntities copies n C entities found in text into Go values, then frees them.
func takeEntities(ents *C.dm_pii_entity, n C.size_t, text string) []Entity {
	if ents == nil {
		return []Entity{}
	}
	defer C.dm_free(unsafe.Pointer(ents))
	return copyEntities(ents, n, text)
}

// copyEntities copies n C entities found in text into Go values.
func copyEntities(ents *C.dm_pii_entity, n C.size_t, text string) []Entity {
	if ents == nil {
		return []Entity{}
	}
	cs := unsafe.Slice(ents, int(n))
	out := make([]Entity, len(cs))
	for i, e := range cs {
		s, t := int(e.start), int(e.end)
		out[i] = Entity{Type: C.GoString(e._type), Start: s, End: t, Score: float64(e.score)}
		if s >= 0 && s <= t && t <= len(text) {
			out[i].Text = text[s:t]
		}
	}
	return out
}

// Detect finds the entities of text scoring at least MinScore, in order
// (dm_pii_detect). Offsets are bytes into text.
func (p *Pii) Detect(text string) ([]Entity, error) {
	if p.closed() {
		return nil, errPiiClosed("Detect")
	}
	var ents *C.dm_pii_entity
	var n C.size_t
	err := call(func() C.dm_status { return C.dm_pii_detect(p.p, stringData(text), C.size_t(len(text)), &ents, &n) })
	runtime.KeepAlive(p)
	if err != nil {
		p.rethrow()
		return nil, err
	}
	out := takeEntities(ents, n, text)
	p.rethrow()
	return out, nil
}

// Anonymize returns text with every entity passed through its type's
// operator, and the entities as found in text (dm_pii_anonymize). The hash
// and encrypt operators without a key are a StatusInvalidArgument error.
func (p *Pii) Anonymize(text string) (string, []Entity, error) {
	if p.closed() {
		return "", nil, errPiiClosed("Anonymize")
	}
	var out *C.char
	var outLen, n C.size_t
	var ents *C.dm_pii_entity
	err := call(func() C.dm_status {
		return C.dm_pii_anonymize(p.p, stringData(text), C.size_t(len(text)), &out, &outLen, &ents, &n)
	})
	runtime.KeepAlive(p)
	if err != nil {
		p.rethrow()
		return "", nil, err
	}
	s := C.GoStringN(out, C.int(outLen))
	C.dm_free(unsafe.Pointer(out))
	es := takeEntities(ents, n, text)
	p.rethrow()
	return s, es, nil
}

// Decrypt returns text with every encrypt token restored (dm_pii_decrypt).
// A token that does not authenticate under the key (a wrong key, tampered
// text) is a StatusAuth error naming its byte offset: nothing is returned
// half-decrypted.
func (p *Pii) Decrypt(text string) (string, error) {
	if p.closed() {
		return "", errPiiClosed("Decrypt")
	}
	var out *C.char
	var outLen C.size_t
	err := call(func() C.dm_status {
		return C.dm_pii_decrypt(p.p, stringData(text), C.size_t(len(text)), &out, &outLen)
	})
	runtime.KeepAlive(p)
	if err != nil {
		return "", err
	}
	s := C.GoStringN(out, C.int(outLen))
	C.dm_free(unsafe.Pointer(out))
	return s, nil
}

// Anonymize anonymises the text (and pair) column with p's recognisers and
// operators (dm_dataset_anonymize). Report keys: rows, rows_changed,
// entities {TYPE: count}, operators {TYPE: operator name}. auditPath ("" for
// none) gets one JSON line per entity: {id, column, type, start, end,
// operator} — never the value itself.
func (d *Dataset) Anonymize(p *Pii, auditPath string) (*Dataset, OpReport, error) {
	if d.closed() {
		return nil, nil, errDatasetClosed("Anonymize")
	}
	if p.closed() {
		return nil, nil, errPiiClosed("Dataset.Anonymize")
	}
	var caudit *C.char
	if auditPath != "" {
		cs, err := cPath("Anonymize audit path", auditPath)
		if err != nil {
			return nil, nil, err
		}
		defer C.free(unsafe.Pointer(cs))
		caudit = cs
	}
	var out *C.dm_dataset
	var rep *C.char
	err := call(func() C.dm_status { return C.dm_dataset_anonymize(d.p, p.p, caudit, &out, &rep) })
	runtime.KeepAlive(d)
	runtime.KeepAlive(p)
	ds, r, err := finish(err, out, rep)
	if p.validatorPanicked() {
		ds.Close()
		p.rethrow()
	}
	return ds, r, err
}
