package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/gongpai/gongpai/config"
	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/postgres"
	"github.com/gongpai/gongpai/storage/redis"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// app is what every command needs: the loaded config, the store and the
// directory. cmd/gongpai is the only place that picks concrete backends.
type app struct {
	cfg    *config.Config
	log    *slog.Logger
	store  storage.Store
	sealer *seal.Sealer
	dir    *directory.Directory
	// sweeper deletes expired rows from the durable database, if it needs
	// that (redis expires keys by itself).
	sweeper sweeper
	// cryptoKey encrypts auth codes and opaque access tokens (zitadel op).
	cryptoKey [32]byte
	// logout is serve's back-channel logout sender; nil in CLI commands
	// (see sessionEnder).
	logout directory.SessionEnder
}

// configFlag adds the --config flag every command takes.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "YAML config `file` (GONGPAI_* environment variables override it)")
}

// loadConfig reads the config and builds what every command needs from
// it: the logger, and the master keys — the one that seals first, then
// the previous ones that still open what they sealed (issue 4,
// `gongpai keys rewrap`).
func loadConfig(configPath string, io stdio, env []string) (*config.Config, *slog.Logger, [][]byte, error) {
	cfg, err := config.Load(configPath, env)
	if err != nil {
		return nil, nil, nil, err
	}
	log := newLogger(cfg, io.err, cfg.Log.Level)
	// Libraries (zitadel/oidc) log through the default logger; keep their
	// chatter (one line per registered route) below warnings.
	slog.SetDefault(newLogger(cfg, io.err, max(cfg.Log.Level, slog.LevelWarn)))
	master, err := secretKey(cfg.MasterKey, cfg, "master.key", "master_key", log)
	if err != nil {
		return nil, nil, nil, err
	}
	masters := [][]byte{master}
	for _, k := range cfg.PreviousMasterKeys {
		masters = append(masters, k)
	}
	return cfg, log, masters, nil
}

func openApp(ctx context.Context, configPath string, io stdio, env []string) (*app, error) {
	cfg, log, masters, err := loadConfig(configPath, io, env)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log}
	if a.sealer, err = seal.New(masters...); err != nil {
		return nil, err
	}
	crypto, err := secretKey(cfg.CryptoKey, cfg, "crypto.key", "crypto_key", log)
	if err != nil {
		return nil, err
	}
	copy(a.cryptoKey[:], crypto)

	if a.store, a.sweeper, err = openStore(ctx, cfg, log); err != nil {
		return nil, err
	}

	a.dir = directory.New(a.store, a.sealer, directory.Options{
		Argon2: directory.Argon2Params{
			Time:      cfg.Password.Time,
			MemoryKiB: cfg.Password.MemoryKiB,
			Threads:   cfg.Password.Threads,
		},
		MaxConcurrentHashes: cfg.Password.MaxConcurrent,
		TOTPIssuer:          cfg.TOTP.Issuer,
		TOTPSkew:            cfg.TOTP.Skew,
		Logger:              log,
	})
	return a, nil
}

func (a *app) Close() error { return a.store.Close() }

// openStore picks the backends the config names: the durable store, and
// the ephemeral one (the durable store's own database unless redis).
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (storage.Store, sweeper, error) {
	var store interface {
		storage.Store
		sweeper
	}
	switch cfg.Store.Driver {
	case "sqlite":
		st, err := sqlite.Open(ctx, cfg.Store.DSN, sqlite.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("store: open sqlite %s: %w", cfg.Store.DSN, err)
		}
		store = st
	case "postgres":
		st, err := postgres.Open(ctx, cfg.Store.DSN, postgres.Options{MaxConns: cfg.Store.MaxConns, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("store: open postgres %s: %w", config.RedactDSN(cfg.Store.DSN), err)
		}
		store = st
	default:
		return nil, nil, &config.FieldError{Field: "store.driver", Message: fmt.Sprintf("unknown driver %q", cfg.Store.Driver)}
	}
	if cfg.Ephemeral.Driver != "redis" {
		return store, store, nil
	}
	r := cfg.Ephemeral.Redis
	redis.RouteLibraryLogs(log)
	eph, err := redis.Open(ctx, redis.Options{
		Addrs: r.Addrs, Username: r.Username, Password: r.Password, DB: r.DB, MasterName: r.MasterName, Logger: log,
	})
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("ephemeral store: open redis %s: %w", strings.Join(r.Addrs, ","), err)
	}
	return storage.Combine(store, eph), store, nil
}

// secretKey returns a configured 32-byte key, or on a single-machine dev
// install (embedded store, loopback issuer) loads or creates one in the
// data directory — loudly, because such a key sits beside the data it
// protects.
func secretKey(configured []byte, cfg *config.Config, file, field string, log *slog.Logger) ([]byte, error) {
	if len(configured) > 0 {
		return configured, nil
	}
	if cfg.Store.Driver != "sqlite" || !cfg.IssuerIsLoopback() {
		return nil, &errcode.Error{Code: errcode.InvalidInput, Field: field,
			Message: fmt.Sprintf("required: set %s (base64 of 32 random bytes) in the config or GONGPAI_%s", field, strings.ToUpper(field))}
	}
	path := filepath.Join(cfg.DataDir, file)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) != seal.KeySize {
			return nil, &errcode.Error{Code: errcode.InvalidInput, Field: field, Message: fmt.Sprintf("%s does not hold base64 of 32 bytes", path)}
		}
		log.Debug("using a "+field+" generated into the data directory", "file", path)
		return key, nil
	case errors.Is(err, fs.ErrNotExist):
		key := make([]byte, seal.KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, err
		}
		log.Warn("DEV MODE: generated a new "+field+" into the data directory; back it up with the database, and set "+field+" explicitly in production", "file", path)
		return key, nil
	default:
		return nil, err
	}
}

func newLogger(cfg *config.Config, w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// describe renders an error for an operator: stable code first.
func describe(err error) string {
	var ce *config.FieldError
	if errors.As(err, &ce) {
		return errcode.InvalidInput + " invalid configuration:\n  " + strings.ReplaceAll(err.Error(), "\n", "\n  ")
	}
	e := errcode.From(err)
	if e.Code == errcode.Internal {
		return e.Code + " " + err.Error()
	}
	return e.Error()
}
