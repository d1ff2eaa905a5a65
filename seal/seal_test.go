package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gongpai/gongpai/seal"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, seal.KeySize) }

func TestSealOpen(t *testing.T) {
	s, err := seal.New(key(1))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("JBSWY3DPEHPK3PXP")
	sealed, err := s.Seal(secret, []byte("totp:alice"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatalf("sealed value %q contains the plaintext", sealed)
	}
	if got := seal.SealedUnder(sealed); got != seal.KeyID(key(1)) {
		t.Errorf("SealedUnder = %q, want %q", got, seal.KeyID(key(1)))
	}
	again, _ := s.Seal(secret, []byte("totp:alice"))
	if bytes.Equal(sealed, again) {
		t.Errorf("two seals of one value are identical: the nonce is not random")
	}
	pt, err := s.Open(sealed, []byte("totp:alice"))
	if err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("Open = %q, %v; want the plaintext", pt, err)
	}

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-2] ^= 'A' ^ 'B'
	other, _ := seal.New(key(2))
	tests := []struct {
		name   string
		s      *seal.Sealer
		sealed []byte
		aad    string
	}{
		{"another record's aad", s, sealed, "totp:bob"},
		{"wrong master key", other, sealed, "totp:alice"},
		{"tampered", s, tampered, "totp:alice"},
		{"not sealed", s, []byte("plain text"), "totp:alice"},
		{"truncated", s, sealed[:8], "totp:alice"},
		{"empty", s, nil, "totp:alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.s.Open(tt.sealed, []byte(tt.aad)); !errors.Is(err, seal.ErrOpen) {
				t.Errorf("Open = %v, want ErrOpen", err)
			}
		})
	}
}

// TestKeyChange: during a master-key change the new key seals and both
// open, so nothing needs to stop.
func TestKeyChange(t *testing.T) {
	old, _ := seal.New(key(1))
	sealedOld, _ := old.Seal([]byte("k"), nil)
	both, err := seal.New(key(2), key(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := both.Open(sealedOld, nil); err != nil {
		t.Errorf("value sealed under the previous key does not open: %v", err)
	}
	sealedNew, _ := both.Seal([]byte("k"), nil)
	if seal.SealedUnder(sealedNew) != seal.KeyID(key(2)) {
		t.Errorf("new values must be sealed under the first key")
	}
	if _, err := old.Open(sealedNew, nil); err == nil {
		t.Errorf("the old key alone opened a value sealed under the new one")
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	for _, keys := range [][][]byte{nil, {make([]byte, 16)}, {key(1), make([]byte, 31)}} {
		if _, err := seal.New(keys...); err == nil {
			t.Errorf("New(%d keys, first %d bytes) accepted", len(keys), len(append(keys, nil)[0]))
		}
	}
}
