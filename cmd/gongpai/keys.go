package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gongpai/gongpai/config"
	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// The `keys` commands act on the store directly; serving replicas see
// their changes at their next poll (keys.poll_interval) or at once through
// a store that notifies. docs/keys.md has the procedures.

// keyStore is what key managers work on: the durable backend itself, so
// that keys.Manager finds its optional Locker and Notifier (postgres)
// even when a.store combines it with redis.
func (a *app) keyStore() keys.Store { return storage.DurableOf(a.store) }

// pickUp says when serving replicas apply a key change made here.
func (a *app) pickUp() string {
	if _, ok := a.keyStore().(keys.Notifier); ok {
		return fmt.Sprintf("at once (notified; within keys.poll_interval = %s at the latest)", a.cfg.Keys.PollInterval)
	}
	return fmt.Sprintf("within keys.poll_interval (%s)", a.cfg.Keys.PollInterval)
}

func cmdKeysList(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("keys list", "", io)
	events := fs.Bool("events", false, "also print every key event (who did what, when, why)")
	return withApp(ctx, fs, args, io, env, nil, func(a *app) error {
		km := keys.NewManager(a.keyStore(), a.sealer, keys.Options{Policy: a.cfg.KeyPolicy()})
		if err := km.Refresh(ctx); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATES\tRETIRES\tREMOVED FROM JWKS\tSEALED UNDER")
		for _, v := range km.Keys() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.KID, v.Algorithm, v.State, stamp(v.CreatedAt),
				stamp(v.ActivatesAt), stamp(v.RetiresAt), stamp(v.RemovesAt), dash(v.SealedUnder))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if !*events {
			return nil
		}
		evs, err := a.store.ListKeyEvents(ctx, "")
		if err != nil {
			return err
		}
		fmt.Fprintln(io.out)
		tw = tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tKID\tACTION\tACTOR\tREASON")
		for _, ev := range evs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", stamp(ev.At), ev.KID, ev.Action, ev.Actor, ev.Reason)
		}
		return tw.Flush()
	})
}

func cmdKeysRotate(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("keys rotate", "", io)
	alg := fs.String("alg", "", "`algorithm` of the key (default: the first of keys.algorithms)")
	now := fs.Bool("now", false, "EMERGENCY: activate a key at once instead of after keys.pre_publication")
	reason := fs.String("reason", "", "why, for the key-event record")
	actor := actorFlag(fs)
	return withApp(ctx, fs, args, io, env, nil, func(a *app) error {
		km := keys.NewManager(a.keyStore(), a.sealer, keys.Options{Policy: a.cfg.KeyPolicy(), Logger: a.log})
		v, err := km.Rotate(ctx, keys.RotateOptions{Algorithm: *alg, Now: *now, Actor: actorName(*actor, env), Reason: *reason})
		if err != nil {
			return keysError(err)
		}
		if *now {
			fmt.Fprintf(io.err, "WARNING: key %s signs from now on, without pre-publication. Relying parties that cached the JWKS\n"+
				"(up to keys.jwks_max_age = %s) and do not refetch it on an unknown kid reject new tokens until their\n"+
				"cache expires. Serving replicas pick the key up %s.\n",
				v.KID, a.cfg.Keys.JWKSMaxAge, a.pickUp())
			fmt.Fprintf(io.out, "key %s (%s) is active since %s\n", v.KID, v.Algorithm, stamp(v.ActivatesAt))
			return nil
		}
		fmt.Fprintf(io.out, "key %s (%s) is published as next; it activates at %s\n", v.KID, v.Algorithm, stamp(v.ActivatesAt))
		return nil
	})
}

func cmdKeysRevoke(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("keys revoke", "KID", io)
	reason := fs.String("reason", "", "why the key is revoked (required; recorded)")
	actor := actorFlag(fs)
	configPath := configFlag(fs)
	kid, err := parseWithOneArg(fs, args, "KID")
	if err != nil {
		return err
	}
	if err := required(fs, "reason"); err != nil {
		return err
	}
	a, err := openApp(ctx, *configPath, io, env)
	if err != nil {
		return err
	}
	defer a.Close()
	km := keys.NewManager(a.keyStore(), a.sealer, keys.Options{Policy: a.cfg.KeyPolicy(), Logger: a.log})
	res, err := km.Revoke(ctx, kid, actorName(*actor, env), *reason)
	if err != nil {
		return keysError(err)
	}
	fmt.Fprintf(io.out, "key %s (%s) is revoked: it left the JWKS, and tokens it signed are refused\n", res.Revoked.KID, res.Revoked.Algorithm)
	if res.Replacement != nil {
		fmt.Fprintf(io.out, "key %s (%s) signs in its place since %s\n", res.Replacement.KID, res.Replacement.Algorithm, stamp(res.Replacement.ActivatesAt))
	}
	fmt.Fprintf(io.out, "serving replicas apply this %s\n", a.pickUp())
	return nil
}

func cmdKeysRewrap(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("keys rewrap", "", io)
	newKeyFile := fs.String("new-master-key-file", "", "`file` holding the new master key (base64 or 32 raw bytes); "+
		"default: re-seal whatever is not yet under the configured master_key")
	actor := actorFlag(fs)
	return withApp(ctx, fs, args, io, env, nil, func(a *app) error {
		to := a.sealer
		if *newKeyFile != "" {
			key, err := readKeyFile(*newKeyFile)
			if err != nil {
				return err
			}
			if to, err = a.sealer.WithSealingKey(key); err != nil {
				return err
			}
		}
		km := keys.NewManager(a.keyStore(), a.sealer, keys.Options{Policy: a.cfg.KeyPolicy(), Logger: a.log})
		nKeys, err := km.Rewrap(ctx, to, actorName(*actor, env))
		if err != nil {
			return fmt.Errorf("%d signing keys re-sealed before: %w", nKeys, err)
		}
		nSeeds, err := directory.RewrapTOTPSeeds(ctx, a.store, to)
		if err != nil {
			return fmt.Errorf("%d signing keys and %d TOTP seeds re-sealed before: %w", nKeys, nSeeds, err)
		}
		fmt.Fprintf(io.out, "re-sealed %d signing keys and %d TOTP seeds under master key %s\n", nKeys, nSeeds, to.SealingKeyID())
		if *newKeyFile != "" {
			fmt.Fprintln(io.out, "next: make that key master_key and list the old one in previous_master_keys on every server, restart them, "+
				"run `gongpai keys rewrap` once more, then drop the old key (docs/keys.md)")
		}
		return nil
	})
}

// keysError gives the key manager's refusals their stable codes.
func keysError(err error) error {
	switch {
	case errors.Is(err, keys.ErrNextPending):
		return &errcode.Error{Code: errcode.Conflict, Status: http.StatusConflict, Message: strings.TrimPrefix(err.Error(), "keys: ")}
	case errors.Is(err, keys.ErrAlgorithmNotConfigured):
		return &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "alg", Message: strings.TrimPrefix(err.Error(), "keys: ")}
	case errors.Is(err, keys.ErrReasonRequired):
		return &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "reason", Message: "a reason is required"}
	}
	return err
}

func actorFlag(fs *flag.FlagSet) *string {
	return fs.String("actor", "", "who is acting, for the key-event record (default: cli:<OS user>)")
}

// actorName is the recorded actor: --actor, else cli: and the OS user.
func actorName(flagValue string, env []string) string {
	if flagValue != "" {
		return flagValue
	}
	for _, kv := range env {
		if name, ok := strings.CutPrefix(kv, "USER="); ok && name != "" {
			return "cli:" + name
		}
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:unknown"
}

// parseWithOneArg parses flags given before or after exactly one
// positional argument.
func parseWithOneArg(fs *flag.FlagSet, args []string, name string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", errUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintf(fs.Output(), "missing %s\n", name)
		fs.Usage()
		return "", errUsage
	}
	arg := rest[0]
	if err := parse(fs, rest[1:]); err != nil {
		return "", err
	}
	return arg, nil
}

func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "new-master-key-file", Message: err.Error()}
	}
	if len(data) == seal.KeySize {
		return data, nil
	}
	var k config.Key
	if err := k.UnmarshalText(data); err != nil || len(k) != seal.KeySize {
		return nil, &errcode.Error{Code: errcode.InvalidInput, Status: http.StatusBadRequest, Field: "new-master-key-file",
			Message: fmt.Sprintf("%s holds neither %d raw bytes nor base64 of them", path, seal.KeySize)}
	}
	return k, nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// metricsHandler serves Prometheus metrics: the key ring's, Go's and the
// process's, from a registry of its own (no global state).
func metricsHandler(km *keys.Manager) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(km.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// previousCryptoKeys converts previous_crypto_keys for op.Config
// (Validate has checked their sizes).
func previousCryptoKeys(cfg *config.Config) [][32]byte {
	out := make([][32]byte, 0, len(cfg.PreviousCryptoKeys))
	for _, k := range cfg.PreviousCryptoKeys {
		var b [32]byte
		copy(b[:], k)
		out = append(out, b)
	}
	return out
}
