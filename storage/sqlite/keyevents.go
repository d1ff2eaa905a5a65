package sqlite

import (
	"context"

	"github.com/gongpai/gongpai/storage"
)

// RecordKeyEvent appends ev to key_events and sets ev.Seq.
func (s *Store) RecordKeyEvent(ctx context.Context, ev *storage.KeyEvent) error {
	err := s.w.QueryRowContext(ctx, `INSERT INTO key_events (at, kid, action, actor, reason) VALUES (?, ?, ?, ?, ?)
		RETURNING seq`, micros(ev.At), ev.KID, ev.Action, ev.Actor, ev.Reason).Scan(&ev.Seq)
	return wrap(ctx, "record key event", err)
}

// ListKeyEvents returns the events of kid (every key when kid is ""),
// oldest first.
func (s *Store) ListKeyEvents(ctx context.Context, kid string) ([]storage.KeyEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, at, kid, action, actor, reason FROM key_events
		WHERE ? = '' OR kid = ? ORDER BY seq`, kid, kid)
	out, err := collect(rows, err, func(r rowScanner, ev *storage.KeyEvent) error {
		return r.Scan(&ev.Seq, timeCol{&ev.At}, &ev.KID, &ev.Action, &ev.Actor, &ev.Reason)
	})
	return out, wrap(ctx, "list key events", err)
}
