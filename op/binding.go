package op

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/storage"
)

// Browser binding. Knowing an auth request ID must not be enough to finish
// it: otherwise whoever started /authorize can send the /login link to a
// signed-in colleague, let the SSO session (or the colleague's password)
// complete it, and then collect the code at /authorize/callback as that
// colleague. So /authorize sets a cookie with a random value on the
// browser that sent it and stores only the value's SHA-256 on the request;
// login-ui completes a request only for a browser presenting that cookie
// (BoundToBrowser), and the callback hands out the code only to one.
//
// One cookie per auth request, named after a short hash of its ID, rather
// than one value per browser: two /authorize calls racing in a fresh
// browser (a portal opening several apps at once) would each mint a value
// and the later Set-Cookie would orphan the earlier sign-in. Per request
// nothing is shared, so parallel sign-ins cannot disturb each other. The
// callback deletes the cookie once the code goes out, so only abandoned
// sign-ins leave one behind, and those expire with the request.

const (
	bindingCookieBase = "gongpai_ab"
	bindingValueBytes = 32
	// bindingNameHashBytes of SHA-256(ID) name the cookie: enough that two
	// live requests of one browser never share a name, short enough to keep
	// the Cookie header small.
	bindingNameHashBytes = 6
)

// bindingSlot carries a binding from the Authorize override, through
// zitadel, into CreateAuthRequest and back: CreateAuthRequest stores hash
// on the request and reports the ID it created.
type bindingSlot struct {
	hash string // hex SHA-256 of the cookie value
	id   string // set by CreateAuthRequest once the request is stored
}

type bindingKey struct{}

func bindingSlotFrom(ctx context.Context) *bindingSlot {
	s, _ := ctx.Value(bindingKey{}).(*bindingSlot)
	return s
}

func bindingHash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// secureCookies: cookies are Secure and __Host- prefixed unless the issuer
// is plain http (loopback development).
func (p *Provider) secureCookies() bool { return strings.HasPrefix(p.cfg.Issuer, "https://") }

// bindingCookieName is the cookie that binds auth request id to a browser.
func (p *Provider) bindingCookieName(id string) string {
	sum := sha256.Sum256([]byte(id))
	name := bindingCookieBase + "_" + hex.EncodeToString(sum[:bindingNameHashBytes])
	if p.secureCookies() {
		return "__Host-" + name
	}
	return name
}

func (p *Provider) bindingCookie(id, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     p.bindingCookieName(id),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   p.secureCookies(),
		// Lax: the RP's top-level redirect to /authorize and the whole
		// chain after it are top-level GETs (or same-site POSTs).
		SameSite: http.SameSiteLaxMode,
	}
}

// BoundToBrowser reports whether r comes from the browser that started
// auth request ar at /authorize. login-ui asks before it completes a
// request; a request without a binding is bound to no browser.
func (p *Provider) BoundToBrowser(r *http.Request, ar *storage.AuthRequest) bool {
	if ar == nil || len(ar.BrowserBinding) != sha256.Size*2 {
		return false
	}
	for _, c := range r.CookiesNamed(p.bindingCookieName(ar.ID)) {
		if c.Value != "" && len(c.Value) <= 2*bindingValueBytes &&
			subtle.ConstantTimeCompare([]byte(bindingHash(c.Value)), []byte(ar.BrowserBinding)) == 1 {
			return true
		}
	}
	return false
}

// Authorize creates the auth request (zitadel's LegacyServer, which calls
// CreateAuthRequest) bound to a fresh cookie, which the redirect to
// login-ui sets. Refusals found by the /authorize guard and the per-IP
// budget are returned as errors here, after zitadel validated the
// redirect_uri, so they reach the client as error redirects.
func (s *server) Authorize(ctx context.Context, r *zop.ClientRequest[oidc.AuthRequest]) (*zop.Redirect, error) {
	if err := authorizeRefusal(ctx); err != nil {
		return nil, err
	}
	if err := s.p.authorizeBudget(ctx); err != nil {
		return nil, err
	}
	value, err := randomID(bindingValueBytes)
	if err != nil {
		return nil, s.p.serverErr(ctx, "browser binding", err)
	}
	slot := &bindingSlot{hash: bindingHash(value)}
	redirect, err := s.LegacyServer.Authorize(context.WithValue(ctx, bindingKey{}, slot), r)
	if err != nil || redirect == nil || slot.id == "" {
		return redirect, err // refused: nothing stored, nothing to bind
	}
	if redirect.Header == nil {
		redirect.Header = make(http.Header)
	}
	redirect.Header.Add("Set-Cookie", s.p.bindingCookie(slot.id, value, int(s.p.cfg.AuthRequestTTL/time.Second)).String())
	return redirect, nil
}

// expiredPath is login-ui's "this sign-in link has expired, start again
// from the app" page.
func (p *Provider) expiredPath() string { return p.cfg.LoginPath + "/expired" }

// bindCallback wraps zitadel's /authorize/callback: the code goes only to
// the browser the request is bound to, and an unknown, expired or foreign
// request ID gets login-ui's expired page, never zitadel's plain-text
// error (which quoted storage internals).
func (p *Provider) bindCallback(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := ""
		if err := r.ParseForm(); err == nil {
			id = r.Form.Get("id")
		}
		var ar *storage.AuthRequest
		var err error = storage.ErrNotFound
		if id != "" && len(id) <= maxPresentedToken {
			ar, err = p.store.AuthRequest(ctx, id)
		}
		switch {
		case err == nil && p.BoundToBrowser(r, ar):
			// The binding has served its purpose once the code goes out.
			http.SetCookie(w, p.bindingCookie(id, "", -1))
			next(w, r)
			return
		case err == nil:
			p.log.WarnContext(ctx, "authorize callback from a browser the sign-in is not bound to", "client_id", ar.ClientID)
		case isNotFound(err):
		default:
			writeJSONError(w, http.StatusInternalServerError, p.serverErr(ctx, "callback auth request", err))
			return
		}
		http.Redirect(w, r, p.expiredPath(), http.StatusSeeOther)
	}
}
