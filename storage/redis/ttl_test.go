package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/redis"
	"github.com/gongpai/gongpai/storage/redis/redistest"
)

// TestEveryKeyHasTTL runs a sign-in's worth of calls — including the
// failure paths that write and undo — and then checks, with a SCAN the
// store itself never uses, that every key under the prefix expires.
func TestEveryKeyHasTTL(t *testing.T) {
	addr, prefix := redistest.Addr(t)
	s := openOpts(t, redis.Options{Addrs: []string{addr}, KeyPrefix: prefix})
	ctx := t.Context()
	signIn(t, s, "1")
	signIn(t, s, "2")

	now := time.Now()
	// A losing SaveAuthCode, one for a missing request, a completed but
	// unredeemed request, an index left by a duplicate, a refused TOTP.
	if err := s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "ar-3", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAuthCode(ctx, "ar-3", "code-3", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAuthCode(ctx, "ar-3", "code-4", time.Minute); err == nil {
		t.Fatal("second SaveAuthCode: no error")
	}
	if err := s.SaveAuthCode(ctx, "ar-missing", "code-5", time.Minute); err == nil {
		t.Fatal("SaveAuthCode for a missing request: no error")
	}
	if err := s.CreateSession(ctx, &storage.Session{ID: "sess-1", Subject: "bob", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err == nil {
		t.Fatal("duplicate CreateSession: no error")
	}
	if err := s.UseTOTPStep(ctx, "sub-1", 1, time.Minute); err == nil {
		t.Fatal("old TOTP step: no error")
	}
	// A record created already expired still gets a TTL.
	if err := s.CreateAccessToken(ctx, &storage.AccessToken{ID: "at-old", Subject: "carol", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccessTokensOfFamily(ctx, "fam-1"); err != nil {
		t.Fatal(err)
	}

	c := goredis.NewClient(&goredis.Options{Addr: addr, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	kinds := map[string]int{}
	it := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for it.Next(ctx) {
		key := it.Val()
		ttl, err := c.PTTL(context.WithoutCancel(ctx), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 {
			t.Errorf("key %q has TTL %v, want > 0", key, ttl)
		}
		kinds[kind(strings.TrimPrefix(key, prefix))]++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("keys by kind: %v", kinds)
	for _, k := range []string{"ar", "code", "sess", "{sub}:sess", "at", "{sub}:at", "{fam}:at", "hit", "{sub}:totp"} {
		if kinds[k] == 0 {
			t.Errorf("no %q key was written; the sequence no longer covers it", k)
		}
	}
}

// kind names a key by its layout: "ar", "{sub}:sess", ….
func kind(key string) string {
	if strings.HasPrefix(key, "{") {
		tag, rest, _ := strings.Cut(key[1:], "}")
		name, _, _ := strings.Cut(tag, ":")
		return "{" + name + "}" + rest
	}
	name, _, _ := strings.Cut(key, ":")
	return name
}
