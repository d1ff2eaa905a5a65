package redistest

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

// TestAddrFromEnv: with GONGPAI_TEST_REDIS_ADDR set, Addr hands out that
// server (here a dedicated one standing in for it).
func TestAddrFromEnv(t *testing.T) {
	srv := Start(t)
	t.Setenv(EnvAddr, srv.Addr())
	addr, p1 := Addr(t)
	if addr != srv.Addr() {
		t.Errorf("Addr with %s=%s: got %s", EnvAddr, srv.Addr(), addr)
	}
	_, p2 := Addr(t)
	if p1 == p2 || !strings.HasSuffix(p1, ":") {
		t.Errorf("prefixes: got %q and %q, want distinct, ending in ':'", p1, p2)
	}
}

// TestAddrSpawned: without the variable, Addr starts one throwaway server
// and hands it to every caller.
func TestAddrSpawned(t *testing.T) {
	t.Setenv(EnvAddr, "")
	a1, _ := Addr(t)
	a2, _ := Addr(t)
	if a1 != a2 || shared.srv == nil || a1 != shared.srv.Addr() {
		t.Fatalf("Addr without %s: got %s and %s, want the shared server's address twice", EnvAddr, a1, a2)
	}
	if err := ping(a1, time.Second); err != nil {
		t.Fatalf("shared server: %v", err)
	}
}

// TestAddrCleansPrefix: a test's keys are gone when it ends; others' stay.
func TestAddrCleansPrefix(t *testing.T) {
	var addr, prefix string
	t.Run("writer", func(t *testing.T) {
		addr, prefix = Addr(t)
		c := client(t, addr)
		for _, k := range []string{"a", "{sub:x}:b"} {
			if err := c.Set(t.Context(), prefix+k, "v", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	c := client(t, addr)
	other := "gongpai-test:other-" + randomHex()
	if err := c.Set(t.Context(), other, "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	defer c.Del(context.WithoutCancel(t.Context()), other)
	if n := c.Exists(t.Context(), prefix+"a", prefix+"{sub:x}:b").Val(); n != 0 {
		t.Errorf("after the test: %d of its keys left, want 0", n)
	}
	if n := c.Exists(t.Context(), other).Val(); n != 1 {
		t.Errorf("another test's key: got %d, want it kept", n)
	}
}

func TestStartStopRestart(t *testing.T) {
	srv := Start(t)
	addr := srv.Addr()
	steps := []struct {
		name string
		do   func()
		up   bool
	}{
		{"started", func() {}, true},
		{"stopped", srv.Stop, false},
		{"stopped twice", srv.Stop, false},
		{"restarted", srv.Restart, true},
		{"killed", srv.Kill, false},
		{"restarted after kill", srv.Restart, true},
		{"paused", srv.Pause, false},
		{"resumed", srv.Resume, true},
	}
	for _, st := range steps {
		st.do()
		if srv.Addr() != addr {
			t.Fatalf("%s: address changed from %s to %s", st.name, addr, srv.Addr())
		}
		err := ping(addr, 300*time.Millisecond)
		if up := err == nil; up != st.up {
			t.Fatalf("%s: answering=%t (%v), want %t", st.name, up, err, st.up)
		}
	}
}

func TestStartCluster(t *testing.T) {
	srv := StartCluster(t)
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{srv.Addr()}, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	if err := c.Set(ctx, "{a}x", 1, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	// Two keys in different slots: a real cluster refuses this.
	if err := c.Do(ctx, "MGET", "{a}x", "{b}y").Err(); err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Errorf("cross-slot MGET: got %v, want CROSSSLOT", err)
	}
	srv.Restart()
	if err := c.Set(ctx, "{a}x", 1, time.Minute).Err(); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

// recorder stands in for a testing.TB to see how unavailable ends a test.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestUnavailableIsLoudAndFailsUnderCI(t *testing.T) {
	tests := []struct {
		ci           string
		skip, failed bool
	}{
		{"", true, false},
		{"false", true, false},
		{"true", false, true},
	}
	for _, tt := range tests {
		t.Setenv("CI", tt.ci)
		r := &recorder{TB: t}
		unavailable(r, context.DeadlineExceeded)
		if r.skipped != tt.skip || r.failed != tt.failed {
			t.Errorf("CI=%q: got skipped=%t failed=%t, want %t %t", tt.ci, r.skipped, r.failed, tt.skip, tt.failed)
		}
	}
}

// TestStartWithoutBinary: no redis-server in PATH is a skip (a failure
// under CI), never a hang or a panic.
func TestStartWithoutBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	if s := Start(r); s != nil || !r.skipped {
		t.Errorf("Start without redis-server: got %v, skipped=%t; want nil, skipped", s, r.skipped)
	}
}

func client(t *testing.T, addr string) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: addr, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}
