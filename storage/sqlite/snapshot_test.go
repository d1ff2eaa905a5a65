package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
	"github.com/gongpai/gongpai/storage/storagetest"
)

func TestSnapshot(t *testing.T) {
	storagetest.RunSnapshot(t, func(t *testing.T, now func() time.Time) storage.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"), sqlite.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
