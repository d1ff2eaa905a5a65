package keys

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// Algorithms this package can generate and load.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// minRSABits is the floor for generated RSA keys; anything smaller is not
// acceptable for a token signer today.
const minRSABits = 2048

// ErrNoSigningKey is returned by Load when no key can sign (which only
// happens if generating one failed) and reported by callers that ask for a
// signer before Load succeeded.
var ErrNoSigningKey = errors.New("keys: no usable signing key")

// Store is the slice of storage.Durable the key manager needs.
type Store interface {
	CreateSigningKey(ctx context.Context, k *storage.SigningKey) error
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	// UpdateSigningKey is a compare-and-swap on Version (storage.ErrConflict
	// when another writer got there first).
	UpdateSigningKey(ctx context.Context, k *storage.SigningKey) error
}

// Options configures a Manager. Zero values pick the defaults.
type Options struct {
	Algorithm string // algorithm of generated keys: RS256 (default), ES256 or EdDSA
	RSABits   int    // RSA modulus size, default and minimum 2048
	Now       func() time.Time
	Logger    *slog.Logger
}

// Manager holds the key ring in memory. It is safe for concurrent use.
type Manager struct {
	store  Store
	sealer *seal.Sealer
	opts   Options
	log    *slog.Logger

	loadMu sync.Mutex // serialises Load, so one process never generates twice
	snap   atomic.Pointer[snapshot]
}

// snapshot is immutable once published through Manager.snap.
type snapshot struct {
	kid        string
	alg        string
	signer     crypto.Signer
	published  []jose.JSONWebKey
	algorithms []string
}

// NewManager returns a Manager; call Load before using it.
func NewManager(store Store, sealer *seal.Sealer, o Options) *Manager {
	if o.Algorithm == "" {
		o.Algorithm = RS256
	}
	if o.RSABits < minRSABits {
		o.RSABits = minRSABits
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{store: store, sealer: sealer, opts: o, log: log}
}

// Load reads every key, unseals the signing key once and publishes a new
// snapshot. When no key can sign yet it generates one (Options.Algorithm),
// stores it sealed as active from now, and reloads, so replicas racing to
// create the first key still converge on the same signer.
//
// A key that cannot be opened with the master key is a hard error, never a
// reason to generate a new key: a wrong master key must be noticed, not
// papered over.
func (m *Manager) Load(ctx context.Context) error {
	switch m.opts.Algorithm {
	case RS256, ES256, EdDSA:
	default:
		return fmt.Errorf("keys: unsupported algorithm %q (want RS256, ES256 or EdDSA)", m.opts.Algorithm)
	}
	if m.sealer == nil {
		return errors.New("keys: no sealer")
	}
	m.loadMu.Lock()
	defer m.loadMu.Unlock()

	for attempt := 0; attempt < 2; attempt++ {
		all, err := m.store.ListSigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("keys: list signing keys: %w", err)
		}
		now := m.opts.Now()
		snap, err := m.build(all, now)
		if err != nil {
			return err
		}
		if snap != nil {
			m.snap.Store(snap)
			m.syncStates(ctx, all, snap.kid, now)
			return nil
		}
		if attempt == 0 {
			k, err := m.generate(now)
			if err != nil {
				return err
			}
			if err := m.store.CreateSigningKey(ctx, k); err != nil {
				return fmt.Errorf("keys: store new signing key: %w", err)
			}
			m.log.InfoContext(ctx, "generated signing key", "kid", k.ID, "alg", k.Algorithm)
		}
	}
	return ErrNoSigningKey
}

// Active returns the signing key of the current snapshot, or a nil key when
// Load has not succeeded yet. key is *rsa.PrivateKey, *ecdsa.PrivateKey or
// ed25519.PrivateKey, the types go-jose signs with.
func (m *Manager) Active() (kid, alg string, key crypto.Signer) {
	s := m.snap.Load()
	if s == nil {
		return "", "", nil
	}
	return s.kid, s.alg, s.signer
}

// Published returns the public keys of every key in state next, active or
// retired: what relying parties may need to verify a token.
func (m *Manager) Published() []jose.JSONWebKey {
	s := m.snap.Load()
	if s == nil {
		return nil
	}
	return slices.Clone(s.published)
}

// Algorithms returns the distinct algorithms of the published keys, sorted.
func (m *Manager) Algorithms() []string {
	s := m.snap.Load()
	if s == nil {
		return nil
	}
	return slices.Clone(s.algorithms)
}

// build turns stored keys into a snapshot; nil (and no error) when no key
// can sign at now.
func (m *Manager) build(all []storage.SigningKey, now time.Time) (*snapshot, error) {
	var (
		published []jose.JSONWebKey
		algs      []string
		chosen    *storage.SigningKey
	)
	for i := range all {
		k := &all[i]
		switch k.State {
		case storage.KeyNext, storage.KeyActive, storage.KeyRetired:
		default:
			continue // revoked or unknown: never published
		}
		pub, err := parsePublic(k)
		if err != nil {
			// A corrupt public half is logged and skipped rather than
			// taking the whole issuer down; it can still not be chosen.
			m.log.Error("skipping unreadable signing key", "kid", k.ID, "err", err)
			continue
		}
		published = append(published, jose.JSONWebKey{Key: pub, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"})
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
		if k.State == storage.KeyRetired || k.ActivatesAt.After(now) {
			continue
		}
		if chosen == nil || newer(k, chosen) {
			chosen = k
		}
	}
	if chosen == nil {
		return nil, nil
	}
	signer, err := m.unseal(chosen)
	if err != nil {
		return nil, err
	}
	// Stable order for the JWKS, independent of storage order: newest
	// activation first (so the signer leads), then by kid.
	activates := make(map[string]time.Time, len(all))
	for _, k := range all {
		activates[k.ID] = k.ActivatesAt
	}
	slices.SortFunc(published, func(a, b jose.JSONWebKey) int {
		if c := activates[b.KeyID].Compare(activates[a.KeyID]); c != 0 {
			return c
		}
		return cmp.Compare(a.KeyID, b.KeyID)
	})
	slices.Sort(algs)
	return &snapshot{kid: chosen.ID, alg: chosen.Algorithm, signer: signer, published: published, algorithms: algs}, nil
}

// newer orders candidates for signing: later ActivatesAt wins; ties go to
// the later CreatedAt, then the larger kid, so every replica agrees.
func newer(a, b *storage.SigningKey) bool {
	if c := a.ActivatesAt.Compare(b.ActivatesAt); c != 0 {
		return c > 0
	}
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

// syncStates records in storage what the snapshot already implies: the
// chosen key is active and older active keys are retired. It is best effort:
// a lost compare-and-swap means another replica wrote the same facts.
func (m *Manager) syncStates(ctx context.Context, all []storage.SigningKey, activeKID string, now time.Time) {
	var active *storage.SigningKey
	for i := range all {
		if all[i].ID == activeKID {
			active = &all[i]
		}
	}
	for i := range all {
		k := all[i]
		switch {
		case k.ID == activeKID && k.State == storage.KeyNext:
			k.State = storage.KeyActive
		case k.ID != activeKID && k.State == storage.KeyActive && active != nil && newer(active, &k):
			k.State = storage.KeyRetired
			k.RetiresAt = now.UTC()
		default:
			continue
		}
		if err := m.store.UpdateSigningKey(ctx, &k); err != nil && !errors.Is(err, storage.ErrConflict) {
			m.log.WarnContext(ctx, "could not record signing key state", "kid", k.ID, "state", k.State, "err", err)
		}
	}
}

func (m *Manager) unseal(k *storage.SigningKey) (crypto.Signer, error) {
	der, err := m.sealer.Open(k.PrivateKey, []byte(k.ID))
	if err != nil {
		return nil, fmt.Errorf("keys: cannot unseal signing key %s (sealed under master key %q; is the configured master key the right one?): %w",
			k.ID, seal.SealedUnder(k.PrivateKey), err)
	}
	defer clear(der)
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: parse private key: %w", k.ID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok || !algorithmMatches(k.Algorithm, signer) {
		return nil, fmt.Errorf("keys: signing key %s: private key %T does not fit algorithm %s", k.ID, priv, k.Algorithm)
	}
	pub, err := parsePublic(k)
	if err != nil {
		return nil, err
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := signer.Public().(equaler); !ok || !e.Equal(pub) {
		return nil, fmt.Errorf("keys: signing key %s: private and public halves do not match", k.ID)
	}
	return signer, nil
}

func parsePublic(k *storage.SigningKey) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: parse public key: %w", k.ID, err)
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if k.Algorithm == RS256 {
			return p, nil
		}
	case *ecdsa.PublicKey:
		if k.Algorithm == ES256 && p.Curve == elliptic.P256() {
			return p, nil
		}
	case ed25519.PublicKey:
		if k.Algorithm == EdDSA {
			return p, nil
		}
	}
	return nil, fmt.Errorf("keys: signing key %s: public key %T does not fit algorithm %s", k.ID, pub, k.Algorithm)
}

func algorithmMatches(alg string, s crypto.Signer) bool {
	switch key := s.(type) {
	case *rsa.PrivateKey:
		return alg == RS256
	case *ecdsa.PrivateKey:
		return alg == ES256 && key.Curve == elliptic.P256()
	case ed25519.PrivateKey:
		return alg == EdDSA
	}
	return false
}

// generate makes a new key pair, active from now, with its private half
// sealed (aad = kid, so a sealed key copied onto another row does not open).
func (m *Manager) generate(now time.Time) (*storage.SigningKey, error) {
	kid, err := newKID()
	if err != nil {
		return nil, err
	}
	priv, err := newPrivateKey(m.opts.Algorithm, m.opts.RSABits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s key: %w", m.opts.Algorithm, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal private key: %w", err)
	}
	defer clear(der)
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("keys: marshal public key: %w", err)
	}
	sealed, err := m.sealer.Seal(der, []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("keys: seal private key: %w", err)
	}
	now = now.UTC()
	return &storage.SigningKey{
		ID:          kid,
		Algorithm:   m.opts.Algorithm,
		State:       storage.KeyActive,
		PrivateKey:  sealed,
		PublicKey:   pub,
		CreatedAt:   now,
		ActivatesAt: now,
	}, nil
}

func newPrivateKey(alg string, rsaBits int) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

// newKID is 128 random bits, base64url: opaque, URL-safe, unguessable.
func newKID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("keys: random kid: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
