package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gongpai/gongpai/storage"
)

// errBadTTL rejects a non-positive lifetime, which would create a record
// that is born expired.
var errBadTTL = errors.New("ttl must be positive")

// Every method starts by checking ctx, so a call with a cancelled context
// sends nothing: a cancelled take does not consume the code.

// create writes a new hash record with a TTL; ErrConflict when the key
// already exists (even if expired by the store clock but not yet by
// Redis's, as a SQL primary key would).
func (s *Store) create(ctx context.Context, key string, ttl int64, fields ...any) error {
	n, err := createScript.Run(ctx, s.c, []string{key}, append([]any{ttl}, fields...)...).Int64()
	if err == nil && n == 0 {
		err = storage.ErrConflict
	}
	return err
}

// CreateAuthRequest stores r; ErrConflict on a duplicate ID.
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	const op = "create auth request"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	c := *r
	c.CreatedAt, c.ExpiresAt, c.AuthTime = utc(c.CreatedAt), utc(c.ExpiresAt), utc(c.AuthTime)
	v, err := json.Marshal(&c)
	if err != nil {
		return wrap(ctx, op, err)
	}
	err = s.create(ctx, s.k.authRequest(r.ID), ttlMillis(r.ExpiresAt.Sub(s.now())), "exp", micros(r.ExpiresAt), "v", v)
	return wrap(ctx, op, err)
}

// AuthRequest returns the pending request id; ErrNotFound when missing or
// expired.
func (s *Store) AuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	const op = "auth request"
	if err := ctx.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	vals, err := s.c.HMGet(ctx, s.k.authRequest(id), "exp", "v", "res").Result()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	r, err := decodeAuthRequest(vals, s.now())
	return r, wrap(ctx, op, err)
}

// decodeAuthRequest builds a request from the fields exp, v, res; a
// missing or expired one is ErrNotFound.
func decodeAuthRequest(vals []any, now time.Time) (*storage.AuthRequest, error) {
	exp, _ := vals[0].(string)
	v, _ := vals[1].(string)
	if v == "" || expired(exp, now) {
		return nil, storage.ErrNotFound
	}
	var r storage.AuthRequest
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return nil, fmt.Errorf("decode auth request: %w", err)
	}
	if res, ok := vals[2].(string); ok {
		var a storage.AuthResult
		if err := json.Unmarshal([]byte(res), &a); err != nil {
			return nil, fmt.Errorf("decode auth result: %w", err)
		}
		r.Done, r.Subject, r.AuthTime, r.AMR, r.ACR, r.SessionID = true, a.Subject, a.AuthTime, a.AMR, a.ACR, a.SessionID
	}
	r.CreatedAt, r.ExpiresAt, r.AuthTime = r.CreatedAt.UTC(), r.ExpiresAt.UTC(), r.AuthTime.UTC()
	return &r, nil
}

// CompleteAuthRequest marks the request done with res; ErrNotFound when
// missing or expired. The result is one field set by one script, so it
// cannot interleave with a concurrent completion or code binding.
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, res storage.AuthResult) error {
	const op = "complete auth request"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	res.AuthTime = utc(res.AuthTime)
	v, err := json.Marshal(&res)
	if err != nil {
		return wrap(ctx, op, err)
	}
	n, err := setIfLiveScript.Run(ctx, s.c, []string{s.k.authRequest(id)}, micros(s.now()), "res", v).Int64()
	if err == nil && n == 0 {
		err = storage.ErrNotFound
	}
	return wrap(ctx, op, err)
}

// DeleteAuthRequest removes the request, which also makes any code bound
// to it worthless. Deleting a missing request is not an error.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	const op = "delete auth request"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	return wrap(ctx, op, s.c.Del(ctx, s.k.authRequest(id)).Err())
}

// SaveAuthCode binds code to the auth request for ttl. ErrNotFound when
// the request is missing or expired; ErrConflict when it already has a
// code (even one since taken) or the code is bound to another request.
//
// Two steps, each atomic: the code key is created (NX, so a code belongs
// to one request), then the request records the code's hash (only if it
// has none, so a request gets one code). A code whose second step fails
// is deleted again; one left behind by a crash is harmless, because
// TakeAuthCode honours a code only when its request names it.
func (s *Store) SaveAuthCode(ctx context.Context, authRequestID, code string, ttl time.Duration) error {
	const op = "save auth code"
	if ttl <= 0 {
		return fmt.Errorf("redis: %s: %w", op, errBadTTL)
	}
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	h, now := secretHash(code), s.now()
	exp := now.Add(ttl)
	ck := s.k.code(h)
	if err := s.create(ctx, ck, ttlMillis(ttl), "ar", authRequestID, "exp", micros(exp)); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			err = fmt.Errorf("code already bound: %w", err)
		}
		return wrap(ctx, op, err)
	}
	n, err := bindCodeScript.Run(ctx, s.c, []string{s.k.authRequest(authRequestID)}, micros(now), h).Int64()
	if err != nil {
		// Whether the bind happened is unknown: keep the code, which is
		// honoured only if it did.
		return wrap(ctx, op, err)
	}
	switch n {
	case 1:
		return nil
	case 0:
		err = fmt.Errorf("auth request already has a code: %w", storage.ErrConflict)
	default:
		err = storage.ErrNotFound
	}
	if derr := s.c.Del(ctx, ck).Err(); derr != nil {
		s.log.WarnContext(ctx, "redis: could not delete an unbound auth code", "err", derr)
	}
	return wrap(ctx, op, err)
}

// TakeAuthCode consumes code and returns its auth request. One script on
// the code key marks it taken, so of concurrent takers exactly one gets
// past it; the code stays taken until it expires. The winner then reads
// the request, which must be live and name this code.
func (s *Store) TakeAuthCode(ctx context.Context, code string) (*storage.AuthRequest, error) {
	const op = "take auth code"
	if err := ctx.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	h, now := secretHash(code), s.now()
	id, err := takeCodeScript.Run(ctx, s.c, []string{s.k.code(h)}, micros(now)).Text()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	vals, err := s.c.HMGet(ctx, s.k.authRequest(id), "exp", "v", "res", "code").Result()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	if bound, _ := vals[3].(string); bound != h {
		return nil, wrap(ctx, op, storage.ErrNotFound)
	}
	r, err := decodeAuthRequest(vals, now)
	return r, wrap(ctx, op, err)
}

// CreateSession stores sess; ErrConflict on a duplicate ID. The
// employee's index is written first, so no session can exist that
// DeleteSessionsOfSubject would miss.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	const op = "create session"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	c := *sess
	c.AuthTime, c.CreatedAt, c.ExpiresAt = utc(c.AuthTime), utc(c.CreatedAt), utc(c.ExpiresAt)
	v, err := json.Marshal(&c)
	if err != nil {
		return wrap(ctx, op, err)
	}
	now := s.now()
	ttl, exp := ttlMillis(sess.ExpiresAt.Sub(now)), micros(sess.ExpiresAt)
	err = indexAddScript.Run(ctx, s.c, []string{s.k.sessionsOf(sess.Subject)}, sess.ID, exp, micros(now), ttl).Err()
	if err == nil {
		err = s.create(ctx, s.k.session(sess.ID), ttl, "exp", exp, "sub", sess.Subject, "v", v)
	}
	return wrap(ctx, op, err)
}

// Session returns session id; ErrNotFound when missing or expired.
func (s *Store) Session(ctx context.Context, id string) (*storage.Session, error) {
	const op = "session"
	if err := ctx.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	m, err := s.c.HGetAll(ctx, s.k.session(id)).Result()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	sess, err := decodeSession(m, s.now())
	return sess, wrap(ctx, op, err)
}

// decodeSession builds a session from its hash fields; a missing or
// expired one is ErrNotFound. Clients added after creation (c:<id>
// fields) follow the stored ClientIDs in the order they were added.
func decodeSession(m map[string]string, now time.Time) (*storage.Session, error) {
	v, ok := m["v"]
	if !ok || expired(m["exp"], now) {
		return nil, storage.ErrNotFound
	}
	var sess storage.Session
	if err := json.Unmarshal([]byte(v), &sess); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	type added struct {
		id string
		n  int64
	}
	var more []added
	for f, val := range m {
		if id, ok := strings.CutPrefix(f, "c:"); ok && !slices.Contains(sess.ClientIDs, id) {
			n, _ := strconv.ParseInt(val, 10, 64)
			more = append(more, added{id, n})
		}
	}
	slices.SortFunc(more, func(a, b added) int { return cmp.Compare(a.n, b.n) })
	for _, a := range more {
		sess.ClientIDs = append(sess.ClientIDs, a.id)
	}
	sess.AuthTime, sess.CreatedAt, sess.ExpiresAt = sess.AuthTime.UTC(), sess.CreatedAt.UTC(), sess.ExpiresAt.UTC()
	return &sess, nil
}

// AddSessionClient records clientID on the session unless it is already
// there; ErrNotFound when the session is missing or expired. One script,
// one field per client: concurrent adds neither lose nor duplicate one.
func (s *Store) AddSessionClient(ctx context.Context, id, clientID string) error {
	const op = "add session client"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	n, err := addClientScript.Run(ctx, s.c, []string{s.k.session(id)}, micros(s.now()), clientID).Int64()
	if err == nil && n == 0 {
		err = storage.ErrNotFound
	}
	return wrap(ctx, op, err)
}

// DeleteSession ends session id. Deleting a missing session is not an
// error. Its index entry goes lazily.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	const op = "delete session"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	return wrap(ctx, op, s.c.Del(ctx, s.k.session(id)).Err())
}

// DeleteSessionsOfSubject deletes every session in the employee's index —
// each read and deleted by one script, and only if it is theirs — and
// returns the ones that were still live, oldest first.
func (s *Store) DeleteSessionsOfSubject(ctx context.Context, subject string) ([]storage.Session, error) {
	const op = "delete sessions of subject"
	if err := ctx.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	idx := s.k.sessionsOf(subject)
	ids, err := s.c.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	calls := make([]scriptCall, len(ids))
	for i, id := range ids {
		calls[i] = scriptCall{key: s.k.session(id), args: []any{"sub", subject}}
	}
	cmds, err := s.runAll(ctx, takeIfOwnedScript, calls)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	now := s.now()
	var out []storage.Session
	for _, cmd := range cmds {
		vals, err := cmd.StringSlice()
		if errors.Is(err, goredis.Nil) {
			continue // gone already, or not theirs
		}
		if err != nil {
			return nil, wrap(ctx, op, err)
		}
		sess, err := decodeSession(pairs(vals), now)
		if errors.Is(err, storage.ErrNotFound) {
			continue // expired: deleted, but not reported
		}
		if err != nil {
			return nil, wrap(ctx, op, err)
		}
		out = append(out, *sess)
	}
	s.unindex(ctx, idx, ids)
	sortSessions(out)
	return out, nil
}

// SessionsOfSubject returns the live sessions of subject, oldest first.
func (s *Store) SessionsOfSubject(ctx context.Context, subject string) ([]storage.Session, error) {
	const op = "sessions of subject"
	if err := ctx.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	now := s.now()
	idx := s.k.sessionsOf(subject)
	ids, err := s.c.ZRangeByScore(ctx, idx, &goredis.ZRangeBy{Min: "(" + strconv.FormatInt(micros(now), 10), Max: "+inf"}).Result()
	if err != nil || len(ids) == 0 {
		return nil, wrap(ctx, op, err)
	}
	pipe := s.c.Pipeline()
	cmds := make([]*goredis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.k.session(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap(ctx, op, err)
	}
	var out []storage.Session
	var stale []string
	for i, cmd := range cmds {
		m := cmd.Val()
		if m["sub"] != subject {
			stale = append(stale, ids[i]) // deleted, or left by a failed create
			continue
		}
		sess, err := decodeSession(m, now)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, wrap(ctx, op, err)
		}
		out = append(out, *sess)
	}
	s.unindex(ctx, idx, stale)
	sortSessions(out)
	return out, nil
}

func sortSessions(ss []storage.Session) {
	slices.SortFunc(ss, func(a, b storage.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
}

// unindex drops members from an index. It is clean-up only — a stale
// member costs a lookup, never a wrong answer — so a failure is logged,
// not returned.
func (s *Store) unindex(ctx context.Context, idx string, members []string) {
	if len(members) == 0 || ctx.Err() != nil {
		return
	}
	if err := s.c.ZRem(ctx, idx, toAny(members)...).Err(); err != nil {
		s.log.WarnContext(ctx, "redis: index clean-up failed", "err", err)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// pairs turns a flat HGETALL reply into a map.
func pairs(vals []string) map[string]string {
	m := make(map[string]string, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		m[vals[i]] = vals[i+1]
	}
	return m
}

// CreateAccessToken stores t; ErrConflict on a duplicate ID. The token is
// stored under the SHA-256 of its ID (an opaque token's ID is the bearer
// secret) and indexed under its subject and its refresh family first.
func (s *Store) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	const op = "create access token"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	c := *t
	c.ID = ""
	c.CreatedAt, c.ExpiresAt = utc(c.CreatedAt), utc(c.ExpiresAt)
	v, err := json.Marshal(&c)
	if err != nil {
		return wrap(ctx, op, err)
	}
	h, now := secretHash(t.ID), s.now()
	ttl, exp := ttlMillis(t.ExpiresAt.Sub(now)), micros(t.ExpiresAt)
	calls := []scriptCall{{key: s.k.tokensOf(t.Subject), args: []any{h, exp, micros(now), ttl}}}
	if t.RefreshFamily != "" {
		calls = append(calls, scriptCall{key: s.k.tokensOfFamily(t.RefreshFamily), args: []any{h, exp, micros(now), ttl}})
	}
	cmds, err := s.runAll(ctx, indexAddScript, calls)
	for _, cmd := range cmds {
		err = cmp.Or(err, cmd.Err())
	}
	if err == nil {
		err = s.create(ctx, s.k.token(h), ttl, "exp", exp, "sub", t.Subject, "fam", t.RefreshFamily, "v", v)
	}
	return wrap(ctx, op, err)
}

// AccessToken returns token id; ErrNotFound when missing or expired.
func (s *Store) AccessToken(ctx context.Context, id string) (*storage.AccessToken, error) {
	const op = "access token"
	if err := ctx.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	vals, err := s.c.HMGet(ctx, s.k.token(secretHash(id)), "exp", "v").Result()
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	exp, _ := vals[0].(string)
	v, _ := vals[1].(string)
	if v == "" || expired(exp, s.now()) {
		return nil, wrap(ctx, op, storage.ErrNotFound)
	}
	var t storage.AccessToken
	if err := json.Unmarshal([]byte(v), &t); err != nil {
		return nil, wrap(ctx, op, fmt.Errorf("decode access token: %w", err))
	}
	t.ID = id
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return &t, nil
}

// DeleteAccessToken removes token id. Deleting a missing token is not an
// error. Its index entries go lazily.
func (s *Store) DeleteAccessToken(ctx context.Context, id string) error {
	const op = "delete access token"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	return wrap(ctx, op, s.c.Del(ctx, s.k.token(secretHash(id))).Err())
}

// DeleteAccessTokensOfFamily removes the access tokens minted from one
// refresh family. An empty familyID matches nothing: it must not reach the
// tokens that came from no family at all.
func (s *Store) DeleteAccessTokensOfFamily(ctx context.Context, familyID string) error {
	const op = "delete access tokens of family"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	if familyID == "" {
		return nil
	}
	return wrap(ctx, op, s.deleteIndexed(ctx, s.k.tokensOfFamily(familyID), "fam", familyID))
}

// DeleteAccessTokensOfSubject removes every access token of subject.
func (s *Store) DeleteAccessTokensOfSubject(ctx context.Context, subject string) error {
	const op = "delete access tokens of subject"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	return wrap(ctx, op, s.deleteIndexed(ctx, s.k.tokensOf(subject), "sub", subject))
}

// deleteIndexed deletes the tokens listed in idx whose field equals
// value, then the index entries.
func (s *Store) deleteIndexed(ctx context.Context, idx, field, value string) error {
	hs, err := s.c.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return err
	}
	calls := make([]scriptCall, len(hs))
	for i, h := range hs {
		calls[i] = scriptCall{key: s.k.token(h), args: []any{field, value}}
	}
	cmds, err := s.runAll(ctx, takeIfOwnedScript, calls)
	if err != nil {
		return err
	}
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
			return err
		}
	}
	s.unindex(ctx, idx, hs)
	return nil
}

// Hit counts one event for key in a fixed window that starts at the first
// hit and lasts window, returning the count so far. One script, so
// concurrent hits are all counted; a hit after the window (by the store
// clock) starts a new one.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration) (int64, error) {
	const op = "hit"
	if window <= 0 {
		return 0, fmt.Errorf("redis: %s: %w", op, errBadTTL)
	}
	if err := ctx.Err(); err != nil {
		return 0, wrap(ctx, op, err)
	}
	now := s.now()
	n, err := hitScript.Run(ctx, s.c, []string{s.k.hits(key)}, micros(now), micros(now.Add(window)), ttlMillis(window)).Int64()
	if err != nil {
		return 0, wrap(ctx, op, err)
	}
	return n, nil
}

// ResetHits forgets the count for key.
func (s *Store) ResetHits(ctx context.Context, key string) error {
	const op = "reset hits"
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	return wrap(ctx, op, s.c.Del(ctx, s.k.hits(key)).Err())
}

// UseTOTPStep records step for subject with one script that writes only
// when there is no live record or step is greater than the recorded one;
// a write that did not happen is ErrConflict. The record lives for ttl
// after its last use.
func (s *Store) UseTOTPStep(ctx context.Context, subject string, step int64, ttl time.Duration) error {
	const op = "use TOTP step"
	if ttl <= 0 {
		return fmt.Errorf("redis: %s: %w", op, errBadTTL)
	}
	if err := ctx.Err(); err != nil {
		return wrap(ctx, op, err)
	}
	now := s.now()
	n, err := totpScript.Run(ctx, s.c, []string{s.k.totp(subject)}, step, micros(now), micros(now.Add(ttl)), ttlMillis(ttl)).Int64()
	if err == nil && n == 0 {
		err = fmt.Errorf("step already used: %w", storage.ErrConflict)
	}
	return wrap(ctx, op, err)
}
