package storage

import (
	"context"
	"errors"
	"time"
)

// Combine makes one Store of a durable backend and a separate ephemeral
// one (postgres + redis). Ping checks both; Close closes both.
func Combine(d Durable, e Ephemeral) Store { return &combined{d, e} }

// DurableOf returns the durable backend of s: the durable half of a
// Combine, else s itself. A caller that type-asserts a backend's optional
// capabilities (keys.Manager looks for keys.Locker and keys.Notifier) must
// be given this: the combined store has the methods of Store and no
// others, so the assertion on it fails even when postgres implements them.
func DurableOf(s Store) Durable {
	if c, ok := s.(*combined); ok {
		return c.Durable
	}
	return s
}

type combined struct {
	Durable
	ephemeral Ephemeral
}

func (c *combined) Ping(ctx context.Context) error {
	return errors.Join(c.Durable.Ping(ctx), c.ephemeral.Ping(ctx))
}

func (c *combined) Close() error { return errors.Join(c.Durable.Close(), c.ephemeral.Close()) }

func (c *combined) CreateAuthRequest(ctx context.Context, r *AuthRequest) error {
	return c.ephemeral.CreateAuthRequest(ctx, r)
}
func (c *combined) AuthRequest(ctx context.Context, id string) (*AuthRequest, error) {
	return c.ephemeral.AuthRequest(ctx, id)
}
func (c *combined) CompleteAuthRequest(ctx context.Context, id string, res AuthResult) error {
	return c.ephemeral.CompleteAuthRequest(ctx, id, res)
}
func (c *combined) DeleteAuthRequest(ctx context.Context, id string) error {
	return c.ephemeral.DeleteAuthRequest(ctx, id)
}
func (c *combined) SaveAuthCode(ctx context.Context, authRequestID, code string, ttl time.Duration) error {
	return c.ephemeral.SaveAuthCode(ctx, authRequestID, code, ttl)
}
func (c *combined) TakeAuthCode(ctx context.Context, code string) (*AuthRequest, error) {
	return c.ephemeral.TakeAuthCode(ctx, code)
}
func (c *combined) CreateSession(ctx context.Context, s *Session) error {
	return c.ephemeral.CreateSession(ctx, s)
}
func (c *combined) Session(ctx context.Context, id string) (*Session, error) {
	return c.ephemeral.Session(ctx, id)
}
func (c *combined) AddSessionClient(ctx context.Context, id, clientID string) error {
	return c.ephemeral.AddSessionClient(ctx, id, clientID)
}
func (c *combined) DeleteSession(ctx context.Context, id string) error {
	return c.ephemeral.DeleteSession(ctx, id)
}
func (c *combined) DeleteSessionsOfSubject(ctx context.Context, subject string) ([]Session, error) {
	return c.ephemeral.DeleteSessionsOfSubject(ctx, subject)
}
func (c *combined) SessionsOfSubject(ctx context.Context, subject string) ([]Session, error) {
	return c.ephemeral.SessionsOfSubject(ctx, subject)
}
func (c *combined) CreateAccessToken(ctx context.Context, t *AccessToken) error {
	return c.ephemeral.CreateAccessToken(ctx, t)
}
func (c *combined) AccessToken(ctx context.Context, id string) (*AccessToken, error) {
	return c.ephemeral.AccessToken(ctx, id)
}
func (c *combined) DeleteAccessToken(ctx context.Context, id string) error {
	return c.ephemeral.DeleteAccessToken(ctx, id)
}
func (c *combined) DeleteAccessTokensOfFamily(ctx context.Context, familyID string) error {
	return c.ephemeral.DeleteAccessTokensOfFamily(ctx, familyID)
}
func (c *combined) DeleteAccessTokensOfSubject(ctx context.Context, subject string) error {
	return c.ephemeral.DeleteAccessTokensOfSubject(ctx, subject)
}
func (c *combined) Hit(ctx context.Context, key string, window time.Duration) (int64, error) {
	return c.ephemeral.Hit(ctx, key, window)
}
func (c *combined) ResetHits(ctx context.Context, key string) error {
	return c.ephemeral.ResetHits(ctx, key)
}
func (c *combined) UseTOTPStep(ctx context.Context, subject string, step int64, ttl time.Duration) error {
	return c.ephemeral.UseTOTPStep(ctx, subject, step, ttl)
}

var _ Store = (*combined)(nil)
