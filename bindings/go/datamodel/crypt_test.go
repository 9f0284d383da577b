package datamodel

// Tests of encrypted files (crypt.go): round trips of empty, 1-byte,
// one-chunk and multi-chunk files through a file and through memory;
// refusal (StatusAuth) of changed bytes, files cut at and inside a chunk,
// appended bytes, wrong keys and plain files; key files; IsEncryptedFile;
// LoadDataset of encrypted CSV and JSONL with and without DatasetOptions.Key;
// and LoadModel of a folder with encrypted weights (ModelOptions.Key).

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cryptChunk = 64 * 1024

var (
	testKey   = bytes.Repeat([]byte{7}, KeySize)
	otherKey  = bytes.Repeat([]byte{9}, KeySize)
	authError = &Error{Status: StatusAuth}
)

// wantCryptError checks that err is an *Error of the given status whose
// message contains needle.
func wantCryptError(t *testing.T, err error, status int, needle string) {
	t.Helper()
	if e := wantStatus(t, err, status, needle); !strings.Contains(e.Message, needle) {
		t.Fatalf("want %q in the message, got %q", needle, e.Message)
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, cryptChunk, 2*cryptChunk + 3} {
		data := make([]byte, size)
		rand.Read(data)
		src, enc, out := filepath.Join(dir, "a.bin"), filepath.Join(dir, "a.bin.enc"), filepath.Join(dir, "a.out")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := EncryptFile(src, enc, testKey); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(enc)
		chunks := size/cryptChunk + 1
		if size > 0 && size%cryptChunk == 0 {
			chunks--
		}
		if !bytes.HasPrefix(raw, []byte("DMENC1\x00\x00")) || len(raw) != 32+size+17*chunks {
			t.Fatalf("size %d: ciphertext of %d bytes", size, len(raw))
		}
		if ok, err := IsEncryptedFile(enc); !ok || err != nil {
			t.Fatalf("IsEncryptedFile: %v %v", ok, err)
		}
		if err := DecryptFile(enc, out, testKey); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d: DecryptFile differs", size)
		}
		if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", st.Mode().Perm())
		}
		mem, err := DecryptToMemory(enc, testKey)
		if err != nil || !bytes.Equal(mem, data) {
			t.Fatalf("size %d: DecryptToMemory: %v", size, err)
		}
	}
}

func TestEncryptRefusesTampering(t *testing.T) {
	dir := t.TempDir()
	src, enc := filepath.Join(dir, "big.bin"), filepath.Join(dir, "big.enc")
	data := make([]byte, 2*cryptChunk+10)
	rand.Read(data)
	os.WriteFile(src, data, 0o644)
	if err := EncryptFile(src, enc, testKey); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(enc)
	boundary := 32 + cryptChunk + 17
	flipped := append([]byte(nil), good...)
	flipped[boundary+1] ^= 1
	cases := []struct {
		data   []byte
		key    []byte
		needle string
	}{
		{flipped, testKey, "chunk 2 at byte offset 65585 does not authenticate"},
		{good[:boundary], testKey, "truncated: the file ends after chunk 1"},
		{good[:boundary+50], testKey, "chunk 2"},
		{append(append([]byte(nil), good...), 'x'), testKey, "changed, cut or extended"},
		{good, otherKey, "the key is wrong"},
		{[]byte("text,label\nhi,1\n"), testKey, "not a dm-encrypted file"},
	}
	bad, out := filepath.Join(dir, "bad.enc"), filepath.Join(dir, "bad.out")
	for _, c := range cases {
		os.WriteFile(bad, c.data, 0o644)
		err := DecryptFile(bad, out, c.key)
		wantCryptError(t, err, StatusAuth, c.needle)
		if !errors.Is(err, authError) {
			t.Fatalf("errors.Is StatusAuth: %v", err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatal("a refused file left an output")
		}
		_, err = DecryptToMemory(bad, c.key)
		wantCryptError(t, err, StatusAuth, c.needle)
	}
}

func TestEncryptKeysAndBadArguments(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "k.hex")
	os.WriteFile(kf, []byte(hex.EncodeToString(testKey)+"\n"), 0o600)
	key, err := ReadKeyFile(kf)
	if err != nil || !bytes.Equal(key, testKey) {
		t.Fatalf("ReadKeyFile: %v", err)
	}
	os.WriteFile(kf, []byte("abcd"), 0o600)
	_, err = ReadKeyFile(kf)
	wantCryptError(t, err, StatusParse, "4 hex characters, not 64")
	_, err = ReadKeyFile(filepath.Join(dir, "none"))
	wantCryptError(t, err, StatusIO, "dm_read_key_file")
	src := filepath.Join(dir, "x.txt")
	os.WriteFile(src, []byte("x"), 0o644)
	wantCryptError(t, EncryptFile(src, filepath.Join(dir, "o"), testKey[:31]), StatusInvalidArgument,
		"the key is 31 bytes; expected 32")
	wantCryptError(t, DecryptFile(src, "a\x00b", testKey), StatusInvalidArgument, "NUL")
	_, err = DecryptToMemory(src, nil)
	wantCryptError(t, err, StatusInvalidArgument, "the key is 0 bytes")
	wantCryptError(t, EncryptFile(filepath.Join(dir, "missing"), filepath.Join(dir, "o"), testKey), StatusIO, "missing")
	if ok, err := IsEncryptedFile(src); ok || err != nil {
		t.Fatalf("plain file: %v %v", ok, err)
	}
	_, err = IsEncryptedFile(filepath.Join(dir, "missing"))
	wantCryptError(t, err, StatusIO, "No such file")
	_, err = IsEncryptedFile(dir)
	wantCryptError(t, err, StatusIO, "is a folder")
}

func TestEncryptedDatasetLoad(t *testing.T) {
	dir := t.TempDir()
	csvPath, jsonlPath := filepath.Join(dir, "d.csv"), filepath.Join(dir, "d.jsonl")
	os.WriteFile(csvPath, []byte("text,label\n\"hello, world\",pos\nbad day,neg\n"), 0o644)
	os.WriteFile(jsonlPath, []byte("{\"text\": \"hi\", \"label\": 1}\n{\"text\": \"no\", \"label\": 0}\n"), 0o644)
	for _, p := range []string{csvPath, jsonlPath} {
		if err := EncryptFile(p, p+".enc", testKey); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := LoadDataset(csvPath+".enc", &DatasetOptions{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 2 || ds.Text(0) != "hello, world" {
		t.Fatalf("CSV: %d rows, %q", ds.Len(), ds.Text(0))
	}
	ds.Close()
	ds, err = LoadDataset(jsonlPath+".enc", &DatasetOptions{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 2 || ds.Text(1) != "no" {
		t.Fatalf("JSONL: %d rows", ds.Len())
	}
	ds.Close()
	_, err = LoadDataset(csvPath+".enc", nil)
	wantCryptError(t, err, StatusInvalidArgument, "the file is encrypted")
	_, err = LoadDataset(csvPath+".enc", &DatasetOptions{Key: otherKey})
	wantCryptError(t, err, StatusAuth, "the key is wrong")
	_, err = LoadDataset(csvPath, &DatasetOptions{Key: testKey})
	wantCryptError(t, err, StatusAuth, "not a dm-encrypted file")
	_, err = LoadDataset(csvPath+".enc", &DatasetOptions{Key: []byte("short")})
	wantCryptError(t, err, StatusInvalidArgument, "DatasetOptions.Key: the key is 5 bytes")
}

// A model folder whose weights are model.safetensors.enc (ModelOptions.Key):
// the plain folder's logits exactly; without the key, with a wrong one.
func TestEncryptedModelLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(tinyDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	weights := filepath.Join(dir, "model.safetensors")
	if err := EncryptFile(weights, weights+".enc", testKey); err != nil {
		t.Fatal(err)
	}
	os.Remove(weights)
	texts := []string{"the boat was boring", "we enjoyed the garden"}
	logits := func(dir string, key []byte) [][]float32 {
		t.Helper()
		m, err := LoadModel(dir, &ModelOptions{Device: DeviceCPU, Threads: 1, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		p, err := m.Predict(texts, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p.Logits
	}
	plain, got := logits(tinyDir, nil), logits(dir, testKey)
	for i := range plain {
		for j := range plain[i] {
			if plain[i][j] != got[i][j] {
				t.Fatalf("logits[%d][%d]: %v decrypted, %v plain", i, j, got[i][j], plain[i][j])
			}
		}
	}
	_, err = LoadModel(dir, nil)
	wantCryptError(t, err, StatusInvalidArgument, "model.safetensors.enc is encrypted (dm encrypt): it needs its key")
	_, err = LoadModel(dir, &ModelOptions{Key: otherKey})
	wantCryptError(t, err, StatusAuth, "model.safetensors.enc")
	_, err = LoadModel(tinyDir, &ModelOptions{Key: testKey})
	wantCryptError(t, err, StatusAuth, "not encrypted")
	_, err = LoadModel(dir, &ModelOptions{Key: testKey[:5]})
	wantCryptError(t, err, StatusInvalidArgument, "ModelOptions.Key: the key is 5 bytes")
}
