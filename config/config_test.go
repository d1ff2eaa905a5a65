package config_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/config"
)

// problems lists "field: message" of every FieldError in err, in order.
func problems(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *config.FieldError
		if errors.As(err, &fe) {
			out = append(out, fe.Error())
		} else if err != nil {
			out = append(out, "not a FieldError: "+err.Error())
		}
	}
	walk(err)
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	key1 = bytes.Repeat([]byte{0x11}, 32)
	key2 = bytes.Repeat([]byte{0x22}, 32)
	b64  = base64.StdEncoding.EncodeToString
)

func TestDefaultIsValid(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	c, err := config.Load("", nil)
	if err != nil {
		t.Fatalf("Load with nothing = %v", err)
	}
	d := config.Default()
	switch {
	case c.Issuer.String() != "http://localhost:8080":
		t.Errorf("issuer = %s", c.Issuer)
	case c.Listen != "127.0.0.1:8080" || c.DataDir != "./data" || c.DevMode:
		t.Errorf("listen %q data_dir %q dev_mode %v", c.Listen, c.DataDir, c.DevMode)
	case c.Store.Driver != "sqlite" || c.Store.DSN != filepath.Join("data", "gongpai.db"):
		t.Errorf("store = %+v, want sqlite at data/gongpai.db", c.Store)
	case c.Ephemeral.Driver != "store":
		t.Errorf("ephemeral = %+v", c.Ephemeral)
	case c.Tokens != d.Tokens || c.Tokens.AccessTokenTTL != 15*time.Minute || c.Tokens.IDTokenTTL != time.Hour ||
		c.Tokens.RefreshTokenTTL != 720*time.Hour || c.Tokens.AuthRequestTTL != 10*time.Minute || c.Tokens.CodeTTL != time.Minute:
		t.Errorf("tokens = %+v", c.Tokens)
	case c.Session.TTL != 10*time.Hour:
		t.Errorf("session = %+v", c.Session)
	case c.Password != config.Password{Time: 2, MemoryKiB: 19456, Threads: 1}:
		t.Errorf("password = %+v", c.Password)
	case c.TOTP != config.TOTP{Issuer: "gongpai", Required: true, Skew: 1}:
		t.Errorf("totp = %+v", c.TOTP)
	case c.RateLimit != config.RateLimit{PerEmployee: 5, PerIP: 50, Window: 15 * time.Minute, AuthorizePerMinute: 300}:
		t.Errorf("rate_limit = %+v", c.RateLimit)
	case c.Log != config.Log{Level: slog.LevelInfo, Format: "text"}:
		t.Errorf("log = %+v", c.Log)
	case !c.IssuerIsLoopback():
		t.Error("default issuer is not loopback")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(c *config.Config)
		want []string // nil = valid
	}{
		{"https issuer", func(c *config.Config) { c.Issuer = mustURL(t, "https://id.example.com") }, nil},
		{"https issuer with path", func(c *config.Config) { c.Issuer = mustURL(t, "https://example.com/sso") }, nil},
		{"http on 127.0.0.2", func(c *config.Config) { c.Issuer = mustURL(t, "http://127.0.0.2:9000") }, nil},
		{"http on ::1", func(c *config.Config) { c.Issuer = mustURL(t, "http://[::1]:9000") }, nil},
		{"no issuer", func(c *config.Config) { c.Issuer = nil }, []string{"issuer: is required"}},
		{"relative issuer", func(c *config.Config) { c.Issuer = mustURL(t, "/sso") }, []string{`issuer: "/sso" must be an absolute URL such as https://id.example.com`}},
		{"ftp issuer", func(c *config.Config) { c.Issuer = mustURL(t, "ftp://id.example.com") }, []string{`issuer: "ftp://id.example.com" must use https`}},
		{"http issuer", func(c *config.Config) { c.Issuer = mustURL(t, "http://id.example.com") }, []string{
			`issuer: "http://id.example.com" must use https; http is allowed only for a loopback host (localhost, 127.0.0.1, ::1)`,
		}},
		{"http on a lookalike host", func(c *config.Config) { c.Issuer = mustURL(t, "http://localhost.example.com") }, []string{
			`issuer: "http://localhost.example.com" must use https; http is allowed only for a loopback host (localhost, 127.0.0.1, ::1)`,
		}},
		{"issuer with query", func(c *config.Config) { c.Issuer = mustURL(t, "https://id.example.com?x=1") }, []string{`issuer: "https://id.example.com?x=1" must not have a query or fragment`}},
		{"issuer with fragment", func(c *config.Config) { c.Issuer = mustURL(t, "https://id.example.com#x") }, []string{`issuer: "https://id.example.com#x" must not have a query or fragment`}},
		{"issuer with user", func(c *config.Config) { c.Issuer = mustURL(t, "https://u:p@id.example.com") }, []string{"issuer: must not contain user information"}},
		{"issuer with trailing slash", func(c *config.Config) { c.Issuer = mustURL(t, "https://id.example.com/") }, []string{`issuer: "https://id.example.com/" must not end with /`}},
		{"listen without port", func(c *config.Config) { c.Listen = "localhost" }, []string{`listen: "localhost" must be host:port, such as 127.0.0.1:8080 or :8080`}},
		{"listen bad port", func(c *config.Config) { c.Listen = ":http2" }, []string{`listen: ":http2" has an invalid port "http2"`}},
		{"listen port too big", func(c *config.Config) { c.Listen = ":70000" }, []string{`listen: ":70000" has an invalid port "70000"`}},
		{"metrics_listen without port", func(c *config.Config) { c.MetricsListen = "localhost" }, []string{`metrics_listen: "localhost" must be host:port, such as 127.0.0.1:9464`}},
		{"metrics_listen on the public listener", func(c *config.Config) { c.MetricsListen = c.Listen }, []string{`metrics_listen: must differ from listen: metrics stay off the public listener`}},
		{"listen any host", func(c *config.Config) { c.Listen = ":8080" }, nil},
		{"no data dir", func(c *config.Config) { c.DataDir = "" }, []string{"data_dir: is required"}},
		{"bad store driver", func(c *config.Config) { c.Store.Driver = "mysql" }, []string{`store.driver: "mysql" must be sqlite or postgres`}},
		{"postgres without dsn or keys", func(c *config.Config) { c.Store.Driver = "postgres" }, []string{
			"store.dsn: is required for the postgres driver",
			"master_key: is required with the postgres driver (every replica needs the same key)",
			"crypto_key: is required with the postgres driver (every replica needs the same key)",
		}},
		{"postgres complete", func(c *config.Config) {
			c.Store = config.Store{Driver: "postgres", DSN: "postgres://gongpai@db/gongpai"}
			c.MasterKey, c.CryptoKey = key1, key2
		}, nil},
		{"bad ephemeral driver", func(c *config.Config) { c.Ephemeral.Driver = "memcached" }, []string{`ephemeral.driver: "memcached" must be store or redis`}},
		{"redis without addrs", func(c *config.Config) { c.Ephemeral.Driver = "redis" }, []string{"ephemeral.redis.addrs: is required for the redis driver"}},
		{"redis bad addr, negative db", func(c *config.Config) {
			c.Ephemeral = config.Ephemeral{Driver: "redis", Redis: config.Redis{Addrs: []string{"r1:6379", "r2"}, DB: -1}}
		}, []string{`ephemeral.redis.addrs[1]: "r2" must be host:port`, "ephemeral.redis.db: must not be negative"}},
		{"short master key", func(c *config.Config) { c.MasterKey = key1[:16] }, []string{"master_key: must be 32 bytes, got 16"}},
		{"long crypto key", func(c *config.Config) { c.CryptoKey = append(key2, 0) }, []string{"crypto_key: must be 32 bytes, got 33"}},
		{"key from a file", func(c *config.Config) { c.MasterKey, c.MasterKeyFile = key1[:3], "/k" }, []string{"master_key_file: must be 32 bytes, got 3"}},
		{"same key twice", func(c *config.Config) { c.MasterKey, c.CryptoKey = key1, key1 }, []string{"crypto_key: must differ from master_key"}},
		{"zero TTLs", func(c *config.Config) {
			c.Tokens = config.Tokens{}
			c.Session.TTL = -time.Second
			c.RateLimit.Window = 0
		}, []string{
			"tokens.access_token_ttl: must be positive, got 0s",
			"tokens.id_token_ttl: must be positive, got 0s",
			"tokens.refresh_token_ttl: must be positive, got 0s",
			"tokens.auth_request_ttl: must be positive, got 0s",
			"tokens.code_ttl: must be positive, got 0s",
			"session.ttl: must be positive, got -1s",
			"rate_limit.window: must be positive, got 0s",
		}},
		{"code ttl 10m", func(c *config.Config) { c.Tokens.CodeTTL = 10 * time.Minute }, nil},
		{"code ttl 11m", func(c *config.Config) { c.Tokens.CodeTTL = 11 * time.Minute }, []string{"tokens.code_ttl: must be at most 10m0s (RFC 6749 §4.1.2), got 11m0s"}},
		{"argon2 too weak", func(c *config.Config) {
			c.Password = config.Password{Time: 0, MemoryKiB: 4096, Threads: 0, MaxConcurrent: -1}
		}, []string{
			"password.time: must be 1–64, got 0",
			"password.memory_kib: must be 8192–1048576, got 4096",
			"password.threads: must be 1–16, got 0",
			"password.max_concurrent: must not be negative (0 means the number of CPUs)",
		}},
		{"argon2 too strong", func(c *config.Config) { c.Password = config.Password{Time: 65, MemoryKiB: 1<<20 + 1, Threads: 17} }, []string{
			"password.time: must be 1–64, got 65",
			"password.memory_kib: must be 8192–1048576, got 1048577",
			"password.threads: must be 1–16, got 17",
		}},
		{"argon2 bounds", func(c *config.Config) {
			c.Password = config.Password{Time: 1, MemoryKiB: 8192, Threads: 16, MaxConcurrent: 4}
		}, nil},
		{"totp", func(c *config.Config) { c.TOTP = config.TOTP{Issuer: "", Skew: 4} }, []string{"totp.issuer: is required", "totp.skew: must be 0–3, got 4"}},
		{"totp issuer colon", func(c *config.Config) { c.TOTP.Issuer = "ACME:SSO" }, []string{`totp.issuer: "ACME:SSO" must not contain ':'`}},
		{"totp skew 0", func(c *config.Config) { c.TOTP.Skew = 0 }, nil},
		{"rate limits", func(c *config.Config) { c.RateLimit.PerEmployee, c.RateLimit.PerIP = 0, -1 }, []string{
			"rate_limit.per_employee: must be at least 1, got 0",
			"rate_limit.per_ip: must be at least 1, got -1",
		}},
		{"log format", func(c *config.Config) { c.Log.Format = "xml" }, []string{`log.format: "xml" must be text or json`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.mod(c)
			if got := problems(c.Validate()); !slices.Equal(got, tt.want) {
				t.Errorf("Validate()\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLoadYAML(t *testing.T) {
	path := writeFile(t, "gongpai.yaml", `
issuer: https://id.example.com/sso
listen: ":9443"
data_dir: /var/lib/gongpai
dev_mode: false
store:
  driver: postgres
  dsn: postgres://gongpai:s3cret@db:5432/gongpai?sslmode=verify-full
ephemeral:
  driver: redis
  redis:
    addrs: [r1:6379, r2:6379]
    username: gongpai
    password: redis-pass
    db: 2
    master_name: mymaster
master_key: `+b64(key1)+`
crypto_key: `+base64.RawURLEncoding.EncodeToString(key2)+`
tokens:
  access_token_ttl: 5m
  id_token_ttl: 30m
  refresh_token_ttl: 168h
  auth_request_ttl: 15m
  code_ttl: 30s
session: {ttl: 8h}
password: {time: 3, memory_kib: 65536, threads: 4, max_concurrent: 8}
totp: {issuer: ACME SSO, required: false, skew: 0}
rate_limit: {per_employee: 3, per_ip: 100, window: 1h, authorize_per_minute: 1000}
log: {level: debug, format: json}
trust_proxy_headers: true
`)
	c, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	want := config.Config{
		Listen:    ":9443",
		DataDir:   "/var/lib/gongpai",
		Store:     config.Store{Driver: "postgres", DSN: "postgres://gongpai:s3cret@db:5432/gongpai?sslmode=verify-full"},
		Ephemeral: config.Ephemeral{Driver: "redis", Redis: config.Redis{Addrs: []string{"r1:6379", "r2:6379"}, Username: "gongpai", Password: "redis-pass", DB: 2, MasterName: "mymaster"}},
		Tokens:    config.Tokens{AccessTokenTTL: 5 * time.Minute, IDTokenTTL: 30 * time.Minute, RefreshTokenTTL: 168 * time.Hour, AuthRequestTTL: 15 * time.Minute, CodeTTL: 30 * time.Second},
		Session:   config.Session{TTL: 8 * time.Hour},
		Password:  config.Password{Time: 3, MemoryKiB: 65536, Threads: 4, MaxConcurrent: 8},
		TOTP:      config.TOTP{Issuer: "ACME SSO", Required: false, Skew: 0},
		RateLimit: config.RateLimit{PerEmployee: 3, PerIP: 100, Window: time.Hour, AuthorizePerMinute: 1000},
		Log:       config.Log{Level: slog.LevelDebug, Format: "json"},

		TrustProxyHeaders: true,
	}
	switch {
	case c.Issuer.String() != "https://id.example.com/sso" || c.IssuerIsLoopback():
		t.Errorf("issuer = %s", c.Issuer)
	case !bytes.Equal(c.MasterKey, key1) || !bytes.Equal(c.CryptoKey, key2):
		t.Error("keys not decoded")
	case c.Listen != want.Listen || c.DataDir != want.DataDir || c.DevMode || !c.TrustProxyHeaders:
		t.Errorf("top level = %+v", c)
	case c.Store != want.Store:
		t.Errorf("store = %+v", c.Store)
	case c.Ephemeral.Driver != want.Ephemeral.Driver || !slices.Equal(c.Ephemeral.Redis.Addrs, want.Ephemeral.Redis.Addrs) ||
		c.Ephemeral.Redis.Username != "gongpai" || c.Ephemeral.Redis.Password != "redis-pass" || c.Ephemeral.Redis.DB != 2 || c.Ephemeral.Redis.MasterName != "mymaster":
		t.Errorf("ephemeral = %+v", c.Ephemeral)
	case c.Tokens != want.Tokens || c.Session != want.Session || c.Password != want.Password ||
		c.TOTP != want.TOTP || c.RateLimit != want.RateLimit || c.Log != want.Log:
		t.Errorf("got  %+v\nwant %+v", c, &want)
	}
}

// Keys left out of the file keep their defaults; "key:" with no value
// does too.
func TestLoadYAMLPartial(t *testing.T) {
	path := writeFile(t, "gongpai.yaml", "tokens:\n  code_ttl: 2m\nsession:\nlisten:\ndata_dir: /srv/g\n")
	c, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens.CodeTTL != 2*time.Minute || c.Tokens.AccessTokenTTL != 15*time.Minute || c.Session.TTL != 10*time.Hour || c.Listen != "127.0.0.1:8080" {
		t.Errorf("partial load = %+v", c)
	}
	if c.Store.DSN != filepath.Join("/srv/g", "gongpai.db") {
		t.Errorf("sqlite dsn = %q, want it under data_dir", c.Store.DSN)
	}
	// An empty file is all defaults.
	if _, err := config.Load(writeFile(t, "empty.yaml", "# nothing\n"), nil); err != nil {
		t.Errorf("empty file = %v", err)
	}
}

func TestLoadYAMLErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key", "issuer: https://id.example.com\nlisten_addr: :80\n", []string{
			"listen_addr: unknown key (line 2); known keys here: issuer, listen, metrics_listen, data_dir, dev_mode, store, ephemeral, master_key, master_key_file, crypto_key, crypto_key_file, previous_master_keys, previous_crypto_keys, keys, tokens, session, password, totp, rate_limit, log, trust_proxy_headers",
		}},
		{"unknown nested key", "store:\n  dirver: postgres\ntokens:\n  access_ttl: 5m\n", []string{
			"store.dirver: unknown key (line 2); known keys here: driver, dsn, max_conns",
			"tokens.access_ttl: unknown key (line 4); known keys here: access_token_ttl, id_token_ttl, refresh_token_ttl, auth_request_ttl, code_ttl",
		}},
		{"bad values", "tokens:\n  access_token_ttl: 900\n  code_ttl: soon\ndev_mode: maybe\npassword:\n  threads: 300\n  time: -1\nlog:\n  level: verbose\nissuer: \"http://a b\"\n", []string{
			`tokens.access_token_ttl: "900" is not a duration such as 90s, 15m or 1h (line 2)`,
			`tokens.code_ttl: "soon" is not a duration such as 90s, 15m or 1h (line 3)`,
			`dev_mode: "maybe" is not true or false (line 4)`,
			`password.threads: "300" is not a whole number from 0 to 255 (line 6)`,
			`password.time: "-1" is not a whole number from 0 to 4294967295 (line 7)`,
			`log.level: "verbose" is not a level: debug, info, warn or error (line 9)`,
			`issuer: "http://a b" is not a URL (line 10)`,
		}},
		{"bad key", "master_key: not-base64!\n", []string{"master_key: is not valid base64 (line 1)"}},
		{"wrong shapes", "store: sqlite\ntokens:\n  - 5m\nlisten: {host: x}\nephemeral:\n  redis:\n    addrs: [[a]]\n", []string{
			"store: want a mapping, got a single value (line 1)",
			"tokens: want a mapping, got a list (line 3)",
			"listen: want a single value, got a mapping (line 4)",
			"ephemeral.redis.addrs: want a list of single values, got a list in it (line 7)",
		}},
		{"set twice", "listen: :80\nlisten: :81\n", []string{"listen: set twice (line 2)"}},
		{"validation after decoding", "tokens:\n  code_ttl: 1h\n", []string{"tokens.code_ttl: must be at most 10m0s (RFC 6749 §4.1.2), got 1h0m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(writeFile(t, "c.yaml", tt.yaml), nil)
			if got := problems(err); !slices.Equal(got, tt.want) {
				t.Errorf("Load\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"syntax", "issuer: [unclosed\n", "did not find expected"},
		{"two documents", "listen: :80\n---\nlisten: :81\n", "more than one YAML document; want one"},
		{"not a mapping", "- a\n- b\n", "want a mapping, got a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(writeFile(t, "c.yaml", tt.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file = %v, want ErrNotExist", err)
	}
}

func TestEnvOverrides(t *testing.T) {
	path := writeFile(t, "c.yaml", "issuer: https://from-file.example.com\nlisten: :9000\n")
	env := []string{
		"HOME=/root", // not ours: ignored
		"GONGPAI_ISSUER=https://id.example.com",
		"GONGPAI_STORE_DRIVER=postgres",
		"GONGPAI_STORE_DSN=host=db user=gongpai password=pw",
		"GONGPAI_MASTER_KEY=" + b64(key1),
		"GONGPAI_CRYPTO_KEY=" + b64(key2),
		"GONGPAI_TOKENS_ACCESS_TOKEN_TTL=7m",
		"GONGPAI_EPHEMERAL_DRIVER=redis",
		"GONGPAI_EPHEMERAL_REDIS_ADDRS=r1:6379, r2:6379",
		"GONGPAI_EPHEMERAL_REDIS_DB=3",
		"GONGPAI_PASSWORD_THREADS=2",
		"GONGPAI_TOTP_REQUIRED=false",
		"GONGPAI_LOG_LEVEL=WARN",
		"GONGPAI_TRUST_PROXY_HEADERS=1",
		"GONGPAI_TEST_POSTGRES_DSN=postgres://x", // the test suites' switch: not a setting, not an error
		"GONGPAI_CONFIG=/etc/gongpai.yaml",
	}
	c, err := config.Load(path, env)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	switch {
	case c.Issuer.String() != "https://id.example.com":
		t.Errorf("issuer = %s, want the environment to win over the file", c.Issuer)
	case c.Listen != ":9000":
		t.Errorf("listen = %q, want the file's", c.Listen)
	case c.Store.Driver != "postgres" || c.Store.DSN != "host=db user=gongpai password=pw":
		t.Errorf("store = %+v", c.Store)
	case !bytes.Equal(c.MasterKey, key1) || !bytes.Equal(c.CryptoKey, key2):
		t.Error("keys not decoded from the environment")
	case c.Tokens.AccessTokenTTL != 7*time.Minute:
		t.Errorf("access_token_ttl = %s", c.Tokens.AccessTokenTTL)
	case c.Ephemeral.Driver != "redis" || !slices.Equal(c.Ephemeral.Redis.Addrs, []string{"r1:6379", "r2:6379"}) || c.Ephemeral.Redis.DB != 3:
		t.Errorf("ephemeral = %+v", c.Ephemeral)
	case c.Password.Threads != 2 || c.TOTP.Required || c.Log.Level != slog.LevelWarn || !c.TrustProxyHeaders:
		t.Errorf("password %+v totp %+v log %+v trust %v", c.Password, c.TOTP, c.Log, c.TrustProxyHeaders)
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"unknown variables, sorted, once each", []string{"GONGPAI_TOKEN_TTL=5m", "GONGPAI_STORE=sqlite", "GONGPAI_TOKEN_TTL=6m"}, []string{
			"GONGPAI_STORE: unknown environment variable; GONGPAI_ variables are the YAML keys upper-cased, such as GONGPAI_STORE_DSN",
			"GONGPAI_TOKEN_TTL: unknown environment variable; GONGPAI_ variables are the YAML keys upper-cased, such as GONGPAI_STORE_DSN",
		}},
		{"bad values name the setting and the variable", []string{"GONGPAI_TOKENS_CODE_TTL=60", "GONGPAI_RATE_LIMIT_PER_IP=lots", "GONGPAI_CRYPTO_KEY=%%%"}, []string{
			`tokens.code_ttl: "60" is not a duration such as 90s, 15m or 1h (from GONGPAI_TOKENS_CODE_TTL)`,
			`rate_limit.per_ip: "lots" is not a whole number from -9223372036854775808 to 9223372036854775807 (from GONGPAI_RATE_LIMIT_PER_IP)`,
			"crypto_key: is not valid base64 (from GONGPAI_CRYPTO_KEY)",
		}},
		{"validation sees the override", []string{"GONGPAI_TOTP_SKEW=9"}, []string{"totp.skew: must be 0–3, got 9"}},
		{"lower case is not ours", []string{"gongpai_issuer=x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load("", tt.env)
			if got := problems(err); !slices.Equal(got, tt.want) {
				t.Errorf("Load\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b64File := write("master.b64", []byte(b64(key1)+"\n"))
	rawFile := write("crypto.raw", key2)
	shortFile := write("short.b64", []byte(b64(key1[:8])))
	junkFile := write("junk", []byte("not a key at all!"))

	c, err := config.Load("", []string{"GONGPAI_MASTER_KEY_FILE=" + b64File, "GONGPAI_CRYPTO_KEY_FILE=" + rawFile})
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if !bytes.Equal(c.MasterKey, key1) || !bytes.Equal(c.CryptoKey, key2) {
		t.Error("keys not read from files")
	}

	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"both key and file", []string{"GONGPAI_MASTER_KEY=" + b64(key1), "GONGPAI_MASTER_KEY_FILE=" + b64File}, []string{
			"master_key_file: set either master_key or master_key_file, not both",
		}},
		{"missing file", []string{"GONGPAI_CRYPTO_KEY_FILE=" + filepath.Join(dir, "nope")}, []string{
			"crypto_key_file: open " + filepath.Join(dir, "nope") + ": no such file or directory",
		}},
		{"junk", []string{"GONGPAI_CRYPTO_KEY_FILE=" + junkFile}, []string{
			"crypto_key_file: " + junkFile + " holds neither 32 raw bytes nor base64",
		}},
		{"short key", []string{"GONGPAI_MASTER_KEY_FILE=" + shortFile}, []string{"master_key_file: must be 32 bytes, got 8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load("", tt.env)
			if got := problems(err); !slices.Equal(got, tt.want) {
				t.Errorf("Load\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	const (
		pgPassword    = "pg-Secret-1"
		redisPassword = "redis-Secret-2"
	)
	for _, dsn := range []string{
		"postgres://gongpai:" + pgPassword + "@db:5432/gongpai?sslmode=verify-full",
		"host=db user=gongpai password=" + pgPassword + " dbname=gongpai",
		"host=db password='" + pgPassword + "' dbname=gongpai",
		"postgres://gongpai@db/gongpai?password=" + pgPassword,
	} {
		t.Run(dsn, func(t *testing.T) {
			c, err := config.Load("", []string{
				"GONGPAI_STORE_DRIVER=postgres",
				"GONGPAI_STORE_DSN=" + dsn,
				"GONGPAI_MASTER_KEY=" + b64(key1),
				"GONGPAI_CRYPTO_KEY=" + b64(key2),
				"GONGPAI_EPHEMERAL_DRIVER=redis",
				"GONGPAI_EPHEMERAL_REDIS_ADDRS=r1:6379",
				"GONGPAI_EPHEMERAL_REDIS_PASSWORD=" + redisPassword,
			})
			if err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
			slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "master", c.MasterKey, "crypto", c.CryptoKey)
			outputs := map[string]string{
				"Redacted": c.Redacted(),
				"%v":       fmt.Sprintf("%v", c),
				"%+v":      fmt.Sprintf("%+v", c),
				"%s":       fmt.Sprint(c),
				"key %v":   fmt.Sprintf("%v %s %x %#v", c.MasterKey, c.MasterKey, c.CryptoKey, c.CryptoKey),
				"slog":     logged.String(),
			}
			secrets := []string{pgPassword, redisPassword, b64(key1), b64(key2), string(key1), string(key2), fmt.Sprintf("%x", key1), "17, 17, 17"}
			for name, out := range outputs {
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Errorf("%s output contains secret %q:\n%s", name, s, out)
					}
				}
			}
			red := c.Redacted()
			for _, line := range []string{"master_key: xxxxx\n", "crypto_key: xxxxx\n", "ephemeral.redis.password: xxxxx\n", "store.driver: postgres\n", "tokens.access_token_ttl: 15m0s\n", "log.level: INFO\n", "issuer: http://localhost:8080\n"} {
				if !strings.Contains(red, line) {
					t.Errorf("Redacted() lacks %q:\n%s", line, red)
				}
			}
			if !strings.Contains(red, "xxxxx") || !strings.Contains(red, "store.dsn: ") {
				t.Errorf("Redacted() dsn line missing:\n%s", red)
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p4ss@db:5432/g?sslmode=require", "postgres://u:xxxxx@db:5432/g?sslmode=require"},
		{"postgres://u@db/g", "postgres://u@db/g"},
		{"postgres://u:p%40ss@db/g", "postgres://u:xxxxx@db/g"},
		{"postgres://u:p@ss/word@db/g", "postgres://u:xxxxx@db/g"}, // unescaped: does not parse, still redacted
		{"postgres://u:p@ss@db/g?sslmode=x&password=y", "postgres://u:xxxxx@db/g?sslmode=x&password=xxxxx"},
		{"postgres://u:p%zz@db/g?password=y&a=b", "postgres://u:xxxxx@db/g?password=xxxxx&a=b"}, // bad escape: does not parse
		{"postgres://db/g?user=u&password=p4ss", "postgres://db/g?password=xxxxx&user=u"},
		{"host=db user=u password=p4ss dbname=g", "host=db user=u password=xxxxx dbname=g"},
		{"host=db PASSWORD = p4ss", "host=db PASSWORD = xxxxx"},
		{`host=db password='p 4\'ss' dbname=g`, "host=db password=xxxxx dbname=g"},
		{"./data/gongpai.db", "./data/gongpai.db"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := config.RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIssuerIsLoopback(t *testing.T) {
	tests := []struct {
		issuer string
		want   bool
	}{
		{"http://localhost:8080", true},
		{"http://LOCALHOST", true},
		{"http://127.0.0.1:8080", true},
		{"http://127.8.9.10", true},
		{"http://[::1]:8080", true},
		{"https://id.example.com", false},
		{"http://localhost.example.com", false},
		{"http://128.0.0.1", false},
		{"http://[::2]", false},
		{"http://0.0.0.0:8080", false},
	}
	for _, tt := range tests {
		c := config.Default()
		c.Issuer = mustURL(t, tt.issuer)
		if got := c.IssuerIsLoopback(); got != tt.want {
			t.Errorf("IssuerIsLoopback(%s) = %v, want %v", tt.issuer, got, tt.want)
		}
	}
	c := config.Default()
	c.Issuer = nil
	if c.IssuerIsLoopback() {
		t.Error("nil issuer is loopback")
	}
}
