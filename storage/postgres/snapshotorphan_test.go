package postgres

import (
	"context"
	"testing"

	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/storagetest"
)

func TestSnapshotRefusesUnreachableDepartments(t *testing.T) {
	s, err := Open(t.Context(), pgtest.DSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storagetest.CheckSnapshotRefusesUnreachableDepartments(t, s, func(ctx context.Context, id, parent string) error {
		_, err := s.pool.Exec(ctx, `UPDATE departments SET parent_id = $1 WHERE id = $2`, parent, id)
		return err
	})
}
