package redis_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/redis"
	"github.com/gongpai/gongpai/storage/redis/redistest"
)

// callTimeout bounds each call while Redis is down. A call that is still
// waiting when it runs out returns the context's error instead of
// ErrUnavailable, so the test fails on a hang without timing anything.
const callTimeout = 5 * time.Second

// TestRedisDown takes the store's Redis away mid-run — stopped, killed,
// or frozen so that connections stay open and nothing answers — and
// checks that every call fails fast with ErrUnavailable, and that once
// Redis is back the same Store works again without being reopened.
func TestRedisDown(t *testing.T) {
	tests := []struct {
		name     string
		down, up func(*redistest.Server)
	}{
		{"stopped", (*redistest.Server).Stop, (*redistest.Server).Restart},
		{"killed", (*redistest.Server).Kill, (*redistest.Server).Restart},
		{"frozen", (*redistest.Server).Pause, (*redistest.Server).Resume},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			s := openOpts(t, redis.Options{Addrs: []string{srv.Addr()}})
			ctx := t.Context()
			signIn(t, s, "before")

			tt.down(srv)
			for _, c := range calls(s) {
				callCtx, cancel := context.WithTimeout(ctx, callTimeout)
				start := time.Now()
				err := c.call(callCtx)
				cancel()
				if !errors.Is(err, storage.ErrUnavailable) {
					t.Errorf("%s with Redis down: got %v, want %v", c.name, err, storage.ErrUnavailable)
				}
				t.Logf("%s failed after %v: %v", c.name, time.Since(start).Round(time.Millisecond), err)
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.AuthRequest(cancelled, "ar-before"); !errors.Is(err, context.Canceled) {
				t.Errorf("AuthRequest with Redis down and a cancelled context: got %v, want %v", err, context.Canceled)
			}
			openCtx, cancel := context.WithTimeout(ctx, callTimeout)
			_, err := redis.Open(openCtx, redis.Options{Addrs: []string{srv.Addr()}})
			cancel()
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("Open with Redis down: got %v, want %v", err, storage.ErrUnavailable)
			}

			tt.up(srv)
			signIn(t, s, "after") // same Store, no reopening
		})
	}
}

type namedCall struct {
	name string
	call func(ctx context.Context) error
}

// calls exercises each kind of Redis round trip the store makes: a plain
// command, a script, a pipeline and a pipelined batch of scripts.
func calls(s *redis.Store) []namedCall {
	return []namedCall{
		{"Ping", s.Ping},
		{"AuthRequest", func(ctx context.Context) error { _, err := s.AuthRequest(ctx, "ar-before"); return err }},
		{"TakeAuthCode", func(ctx context.Context) error { _, err := s.TakeAuthCode(ctx, "code-before"); return err }},
		{"Hit", func(ctx context.Context) error { _, err := s.Hit(ctx, "ip:192.0.2.1", time.Minute); return err }},
		{"SessionsOfSubject", func(ctx context.Context) error { _, err := s.SessionsOfSubject(ctx, "sub-before"); return err }},
		{"DeleteAccessTokensOfSubject", func(ctx context.Context) error { return s.DeleteAccessTokensOfSubject(ctx, "sub-before") }},
	}
}

// signIn runs the store calls of one sign-in and code redemption, naming
// every record and the employee after tag.
func signIn(t *testing.T, s *redis.Store, tag string) {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	sub := "sub-" + tag
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s (%s): %v", what, tag, err)
		}
	}
	ar := "ar-" + tag
	must(s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: ar, ClientID: "oa", Scopes: []string{"openid"},
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}), "CreateAuthRequest")
	_, err := s.Hit(ctx, "emp:HR012023001", 15*time.Minute)
	must(err, "Hit")
	must(s.UseTOTPStep(ctx, sub, now.Unix()/30, 3*time.Minute), "UseTOTPStep")
	sess := "sess-" + tag
	must(s.CreateSession(ctx, &storage.Session{ID: sess, Subject: sub, AuthTime: now, AMR: []string{"pwd", "otp"},
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Hour)}), "CreateSession")
	must(s.CompleteAuthRequest(ctx, ar, storage.AuthResult{Subject: sub, AuthTime: now, AMR: []string{"pwd", "otp"},
		SessionID: sess}), "CompleteAuthRequest")
	must(s.SaveAuthCode(ctx, ar, "code-"+tag, time.Minute), "SaveAuthCode")
	r, err := s.TakeAuthCode(ctx, "code-"+tag)
	must(err, "TakeAuthCode")
	if r.ID != ar || r.Subject != sub {
		t.Fatalf("TakeAuthCode (%s): got request %q of %q, want %q of %q", tag, r.ID, r.Subject, ar, sub)
	}
	must(s.AddSessionClient(ctx, sess, "oa"), "AddSessionClient")
	must(s.CreateAccessToken(ctx, &storage.AccessToken{ID: "at-" + tag, ClientID: "oa", Subject: sub,
		RefreshFamily: "fam-" + tag, SessionID: sess, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}), "CreateAccessToken")
	must(s.DeleteAuthRequest(ctx, ar), "DeleteAuthRequest")
	got, err := s.SessionsOfSubject(ctx, sub)
	must(err, "SessionsOfSubject")
	if len(got) != 1 || got[0].ID != sess || !slices.Equal(got[0].ClientIDs, []string{"oa"}) {
		t.Fatalf("SessionsOfSubject (%s): got %+v, want %s with client oa", tag, got, sess)
	}
}
