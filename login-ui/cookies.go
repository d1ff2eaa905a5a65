package loginui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gongpai/gongpai/httpsec"
)

// Additional data binding each sealed value to its purpose, so a sealed
// CSRF token can never be replayed as a flow cookie or the reverse.
var (
	aadFlow = []byte("gongpai-flow")
	aadCSRF = []byte("gongpai-csrf")
)

// cookieName adds the __Host- prefix on https: the browser then insists
// on Secure, Path=/ and no Domain, so a sibling subdomain cannot plant or
// overwrite the cookie.
func cookieName(base string, secure bool) string {
	if secure {
		return "__Host-" + base
	}
	return base
}

func (h *handler) setCookie(w http.ResponseWriter, name, value string, expires time.Time, sameSite http.SameSite) {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   h.o.Secure,
		SameSite: sameSite,
	}
	if !expires.IsZero() {
		c.Expires = expires.UTC()
		c.MaxAge = max(int(expires.Sub(h.now()).Seconds()), 1)
	}
	http.SetCookie(w, c)
}

func (h *handler) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.o.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// sessionID is how a session cookie value is stored: only its hash, so a
// read of the session table does not yield usable cookies.
func sessionID(cookieValue string) string {
	sum := sha256.Sum256([]byte(cookieValue))
	return hex.EncodeToString(sum[:])
}

// stage is where a login flow stands after the password was accepted.
type stage string

const (
	stageTOTP  stage = "totp"
	stageEnrol stage = "enrol"
	// stageNewPassword: every factor is proved, but the password was set
	// by HR or an administrator and must be replaced before the session
	// exists.
	stageNewPassword stage = "new-password"
)

// flowState is the sealed login-flow cookie: what the password step proved,
// carried to the TOTP, enrolment and password-change steps. Sealed with
// AES-GCM, so the browser can neither read the pending TOTP secret nor
// forge a stage.
type flowState struct {
	AuthRequestID string    `json:"a"`
	Subject       string    `json:"s"`
	EmployeeID    string    `json:"e"` // canonical; to reset its rate-limit counter on success
	Stage         stage     `json:"st"`
	PendingSecret string    `json:"ps,omitempty"` // enrolment: the not yet stored TOTP secret
	PendingURL    string    `json:"pu,omitempty"` // enrolment: its otpauth:// URL
	ExpiresAt     time.Time `json:"x"`
	// MustChangePassword: the password checked was set by HR or an
	// administrator; the employee replaces it after the second factor.
	MustChangePassword bool `json:"cp,omitempty"`
	// PasswordStamp is directory.PasswordStamp of the password checked,
	// proof for the change that it is still the employee's.
	PasswordStamp string `json:"pw,omitempty"`
	// Credentials is directory.CredentialStamp of the employee when the
	// flow last checked or changed them; a reset by someone else since
	// ends the flow.
	Credentials string `json:"cr,omitempty"`
	// AMR is what the employee proved, kept while the password change
	// still stands between them and their session.
	AMR []string `json:"m,omitempty"`
}

func (h *handler) writeFlow(w http.ResponseWriter, f *flowState) error {
	pt, err := json.Marshal(f)
	if err != nil {
		return err
	}
	sealed, err := h.o.Sealer.Seal(pt, aadFlow)
	if err != nil {
		return err
	}
	// Strict: the flow is only ever continued by our own same-site
	// navigations.
	h.setCookie(w, h.flowCookie, string(sealed), f.ExpiresAt, http.SameSiteStrictMode)
	return nil
}

// readFlow returns the flow cookie's state, or nil when it is missing,
// tampered with, sealed under a retired key, or expired.
func (h *handler) readFlow(r *http.Request) *flowState {
	c, err := r.Cookie(h.flowCookie)
	if err != nil {
		return nil
	}
	pt, err := h.o.Sealer.Open([]byte(c.Value), aadFlow)
	if err != nil {
		return nil
	}
	var f flowState
	if json.Unmarshal(pt, &f) != nil || f.AuthRequestID == "" || f.Subject == "" {
		return nil
	}
	if !h.now().Before(f.ExpiresAt) {
		return nil
	}
	return &f
}

// csrfToken makes sure the browser has a CSRF cookie and returns the form
// token for it: the cookie value sealed (aad "gongpai-csrf"). Any replica
// holding the master key can verify it, and a planted cookie is useless
// without a token sealed under our key.
func (h *handler) csrfToken(w http.ResponseWriter, r *http.Request) (string, error) {
	v := ""
	if c, err := r.Cookie(h.csrfCookie); err == nil && len(c.Value) == 43 {
		v = c.Value
	}
	if v == "" {
		var err error
		if v, err = randomToken(32); err != nil {
			return "", err
		}
		// Lax, not Strict: page 1 is reached by a cross-site redirect
		// chain, and a fresh cookie there would break other open tabs.
		h.setCookie(w, h.csrfCookie, v, time.Time{}, http.SameSiteLaxMode)
	}
	tok, err := h.o.Sealer.Seal([]byte(v), aadCSRF)
	if err != nil {
		return "", err
	}
	return string(tok), nil
}

// checkCSRF is the double-submit check: the form token must open to the
// value of the CSRF cookie. Call after ParseForm.
func (h *handler) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(h.csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	tok := r.PostForm.Get("csrf")
	if tok == "" {
		return false
	}
	pt, err := h.o.Sealer.Open([]byte(tok), aadCSRF)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(pt, []byte(c.Value)) == 1
}

// clientIP is the address sign-in attempts are counted against.
// X-Forwarded-For is honoured only when configured, and then only its
// last entry: the one our own proxy appended (earlier ones are whatever
// the client sent).
func (h *handler) clientIP(r *http.Request) string {
	return httpsec.ClientIP(r, h.o.TrustProxyHeaders)
}

// rateKeyIP is the per-address rate-limit key (IPv6 grouped by /64).
func rateKeyIP(ip string) string { return httpsec.RateKey("login:ip:", ip) }
