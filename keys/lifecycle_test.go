package keys_test

import (
	"context"
	crand "crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// clock is a fake time source tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func sign(t *testing.T, m *keys.Manager, alg string, payload string) (string, string) {
	t.Helper()
	kid, a, key := m.Signer(alg)
	if key == nil {
		t.Fatal("no signer")
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(a), Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return compact, kid
}

// verify checks a compact JWS against a key set as a relying party does:
// by kid.
func verify(compact string, set []jose.JSONWebKey) error {
	jws, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return err
	}
	kid := jws.Signatures[0].Header.KeyID
	for _, k := range set {
		if k.KeyID == kid {
			_, err := jws.Verify(k)
			return err
		}
	}
	return fmt.Errorf("kid %s not in the key set", kid)
}

func has(set []jose.JSONWebKey, kid string) bool {
	return slices.ContainsFunc(set, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
}

func kids(set []jose.JSONWebKey) []string {
	var out []string
	for _, k := range set {
		out = append(out, k.KeyID)
	}
	return out
}

// A year of rotations on a fake clock, with two algorithms: at every
// instant looked at, each algorithm's signer is published; every token
// signed within its lifetime plus the JWKS max-age verifies against what
// is published; a relying party whose cached JWKS is up to max-age old
// verifies every fresh token (pre-publication works); and each key was
// published at least the pre-publication window before it signed.
func TestYearOfRotations(t *testing.T) {
	const (
		step     = 6 * time.Hour
		tokenTTL = time.Hour
	)
	policy := keys.Policy{
		Algorithms:     []string{keys.ES256, keys.EdDSA},
		RotationPeriod: 30 * 24 * time.Hour,
		PrePublication: 24 * time.Hour,
		JWKSMaxAge:     step, // the relying party below refreshes once per step
		Retention:      tokenTTL + step,
	}
	if err := policy.Validate(tokenTTL); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := newClock()
	store := &memStore{}
	m := keys.NewManager(store, newSealer(t), keys.Options{Policy: policy, Now: c.Now})
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}

	type token struct {
		compact, kid string
		at           time.Time
	}
	var (
		tokens    []token
		firstSeen = map[string]time.Time{}
		signedBy  = map[string]bool{}
		rpCache   = m.Published() // a relying party's cached JWKS
		rng       = rand.New(rand.NewPCG(1, 2))
		start     = c.Now()
	)
	for c.Now().Before(start.Add(365 * 24 * time.Hour)) {
		c.Advance(step)
		if err := m.Tick(ctx); err != nil {
			t.Fatalf("%s: Tick: %v", c.Now(), err)
		}
		// Also look between polls: time alone moves activation.
		// Look at the step's start, a random instant in it, and either side
		// of every activation in it (time alone moves activation, between
		// polls); sign at all but the start.
		base := c.Now()
		instants := []time.Time{base, base.Add(time.Duration(rng.Int64N(int64(step))))}
		activating := map[time.Time]keys.KeyView{}
		for _, v := range m.Keys() {
			if v.State == storage.KeyNext && v.ActivatesAt.Before(base.Add(step)) {
				instants = append(instants, v.ActivatesAt.Add(-time.Nanosecond), v.ActivatesAt)
				activating[v.ActivatesAt] = v
			}
		}
		slices.SortFunc(instants, time.Time.Compare)
		for i, at := range instants {
			c.Set(at)
			pub := m.Published()
			for _, k := range pub {
				if _, ok := firstSeen[k.KeyID]; !ok {
					firstSeen[k.KeyID] = at
				}
			}
			if v, ok := activating[at]; ok {
				if kid, _, _ := m.Signer(v.Algorithm); kid != v.KID {
					t.Fatalf("%s: %s signs at the activation instant of %s", at, kid, v.KID)
				}
			}
			for _, alg := range policy.Algorithms {
				kid, a, _ := m.Signer(alg)
				if a != alg || !has(pub, kid) {
					t.Fatalf("%s: %s signer %s (%s) not published: %v", at, alg, kid, a, kids(pub))
				}
				if !signedBy[kid] {
					signedBy[kid] = true
					if first := firstSeen[kid]; at.Sub(first) < policy.PrePublication && len(signedBy) > len(policy.Algorithms) {
						t.Errorf("%s: key %s signs %s after it was first published; want at least %s", at, kid, at.Sub(first), policy.PrePublication)
					}
				}
				if i == 0 {
					continue
				}
				compact, kid := sign(t, m, alg, at.String())
				if err := verify(compact, rpCache); err != nil {
					t.Fatalf("%s: a relying party with a JWKS cached for at most %s cannot verify a fresh token: %v", at, policy.JWKSMaxAge, err)
				}
				tokens = append(tokens, token{compact, kid, at})
			}
		}
		now := c.Now()
		pub := m.Published()
		keep := tokens[:0]
		checked := map[string]bool{}
		for _, tok := range tokens {
			if now.Sub(tok.at) > tokenTTL+policy.JWKSMaxAge {
				continue // expired, and every cache has moved on
			}
			if !has(pub, tok.kid) {
				t.Fatalf("%s: token signed at %s by %s: key no longer published (%v)", now, tok.at, tok.kid, kids(pub))
			}
			if checked[tok.kid] {
				continue // one full verification per key and step is enough: the signature cannot change
			}
			checked[tok.kid] = true
			if err := verify(tok.compact, pub); err != nil {
				t.Fatalf("%s: token signed at %s by %s no longer verifies: %v (published %v)", now, tok.at, tok.kid, err, kids(pub))
			}
			keep = append(keep, tok)
		}
		tokens = keep
		rpCache = pub
	}

	// Twelve-odd rotations per algorithm happened, and old keys left the
	// JWKS (their private halves wiped).
	if n := len(signedBy); n < 2*12 {
		t.Errorf("%d keys signed in a year; want at least 24 (12 per algorithm)", n)
	}
	if n := len(m.Published()); n > 2*len(policy.Algorithms) {
		t.Errorf("%d keys still published at the end; want at most 2 per algorithm", n)
	}
	removed := 0
	for _, k := range store.keys {
		if k.State == storage.KeyRemoved {
			removed++
			if len(k.PrivateKey) != 0 {
				t.Errorf("removed key %s keeps its private half", k.ID)
			}
		}
	}
	if removed < 20 {
		t.Errorf("%d keys removed; want about 22", removed)
	}
	if len(store.events) == 0 {
		t.Error("no key events recorded")
	}
	for _, ev := range store.events {
		if ev.Actor != keys.SystemActor || ev.Reason == "" || ev.At.IsZero() {
			t.Errorf("event %+v: want the system actor, a reason and a time", ev)
		}
	}
}

func openSQLite(t *testing.T, now func() time.Time) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "keys.db"), sqlite.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Managers racing over one sqlite store (replicas, or the job and the
// CLI) publish exactly one next key, and record its creation once.
func TestConcurrentRotationMakesOneKey(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	store := openSQLite(t, c.Now)
	sealer := newSealer(t)
	policy := keys.Policy{Algorithms: []string{keys.ES256}}
	newM := func() *keys.Manager { return keys.NewManager(store, sealer, keys.Options{Policy: policy, Now: c.Now}) }
	if err := newM().Load(ctx); err != nil {
		t.Fatal(err)
	}
	c.Advance(keys.DefaultRotationPeriod + time.Hour) // well past due: a next key must be published

	const n = 8
	ms := make([]*keys.Manager, n)
	for i := range ms {
		ms[i] = newM()
		if err := ms[i].Refresh(ctx); err != nil { // every one sees the same, pre-rotation rows
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, m := range ms {
		wg.Go(func() { errs[i] = m.Tick(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("manager %d: Tick: %v", i, err)
		}
	}
	rows, err := store.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("after %d racing Ticks: %d keys stored, want 2 (the active one and one next)", n, len(rows))
	}
	evs, err := store.ListKeyEvents(ctx, rows[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Action != keys.ActionCreated {
		t.Errorf("events of the new key: %+v; want one creation", evs)
	}

	// Two operators asking for a routine rotation at once: one gets the
	// key, the other is told one is already waiting.
	c.Advance(48 * time.Hour) // the next key is active now; its successor is not due
	for _, m := range ms {
		if err := m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var rot [2]error
	for i := range rot {
		wg.Go(func() { _, rot[i] = ms[i].Rotate(ctx, keys.RotateOptions{Actor: "cli:test", Reason: "race"}) })
	}
	wg.Wait()
	ok, pending := 0, 0
	for _, err := range rot {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, keys.ErrNextPending):
			pending++
		default:
			t.Errorf("Rotate: %v", err)
		}
	}
	if ok != 1 || pending != 1 {
		t.Errorf("two concurrent rotations: %d succeeded, %d told a key is pending; want 1 and 1 (%v)", ok, pending, rot)
	}
	rows, _ = store.ListSigningKeys(ctx)
	if len(rows) != 3 {
		t.Errorf("%d keys stored; want 3", len(rows))
	}
}

func TestRotateNow(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	store := &memStore{}
	m := keys.NewManager(store, newSealer(t), keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256, keys.EdDSA}}, Now: c.Now})
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	first, _, _ := m.Active()

	// Routine: a next key, active after the pre-publication window.
	next, err := m.Rotate(ctx, keys.RotateOptions{Actor: "cli:alice", Reason: "quarterly"})
	if err != nil {
		t.Fatal(err)
	}
	if next.State != storage.KeyNext || !next.ActivatesAt.Equal(c.Now().Add(keys.DefaultPrePublication)) || next.Algorithm != keys.ES256 {
		t.Fatalf("Rotate = %+v; want an ES256 next key activating after the pre-publication window", next)
	}
	if kid, _, _ := m.Active(); kid != first || !has(m.Published(), next.KID) {
		t.Fatalf("after a routine rotation the signer changed or the next key is not published")
	}
	if _, err := m.Rotate(ctx, keys.RotateOptions{Actor: "cli:alice"}); !errors.Is(err, keys.ErrNextPending) || !strings.Contains(err.Error(), next.KID) {
		t.Errorf("second routine rotation: %v; want ErrNextPending naming %s", err, next.KID)
	}

	// Emergency: the pending next key (published for a while) activates now.
	c.Advance(time.Hour)
	now, err := m.Rotate(ctx, keys.RotateOptions{Now: true, Actor: "cli:alice", Reason: "suspected leak"})
	if err != nil {
		t.Fatal(err)
	}
	if now.KID != next.KID || now.State != storage.KeyActive || !now.ActivatesAt.Equal(c.Now()) {
		t.Fatalf("Rotate(--now) = %+v; want %s active from now", now, next.KID)
	}
	if kid, _, _ := m.Active(); kid != next.KID {
		t.Fatalf("signer %s after --now; want %s", kid, next.KID)
	}
	// With no next key waiting, --now makes a new one.
	c.Advance(time.Minute)
	fresh, err := m.Rotate(ctx, keys.RotateOptions{Now: true, Algorithm: keys.EdDSA, Actor: "cli:alice", Reason: "drill"})
	if err != nil {
		t.Fatal(err)
	}
	if kid, alg, _ := m.Signer(keys.EdDSA); kid != fresh.KID || alg != keys.EdDSA {
		t.Fatalf("EdDSA signer %s; want the fresh %s", kid, fresh.KID)
	}
	if _, err := m.Rotate(ctx, keys.RotateOptions{Algorithm: keys.RS256}); !errors.Is(err, keys.ErrAlgorithmNotConfigured) {
		t.Errorf("rotating an algorithm outside the policy: %v; want ErrAlgorithmNotConfigured", err)
	}
	// The superseded key is retired and still published.
	for _, v := range m.Keys() {
		if v.KID == first && (v.State != storage.KeyRetired || !has(m.Published(), first)) {
			t.Errorf("the first key is %s; want retired and published", v.State)
		}
	}
	var actions []string
	for _, ev := range store.events {
		if ev.Actor == "cli:alice" {
			actions = append(actions, ev.Action+" "+strings.Fields(ev.Reason)[0])
		}
	}
	if want := []string{"created quarterly:", "activated suspected", "created drill:"}; !slices.Equal(actions, want) {
		t.Errorf("operator events %q; want %q", actions, want)
	}
}

func TestRevoke(t *testing.T) {
	tests := []struct {
		name        string
		pendingNext bool
	}{
		{"pending next key takes over", true},
		{"new key takes over", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			store := &memStore{}
			sealer := newSealer(t)
			m := keys.NewManager(store, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256}}, Now: c.Now})
			if err := m.Load(ctx); err != nil {
				t.Fatal(err)
			}
			var next keys.KeyView
			if tt.pendingNext {
				var err error
				if next, err = m.Rotate(ctx, keys.RotateOptions{Actor: "cli:bob"}); err != nil {
					t.Fatal(err)
				}
			}
			c.Advance(time.Minute)
			old, _, _ := m.Active()
			token, _ := sign(t, m, "", "before")

			if _, err := m.Revoke(ctx, old, "cli:bob", "  "); !errors.Is(err, keys.ErrReasonRequired) {
				t.Fatalf("Revoke without a reason: %v", err)
			}
			if _, err := m.Revoke(ctx, "no-such-kid", "cli:bob", "x"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Revoke of an unknown kid: %v", err)
			}
			res, err := m.Revoke(ctx, old, "cli:bob", "key file found on a laptop")
			if err != nil {
				t.Fatal(err)
			}
			if res.Revoked.State != storage.KeyRevoked || res.Replacement == nil || res.Replacement.State != storage.KeyActive {
				t.Fatalf("Revoke = %+v", res)
			}
			if tt.pendingNext && res.Replacement.KID != next.KID {
				t.Errorf("replacement %s; want the pending next key %s", res.Replacement.KID, next.KID)
			}
			kid, _, key := m.Active()
			if kid != res.Replacement.KID || key == nil {
				t.Fatalf("signer %s after revocation; want %s", kid, res.Replacement.KID)
			}
			if has(m.Published(), old) || has(m.VerificationKeys(ctx, old, false), old) || has(m.VerificationKeys(ctx, old, true), old) {
				t.Fatal("the revoked key is still published or trusted")
			}
			if err := verify(token, m.VerificationKeys(ctx, old, false)); err == nil {
				t.Fatal("a token signed by the revoked key still verifies")
			}
			if _, kid := sign(t, m, "", "after"); kid == old {
				t.Fatal("the revoked key still signs")
			}
			for _, k := range store.keys {
				if k.ID == old && (k.State != storage.KeyRevoked || len(k.PrivateKey) != 0) {
					t.Errorf("stored revoked key: state %s, %d private bytes; want revoked, wiped", k.State, len(k.PrivateKey))
				}
			}
			last := store.events[len(store.events)-1]
			if last.KID != old || last.Action != keys.ActionRevoked || last.Actor != "cli:bob" || last.Reason != "key file found on a laptop" {
				t.Errorf("last event %+v", last)
			}
			// Revoking again changes nothing; another replica drops the key
			// at its next read.
			n := len(store.events)
			if _, err := m.Revoke(ctx, old, "cli:bob", "again"); err != nil || len(store.events) != n {
				t.Errorf("second Revoke: %v, %d new events", err, len(store.events)-n)
			}
			other := keys.NewManager(store, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256}}, Now: c.Now})
			if err := other.Refresh(ctx); err != nil || has(other.Published(), old) {
				t.Errorf("another replica: %v, publishes revoked key: %v", err, has(other.Published(), old))
			}
		})
	}
}

// A key of another replica, unknown here, makes VerificationKeys re-read
// the store — but not more than once per interval.
func TestUnknownKIDReloads(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	store := &countingStore{memStore: &memStore{}}
	sealer := newSealer(t)
	policy := keys.Policy{Algorithms: []string{keys.ES256}}
	a := keys.NewManager(store, sealer, keys.Options{Policy: policy, Now: c.Now, UnknownKIDReloadInterval: time.Second})
	b := keys.NewManager(store, sealer, keys.Options{Policy: policy, Now: c.Now})
	if err := a.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	v, err := b.Rotate(ctx, keys.RotateOptions{Now: true, Actor: "cli:carol", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if has(a.Published(), v.KID) {
		t.Fatal("replica a knows the new key before any reload")
	}
	before := store.lists()
	if !has(a.VerificationKeys(ctx, v.KID, false), v.KID) {
		t.Fatal("unknown kid did not make replica a reload")
	}
	if kid, _, _ := a.Active(); kid != v.KID {
		t.Errorf("after the reload replica a signs with %s; want %s", kid, v.KID)
	}
	if store.lists() != before+1 {
		t.Errorf("%d reads for one unknown kid; want 1", store.lists()-before)
	}
	for range 10 {
		a.VerificationKeys(ctx, "forged-kid", false)
	}
	if store.lists() != before+1 {
		t.Errorf("ten forged kids within a second of the last reload: %d reads; want none", store.lists()-before-1)
	}
	c.Advance(2 * time.Second)
	a.VerificationKeys(ctx, "forged-kid", false)
	if store.lists() != before+2 {
		t.Errorf("a forged kid after the interval: no reload")
	}
}

type countingStore struct {
	*memStore
	mu sync.Mutex
	n  int
}

func (s *countingStore) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return s.memStore.ListSigningKeys(ctx)
}

func (s *countingStore) lists() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// An algorithm dropped from the policy retires at once, stays published
// for the retention, then goes.
func TestDroppedAlgorithm(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	store := &memStore{}
	sealer := newSealer(t)
	both := keys.NewManager(store, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256, keys.EdDSA}}, Now: c.Now})
	if err := both.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ed, _, _ := both.Signer(keys.EdDSA)
	esOnly := keys.NewManager(store, sealer, keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256}}, Now: c.Now})
	if err := esOnly.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if kid, alg, _ := esOnly.Signer(keys.EdDSA); alg != keys.ES256 || kid == ed {
		t.Errorf("Signer(EdDSA) after EdDSA left the policy = %s %s; want the ES256 default", kid, alg)
	}
	if !has(esOnly.Published(), ed) {
		t.Error("the retired EdDSA key left the JWKS at once; want it kept for the retention")
	}
	c.Advance(keys.DefaultRetention + time.Second)
	if err := esOnly.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if has(esOnly.Published(), ed) {
		t.Error("the EdDSA key is still published after its retention")
	}
	if !has(esOnly.VerificationKeys(ctx, ed, true), ed) {
		t.Error("a removed key should still check id_token_hints")
	}
}

// Re-sealing under a new master key: afterwards the new key alone opens
// every key, the old one alone opens none, and a second run has nothing to
// do.
func TestRewrap(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	store := &memStore{}
	oldKey, newKey := randomKey(t), randomKey(t)
	oldSealer, _ := seal.New(oldKey)
	policy := keys.Policy{Algorithms: []string{keys.ES256, keys.RS256}}
	m := keys.NewManager(store, oldSealer, keys.Options{Policy: policy, Now: c.Now})
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx, keys.RotateOptions{Actor: "cli:dave"}); err != nil {
		t.Fatal(err)
	}
	to, err := oldSealer.WithSealingKey(newKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.Rewrap(ctx, to, "cli:dave")
	if err != nil || n != 3 {
		t.Fatalf("Rewrap = %d, %v; want 3 keys", n, err)
	}
	for _, k := range store.keys {
		if got := seal.SealedUnder(k.PrivateKey); got != seal.KeyID(newKey) {
			t.Errorf("key %s sealed under %s after rewrap; want %s", k.ID, got, seal.KeyID(newKey))
		}
	}
	newOnly, _ := seal.New(newKey)
	if err := keys.NewManager(store, newOnly, keys.Options{Policy: policy, Now: c.Now}).Load(ctx); err != nil {
		t.Errorf("Load with only the new master key: %v", err)
	}
	if err := keys.NewManager(store, oldSealer, keys.Options{Policy: policy, Now: c.Now}).Refresh(ctx); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("Load with only the old master key: %v; want seal.ErrOpen", err)
	}
	if n, err := keys.NewManager(store, newOnly, keys.Options{Policy: policy, Now: c.Now}).Rewrap(ctx, newOnly, "cli:dave"); err != nil || n != 0 {
		t.Errorf("second Rewrap = %d, %v; want 0", n, err)
	}
	rewrapped := 0
	for _, ev := range store.events {
		if ev.Action == keys.ActionRewrapped && ev.Actor == "cli:dave" && strings.Contains(ev.Reason, seal.KeyID(newKey)) {
			rewrapped++
		}
	}
	if rewrapped != 3 {
		t.Errorf("%d rewrapped events; want 3", rewrapped)
	}
}

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, seal.KeySize)
	if _, err := crand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := keys.NewManager(&memStore{}, newSealer(t), keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256}}, Now: c.Now})
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx, keys.RotateOptions{Actor: "t"}); err != nil {
		t.Fatal(err)
	}
	c.Advance(2 * time.Hour)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range metric.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[name] = metric.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"gongpai_signing_key_active_age_seconds{alg=ES256}":    7200,
		"gongpai_signing_key_next_rotation_seconds{alg=ES256}": (keys.DefaultPrePublication - 2*time.Hour).Seconds(),
		"gongpai_signing_keys{state=active}":                   1,
		"gongpai_signing_keys{state=next}":                     1,
		"gongpai_signing_keys{state=retired}":                  0,
		"gongpai_signing_keys{state=removed}":                  0,
		"gongpai_signing_keys{state=revoked}":                  0,
	}
	if !maps.Equal(got, want) {
		t.Errorf("metrics\n got %v\nwant %v", got, want)
	}
}

// Run is the job's loop: it returns when its context ends.
func TestRunStops(t *testing.T) {
	m := keys.NewManager(&memStore{}, newSealer(t), keys.Options{Policy: keys.Policy{Algorithms: []string{keys.ES256}, PollInterval: time.Millisecond}})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		p      keys.Policy
		tokens time.Duration
		want   []string
	}{
		{"defaults", keys.Policy{}, time.Hour, nil},
		{"retention just enough", keys.Policy{Retention: 70 * time.Minute}, time.Hour, nil},
		{"retention short", keys.Policy{Retention: time.Hour}, time.Hour, []string{"keys.retention"}},
		{"pre-publication short", keys.Policy{PrePublication: 19 * time.Minute}, time.Hour, []string{"keys.pre_publication"}},
		{"everything wrong", keys.Policy{Algorithms: []string{"none"}, RSABits: 1024, RotationPeriod: time.Minute, PollInterval: time.Hour}, time.Hour,
			[]string{"keys.algorithms[0]", "keys.rsa_bits", "keys.rotation_period", "keys.poll_interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := tt.p.Validate(tt.tokens); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var pe *keys.PolicyError
					if !errors.As(e, &pe) {
						t.Fatalf("%v is not a PolicyError", e)
					}
					got = append(got, "keys."+pe.Field)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate: got %v, want %v", got, tt.want)
			}
		})
	}
}

// The private halves in the store are sealed PKCS#8, never plain.
func TestStoredKeysAreSealed(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	m := keys.NewManager(store, newSealer(t), keys.Options{Policy: keys.Policy{Algorithms: []string{keys.RS256, keys.ES256, keys.EdDSA}}})
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		kid, _, key := m.Signer(alg)
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range store.keys {
			if k.ID == kid && (strings.Contains(string(k.PrivateKey), string(der[len(der)-24:])) || seal.SealedUnder(k.PrivateKey) == "") {
				t.Errorf("%s key %s is not sealed", alg, kid)
			}
		}
	}
}

// staleStore answers the next ListSigningKeys with rows read earlier, as a
// replica whose read raced another's write sees them.
type staleStore struct {
	*memStore
	mu    sync.Mutex
	stale []storage.SigningKey
}

func (s *staleStore) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	s.mu.Lock()
	stale := s.stale
	s.stale = nil
	s.mu.Unlock()
	if stale != nil {
		return stale, nil
	}
	return s.memStore.ListSigningKeys(ctx)
}

// A replica deciding from a stale view derives the kid that already
// exists, so its insert fails and no second next key appears.
func TestStaleViewDoesNotDuplicate(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	mem := &memStore{}
	sealer := newSealer(t)
	policy := keys.Policy{Algorithms: []string{keys.ES256}}
	stale := &staleStore{memStore: mem}
	a := keys.NewManager(stale, sealer, keys.Options{Policy: policy, Now: c.Now})
	if err := a.Load(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := mem.ListSigningKeys(ctx)
	c.Advance(keys.DefaultRotationPeriod)
	b := keys.NewManager(mem, sealer, keys.Options{Policy: policy, Now: c.Now})
	if err := b.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if len(mem.keys) != 2 {
		t.Fatalf("replica b stored %d keys; want 2", len(mem.keys))
	}
	stale.mu.Lock()
	stale.stale = before
	stale.mu.Unlock()
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if len(mem.keys) != 2 {
		t.Errorf("replica a, deciding from a stale view, added a key: %d stored; want 2", len(mem.keys))
	}
}

// Adding an algorithm to a running deployment pre-publishes its first key;
// switching algorithms keeps the old one signing until the new one may.
func TestAlgorithmAddedAndSwitched(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	store := &memStore{}
	sealer := newSealer(t)
	withPolicy := func(algs ...string) *keys.Manager {
		return keys.NewManager(store, sealer, keys.Options{Policy: keys.Policy{Algorithms: algs}, Now: c.Now})
	}
	es := withPolicy(keys.ES256)
	if err := es.Load(ctx); err != nil {
		t.Fatal(err)
	}
	esKID, _, _ := es.Active()

	// ES256 → EdDSA: EdDSA's first key waits for the pre-publication
	// window; ES256 signs meanwhile and retires when EdDSA takes over.
	ed := withPolicy(keys.EdDSA)
	if err := ed.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ed.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if kid, alg, _ := ed.Signer(keys.EdDSA); kid != esKID || alg != keys.ES256 {
		t.Fatalf("right after the switch %s (%s) signs; want the ES256 key until EdDSA's is published long enough", kid, alg)
	}
	var next keys.KeyView
	for _, v := range ed.Keys() {
		if v.Algorithm == keys.EdDSA {
			next = v
		}
	}
	if next.State != storage.KeyNext || !next.ActivatesAt.Equal(c.Now().Add(keys.DefaultPrePublication)) || !has(ed.Published(), next.KID) {
		t.Fatalf("EdDSA's first key = %+v; want a published next key activating after the pre-publication window", next)
	}
	c.Advance(keys.DefaultPrePublication)
	if err := ed.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if kid, alg, _ := ed.Active(); kid != next.KID || alg != keys.EdDSA {
		t.Fatalf("after the window %s (%s) signs; want %s", kid, alg, next.KID)
	}
	for _, v := range ed.Keys() {
		if v.KID == esKID && (v.State != storage.KeyRetired || v.StoredState != storage.KeyRetired || !has(ed.Published(), esKID)) {
			t.Errorf("the ES256 key is %s (stored %s); want retired and still published", v.State, v.StoredState)
		}
	}
}
