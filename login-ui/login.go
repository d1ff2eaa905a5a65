package loginui

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gongpai/gongpai/clientpolicy"
	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/storage"
)

// Input bounds: anything longer is not a credential, and an unbounded
// password would make argon2 hash megabytes on request.
const (
	maxFormBytes     = 16 << 10
	maxEmployeeIDLen = 64
	maxPasswordLen   = 1024
	maxCodeLen       = 16
)

// AMR values (RFC 8176) gongpai issues.
var (
	amrPassword = []string{"pwd"}
	amrMFA      = []string{"pwd", "otp", "mfa"}
)

// flowCtx is what every step of a sign-in has loaded.
type flowCtx struct {
	ar     *storage.AuthRequest
	client *storage.Client
	lang   string
}

// loadRequest fetches the auth request and its client, answering the
// "expired link" page itself when either is gone.
func (h *handler) loadRequest(w http.ResponseWriter, r *http.Request, id string) (*flowCtx, bool) {
	lang := h.langFor(r, nil)
	if id == "" {
		h.renderError(w, r, lang, http.StatusBadRequest, "err_expired", "")
		return nil, false
	}
	ar, err := h.o.Requests.AuthRequest(r.Context(), id)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			h.renderError(w, r, lang, http.StatusBadRequest, "err_expired", "")
		} else {
			h.internalError(w, r, lang, "load auth request", err)
		}
		return nil, false
	}
	lang = h.langFor(r, ar)
	if !h.now().Before(ar.ExpiresAt) && !ar.ExpiresAt.IsZero() {
		h.renderError(w, r, lang, http.StatusBadRequest, "err_expired", "")
		return nil, false
	}
	client, err := h.o.Requests.Client(r.Context(), ar.ClientID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			h.renderError(w, r, lang, http.StatusBadRequest, "err_expired", "")
		} else {
			h.internalError(w, r, lang, "load client", err)
		}
		return nil, false
	}
	fc := &flowCtx{ar: ar, client: client, lang: lang}
	if !h.boundHere(w, r, fc) {
		return nil, false
	}
	return fc, true
}

// getLogin is the entry point: finish silently from the SSO session when
// it satisfies the request, bounce prompt=none, or show the password page.
func (h *handler) getLogin(w http.ResponseWriter, r *http.Request) {
	fc, ok := h.loadRequest(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	if sess := h.reusableSession(r, fc); sess != nil {
		h.complete(w, r, fc, sess, http.StatusFound)
		return
	}
	if slices.Contains(fc.ar.Prompt, "none") {
		h.errorRedirect(w, r, fc, "login_required", "no sign-in session satisfies this request", http.StatusFound)
		return
	}
	h.passwordPage(w, r, fc, http.StatusOK, "", "", fc.ar.LoginHint)
}

// currentSession returns the session the SSO cookie points at, or nil.
func (h *handler) currentSession(r *http.Request) *storage.Session {
	c, err := r.Cookie(h.ssoCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	s, err := h.o.Sessions.Session(r.Context(), sessionID(c.Value))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			// Fail towards asking for credentials, but say why.
			h.log.WarnContext(r.Context(), "login-ui: load session", "err", err)
		}
		return nil
	}
	if !h.now().Before(s.ExpiresAt) {
		return nil
	}
	return s
}

// reusableSession returns the SSO session when it may answer this request
// without the employee seeing anything (zitadel research §2.3, §6).
func (h *handler) reusableSession(r *http.Request, fc *flowCtx) *storage.Session {
	s := h.currentSession(r)
	if s == nil {
		return nil
	}
	ar := fc.ar
	why := ""
	switch {
	case slices.Contains(ar.Prompt, "login"):
		why = "prompt=login"
	case ar.MaxAge != nil && h.now().Sub(s.AuthTime) > *ar.MaxAge:
		why = "max_age exceeded"
	case ar.HintSubject != "" && ar.HintSubject != s.Subject:
		why = "id_token_hint names another employee"
	case !clientpolicy.MFASatisfied(fc.client, s.AMR):
		why = "client requires MFA"
	}
	if why == "" {
		// The session may outlive a freeze that raced its deletion; check.
		emp, err := h.o.Directory.Employee(r.Context(), s.Subject)
		switch {
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			h.log.WarnContext(r.Context(), "login-ui: load employee for session", "err", err)
			why = "employee lookup failed"
		case err != nil || emp.Status != storage.StatusActive:
			why = "employee not active"
		case emp.PasswordChangeRequired:
			// No session should exist before the change (a reset ends
			// them all); if one does, it must not skip the change.
			why = "password change required"
		case !hintNames(fc.ar.LoginHint, emp):
			// Never complete silently as someone other than the app asked
			// for: prompt=none gets login_required, otherwise the sign-in
			// page comes prefilled with the hint.
			why = "login_hint names another employee"
		}
	}
	if why != "" {
		h.log.DebugContext(r.Context(), "login-ui: session not reused", "reason", why, "client", fc.client.ID)
		return nil
	}
	return s
}

// complete ends a sign-in: policy check, record the client on the
// session, mark the auth request done and send the browser to the
// provider's callback. After a POST status is 303, so the browser follows
// with a GET to our own origin.
func (h *handler) complete(w http.ResponseWriter, r *http.Request, fc *flowCtx, s *storage.Session, status int) {
	ctx := r.Context()
	allowed, err := h.allowed(ctx, fc.client, s.Subject)
	if err != nil {
		h.internalError(w, r, fc.lang, "load identity", err)
		return
	}
	if !allowed {
		h.log.InfoContext(ctx, "login-ui: employee not allowed by client policy", "client", fc.client.ID, "sub", s.Subject)
		if slices.Contains(fc.ar.Prompt, "none") {
			// prompt=none never shows a page, not even this one.
			h.errorRedirect(w, r, fc, "access_denied", notAllowedDesc, status)
			return
		}
		h.notAllowed(w, r, fc)
		return
	}
	if err := h.o.Sessions.AddSessionClient(ctx, s.ID, fc.client.ID); err != nil {
		h.internalError(w, r, fc.lang, "add session client", err)
		return
	}
	to, err := h.o.Requests.Complete(ctx, fc.ar.ID, storage.AuthResult{
		Subject:   s.Subject,
		AuthTime:  s.AuthTime,
		AMR:       s.AMR,
		ACR:       s.ACR,
		SessionID: s.ID,
	})
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			h.renderError(w, r, fc.lang, http.StatusBadRequest, "err_expired", "")
			return
		}
		h.internalError(w, r, fc.lang, "complete auth request", err)
		return
	}
	http.Redirect(w, r, to, status)
}

// allowed applies the client's access policy (clientpolicy.Admits: each
// non-empty list of departments and roles must match, departments by
// subtree). The provider applies the same predicate again at every
// refresh, userinfo and introspection call.
func (h *handler) allowed(ctx context.Context, c *storage.Client, subject string) (bool, error) {
	if !clientpolicy.Restricted(c) {
		return true, nil
	}
	id, err := h.o.Directory.Identity(ctx, subject)
	if err != nil {
		return false, err
	}
	return clientpolicy.Admits(c, id), nil
}

// notAllowed ends the request with access_denied for the app, but first
// tells the employee why (E-102) on a page of ours that links on to the
// app and goes there by itself after a pause: they are signed in, they
// just may not use this app.
func (h *handler) notAllowed(w http.ResponseWriter, r *http.Request, fc *flowCtx) {
	to, err := h.o.Requests.ErrorRedirect(r.Context(), fc.ar.ID, "access_denied", notAllowedDesc)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			h.renderError(w, r, fc.lang, http.StatusBadRequest, "err_expired", "")
			return
		}
		h.internalError(w, r, fc.lang, "error redirect", err)
		return
	}
	name := fc.client.Name
	if name == "" {
		name = fc.client.ID
	}
	p := &page{Lang: fc.lang, ErrorCode: errcode.PermissionDenied, ClientName: name, ContinueURL: to}
	p.Title = p.T("err_not_allowed_title")
	p.Error = p.T("err_not_allowed", name)
	// The HTML Refresh header: a <meta> would need the URL in an attribute
	// html/template (rightly) refuses to fill.
	w.Header().Set("Refresh", "10; url="+to)
	h.render(w, r, http.StatusForbidden, "error", p)
}

func (h *handler) errorRedirect(w http.ResponseWriter, r *http.Request, fc *flowCtx, oauthErr, desc string, status int) {
	to, err := h.o.Requests.ErrorRedirect(r.Context(), fc.ar.ID, oauthErr, desc)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			h.renderError(w, r, fc.lang, http.StatusBadRequest, "err_expired", "")
			return
		}
		h.internalError(w, r, fc.lang, "error redirect", err)
		return
	}
	http.Redirect(w, r, to, status)
}

// newPage starts a page for a sign-in step: language, CSRF token, the
// app's name and the form-action widening for its redirect URI.
func (h *handler) newPage(w http.ResponseWriter, r *http.Request, fc *flowCtx, titleKey string) (*page, error) {
	tok, err := h.csrfToken(w, r)
	if err != nil {
		return nil, err
	}
	p := &page{
		Lang:          fc.lang,
		CSRF:          tok,
		AuthRequestID: fc.ar.ID,
		ClientName:    fc.client.Name,
		formTargets:   []string{fc.ar.RedirectURI},
	}
	if p.ClientName == "" {
		p.ClientName = fc.client.ID
	}
	p.Title = p.T(titleKey)
	return p, nil
}

func (h *handler) passwordPage(w http.ResponseWriter, r *http.Request, fc *flowCtx, status int, errKey, code, employeeID string) {
	p, err := h.newPage(w, r, fc, "sign_in")
	if err != nil {
		h.internalError(w, r, fc.lang, "csrf token", err)
		return
	}
	if errKey != "" {
		p.Error = p.T(errKey)
		p.ErrorCode = code
	}
	p.EmployeeID = employeeID
	p.FocusPassword = employeeID != ""
	h.render(w, r, status, "password", p)
}

// parsePost bounds the body, parses the form and checks CSRF, answering
// 400/403 itself.
func (h *handler) parsePost(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderError(w, r, h.langFor(r, nil), http.StatusBadRequest, "err_csrf", errcode.InvalidInput)
		return false
	}
	if !h.checkCSRF(r) {
		h.renderError(w, r, h.langFor(r, nil), http.StatusForbidden, "err_csrf", errcode.PermissionDenied)
		return false
	}
	return true
}

// overLimit counts one attempt against key and reports whether the
// budget is spent. A limiter failure is an error: we fail closed.
func (h *handler) overLimit(ctx context.Context, key string, limit int) (bool, error) {
	n, err := h.o.Limiter.Hit(ctx, key, h.o.RateLimit.Window)
	if err != nil {
		return false, err
	}
	return n > int64(limit), nil
}

func (h *handler) postPassword(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	fc, ok := h.loadRequest(w, r, r.PostForm.Get("authRequestID"))
	if !ok {
		return
	}
	ctx := r.Context()
	rawID := r.PostForm.Get("employee_id")
	password := r.PostForm.Get("password")
	empID := storage.CanonicalCode(rawID)
	if empID == "" || password == "" || utf8.RuneCountInString(empID) > maxEmployeeIDLen || len(password) > maxPasswordLen {
		h.passwordPage(w, r, fc, http.StatusUnauthorized, "err_bad_credentials", "", strings.TrimSpace(rawID))
		return
	}
	if !h.checkLimits(w, r, fc, empID) {
		return
	}

	emp, err := h.o.Directory.CheckPassword(ctx, empID, password)
	switch {
	case errors.Is(err, directory.ErrBadCredentials):
		h.log.InfoContext(ctx, "login-ui: password rejected", "ip", h.clientIP(r))
		h.passwordPage(w, r, fc, http.StatusUnauthorized, "err_bad_credentials", "", empID)
		return
	case errors.Is(err, directory.ErrFrozen):
		h.passwordPage(w, r, fc, http.StatusForbidden, "err_frozen", errcode.AccountFrozen, empID)
		return
	case errors.Is(err, directory.ErrDeparted):
		h.passwordPage(w, r, fc, http.StatusForbidden, "err_departed", "", empID)
		return
	case err != nil:
		h.internalError(w, r, fc.lang, "check password", err)
		return
	}

	f := &flowState{
		AuthRequestID: fc.ar.ID,
		Subject:       emp.Subject,
		EmployeeID:    empID,
		ExpiresAt:     h.flowExpiry(fc.ar),
		Credentials:   directory.CredentialStamp(emp),
	}
	if emp.PasswordChangeRequired {
		f.MustChangePassword, f.PasswordStamp = true, directory.PasswordStamp(emp)
	}
	switch {
	case emp.TOTPSecret != nil:
		f.Stage = stageTOTP
	case h.o.TOTPRequired || fc.client.RequireMFA:
		f.Stage = stageEnrol
	default:
		h.authenticated(w, r, fc, f, amrPassword)
		return
	}
	if err := h.writeFlow(w, f); err != nil {
		h.internalError(w, r, fc.lang, "seal flow cookie", err)
		return
	}
	http.Redirect(w, r, "/login/"+string(f.Stage), http.StatusSeeOther)
}

// checkLimits counts the attempt per IP and per employee ID. Over either
// budget the answer is the same 429 whether or not the ID exists.
func (h *handler) checkLimits(w http.ResponseWriter, r *http.Request, fc *flowCtx, empID string) bool {
	ctx := r.Context()
	ip := h.clientIP(r)
	for _, l := range []struct {
		kind, key string
		limit     int
	}{
		{"ip", rateKeyIP(ip), h.o.RateLimit.PerIP},
		{"employee", "login:emp:" + empID, h.o.RateLimit.PerEmployee},
	} {
		over, err := h.overLimit(ctx, l.key, l.limit)
		if err != nil {
			h.internalError(w, r, fc.lang, "rate limit", err)
			return false
		}
		if over {
			// The kind, not the key: the key holds whatever was typed as
			// the ID, which is sometimes a password.
			h.log.WarnContext(ctx, "login-ui: sign-in rate limit reached", "limit", l.kind, "ip", ip)
			h.passwordPage(w, r, fc, http.StatusTooManyRequests, "err_rate_limited", errcode.RateLimited, empID)
			return false
		}
	}
	return true
}

// flowExpiry is flowTTL from now, but never past the auth request itself.
func (h *handler) flowExpiry(ar *storage.AuthRequest) time.Time {
	exp := h.now().Add(flowTTL)
	if !ar.ExpiresAt.IsZero() && ar.ExpiresAt.Before(exp) {
		exp = ar.ExpiresAt
	}
	return exp
}

// loadFlow reads the flow cookie for a second-factor step and the auth
// request it belongs to. A missing or expired flow is the expired page.
func (h *handler) loadFlow(w http.ResponseWriter, r *http.Request, want stage) (*flowState, *flowCtx, bool) {
	f := h.readFlow(r)
	if f == nil {
		h.renderError(w, r, h.langFor(r, nil), http.StatusBadRequest, "err_expired", "")
		return nil, nil, false
	}
	if f.Stage != want {
		// A back button or a stale tab: go to the step the flow is at.
		http.Redirect(w, r, "/login/"+string(f.Stage), http.StatusSeeOther)
		return nil, nil, false
	}
	fc, ok := h.loadRequest(w, r, f.AuthRequestID)
	if !ok {
		return nil, nil, false
	}
	if !h.credentialsUnchanged(w, r, fc, f) {
		return nil, nil, false
	}
	return f, fc, true
}

// credentialsUnchanged ends the flow when the employee's password or TOTP
// seed changed since the flow checked them (a reset by HR, or a change in
// another tab): what the flow proved no longer holds.
func (h *handler) credentialsUnchanged(w http.ResponseWriter, r *http.Request, fc *flowCtx, f *flowState) bool {
	emp, err := h.o.Directory.Employee(r.Context(), f.Subject)
	switch {
	case err == nil && directory.CredentialStamp(emp) == f.Credentials:
		return true
	case err == nil || errors.Is(err, storage.ErrNotFound):
		h.log.InfoContext(r.Context(), "login-ui: credentials changed during sign-in; flow ended", "sub", f.Subject)
		h.clearCookie(w, h.flowCookie)
		h.renderError(w, r, fc.lang, http.StatusConflict, "err_credentials_changed", "")
	default:
		h.internalError(w, r, fc.lang, "employee for flow", err)
	}
	return false
}

func (h *handler) getTOTP(w http.ResponseWriter, r *http.Request) {
	_, fc, ok := h.loadFlow(w, r, stageTOTP)
	if !ok {
		return
	}
	h.totpPage(w, r, fc, http.StatusOK, "")
}

func (h *handler) totpPage(w http.ResponseWriter, r *http.Request, fc *flowCtx, status int, errKey string) {
	p, err := h.newPage(w, r, fc, "totp_title")
	if err != nil {
		h.internalError(w, r, fc.lang, "csrf token", err)
		return
	}
	if errKey != "" {
		p.Error = p.T(errKey)
		if status == http.StatusTooManyRequests {
			p.ErrorCode = errcode.RateLimited
		}
	}
	h.render(w, r, status, "totp", p)
}

// normaliseCode drops the spaces and dashes people type or paste.
func normaliseCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\u00a0' {
			return -1
		}
		return r
	}, s)
}

func (h *handler) postTOTP(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	f, fc, ok := h.loadFlow(w, r, stageTOTP)
	if !ok {
		return
	}
	ctx := r.Context()
	code, ok := h.postedCode(w, r, fc, f, func(status int, errKey string) { h.totpPage(w, r, fc, status, errKey) })
	if !ok {
		return
	}
	if err := h.o.Directory.VerifyTOTP(ctx, f.Subject, code); err != nil {
		h.stepFailed(w, r, fc, f, "verify TOTP", err, func() {
			h.log.InfoContext(ctx, "login-ui: TOTP code rejected", "sub", f.Subject)
			h.totpPage(w, r, fc, http.StatusUnauthorized, "err_bad_credentials")
		})
		return
	}
	h.authenticated(w, r, fc, f, amrMFA)
}

// postedCode reads the TOTP code of the TOTP and enrolment steps and
// counts the attempt against the employee's limit. On a malformed code or
// a limit reached it answers through page (the step's own page, with a
// status and message key) and returns false.
func (h *handler) postedCode(w http.ResponseWriter, r *http.Request, fc *flowCtx, f *flowState, page func(status int, errKey string)) (string, bool) {
	code := normaliseCode(r.PostForm.Get("code"))
	if code == "" || len(code) > maxCodeLen {
		page(http.StatusUnauthorized, "err_bad_credentials")
		return "", false
	}
	over, err := h.overLimit(r.Context(), "login:totp:"+f.Subject, h.o.RateLimit.PerEmployee)
	if err != nil {
		h.internalError(w, r, fc.lang, "rate limit", err)
		return "", false
	}
	if over {
		h.log.WarnContext(r.Context(), "login-ui: TOTP rate limit reached", "sub", f.Subject, "ip", h.clientIP(r))
		page(http.StatusTooManyRequests, "err_rate_limited")
		return "", false
	}
	return code, true
}

// stepFailed answers an error of a step after the password (VerifyTOTP,
// NewTOTPKey, EnrolTOTP, ChangePasswordAtSignIn). bad renders the
// step's own "incorrect" answer.
func (h *handler) stepFailed(w http.ResponseWriter, r *http.Request, fc *flowCtx, f *flowState, what string, err error, bad func()) {
	switch {
	case errors.Is(err, directory.ErrBadCredentials):
		bad()
	case errors.Is(err, directory.ErrFrozen):
		// Frozen between the password and this step: the flow is over.
		h.clearCookie(w, h.flowCookie)
		h.renderError(w, r, fc.lang, http.StatusForbidden, "err_frozen", errcode.AccountFrozen)
	case errors.Is(err, directory.ErrDeparted):
		h.clearCookie(w, h.flowCookie)
		h.renderError(w, r, fc.lang, http.StatusForbidden, "err_departed", "")
	case errors.Is(err, directory.ErrTOTPNotEnrolled):
		// An administrator reset the employee's TOTP meanwhile.
		h.moveFlow(w, r, fc, f, stageEnrol)
	case errors.Is(err, directory.ErrTOTPAlreadyEnrolled):
		// Enrolled in another tab meanwhile: ask for a code instead.
		h.moveFlow(w, r, fc, f, stageTOTP)
	case errors.Is(err, directory.ErrPasswordStale):
		// Changed in another tab, or reset by an administrator, since
		// this sign-in checked it: the flow proves nothing any more.
		h.clearCookie(w, h.flowCookie)
		h.renderError(w, r, fc.lang, http.StatusConflict, "err_password_stale", "")
	default:
		h.internalError(w, r, fc.lang, what, err)
	}
}

// moveFlow switches the flow to another second-factor stage and sends the
// browser there.
func (h *handler) moveFlow(w http.ResponseWriter, r *http.Request, fc *flowCtx, f *flowState, to stage) {
	f.Stage, f.PendingSecret, f.PendingURL = to, "", ""
	if err := h.writeFlow(w, f); err != nil {
		h.internalError(w, r, fc.lang, "seal flow cookie", err)
		return
	}
	http.Redirect(w, r, "/login/"+string(to), http.StatusSeeOther)
}
