package op

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
// nothing is shared, so parallel sign-ins cannot disturb each other.
//
// But a browser holds at most bindingMax of them: otherwise a hostile page
// could navigate a browser through /authorize a few hundred times and
// stuff it with cookies until every request to the issuer's host is
// refused as too large. Each cookie value starts with its creation time,
// and /authorize, before it sets a new one, deletes the oldest binding
// cookies the browser sent beyond bindingMax-1. The trade-off: a browser
// with more than bindingMax sign-ins in flight at once loses the oldest
// (that sign-in ends on login-ui's "start again" page). Sign-ins racing
// each other see none of each other's cookies, so none evicts another;
// the next /authorize trims what they left.
//
// The cookie is deleted (Set-Cookie with Max-Age=-1) whenever the sign-in
// ends through the provider: at the callback that hands out the code (or
// zitadel's error for a request not completed), and at the hop
// ErrorRedirect sends the browser through on its way to the app with an
// error (login_required, access_denied …). Only sign-ins the employee
// abandons leave one behind, and those expire with the request.

const (
	bindingCookieBase = "gongpai_ab"
	bindingValueBytes = 32
	// bindingNameHashBytes of SHA-256(ID) name the cookie: enough that two
	// live requests of one browser never share a name, short enough to keep
	// the Cookie header small.
	bindingNameHashBytes = 6
	// bindingMax is how many binding cookies one browser keeps.
	bindingMax = 8
	// maxBindingValue bounds what is hashed: "<unix ms>.<base64url>".
	maxBindingValue = 2 * bindingValueBytes
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
	return p.bindingCookiePrefix() + hex.EncodeToString(sum[:bindingNameHashBytes])
}

// bindingCookiePrefix starts the name of every binding cookie.
func (p *Provider) bindingCookiePrefix() string {
	if p.secureCookies() {
		return "__Host-" + bindingCookieBase + "_"
	}
	return bindingCookieBase + "_"
}

func (p *Provider) bindingCookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
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

// boundBy reports whether r carries the cookie of request id whose value
// hashes to hash.
func (p *Provider) boundBy(r *http.Request, hash, id string) bool {
	if len(hash) != sha256.Size*2 || id == "" {
		return false
	}
	for _, c := range r.CookiesNamed(p.bindingCookieName(id)) {
		if c.Value != "" && len(c.Value) <= maxBindingValue &&
			subtle.ConstantTimeCompare([]byte(bindingHash(c.Value)), []byte(hash)) == 1 {
			return true
		}
	}
	return false
}

// bindingsToEvict names the binding cookies a browser sending header h
// must drop to make room for one more: the oldest beyond bindingMax-1
// (a value without a creation time counts as oldest).
func (p *Provider) bindingsToEvict(h http.Header) []string {
	type held struct {
		name string
		at   int64
	}
	var cs []held
	seen := map[string]bool{}
	for _, c := range (&http.Request{Header: h}).Cookies() {
		if !strings.HasPrefix(c.Name, p.bindingCookiePrefix()) || seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		at, _, _ := strings.Cut(c.Value, ".")
		t, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			t = math.MinInt64
		}
		cs = append(cs, held{c.Name, t})
	}
	if len(cs) < bindingMax {
		return nil
	}
	slices.SortFunc(cs, func(a, b held) int { return cmp.Compare(a.at, b.at) })
	out := make([]string, 0, len(cs)-bindingMax+1)
	for _, c := range cs[:len(cs)-bindingMax+1] {
		out = append(out, c.name)
	}
	return out
}

// BoundToBrowser reports whether r comes from the browser that started
// auth request ar at /authorize. login-ui asks before it completes a
// request; a request without a binding is bound to no browser.
func (p *Provider) BoundToBrowser(r *http.Request, ar *storage.AuthRequest) bool {
	return ar != nil && p.boundBy(r, ar.BrowserBinding, ar.ID)
}

// ClearBrowserBinding deletes from the browser behind r the cookie that
// binds auth request ar to it, if it holds it. The callback and the
// error hop call it; a handler outside op that ends a sign-in without
// sending the browser through either may call it before it answers.
func (p *Provider) ClearBrowserBinding(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest) {
	if ar != nil {
		p.clearBinding(w, r, ar.BrowserBinding, ar.ID)
	}
}

func (p *Provider) clearBinding(w http.ResponseWriter, r *http.Request, hash, id string) {
	if p.boundBy(r, hash, id) {
		http.SetCookie(w, p.bindingCookie(p.bindingCookieName(id), "", -1))
	}
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
	rnd, err := randomID(bindingValueBytes)
	if err != nil {
		return nil, s.p.serverErr(ctx, "browser binding", err)
	}
	value := strconv.FormatInt(s.p.now().UnixMilli(), 10) + "." + rnd
	slot := &bindingSlot{hash: bindingHash(value)}
	redirect, err := s.LegacyServer.Authorize(context.WithValue(ctx, bindingKey{}, slot), r)
	if err != nil || redirect == nil || slot.id == "" {
		if slot.id != "" {
			// Stored, then refused: nobody can finish it; drop it now.
			_ = s.p.DeleteAuthRequest(ctx, slot.id)
		}
		return redirect, err // refused: nothing stored, nothing to bind
	}
	if redirect.Header == nil {
		redirect.Header = make(http.Header)
	}
	for _, old := range s.p.bindingsToEvict(r.Header) {
		redirect.Header.Add("Set-Cookie", s.p.bindingCookie(old, "", -1).String())
	}
	redirect.Header.Add("Set-Cookie", s.p.bindingCookie(s.p.bindingCookieName(slot.id), value, int(s.p.cfg.AuthRequestTTL/time.Second)).String())
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
			// The binding has served its purpose once the code (or, for
			// a request not completed, zitadel's error) goes out.
			p.ClearBrowserBinding(w, r, ar)
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

// pathErrorReturn is the hop ErrorRedirect sends the browser through on
// its way to the app with an error, so that the binding cookie is deleted
// on that answer (login-ui's pages cannot set op's cookies).
const pathErrorReturn = "/authorize/return"

// maxErrorReturn bounds the sealed parameter: a 2 KiB state and a long
// redirect URI, percent-encoded, sealed and base64-encoded, fit.
const maxErrorReturn = 16 << 10

var errorReturnAAD = []byte("gongpai/op/error-return")

type errorReturn struct {
	To      string `json:"to"`           // the app's redirect URI with error and state
	Binding string `json:"b,omitempty"`  // the request's binding hash
	ID      string `json:"id,omitempty"` // the request ID (the cookie's name)
	Expires int64  `json:"exp"`
}

// errorReturnURL seals the app's error redirect for the hop.
func (p *Provider) errorReturnURL(ar *storage.AuthRequest, to string) (string, error) {
	b, err := json.Marshal(errorReturn{To: to, Binding: ar.BrowserBinding, ID: ar.ID, Expires: p.now().Add(p.cfg.AuthRequestTTL).Unix()})
	if err != nil {
		return "", err
	}
	sealed, err := p.cfg.Sealer.Seal(b, errorReturnAAD)
	if err != nil {
		return "", err
	}
	return p.cfg.Issuer + pathErrorReturn + "?r=" + url.QueryEscape(string(sealed)), nil
}

// serveErrorReturn answers the hop: it deletes the binding cookie of the
// ended request, if this browser holds it, and redirects to the app. Only
// a value ErrorRedirect sealed is followed, so it is no open redirect; a
// stale or forged one gets login-ui's expired page.
func (p *Provider) serveErrorReturn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pathErrorReturn {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		raw := r.URL.Query().Get("r")
		var er errorReturn
		ok := raw != "" && len(raw) <= maxErrorReturn
		if ok {
			b, err := p.cfg.Sealer.Open([]byte(raw), errorReturnAAD)
			ok = err == nil && json.Unmarshal(b, &er) == nil && er.To != "" && p.now().Before(time.Unix(er.Expires, 0))
		}
		if !ok {
			http.Redirect(w, r, p.expiredPath(), http.StatusSeeOther)
			return
		}
		p.clearBinding(w, r, er.Binding, er.ID)
		http.Redirect(w, r, er.To, http.StatusFound)
	})
}
