package redis_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/redis"
	"github.com/gongpai/gongpai/storage/redis/redistest"
	"github.com/gongpai/gongpai/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.RunEphemeral(t, func(t *testing.T, now func() time.Time) storage.Ephemeral { return open(t, now) })
}

// open opens a Store on the test Redis under a key prefix of its own.
func open(t *testing.T, now func() time.Time) *redis.Store {
	t.Helper()
	addr, prefix := redistest.Addr(t)
	return openOpts(t, redis.Options{Addrs: []string{addr}, KeyPrefix: prefix, Now: now})
}

func openOpts(t *testing.T, o redis.Options) *redis.Store {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	s, err := redis.Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
