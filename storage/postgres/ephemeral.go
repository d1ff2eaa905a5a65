package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gongpai/gongpai/storage"
)

// Every ephemeral read filters on expires_at > now (the store clock, not
// the database's), so an expired row is ErrNotFound the instant it
// expires, whether or not Sweep has run.

// errBadTTL rejects a non-positive lifetime, which would create a record
// that is born expired.
var errBadTTL = errors.New("ttl must be positive")

// CreateAuthRequest stores r; ErrConflict on a duplicate ID.
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	var maxAge *int64
	if r.MaxAge != nil {
		v := int64(*r.MaxAge)
		maxAge = &v
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_requests (id, client_id, redirect_uri, scopes, state, nonce,
		response_type, response_mode, code_challenge, code_challenge_method, prompt, max_age, ui_locales, login_hint,
		acr_values, hint_subject, created_at, expires_at, done, subject, auth_time, amr, acr, session_id,
		browser_binding)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`,
		r.ID, r.ClientID, r.RedirectURI, r.Scopes, r.State, r.Nonce, r.ResponseType, r.ResponseMode,
		r.CodeChallenge, r.CodeChallengeMethod, r.Prompt, maxAge, r.UILocales, r.LoginHint,
		r.ACRValues, r.HintSubject, ts(r.CreatedAt), ts(r.ExpiresAt), r.Done, r.Subject,
		optTS(r.AuthTime), r.AMR, r.ACR, r.SessionID, r.BrowserBinding)
	return s.wrap(ctx, "create auth request", err)
}

const authRequestCols = `id, client_id, redirect_uri, scopes, state, nonce, response_type, response_mode,
	code_challenge, code_challenge_method, prompt, max_age, ui_locales, login_hint, acr_values, hint_subject,
	created_at, expires_at, done, subject, auth_time, amr, acr, session_id, browser_binding`

func scanAuthRequest(row pgx.Row, r *storage.AuthRequest) error {
	var maxAge *int64
	err := row.Scan(&r.ID, &r.ClientID, &r.RedirectURI, &r.Scopes, &r.State, &r.Nonce, &r.ResponseType,
		&r.ResponseMode, &r.CodeChallenge, &r.CodeChallengeMethod, &r.Prompt, &maxAge, &r.UILocales,
		&r.LoginHint, &r.ACRValues, &r.HintSubject, timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt}, &r.Done,
		&r.Subject, timeCol{&r.AuthTime}, &r.AMR, &r.ACR, &r.SessionID, &r.BrowserBinding)
	if maxAge != nil {
		d := time.Duration(*maxAge)
		r.MaxAge = &d
	}
	return err
}

// AuthRequest returns the pending request id; ErrNotFound when missing or
// expired.
func (s *Store) AuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	var r storage.AuthRequest
	err := scanAuthRequest(s.pool.QueryRow(ctx, `SELECT `+authRequestCols+` FROM auth_requests
		WHERE id = $1 AND expires_at > $2`, id, s.nowTS()), &r)
	if err != nil {
		return nil, s.wrap(ctx, "auth request", err)
	}
	return &r, nil
}

// CompleteAuthRequest marks the request done with res; ErrNotFound when
// missing or expired.
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, res storage.AuthResult) error {
	tag, err := s.pool.Exec(ctx, `UPDATE auth_requests SET done = true, subject = $3, auth_time = $4, amr = $5, acr = $6,
		session_id = $7 WHERE id = $1 AND expires_at > $2`,
		id, s.nowTS(), res.Subject, optTS(res.AuthTime), res.AMR, res.ACR, res.SessionID)
	if err == nil && tag.RowsAffected() == 0 {
		err = storage.ErrNotFound
	}
	return s.wrap(ctx, "complete auth request", err)
}

// DeleteAuthRequest removes the request and any code bound to it.
// Deleting a missing request is not an error.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM auth_requests WHERE id = $1`, id)
	return s.wrap(ctx, "delete auth request", err)
}

// codeHash is what is stored for an auth code: the code is a bearer
// secret, so the database only ever sees its SHA-256.
func codeHash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// SaveAuthCode binds code to the auth request for ttl with one
// conditional UPDATE (the request must be live and have no code yet);
// concurrent savers queue on the row and the losers find code_hash set.
// ErrNotFound when the request is missing or expired; ErrConflict when it
// already has a code (even one since taken) or the code is bound to
// another request (the unique code_hash).
func (s *Store) SaveAuthCode(ctx context.Context, authRequestID, code string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("postgres: save auth code: %w", errBadTTL)
	}
	now := s.now()
	var saved, found bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE auth_requests SET code_hash = $3, code_expires_at = $4
			WHERE id = $1 AND expires_at > $2 AND code_hash IS NULL
			RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM auth_requests WHERE id = $1 AND expires_at > $2)`,
		authRequestID, ts(now), codeHash(code), ts(now.Add(ttl))).Scan(&saved, &found)
	if err == nil {
		switch {
		case saved:
		case found:
			err = fmt.Errorf("auth request already has a code: %w", storage.ErrConflict)
		default:
			err = storage.ErrNotFound
		}
	}
	return s.wrap(ctx, "save auth code", err)
}

// TakeAuthCode consumes code with one conditional UPDATE … RETURNING and
// returns its auth request. The code must be unused and unexpired, and the
// request unexpired; concurrent takers queue on the row lock and every one
// after the winner finds code_used set: ErrNotFound, as for an unknown
// code. The used code stays on the request row until the request is
// deleted or swept, so the request can never get a second code.
func (s *Store) TakeAuthCode(ctx context.Context, code string) (*storage.AuthRequest, error) {
	var r storage.AuthRequest
	now := s.nowTS()
	err := scanAuthRequest(s.pool.QueryRow(ctx, `UPDATE auth_requests SET code_used = true
		WHERE code_hash = $1 AND NOT code_used AND code_expires_at > $2 AND expires_at > $2
		RETURNING `+authRequestCols, codeHash(code), now), &r)
	if err != nil {
		return nil, s.wrap(ctx, "take auth code", err)
	}
	return &r, nil
}

// CreateSession stores sess; ErrConflict on a duplicate ID.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id, subject, auth_time, amr, acr, client_ids, user_agent,
		remote_ip, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		sess.ID, sess.Subject, optTS(sess.AuthTime), sess.AMR, sess.ACR, sess.ClientIDs, sess.UserAgent,
		sess.RemoteIP, ts(sess.CreatedAt), ts(sess.ExpiresAt))
	return s.wrap(ctx, "create session", err)
}

const sessionCols = `id, subject, auth_time, amr, acr, client_ids, user_agent, remote_ip, created_at, expires_at`

func scanSession(r pgx.Row, s *storage.Session) error {
	return r.Scan(&s.ID, &s.Subject, timeCol{&s.AuthTime}, &s.AMR, &s.ACR, &s.ClientIDs,
		&s.UserAgent, &s.RemoteIP, timeCol{&s.CreatedAt}, timeCol{&s.ExpiresAt})
}

// Session returns session id; ErrNotFound when missing or expired.
func (s *Store) Session(ctx context.Context, id string) (*storage.Session, error) {
	var sess storage.Session
	err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1 AND expires_at > $2`,
		id, s.nowTS()), &sess)
	if err != nil {
		return nil, s.wrap(ctx, "session", err)
	}
	return &sess, nil
}

// AddSessionClient appends clientID to the session's ClientIDs unless it
// is already there, in one UPDATE: a concurrent adder waits for the row
// and then evaluates the CASE against the committed list, so no add is
// lost or doubled. ErrNotFound when the session is missing or expired.
func (s *Store) AddSessionClient(ctx context.Context, id, clientID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions
		SET client_ids = CASE WHEN $3 = ANY (client_ids) THEN client_ids ELSE array_append(client_ids, $3::text) END
		WHERE id = $1 AND expires_at > $2`, id, s.nowTS(), clientID)
	if err == nil && tag.RowsAffected() == 0 {
		err = storage.ErrNotFound
	}
	return s.wrap(ctx, "add session client", err)
}

// DeleteSession ends session id. Deleting a missing session is not an
// error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return s.wrap(ctx, "delete session", err)
}

// DeleteSessionsOfSubject deletes every session of subject, expired ones
// too, and returns the ones that were still live, oldest first.
func (s *Store) DeleteSessionsOfSubject(ctx context.Context, subject string) ([]storage.Session, error) {
	rows, err := s.pool.Query(ctx, `WITH d AS (DELETE FROM sessions WHERE subject = $1 RETURNING `+sessionCols+`)
		SELECT `+sessionCols+` FROM d WHERE expires_at > $2 ORDER BY created_at, id`, subject, s.nowTS())
	out, err := collect(rows, err, scanSession)
	if err != nil {
		return nil, s.wrap(ctx, "delete sessions of subject", err)
	}
	return out, nil
}

// SessionsOfSubject returns the live sessions of subject, oldest first.
func (s *Store) SessionsOfSubject(ctx context.Context, subject string) ([]storage.Session, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE subject = $1 AND expires_at > $2
		ORDER BY created_at, id`, subject, s.nowTS())
	out, err := collect(rows, err, scanSession)
	return out, s.wrap(ctx, "sessions of subject", err)
}

// CreateAccessToken stores t; ErrConflict on a duplicate ID.
func (s *Store) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO access_tokens (id, client_id, subject, scopes, audience, refresh_family,
		session_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.ID, t.ClientID, t.Subject, t.Scopes, t.Audience, t.RefreshFamily, t.SessionID, ts(t.CreatedAt), ts(t.ExpiresAt))
	return s.wrap(ctx, "create access token", err)
}

// AccessToken returns token id; ErrNotFound when missing or expired.
func (s *Store) AccessToken(ctx context.Context, id string) (*storage.AccessToken, error) {
	var t storage.AccessToken
	err := s.pool.QueryRow(ctx, `SELECT id, client_id, subject, scopes, audience, refresh_family, session_id,
		created_at, expires_at FROM access_tokens WHERE id = $1 AND expires_at > $2`, id, s.nowTS()).
		Scan(&t.ID, &t.ClientID, &t.Subject, &t.Scopes, &t.Audience, &t.RefreshFamily, &t.SessionID,
			timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt})
	if err != nil {
		return nil, s.wrap(ctx, "access token", err)
	}
	return &t, nil
}

// DeleteAccessToken removes token id. Deleting a missing token is not an
// error.
func (s *Store) DeleteAccessToken(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM access_tokens WHERE id = $1`, id)
	return s.wrap(ctx, "delete access token", err)
}

// DeleteAccessTokensOfFamily removes the access tokens minted from one
// refresh family. An empty familyID matches nothing: it must not reach the
// tokens that came from no family at all. (Repeating "not empty" in SQL lets the
// planner use the partial index on refresh_family.)
func (s *Store) DeleteAccessTokensOfFamily(ctx context.Context, familyID string) error {
	if familyID == "" {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM access_tokens WHERE refresh_family = $1 AND refresh_family <> ''`, familyID)
	return s.wrap(ctx, "delete access tokens of family", err)
}

// DeleteAccessTokensOfSubject removes every access token of subject.
func (s *Store) DeleteAccessTokensOfSubject(ctx context.Context, subject string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM access_tokens WHERE subject = $1`, subject)
	return s.wrap(ctx, "delete access tokens of subject", err)
}

// Hit counts one event for key in a fixed window that starts at the first
// hit and lasts window, returning the count so far. One upsert: a live
// window is incremented, an expired one restarts at 1; concurrent hits
// serialise on the row, so every one is counted.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration) (int64, error) {
	if window <= 0 {
		return 0, fmt.Errorf("postgres: hit: %w", errBadTTL)
	}
	now := s.now()
	var n int64
	err := s.pool.QueryRow(ctx, `INSERT INTO hits AS h (key, count, expires_at) VALUES ($1, 1, $2)
		ON CONFLICT (key) DO UPDATE SET
			count      = CASE WHEN h.expires_at > $3 THEN h.count + 1 ELSE 1 END,
			expires_at = CASE WHEN h.expires_at > $3 THEN h.expires_at ELSE excluded.expires_at END
		RETURNING count`, key, ts(now.Add(window)), ts(now)).Scan(&n)
	if err != nil {
		return 0, s.wrap(ctx, "hit", err)
	}
	return n, nil
}

// ResetHits forgets the count for key.
func (s *Store) ResetHits(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM hits WHERE key = $1`, key)
	return s.wrap(ctx, "reset hits", err)
}

// UseTOTPStep records step for subject with one conditional upsert: it
// writes only when there is no live record or step is greater than the
// recorded one, and a write that did not happen is ErrConflict. The record
// lives for ttl after its last use.
func (s *Store) UseTOTPStep(ctx context.Context, subject string, step int64, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("postgres: use TOTP step: %w", errBadTTL)
	}
	now := s.now()
	tag, err := s.pool.Exec(ctx, `INSERT INTO totp_steps AS t (subject, step, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (subject) DO UPDATE SET step = excluded.step, expires_at = excluded.expires_at
		WHERE excluded.step > t.step OR t.expires_at <= $4`,
		subject, step, ts(now.Add(ttl)), ts(now))
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("step already used: %w", storage.ErrConflict)
	}
	return s.wrap(ctx, "use TOTP step", err)
}
