package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gongpai/gongpai/storage/storagetest"
)

func TestSnapshotRefusesUnreachableDepartments(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storagetest.CheckSnapshotRefusesUnreachableDepartments(t, s, func(ctx context.Context, id, parent string) error {
		_, err := s.w.ExecContext(ctx, `UPDATE departments SET parent_id = ? WHERE id = ?`, parent, id)
		return err
	})
}
