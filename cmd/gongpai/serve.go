package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gongpai/gongpai/admin"
	"github.com/gongpai/gongpai/keys"
	loginui "github.com/gongpai/gongpai/login-ui"
	"github.com/gongpai/gongpai/op"
)

// sweepInterval is how often expired ephemeral rows are deleted from the
// embedded store. Expiry is enforced on read; the sweep only reclaims space.
const sweepInterval = time.Minute

func cmdServe(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("serve", "", io)
	configPath := configFlag(fs)
	demo := fs.Bool("demo", false, "seed the demo company (once) and print its employees and client")
	pprofAddr := fs.String("pprof", "", "serve Go's profiler (net/http/pprof) on this loopback `address`, e.g. 127.0.0.1:6060")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, *configPath, io, env)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := a.cfg

	if len(cfg.MasterKey) == 0 || len(cfg.CryptoKey) == 0 {
		a.log.Warn("DEV MODE: master_key and crypto_key come from files in the data directory, beside the data they protect; set them explicitly in production", "data_dir", cfg.DataDir)
	}
	if strings.HasPrefix(cfg.Issuer.String(), "http://") {
		a.log.Warn("issuer uses plain http: allowed only because its host is loopback; never expose this listener", "issuer", cfg.Issuer)
	}

	// The durable backend itself, not a.store: with redis, a.store is a
	// storage.Combine, on which the manager's Locker/Notifier assertions
	// (postgres advisory lock, LISTEN/NOTIFY) would fail.
	km := keys.NewManager(a.keyStore(), a.sealer, keys.Options{Policy: cfg.KeyPolicy(), Logger: a.log})
	if err := km.Load(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	// One rotation round before serving (publish a due next key, retire,
	// remove); Run continues it below.
	if err := km.Tick(ctx); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}

	logout, err := a.newLogoutSender(km)
	if err != nil {
		return fmt.Errorf("back-channel logout: %w", err)
	}
	a.logout = logout // the admin API's directory manager tells it too

	provider, err := op.New(op.Config{
		Issuer:             cfg.Issuer.String(),
		Insecure:           strings.HasPrefix(cfg.Issuer.String(), "http://"),
		CryptoKey:          a.cryptoKey,
		PreviousCryptoKeys: previousCryptoKeys(cfg),
		AuthRequestTTL:     cfg.Tokens.AuthRequestTTL,
		CodeTTL:            cfg.Tokens.CodeTTL,
		AccessTokenTTL:     cfg.Tokens.AccessTokenTTL,
		IDTokenTTL:         cfg.Tokens.IDTokenTTL,
		RefreshTokenTTL:    cfg.Tokens.RefreshTokenTTL,
		LoginPath:          "/login",
		LogoutPath:         "/logout",
		AuthorizeRateLimit: cfg.RateLimit.AuthorizePerMinute,
		TrustProxyHeaders:  cfg.TrustProxyHeaders,
		Sealer:             a.sealer,
		Logout:             logout,
		Logger:             a.log,
	}, a.store, km, a.dir)
	if err != nil {
		return fmt.Errorf("openid provider: %w", err)
	}

	login, err := loginui.New(loginui.Options{
		Requests:          loginRequests{provider},
		Directory:         a.dir,
		Sessions:          a.store,
		Limiter:           a.store,
		Sealer:            a.sealer,
		Secure:            !strings.HasPrefix(cfg.Issuer.String(), "http://"),
		SessionTTL:        cfg.Session.TTL,
		TOTPRequired:      cfg.TOTP.Required,
		RateLimit:         loginui.RateLimit{PerEmployee: cfg.RateLimit.PerEmployee, PerIP: cfg.RateLimit.PerIP, Window: cfg.RateLimit.Window},
		TrustProxyHeaders: cfg.TrustProxyHeaders,
		SessionEnder:      logout,
		Logger:            a.log,
	})
	if err != nil {
		return fmt.Errorf("login pages: %w", err)
	}

	if *pprofAddr != "" {
		stopProfiler, err := startProfiler(*pprofAddr, a.log)
		if err != nil {
			return err
		}
		defer stopProfiler()
	}
	if cfg.MetricsListen != "" {
		stopMetrics, err := startSideListener(cfg.MetricsListen, "metrics", func(mux *http.ServeMux) {
			mux.Handle("GET /metrics", metricsHandler(km))
		}, a.log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	if *demo {
		if err := seedDemo(ctx, a, io.out); err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/", provider.Handler())
	for _, p := range []string{"/login", "/login/", "/logout", "/logged-out", "/static/"} {
		mux.Handle(p, login)
	}
	adminAPI, err := newAdminHandler(a, provider)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	mux.Handle(admin.APIPrefix+"/", adminAPI)
	mux.Handle(admin.SCIMPrefix+"/", adminAPI)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		sweep(ctx, a)
	}()
	rotationDone := make(chan struct{})
	go func() {
		defer close(rotationDone)
		_ = km.Run(ctx) // logs its own failures; returns when ctx ends
	}()
	stopLogout := runLogoutSender(ctx, logout, logoutDrainOnShutdown)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	a.log.Info("gongpai serving", "version", version, "issuer", cfg.Issuer.String(), "listen", ln.Addr().String(),
		"discovery", strings.TrimSuffix(cfg.Issuer.String(), "/")+"/.well-known/openid-configuration", "store", cfg.Store.Driver)
	fmt.Fprintf(io.out, "gongpai is listening on %s (issuer %s)\n", ln.Addr(), cfg.Issuer)

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		a.log.Info("shutting down")
		shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		err = srv.Shutdown(shutdownCtx)
		done()
	}
	cancel()
	<-sweepDone
	<-rotationDone
	stopLogout() // after the server: the last requests' logouts get their chance
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// sweeper is a store that keeps expired ephemeral rows until swept
// (sqlite, postgres; redis expires keys itself).
type sweeper interface {
	Sweep(ctx context.Context) (int64, error)
}

// sweep reclaims expired ephemeral rows until ctx ends.
func sweep(ctx context.Context, a *app) {
	s := a.sweeper
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("sweep of expired records failed", "err", err)
			} else if n > 0 {
				a.log.Debug("swept expired records", "count", n)
			}
		}
	}
}

// loginRequests hands the provider to login-ui, converting the logout
// request to login-ui's own type (login-ui does not import op).
type loginRequests struct{ *op.Provider }

func (p loginRequests) OpenLogoutRequest(lr string) (*loginui.LogoutRequest, error) {
	r, err := p.Provider.OpenLogoutRequest(lr)
	if err != nil {
		return nil, err
	}
	return &loginui.LogoutRequest{RedirectURI: r.RedirectURI, Subject: r.Subject, ClientID: r.ClientID, ExpiresAt: r.ExpiresAt}, nil
}
