package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// Key-event actions (storage.KeyEvent.Action).
const (
	ActionCreated   = "created"
	ActionActivated = "activated"
	ActionRetired   = "retired"
	ActionRemoved   = "removed"
	ActionRevoked   = "revoked"
	ActionRewrapped = "rewrapped"
)

var (
	// ErrNextPending: a routine rotation was asked for while a next key
	// of that algorithm already waits to activate.
	ErrNextPending = errors.New("keys: a next key is already waiting to activate")
	// ErrAlgorithmNotConfigured: the algorithm is not in the policy.
	ErrAlgorithmNotConfigured = errors.New("keys: algorithm not in the policy")
	// ErrReasonRequired: revocation needs a reason for the record.
	ErrReasonRequired = errors.New("keys: a reason is required")
)

// Tick is one round of the rotation job: re-read the store, and — when
// this process holds the rotation lock, or the store has none — make sure
// every algorithm of the policy has an active key, publish the next key
// when it is due, retire and remove keys by the policy, and record the
// states time has brought about. Every write is a compare-and-swap (a new
// key's kid is derived so that its insert is one): a replica that loses a
// race gets storage.ErrConflict, re-reads and moves on.
func (m *Manager) Tick(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refreshLocked(ctx); err != nil {
		return err
	}
	if l, ok := m.store.(Locker); ok {
		release, held, err := l.TryLock(ctx, rotationLock)
		if err != nil {
			return fmt.Errorf("keys: rotation lock: %w", err)
		}
		if !held {
			return nil // another replica maintains the set; this one only reads
		}
		defer release()
	}
	changed, err := m.maintain(ctx)
	if changed {
		m.notify(ctx)
		if rerr := m.refreshLocked(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// Run is the rotation job: a Tick every Policy.PollInterval, and at once
// when a Notifier store reports a change, until ctx ends. Call Load (and
// Tick, to start from a maintained set) before serving, and wait for Run
// to return before closing the store.
func (m *Manager) Run(ctx context.Context) error {
	var changes <-chan struct{}
	if n, ok := m.store.(Notifier); ok {
		ch, err := n.WatchKeys(ctx)
		if err != nil {
			m.log.WarnContext(ctx, "cannot watch signing-key changes; polling only", "err", err)
		} else {
			changes = ch
		}
	}
	t := time.NewTicker(m.policy.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
		}
		if err := m.Tick(ctx); err != nil && ctx.Err() == nil {
			m.log.ErrorContext(ctx, "signing-key rotation round failed", "err", err)
		}
	}
}

// maintain applies the policy to the snapshot just read. mu is held.
func (m *Manager) maintain(ctx context.Context) (bool, error) {
	changed, err := m.ensureSigners(ctx)
	if err != nil {
		return changed, err
	}
	now := m.now()
	s := m.snap.Load()
	for _, alg := range m.policy.Algorithms {
		sig := s.signers[alg]
		if sig == nil || pendingNext(s.views, alg, "") != nil {
			continue
		}
		if now.Before(sig.activatesAt.Add(m.policy.RotationPeriod - m.policy.PrePublication)) {
			continue
		}
		// Keep the schedule when the job runs on time; never give relying
		// parties less than the pre-publication window.
		activates := sig.activatesAt.Add(m.policy.RotationPeriod)
		if earliest := now.Add(m.policy.PrePublication); activates.Before(earliest) {
			activates = earliest
		}
		_, err := m.create(ctx, alg, storage.KeyNext, now, activates, SystemActor,
			fmt.Sprintf("scheduled rotation: published as next, activates %s", activates.UTC().Format(time.RFC3339)))
		switch {
		case errors.Is(err, storage.ErrConflict):
			changed = true // someone else published it; re-read
		case err != nil:
			return changed, err
		default:
			changed = true
		}
	}
	// Algorithms dropped from the policy: once an algorithm of the policy
	// can sign, the active key retires now (and stays published for the
	// retention); a next key is never used.
	policySigns := slices.ContainsFunc(m.policy.Algorithms, func(a string) bool { return s.signers[a] != nil })
	for _, v := range s.views {
		if slices.Contains(m.policy.Algorithms, v.Algorithm) || (v.State == storage.KeyActive && !policySigns) {
			continue
		}
		switch v.State {
		case storage.KeyActive:
			changed = m.transition(ctx, v.KID, ActionRetired, "algorithm no longer in keys.algorithms", func(k *storage.SigningKey) {
				k.State, k.RetiresAt = storage.KeyRetired, now.UTC()
			}) || changed
		case storage.KeyNext:
			changed = m.transition(ctx, v.KID, ActionRemoved, "algorithm no longer in keys.algorithms; never used", func(k *storage.SigningKey) {
				k.State, k.PrivateKey, k.RetiresAt = storage.KeyRemoved, nil, now.UTC()
			}) || changed
		}
	}
	if changed {
		if err := m.refreshLocked(ctx); err != nil {
			return changed, err
		}
	}
	return m.syncStates(ctx) || changed, nil
}

// ensureSigners gives every algorithm of the policy a key. On a store
// with no signing key at all (a new installation, or every key revoked)
// the key is active from now: there is nothing relying parties could be
// verifying yet. An algorithm added to a running deployment gets a next
// key instead, published for the pre-publication window like any other,
// while the existing signers carry on. mu is held and the snapshot is
// fresh.
func (m *Manager) ensureSigners(ctx context.Context) (bool, error) {
	changed := false
	bootstrap := len(m.snap.Load().signers) == 0
	for _, alg := range m.policy.Algorithms {
		s := m.snap.Load()
		if s.signers[alg] != nil {
			continue
		}
		now := m.now()
		var err error
		switch {
		case bootstrap:
			_, err = m.create(ctx, alg, storage.KeyActive, now, now, SystemActor, "no "+alg+" key can sign: created one active at once")
		case pendingNext(s.views, alg, "") == nil:
			activates := now.Add(m.policy.PrePublication)
			_, err = m.create(ctx, alg, storage.KeyNext, now, activates, SystemActor,
				fmt.Sprintf("%s added to keys.algorithms: published as next, activates %s", alg, activates.UTC().Format(time.RFC3339)))
		default:
			continue // its first key is already waiting
		}
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			return changed, err
		}
		changed = true
		if err := m.refreshLocked(ctx); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// syncStates records in storage what the snapshot says time has done: a
// next key that signs is active, a superseded key is retired, a retired
// key past its retention is removed (its private half wiped). A lost
// compare-and-swap means another process recorded the same facts.
func (m *Manager) syncStates(ctx context.Context) bool {
	changed := false
	for _, v := range m.snap.Load().views {
		switch {
		case v.State == storage.KeyActive && v.StoredState == storage.KeyNext:
			changed = m.transition(ctx, v.KID, ActionActivated, "activation time reached", func(k *storage.SigningKey) {
				k.State = storage.KeyActive
			}) || changed
		case v.State == storage.KeyRetired && (v.StoredState == storage.KeyNext || v.StoredState == storage.KeyActive):
			changed = m.transition(ctx, v.KID, ActionRetired, "superseded by a newer key", func(k *storage.SigningKey) {
				k.State, k.RetiresAt = storage.KeyRetired, v.RetiresAt.UTC()
			}) || changed
		case v.State == storage.KeyRemoved && v.StoredState != storage.KeyRemoved:
			changed = m.transition(ctx, v.KID, ActionRemoved, "retention after retirement ended", func(k *storage.SigningKey) {
				k.State, k.PrivateKey = storage.KeyRemoved, nil
				if k.RetiresAt.IsZero() {
					k.RetiresAt = v.RetiresAt.UTC()
				}
			}) || changed
		}
	}
	return changed
}

// transition applies change to the stored row kid by compare-and-swap and
// records the event when this process won. It reports whether anything
// was written.
func (m *Manager) transition(ctx context.Context, kid, action, reason string, change func(*storage.SigningKey)) bool {
	row := m.row(kid)
	if row == nil {
		return false
	}
	k := *row
	change(&k)
	if err := m.store.UpdateSigningKey(ctx, &k); err != nil {
		if !errors.Is(err, storage.ErrConflict) {
			m.log.WarnContext(ctx, "could not record signing-key state", "kid", kid, "state", k.State, "err", err)
		}
		return errors.Is(err, storage.ErrConflict) // someone else changed it: re-read
	}
	m.log.InfoContext(ctx, "signing key "+action, "kid", kid, "alg", k.Algorithm, "reason", reason)
	if err := m.record(ctx, kid, action, SystemActor, reason); err != nil {
		m.log.WarnContext(ctx, "could not record key event", "kid", kid, "action", action, "err", err)
	}
	return true
}

func (m *Manager) row(kid string) *storage.SigningKey {
	for i := range m.rows {
		if m.rows[i].ID == kid {
			k := m.rows[i]
			return &k
		}
	}
	return nil
}

// create generates, stores and records a key. storage.ErrConflict means
// another process inserted the same kid first. mu is held.
func (m *Manager) create(ctx context.Context, alg string, state storage.KeyState, now, activates time.Time, actor, reason string) (*storage.SigningKey, error) {
	k, err := m.generate(m.rows, alg, state, now, activates)
	if err != nil {
		return nil, err
	}
	if err := m.store.CreateSigningKey(ctx, k); err != nil {
		return nil, fmt.Errorf("keys: store new signing key: %w", err)
	}
	m.log.InfoContext(ctx, "signing key created", "kid", k.ID, "alg", alg, "state", state,
		"activates", k.ActivatesAt.Format(time.RFC3339), "actor", actor)
	if err := m.record(ctx, k.ID, ActionCreated, actor, reason); err != nil {
		return k, err
	}
	return k, nil
}

func (m *Manager) record(ctx context.Context, kid, action, actor, reason string) error {
	err := m.store.RecordKeyEvent(ctx, &storage.KeyEvent{At: m.now().UTC(), KID: kid, Action: action, Actor: actor, Reason: reason})
	if err != nil {
		return fmt.Errorf("keys: record %s of %s: %w", action, kid, err)
	}
	return nil
}

func (m *Manager) notify(ctx context.Context) {
	if n, ok := m.store.(Notifier); ok {
		if err := n.NotifyKeysChanged(ctx); err != nil {
			m.log.WarnContext(ctx, "could not notify other replicas of a key change; they see it at their next poll", "err", err)
		}
	}
}

// pendingNext is the earliest next key of alg (other than except) waiting
// to activate.
func pendingNext(views []KeyView, alg, except string) *KeyView {
	var p *KeyView
	for i := range views {
		v := &views[i]
		if v.Algorithm == alg && v.State == storage.KeyNext && v.KID != except && (p == nil || v.ActivatesAt.Before(p.ActivatesAt)) {
			p = v
		}
	}
	return p
}

func (m *Manager) view(kid string) (KeyView, bool) {
	for _, v := range m.snap.Load().views {
		if v.KID == kid {
			return v, true
		}
	}
	return KeyView{}, false
}

// RotateOptions asks for a rotation.
type RotateOptions struct {
	Algorithm string // "" = the policy's default
	// Now activates a key at once instead of after the pre-publication
	// window: the pending next key when there is one (it has been
	// published for a while), else a new key. Relying parties that cache
	// the JWKS and do not refetch on an unknown kid fail until their cache
	// expires: for emergencies only.
	Now    bool
	Actor  string
	Reason string
}

// Rotate publishes a next key of the algorithm, active after the
// pre-publication window (ErrNextPending when one already waits), or with
// Now activates one at once. It returns the key that was published or
// activated.
func (m *Manager) Rotate(ctx context.Context, o RotateOptions) (KeyView, error) {
	if err := m.check(); err != nil {
		return KeyView{}, err
	}
	alg := cmp.Or(o.Algorithm, m.policy.DefaultAlgorithm())
	if !slices.Contains(m.policy.Algorithms, alg) {
		return KeyView{}, fmt.Errorf("%w: %s is not in keys.algorithms %v", ErrAlgorithmNotConfigured, alg, m.policy.Algorithms)
	}
	reason := cmp.Or(strings.TrimSpace(o.Reason), "manual rotation")
	m.mu.Lock()
	defer m.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if err := m.refreshLocked(ctx); err != nil {
			return KeyView{}, err
		}
		// A store nobody served from yet gets its first active key, so
		// the rotation has something to follow.
		if _, err := m.ensureSigners(ctx); err != nil {
			return KeyView{}, err
		}
		kid, err := m.rotateOnce(ctx, alg, o.Now, o.Actor, reason)
		if errors.Is(err, storage.ErrConflict) && attempt < 3 {
			continue // another process changed the set meanwhile: look again
		}
		if err != nil {
			return KeyView{}, err
		}
		m.notify(ctx)
		if err := m.refreshLocked(ctx); err != nil {
			return KeyView{}, err
		}
		if m.syncStates(ctx) {
			if err := m.refreshLocked(ctx); err != nil {
				return KeyView{}, err
			}
		}
		v, _ := m.view(kid)
		return v, nil
	}
}

// takeOver is when a key activated "now" for alg must start so that it is
// the newest, whatever the clock resolution: just after the current
// signer's activation if that is not already past.
func (m *Manager) takeOver(alg string, now time.Time) time.Time {
	if sg := m.snap.Load().signers[alg]; sg != nil && !now.After(sg.activatesAt) {
		return sg.activatesAt.Add(time.Microsecond)
	}
	return now
}

func (m *Manager) rotateOnce(ctx context.Context, alg string, now bool, actor, reason string) (string, error) {
	t := m.now()
	pending := pendingNext(m.snap.Load().views, alg, "")
	switch {
	case !now && pending != nil:
		return "", fmt.Errorf("%w: %s key %s activates at %s (use --now to activate it at once)",
			ErrNextPending, alg, pending.KID, pending.ActivatesAt.UTC().Format(time.RFC3339))
	case !now:
		k, err := m.create(ctx, alg, storage.KeyNext, t, t.Add(m.policy.PrePublication), actor,
			fmt.Sprintf("%s: published as next, activates %s", reason, t.Add(m.policy.PrePublication).UTC().Format(time.RFC3339)))
		if err != nil {
			return "", err
		}
		return k.ID, nil
	case pending != nil:
		return pending.KID, m.activateNow(ctx, pending.KID, m.takeOver(alg, t), actor, reason)
	default:
		k, err := m.create(ctx, alg, storage.KeyActive, t, m.takeOver(alg, t), actor, reason+": active at once, without pre-publication")
		if err != nil {
			return "", err
		}
		return k.ID, nil
	}
}

// activateNow moves a next key's activation to t (compare-and-swap).
func (m *Manager) activateNow(ctx context.Context, kid string, t time.Time, actor, reason string) error {
	row := m.row(kid)
	if row == nil {
		return fmt.Errorf("keys: key %s: %w", kid, storage.ErrNotFound)
	}
	k := *row
	k.State, k.ActivatesAt = storage.KeyActive, t.UTC()
	if err := m.store.UpdateSigningKey(ctx, &k); err != nil {
		return fmt.Errorf("keys: activate %s: %w", kid, err)
	}
	m.log.InfoContext(ctx, "signing key activated ahead of schedule", "kid", kid, "actor", actor)
	return m.record(ctx, kid, ActionActivated, actor, reason+": activated at once, ahead of schedule")
}

// RevokeResult says what Revoke did.
type RevokeResult struct {
	Revoked KeyView
	// Replacement is the key that took over signing when the revoked key
	// was signing; nil otherwise.
	Replacement *KeyView
}

// Revoke takes a key out of service at once: it leaves the JWKS and every
// verification set, so tokens it signed are refused from then on, and its
// private half is wiped. When it was signing, a replacement is activated
// first (the pending next key, else a new one), so sign-ins never stop.
// Other replicas drop it at their next poll, or at once with a Notifier
// store. Revoking a revoked key changes nothing.
func (m *Manager) Revoke(ctx context.Context, kid, actor, reason string) (RevokeResult, error) {
	if err := m.check(); err != nil {
		return RevokeResult{}, err
	}
	if strings.TrimSpace(reason) == "" {
		return RevokeResult{}, ErrReasonRequired
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var res RevokeResult
	for attempt := 0; ; attempt++ {
		if err := m.refreshLocked(ctx); err != nil {
			return res, err
		}
		v, ok := m.view(kid)
		if !ok {
			return res, fmt.Errorf("keys: no signing key %q: %w", kid, storage.ErrNotFound)
		}
		if v.StoredState == storage.KeyRevoked {
			res.Revoked = v
			return res, nil
		}
		err := m.revokeOnce(ctx, v, actor, reason, &res)
		if errors.Is(err, storage.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return res, err
		}
		break
	}
	m.notify(ctx)
	if err := m.refreshLocked(ctx); err != nil {
		return res, err
	}
	if m.syncStates(ctx) {
		if err := m.refreshLocked(ctx); err != nil {
			return res, err
		}
	}
	res.Revoked, _ = m.view(kid)
	if res.Replacement != nil {
		r, _ := m.view(res.Replacement.KID)
		res.Replacement = &r
	}
	return res, nil
}

func (m *Manager) revokeOnce(ctx context.Context, v KeyView, actor, reason string, res *RevokeResult) error {
	now := m.now()
	if v.State == storage.KeyActive && slices.Contains(m.policy.Algorithms, v.Algorithm) && res.Replacement == nil {
		why := "replaces revoked key " + v.KID + " (" + reason + ")"
		var kid string
		if p := pendingNext(m.snap.Load().views, v.Algorithm, v.KID); p != nil {
			kid = p.KID
			if err := m.activateNow(ctx, p.KID, m.takeOver(v.Algorithm, now), actor, why); err != nil {
				return err
			}
		} else {
			k, err := m.create(ctx, v.Algorithm, storage.KeyActive, now, m.takeOver(v.Algorithm, now), actor, why+": active at once")
			if err != nil {
				return err
			}
			kid = k.ID
		}
		res.Replacement = &KeyView{KID: kid}
		// Re-read so the revocation below compares against fresh rows.
		if err := m.refreshLocked(ctx); err != nil {
			return err
		}
	}
	row := m.row(v.KID)
	if row == nil {
		return fmt.Errorf("keys: no signing key %q: %w", v.KID, storage.ErrNotFound)
	}
	k := *row
	k.State, k.PrivateKey = storage.KeyRevoked, nil
	if k.RetiresAt.IsZero() || k.RetiresAt.After(now) {
		k.RetiresAt = now.UTC()
	}
	if err := m.store.UpdateSigningKey(ctx, &k); err != nil {
		return fmt.Errorf("keys: revoke %s: %w", v.KID, err)
	}
	m.log.WarnContext(ctx, "signing key revoked", "kid", v.KID, "alg", v.Algorithm, "actor", actor, "reason", reason)
	return m.record(ctx, v.KID, ActionRevoked, actor, reason)
}

// Rewrap re-seals every stored private key under to's sealing key (the
// new master key). to must also open what is sealed now: build it as
// seal.New(newKey, currentKeys...). Keys already sealed under the new key
// are left alone, so Rewrap can be run again after the configuration
// switch to catch keys sealed under the old one meanwhile. It returns how
// many keys it re-sealed.
func (m *Manager) Rewrap(ctx context.Context, to *seal.Sealer, actor string) (int, error) {
	if to == nil {
		return 0, errors.New("keys: rewrap: no new sealer")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refreshLockedRows(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, row := range slices.Clone(m.rows) {
		for attempt := 0; ; attempt++ {
			from := seal.SealedUnder(row.PrivateKey)
			if len(row.PrivateKey) == 0 || from == to.SealingKeyID() {
				break
			}
			der, err := to.Open(row.PrivateKey, []byte(row.ID))
			if err != nil {
				return n, fmt.Errorf("keys: rewrap %s: cannot open it (sealed under master key %q, which neither the new nor the configured keys are): %w", row.ID, from, err)
			}
			sealed, err := to.Seal(der, []byte(row.ID))
			clear(der)
			if err != nil {
				return n, fmt.Errorf("keys: rewrap %s: %w", row.ID, err)
			}
			k := row
			k.PrivateKey = sealed
			err = m.store.UpdateSigningKey(ctx, &k)
			if errors.Is(err, storage.ErrConflict) && attempt < 3 {
				if err := m.refreshLockedRows(ctx); err != nil {
					return n, err
				}
				if r := m.row(row.ID); r != nil {
					row = *r
				}
				continue
			}
			if err != nil {
				return n, fmt.Errorf("keys: rewrap %s: %w", row.ID, err)
			}
			n++
			if err := m.record(ctx, row.ID, ActionRewrapped, actor,
				fmt.Sprintf("re-sealed from master key %s to %s", from, to.SealingKeyID())); err != nil {
				return n, err
			}
			break
		}
	}
	m.notify(ctx)
	return n, nil
}

// refreshLockedRows re-reads the rows without building a snapshot (which
// would need the current sealer to open every signer).
func (m *Manager) refreshLockedRows(ctx context.Context) error {
	rows, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list signing keys: %w", err)
	}
	m.rows = rows
	return nil
}
