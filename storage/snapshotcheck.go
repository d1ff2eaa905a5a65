package storage

import (
	"errors"
	"fmt"
)

// ErrIncompleteSnapshot means a snapshot read fewer records of a kind than
// its table holds (departments unreachable from any root: a parent cycle,
// or a tree deeper than the walk allows). The snapshot fails rather than
// write a backup that silently lacks them.
var ErrIncompleteSnapshot = errors.New("storage: incomplete snapshot")

// IncompleteSnapshotError says which kind lost records, and how many.
func IncompleteSnapshotError(kind Kind, read, total int64) error {
	return fmt.Errorf("%w: %d of the %d %s are unreachable from a root department (a parent cycle?) and would be "+
		"left out; repair the department tree (every department must lead up to one with no parent) and retry",
		ErrIncompleteSnapshot, total-read, total, kind)
}
