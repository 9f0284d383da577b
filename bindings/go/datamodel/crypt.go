package datamodel

// Encrypted files, data at rest (datamodel.h, "Privacy: encrypted files"):
// dataset and model files encrypted with libsodium's
// crypto_secretstream_xchacha20poly1305 under a 32-byte key read from a key
// file (64 hex characters, as `dm keygen` writes it). LoadDataset reads an
// encrypted file given DatasetOptions.Key, decrypting it in memory only.
// A wrong key, a changed byte, a file cut short or extended, or a file that
// is not encrypted is an *Error with Status StatusAuth.

/*
#include <stdlib.h>
#include <string.h>
#include <datamodel.h>
*/
import "C"

import (
	"unsafe"
)

// KeySize is the size of an encryption key in bytes.
const KeySize = 32

// cKey copies key (KeySize bytes) into C memory; free it with freeKey, which
// wipes it.
func cKey(what string, key []byte) (*C.uint8_t, error) {
	if len(key) != KeySize {
		return nil, newError(StatusInvalidArgument, "%s: the key is %d bytes; expected %d", what, len(key), KeySize)
	}
	return (*C.uint8_t)(C.CBytes(key)), nil
}

func freeKey(k *C.uint8_t) {
	if k == nil {
		return
	}
	C.memset(unsafe.Pointer(k), 0, KeySize)
	C.free(unsafe.Pointer(k))
}

// twoPaths converts the input and output paths of EncryptFile and
// DecryptFile.
func twoPaths(in, out string) (*C.char, *C.char, error) {
	cin, err := cPath("input path", in)
	if err != nil {
		return nil, nil, err
	}
	cout, err := cPath("output path", out)
	if err != nil {
		C.free(unsafe.Pointer(cin))
		return nil, nil, err
	}
	return cin, cout, nil
}

// EncryptFile encrypts the file inPath into outPath (which may be inPath)
// under key, KeySize bytes (dm_encrypt_file): XChaCha20-Poly1305
// secretstream in 64 KiB chunks; the output is written beside outPath and
// renamed into place when complete.
func EncryptFile(inPath, outPath string, key []byte) error {
	return cryptFile("EncryptFile", inPath, outPath, key, true)
}

// DecryptFile decrypts inPath, written by EncryptFile or `dm encrypt`, into
// outPath, created with mode 0600 (dm_decrypt_file). Every chunk is
// authenticated: StatusAuth, with outPath not created, for a wrong key or a
// tampered, cut, extended or plain file.
func DecryptFile(inPath, outPath string, key []byte) error {
	return cryptFile("DecryptFile", inPath, outPath, key, false)
}

func cryptFile(what, inPath, outPath string, key []byte, encrypt bool) error {
	ck, err := cKey(what, key)
	if err != nil {
		return err
	}
	defer freeKey(ck)
	cin, cout, err := twoPaths(inPath, outPath)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cin))
	defer C.free(unsafe.Pointer(cout))
	return call(func() C.dm_status {
		if encrypt {
			return C.dm_encrypt_file(cin, cout, ck)
		}
		return C.dm_decrypt_file(cin, cout, ck)
	})
}

// DecryptToMemory returns the decrypted content of path, never written to
// disk (dm_decrypt_to_memory); errors as DecryptFile.
func DecryptToMemory(path string, key []byte) ([]byte, error) {
	ck, err := cKey("DecryptToMemory", key)
	if err != nil {
		return nil, err
	}
	defer freeKey(ck)
	cpath, err := cPath("path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	var out *C.uint8_t
	var n C.size_t
	if err := call(func() C.dm_status { return C.dm_decrypt_to_memory(cpath, ck, &out, &n) }); err != nil {
		return nil, err
	}
	data := C.GoBytes(unsafe.Pointer(out), C.int(n))
	C.memset(unsafe.Pointer(out), 0, n)
	C.dm_free(unsafe.Pointer(out))
	return data, nil
}

// ReadKeyFile reads the KeySize-byte key in the key file path: 64 hex
// characters, optionally followed by a newline, as `dm keygen` and `openssl
// rand -hex 32` write it (dm_read_key_file). StatusIO for an unreadable
// file, StatusParse for a malformed one (the message never shows the key).
func ReadKeyFile(path string) ([]byte, error) {
	cpath, err := cPath("key file path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	ck := (*C.uint8_t)(C.calloc(KeySize, 1))
	defer freeKey(ck)
	if err := call(func() C.dm_status { return C.dm_read_key_file(cpath, ck) }); err != nil {
		return nil, err
	}
	return C.GoBytes(unsafe.Pointer(ck), KeySize), nil
}

// IsEncryptedFile reports whether path starts with the header of a
// dm-encrypted file, "DMENC1" (dm_is_encrypted_file; nothing is
// authenticated). An unreadable path (missing, a folder) is an error.
func IsEncryptedFile(path string) (bool, error) {
	cpath, err := cPath("path", path)
	if err != nil {
		return false, err
	}
	defer C.free(unsafe.Pointer(cpath))
	var r C.int
	err = call(func() C.dm_status {
		r = C.dm_is_encrypted_file(cpath)
		if r < 0 {
			return C.DM_ERR_IO
		}
		return C.DM_OK
	})
	return r == 1, err
}
