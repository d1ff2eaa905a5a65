// Package config is gongpai's one configuration: a YAML file, overridden
// by GONGPAI_* environment variables, decoded into real types (durations,
// URLs, keys) at load and validated with errors that name the field.
package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gongpai/gongpai/keys"
)

// Config is everything `gongpai serve` can be told. The yaml tag of each
// field is its key in the file; its environment variable is GONGPAI_ and
// the key path upper-cased and joined by "_" (tokens.access_token_ttl is
// GONGPAI_TOKENS_ACCESS_TOKEN_TTL).
type Config struct {
	// Issuer is the OIDC issuer URL, exactly as relying parties see it.
	Issuer *url.URL `yaml:"issuer"`
	// Listen is the host:port the HTTP server binds.
	Listen string `yaml:"listen"`
	// MetricsListen is the host:port of the separate listener serving
	// Prometheus metrics at /metrics; empty serves none. It is kept off
	// the public listener: metrics describe key ages and the process.
	MetricsListen string `yaml:"metrics_listen"`
	// DataDir holds the sqlite database (and, in dev mode, generated keys).
	DataDir string `yaml:"data_dir"`
	// DevMode relaxes what only a developer's machine may relax; the
	// server says so loudly.
	DevMode bool `yaml:"dev_mode"`

	Store     Store     `yaml:"store"`
	Ephemeral Ephemeral `yaml:"ephemeral"`

	// MasterKey seals signing keys and TOTP seeds at rest (base64 of 32
	// bytes in the file). MasterKeyFile names a file holding it instead,
	// as base64 text or 32 raw bytes; Load reads it into MasterKey.
	MasterKey     Key    `yaml:"master_key" redact:"true"`
	MasterKeyFile string `yaml:"master_key_file"`
	// CryptoKey encrypts authorization codes and opaque tokens in the OIDC
	// library (base64 of 32 bytes); CryptoKeyFile as for MasterKeyFile.
	CryptoKey     Key    `yaml:"crypto_key" redact:"true"`
	CryptoKeyFile string `yaml:"crypto_key_file"`
	// PreviousMasterKeys open (never seal) secrets beside MasterKey: the
	// new key before a master-key change, the old one after it, while
	// `gongpai keys rewrap` re-seals everything (docs/keys.md).
	PreviousMasterKeys KeyList `yaml:"previous_master_keys" redact:"true"`
	// PreviousCryptoKeys still decrypt codes and opaque access tokens made
	// under an earlier crypto key; keep one for the longest access-token
	// lifetime after a change.
	PreviousCryptoKeys KeyList `yaml:"previous_crypto_keys" redact:"true"`

	// Keys is the signing-key rotation policy.
	Keys Keys `yaml:"keys"`

	Tokens    Tokens    `yaml:"tokens"`
	Session   Session   `yaml:"session"`
	Password  Password  `yaml:"password"`
	TOTP      TOTP      `yaml:"totp"`
	RateLimit RateLimit `yaml:"rate_limit"`
	Log       Log       `yaml:"log"`

	// TrustProxyHeaders takes the client address from X-Forwarded-For;
	// only behind a proxy that sets it.
	TrustProxyHeaders bool `yaml:"trust_proxy_headers"`
}

// Keys is the signing-key policy (package keys, docs/keys.md).
type Keys struct {
	// Algorithms are kept rotating and published; the first signs unless
	// a client asked for another. RS256, ES256, EdDSA.
	Algorithms []string `yaml:"algorithms"`
	// RSABits is the size of generated RS256 keys: 2048 or 3072.
	RSABits int `yaml:"rsa_bits"`
	// RotationPeriod is how long a key signs before its successor.
	RotationPeriod time.Duration `yaml:"rotation_period"`
	// PrePublication is how long a next key is published before it signs;
	// at least twice JWKSMaxAge.
	PrePublication time.Duration `yaml:"pre_publication"`
	// Retention is how long a retired key stays published; at least the
	// longest token lifetime plus JWKSMaxAge.
	Retention time.Duration `yaml:"retention"`
	// JWKSMaxAge is the JWKS Cache-Control max-age.
	JWKSMaxAge time.Duration `yaml:"jwks_max_age"`
	// PollInterval is how often each server re-reads the key set.
	PollInterval time.Duration `yaml:"poll_interval"`
}

// Store picks the durable backend.
type Store struct {
	Driver string `yaml:"driver"` // sqlite | postgres
	// DSN is the sqlite file path or the postgres connection string. For
	// sqlite, empty means <data_dir>/gongpai.db (Load fills it in).
	DSN string `yaml:"dsn" redact:"dsn"`
	// MaxConns caps each replica's postgres connection pool; 0 keeps the
	// driver default (max(4, CPUs)). Replicas × max_conns must stay below
	// the server's max_connections.
	MaxConns int32 `yaml:"max_conns"`
}

// Ephemeral picks where sessions, auth requests and counters live.
type Ephemeral struct {
	Driver string `yaml:"driver"` // store (the durable store's database) | redis
	Redis  Redis  `yaml:"redis"`
}

// Redis configures go-redis's UniversalClient: one address for standalone,
// several for cluster, MasterName for sentinel.
type Redis struct {
	Addrs      []string `yaml:"addrs"`
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password" redact:"true"`
	DB         int      `yaml:"db"`
	MasterName string   `yaml:"master_name"`
}

// Tokens are the lifetimes of what the OpenID provider issues.
type Tokens struct {
	AccessTokenTTL  time.Duration `yaml:"access_token_ttl"`
	IDTokenTTL      time.Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL time.Duration `yaml:"refresh_token_ttl"`
	AuthRequestTTL  time.Duration `yaml:"auth_request_ttl"`
	CodeTTL         time.Duration `yaml:"code_ttl"`
}

// Session is the SSO session.
type Session struct {
	TTL time.Duration `yaml:"ttl"`
}

// Password holds the argon2id cost and how many hashes may run at once.
type Password struct {
	Time          uint32 `yaml:"time"`
	MemoryKiB     uint32 `yaml:"memory_kib"`
	Threads       uint8  `yaml:"threads"`
	MaxConcurrent int    `yaml:"max_concurrent"` // 0 = number of CPUs
}

// TOTP is the second factor.
type TOTP struct {
	Issuer   string `yaml:"issuer"`   // the name authenticator apps show
	Required bool   `yaml:"required"` // every employee must enrol
	Skew     uint   `yaml:"skew"`     // 30 s steps accepted either side of now
}

// RateLimit bounds failed sign-ins, and how many sign-ins (auth
// requests) one client IP may start per minute.
type RateLimit struct {
	PerEmployee        int           `yaml:"per_employee"`
	PerIP              int           `yaml:"per_ip"`
	Window             time.Duration `yaml:"window"`
	AuthorizePerMinute int           `yaml:"authorize_per_minute"`
}

// Log configures the server's slog handler.
type Log struct {
	Level  slog.Level `yaml:"level"`  // debug | info | warn | error
	Format string     `yaml:"format"` // text | json
}

// Key is a 32-byte secret, base64 in files and the environment. It never
// prints its value.
type Key []byte

// KeyList is several Keys: a YAML list, or comma-separated base64 in one
// value (the environment).
type KeyList []Key

// UnmarshalText decodes comma-separated base64 keys.
func (l *KeyList) UnmarshalText(b []byte) error {
	var out KeyList
	for i, part := range strings.Split(string(b), ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		var k Key
		if err := k.UnmarshalText([]byte(part)); err != nil {
			return fmt.Errorf("item %d %w", i, err)
		}
		out = append(out, k)
	}
	*l = out
	return nil
}

// KeySize is the length of every key in the configuration (AES-256).
const KeySize = 32

// UnmarshalText decodes standard or URL-safe base64, padded or not.
func (k *Key) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*k = nil
		return nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			*k = raw
			return nil
		}
	}
	return errors.New("is not valid base64")
}

func (k Key) String() string {
	if len(k) == 0 {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the bytes.
func (k Key) GoString() string { return `config.Key("` + k.String() + `")` }

// LogValue keeps slog from printing the bytes.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Default is the configuration with nothing set: a single machine serving
// http://localhost:8080 from ./data.
func Default() *Config {
	return &Config{
		Issuer:  &url.URL{Scheme: "http", Host: "localhost:8080"},
		Listen:  "127.0.0.1:8080",
		DataDir: "./data",
		Store:   Store{Driver: "sqlite"},
		Ephemeral: Ephemeral{
			Driver: "store",
		},
		Tokens: Tokens{
			AccessTokenTTL:  15 * time.Minute,
			IDTokenTTL:      time.Hour,
			RefreshTokenTTL: 720 * time.Hour,
			AuthRequestTTL:  10 * time.Minute,
			CodeTTL:         time.Minute,
		},
		Session:   Session{TTL: 10 * time.Hour},
		Password:  Password{Time: 2, MemoryKiB: 19456, Threads: 1},
		TOTP:      TOTP{Issuer: "gongpai", Required: true, Skew: 1},
		RateLimit: RateLimit{PerEmployee: 5, PerIP: 50, Window: 15 * time.Minute, AuthorizePerMinute: 300},
		Log:       Log{Level: slog.LevelInfo, Format: "text"},
		Keys: Keys{
			Algorithms:     []string{keys.RS256},
			RSABits:        keys.DefaultRSABits,
			RotationPeriod: keys.DefaultRotationPeriod,
			PrePublication: keys.DefaultPrePublication,
			Retention:      keys.DefaultRetention,
			JWKSMaxAge:     keys.DefaultJWKSMaxAge,
			PollInterval:   keys.DefaultPollInterval,
		},
	}
}

// KeyPolicy is the keys section as the key manager's policy.
func (c *Config) KeyPolicy() keys.Policy {
	return keys.Policy{
		Algorithms:     c.Keys.Algorithms,
		RSABits:        c.Keys.RSABits,
		RotationPeriod: c.Keys.RotationPeriod,
		PrePublication: c.Keys.PrePublication,
		Retention:      c.Keys.Retention,
		JWKSMaxAge:     c.Keys.JWKSMaxAge,
		PollInterval:   c.Keys.PollInterval,
	}
}

// FieldError is one problem with one setting. Field is the YAML path
// (tokens.access_token_ttl) or, for an unknown environment variable, its
// name.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// InvalidField reports the field and the problem; errcode maps any error
// with this method to E-201.
func (e *FieldError) InvalidField() (field, message string) { return e.Field, e.Message }

// Bounds that Validate enforces and messages quote.
const (
	maxCodeTTL      = 10 * time.Minute
	minArgonMemory  = 8192    // KiB; below this argon2id stops being memory-hard in any useful sense
	maxArgonMemory  = 1 << 20 // KiB (1 GiB); the directory refuses to verify hashes above it
	maxArgonTime    = 64      // likewise
	maxArgonThreads = 16
	maxTOTPSkew     = 3
)

// Validate reports every problem at once, each a *FieldError naming the
// setting, joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	switch u := c.Issuer; {
	case u == nil || u.String() == "":
		bad("issuer", "is required")
	case !u.IsAbs() || u.Host == "" || u.Opaque != "":
		bad("issuer", "%q must be an absolute URL such as https://id.example.com", u)
	case u.Scheme != "https" && u.Scheme != "http":
		bad("issuer", "%q must use https", u)
	case u.User != nil:
		bad("issuer", "must not contain user information")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		bad("issuer", "%q must not have a query or fragment", u)
	case strings.HasSuffix(u.Path, "/"):
		bad("issuer", "%q must not end with /", u)
	case u.Scheme == "http" && !c.IssuerIsLoopback():
		bad("issuer", "%q must use https; http is allowed only for a loopback host (localhost, 127.0.0.1, ::1)", u)
	}

	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q must be host:port, such as 127.0.0.1:8080 or :8080", c.Listen)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("listen", "%q has an invalid port %q", c.Listen, port)
	}
	if c.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("metrics_listen", "%q must be host:port, such as 127.0.0.1:9464", c.MetricsListen)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("metrics_listen", "%q has an invalid port %q", c.MetricsListen, port)
		} else if c.MetricsListen == c.Listen {
			bad("metrics_listen", "must differ from listen: metrics stay off the public listener")
		}
	}
	if c.DataDir == "" {
		bad("data_dir", "is required")
	}

	switch c.Store.Driver {
	case "sqlite":
	case "postgres":
		if c.Store.DSN == "" {
			bad("store.dsn", "is required for the postgres driver")
		}
		if c.Store.MaxConns < 0 || c.Store.MaxConns > 1000 {
			bad("store.max_conns", "must be between 0 (driver default) and 1000 (got %d)", c.Store.MaxConns)
		}
		// Replicas share one database, so they must share the keys too:
		// a generated per-machine key would not open the others' secrets.
		if len(c.MasterKey) == 0 {
			bad("master_key", "is required with the postgres driver (every replica needs the same key)")
		}
		if len(c.CryptoKey) == 0 {
			bad("crypto_key", "is required with the postgres driver (every replica needs the same key)")
		}
	default:
		bad("store.driver", "%q must be sqlite or postgres", c.Store.Driver)
	}
	switch c.Ephemeral.Driver {
	case "store":
	case "redis":
		if len(c.Ephemeral.Redis.Addrs) == 0 {
			bad("ephemeral.redis.addrs", "is required for the redis driver")
		}
		for i, a := range c.Ephemeral.Redis.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				bad(fmt.Sprintf("ephemeral.redis.addrs[%d]", i), "%q must be host:port", a)
			}
		}
		if c.Ephemeral.Redis.DB < 0 {
			bad("ephemeral.redis.db", "must not be negative")
		}
	default:
		bad("ephemeral.driver", "%q must be store or redis", c.Ephemeral.Driver)
	}

	for _, k := range []struct {
		field, fileField string
		key              Key
		file             string
	}{
		{"master_key", "master_key_file", c.MasterKey, c.MasterKeyFile},
		{"crypto_key", "crypto_key_file", c.CryptoKey, c.CryptoKeyFile},
	} {
		if len(k.key) != 0 && len(k.key) != KeySize {
			field := k.field
			if k.file != "" {
				field = k.fileField
			}
			bad(field, "must be %d bytes, got %d", KeySize, len(k.key))
		}
	}
	if len(c.MasterKey) != 0 && bytes.Equal(c.MasterKey, c.CryptoKey) {
		bad("crypto_key", "must differ from master_key")
	}
	for _, l := range []struct {
		field, current string
		keys           KeyList
		key            Key
	}{
		{"previous_master_keys", "master_key", c.PreviousMasterKeys, c.MasterKey},
		{"previous_crypto_keys", "crypto_key", c.PreviousCryptoKeys, c.CryptoKey},
	} {
		for i, k := range l.keys {
			field := fmt.Sprintf("%s[%d]", l.field, i)
			switch {
			case len(k) != KeySize:
				bad(field, "must be %d bytes, got %d", KeySize, len(k))
			case bytes.Equal(k, l.key):
				bad(field, "is the same as %s; list only the other keys that must still open", l.current)
			}
		}
		if len(l.keys) > 0 && len(l.key) == 0 {
			bad(l.field, "needs %s set explicitly: a previous key only makes sense beside the current one", l.current)
		}
	}
	// The key policy's own rules, named by their setting. Signed tokens
	// are ID tokens and JWT access tokens; refresh tokens are not signed.
	if err := c.KeyPolicy().Validate(max(c.Tokens.IDTokenTTL, c.Tokens.AccessTokenTTL)); err != nil {
		var pe *keys.PolicyError
		for _, e := range unjoin(err) {
			if errors.As(e, &pe) {
				bad("keys."+pe.Field, "%s", pe.Message)
			}
		}
	}

	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"tokens.access_token_ttl", c.Tokens.AccessTokenTTL},
		{"tokens.id_token_ttl", c.Tokens.IDTokenTTL},
		{"tokens.refresh_token_ttl", c.Tokens.RefreshTokenTTL},
		{"tokens.auth_request_ttl", c.Tokens.AuthRequestTTL},
		{"tokens.code_ttl", c.Tokens.CodeTTL},
		{"session.ttl", c.Session.TTL},
		{"rate_limit.window", c.RateLimit.Window},
	} {
		if d.v <= 0 {
			bad(d.field, "must be positive, got %s", d.v)
		}
	}
	if c.Tokens.CodeTTL > maxCodeTTL {
		bad("tokens.code_ttl", "must be at most %s (RFC 6749 §4.1.2), got %s", maxCodeTTL, c.Tokens.CodeTTL)
	}

	if p := c.Password; p.Time < 1 || p.Time > maxArgonTime {
		bad("password.time", "must be 1–%d, got %d", maxArgonTime, p.Time)
	}
	if p := c.Password; p.MemoryKiB < minArgonMemory || p.MemoryKiB > maxArgonMemory {
		bad("password.memory_kib", "must be %d–%d, got %d", minArgonMemory, maxArgonMemory, p.MemoryKiB)
	}
	if p := c.Password; p.Threads < 1 || p.Threads > maxArgonThreads {
		bad("password.threads", "must be 1–%d, got %d", maxArgonThreads, p.Threads)
	}
	if c.Password.MaxConcurrent < 0 {
		bad("password.max_concurrent", "must not be negative (0 means the number of CPUs)")
	}

	if c.TOTP.Issuer == "" {
		bad("totp.issuer", "is required")
	} else if strings.Contains(c.TOTP.Issuer, ":") {
		// The otpauth label is "issuer:account"; a colon in the issuer
		// makes authenticator apps split it wrongly.
		bad("totp.issuer", "%q must not contain ':'", c.TOTP.Issuer)
	}
	if c.TOTP.Skew > maxTOTPSkew {
		bad("totp.skew", "must be 0–%d, got %d", maxTOTPSkew, c.TOTP.Skew)
	}

	if c.RateLimit.PerEmployee < 1 {
		bad("rate_limit.per_employee", "must be at least 1, got %d", c.RateLimit.PerEmployee)
	}
	if c.RateLimit.PerIP < 1 {
		bad("rate_limit.per_ip", "must be at least 1, got %d", c.RateLimit.PerIP)
	}
	if c.RateLimit.AuthorizePerMinute < 1 {
		bad("rate_limit.authorize_per_minute", "must be at least 1, got %d", c.RateLimit.AuthorizePerMinute)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q must be text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// IssuerIsLoopback reports whether the issuer's host is this machine
// (localhost, 127.0.0.0/8, ::1): the one case where http is allowed and
// cookies may not be Secure.
func (c *Config) IssuerIsLoopback() bool {
	if c.Issuer == nil {
		return false
	}
	h := c.Issuer.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// resolve fills in what is derived from other settings.
func (c *Config) resolve() {
	if c.Store.Driver == "sqlite" && c.Store.DSN == "" && c.DataDir != "" {
		c.Store.DSN = filepath.Join(c.DataDir, "gongpai.db")
	}
}
