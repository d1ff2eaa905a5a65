package op

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// Defaults for zero durations in Config.
const (
	DefaultAuthRequestTTL  = 30 * time.Minute
	DefaultCodeTTL         = time.Minute
	DefaultAccessTokenTTL  = 10 * time.Minute
	DefaultIDTokenTTL      = time.Hour
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
)

// Config configures the provider.
type Config struct {
	Issuer   string
	Insecure bool // allows an http issuer (loopback development only)
	// CryptoKey encrypts authorization codes and opaque access tokens. It
	// must be secret, the same on every replica and stable across restarts;
	// an all-zero key is refused.
	CryptoKey [32]byte
	// PreviousCryptoKeys still decrypt (never encrypt) codes and opaque
	// tokens made under an earlier CryptoKey, so the key can be changed
	// without failing what is outstanding: keep one for the longest
	// access-token lifetime after a change.
	PreviousCryptoKeys [][32]byte

	AuthRequestTTL, CodeTTL, AccessTokenTTL, IDTokenTTL, RefreshTokenTTL time.Duration

	// LoginPath is login-ui's entry; the browser goes to
	// LoginPath+"?authRequestID="+id, and to LoginPath+"/expired" (the
	// "sign-in link expired" page) from a callback it may not complete.
	LoginPath  string
	LogoutPath string // login-ui logout page; end_session sends the browser to LogoutPath+"?lr="+sealed

	Sealer *seal.Sealer
	// Logout, when set, is the back-channel logout sender wired to every
	// place sessions end; discovery then advertises
	// backchannel_logout_supported and backchannel_logout_session_supported.
	Logout *LogoutSender
	// AuthorizeRateLimit is how many auth requests one client IP (IPv6:
	// one /64) may create per minute; 0 means DefaultAuthorizeRateLimit,
	// negative no limit. Over it the client gets temporarily_unavailable.
	AuthorizeRateLimit int
	// TrustProxyHeaders takes the client IP from the last X-Forwarded-For
	// entry, as login-ui does. Enable only behind a proxy that sets it.
	TrustProxyHeaders bool
	Now               func() time.Time
	Logger            *slog.Logger
}

// Store is the part of storage.Durable and storage.Ephemeral the provider
// uses. *sqlite.Store satisfies it.
type Store interface {
	Client(ctx context.Context, id string) (*storage.Client, error)

	CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error
	AuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error)
	CompleteAuthRequest(ctx context.Context, id string, res storage.AuthResult) error
	DeleteAuthRequest(ctx context.Context, id string) error
	SaveAuthCode(ctx context.Context, authRequestID, code string, ttl time.Duration) error
	TakeAuthCode(ctx context.Context, code string) (*storage.AuthRequest, error)

	CreateAccessToken(ctx context.Context, t *storage.AccessToken) error
	AccessToken(ctx context.Context, id string) (*storage.AccessToken, error)
	DeleteAccessToken(ctx context.Context, id string) error
	DeleteAccessTokensOfFamily(ctx context.Context, familyID string) error

	CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error
	RefreshToken(ctx context.Context, id string) (*storage.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, oldID string, next *storage.RefreshToken) error
	RevokeRefreshFamily(ctx context.Context, familyID string) error

	// Hit counts auth requests per client IP (storage.Ephemeral.Hit).
	Hit(ctx context.Context, key string, window time.Duration) (int64, error)

	Ping(ctx context.Context) error
}

// Identities resolves a subject to the typed identity the claims come from.
// *directory.Directory satisfies it.
type Identities interface {
	Identity(ctx context.Context, subject string) (*storage.Identity, error)
}

// Provider is the OpenID Provider. It implements zitadel's op.Storage (and
// the optional interfaces below) over Store, the key manager and Identities;
// Handler serves the protocol endpoints.
type Provider struct {
	cfg     Config
	store   Store
	keys    *keys.Manager
	people  Identities
	log     *slog.Logger
	now     func() time.Time
	clients *clientCache

	oidc    *zop.Provider
	handler http.Handler
}

// The zitadel interfaces Provider implements deliberately: discovery
// advertises client_credentials because of ClientCredentialsStorage.
var (
	_ zop.Storage                        = (*Provider)(nil)
	_ zop.ClientCredentialsStorage       = (*Provider)(nil)
	_ zop.CanSetUserinfoFromRequest      = (*Provider)(nil)
	_ zop.CanTerminateSessionFromRequest = (*Provider)(nil)
	_ zop.CanGetPrivateClaimsFromRequest = (*Provider)(nil)
)

// New validates cfg and builds the provider and its HTTP handler.
func New(cfg Config, store Store, km *keys.Manager, people Identities) (*Provider, error) {
	if store == nil || km == nil || people == nil {
		return nil, errors.New("op: store, key manager and identities are required")
	}
	if cfg.Sealer == nil {
		return nil, errors.New("op: Config.Sealer is required (it seals logout requests)")
	}
	if cfg.CryptoKey == ([32]byte{}) {
		return nil, errors.New("op: Config.CryptoKey is all zero; it must be a secret random key")
	}
	for i, k := range cfg.PreviousCryptoKeys {
		if k == ([32]byte{}) {
			return nil, fmt.Errorf("op: Config.PreviousCryptoKeys[%d] is all zero", i)
		}
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || iss.Host == "" || (iss.Scheme != "https" && iss.Scheme != "http") || iss.RawQuery != "" || iss.Fragment != "" {
		return nil, fmt.Errorf("op: Config.Issuer %q is not an absolute http(s) URL without query or fragment", cfg.Issuer)
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	setDefault(&cfg.AuthRequestTTL, DefaultAuthRequestTTL)
	setDefault(&cfg.CodeTTL, DefaultCodeTTL)
	setDefault(&cfg.AccessTokenTTL, DefaultAccessTokenTTL)
	setDefault(&cfg.IDTokenTTL, DefaultIDTokenTTL)
	setDefault(&cfg.RefreshTokenTTL, DefaultRefreshTokenTTL)
	if cfg.LoginPath == "" {
		cfg.LoginPath = "/login"
	}
	if cfg.AuthorizeRateLimit == 0 {
		cfg.AuthorizeRateLimit = DefaultAuthorizeRateLimit
	}
	if cfg.LogoutPath == "" {
		cfg.LogoutPath = "/logout"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{
		cfg:    cfg,
		store:  store,
		keys:   km,
		people: people,
		log:    log,
		now:    func() time.Time { return cfg.Now().UTC() },
	}
	p.clients = newClientCache(store, p.now, clientCacheTTL)

	zcfg := &zop.Config{
		CryptoKey:                cfg.CryptoKey,
		DefaultLogoutRedirectURI: p.loggedOutURL(),
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          SupportedScopes(),
		SupportedClaims:          supportedClaims(),

		// Every logout token carries sid (the ID token's), and sub.
		BackChannelLogoutSupported:        cfg.Logout != nil,
		BackChannelLogoutSessionSupported: cfg.Logout != nil,
	}
	// Verifiers accept every algorithm keys can sign with: without this,
	// zitadel refuses EdDSA id_token_hints signed by our own keys (G6).
	algs := []string{keys.RS256, keys.ES256, keys.EdDSA}
	opts := []zop.Option{
		zop.WithIDTokenHintVerifierOpts(zop.WithSupportedIDTokenHintSigningAlgorithms(algs...)),
		zop.WithAccessTokenVerifierOpts(zop.WithSupportedAccessTokenSigningAlgorithms(algs...)),
		zop.WithAccessTokenKeySet(verificationKeySet{keys: km}),
		zop.WithIDTokenHintKeySet(verificationKeySet{keys: km, hints: true}),
		zop.WithCrypto(newCrypto(cfg.CryptoKey, cfg.PreviousCryptoKeys)),
		zop.WithCORSOptions(corsOptions()),
	}
	if cfg.Insecure {
		opts = append(opts, zop.WithAllowInsecure())
	}
	p.oidc, err = zop.NewProvider(zcfg, p, zop.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("op: %w", err)
	}
	p.handler = outageStatus(p.newHandler())
	return p, nil
}

// Handler serves discovery, /authorize (+/callback), /oauth/token,
// /oauth/introspect, /userinfo, /revoke, /end_session, /keys, /healthz and
// /ready.
func (p *Provider) Handler() http.Handler { return p.handler }

// loggedOutURL is where end_session lands when the client named no valid
// post_logout_redirect_uri: login-ui's signed-out page.
func (p *Provider) loggedOutURL() string { return p.cfg.Issuer + "/logged-out" }

// issuerContext gives zitadel helpers that need the issuer (callback URL)
// one outside an HTTP request, such as a call from login-ui.
func (p *Provider) issuerContext(ctx context.Context) context.Context {
	return zop.ContextWithIssuer(ctx, p.cfg.Issuer)
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// newCrypto encrypts codes and opaque access tokens with AES-256-GCM under
// current and decrypts with current or any previous key. zitadel's default
// also tries AES-CFB, a format gongpai never issued; CFB is not
// authenticated, so it would "decrypt" any base64 string to noise and
// stop the search before a previous key is tried: it is left out.
func newCrypto(current [32]byte, previous [][32]byte) zop.Crypto {
	enc := zop.NewAES256GCMCrypto(current, seal.KeyID(current[:]))
	decs := []zop.Decrypter{enc}
	for _, k := range previous {
		decs = append(decs, zop.NewAES256GCMCrypto(k, seal.KeyID(k[:])))
	}
	return zop.NewCompositeCrypto(enc, decs)
}
