package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
)

// Signing-key lifecycle (issue 4): the removed state and the key-event log.

func testSigningKeyRemovedState(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	k := signingKey(c, "kid-a", storage.KeyRetired)
	k.RetiresAt = c.local(time.Hour)
	must(t, s.CreateSigningKey(ctx, k), "CreateSigningKey")
	// Removal wipes the private half and keeps the row.
	k.State, k.PrivateKey = storage.KeyRemoved, nil
	must(t, s.UpdateSigningKey(ctx, k), "UpdateSigningKey to removed")
	got, err := s.ListSigningKeys(ctx)
	must(t, err, "ListSigningKeys")
	wantEqual(t, "removed key", got, []storage.SigningKey{*k})
	wantErr(t, s.CreateSigningKey(ctx, signingKey(c, "kid-a", storage.KeyNext)), storage.ErrConflict, "kid of a removed key reused")
}

func keyEvent(c *clock, d time.Duration, kid, action string) *storage.KeyEvent {
	return &storage.KeyEvent{At: c.local(d), KID: kid, Action: action, Actor: "cli:root", Reason: "routine — 例行"}
}

func testKeyEvents(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	got, err := s.ListKeyEvents(ctx, "")
	must(t, err, "ListKeyEvents empty")
	if len(got) != 0 {
		t.Fatalf("ListKeyEvents on an empty store: got %d events, want 0", len(got))
	}
	// Recorded out of time order: the log keeps the order of recording.
	evs := []*storage.KeyEvent{
		keyEvent(c, time.Minute, "kid-a", "created"),
		keyEvent(c, 0, "kid-b", "created"),
		keyEvent(c, 2*time.Minute, "kid-a", "revoked"),
	}
	var last int64
	for i, ev := range evs {
		must(t, s.RecordKeyEvent(ctx, ev), "RecordKeyEvent")
		if ev.Seq <= last {
			t.Errorf("event %d: Seq %d not greater than the previous %d", i, ev.Seq, last)
		}
		last = ev.Seq
	}
	tests := []struct {
		kid  string
		want []storage.KeyEvent
	}{
		{"", []storage.KeyEvent{*evs[0], *evs[1], *evs[2]}},
		{"kid-a", []storage.KeyEvent{*evs[0], *evs[2]}},
		{"kid-b", []storage.KeyEvent{*evs[1]}},
		{"kid-none", nil},
	}
	for _, tt := range tests {
		got, err := s.ListKeyEvents(ctx, tt.kid)
		must(t, err, "ListKeyEvents "+tt.kid)
		if len(got) == 0 && len(tt.want) == 0 {
			continue
		}
		wantEqual(t, "ListKeyEvents("+tt.kid+")", got, tt.want)
	}
}

func testRaceRecordKeyEvent(t *testing.T, s storage.Durable, c *clock) {
	ctx := t.Context()
	errs := race(workers, func(i int) error {
		return s.RecordKeyEvent(ctx, keyEvent(c, 0, fmt.Sprintf("kid-%d", i), "created"))
	})
	for i, err := range errs {
		must(t, err, fmt.Sprintf("RecordKeyEvent %d", i))
	}
	got, err := s.ListKeyEvents(ctx, "")
	must(t, err, "ListKeyEvents")
	seen := map[int64]bool{}
	for _, ev := range got {
		if seen[ev.Seq] {
			t.Errorf("Seq %d given twice", ev.Seq)
		}
		seen[ev.Seq] = true
	}
	if len(got) != workers {
		t.Errorf("got %d events, want %d", len(got), workers)
	}
}
