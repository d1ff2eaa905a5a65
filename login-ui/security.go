package loginui

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gongpai/gongpai/httpsec"
	"github.com/gongpai/gongpai/storage"
)

// boundHere refuses, answering itself, an auth request this browser did
// not start. Every step of a sign-in loads its request through
// loadRequest, which calls this, so a request started in one browser is
// never completed in another: neither silently from that browser's SSO
// session nor after a password or TOTP code typed there (the sign-in link
// an attacker started and sent to a colleague, security review CRITICAL 1).
//
// The answer is the "this sign-in link has expired, start again from the
// app" page, which says nothing about why. prompt=none shows no page: the
// app gets login_required, whatever the browser's session, so the answer
// reveals nothing either.
func (h *handler) boundHere(w http.ResponseWriter, r *http.Request, fc *flowCtx) bool {
	if h.o.Requests.BoundToBrowser(r, fc.ar) {
		return true
	}
	h.log.WarnContext(r.Context(), "login-ui: auth request presented by a browser that did not start it",
		"client", fc.client.ID, "ip", h.clientIP(r))
	if slices.Contains(fc.ar.Prompt, "none") {
		status := http.StatusFound
		if r.Method == http.MethodPost {
			status = http.StatusSeeOther
		}
		h.errorRedirect(w, r, fc, "login_required", "no sign-in session satisfies this request", status)
		return false
	}
	h.renderError(w, r, fc.lang, http.StatusBadRequest, "err_expired", "")
	return false
}

// getExpired is where the provider sends a browser whose callback it will
// not complete (unknown, expired or foreign request).
func (h *handler) getExpired(w http.ResponseWriter, r *http.Request) {
	h.renderError(w, r, h.langFor(r, nil), http.StatusBadRequest, "err_expired", "")
}

// notAllowedDesc is the access_denied description when the client's
// access policy excludes the employee.
const notAllowedDesc = "the employee may not use this application"

// hintNames reports whether login_hint, when there is one, names emp: by
// employee ID (in canonical form) or by e-mail address.
func hintNames(hint string, emp *storage.Employee) bool {
	hint = strings.TrimSpace(hint)
	if hint == "" {
		return true
	}
	if storage.CanonicalCode(hint) == emp.EmployeeID {
		return true
	}
	return emp.Email != "" && strings.EqualFold(hint, emp.Email)
}

// strictTransport adds Strict-Transport-Security on https deployments
// (one policy for the provider and the pages: package httpsec).
func strictTransport(next http.Handler, secure bool) http.Handler {
	return httpsec.StrictTransport(next, secure)
}
