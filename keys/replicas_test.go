package keys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/storage/postgres"
	"github.com/gongpai/gongpai/storage/postgres/pgtest"
)

// TestMain lets pgtest stop its throwaway server after the last test.
func TestMain(m *testing.M) { pgtest.Main(m) }

func openPostgres(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two replicas on one postgres database, polling once an hour: a rotation
// and a revocation made by one are in force on the other within a couple
// of seconds, through LISTEN/NOTIFY.
func TestReplicasSeeChangesAtOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	sealer := newSealer(t)
	policy := keys.Policy{Algorithms: []string{keys.ES256}, PollInterval: time.Hour}
	a := keys.NewManager(openPostgres(t, dsn), sealer, keys.Options{Policy: policy})
	b := keys.NewManager(openPostgres(t, dsn), sealer, keys.Options{Policy: policy})
	ctx := t.Context()
	for _, m := range []*keys.Manager{a, b} {
		if err := m.Load(ctx); err != nil {
			t.Fatal(err)
		}
	}
	first, _, _ := a.Active()
	if kid, _, _ := b.Active(); kid != first {
		t.Fatalf("after Load: A signs with %s, B with %s", first, kid)
	}

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	for _, m := range []*keys.Manager{a, b} {
		wg.Go(func() { _ = m.Run(runCtx) })
	}
	// Run LISTENs from its own goroutine: wait until both sessions do, or
	// a notification sent before could be missed and the test would only
	// prove the poll.
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+postgres.KeysChannel+`'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions LISTEN after 10s; want 2", n)
		}
		time.Sleep(20 * time.Millisecond)
	}

	within := func(what string, f func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for !f() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 2s (the poll interval is an hour)", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	rotated, err := a.Rotate(ctx, keys.RotateOptions{Now: true, Actor: "test", Reason: "replicas"})
	if err != nil {
		t.Fatal(err)
	}
	if kid, _, _ := a.Active(); kid != rotated.KID || kid == first {
		t.Fatalf("A signs with %s after rotating to %s (was %s)", kid, rotated.KID, first)
	}
	within("B signs with the key A activated", func() bool { kid, _, _ := b.Active(); return kid == rotated.KID })

	if _, err := a.Revoke(ctx, first, "test", "compromised"); err != nil {
		t.Fatal(err)
	}
	within("B drops the key A revoked", func() bool { return !has(b.Published(), first) })

	// The other way round: B's routine rotation publishes a next key on A.
	next, err := b.Rotate(ctx, keys.RotateOptions{Actor: "test", Reason: "replicas"})
	if err != nil {
		t.Fatal(err)
	}
	within("A publishes the next key B created", func() bool { return has(a.Published(), next.KID) })
}

// The rotation job maintains the set only on the replica holding the
// postgres advisory lock; the others only read.
func TestRotationJobTakesTheLock(t *testing.T) {
	dsn := pgtest.DSN(t)
	c := newClock()
	sealer := newSealer(t)
	policy := keys.Policy{Algorithms: []string{keys.ES256}, PollInterval: time.Hour}
	holder, worker := openPostgres(t, dsn), openPostgres(t, dsn)
	m := keys.NewManager(worker, sealer, keys.Options{Policy: policy, Now: c.Now})
	ctx := t.Context()
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	c.Advance(keys.DefaultRotationPeriod) // a next key is due

	// Another replica runs the job (the lock's name is keys' own).
	release, ok, err := holder.TryLock(ctx, "gongpai:keys:rotation")
	if err != nil || !ok {
		t.Fatalf("TryLock: ok=%v err=%v", ok, err)
	}
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := worker.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("a Tick without the lock wrote: %d keys stored, want 1", len(rows))
	}

	release()
	if err := m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, _ = worker.ListSigningKeys(ctx); len(rows) != 2 {
		t.Fatalf("a Tick holding the lock: %d keys stored, want 2 (a next key published)", len(rows))
	}
	// The job gave the lock back when its round ended.
	if release, ok, err := holder.TryLock(ctx, "gongpai:keys:rotation"); err != nil || !ok {
		t.Fatalf("the lock after the Tick: ok=%v err=%v; want it free", ok, err)
	} else {
		release()
	}
}
