package loginui

import (
	"errors"
	"net/http"

	"github.com/gongpai/gongpai/storage"
)

// loggedOutPath is where a sign-out lands when no app asked to be
// returned to.
const loggedOutPath = "/logged-out"

// openLogout opens the lr parameter. An empty lr is a sign-out the
// employee started here, with nowhere to return to.
func (h *handler) openLogout(w http.ResponseWriter, r *http.Request, lr string) (*LogoutRequest, bool) {
	if lr == "" {
		return &LogoutRequest{}, true
	}
	req, err := h.o.Requests.OpenLogoutRequest(lr)
	if err != nil || (!req.ExpiresAt.IsZero() && !h.now().Before(req.ExpiresAt)) {
		if err != nil {
			h.log.InfoContext(r.Context(), "login-ui: logout request rejected", "err", err)
		}
		h.renderError(w, r, h.langFor(r, nil), http.StatusBadRequest, "err_logout", "")
		return nil, false
	}
	return req, true
}

// getLogout ends the session at once when the app proved (id_token_hint)
// it speaks for this employee; otherwise it asks, because a bare link
// must not be able to sign anyone out (OIDC RP-Initiated Logout §2).
func (h *handler) getLogout(w http.ResponseWriter, r *http.Request) {
	lr := r.URL.Query().Get("lr")
	req, ok := h.openLogout(w, r, lr)
	if !ok {
		return
	}
	s := h.currentSession(r)
	if s == nil || (req.Subject != "" && req.Subject == s.Subject) {
		h.endSession(w, r, s, req, http.StatusFound)
		return
	}
	tok, err := h.csrfToken(w, r)
	if err != nil {
		h.internalError(w, r, h.langFor(r, nil), "csrf token", err)
		return
	}
	p := &page{Lang: h.langFor(r, nil), CSRF: tok, LR: lr}
	if req.RedirectURI != "" {
		p.formTargets = []string{req.RedirectURI}
	}
	p.Title = p.T("logout_title")
	h.render(w, r, http.StatusOK, "logout", p)
}

func (h *handler) postLogout(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	req, ok := h.openLogout(w, r, r.PostForm.Get("lr"))
	if !ok {
		return
	}
	h.endSession(w, r, h.currentSession(r), req, http.StatusSeeOther)
}

// endSession deletes the session (if any), clears the cookie and sends the
// browser back to the app or to the signed-out page.
func (h *handler) endSession(w http.ResponseWriter, r *http.Request, s *storage.Session, req *LogoutRequest, status int) {
	if s != nil {
		err := h.o.Sessions.DeleteSession(r.Context(), s.ID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.internalError(w, r, h.langFor(r, nil), "delete session", err)
			return
		}
		if err == nil { // not found: whoever deleted it told the apps
			h.sessionEnded(r.Context(), s)
		}
		h.log.InfoContext(r.Context(), "login-ui: signed out", "sub", s.Subject, "client", req.ClientID)
	}
	h.clearCookie(w, h.ssoCookie)
	to := req.RedirectURI
	if to == "" {
		to = loggedOutPath
	}
	http.Redirect(w, r, to, status)
}

func (h *handler) getLoggedOut(w http.ResponseWriter, r *http.Request) {
	p := &page{Lang: h.langFor(r, nil)}
	p.Title = p.T("logged_out_title")
	h.render(w, r, http.StatusOK, "loggedout", p)
}
