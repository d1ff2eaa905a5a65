package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// memStore is the three methods keys.Store needs, in memory, with the
// version compare-and-swap the real backends implement.
type memStore struct {
	mu     sync.Mutex
	keys   []storage.SigningKey
	events []storage.KeyEvent
}

func (s *memStore) RecordKeyEvent(_ context.Context, ev *storage.KeyEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev.Seq = int64(len(s.events) + 1)
	s.events = append(s.events, *ev)
	return nil
}

func (s *memStore) CreateSigningKey(_ context.Context, k *storage.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.keys {
		if e.ID == k.ID {
			return storage.ErrConflict
		}
	}
	k.Version = 1
	s.keys = append(s.keys, *k)
	return nil
}

func (s *memStore) ListSigningKeys(context.Context) ([]storage.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys), nil
}

func (s *memStore) UpdateSigningKey(_ context.Context, k *storage.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.keys {
		if e.ID == k.ID {
			if e.Version != k.Version {
				return storage.ErrConflict
			}
			k.Version++
			s.keys[i] = *k
			return nil
		}
	}
	return storage.ErrNotFound
}

func newSealer(t *testing.T) *seal.Sealer {
	t.Helper()
	k := make([]byte, seal.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGenerateSealLoadRoundTrip(t *testing.T) {
	tests := []struct {
		alg     string
		keyType string
	}{
		{keys.RS256, "*rsa.PrivateKey"},
		{keys.ES256, "*ecdsa.PrivateKey"},
		{keys.EdDSA, "ed25519.PrivateKey"},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			ctx := context.Background()
			store := &memStore{}
			sealer := newSealer(t)

			m1 := keys.NewManager(store, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{tt.alg}}})
			if err := m1.Load(ctx); err != nil {
				t.Fatalf("first Load: %v", err)
			}
			kid, alg, key := m1.Active()
			if kid == "" || alg != tt.alg || key == nil {
				t.Fatalf("Active() = %q, %q, %v; want a %s key", kid, alg, key, tt.alg)
			}
			if got := typeName(key); got != tt.keyType {
				t.Errorf("signer type = %s, want %s", got, tt.keyType)
			}
			if len(store.keys) != 1 {
				t.Fatalf("stored %d keys, want 1", len(store.keys))
			}
			stored := store.keys[0]
			if stored.State != storage.KeyActive || stored.ID != kid || stored.Algorithm != tt.alg {
				t.Errorf("stored key = %s/%s/%s, want %s/active/%s", stored.ID, stored.State, stored.Algorithm, kid, tt.alg)
			}
			if len(kid) < 22 || strings.ContainsAny(kid, ":/+=") {
				t.Errorf("kid %q is not 128-bit base64url", kid)
			}

			// The stored private half is sealed: it must never contain the
			// PKCS#8 DER, nor any long run of it.
			der, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(stored.PrivateKey, der) || bytes.Contains(stored.PrivateKey, der[len(der)-32:]) {
				t.Fatal("sealed private key contains the PKCS#8 DER")
			}
			if _, err := x509.ParsePKCS8PrivateKey(stored.PrivateKey); err == nil {
				t.Fatal("stored private key parses as PKCS#8: it is not sealed")
			}
			opened, err := sealer.Open(stored.PrivateKey, []byte(kid))
			if err != nil || !bytes.Equal(opened, der) {
				t.Fatalf("Open(sealed, kid) = %v; want the PKCS#8 DER", err)
			}

			// A second manager (another replica, or a restart) loads the same
			// key and generates nothing.
			m2 := keys.NewManager(store, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{tt.alg}}})
			if err := m2.Load(ctx); err != nil {
				t.Fatalf("second Load: %v", err)
			}
			kid2, _, key2 := m2.Active()
			if kid2 != kid || len(store.keys) != 1 {
				t.Fatalf("reload chose %q with %d stored keys; want %q and 1", kid2, len(store.keys), kid)
			}

			// What m2 signs verifies with what m1 publishes.
			pub := m1.Published()
			if len(pub) != 1 || pub[0].KeyID != kid || pub[0].Algorithm != tt.alg || pub[0].Use != "sig" || !pub[0].IsPublic() {
				t.Fatalf("Published() = %+v", pub)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: key2, KeyID: kid2}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			jws, err := signer.Sign([]byte("payload"))
			if err != nil {
				t.Fatal(err)
			}
			compact, _ := jws.CompactSerialize()
			parsed, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tt.alg)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parsed.Verify(pub[0]); err != nil {
				t.Fatalf("verify with published key: %v", err)
			}
			if got := m1.Algorithms(); !slices.Equal(got, []string{tt.alg}) {
				t.Errorf("Algorithms() = %v, want [%s]", got, tt.alg)
			}
		})
	}
}

func TestLoadWrongMasterKey(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	if err := keys.NewManager(store, newSealer(t), keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256}}}).Load(ctx); err != nil {
		t.Fatal(err)
	}
	m := keys.NewManager(store, newSealer(t), keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256}}})
	err := m.Load(ctx)
	if err == nil {
		t.Fatal("Load with the wrong master key succeeded")
	}
	if !errors.Is(err, seal.ErrOpen) || !strings.Contains(err.Error(), "master key") {
		t.Errorf("error = %q; want a seal.ErrOpen that names the master key", err)
	}
	if len(store.keys) != 1 {
		t.Errorf("a wrong master key led to %d stored keys; it must not generate a replacement", len(store.keys))
	}
	if kid, _, key := m.Active(); kid != "" || key != nil {
		t.Errorf("Active() after a failed Load = %q, %v; want nothing", kid, key)
	}
}

func TestActiveSelection(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	sealer := newSealer(t)

	// mk builds stored keys through a manager whose clock is at, so the
	// key material is real and sealed.
	mk := func(t *testing.T, state storage.KeyState, activates time.Time) storage.SigningKey {
		t.Helper()
		s := &memStore{}
		m := keys.NewManager(s, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256}}, Now: func() time.Time { return activates }})
		if err := m.Load(ctx); err != nil {
			t.Fatal(err)
		}
		k := s.keys[0]
		k.State = state
		return k
	}
	old := mk(t, storage.KeyActive, now.Add(-48*time.Hour))
	cur := mk(t, storage.KeyActive, now.Add(-time.Hour))
	next := mk(t, storage.KeyNext, now.Add(time.Hour))
	due := mk(t, storage.KeyNext, now.Add(-time.Minute))
	retired := mk(t, storage.KeyRetired, now.Add(-72*time.Hour))
	retired.RetiresAt = now.Add(-time.Hour) // within the retention: still published
	revoked := mk(t, storage.KeyRevoked, now.Add(-30*time.Minute))

	tests := []struct {
		name       string
		keys       []storage.SigningKey
		wantActive string
		wantPub    []string
	}{
		{"newest active wins", []storage.SigningKey{old, cur}, cur.ID, []string{cur.ID, old.ID}},
		{"next not yet due only published", []storage.SigningKey{cur, next}, cur.ID, []string{next.ID, cur.ID}},
		{"next that is due signs", []storage.SigningKey{cur, due, next}, due.ID, []string{next.ID, due.ID, cur.ID}},
		{"retired published, never signs", []storage.SigningKey{retired, cur}, cur.ID, []string{cur.ID, retired.ID}},
		{"revoked neither", []storage.SigningKey{cur, revoked}, cur.ID, []string{cur.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &memStore{keys: slices.Clone(tt.keys)}
			m := keys.NewManager(s, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256}}, Now: func() time.Time { return now }})
			if err := m.Load(ctx); err != nil {
				t.Fatal(err)
			}
			if kid, _, _ := m.Active(); kid != tt.wantActive {
				t.Errorf("Active() kid = %s, want %s", kid, tt.wantActive)
			}
			var got []string
			for _, k := range m.Published() {
				got = append(got, k.KeyID)
			}
			if !slices.Equal(got, tt.wantPub) {
				t.Errorf("Published() kids = %v, want %v", got, tt.wantPub)
			}
			if len(s.keys) != len(tt.keys) {
				t.Errorf("Load generated a key although one could sign")
			}
			// The state the snapshot implies is written back: the signer
			// is active, older active keys are retired.
			for _, k := range s.keys {
				if k.ID == tt.wantActive && k.State != storage.KeyActive {
					t.Errorf("signing key %s left in state %s", k.ID, k.State)
				}
				if k.ID != tt.wantActive && k.State == storage.KeyActive {
					t.Errorf("key %s still active beside the signer", k.ID)
				}
			}
		})
	}
}

func TestLoadGeneratesWhenOnlyFutureKeys(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	sealer := newSealer(t)
	s := &memStore{}
	future := keys.NewManager(s, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{keys.EdDSA}}, Now: func() time.Time { return now.Add(time.Hour) }})
	if err := future.Load(ctx); err != nil {
		t.Fatal(err)
	}
	s.keys[0].State = storage.KeyNext

	m := keys.NewManager(s, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{keys.EdDSA}}, Now: func() time.Time { return now }})
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	kid, _, _ := m.Active()
	if kid == s.keys[0].ID || len(s.keys) != 2 {
		t.Fatalf("with only a future key, Load chose %s among %d keys; want a freshly generated one", kid, len(s.keys))
	}
	if len(m.Published()) != 2 {
		t.Errorf("the future key must stay published")
	}
}

func TestUnsupportedAlgorithm(t *testing.T) {
	m := keys.NewManager(&memStore{}, newSealer(t), keys.Options{Policy: keys.Policy{Algorithms: []string{"HS256"}}})
	if err := m.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "HS256") {
		t.Fatalf("Load with HS256 = %v; want an error naming it", err)
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
