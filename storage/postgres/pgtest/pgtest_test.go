package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestDSNFreshDatabases(t *testing.T) {
	var names []string
	for range 2 {
		t.Run("db", func(t *testing.T) {
			conn, err := pgx.Connect(t.Context(), DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var name string
			var tables int
			err = conn.QueryRow(t.Context(), `SELECT current_database(),
				(SELECT COUNT(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema'))`).Scan(&name, &tables)
			if err != nil {
				t.Fatal(err)
			}
			if tables != 0 {
				t.Errorf("database %s: got %d tables, want an empty database", name, tables)
			}
			names = append(names, name)
		})
	}
	if len(names) < 2 {
		return // skipped: no server
	}
	if names[0] == names[1] {
		t.Errorf("two tests got the same database %q", names[0])
	}
	// Both were dropped when their test ended.
	admin, err := adminDSN()
	if err != nil {
		t.Fatal(err)
	}
	err = adminDo(admin, func(ctx context.Context, conn *pgx.Conn) error {
		var left int
		if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = ANY ($1)`, names).Scan(&left); err != nil {
			return err
		}
		if left != 0 {
			t.Errorf("%d of the test databases %v still exist after their tests", left, names)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		dsn, want string
	}{
		{"postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable", "postgres://u:p@127.0.0.1:5432/gp_1?sslmode=disable"},
		{"postgresql://u@h/", "postgresql://u@h/gp_1"},
		{"host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=gp_1"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.dsn, "gp_1")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q): got %q, %v; want %q", tt.dsn, got, err, tt.want)
		}
	}
	// The keyword/value form relies on the later dbname winning.
	cfg, err := pgx.ParseConfig("host=h user=u dbname=postgres dbname=gp_1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database != "gp_1" {
		t.Errorf("later dbname: got %q, want gp_1", cfg.Database)
	}
}
