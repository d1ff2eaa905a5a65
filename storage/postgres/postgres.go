package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gongpai/gongpai/storage"
)

// Options configures a Store.
type Options struct {
	// Now is the clock that judges expiry. nil means time.Now.
	Now func() time.Time
	// MaxConns caps the pool; 0 keeps pgxpool's default (max(4, NumCPU)).
	// A DSN pool_max_conns parameter is overridden when this is set.
	MaxConns int32
	// Logger receives start-up and migration events. nil discards them.
	Logger *slog.Logger
}

// Store is the PostgreSQL backend. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	log    *slog.Logger
	closed atomic.Bool
	coord  *coordinator // advisory locks and LISTEN/NOTIFY (coord.go)
}

var _ storage.Store = (*Store)(nil)

// defaultConnectTimeout bounds each connection attempt when the DSN sets no
// connect_timeout, so an unreachable server turns into ErrUnavailable
// instead of a request that hangs for as long as its caller lets it.
const defaultConnectTimeout = 5 * time.Second

// errBadDSN replaces pgx's parse errors, which can quote the connection
// string (and so its password) back.
var errBadDSN = errors.New("postgres: cannot parse the DSN (details withheld: they may include the password); " +
	"use postgres://user:password@host:port/dbname?sslmode=… or host=… port=… dbname=… keyword/value form")

// Open connects a pool to dsn, checks that the server answers, and applies
// the embedded migrations. A server that cannot be reached is
// storage.ErrUnavailable.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errBadDSN
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "gongpai"
	}
	s := &Store{now: o.Now, log: o.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.coord = newCoordinator(cfg.ConnConfig.Copy(), s.log)
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.wrap(ctx, "open", err)
	}
	if err := s.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "postgres: store open",
		slog.String("host", cfg.ConnConfig.Host), slog.Int("port", int(cfg.ConnConfig.Port)),
		slog.String("database", cfg.ConnConfig.Database), slog.String("user", cfg.ConnConfig.User),
		slog.Int("max_conns", int(cfg.MaxConns)))
	return s, nil
}

// Pool is the underlying pool, for what this package does not wrap:
// LISTEN/NOTIFY and advisory locks taken by other packages.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.wrap(ctx, "ping", s.pool.Ping(ctx))
}

// Close ends WatchKeys' watchers and releases the advisory locks TryLock
// took, then closes the pool, waiting for connections in use to be
// released. Calls after Close fail with storage.ErrUnavailable.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.coord.close()
		s.pool.Close()
	}
	return nil
}

// sweepTables are the tables whose rows carry expires_at and die with it.
// Expired refresh tokens can no longer be redeemed or reused, so they go
// too.
var sweepTables = []string{"auth_requests", "sessions", "access_tokens", "hits", "totp_steps", "refresh_tokens"}

// Sweep deletes expired ephemeral rows (auth requests and their codes,
// sessions, access tokens, rate-limit windows, TOTP steps) and expired
// refresh tokens, and returns how many rows went. Each table is one
// DELETE of its own, so no long transaction holds locks across tables.
// Replicas that must not sweep at once serialise with an advisory lock of
// their own; running two sweeps together is harmless anyway.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	now := ts(s.now())
	var total int64
	for _, table := range sweepTables {
		tag, err := s.pool.Exec(ctx, `DELETE FROM `+table+` WHERE expires_at <= $1`, now)
		if err != nil {
			return total, s.wrap(ctx, "sweep "+table, err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

// nowTS is the store clock in the column representation.
func (s *Store) nowTS() time.Time { return ts(s.now()) }

// tx runs fn in one READ COMMITTED transaction, rolling back when fn fails.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// wrap turns a driver error into the storage sentinels. A cancelled caller
// context wins; pgx.ErrNoRows is ErrNotFound; unique and foreign-key
// violations are ErrConflict; a server that cannot be reached is
// ErrUnavailable. op names the method; keys are left out on purpose (some
// are bearer secrets), and so is the DSN.
func (s *Store) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("postgres: %s: %w", op, cerr)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrUnavailable):
		return fmt.Errorf("postgres: %s: %w", op, err)
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !isConnectError(err) {
		switch {
		case pe.Code == "23505" || pe.Code == "23503": // unique_violation, foreign_key_violation
			return fmt.Errorf("postgres: %s: %w (%v)", op, storage.ErrConflict, err)
		case unavailableState(pe.Code):
			return fmt.Errorf("postgres: %s: %w (%v)", op, storage.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("postgres: %s: %w (store closed: %v)", op, storage.ErrUnavailable, err)
	}
	if unreachable(err) {
		return fmt.Errorf("postgres: %s: %w (%v)", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}

// unavailableState reports SQLSTATEs that mean the server, not the
// statement, is the problem: connection exceptions (08), insufficient
// resources such as too many connections (53), operator intervention such
// as a shutdown or a server still starting (57P01–57P03), and system
// errors (58).
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "58"):
		return true
	case code == "57P01", code == "57P02", code == "57P03":
		return true
	}
	return false
}

// unreachable reports errors that mean the server could not be talked to.
// It is only asked when the caller's context is still live, so a context
// error here is the driver's own deadline (connect_timeout).
func unreachable(err error) bool {
	var ne net.Error
	switch {
	case isConnectError(err), pgconn.Timeout(err), errors.Is(err, pgconn.ErrConnClosed):
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne):
		return true
	}
	return false
}

// Column codecs.

// ts is how a time is written: UTC, truncated to the microsecond (what
// timestamptz keeps), so writes never depend on rounding.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// optTS writes a zero time as NULL: "not set".
func optTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// timeCol scans a timestamptz into a UTC time; NULL is the zero time.
type timeCol struct{ p *time.Time }

func (c timeCol) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*c.p = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return fmt.Errorf("time column: unexpected %v", v.InfinityModifier)
	default:
		*c.p = v.Time.UTC()
	}
	return nil
}

// nullable writes "" as NULL, for optional foreign keys.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// collect scans every row of a query with scan.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Row, *T) error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
