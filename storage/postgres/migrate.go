package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrationFS holds the schema as numbered files, NNNN_name.sql, applied in
// number order. Never edit a released file; add the next number.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrationLock is the pg_advisory_xact_lock key Migrate holds: "gongpai"
// in ASCII, then 0x01 for "schema". Advisory locks are per database, so
// it only serialises gongpai processes sharing one.
const migrationLock int64 = 0x676f6e6770616901

// migrations lists the embedded files in order, checking that numbers run
// 1, 2, 3… without gaps or duplicates.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("postgres: migration file %q is not NNNN_name.sql", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("postgres: migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// Migrate applies every embedded migration the database has not seen, all
// in one transaction that first takes a transaction-level advisory lock:
// replicas migrating at once queue on the lock, and each later one finds
// the work done. A failed step rolls everything back. A database migrated
// by a newer binary is refused rather than used with a schema this one
// does not know. Migrate is idempotent.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var applied []string
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		// Created under the lock, so two first-ever migrations cannot
		// collide on the catalog either.
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		if current > len(ms) {
			return fmt.Errorf("database schema version %d is newer than this binary's %d", current, len(ms))
		}
		for _, m := range ms[current:] {
			// No arguments: pgx sends the file with the simple protocol,
			// which runs every statement in it.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, s.nowTS()); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			applied = append(applied, m.name)
		}
		return nil
	})
	if err != nil {
		return s.wrap(ctx, "migrate", err)
	}
	for _, name := range applied {
		s.log.LogAttrs(ctx, slog.LevelInfo, "postgres: applied migration", slog.String("migration", name))
	}
	return nil
}
