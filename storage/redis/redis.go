package redis

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gongpai/gongpai/storage"
)

// Options configures a Store. The connection fields mean what they mean in
// goredis.UniversalOptions: MasterName selects sentinel, more than one
// address (or Cluster) selects cluster, otherwise one standalone server.
type Options struct {
	Addrs      []string
	Username   string
	Password   string
	DB         int
	MasterName string
	// Cluster forces cluster mode with a single seed address.
	Cluster   bool
	TLSConfig *tls.Config

	// KeyPrefix starts every key; "" means "gongpai:". Two installs can
	// share one Redis with different prefixes.
	KeyPrefix string

	// Timeouts for one connection attempt and one command's read or write;
	// zero means the defaults below, chosen so that a dead Redis fails a
	// request in a few seconds instead of hanging it.
	DialTimeout  time.Duration // default 2s
	ReadTimeout  time.Duration // default 1s
	WriteTimeout time.Duration // default 1s
	PoolSize     int           // 0 means go-redis's default (10 per CPU)

	// Now is the clock that judges expiry. nil means time.Now.
	Now func() time.Time
	// Logger receives start-up information and failures of best-effort
	// index clean-up; nil discards it.
	Logger *slog.Logger
}

const (
	defaultPrefix       = "gongpai:"
	defaultDialTimeout  = 2 * time.Second
	defaultReadTimeout  = time.Second
	defaultWriteTimeout = time.Second
)

// mode names the topology NewUniversalClient will pick for o.
func (o Options) mode() string {
	switch {
	case o.MasterName != "":
		return "sentinel"
	case len(o.Addrs) > 1 || o.Cluster:
		return "cluster"
	}
	return "standalone"
}

// LogValue describes o without its password, so Options can be logged.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", o.mode()),
		slog.Any("addrs", o.Addrs),
		slog.String("username", o.Username),
		slog.Bool("password_set", o.Password != ""),
		slog.Int("db", o.DB),
		slog.String("master_name", o.MasterName),
		slog.Bool("tls", o.TLSConfig != nil),
		slog.String("key_prefix", o.KeyPrefix),
	)
}

// String describes o without its password, so that printing Options by
// mistake (%v, %+v) cannot leak it.
func (o Options) String() string {
	return fmt.Sprintf("redis.Options{mode: %s, addrs: %v, username: %q, password set: %t, db: %d, master: %q, tls: %t, prefix: %q}",
		o.mode(), o.Addrs, o.Username, o.Password != "", o.DB, o.MasterName, o.TLSConfig != nil, o.KeyPrefix)
}

// GoString is String, for %#v.
func (o Options) GoString() string { return o.String() }

// Store is the Redis ephemeral backend. It is safe for concurrent use.
type Store struct {
	c   goredis.UniversalClient
	k   keys
	now func() time.Time
	log *slog.Logger
}

var _ storage.Ephemeral = (*Store)(nil)

// Open builds the client for o and pings it. A Redis that cannot be
// reached is an error wrapping storage.ErrUnavailable.
func Open(ctx context.Context, o Options) (*Store, error) {
	if len(o.Addrs) == 0 {
		return nil, errors.New("redis: open: no address (Options.Addrs is empty)")
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = defaultPrefix
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:         o.Addrs,
		Username:      o.Username,
		Password:      o.Password,
		DB:            o.DB,
		MasterName:    o.MasterName,
		IsClusterMode: o.Cluster,
		TLSConfig:     o.TLSConfig,
		PoolSize:      o.PoolSize,
		DialTimeout:   orDefault(o.DialTimeout, defaultDialTimeout),
		ReadTimeout:   orDefault(o.ReadTimeout, defaultReadTimeout),
		WriteTimeout:  orDefault(o.WriteTimeout, defaultWriteTimeout),
		// A request's deadline, when shorter, bounds the command too.
		ContextTimeoutEnabled: true,
		// One retry absorbs a pooled connection that died with a Redis
		// restart; more would only stretch the wait when Redis is down.
		// Retried scripts are safe: a repeated take or TOTP step fails
		// closed, a repeated hit counts once more.
		MaxRetries:    1,
		DialerRetries: 1,
		// CLIENT SETINFO is unknown before Redis 7.2; skip the noise.
		DisableIdentity: true,
	})
	s := &Store{c: c, k: keys{p: o.KeyPrefix}, now: now, log: log}
	if err := s.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: open: %w", err)
	}
	log.InfoContext(ctx, "redis ephemeral store ready", "redis", o)
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return wrap(ctx, "ping", err)
	}
	return wrap(ctx, "ping", s.c.Ping(ctx).Err())
}

// Close closes the client's connections.
func (s *Store) Close() error { return s.c.Close() }

// wrap turns a client error into the storage sentinels: a cancelled or
// expired context wins, redis.Nil is ErrNotFound, a transport failure or a
// Redis that is loading, failing over or read-only is ErrUnavailable. op
// names the method; keys are left out on purpose (some hold bearer
// secrets).
func wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("redis: %s: %w", op, cerr)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("redis: %s: %w", op, err)
	case errors.Is(err, goredis.Nil):
		return fmt.Errorf("redis: %s: %w", op, storage.ErrNotFound)
	case unavailable(err):
		return fmt.Errorf("redis: %s: %w (%v)", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// unavailable reports whether err means Redis could not serve the command
// right now, as opposed to refusing it (a wrong type, a script bug, bad
// credentials). Everything that is not a reply from Redis — refused or
// reset connections, timeouts, an exhausted pool — is unavailability.
func unavailable(err error) bool {
	if !isReply(err) {
		return true
	}
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS", "BUSY"} {
		if goredis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return strings.Contains(err.Error(), "max number of clients")
}

// keys builds every key name; doc.go has the layout.
type keys struct{ p string }

func (k keys) authRequest(id string) string   { return k.p + "ar:" + id }
func (k keys) code(codeHash string) string    { return k.p + "code:" + codeHash }
func (k keys) session(id string) string       { return k.p + "sess:" + id }
func (k keys) sessionsOf(sub string) string   { return k.p + "{sub:" + sub + "}:sess" }
func (k keys) token(idHash string) string     { return k.p + "at:" + idHash }
func (k keys) tokensOf(sub string) string     { return k.p + "{sub:" + sub + "}:at" }
func (k keys) tokensOfFamily(f string) string { return k.p + "{fam:" + f + "}:at" }
func (k keys) hits(key string) string         { return k.p + "hit:" + key }
func (k keys) totp(sub string) string         { return k.p + "{sub:" + sub + "}:totp" }

// secretHash is how a bearer secret (an auth code, an opaque access-token
// ID) appears in Redis.
func secretHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// micros is the representation of instants inside Redis: unix
// microseconds, exact in a Lua number (a double) for millennia.
func micros(t time.Time) int64 { return t.UnixMicro() }

// utc is the stored form of a time: UTC, truncated to the microsecond.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// ttlMillis is the real Redis TTL for a record with left to live by the
// store clock: rounded up to a millisecond, and at least one second so
// that a record created already expired still vanishes.
func ttlMillis(left time.Duration) int64 {
	ms := (left + time.Millisecond - 1).Milliseconds()
	return max(ms, time.Second.Milliseconds())
}

// expired reports whether a stored "exp" field is at or before now, or
// missing or malformed.
func expired(exp string, now time.Time) bool {
	n, err := strconv.ParseInt(exp, 10, 64)
	return err != nil || n <= micros(now)
}

// RouteLibraryLogs sends go-redis's own messages (one per failed dial
// while Redis is down) to log at debug level instead of stderr: every
// request that fails already reports ErrUnavailable where it is handled.
// go-redis keeps its logger in a global, so this is for main only.
func RouteLibraryLogs(log *slog.Logger) { goredis.SetLogger(libraryLogger{log}) }

type libraryLogger struct{ log *slog.Logger }

func (l libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
