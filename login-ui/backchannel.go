package loginui

import (
	"context"

	"github.com/gongpai/gongpai/storage"
)

// SessionEnder hears about the SSO sessions the pages end: a sign-out,
// and a sign-in that replaces the browser's previous session. It is where
// OIDC Back-Channel Logout plugs in (each session's ClientIDs are the apps
// to send a logout token for its sid); *op.LogoutSender satisfies it. It
// is called after the session is deleted and must not block.
type SessionEnder interface {
	SessionsEnded(ctx context.Context, subject string, sessions []storage.Session)
}

// sessionEnded tells the SessionEnder, if any, that s has ended.
func (h *handler) sessionEnded(ctx context.Context, s *storage.Session) {
	if h.o.SessionEnder == nil || s == nil || len(s.ClientIDs) == 0 {
		return
	}
	h.o.SessionEnder.SessionsEnded(ctx, s.Subject, []storage.Session{*s})
}
