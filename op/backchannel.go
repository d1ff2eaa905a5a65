package op

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/storage"
)

// OpenID Connect Back-Channel Logout 1.0 (errata set 1): when an SSO
// session ends — RP-initiated logout, a sign-in that replaces it, a
// freeze, departure or credential reset — every app that got tokens in
// that session and registered a backchannel_logout_uri is sent a logout
// token, so it can end its own session for that sid.
//
// Delivery is best effort and in-process: jobs wait
// in a bounded memory queue, a few workers POST them with retries, and a
// replica that dies (or is killed past its drain deadline) loses what it
// had not sent. The OP side is already secure without it — the employee's
// session, refresh and access tokens are gone before a logout token is
// queued — what is lost is only the app's own session, which then lasts
// until the app next checks with gongpai. docs/operations.md says so.

// BackchannelLogoutEvent is the events member of a logout token (§2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// Defaults of LogoutConfig.
const (
	DefaultLogoutTokenTTL  = 2 * time.Minute // §4: "preferably at most two minutes"
	DefaultLogoutTimeout   = 5 * time.Second
	DefaultLogoutAttempts  = 4
	DefaultLogoutBackoff   = time.Second
	DefaultLogoutWorkers   = 4
	DefaultLogoutQueueSize = 1024
)

// LogoutClients looks up a client's registration; storage.Durable
// satisfies it.
type LogoutClients interface {
	Client(ctx context.Context, id string) (*storage.Client, error)
}

// LogoutConfig configures a LogoutSender. Zero values take the defaults.
type LogoutConfig struct {
	Issuer  string
	Keys    *keys.Manager
	Clients LogoutClients

	// HTTPClient sends the requests; by default one that never follows
	// redirects (a 3xx is a failure: the token goes only where the
	// client registered).
	HTTPClient *http.Client
	// Timeout bounds each attempt.
	Timeout time.Duration
	// Attempts per app and session (the first included); Backoff is the
	// wait before the second, doubling after each failure.
	Attempts int
	Backoff  time.Duration
	// TokenTTL is the logout token's lifetime (exp - iat).
	TokenTTL time.Duration
	// Workers bound concurrent deliveries; QueueSize the deliveries
	// waiting. A full queue drops (and logs) the newest.
	Workers, QueueSize int

	Now    func() time.Time
	Logger *slog.Logger
}

// LogoutSender delivers logout tokens. SessionsEnded queues and returns at
// once; Run does the sending until its context ends; Drain waits for the
// queue to empty. It satisfies directory.SessionEnder and login-ui's.
type LogoutSender struct {
	cfg   LogoutConfig
	http  *http.Client
	log   *slog.Logger
	now   func() time.Time
	queue chan logoutJob

	mu      sync.Mutex
	pending int           // queued or being delivered
	idle    chan struct{} // closed while pending == 0
	stopped bool          // Run has returned: nothing more is accepted
}

type logoutJob struct {
	clientID, subject, sid string
}

// NewLogoutSender checks cfg and returns a sender; call Run to start it.
func NewLogoutSender(cfg LogoutConfig) (*LogoutSender, error) {
	if cfg.Keys == nil || cfg.Clients == nil {
		return nil, errors.New("op: LogoutConfig needs Keys and Clients")
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("op: LogoutConfig.Issuer %q is not an absolute URL", cfg.Issuer)
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	setDefault(&cfg.TokenTTL, DefaultLogoutTokenTTL)
	setDefault(&cfg.Timeout, DefaultLogoutTimeout)
	setDefault(&cfg.Backoff, DefaultLogoutBackoff)
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultLogoutAttempts
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultLogoutWorkers
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultLogoutQueueSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &LogoutSender{
		cfg:   cfg,
		http:  cfg.HTTPClient,
		log:   cfg.Logger,
		now:   func() time.Time { return cfg.Now().UTC() },
		queue: make(chan logoutJob, cfg.QueueSize),
		idle:  make(chan struct{}),
	}
	close(s.idle)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.http == nil {
		s.http = &http.Client{
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return s, nil
}

// SessionsEnded queues a logout token for every app of every session
// (each session's ClientIDs; the app that asked for the logout included,
// §2.3: the OP notifies every RP that took part in the session). It never
// blocks: delivery happens in Run.
func (s *LogoutSender) SessionsEnded(ctx context.Context, subject string, sessions []storage.Session) {
	for _, sess := range sessions {
		var seen []string
		for _, clientID := range sess.ClientIDs {
			if clientID == "" || slices.Contains(seen, clientID) {
				continue
			}
			seen = append(seen, clientID)
			s.enqueue(ctx, logoutJob{clientID: clientID, subject: firstNonEmpty(sess.Subject, subject), sid: sess.ID})
		}
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// enqueue adds j without blocking. The send happens under mu so that Run,
// once it has marked the sender stopped and emptied the queue, can leave
// nothing behind.
func (s *LogoutSender) enqueue(ctx context.Context, j logoutJob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		s.log.WarnContext(ctx, "back-channel logout not sent: shutting down", "client_id", j.clientID, "sub", j.subject)
		return
	}
	select {
	case s.queue <- j:
		if s.pending == 0 {
			s.idle = make(chan struct{})
		}
		s.pending++
	default:
		s.log.ErrorContext(ctx, "back-channel logout dropped: queue full", "client_id", j.clientID, "sub", j.subject, "queue_size", s.cfg.QueueSize)
	}
}

func (s *LogoutSender) finished() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	if s.pending == 0 {
		close(s.idle)
	}
}

// Run delivers queued logout tokens with Workers goroutines until ctx
// ends, then returns once they have stopped; call it once. Deliveries
// still queued then are dropped and counted in the log — call Drain first
// to give them a chance.
func (s *LogoutSender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-s.queue:
					s.deliver(ctx, j)
					s.finished()
				}
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	// The workers are gone and enqueue refuses from now on: whatever is
	// left can only be dropped.
	dropped := 0
	for len(s.queue) > 0 {
		<-s.queue
		dropped++
		s.finished()
	}
	if dropped > 0 {
		s.log.Warn("back-channel logout: undelivered at shutdown", "count", dropped)
	}
}

// Drain waits until nothing is queued or being delivered, or ctx ends.
func (s *LogoutSender) Drain(ctx context.Context) error {
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deliver makes up to Attempts attempts, waiting Backoff, 2×Backoff, …
// between them. A fresh token is signed for each, so a late retry is
// never sent an expired one.
func (s *LogoutSender) deliver(ctx context.Context, j logoutJob) {
	log := s.log.With("client_id", j.clientID, "sub", j.subject)
	wait := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := s.attempt(ctx, j)
		if errors.Is(err, errNoEndpoint) {
			return
		}
		if err == nil {
			log.DebugContext(ctx, "back-channel logout delivered", "attempt", attempt)
			return
		}
		if ctx.Err() != nil {
			log.WarnContext(ctx, "back-channel logout abandoned at shutdown", "attempt", attempt, "err", err)
			return
		}
		if !retry || attempt >= s.cfg.Attempts {
			log.ErrorContext(ctx, "back-channel logout failed", "attempts", attempt, "err", err)
			return
		}
		log.InfoContext(ctx, "back-channel logout failed; retrying", "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			log.WarnContext(ctx, "back-channel logout abandoned at shutdown", "attempt", attempt)
			return
		case <-t.C:
		}
		wait *= 2
	}
}

// errNoEndpoint: the app registered no back-channel logout URI, or no
// longer exists; there is nobody to tell.
var errNoEndpoint = errors.New("no backchannel_logout_uri")

// attempt sends one logout token. retry reports whether a failure may be
// transient. Errors never carry the token or the endpoint's query.
func (s *LogoutSender) attempt(ctx context.Context, j logoutJob) (retry bool, err error) {
	c, err := s.cfg.Clients.Client(ctx, j.clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, errNoEndpoint
	case err != nil:
		return true, fmt.Errorf("client lookup: %w", err)
	case c.BackchannelLogoutURI == "":
		return false, errNoEndpoint
	}
	token, err := s.LogoutToken(c, j.subject, j.sid)
	if err != nil {
		return true, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return false, errors.New("invalid backchannel_logout_uri")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.http.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // without the URL, whose query may hold a secret
		}
		return true, fmt.Errorf("POST to %s: %w", req.URL.Host, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300: // §2.8: 200, or 204 from some frameworks
		return false, nil
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return true, fmt.Errorf("POST to %s: status %d", req.URL.Host, code)
	default: // 400: the app refused this token (§2.8); 3xx: not followed
		return false, fmt.Errorf("POST to %s: status %d", req.URL.Host, code)
	}
}

// logoutTokenClaims is §2.4's claim set: never a nonce.
type logoutTokenClaims struct {
	Issuer    string              `json:"iss"`
	Subject   string              `json:"sub,omitempty"`
	Audience  string              `json:"aud"`
	IssuedAt  int64               `json:"iat"`
	Expiry    int64               `json:"exp"`
	JWTID     string              `json:"jti"`
	SessionID string              `json:"sid,omitempty"`
	Events    map[string]struct{} `json:"events"`
}

// LogoutToken signs a logout token for client c: typ logout+jwt, signed
// like the client's ID tokens (same key choice, §2.6 has the RP verify it
// the same way), aud the client, sub and sid the ended session's.
func (s *LogoutSender) LogoutToken(c *storage.Client, subject, sid string) (string, error) {
	if subject == "" && sid == "" {
		return "", errors.New("a logout token needs sub or sid")
	}
	kid, alg, key := s.cfg.Keys.Signer(c.IDTokenSignedResponseAlg)
	if key == nil {
		return "", keys.ErrNoSigningKey
	}
	jti, err := randomID(16)
	if err != nil {
		return "", err
	}
	now := s.now()
	return signJWT(kid, alg, key, typLogoutToken, logoutTokenClaims{
		Issuer:    s.cfg.Issuer,
		Subject:   subject,
		Audience:  c.ID,
		IssuedAt:  now.Unix(),
		Expiry:    now.Add(s.cfg.TokenTTL).Unix(),
		JWTID:     "lt_" + jti,
		SessionID: sid,
		Events:    map[string]struct{}{BackchannelLogoutEvent: {}},
	})
}

// validBackchannelLogoutURI checks a backchannel_logout_uri (§2.2): an
// absolute URL, https (plain http only to a loopback host, as for
// redirect URIs), a query allowed, no fragment. Only apps that sign
// employees in (authorization_code) have sessions to be told about.
func validBackchannelLogoutURI(raw string, hasCode bool) (string, error) {
	const field = "backchannel_logout_uri"
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	if !hasCode {
		return "", &FieldError{field, "only a client using authorization_code has sessions to log out"}
	}
	if _, err := validRedirects(field, []string{raw}); err != nil {
		return "", err
	}
	return raw, nil
}
