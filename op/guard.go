package op

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/httpsec"
)

// The request guard runs before zitadel sees a request. It bounds what an
// unauthenticated caller can make the provider parse and store, and gives
// the endpoints the HTTP-level answers zitadel does not: RFC 6750 and RFC
// 6749 §5.2 WWW-Authenticate challenges, error redirects for /authorize
// parameters zitadel either ignores (request_uri) or fails to decode
// (max_age) and HSTS.

const (
	// maxBodyBytes bounds every request body (forms here are a few
	// hundred bytes; a JWT client assertion a few kilobytes).
	maxBodyBytes = 64 << 10

	// Stored auth-request fields an unauthenticated caller chooses.
	maxStateLen     = 2048
	maxNonceLen     = 2048
	maxLoginHintLen = 256
	maxListValues   = 8   // ui_locales, acr_values, prompt
	maxListValueLen = 128 // one acr value or prompt value

	// maxMaxAge clamps max_age: any larger value means "any session" just
	// the same, and seconds beyond it overflow a time.Duration.
	maxMaxAge = math.MaxInt32

	// DefaultAuthorizeRateLimit is how many auth requests one client IP
	// (IPv6: one /64) may create per minute.
	DefaultAuthorizeRateLimit = 300
	authorizeWindow           = time.Minute

	realm = "gongpai"
)

// Error codes zitadel has no constructor for.
const (
	codeRequestURINotSupported = "request_uri_not_supported"
	codeTemporarilyUnavailable = "temporarily_unavailable"
)

// guardInfo is what the guard learned about an /authorize request.
type guardInfo struct {
	ip      string
	refusal *oidc.Error // to be sent to the client once its redirect_uri is known good
}

type guardKey struct{}

func guardFrom(ctx context.Context) *guardInfo {
	g, _ := ctx.Value(guardKey{}).(*guardInfo)
	return g
}

// authorizeRefusal is the refusal the guard found in the request's
// parameters, if any.
func authorizeRefusal(ctx context.Context) error {
	if g := guardFrom(ctx); g != nil && g.refusal != nil {
		return g.refusal
	}
	return nil
}

// authorizeBudget counts one auth request against its client IP. Over the
// budget the client gets temporarily_unavailable at its redirect URI
// (its redirect_uri is validated by then): nothing is stored, no page of
// ours is shown, and the app can tell the employee to retry. A limiter
// fault fails closed; the store that would keep the request is down too.
func (p *Provider) authorizeBudget(ctx context.Context) error {
	g := guardFrom(ctx)
	if g == nil || g.ip == "" || p.cfg.AuthorizeRateLimit < 0 {
		return nil
	}
	n, err := p.store.Hit(ctx, rateKeyAuthorize(g.ip), authorizeWindow)
	if err != nil {
		return p.serverErr(ctx, "authorize rate limit", err)
	}
	if n > int64(p.cfg.AuthorizeRateLimit) {
		if n == int64(p.cfg.AuthorizeRateLimit)+1 {
			p.log.WarnContext(ctx, "authorize rate limit reached", "ip", g.ip, "limit_per_minute", p.cfg.AuthorizeRateLimit)
		}
		return &oidc.Error{ErrorType: codeTemporarilyUnavailable, Description: "too many sign-in requests from this network; retry in a minute"}
	}
	return nil
}

// checkAuthRequestSizes bounds the fields CreateAuthRequest stores as the
// caller sent them; the others are validated against the client (scopes,
// redirect_uri) or by syntax (code_challenge).
func checkAuthRequestSizes(req *oidc.AuthRequest) *oidc.Error {
	tooLong := func(name string, limit int) *oidc.Error {
		return oidc.ErrInvalidRequest().WithDescription("%s is longer than %d bytes", name, limit)
	}
	tooMany := func(name string) *oidc.Error {
		return oidc.ErrInvalidRequest().WithDescription("%s has more than %d values, or one longer than %d bytes", name, maxListValues, maxListValueLen)
	}
	switch {
	case len(req.State) > maxStateLen:
		return tooLong("state", maxStateLen)
	case len(req.Nonce) > maxNonceLen:
		return tooLong("nonce", maxNonceLen)
	case len(req.LoginHint) > maxLoginHintLen:
		return tooLong("login_hint", maxLoginHintLen)
	case len(req.UILocales) > maxListValues:
		return tooMany("ui_locales")
	case !listWithin(req.ACRValues):
		return tooMany("acr_values")
	case !listWithin(req.Prompt):
		return tooMany("prompt")
	}
	return nil
}

func listWithin(l []string) bool {
	if len(l) > maxListValues {
		return false
	}
	for _, v := range l {
		if len(v) > maxListValueLen {
			return false
		}
	}
	return true
}

// strictTransport sends HSTS on every response of an https issuer
// (httpsec, as login-ui does).
func (p *Provider) strictTransport(next http.Handler) http.Handler {
	return httpsec.StrictTransport(next, p.secureCookies())
}

// guard is the provider's first middleware after the method check.
func (p *Provider) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		switch r.URL.Path {
		case pathAuthorize:
			p.guardAuthorize(next, w, r)
		case pathUserinfo:
			guardUserinfo(next, w, r)
		case pathToken, pathIntrospect, pathRevoke:
			guardClientAuth(next, w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (p *Provider) guardAuthorize(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		// No redirect_uri can be trusted from a form we could not read.
		writeJSONError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("malformed or oversized request"))
		return
	}
	g := &guardInfo{ip: clientIP(r, p.cfg.TrustProxyHeaders)}
	// zitadel reads r.Form (it does not parse it again), so what is
	// changed here is what it decodes.
	if rt := r.Form.Get("response_type"); rt != "" && rt != string(oidc.ResponseTypeCode) {
		// zitadel would refuse it before the redirect_uri check (a bare
		// 400 for an http redirect URI) or as unauthorized_client in a
		// fragment. As code, the request reaches Authorize, which sends
		// this refusal to the (then validated) redirect_uri in the query.
		r.Form.Set("response_type", string(oidc.ResponseTypeCode))
		g.refusal = &oidc.Error{ErrorType: codeUnsupportedResponseType, Description: "only response_type=code is supported"}
	}
	if r.Form.Has("request_uri") && g.refusal == nil {
		g.refusal = &oidc.Error{ErrorType: codeRequestURINotSupported, Description: "request_uri is not supported; send the parameters directly"}
	}
	if r.Form.Has("max_age") {
		v := r.Form.Get("max_age")
		n, err := strconv.ParseUint(v, 10, 64)
		switch {
		case v == "":
			r.Form.Del("max_age")
		case err != nil && !isRangeErr(err):
			r.Form.Del("max_age") // else zitadel answers with a bare 400
			if g.refusal == nil {
				g.refusal = oidc.ErrInvalidRequest().WithDescription("max_age must be a non-negative integer")
			}
		case err != nil || n > maxMaxAge:
			r.Form.Set("max_age", strconv.Itoa(maxMaxAge))
		}
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), guardKey{}, g)))
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// guardUserinfo: the token only in the Authorization header or a POST body
// (RFC 6750 §2.3 forbids the URL: logs and Referer keep it), a bare
// challenge when there is none (§3.1), and invalid_token challenges on
// every other 401.
func guardUserinfo(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("access_token") {
		writeJSONError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("the access token must not be sent in the URL; use the Authorization header"))
		return
	}
	if !hasBearer(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	cw := &challengeWriter{ResponseWriter: w}
	next.ServeHTTP(cw, r)
	cw.finish()
}

// hasBearer reports whether r carries an access token where zitadel looks
// for one: the Authorization header's Bearer scheme, or a form body.
func hasBearer(r *http.Request) bool {
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) != "" {
		return true
	}
	if r.Method != http.MethodPost {
		return false
	}
	if err := r.ParseForm(); err != nil {
		return false
	}
	return r.PostForm.Get("access_token") != ""
}

// challengeWriter holds a 401 from userinfo back until its body (zitadel's
// JSON error) is complete, to put the description into the challenge.
type challengeWriter struct {
	http.ResponseWriter
	held bool
	body bytes.Buffer
}

func (w *challengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized && !w.held {
		w.held = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *challengeWriter) Write(b []byte) (int, error) {
	if w.held {
		return w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *challengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *challengeWriter) finish() {
	if !w.held {
		return
	}
	var e struct {
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(w.body.Bytes(), &e)
	desc := headerSafe(e.Description)
	if desc == "" {
		desc = "the access token is invalid, expired or revoked"
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="invalid_token", error_description="`+desc+`"`)
	w.ResponseWriter.WriteHeader(http.StatusUnauthorized)
	_, _ = w.ResponseWriter.Write(w.body.Bytes())
}

// headerSafe keeps the characters RFC 6750 §3 allows in error_description
// (printable ASCII but '"' and '\').
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// guardClientAuth: a malformed HTTP Basic header is invalid_client (401),
// so is a request that names no client, and introspection without a
// credential (zitadel answers both 400); every 401 from these endpoints
// carries the Basic challenge (RFC 6749 §5.2; RFC 7235 requires a
// challenge on every 401).
func guardClientAuth(next http.Handler, w http.ResponseWriter, r *http.Request) {
	fail := func(desc string) {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
		writeJSONError(w, http.StatusUnauthorized, oidc.ErrInvalidClient().WithDescription("%s", desc))
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, _, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Basic") && !wellFormedBasic(r) {
			fail("malformed HTTP Basic credentials")
			return
		}
	} else if err := r.ParseForm(); err == nil {
		f := r.PostForm
		// No client named at all; and introspection, which public
		// clients may not use, without a credential.
		anonymous := f.Get("client_id") == "" && f.Get("client_assertion") == ""
		if anonymous || (r.URL.Path == pathIntrospect && f.Get("client_secret") == "" && f.Get("client_assertion") == "") {
			fail("client authentication is required")
			return
		}
	}
	next.ServeHTTP(&basicChallengeWriter{ResponseWriter: w}, r)
}

// wellFormedBasic: base64 of "id:secret", both form-urlencoded (RFC 6749
// §2.3.1), the ID not empty.
func wellFormedBasic(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	id, err1 := url.QueryUnescape(id)
	_, err2 := url.QueryUnescape(secret)
	return err1 == nil && err2 == nil && id != ""
}

type basicChallengeWriter struct{ http.ResponseWriter }

func (w *basicChallengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *basicChallengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// VerifyClient is zitadel's, but every client-authentication failure is
// a 401 (RFC 6749 §5.2): zitadel answers an unknown client with 400.
func (s *server) VerifyClient(ctx context.Context, r *zop.Request[zop.ClientCredentials]) (zop.Client, error) {
	c, err := s.LegacyServer.VerifyClient(ctx, r)
	if err != nil {
		return nil, unauthorizedClient(err)
	}
	return c, nil
}

// Introspect is zitadel's, but a caller that did not authenticate (a
// client_id without a secret) gets 401 invalid_client, not 400.
func (s *server) Introspect(ctx context.Context, r *zop.Request[zop.IntrospectionRequest]) (*zop.Response, error) {
	resp, err := s.LegacyServer.Introspect(ctx, r)
	if err != nil {
		return nil, unauthorizedClient(err)
	}
	return resp, nil
}

// unauthorizedClient gives an invalid_client error the 401 status it
// lacks; other errors pass unchanged.
func unauthorizedClient(err error) error {
	var se zop.StatusError
	var oe *oidc.Error
	if !errors.As(err, &se) && errors.As(err, &oe) && oe.ErrorType == oidc.InvalidClient {
		return zop.NewStatusError(err, http.StatusUnauthorized)
	}
	return err
}

// clientIP is the address /authorize is budgeted against and failed
// client authentication is logged with: httpsec's rule, shared with
// login-ui.
func clientIP(r *http.Request, trustProxy bool) string { return httpsec.ClientIP(r, trustProxy) }

// rateKeyAuthorize groups IPv6 clients by /64, as login-ui does.
func rateKeyAuthorize(ip string) string { return httpsec.RateKey("authorize:ip:", ip) }
