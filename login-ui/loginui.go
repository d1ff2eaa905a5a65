package loginui

import (
	"context"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/text/language"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// AuthRequests is the slice of the OpenID provider the sign-in pages drive.
// *op.Provider satisfies all but OpenLogoutRequest directly; see
// LogoutRequest for that one.
type AuthRequests interface {
	AuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error)
	Client(ctx context.Context, id string) (*storage.Client, error)
	// Complete marks the request authenticated and returns the absolute
	// URL of the provider's callback, which redirects to the app.
	Complete(ctx context.Context, id string, res storage.AuthResult) (redirectTo string, err error)
	// ErrorRedirect returns the app's redirect URI carrying an OAuth error
	// (login_required, access_denied …) and deletes the request.
	ErrorRedirect(ctx context.Context, id, oauthErr, description string) (redirectTo string, err error)
	// OpenLogoutRequest opens the sealed lr parameter end_session sent.
	OpenLogoutRequest(lr string) (*LogoutRequest, error)
	// BoundToBrowser reports whether r comes from the browser that sent
	// the request to /authorize (the provider's browser-binding cookie).
	// A request is completed only for that browser.
	BoundToBrowser(r *http.Request, ar *storage.AuthRequest) bool
}

// LogoutRequest is an RP-initiated logout the provider has validated. It
// mirrors op.LogoutRequest field for field; it is declared here so that
// login-ui does not import its sibling op (dependencies point down only).
type LogoutRequest struct {
	RedirectURI string // validated post_logout_redirect_uri with state, or ""
	Subject     string // sub of a verified id_token_hint, or ""
	ClientID    string
	ExpiresAt   time.Time
}

// Authenticator checks credentials; *directory.Directory satisfies it.
// Errors are directory's sentinels (ErrBadCredentials, ErrFrozen,
// ErrDeparted, ErrTOTPNotEnrolled, ErrPasswordStale), compared with
// errors.Is, or a *directory.FieldError naming the password rule broken.
type Authenticator interface {
	CheckPassword(ctx context.Context, employeeID, password string) (*storage.Employee, error)
	VerifyTOTP(ctx context.Context, subject, code string) error
	NewTOTPKey(ctx context.Context, subject string) (*directory.TOTPEnrolment, error)
	EnrolTOTP(ctx context.Context, subject, secret, code string) error
	// ChangePasswordAtSignIn replaces a password HR or an administrator
	// set (Employee.PasswordChangeRequired) with the employee's own; stamp
	// is directory.PasswordStamp of the employee CheckPassword returned.
	ChangePasswordAtSignIn(ctx context.Context, subject, stamp, newPassword string) error
	Employee(ctx context.Context, subject string) (*storage.Employee, error)
	// Identity is used for the client's access policy (departments, roles).
	Identity(ctx context.Context, subject string) (*storage.Identity, error)
}

// SessionStore keeps SSO sessions; a subset of storage.Ephemeral.
type SessionStore interface {
	CreateSession(ctx context.Context, s *storage.Session) error
	Session(ctx context.Context, id string) (*storage.Session, error)
	AddSessionClient(ctx context.Context, id, clientID string) error
	DeleteSession(ctx context.Context, id string) error
}

// Limiter counts sign-in attempts; a subset of storage.Ephemeral.
type Limiter interface {
	Hit(ctx context.Context, key string, window time.Duration) (int64, error)
	ResetHits(ctx context.Context, key string) error
}

// RateLimit bounds sign-in attempts per employee ID and per client IP
// within Window. Zero fields take the defaults (5, 50, 15 minutes).
type RateLimit struct {
	PerEmployee int
	PerIP       int
	Window      time.Duration
}

// Options configures the sign-in pages.
type Options struct {
	Requests  AuthRequests
	Directory Authenticator
	Sessions  SessionStore
	Limiter   Limiter
	// Sealer seals the short-lived login-flow cookie and the CSRF tokens.
	Sealer *seal.Sealer
	// Secure marks every cookie Secure and gives the SSO, flow and CSRF
	// cookies the __Host- prefix. False only for a loopback http issuer.
	Secure bool
	// SessionTTL is the SSO session lifetime; default 10h.
	SessionTTL time.Duration
	// TOTPRequired sends employees without TOTP to enrolment before they
	// finish signing in. It is taken literally (a bool has no "unset");
	// config defaults it to true. A client with RequireMFA forces
	// enrolment either way.
	TOTPRequired bool
	RateLimit    RateLimit
	// TrustProxyHeaders takes the client IP from the last X-Forwarded-For
	// entry (the one our own reverse proxy appended) instead of
	// RemoteAddr. Enable only behind a proxy that sets it.
	TrustProxyHeaders bool
	// SessionEnder, when set, is told about every session a sign-out or a
	// replacing sign-in ends (back-channel logout).
	SessionEnder SessionEnder
	Now          func() time.Time
	Logger       *slog.Logger
}

const (
	defaultSessionTTL  = 10 * time.Hour
	defaultPerEmployee = 5
	defaultPerIP       = 50
	defaultWindow      = 15 * time.Minute
	// flowTTL bounds how long an employee may take between the password
	// and the last step (TOTP, enrolment, a required password change).
	flowTTL = 10 * time.Minute
)

type handler struct {
	o       Options
	log     *slog.Logger
	now     func() time.Time
	pages   map[string]*template.Template
	static  fs.FS
	matcher language.Matcher

	ssoCookie, flowCookie, csrfCookie string
}

// New returns the handler for the sign-in and sign-out pages. Mount it on
// /login, /login/, /logout, /logged-out and /static/; it sees full paths.
func New(o Options) (http.Handler, error) {
	switch {
	case o.Requests == nil:
		return nil, errors.New("loginui: Options.Requests is nil")
	case o.Directory == nil:
		return nil, errors.New("loginui: Options.Directory is nil")
	case o.Sessions == nil:
		return nil, errors.New("loginui: Options.Sessions is nil")
	case o.Limiter == nil:
		return nil, errors.New("loginui: Options.Limiter is nil")
	case o.Sealer == nil:
		return nil, errors.New("loginui: Options.Sealer is nil")
	case o.SessionTTL < 0 || o.RateLimit.PerEmployee < 0 || o.RateLimit.PerIP < 0 || o.RateLimit.Window < 0:
		return nil, errors.New("loginui: negative SessionTTL or RateLimit value")
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = defaultSessionTTL
	}
	if o.RateLimit.PerEmployee == 0 {
		o.RateLimit.PerEmployee = defaultPerEmployee
	}
	if o.RateLimit.PerIP == 0 {
		o.RateLimit.PerIP = defaultPerIP
	}
	if o.RateLimit.Window == 0 {
		o.RateLimit.Window = defaultWindow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	h := &handler{
		o:          o,
		log:        o.Logger,
		now:        o.Now,
		pages:      pages,
		static:     static,
		matcher:    language.NewMatcher(supported),
		ssoCookie:  cookieName("gongpai_sso", o.Secure),
		flowCookie: cookieName("gongpai_flow", o.Secure),
		csrfCookie: cookieName("gongpai_csrf", o.Secure),
	}
	return h.routes(), nil
}

// routes registers every endpoint in one place.
func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", h.getLogin)
	mux.HandleFunc("GET /login/expired", h.getExpired)
	mux.HandleFunc("POST /login/password", h.postPassword)
	mux.HandleFunc("GET /login/totp", h.getTOTP)
	mux.HandleFunc("POST /login/totp", h.postTOTP)
	mux.HandleFunc("GET /login/enrol", h.getEnrol)
	mux.HandleFunc("POST /login/enrol", h.postEnrol)
	mux.HandleFunc("GET /login/new-password", h.getNewPassword)
	mux.HandleFunc("POST /login/new-password", h.postNewPassword)
	mux.HandleFunc("GET /logout", h.getLogout)
	mux.HandleFunc("POST /logout", h.postLogout)
	mux.HandleFunc("GET /logged-out", h.getLoggedOut)
	mux.Handle("GET /static/", http.StripPrefix("/static/", h.serveStatic()))
	mux.HandleFunc("/", h.notFound)
	return securityHeaders(strictTransport(mux, h.o.Secure))
}

func (h *handler) serveStatic() http.Handler {
	files := http.FileServerFS(h.static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The stylesheet is public and changes only with a release.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.renderError(w, r, h.langFor(r, nil), http.StatusNotFound, "err_not_found", "")
}

// baseCSP is sent on every response. form-action is widened per page to
// the origin the form's redirect chain ends at (see formActionCSP).
const baseCSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", baseCSP)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
