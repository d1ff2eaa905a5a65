package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gongpai/gongpai/storage"
)

// Every ephemeral read filters on expires_at > now, so an expired row is
// ErrNotFound the instant it expires, whether or not Sweep has run.

// errBadTTL rejects a non-positive lifetime, which would create a record
// that is born expired.
var errBadTTL = errors.New("ttl must be positive")

// CreateAuthRequest stores r; ErrConflict on a duplicate ID.
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	var maxAge any
	if r.MaxAge != nil {
		maxAge = int64(*r.MaxAge)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO auth_requests (id, client_id, redirect_uri, scopes, state, nonce,
		response_type, response_mode, code_challenge, code_challenge_method, prompt, max_age, ui_locales, login_hint,
		acr_values, hint_subject, created_at, expires_at, done, subject, auth_time, amr, acr, session_id,
		browser_binding)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.ClientID, r.RedirectURI, list(r.Scopes), r.State, r.Nonce, r.ResponseType, r.ResponseMode,
		r.CodeChallenge, r.CodeChallengeMethod, list(r.Prompt), maxAge, list(r.UILocales), r.LoginHint,
		list(r.ACRValues), r.HintSubject, micros(r.CreatedAt), micros(r.ExpiresAt), r.Done, r.Subject,
		micros(r.AuthTime), list(r.AMR), r.ACR, r.SessionID, r.BrowserBinding)
	return wrap(ctx, "create auth request", err)
}

const authRequestCols = `id, client_id, redirect_uri, scopes, state, nonce, response_type, response_mode,
	code_challenge, code_challenge_method, prompt, max_age, ui_locales, login_hint, acr_values, hint_subject,
	created_at, expires_at, done, subject, auth_time, amr, acr, session_id, browser_binding`

func scanAuthRequest(row rowScanner, r *storage.AuthRequest) error {
	var maxAge sql.NullInt64
	err := row.Scan(&r.ID, &r.ClientID, &r.RedirectURI, listCol{&r.Scopes}, &r.State, &r.Nonce, &r.ResponseType,
		&r.ResponseMode, &r.CodeChallenge, &r.CodeChallengeMethod, listCol{&r.Prompt}, &maxAge, listCol{&r.UILocales},
		&r.LoginHint, listCol{&r.ACRValues}, &r.HintSubject, timeCol{&r.CreatedAt}, timeCol{&r.ExpiresAt}, &r.Done,
		&r.Subject, timeCol{&r.AuthTime}, listCol{&r.AMR}, &r.ACR, &r.SessionID, &r.BrowserBinding)
	if maxAge.Valid {
		d := time.Duration(maxAge.Int64)
		r.MaxAge = &d
	}
	return err
}

// AuthRequest returns the pending request id; ErrNotFound when missing or
// expired.
func (s *Store) AuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	var r storage.AuthRequest
	err := scanAuthRequest(s.r.QueryRowContext(ctx, `SELECT `+authRequestCols+` FROM auth_requests
		WHERE id = ? AND expires_at > ?`, id, s.nowMicros()), &r)
	if err != nil {
		return nil, wrap(ctx, "auth request", err)
	}
	return &r, nil
}

// CompleteAuthRequest marks the request done with res; ErrNotFound when
// missing or expired.
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, res storage.AuthResult) error {
	r, err := s.w.ExecContext(ctx, `UPDATE auth_requests SET done = 1, subject = ?, auth_time = ?, amr = ?, acr = ?,
		session_id = ? WHERE id = ? AND expires_at > ?`,
		res.Subject, micros(res.AuthTime), list(res.AMR), res.ACR, res.SessionID, id, s.nowMicros())
	if err == nil {
		err = mustAffect(r)
	}
	return wrap(ctx, "complete auth request", err)
}

// mustAffect is ErrNotFound when res changed no row.
func mustAffect(res sql.Result) error {
	ok, err := affected(res)
	if err == nil && !ok {
		err = storage.ErrNotFound
	}
	return err
}

// DeleteAuthRequest removes the request and any code bound to it.
// Deleting a missing request is not an error.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM auth_requests WHERE id = ?`, id)
	return wrap(ctx, "delete auth request", err)
}

// codeHash is what is stored for an auth code: the code is a bearer
// secret, so the database only ever sees its SHA-256.
func codeHash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// SaveAuthCode binds code to the auth request for ttl. ErrNotFound when
// the request is missing or expired; ErrConflict when it already has a
// code (even one since taken) or the code is bound to another request.
func (s *Store) SaveAuthCode(ctx context.Context, authRequestID, code string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("sqlite: save auth code: %w", errBadTTL)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := s.now()
		res, err := tx.ExecContext(ctx, `UPDATE auth_requests SET code_hash = ?, code_expires_at = ?
			WHERE id = ? AND expires_at > ? AND code_hash IS NULL`,
			codeHash(code), micros(now.Add(ttl)), authRequestID, micros(now))
		if err != nil {
			return err
		}
		ok, err := affected(res)
		if err != nil || ok {
			return err
		}
		var found bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM auth_requests WHERE id = ? AND expires_at > ?)`,
			authRequestID, micros(now)).Scan(&found); err != nil {
			return err
		}
		if found {
			return fmt.Errorf("auth request already has a code: %w", storage.ErrConflict)
		}
		return storage.ErrNotFound
	})
	return wrap(ctx, "save auth code", err)
}

// TakeAuthCode consumes code with one conditional UPDATE … RETURNING and
// returns its auth request. The code must be unused and unexpired, and the
// request unexpired; everything else, including every caller after the
// winner, is ErrNotFound. The used code stays on the request row until the
// request is deleted or swept, so the request can never get a second code.
func (s *Store) TakeAuthCode(ctx context.Context, code string) (*storage.AuthRequest, error) {
	var r storage.AuthRequest
	now := s.nowMicros()
	err := scanAuthRequest(s.w.QueryRowContext(ctx, `UPDATE auth_requests SET code_used = 1
		WHERE code_hash = ? AND code_used = 0 AND code_expires_at > ? AND expires_at > ?
		RETURNING `+authRequestCols, codeHash(code), now, now), &r)
	if err != nil {
		return nil, wrap(ctx, "take auth code", err)
	}
	return &r, nil
}

// CreateSession stores sess; ErrConflict on a duplicate ID.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO sessions (id, subject, auth_time, amr, acr, client_ids, user_agent,
		remote_ip, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.ID, sess.Subject, micros(sess.AuthTime), list(sess.AMR), sess.ACR, list(sess.ClientIDs), sess.UserAgent,
		sess.RemoteIP, micros(sess.CreatedAt), micros(sess.ExpiresAt))
	return wrap(ctx, "create session", err)
}

const sessionCols = `id, subject, auth_time, amr, acr, client_ids, user_agent, remote_ip, created_at, expires_at`

func scanSession(r rowScanner, s *storage.Session) error {
	return r.Scan(&s.ID, &s.Subject, timeCol{&s.AuthTime}, listCol{&s.AMR}, &s.ACR, listCol{&s.ClientIDs},
		&s.UserAgent, &s.RemoteIP, timeCol{&s.CreatedAt}, timeCol{&s.ExpiresAt})
}

// Session returns session id; ErrNotFound when missing or expired.
func (s *Store) Session(ctx context.Context, id string) (*storage.Session, error) {
	var sess storage.Session
	err := scanSession(s.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ? AND expires_at > ?`,
		id, s.nowMicros()), &sess)
	if err != nil {
		return nil, wrap(ctx, "session", err)
	}
	return &sess, nil
}

// AddSessionClient appends clientID to the session's ClientIDs unless it
// is already there; ErrNotFound when the session is missing or expired.
func (s *Store) AddSessionClient(ctx context.Context, id, clientID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var ids []string
		now := s.nowMicros()
		err := tx.QueryRowContext(ctx, `SELECT client_ids FROM sessions WHERE id = ? AND expires_at > ?`, id, now).
			Scan(listCol{&ids})
		if err != nil {
			return err
		}
		if slices.Contains(ids, clientID) {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET client_ids = ? WHERE id = ?`, list(append(ids, clientID)), id)
		return err
	})
	return wrap(ctx, "add session client", err)
}

// DeleteSession ends session id. Deleting a missing session is not an
// error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return wrap(ctx, "delete session", err)
}

// DeleteSessionsOfSubject deletes every session of subject and returns the
// ones that were still live, oldest first.
func (s *Store) DeleteSessionsOfSubject(ctx context.Context, subject string) ([]storage.Session, error) {
	var out []storage.Session
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM sessions WHERE subject = ? RETURNING `+sessionCols, subject)
		all, err := collect(rows, err, scanSession)
		if err != nil {
			return err
		}
		now := s.now()
		for _, sess := range all {
			if sess.ExpiresAt.After(now) {
				out = append(out, sess)
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(ctx, "delete sessions of subject", err)
	}
	// RETURNING gives no order guarantee.
	slices.SortFunc(out, func(a, b storage.Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// SessionsOfSubject returns the live sessions of subject, oldest first.
func (s *Store) SessionsOfSubject(ctx context.Context, subject string) ([]storage.Session, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE subject = ? AND expires_at > ?
		ORDER BY created_at, id`, subject, s.nowMicros())
	out, err := collect(rows, err, scanSession)
	return out, wrap(ctx, "sessions of subject", err)
}

// CreateAccessToken stores t; ErrConflict on a duplicate ID.
func (s *Store) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO access_tokens (id, client_id, subject, scopes, audience, refresh_family,
		session_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.ClientID, t.Subject, list(t.Scopes), list(t.Audience), t.RefreshFamily, t.SessionID,
		micros(t.CreatedAt), micros(t.ExpiresAt))
	return wrap(ctx, "create access token", err)
}

// AccessToken returns token id; ErrNotFound when missing or expired.
func (s *Store) AccessToken(ctx context.Context, id string) (*storage.AccessToken, error) {
	var t storage.AccessToken
	err := s.r.QueryRowContext(ctx, `SELECT id, client_id, subject, scopes, audience, refresh_family, session_id,
		created_at, expires_at FROM access_tokens WHERE id = ? AND expires_at > ?`, id, s.nowMicros()).
		Scan(&t.ID, &t.ClientID, &t.Subject, listCol{&t.Scopes}, listCol{&t.Audience}, &t.RefreshFamily, &t.SessionID,
			timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt})
	if err != nil {
		return nil, wrap(ctx, "access token", err)
	}
	return &t, nil
}

// DeleteAccessToken removes token id. Deleting a missing token is not an
// error.
func (s *Store) DeleteAccessToken(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM access_tokens WHERE id = ?`, id)
	return wrap(ctx, "delete access token", err)
}

// DeleteAccessTokensOfFamily removes the access tokens minted from one
// refresh family. An empty familyID matches nothing: it must not reach the
// tokens that came from no family at all.
func (s *Store) DeleteAccessTokensOfFamily(ctx context.Context, familyID string) error {
	if familyID == "" {
		return nil
	}
	_, err := s.w.ExecContext(ctx, `DELETE FROM access_tokens WHERE refresh_family = ?`, familyID)
	return wrap(ctx, "delete access tokens of family", err)
}

// DeleteAccessTokensOfSubject removes every access token of subject.
func (s *Store) DeleteAccessTokensOfSubject(ctx context.Context, subject string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM access_tokens WHERE subject = ?`, subject)
	return wrap(ctx, "delete access tokens of subject", err)
}

// Hit counts one event for key in a fixed window that starts at the first
// hit and lasts window, returning the count so far. One upsert statement,
// so concurrent hits are all counted.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration) (int64, error) {
	if window <= 0 {
		return 0, fmt.Errorf("sqlite: hit: %w", errBadTTL)
	}
	now := s.now()
	var n int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO hits (key, count, expires_at) VALUES (?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET
			count      = CASE WHEN hits.expires_at > ? THEN hits.count + 1 ELSE 1 END,
			expires_at = CASE WHEN hits.expires_at > ? THEN hits.expires_at ELSE excluded.expires_at END
		RETURNING count`, key, micros(now.Add(window)), micros(now), micros(now)).Scan(&n)
	if err != nil {
		return 0, wrap(ctx, "hit", err)
	}
	return n, nil
}

// ResetHits forgets the count for key.
func (s *Store) ResetHits(ctx context.Context, key string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM hits WHERE key = ?`, key)
	return wrap(ctx, "reset hits", err)
}

// UseTOTPStep records step for subject with one conditional upsert: it
// writes only when there is no live record or step is greater than the
// recorded one, and a write that did not happen is ErrConflict. The record
// lives for ttl after its last use.
func (s *Store) UseTOTPStep(ctx context.Context, subject string, step int64, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("sqlite: use TOTP step: %w", errBadTTL)
	}
	now := s.now()
	res, err := s.w.ExecContext(ctx, `INSERT INTO totp_steps (subject, step, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (subject) DO UPDATE SET step = excluded.step, expires_at = excluded.expires_at
		WHERE excluded.step > totp_steps.step OR totp_steps.expires_at <= ?`,
		subject, step, micros(now.Add(ttl)), micros(now))
	if err == nil {
		var ok bool
		if ok, err = affected(res); err == nil && !ok {
			err = fmt.Errorf("step already used: %w", storage.ErrConflict)
		}
	}
	return wrap(ctx, "use TOTP step", err)
}
