// Package seal encrypts secrets at rest (signing keys, TOTP seeds) with
// AES-256-GCM under the master key.
//
// A sealed value is "v1." + keyID + "." + nonce||ciphertext (base64url), so a
// Sealer holding several master keys can open values sealed under any of
// them while sealing only under the first: that is how the master key is
// changed without downtime.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the master-key length in bytes (AES-256).
const KeySize = 32

// ErrOpen is returned for a value that cannot be opened: wrong master key,
// tampered bytes, or not a sealed value at all.
var ErrOpen = errors.New("seal: cannot open sealed value (wrong master key or corrupted data)")

type masterKey struct {
	id   string
	aead cipher.AEAD
}

// Sealer seals under its first key and opens under any of its keys.
type Sealer struct {
	keys []masterKey
}

// New returns a Sealer. keys[0] seals; every key opens. Each key must be
// exactly KeySize bytes.
func New(keys ...[]byte) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no master key")
	}
	s := &Sealer{}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("seal: master key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, masterKey{id: KeyID(k), aead: aead})
	}
	return s, nil
}

// KeyID names a master key without revealing it: the first 8 hex digits of
// SHA-256 over a fixed label and the key.
func KeyID(k []byte) string {
	h := sha256.Sum256(append([]byte("gongpai-master-key-id\x00"), k...))
	return hex.EncodeToString(h[:4])
}

// SealingKeyID is the ID of the key new values are sealed under.
func (s *Sealer) SealingKeyID() string { return s.keys[0].id }

// Seal encrypts plaintext. aad binds the value to its context (for
// example the kid or the employee sub), so a sealed value copied onto
// another record does not open.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	k := s.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	ct := k.aead.Seal(nonce, nonce, plaintext, aad)
	return []byte("v1." + k.id + "." + base64.RawURLEncoding.EncodeToString(ct)), nil
}

// Open decrypts a value made by Seal under any of the Sealer's keys.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	parts := strings.SplitN(string(sealed), ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return nil, ErrOpen
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, ErrOpen
	}
	for _, k := range s.keys {
		if k.id != parts[1] {
			continue
		}
		if len(raw) < k.aead.NonceSize() {
			return nil, ErrOpen
		}
		pt, err := k.aead.Open(nil, raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():], aad)
		if err != nil {
			return nil, ErrOpen
		}
		return pt, nil
	}
	return nil, ErrOpen
}

// SealedUnder reports the master-key ID a value was sealed under, "" if it
// is not a sealed value.
func SealedUnder(sealed []byte) string {
	parts := strings.SplitN(string(sealed), ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return ""
	}
	return parts[1]
}

// WithSealingKey returns a Sealer that seals under key and opens under key
// and every key of s: what re-sealing with a new master key needs.
func (s *Sealer) WithSealingKey(key []byte) (*Sealer, error) {
	n, err := New(key)
	if err != nil {
		return nil, err
	}
	for _, k := range s.keys {
		if k.id != n.keys[0].id {
			n.keys = append(n.keys, k)
		}
	}
	return n, nil
}
