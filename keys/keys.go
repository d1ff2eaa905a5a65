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
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
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
	RecordKeyEvent(ctx context.Context, ev *storage.KeyEvent) error
}

// Notifier is an optional capability of a Store: a backend that can push
// key-set changes between processes (postgres LISTEN/NOTIFY) lets every
// replica reload at once instead of at its next poll. A Manager calls
// NotifyKeysChanged after each of its writes and reloads whenever the
// channel of WatchKeys delivers. Polling stays on as the fallback.
type Notifier interface {
	NotifyKeysChanged(ctx context.Context) error
	// WatchKeys delivers a value each time another process changed the key
	// set, until ctx ends (then the channel is closed).
	WatchKeys(ctx context.Context) (<-chan struct{}, error)
}

// Locker is an optional capability of a Store shared by several replicas
// (postgres: pg_try_advisory_lock): the rotation job maintains the key set
// only while it holds the lock, so one replica does the work. Without it
// (sqlite: one serving process) every Manager maintains; compare-and-swap
// keeps that correct either way.
type Locker interface {
	// TryLock takes the named lock without waiting. ok is false when
	// another process holds it; release must be called when ok.
	TryLock(ctx context.Context, name string) (release func(), ok bool, err error)
}

// rotationLock names the Locker lock of the rotation job.
const rotationLock = "gongpai:keys:rotation"

// SystemActor is the actor of the changes the rotation job makes on its
// own (scheduled publication, activation, retirement, removal).
const SystemActor = "system:rotation"

// Options configures a Manager. Zero values pick the defaults.
type Options struct {
	Policy Policy
	Now    func() time.Time
	Logger *slog.Logger
	// UnknownKIDReloadInterval bounds how often a token carrying an unknown
	// kid makes the Manager re-read the store (default 1s), so a flood of
	// forged kids cannot turn into a flood of queries.
	UnknownKIDReloadInterval time.Duration
}

// Manager holds the key ring in memory and runs its lifecycle. It is safe
// for concurrent use.
type Manager struct {
	store  Store
	sealer *seal.Sealer
	policy Policy
	now    func() time.Time
	log    *slog.Logger

	// mu serialises reading the store, building snapshots and writing key
	// changes within this process; other processes are kept apart by
	// compare-and-swap.
	mu   sync.Mutex
	rows []storage.SigningKey // as last read; guarded by mu
	snap atomic.Pointer[snapshot]

	unknownMu         sync.Mutex
	unknownInterval   time.Duration
	lastUnknownReload time.Time
}

// KeyView is one key as the Manager sees it at an instant.
type KeyView struct {
	KID       string
	Algorithm string
	// State is the effective state at the snapshot's instant: a stored
	// next key whose activation time has passed is active, a superseded
	// active key is retired, a retired key past its retention is removed,
	// whatever the rows say until the rotation job records it.
	State       storage.KeyState
	StoredState storage.KeyState
	CreatedAt   time.Time
	ActivatesAt time.Time
	// RetiresAt is when the key stopped (retired, removed, revoked) or
	// will stop (active: its pending successor's activation, else the
	// rotation schedule) signing; zero for a next key.
	RetiresAt time.Time
	// RemovesAt is when a retired key leaves the JWKS; zero otherwise.
	RemovesAt time.Time
	// SealedUnder is the master-key ID the private half is sealed under,
	// "" once it is wiped (removed, revoked).
	SealedUnder string
}

// snapshot is immutable once published through Manager.snap.
type snapshot struct {
	nextChange time.Time // when time alone changes what this snapshot says; zero = never
	views      []KeyView // newest activation first
	signers    map[string]*signer
	def        *signer
	published  []jose.JSONWebKey
	hints      []jose.JSONWebKey // published plus removed: for id_token_hints
	algorithms []string
	jwks       []byte
	etag       string
}

type signer struct {
	kid, alg    string
	key         crypto.Signer
	sealed      []byte // what key was unsealed from, to reuse it across snapshots
	activatesAt time.Time
}

// NewManager returns a Manager; call Load (or Refresh, to only read)
// before using it.
func NewManager(store Store, sealer *seal.Sealer, o Options) *Manager {
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.UnknownKIDReloadInterval <= 0 {
		o.UnknownKIDReloadInterval = time.Second
	}
	return &Manager{
		store: store, sealer: sealer, policy: o.Policy.withDefaults(), now: o.Now, log: log,
		unknownInterval: o.UnknownKIDReloadInterval,
	}
}

// Policy returns the policy in force, defaults filled in.
func (m *Manager) Policy() Policy {
	p := m.policy
	p.Algorithms = slices.Clone(p.Algorithms)
	return p
}

func (m *Manager) check() error {
	for _, a := range m.policy.Algorithms {
		if !slices.Contains(supported, a) {
			return fmt.Errorf("keys: unsupported algorithm %q (want RS256, ES256 or EdDSA)", a)
		}
	}
	if m.sealer == nil {
		return errors.New("keys: no sealer")
	}
	return nil
}

// Load reads every key, unseals the signing keys once and publishes a new
// snapshot. When an algorithm of the policy has no key that can sign, it
// generates one, stores it sealed as active from now, and reloads, so
// replicas racing to create the first key still converge on the same
// signer. It then records the states the snapshot implies (best effort).
//
// A key that cannot be opened with the master key is a hard error, never a
// reason to generate a new key: a wrong master key must be noticed, not
// papered over.
func (m *Manager) Load(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refreshLocked(ctx); err != nil {
		return err
	}
	changed, err := m.ensureSigners(ctx)
	if err != nil {
		return err
	}
	if m.syncStates(ctx) || changed {
		m.notify(ctx)
		if err := m.refreshLocked(ctx); err != nil {
			return err
		}
	}
	if m.snap.Load().def == nil {
		return ErrNoSigningKey
	}
	return nil
}

// Refresh re-reads the store and publishes a new snapshot, writing
// nothing. Replicas call it on every poll; `gongpai keys list` uses it to
// read.
func (m *Manager) Refresh(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refreshLocked(ctx)
}

func (m *Manager) refreshLocked(ctx context.Context) error {
	rows, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	snap, err := m.build(rows, m.now(), m.snap.Load())
	if err != nil {
		return err
	}
	m.rows = rows
	m.snap.Store(snap)
	return nil
}

// current returns the snapshot, rebuilt from the rows already read when
// time alone has changed it (a next key's activation, a retired key's
// removal), so every replica switches at the same instant without waiting
// for its next poll. A rebuild in progress elsewhere is not waited for.
func (m *Manager) current() *snapshot {
	s := m.snap.Load()
	if s == nil || s.nextChange.IsZero() || m.now().Before(s.nextChange) {
		return s
	}
	if !m.mu.TryLock() {
		return s
	}
	defer m.mu.Unlock()
	if s = m.snap.Load(); s.nextChange.IsZero() || m.now().Before(s.nextChange) {
		return s
	}
	next, err := m.build(m.rows, m.now(), s)
	if err != nil {
		m.log.Error("rebuilding the signing-key snapshot failed; keeping the previous one", "err", err)
		return s
	}
	m.snap.Store(next)
	return next
}

// Signer returns the key that signs for a client asking for alg: the
// active key of that algorithm, or the default signer when there is none
// (or alg is ""). key is *rsa.PrivateKey, *ecdsa.PrivateKey or
// ed25519.PrivateKey, the types go-jose signs with; nil before Load.
func (m *Manager) Signer(alg string) (kid, algorithm string, key crypto.Signer) {
	s := m.current()
	if s == nil {
		return "", "", nil
	}
	sg := s.signers[alg]
	if sg == nil {
		sg = s.def
	}
	if sg == nil {
		return "", "", nil
	}
	return sg.kid, sg.alg, sg.key
}

// Active returns the default signing key (Signer("")).
func (m *Manager) Active() (kid, alg string, key crypto.Signer) { return m.Signer("") }

// Published returns the public keys of every key in effective state next,
// active or retired: what relying parties may need to verify a token.
func (m *Manager) Published() []jose.JSONWebKey {
	s := m.current()
	if s == nil {
		return nil
	}
	return slices.Clone(s.published)
}

// JWKS returns the JSON body of the published key set and its strong
// ETag (a hash of the body).
func (m *Manager) JWKS() (body []byte, etag string) {
	s := m.current()
	if s == nil {
		return []byte(`{"keys":[]}`), ""
	}
	return s.jwks, s.etag
}

// Algorithms returns the distinct algorithms that can sign now, sorted.
func (m *Manager) Algorithms() []string {
	s := m.current()
	if s == nil {
		return nil
	}
	return slices.Clone(s.algorithms)
}

// Keys returns every key with its effective state, newest activation
// first.
func (m *Manager) Keys() []KeyView {
	s := m.current()
	if s == nil {
		return nil
	}
	return slices.Clone(s.views)
}

// VerificationKeys returns the public keys a token of ours may be
// verified against: the published ones, and for id_token_hints (which
// relying parties send long after the token expired) removed ones too.
// Revoked keys are never among them. When kid is not among them the
// Manager re-reads the store first — another replica may have just
// activated it — at most once per UnknownKIDReloadInterval.
func (m *Manager) VerificationKeys(ctx context.Context, kid string, forHints bool) []jose.JSONWebKey {
	pick := func(s *snapshot) []jose.JSONWebKey {
		if s == nil {
			return nil
		}
		if forHints {
			return s.hints
		}
		return s.published
	}
	keys := pick(m.current())
	if kid == "" || slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid }) {
		return keys
	}
	if !m.reloadForUnknownKID(ctx, kid) {
		return keys
	}
	return pick(m.current())
}

func (m *Manager) reloadForUnknownKID(ctx context.Context, kid string) bool {
	m.unknownMu.Lock()
	now := m.now()
	if !m.lastUnknownReload.IsZero() && now.Sub(m.lastUnknownReload) < m.unknownInterval {
		m.unknownMu.Unlock()
		return false
	}
	m.lastUnknownReload = now
	m.unknownMu.Unlock()
	if err := m.Refresh(ctx); err != nil {
		m.log.WarnContext(ctx, "reload of signing keys for an unknown kid failed", "kid", kid, "err", err)
		return false
	}
	return true
}

// build turns stored keys into a snapshot at now, reusing the unsealed
// signers of prev.
func (m *Manager) build(rows []storage.SigningKey, now time.Time, prev *snapshot) (*snapshot, error) {
	s := &snapshot{signers: map[string]*signer{}}
	soon := func(t time.Time) {
		if t.After(now) && (s.nextChange.IsZero() || t.Before(s.nextChange)) {
			s.nextChange = t
		}
	}
	views := make(map[string]*KeyView, len(rows))
	chains := map[string][]*storage.SigningKey{}
	for i := range rows {
		k := &rows[i]
		v := &KeyView{
			KID: k.ID, Algorithm: k.Algorithm, State: k.State, StoredState: k.State,
			CreatedAt: k.CreatedAt, ActivatesAt: k.ActivatesAt, RetiresAt: k.RetiresAt,
			SealedUnder: seal.SealedUnder(k.PrivateKey),
		}
		views[k.ID] = v
		switch k.State {
		case storage.KeyNext, storage.KeyActive, storage.KeyRetired:
			chains[k.Algorithm] = append(chains[k.Algorithm], k)
		}
	}

	// Per algorithm, oldest activation first. The signer is the newest key
	// whose activation has passed, unless that one was retired by hand; a
	// key it superseded retired when its successor activated.
	for alg, chain := range chains {
		slices.SortFunc(chain, compareAge)
		var sig *storage.SigningKey
		for _, k := range chain {
			if !k.ActivatesAt.After(now) {
				sig = k
			}
		}
		if sig != nil && sig.State == storage.KeyRetired {
			sig = nil
		}
		for i, k := range chain {
			v := views[k.ID]
			switch {
			case k.State == storage.KeyRetired:
				if v.RetiresAt.IsZero() {
					v.RetiresAt = k.ActivatesAt
				}
			case k == sig:
				v.State = storage.KeyActive
				v.RetiresAt = k.ActivatesAt.Add(m.policy.RotationPeriod)
			case k.ActivatesAt.After(now):
				v.State = storage.KeyNext
				soon(k.ActivatesAt)
			default:
				v.State = storage.KeyRetired
				for _, succ := range chain[i+1:] {
					if !succ.ActivatesAt.After(now) {
						v.RetiresAt = succ.ActivatesAt
						break
					}
				}
			}
			if v.State == storage.KeyRetired {
				v.RemovesAt = v.RetiresAt.Add(m.policy.Retention)
				if !now.Before(v.RemovesAt) {
					v.State = storage.KeyRemoved
				} else {
					soon(v.RemovesAt)
				}
			}
		}
		// An active key retires when its pending successor activates.
		if sig != nil {
			for _, k := range chain {
				if k.ActivatesAt.After(now) && k.State != storage.KeyRetired {
					views[sig.ID].RetiresAt = k.ActivatesAt
					break
				}
			}
		}
		if sig != nil {
			sg, err := m.signerFor(sig, prev)
			if err != nil {
				return nil, err
			}
			s.signers[alg] = sg
			s.algorithms = append(s.algorithms, alg)
		}
	}
	slices.Sort(s.algorithms)
	s.def = s.signers[m.policy.DefaultAlgorithm()]
	if s.def == nil {
		// No key of the default algorithm can sign (it was just changed
		// in the configuration): the newest signer stands in.
		for _, sg := range s.signers {
			if s.def == nil || sg.activatesAt.After(s.def.activatesAt) || (sg.activatesAt.Equal(s.def.activatesAt) && sg.kid > s.def.kid) {
				s.def = sg
			}
		}
	}

	s.views = make([]KeyView, 0, len(rows))
	for i := range rows {
		s.views = append(s.views, *views[rows[i].ID])
	}
	slices.SortFunc(s.views, func(a, b KeyView) int {
		if c := b.ActivatesAt.Compare(a.ActivatesAt); c != 0 {
			return c
		}
		return cmp.Compare(a.KID, b.KID)
	})
	byID := make(map[string]*storage.SigningKey, len(rows))
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	for _, v := range s.views {
		switch v.State {
		case storage.KeyNext, storage.KeyActive, storage.KeyRetired, storage.KeyRemoved:
		default:
			continue // revoked or unknown: never trusted again
		}
		pub, err := parsePublic(byID[v.KID])
		if err != nil {
			// A corrupt public half is logged and skipped rather than
			// taking the whole issuer down; it cannot sign either (its
			// private half would not match).
			m.log.Error("skipping unreadable signing key", "kid", v.KID, "err", err)
			continue
		}
		jwk := jose.JSONWebKey{Key: pub, KeyID: v.KID, Algorithm: v.Algorithm, Use: "sig"}
		s.hints = append(s.hints, jwk)
		if v.State != storage.KeyRemoved {
			s.published = append(s.published, jwk)
		}
	}
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: s.published})
	if err != nil {
		return nil, fmt.Errorf("keys: encode JWKS: %w", err)
	}
	if s.published == nil {
		body = []byte(`{"keys":[]}`)
	}
	sum := sha256.Sum256(body)
	s.jwks, s.etag = body, `"`+base64.RawURLEncoding.EncodeToString(sum[:18])+`"`
	return s, nil
}

// signerFor unseals k, or reuses prev's signer when k is unchanged.
func (m *Manager) signerFor(k *storage.SigningKey, prev *snapshot) (*signer, error) {
	if prev != nil {
		for _, sg := range prev.signers {
			if sg.kid == k.ID && slices.Equal(sg.sealed, k.PrivateKey) {
				cp := *sg
				cp.activatesAt = k.ActivatesAt
				return &cp, nil
			}
		}
	}
	key, err := m.unseal(k)
	if err != nil {
		return nil, err
	}
	return &signer{kid: k.ID, alg: k.Algorithm, key: key, sealed: slices.Clone(k.PrivateKey), activatesAt: k.ActivatesAt}, nil
}

// compareAge orders keys of one algorithm, older first: by ActivatesAt,
// ties by CreatedAt, then kid, so every replica agrees on the newest.
func compareAge(a, b *storage.SigningKey) int {
	if c := a.ActivatesAt.Compare(b.ActivatesAt); c != 0 {
		return c
	}
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func (m *Manager) unseal(k *storage.SigningKey) (crypto.Signer, error) {
	if len(k.PrivateKey) == 0 {
		return nil, fmt.Errorf("keys: signing key %s has no private half", k.ID)
	}
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

// generate makes a new key pair with its private half sealed (aad = kid,
// so a sealed key copied onto another row does not open). rows are the
// stored keys, from which the kid is derived (see nextKID).
func (m *Manager) generate(rows []storage.SigningKey, alg string, state storage.KeyState, now, activates time.Time) (*storage.SigningKey, error) {
	kid, err := nextKID(rows, alg)
	if err != nil {
		return nil, err
	}
	priv, err := newPrivateKey(alg, m.policy.RSABits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s key: %w", alg, err)
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
	return &storage.SigningKey{
		ID:          kid,
		Algorithm:   alg,
		State:       state,
		PrivateKey:  sealed,
		PublicKey:   pub,
		CreatedAt:   now.UTC(),
		ActivatesAt: activates.UTC(),
	}, nil
}

func newPrivateKey(alg string, rsaBits int) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, max(rsaBits, DefaultRSABits))
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("unsupported algorithm %q", alg)
}

// nextKID names the next key of alg. The very first key gets 128 random
// bits. Every later one is derived from what is already stored — the
// oldest kid (a per-installation salt) and how many keys of alg exist —
// so two processes that both decide, from the same rows, to add a key
// compute the same kid, and the store's uniqueness on kid lets exactly one
// of them insert it: the other gets storage.ErrConflict and moves on. A
// process with a stale view derives a kid that already exists and loses
// the same way. Kids are public, so being derivable costs nothing.
func nextKID(rows []storage.SigningKey, alg string) (string, error) {
	if len(rows) == 0 {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("keys: random kid: %w", err)
		}
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
	oldest := &rows[0]
	n := 0
	for i := range rows {
		k := &rows[i]
		if c := k.CreatedAt.Compare(oldest.CreatedAt); c < 0 || (c == 0 && k.ID < oldest.ID) {
			oldest = k
		}
		if k.Algorithm == alg {
			n++
		}
	}
	h := sha256.Sum256([]byte("gongpai kid v1\x00" + oldest.ID + "\x00" + alg + "\x00" + strconv.Itoa(n)))
	return base64.RawURLEncoding.EncodeToString(h[:16]), nil
}
