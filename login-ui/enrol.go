package loginui

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/storage"
)

// maxUserAgentLen bounds what a session keeps of the User-Agent header.
const maxUserAgentLen = 256

func (h *handler) getEnrol(w http.ResponseWriter, r *http.Request) {
	f, fc, ok := h.loadFlow(w, r, stageEnrol)
	if !ok {
		return
	}
	if f.PendingSecret == "" {
		// The secret lives only in the sealed flow cookie until a code
		// proves the app has it; EnrolTOTP then stores it.
		k, err := h.o.Directory.NewTOTPKey(r.Context(), f.Subject)
		if err != nil {
			h.stepFailed(w, r, fc, f, "new TOTP key", err, func() {
				// The employee no longer exists.
				h.clearCookie(w, h.flowCookie)
				h.renderError(w, r, fc.lang, http.StatusBadRequest, "err_expired", "")
			})
			return
		}
		f.PendingSecret, f.PendingURL = k.Secret, k.URL
		if err := h.writeFlow(w, f); err != nil {
			h.internalError(w, r, fc.lang, "seal flow cookie", err)
			return
		}
	}
	h.enrolPage(w, r, fc, f, http.StatusOK, "")
}

func (h *handler) enrolPage(w http.ResponseWriter, r *http.Request, fc *flowCtx, f *flowState, status int, errKey string) {
	p, err := h.newPage(w, r, fc, "enrol_title")
	if err != nil {
		h.internalError(w, r, fc.lang, "csrf token", err)
		return
	}
	png, err := qrcode.Encode(f.PendingURL, qrcode.Medium, 256)
	if err != nil {
		h.internalError(w, r, fc.lang, "render QR code", err)
		return
	}
	// Both values are ours (base64 we just made, a URL directory built),
	// so marking them safe for src/href only lets their schemes through.
	p.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	if strings.HasPrefix(f.PendingURL, "otpauth://") {
		p.OTPAuthURL = template.URL(f.PendingURL)
	}
	p.SetupKey = groupKey(f.PendingSecret)
	if errKey != "" {
		p.Error = p.T(errKey)
		if status == http.StatusTooManyRequests {
			p.ErrorCode = errcode.RateLimited
		}
	}
	h.render(w, r, status, "enrol", p)
}

// groupKey splits a base32 secret into blocks of four for typing by hand.
func groupKey(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (h *handler) postEnrol(w http.ResponseWriter, r *http.Request) {
	if !h.parsePost(w, r) {
		return
	}
	f, fc, ok := h.loadFlow(w, r, stageEnrol)
	if !ok {
		return
	}
	if f.PendingSecret == "" {
		http.Redirect(w, r, "/login/enrol", http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	code, ok := h.postedCode(w, r, fc, f, func(status int, errKey string) { h.enrolPage(w, r, fc, f, status, errKey) })
	if !ok {
		return
	}
	if err := h.o.Directory.EnrolTOTP(ctx, f.Subject, f.PendingSecret, code); err != nil {
		h.stepFailed(w, r, fc, f, "enrol TOTP", err, func() {
			h.log.InfoContext(ctx, "login-ui: TOTP enrolment code rejected", "sub", f.Subject)
			h.enrolPage(w, r, fc, f, http.StatusUnauthorized, "err_bad_credentials")
		})
		return
	}
	h.log.InfoContext(ctx, "login-ui: TOTP enrolled", "sub", f.Subject)
	// The flow's own enrolment changed the credentials it checks.
	emp, err := h.o.Directory.Employee(ctx, f.Subject)
	if err != nil {
		h.internalError(w, r, fc.lang, "employee after enrolment", err)
		return
	}
	f.Credentials = directory.CredentialStamp(emp)
	h.authenticated(w, r, fc, f, amrMFA)
}

// finish starts a brand-new SSO session for the employee the flow proved,
// then completes the auth request. The session ID is always fresh (no
// fixation); a previous session in this browser is ended, and its apps are
// sent a logout token for its sid (they hold that sid, which no later
// logout would name). Its client list is kept when it was the same
// employee, so an app that keys on sub alone still hears of the new
// session's end.
func (h *handler) finish(w http.ResponseWriter, r *http.Request, fc *flowCtx, f *flowState, amr []string) {
	ctx := r.Context()
	value, err := randomToken(32)
	if err != nil {
		h.internalError(w, r, fc.lang, "session token", err)
		return
	}
	now := h.now()
	s := &storage.Session{
		ID:        sessionID(value),
		Subject:   f.Subject,
		AuthTime:  now,
		AMR:       slices.Clone(amr),
		UserAgent: truncate(r.UserAgent(), maxUserAgentLen),
		RemoteIP:  h.clientIP(r),
		CreatedAt: now,
		ExpiresAt: now.Add(h.o.SessionTTL),
	}
	if old := h.currentSession(r); old != nil {
		if old.Subject == f.Subject {
			s.ClientIDs = slices.Clone(old.ClientIDs)
		}
		if err := h.o.Sessions.DeleteSession(ctx, old.ID); err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				h.log.WarnContext(ctx, "login-ui: end previous session", "err", err)
			}
		} else {
			h.sessionEnded(ctx, old)
		}
	}
	if err := h.o.Sessions.CreateSession(ctx, s); err != nil {
		h.internalError(w, r, fc.lang, "create session", err)
		return
	}
	h.setCookie(w, h.ssoCookie, value, s.ExpiresAt, http.SameSiteLaxMode)
	h.clearCookie(w, h.flowCookie)
	// The employee proved who they are: forget their failed attempts. The
	// per-IP counter stays, or one known account could reset it.
	for _, key := range []string{"login:emp:" + f.EmployeeID, "login:totp:" + f.Subject} {
		if err := h.o.Limiter.ResetHits(ctx, key); err != nil {
			h.log.WarnContext(ctx, "login-ui: reset rate-limit counter", "err", err)
		}
	}
	h.log.InfoContext(ctx, "login-ui: signed in", "sub", f.Subject, "client", fc.client.ID, "amr", amr, "ip", s.RemoteIP)
	h.complete(w, r, fc, s, http.StatusSeeOther)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
