package simulcast

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFileName is the file in the data directory holding the 32-byte key
// that seals destination stream keys. Every node of a cluster needs the
// same file (copy it, or give --simulcast-key).
const KeyFileName = "simulcast.key"

// sealer encrypts and decrypts stream keys with AES-256-GCM.
type sealer struct{ aead cipher.AEAD }

// loadKey reads the key file in dir, creating it (0600) with a random key
// on the first start.
func loadKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFileName)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate simulcast key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) { // another process made it first
			return loadKey(dir)
		}
		if err != nil {
			return nil, fmt.Errorf("create simulcast key file: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("write simulcast key file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("write simulcast key file: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read simulcast key file: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("simulcast key file %s: %d bytes, want 32", path, len(key))
	}
	return key, nil
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("simulcast key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("simulcast key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("simulcast key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts plain; the destination id is bound in as associated data,
// so a ciphertext copied onto another row does not open.
func (s *sealer) seal(plain string, ad []byte) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal stream key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), ad)), nil
}

func (s *sealer) open(sealed string, ad []byte) (string, error) {
	if sealed == "" {
		return "", nil
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", errors.New("open stream key: malformed")
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], ad)
	if err != nil {
		return "", errors.New("open stream key: wrong simulcast key file (every node needs the same one)")
	}
	return string(plain), nil
}

// mask shows the last four characters of a key only.
func mask(hint string) string {
	if hint == "" {
		return ""
	}
	return "••••" + hint
}

// hintOf is what of a key is kept in clear: its last four characters, none
// of a key shorter than 8 (too much of it).
func hintOf(key string) string {
	r := []rune(key)
	if len(r) < 8 {
		return ""
	}
	return string(r[len(r)-4:])
}
