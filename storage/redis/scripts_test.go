package redis_test

import (
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/redis"
	"github.com/gongpai/gongpai/storage/redis/redistest"
)

// TestScriptCacheFlushed: after Redis forgets its scripts (a restart, a
// failover, SCRIPT FLUSH) the store falls back to EVAL, also inside the
// pipelined batches of the per-employee deletes.
func TestScriptCacheFlushed(t *testing.T) {
	srv := redistest.Start(t)
	s := openOpts(t, redis.Options{Addrs: []string{srv.Addr()}})
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), DisableIdentity: true})
	t.Cleanup(func() { admin.Close() })
	ctx := t.Context()
	now := time.Now()
	for _, id := range []string{"sess-1", "sess-2"} {
		if err := s.CreateSession(ctx, &storage.Session{ID: id, Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAccessToken(ctx, &storage.AccessToken{ID: "at-1", Subject: "alice", RefreshFamily: "fam-1",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeleteSessionsOfSubject(ctx, "alice")
	if err != nil || len(got) != 2 {
		t.Fatalf("DeleteSessionsOfSubject after SCRIPT FLUSH: got %d sessions, %v; want 2, nil", len(got), err)
	}
	if err := admin.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccessTokensOfFamily(ctx, "fam-1"); err != nil {
		t.Fatalf("DeleteAccessTokensOfFamily after SCRIPT FLUSH: %v", err)
	}
	if _, err := s.AccessToken(ctx, "at-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("AccessToken after its family was deleted: got %v, want %v", err, storage.ErrNotFound)
	}
}
