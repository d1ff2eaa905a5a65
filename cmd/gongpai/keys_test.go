package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// transcript collects everything the CLI printed.
type transcript struct{ bytes.Buffer }

func (tr *transcript) run(c *cli, stdin string, args ...string) (int, string, string) {
	code, out, errOut := c.run(stdin, args...)
	tr.WriteString(out)
	tr.WriteString(errOut)
	return code, out, errOut
}

func (tr *transcript) ok(c *cli, stdin string, args ...string) string {
	c.t.Helper()
	code, out, errOut := tr.run(c, stdin, args...)
	if code != 0 {
		c.t.Fatalf("gongpai %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// dataDir is the CLI's data directory (GONGPAI_DATA_DIR).
func (c *cli) dataDir() string {
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "GONGPAI_DATA_DIR="); ok {
			return v
		}
	}
	c.t.Fatal("no data dir")
	return ""
}

func readB64(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// privateDERs unseals every private key still stored.
func privateDERs(t *testing.T, dbPath string, sealer *seal.Sealer) map[string][]byte {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, k := range rows {
		if len(k.PrivateKey) == 0 {
			continue
		}
		der, err := sealer.Open(k.PrivateKey, []byte(k.ID))
		if err != nil {
			t.Fatalf("open %s: %v", k.ID, err)
		}
		if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
			t.Fatal(err)
		}
		out[k.ID] = der
	}
	return out
}

// secrets are the private parts of a PKCS#8 key: the ECDSA scalar, the
// Ed25519 seed, the RSA private exponent and primes.
func secrets(t *testing.T, der []byte) [][]byte {
	t.Helper()
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		b, _ := k.Bytes()
		return [][]byte{b}
	case ed25519.PrivateKey:
		return [][]byte{k.Seed()}
	case *rsa.PrivateKey:
		return [][]byte{k.D.Bytes(), k.Primes[0].Bytes(), k.Primes[1].Bytes()}
	}
	t.Fatalf("unexpected key type %T", priv)
	return nil
}

// leaks reports where any sign of a private key shows in the haystacks:
// the PKCS#8 DER, or a 24-byte run of a private part, raw or as base64,
// base64url or hex.
func leaks(t *testing.T, ders map[string][]byte, haystacks map[string][]byte) []string {
	var found []string
	for kid, der := range ders {
		needles := [][]byte{der, []byte(base64.StdEncoding.EncodeToString(der)), []byte(base64.RawURLEncoding.EncodeToString(der))}
		for _, secret := range secrets(t, der) {
			for off := 0; off+24 <= len(secret); off++ {
				run := secret[off : off+24]
				needles = append(needles, run, []byte(hex.EncodeToString(run)),
					[]byte(base64.StdEncoding.EncodeToString(run)[4:28]), []byte(base64.RawURLEncoding.EncodeToString(run)[4:28]))
			}
		}
		for name, hay := range haystacks {
			for _, n := range needles {
				if bytes.Contains(hay, n) {
					found = append(found, kid+" in "+name)
					break
				}
			}
		}
	}
	return found
}

// The keys commands end to end, in-process, on one data directory:
// rotate, list, emergency rotation, revoke, rewrap under a new master key.
// Nothing any of them prints, logs or stores shows a private key unsealed.
func TestKeysCommands(t *testing.T) {
	c := newCLI(t)
	c.env = append(c.env, "USER=sec-alice", "GONGPAI_KEYS_ALGORITHMS=ES256,EdDSA", "GONGPAI_LOG_LEVEL=debug")
	dir := c.dataDir()
	dbPath := filepath.Join(dir, "gongpai.db")
	var tr transcript

	// An employee with a TOTP seed, so rewrap has a seed to re-seal.
	tr.ok(c, "", "entity", "add", "--code", "ACME", "--name", "ACME")
	tr.ok(c, "", "dept", "add", "--entity", "ACME", "--code", "SEC01", "--name", "Security")
	tr.ok(c, "a long enough password\n", "employee", "add", "--entity", "ACME", "--dept", "SEC01", "--name", "Alice",
		"--totp-seed", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")

	out := tr.ok(c, "", "keys", "rotate", "--reason", "quarterly rotation")
	if !regexp.MustCompile(`key \S+ \(ES256\) is published as next; it activates at `).MatchString(out) {
		t.Errorf("keys rotate: %q", out)
	}
	code, _, errOut := tr.run(c, "", "keys", "rotate")
	if code != 1 || !strings.Contains(errOut, "E-205") || !strings.Contains(errOut, "--now") {
		t.Errorf("second routine rotation: exit %d, %q; want E-205 pointing at --now", code, errOut)
	}
	code, _, errOut = tr.run(c, "", "keys", "rotate", "--alg", "RS256")
	if code != 1 || !strings.Contains(errOut, "E-201 alg") {
		t.Errorf("rotation of an algorithm outside keys.algorithms: exit %d, %q", code, errOut)
	}

	list := tr.ok(c, "", "keys", "list")
	for _, want := range []string{"KID", "ALG", "STATE", "CREATED", "ACTIVATES", "RETIRES", "ES256", "EdDSA", "active", "next"} {
		if !strings.Contains(list, want) {
			t.Errorf("keys list lacks %q:\n%s", want, list)
		}
	}
	if n := strings.Count(strings.TrimSpace(list), "\n"); n != 3 {
		t.Errorf("keys list shows %d keys; want 3 (ES256 active and next, EdDSA active):\n%s", n, list)
	}

	_, stdout, errOut := tr.run(c, "", "keys", "rotate", "--now", "--reason", "drill")
	if !strings.Contains(errOut, "WARNING") || !strings.Contains(errOut, "cache") || !strings.Contains(stdout, "is active since") {
		t.Errorf("keys rotate --now: stdout %q, stderr %q; want a warning about caching relying parties", stdout, errOut)
	}
	active := regexp.MustCompile(`key (\S+) \(ES256\) is active`).FindStringSubmatch(stdout)
	if active == nil {
		t.Fatalf("no active kid in %q", stdout)
	}

	code, _, errOut = tr.run(c, "", "keys", "revoke", active[1])
	if code != 2 || !strings.Contains(errOut, "missing required flag --reason") {
		t.Errorf("revoke without a reason: exit %d, %q", code, errOut)
	}
	code, _, errOut = tr.run(c, "", "keys", "revoke", "--reason", "x")
	if code != 2 || !strings.Contains(errOut, "missing KID") {
		t.Errorf("revoke without a kid: exit %d, %q", code, errOut)
	}
	code, _, errOut = tr.run(c, "", "keys", "revoke", "no-such-kid", "--reason", "x")
	if code != 1 || !strings.Contains(errOut, "E-204") {
		t.Errorf("revoke of an unknown kid: exit %d, %q", code, errOut)
	}

	// Before revoking, note the material that is about to be wiped: it
	// must not show up anywhere afterwards either.
	oldMaster := readB64(t, filepath.Join(dir, "master.key"))
	oldSealer, _ := seal.New(oldMaster)
	ders := privateDERs(t, dbPath, oldSealer)
	if len(ders) != 3 {
		t.Fatalf("%d private keys stored; want 3", len(ders))
	}

	out = tr.ok(c, "", "keys", "revoke", active[1], "--reason", "laptop with the key was stolen", "--actor", "sec-bob")
	if !strings.Contains(out, "key "+active[1]+" (ES256) is revoked") || !strings.Contains(out, "signs in its place") {
		t.Errorf("keys revoke: %q", out)
	}
	list = tr.ok(c, "", "keys", "list", "--events")
	for _, want := range []string{
		active[1] + "  ES256  revoked",
		"revoked    sec-bob",
		"laptop with the key was stolen",
		"cli:sec-alice",
		"quarterly rotation",
		keys.SystemActor,
	} {
		if !strings.Contains(list, want) {
			t.Errorf("keys list --events lacks %q:\n%s", want, list)
		}
	}

	// Master-key change: rewrap under a new key, then the new key opens
	// everything and the old one alone nothing.
	newMaster := make([]byte, seal.KeySize)
	rand.Read(newMaster)
	newFile := filepath.Join(t.TempDir(), "new.key")
	os.WriteFile(newFile, []byte(base64.StdEncoding.EncodeToString(newMaster)+"\n"), 0o600)
	out = tr.ok(c, "", "keys", "rewrap", "--new-master-key-file", newFile)
	if !strings.Contains(out, "re-sealed 3 signing keys and 1 TOTP seeds under master key "+seal.KeyID(newMaster)) {
		t.Errorf("keys rewrap: %q", out)
	}
	crypto := base64.StdEncoding.EncodeToString(readB64(t, filepath.Join(dir, "crypto.key")))
	withKeys := func(master []byte, previous ...[]byte) *cli {
		nc := &cli{t: t, env: append([]string{}, c.env...)}
		nc.env = append(nc.env, "GONGPAI_MASTER_KEY="+base64.StdEncoding.EncodeToString(master), "GONGPAI_CRYPTO_KEY="+crypto)
		var prev []string
		for _, p := range previous {
			prev = append(prev, base64.StdEncoding.EncodeToString(p))
		}
		if len(prev) > 0 {
			nc.env = append(nc.env, "GONGPAI_PREVIOUS_MASTER_KEYS="+strings.Join(prev, ","))
		}
		return nc
	}
	tr.ok(withKeys(newMaster, oldMaster), "", "keys", "list")
	if out := tr.ok(withKeys(newMaster, oldMaster), "", "keys", "rewrap"); !strings.Contains(out, "re-sealed 0 signing keys and 0 TOTP seeds") {
		t.Errorf("second rewrap: %q; want nothing left to do", out)
	}
	tr.ok(withKeys(newMaster), "", "keys", "list")
	if code, _, errOut := tr.run(withKeys(oldMaster), "", "keys", "list"); code != 1 || !strings.Contains(errOut, "master key") {
		t.Errorf("keys list with only the old master key after rewrap: exit %d, %q; want a failure naming the master key", code, errOut)
	}
	st, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	es, _ := st.ListEmployees(context.Background())
	st.Close()
	if len(es) != 1 || seal.SealedUnder(es[0].TOTPSecret) != seal.KeyID(newMaster) {
		t.Errorf("TOTP seed not re-sealed under the new master key")
	}

	// The scan: the database (with its WAL), everything printed and
	// logged (at debug level), for every key that was ever stored.
	newSealer, _ := seal.New(newMaster)
	for kid, der := range privateDERs(t, dbPath, newSealer) {
		ders[kid] = der
	}
	hay := map[string][]byte{"CLI output and logs": tr.Bytes()}
	for _, f := range []string{"gongpai.db", "gongpai.db-wal", "gongpai.db-shm"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			hay[f] = b
		}
	}
	if found := leaks(t, ders, hay); len(found) > 0 {
		t.Errorf("private key material found unsealed: %v", found)
	}
	// The revoked key's private half is gone from its row.
	st, _ = sqlite.Open(context.Background(), dbPath, sqlite.Options{})
	defer st.Close()
	rows, _ := st.ListSigningKeys(context.Background())
	for _, k := range rows {
		if k.ID == active[1] && (k.State != storage.KeyRevoked || len(k.PrivateKey) != 0) {
			t.Errorf("revoked key row: %s with %d private bytes", k.State, len(k.PrivateKey))
		}
	}
	// And the scan itself can find what it looks for.
	if len(leaks(t, ders, map[string][]byte{"probe": append([]byte("x"), ders[active[1]]...)})) != 1 {
		t.Fatal("the leak scan does not find a planted key")
	}
}

func TestClientAddIDTokenAlg(t *testing.T) {
	c := newCLI(t)
	// An algorithm the deployment keeps no keys for is refused: the client
	// would silently get RS256-signed tokens.
	code, out, errOut := c.run("", "client", "add", "--id", "es", "--redirect-uri", "https://es.acme.example/cb", "--id-token-alg", "ES256")
	if code != 1 || !strings.Contains(errOut, "E-201 id_token_signed_response_alg") || !strings.Contains(errOut, "keys.algorithms") {
		t.Errorf("client add --id-token-alg ES256 with RS256 keys: exit %d, %q, %q; want E-201 naming the field", code, out, errOut)
	}
	code, out, _ = c.run("", "client", "add", "--id", "rs", "--redirect-uri", "https://rs.acme.example/cb", "--id-token-alg", "RS256")
	if code != 0 || !strings.Contains(out, "client_id:     rs") {
		t.Errorf("client add --id-token-alg RS256 with RS256 keys: exit %d, %q", code, out)
	}
	c.env = append(c.env, "GONGPAI_KEYS_ALGORITHMS=RS256,ES256")
	code, out, errOut = c.run("", "client", "add", "--id", "es", "--redirect-uri", "https://es.acme.example/cb", "--id-token-alg", "ES256")
	if code != 0 || !strings.Contains(out, "client_id:     es") {
		t.Errorf("client add --id-token-alg ES256 with RS256 and ES256 keys: exit %d, %q, %q", code, out, errOut)
	}
	code, _, errOut = c.run("", "client", "add", "--id", "hs", "--redirect-uri", "https://es.acme.example/cb", "--id-token-alg", "HS256")
	if code != 1 || !strings.Contains(errOut, "E-201 id_token_signed_response_alg") {
		t.Errorf("client add --id-token-alg HS256: exit %d, %q", code, errOut)
	}
}
