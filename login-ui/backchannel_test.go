package loginui_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	loginui "github.com/gongpai/gongpai/login-ui"
	"github.com/gongpai/gongpai/storage"
)

// recordingEnder is a SessionEnder that remembers what it was told.
type recordingEnder struct {
	mu    sync.Mutex
	ended []storage.Session
}

func (e *recordingEnder) SessionsEnded(_ context.Context, subject string, sessions []storage.Session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range sessions {
		if s.Subject != subject {
			panic("subject mismatch")
		}
		e.ended = append(e.ended, s)
	}
}

func (e *recordingEnder) sids() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.ended {
		out = append(out, s.ID)
	}
	return out
}

// TestSessionEnderHearsEveryEnd: the back-channel hook is told about a
// sign-out and about a session a new sign-in replaces, with the apps that
// were signed in through it; a sign-out with no session tells it nothing.
func TestSessionEnderHearsEveryEnd(t *testing.T) {
	ender := &recordingEnder{}
	h := newHarness(t, func(o *loginui.Options) { o.SessionEnder = ender })
	c := h.browser()

	id := h.newRequest("wiki")
	wantStatus(t, h.signIn(c, id), http.StatusSeeOther)
	first, _ := h.op.result(id)
	// prompt=login: a new session replaces the first.
	id2 := h.newRequest("wiki", func(r *storage.AuthRequest) { r.Prompt = []string{"login"} })
	wantStatus(t, h.signIn(c, id2), http.StatusSeeOther)
	second, _ := h.op.result(id2)
	if got := ender.sids(); !slices.Equal(got, []string{first.SessionID}) {
		t.Fatalf("after re-sign-in the ender heard of %v, want the replaced session %s", got, first.SessionID)
	}
	if got := ender.ended[0]; !slices.Equal(got.ClientIDs, []string{"wiki"}) || got.Subject != aliceSb {
		t.Errorf("replaced session reported as %+v", got)
	}

	h.op.logouts["lr"] = &loginui.LogoutRequest{Subject: aliceSb, ClientID: "wiki", ExpiresAt: h.clock.Now().Add(time.Hour)}
	wantStatus(t, h.get(c, "/logout?lr=lr"), http.StatusFound)
	if got := ender.sids(); !slices.Equal(got, []string{first.SessionID, second.SessionID}) {
		t.Fatalf("after sign-out the ender heard of %v, want both sessions", got)
	}

	// Signed out already: nothing more to tell.
	wantStatus(t, h.get(c, "/logout?lr=lr"), http.StatusFound)
	if got := ender.sids(); len(got) != 2 {
		t.Errorf("a sign-out without a session reported %v", got)
	}
}
