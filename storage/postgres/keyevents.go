package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/gongpai/gongpai/storage"
)

// RecordKeyEvent appends ev to key_events and sets ev.Seq.
func (s *Store) RecordKeyEvent(ctx context.Context, ev *storage.KeyEvent) error {
	err := s.pool.QueryRow(ctx, `INSERT INTO key_events (at, kid, action, actor, reason) VALUES ($1, $2, $3, $4, $5)
		RETURNING seq`, ts(ev.At), ev.KID, ev.Action, ev.Actor, ev.Reason).Scan(&ev.Seq)
	return s.wrap(ctx, "record key event", err)
}

// ListKeyEvents returns the events of kid (every key when kid is ""),
// oldest first.
func (s *Store) ListKeyEvents(ctx context.Context, kid string) ([]storage.KeyEvent, error) {
	const cols = `SELECT seq, at, kid, action, actor, reason FROM key_events`
	var (
		rows pgx.Rows
		err  error
	)
	if kid == "" {
		rows, err = s.pool.Query(ctx, cols+` ORDER BY seq`)
	} else {
		rows, err = s.pool.Query(ctx, cols+` WHERE kid = $1 ORDER BY seq`, kid)
	}
	out, err := collect(rows, err, func(r pgx.Row, ev *storage.KeyEvent) error {
		return r.Scan(&ev.Seq, timeCol{&ev.At}, &ev.KID, &ev.Action, &ev.Actor, &ev.Reason)
	})
	return out, s.wrap(ctx, "list key events", err)
}
