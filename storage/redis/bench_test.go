package redis_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/redis"
	"github.com/gongpai/gongpai/storage/redis/redistest"
)

// BenchmarkSignInRound is the store side of one interactive sign-in and
// code redemption: 7 calls, 11 Redis round trips.
func BenchmarkSignInRound(b *testing.B) {
	addr, prefix := redistest.Addr(b)
	s, err := redis.Open(b.Context(), redis.Options{Addrs: []string{addr}, KeyPrefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := b.Context()
	i := 0
	for b.Loop() {
		i++
		n, now := strconv.Itoa(i), time.Now()
		ar, sess := "ar-"+n, "sess-"+n
		err := s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: ar, ClientID: "oa", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
		if err == nil {
			err = s.CreateSession(ctx, &storage.Session{ID: sess, Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		}
		if err == nil {
			err = s.CompleteAuthRequest(ctx, ar, storage.AuthResult{Subject: "alice", AuthTime: now, SessionID: sess})
		}
		if err == nil {
			err = s.SaveAuthCode(ctx, ar, "code-"+n, time.Minute)
		}
		if err == nil {
			_, err = s.TakeAuthCode(ctx, "code-"+n)
		}
		if err == nil {
			err = s.AddSessionClient(ctx, sess, "oa")
		}
		if err == nil {
			err = s.CreateAccessToken(ctx, &storage.AccessToken{ID: "at-" + n, ClientID: "oa", Subject: "alice",
				RefreshFamily: "fam-" + n, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
