package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	driver "modernc.org/sqlite" // registers "sqlite" with database/sql
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gongpai/gongpai/storage"
)

// Options configures a Store.
type Options struct {
	// Now is the clock that judges expiry. nil means time.Now.
	Now func() time.Time
}

// Store is the SQLite backend. It is safe for concurrent use.
type Store struct {
	w   *sql.DB // the one writer connection
	r   *sql.DB // read-only pool
	now func() time.Time
}

var _ storage.Store = (*Store)(nil)

// busyTimeout is how long a statement waits for another process's lock
// (the CLI, a backup) before giving up.
const busyTimeout = 10 * time.Second

// Open opens (creating if needed) the database file at path, creates its
// parent directory with mode 0700, and applies the embedded migrations.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if path == "" || strings.Contains(path, "?") || path == ":memory:" {
		// '?' would be read as the start of DSN parameters, and an
		// in-memory database cannot be shared by the two pools.
		return nil, fmt.Errorf("sqlite: unusable database path %q", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}

	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// One writer: writes queue in database/sql (honouring ctx) rather
	// than contending for SQLite's lock.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w, now); err != nil {
		w.Close()
		return nil, err
	}

	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return &Store{w: w, r: r, now: now}, nil
}

// dsn builds the modernc.org/sqlite data source name for path.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// journal_mode is persistent in the file; the writer sets it
		// before the reader pool opens.
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// Ping checks that both pools can reach the file.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return wrap(ctx, "ping", err)
	}
	return wrap(ctx, "ping", s.r.PingContext(ctx))
}

// Close closes both pools.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Sweep deletes expired ephemeral rows (auth requests and their codes,
// sessions, access tokens, rate-limit windows, TOTP steps) and expired
// refresh tokens, which can no longer be redeemed or reused. It returns
// the number of rows deleted.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	var total int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := s.nowMicros()
		for _, table := range []string{"auth_requests", "sessions", "access_tokens", "hits", "totp_steps", "refresh_tokens"} {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at <= ?`, now)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, wrap(ctx, "sweep", err)
	}
	return total, nil
}

// nowMicros is the store clock in the column representation.
func (s *Store) nowMicros() int64 { return s.now().UnixMicro() }

// write runs fn in one IMMEDIATE transaction on the writer connection,
// rolling back when fn fails. fn must not touch s.w itself: the writer has
// a single connection, which the transaction holds.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the fn error is the one that matters
		return err
	}
	return tx.Commit()
}

// wrap turns a driver error into the storage sentinels: a cancelled
// context wins, sql.ErrNoRows is ErrNotFound, constraint violations are
// ErrConflict, lock timeouts are ErrUnavailable. op names the method;
// keys are left out on purpose (some are bearer secrets).
func wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("sqlite: %s: %w", op, cerr)
	}
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, storage.ErrNotFound)
	}
	var se *driver.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_CONSTRAINT:
			return fmt.Errorf("sqlite: %s: %w (%v)", op, storage.ErrConflict, err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("sqlite: %s: %w (%v)", op, storage.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// affected reports whether res changed at least one row.
func affected(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	return n > 0, err
}

// Column codecs. Times are INTEGER unix microseconds in UTC; string lists
// are JSON text where "null" keeps a nil slice apart from an empty one.

func micros(t time.Time) int64 { return t.UnixMicro() }

// timeCol scans unix microseconds into a UTC time.
type timeCol struct{ p *time.Time }

func (c timeCol) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("time column: unexpected %T", src)
	}
	*c.p = time.UnixMicro(v).UTC()
	return nil
}

// list encodes a string slice as JSON text.
func list(v []string) string {
	if v == nil {
		return "null"
	}
	b, _ := json.Marshal(v) // cannot fail on a []string
	return string(b)
}

// listCol scans JSON text into a string slice.
type listCol struct{ p *[]string }

func (c listCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column: unexpected %T", src)
	}
	*c.p = nil
	return json.Unmarshal(b, c.p)
}

// nullable maps "" to SQL NULL, for optional foreign keys.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// strCol scans TEXT or NULL ("" for NULL).
type strCol struct{ p *string }

func (c strCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.p = ""
	case string:
		*c.p = v
	case []byte:
		*c.p = string(v)
	default:
		return fmt.Errorf("text column: unexpected %T", src)
	}
	return nil
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// collect scans every row of a query with scan.
func collect[T any](rows *sql.Rows, err error, scan func(rowScanner, *T) error) ([]T, error) {
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
