package postgres

import (
	"context"
	"embed"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/gongpai/gongpai/storage/migration"
)

// migrationFS holds the schema as numbered files, NNNN_name.sql, applied in
// number order. Never edit a released file; add the next number.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the pg_advisory_xact_lock key Migrate holds: "gongpai"
// in ASCII, then 0x01 for "schema". Advisory locks are per database, so
// it only serialises gongpai processes sharing one.
const migrationLock int64 = 0x676f6e6770616901

// migrations lists the embedded schema files in version order.
func migrations() ([]migration.Migration, error) {
	ms, err := migration.List(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
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
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, s.nowTS()); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			applied = append(applied, m.Name)
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
