package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gongpai/gongpai/storage"
)

// Coordination between replicas sharing one database: the advisory locks
// behind keys.Locker and the LISTEN/NOTIFY channel behind keys.Notifier.
// Both need a connection of their own — a pooled one goes back to the pool
// between statements — so each uses a dedicated pgx.Conn outside the pool,
// built from the pool's connection settings (one per held lock, one per
// watcher). The locks work through a transaction-mode pooler (PgBouncer
// pool_mode=transaction); LISTEN does not (notifications are lost there
// and replicas fall back to polling): point the DSN at PostgreSQL or a
// session-mode pool to get them.

// KeysChannel is the NOTIFY channel of signing-key changes. The payload
// identifies the sending Store, so a Store's own watchers skip what it
// sent itself.
const KeysChannel = "gongpai_keys"

const (
	// unlockTimeout bounds the rollback that gives a lock back; the
	// session is closed (which releases it too) when that fails.
	unlockTimeout = 5 * time.Second
	// listenIdleCheck is how long a LISTEN session may stay silent before
	// it is pinged, so a connection lost without a FIN (a dropped NAT
	// entry, a failover) is noticed within about that long.
	listenIdleCheck = 30 * time.Second
	listenPing      = 5 * time.Second
	// Reconnection backoff of WatchKeys: doubling from the first to the
	// last, reset once a LISTEN succeeds.
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

type coordinator struct {
	cfg *pgx.ConnConfig // for dedicated sessions; Copy before use
	id  string          // this Store's notification payload
	log *slog.Logger

	// done ends every watcher when the Store closes.
	done   context.Context
	finish context.CancelFunc

	mu       sync.Mutex // guards closed and watchers.Add
	closed   bool
	watchers sync.WaitGroup

	lockMu sync.Mutex
	idle   *pgx.Conn              // a lock session not in use, kept for the next TryLock
	held   map[*heldLock]struct{} // locks taken and not yet released
}

// heldLock is one successful TryLock: a transaction open on a session of
// its own, holding pg_try_advisory_xact_lock.
type heldLock struct {
	conn *pgx.Conn
	tx   pgx.Tx
}

func newCoordinator(cfg *pgx.ConnConfig, log *slog.Logger) *coordinator {
	var b [8]byte
	_, _ = rand.Read(b[:])
	done, finish := context.WithCancel(context.Background())
	return &coordinator{cfg: cfg, id: hex.EncodeToString(b[:]), log: log, done: done, finish: finish,
		held: map[*heldLock]struct{}{}}
}

// close ends the watchers, waits for them, and releases every lock this
// Store holds.
func (c *coordinator) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.finish()
	c.watchers.Wait()
	c.lockMu.Lock()
	defer c.lockMu.Unlock()
	for h := range c.held {
		c.unlock(h, false)
	}
	if c.idle != nil {
		closeConn(c.idle)
		c.idle = nil
	}
}

func (c *coordinator) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, c.cfg.Copy())
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// lockKey maps a lock name onto PostgreSQL's 64-bit advisory-lock key
// space: FNV-1a of the name. (Migrate's lock is the fixed key
// migrationLock; advisory locks are per database.)
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("gongpai lock\x00" + name))
	return int64(h.Sum64())
}

// TryLock takes the advisory lock name without waiting (keys.Locker).
//
// The lock is transaction-level: TryLock opens a transaction on a
// connection of its own, outside the pool, takes
// pg_try_advisory_xact_lock in it, and leaves it open; release rolls it
// back. So the lock lasts exactly as long as that transaction, and a
// transaction cannot outlive its session: when the process dies, the
// server restarts or the connection is cut, PostgreSQL aborts it and the
// lock is free. A session-level lock would do the same directly on
// PostgreSQL, but through a transaction-mode pooler (PgBouncer) it would
// stay with whichever server connection ran the statement; a transaction
// keeps its server connection until it ends. keys.Manager holds the lock
// for one Tick, whose writes go through the pool meanwhile, so the
// transaction stays idle and short; it writes nothing.
//
// ok is false when another holder has it — another replica, or another
// caller in this process (each lock has its own session, so they exclude
// each other like any two). Release is idempotent, and does nothing once
// the Store is closed (Close releases what is held). A kept session that
// broke since its last use is replaced once, transparently.
func (s *Store) TryLock(ctx context.Context, name string) (release func(), ok bool, err error) {
	c := s.coord
	c.lockMu.Lock()
	defer c.lockMu.Unlock()
	if s.closed.Load() {
		return nil, false, fmt.Errorf("postgres: try lock: %w (store closed)", storage.ErrUnavailable)
	}
	key := lockKey(name)
	conn := c.idle
	c.idle = nil
	var tx pgx.Tx
	for attempt := 0; ; attempt++ {
		fresh := conn == nil || conn.IsClosed()
		if fresh {
			if conn != nil {
				closeConn(conn)
			}
			if conn, err = c.connect(ctx); err != nil {
				return nil, false, s.wrap(ctx, "try lock: connect", err)
			}
		}
		if tx, err = conn.Begin(ctx); err == nil {
			if err = tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, key).Scan(&ok); err == nil {
				break
			}
		}
		closeConn(conn)
		conn = nil
		if fresh || attempt > 0 || ctx.Err() != nil {
			return nil, false, s.wrap(ctx, "try lock", err)
		}
		// A kept session broken since its last use (a server restart, an
		// idle timeout): once more on a new one.
	}
	h := &heldLock{conn: conn, tx: tx}
	if !ok {
		c.unlock(h, true)
		return nil, false, nil
	}
	c.held[h] = struct{}{}
	return func() {
		c.lockMu.Lock()
		defer c.lockMu.Unlock()
		if _, ok := c.held[h]; ok {
			c.unlock(h, !s.closed.Load())
		}
	}, true, nil
}

// unlock ends h's transaction, and with it the lock, then keeps its
// session for the next TryLock (keep, when there is no idle one yet) or
// closes it. A failed rollback closes the session, which ends the
// transaction just as surely. lockMu is held.
func (c *coordinator) unlock(h *heldLock, keep bool) {
	delete(c.held, h)
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	if err := h.tx.Rollback(ctx); err != nil || !keep || c.idle != nil {
		closeConn(h.conn)
		return
	}
	c.idle = h.conn
}

// NotifyKeysChanged tells every other Store on this database — other
// replicas, the CLI — that the signing-key set changed (keys.Notifier):
// NOTIFY on KeysChannel. The key writes themselves do not notify; the
// keys.Manager calls this once after a round of writes, as keys.Notifier
// specifies.
func (s *Store) NotifyKeysChanged(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, KeysChannel, s.coord.id)
	return s.wrap(ctx, "notify keys changed", err)
}

// WatchKeys delivers a value each time another Store on this database
// announces a signing-key change (keys.Notifier), until ctx ends or the
// Store is closed; then the channel is closed. Deliveries are coalesced:
// the channel holds at most one pending value.
//
// It LISTENs on a session of its own, served by one goroutine. When that
// session is lost (a server restart, a network failure, or 30 seconds of
// silence after which a ping fails), the goroutine reconnects with backoff
// (100ms doubling to 5s) and delivers one value once it listens again,
// since changes made meanwhile were announced to nobody. If the first
// LISTEN fails, WatchKeys still returns the channel and keeps trying in
// the background; it fails only when ctx has ended or the Store is closed.
func (s *Store) WatchKeys(ctx context.Context) (<-chan struct{}, error) {
	c := s.coord
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("postgres: watch keys: %w (store closed)", storage.ErrUnavailable)
	}
	c.watchers.Add(1)
	c.mu.Unlock()

	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.done, cancel)
	conn, err := c.listen(wctx)
	if err != nil {
		if ctx.Err() != nil {
			stop()
			cancel()
			c.watchers.Done()
			return nil, fmt.Errorf("postgres: watch keys: %w", ctx.Err())
		}
		s.log.Warn("postgres: cannot LISTEN for signing-key changes yet; retrying in the background (polling covers meanwhile)",
			"err", s.wrap(context.Background(), "listen", err))
	}
	ch := make(chan struct{}, 1)
	go func() {
		defer c.watchers.Done()
		defer close(ch)
		defer cancel()
		defer stop()
		s.watch(wctx, conn, ch)
	}()
	return ch, nil
}

// listen opens a session and LISTENs on KeysChannel.
func (c *coordinator) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+KeysChannel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// watch is WatchKeys' goroutine. conn is nil when the first LISTEN
// failed. It returns when ctx ends.
func (s *Store) watch(ctx context.Context, conn *pgx.Conn, ch chan<- struct{}) {
	c := s.coord
	defer func() {
		if conn != nil {
			closeConn(conn)
		}
	}()
	deliver := func() {
		select {
		case ch <- struct{}{}:
		default: // one is already pending
		}
	}
	backoff := listenBackoffMin
	lost := conn == nil // reconnecting since
	for {
		if conn == nil {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			var err error
			if conn, err = c.listen(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Debug("postgres: LISTEN for signing-key changes failed; retrying",
					"in", backoff, "err", s.wrap(context.Background(), "listen", err))
				backoff = min(2*backoff, listenBackoffMax)
				continue
			}
			backoff = listenBackoffMin
			if lost {
				s.log.Info("postgres: listening for signing-key changes again")
			}
			lost = false
			// Changes made while no session listened were announced to
			// nobody: let the watcher re-read.
			deliver()
		}

		wait, cancel := context.WithTimeout(ctx, listenIdleCheck)
		n, err := conn.WaitForNotification(wait)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if n.Channel == KeysChannel && n.Payload != c.id {
				deliver()
			}
			continue
		}
		if errors.Is(err, context.DeadlineExceeded) {
			// Silent for a while: make sure the session is still there.
			pctx, pcancel := context.WithTimeout(ctx, listenPing)
			err = conn.Ping(pctx)
			pcancel()
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return
			}
		}
		s.log.Warn("postgres: lost the LISTEN session for signing-key changes; reconnecting (polling covers meanwhile)",
			"err", s.wrap(context.Background(), "listen", err))
		closeConn(conn)
		conn, lost = nil, true
	}
}
