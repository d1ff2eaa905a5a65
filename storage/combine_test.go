package storage_test

import (
	"path/filepath"
	"testing"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// DurableOf sees through Combine, so optional capabilities of the durable
// backend can be type-asserted on what it returns.
func TestDurableOf(t *testing.T) {
	d, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "d.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "e.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := storage.Combine(d, e)
	defer c.Close()
	if got := storage.DurableOf(c); got != storage.Durable(d) {
		t.Errorf("DurableOf(Combine(d, e)) = %T %p; want d", got, got)
	}
	if got := storage.DurableOf(d); got != storage.Durable(d) {
		t.Errorf("DurableOf(d) = %T %p; want d itself", got, got)
	}
}
