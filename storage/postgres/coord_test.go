package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/postgres"
	"github.com/gongpai/gongpai/storage/postgres/pgtest"
)

// The capabilities keys.Manager looks for on its store.
var (
	_ keys.Locker   = (*postgres.Store)(nil)
	_ keys.Notifier = (*postgres.Store)(nil)
)

func tryLock(t *testing.T, s *postgres.Store, name string) (func(), bool) {
	t.Helper()
	release, ok, err := s.TryLock(t.Context(), name)
	if err != nil {
		t.Fatalf("TryLock(%q): %v", name, err)
	}
	if ok != (release != nil) {
		t.Fatalf("TryLock(%q): ok=%v but release set=%v", name, ok, release != nil)
	}
	return release, ok
}

// eventually retries f for up to d: a session ended by the server is
// released asynchronously.
func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two stores on one database are two replicas: the lock is exclusive
// between them and within one, released by release, by Close, and by the
// end of the holder's connection (what a crashed process amounts to).
func TestTryLock(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := open(t, dsn, postgres.Options{})
	b := open(t, dsn, postgres.Options{})

	relA, ok := tryLock(t, a, "rotation")
	if !ok {
		t.Fatal("A: the free lock was refused")
	}
	if _, ok := tryLock(t, b, "rotation"); ok {
		t.Fatal("B took the lock A holds")
	}
	if _, ok := tryLock(t, a, "rotation"); ok {
		t.Fatal("A took the lock it already holds (a second caller in one process must be refused too)")
	}
	relOther, ok := tryLock(t, b, "other")
	if !ok {
		t.Fatal("B: a lock of another name was refused")
	}
	relOther()

	relA()
	relA() // a second release does nothing
	relB, ok := tryLock(t, b, "rotation")
	if !ok {
		t.Fatal("B could not take the lock A released")
	}
	if _, ok := tryLock(t, a, "rotation"); ok {
		t.Fatal("A took the lock B holds")
	}
	relB()

	// Close releases what the store holds.
	c := open(t, dsn, postgres.Options{})
	if _, ok := tryLock(t, c, "rotation"); !ok {
		t.Fatal("C could not take the free lock")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	relA, ok = tryLock(t, a, "rotation")
	if !ok {
		t.Fatal("the lock of a closed store was not released")
	}
	if _, _, err := c.TryLock(t.Context(), "rotation"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("TryLock after Close: %v; want ErrUnavailable", err)
	}

	// The holder's session ends (the process died, or an operator ended
	// it): the lock is free for others, and A recovers on a new session.
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	if err := admin.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d sessions holding advisory locks; want 1", killed)
	}
	var relB2 func()
	eventually(t, 5*time.Second, "B takes the lock of a terminated session", func() bool {
		var ok bool
		relB2, ok = tryLock(t, b, "rotation")
		return ok
	})
	relA() // the lock went with its session: this must not release B's
	if _, ok := tryLock(t, a, "rotation"); ok {
		t.Fatal("A took the lock B holds, after A's session was replaced")
	}
	relB2()
	if rel, ok := tryLock(t, a, "rotation"); !ok {
		t.Fatal("A could not take the free lock on its new session")
	} else {
		rel()
	}
}

// wait reports whether ch delivers within d.
func wait(ch <-chan struct{}, d time.Duration) bool {
	select {
	case _, ok := <-ch:
		return ok
	case <-time.After(d):
		return false
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestWatchKeys(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := open(t, dsn, postgres.Options{})
	b := open(t, dsn, postgres.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	chB, err := b.WatchKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	chA, err := a.WatchKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.NotifyKeysChanged(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !wait(chB, time.Second) {
			t.Fatalf("round %d: B did not see A's notification within a second", i)
		}
	}
	// A store's own announcements are not news to it.
	if wait(chA, 200*time.Millisecond) {
		t.Error("A's watcher delivered A's own notification")
	}
	if err := b.NotifyKeysChanged(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !wait(chA, time.Second) {
		t.Error("A did not see B's notification within a second")
	}

	// The channel closes when ctx ends.
	cancel()
	for _, ch := range []<-chan struct{}{chA, chB} {
		select {
		case _, ok := <-ch:
			if ok {
				_, ok = <-ch // at most one value was pending
			}
			if ok {
				t.Error("a watcher delivered after its context ended")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a watcher's channel stayed open after its context ended")
		}
	}

	// And when the store closes.
	chB, err = b.WatchKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for range chB {
		}
	}()
	b.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher's channel stayed open after Close")
	}
	if _, err := b.WatchKeys(t.Context()); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("WatchKeys after Close: %v; want ErrUnavailable", err)
	}
}

// After the server is stopped and started again, a watcher listens again
// on its own and hears new notifications.
func TestWatchKeysSurvivesRestart(t *testing.T) {
	srv := pgtest.StartServer(t)
	dsn := srv.DSN("postgres")
	a := open(t, dsn, postgres.Options{})
	b := open(t, dsn, postgres.Options{})
	ch, err := b.WatchKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.NotifyKeysChanged(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !wait(ch, time.Second) {
		t.Fatal("no notification before the restart")
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the watcher notice and retry a few times
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// The watcher delivers once when it listens again (changes may have
	// gone unannounced meanwhile), so only two rounds in a row that each
	// see a notification prove it hears new ones.
	deadline := time.Now().Add(30 * time.Second)
	for streak := 0; streak < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not resume within 30s of the restart")
		}
		drain(ch)
		if err := a.NotifyKeysChanged(t.Context()); err != nil {
			streak = 0 // pooled connections broken by the restart are discarded one by one
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if wait(ch, time.Second) {
			streak++
		} else {
			streak = 0
		}
	}
}
