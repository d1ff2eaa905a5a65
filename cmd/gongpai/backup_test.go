package main

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/postgres"
	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/sqlite"
	"github.com/gongpai/gongpai/storage/storagetest"
)

// TestMain lets pgtest stop its throwaway server after the last test.
func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	seedA     = "JBSWY3DPEHPK3PXP"
	passwordA = "a long enough password"
)

// seedForBackup gives c's store one of nearly everything the CLI makes:
// entities, departments, employees (one with a TOTP seed, one frozen, one
// transferred with a retired ID), a role grant, a client, signing keys and
// their events, audit events.
func seedForBackup(t *testing.T, c *cli) {
	t.Helper()
	c.ok("", "entity", "add", "--code", "ACME", "--name", "ACME Group", "--id-rule", "{dept}{yyyy}{seq:3}")
	c.ok("", "entity", "add", "--code", "BETA", "--name", "Beta Ltd", "--id-rule", "B{seq:4}")
	c.ok("", "dept", "add", "--entity", "ACME", "--code", "HR01", "--name", "Human Resources")
	c.ok("", "dept", "add", "--entity", "ACME", "--code", "FIN01", "--name", "Finance", "--parent", "HR01")
	c.ok("", "dept", "add", "--entity", "BETA", "--code", "OPS", "--name", "Operations")
	c.ok(passwordA+"\n", "employee", "add", "--entity", "ACME", "--dept", "HR01", "--name", "Zhang Wei",
		"--hired", "2023-03-01", "--totp-seed", seedA) // HR012023001
	c.ok("another long password\n", "employee", "add", "--entity", "ACME", "--dept", "FIN01", "--name", "Li Na", "--hired", "2023-06-01")
	c.ok("third long password\n", "employee", "add", "--entity", "ACME", "--dept", "HR01", "--name", "Wang Fang", "--hired", "2023-07-01")
	c.ok("", "role", "grant", "--employee", "HR012023001", "--role", "hr")
	c.ok("", "employee", "freeze", "--employee", "FIN012023001", "--reason", "investigation")
	c.ok("", "employee", "transfer", "--employee", "HR012023002", "--entity", "BETA", "--dept", "OPS", "--reason", "move")
	c.ok("", "client", "add", "--id", "erp", "--name", "ERP", "--redirect-uri", "https://erp.acme.example/cb")
	c.ok("", "keys", "rotate", "--now", "--reason", "first key")
}

func (c *cli) dbPath() string { return filepath.Join(c.dataDir(), "gongpai.db") }

// records is a snapshot of the sqlite store at path.
func records(t *testing.T, path string) []storage.Record {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return storagetest.Collect(t, st)
}

// withKeysOf is a fresh CLI holding the same master and crypto keys as c,
// as an operator restoring onto a new machine copies them.
func withKeysOf(t *testing.T, c *cli) *cli {
	t.Helper()
	n := newCLI(t)
	for _, f := range []string{"master.key", "crypto.key"} {
		b, err := os.ReadFile(filepath.Join(c.dataDir(), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(n.dataDir(), f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestBackupRestore(t *testing.T) {
	src := newCLI(t)
	seedForBackup(t, src)
	want := records(t, src.dbPath())
	masterID := seal.KeyID(readB64(t, filepath.Join(src.dataDir(), "master.key")))

	for _, name := range []string{"acme.json", "acme.json.gz"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, name)
			out := src.ok("", "backup", "--out", file)
			for _, s := range []string{"backed up sqlite", "employees", "sealed under master key " + masterID} {
				if !strings.Contains(out, s) {
					t.Errorf("backup output lacks %q:\n%s", s, out)
				}
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("backup file mode %v, want 0600 (it holds password hashes)", fi.Mode().Perm())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("backup left %d files in its directory, want just the backup", len(entries))
			}
			b, _ := os.ReadFile(file)
			if strings.Contains(string(b), seedA) {
				t.Error("the backup holds the TOTP seed in the clear")
			}

			if out := src.ok("", "restore", "--check", "--in", file); !strings.Contains(out, "complete and intact") {
				t.Errorf("restore --check: %s", out)
			}

			dst := withKeysOf(t, src)
			out = dst.ok("", "restore", "--in", file)
			if !strings.Contains(out, "restored into sqlite") || !regexp.MustCompile(`employees\s+3\n`).MatchString(out) {
				t.Errorf("restore output:\n%s", out)
			}
			storagetest.WantSameRecords(t, "restored store", records(t, dst.dbPath()), want)

			// The restored install carries on: the next generated ID
			// follows the last one, and the employees sign in.
			out = dst.ok("fourth long password\n", "employee", "add", "--entity", "ACME", "--dept", "HR01", "--name", "Zhao Lei", "--hired", "2023-08-01")
			if !strings.Contains(out, "HR012023003") {
				t.Errorf("first onboarding after the restore: %q, want HR012023003 (HR012023002 is retired)", out)
			}

			// A second restore into the same store is refused.
			code, _, errOut := dst.run("", "restore", "--in", file)
			if code != 1 || !strings.Contains(errOut, "E-205") || !strings.Contains(errOut, "already holds data") {
				t.Errorf("restore into a non-empty store: exit %d, stderr %q", code, errOut)
			}
		})
	}

	t.Run("through a pipe", func(t *testing.T) {
		code, stream, errOut := src.run("", "backup", "--out", "-")
		if code != 0 || !strings.HasPrefix(stream, `{"header":`) || !strings.Contains(errOut, "backed up sqlite") {
			t.Fatalf("backup --out -: exit %d, stderr %q, stdout starts %.40q", code, errOut, stream)
		}
		dst := withKeysOf(t, src)
		dst.ok(stream, "restore", "--in", "-")
		storagetest.WantSameRecords(t, "restored store", records(t, dst.dbPath()), want)
	})
}

func TestRestoreRefusesBadInput(t *testing.T) {
	src := newCLI(t)
	seedForBackup(t, src)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	src.ok("", "backup", "--out", good)
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	tests := []struct {
		name string
		file string
		want []string
	}{
		{"truncated", write("cut.json", b[:len(b)*2/3]), []string{"E-201 in:", "truncated", "nothing was written"}},
		{"altered", write("altered.json", []byte(strings.Replace(string(b), "Zhang Wei", "Zhang Wu!", 1))), []string{"E-201 in:", "SHA-256"}},
		{"not a backup", src.dbPath(), []string{"E-201 in:", "not a usable gongpai backup"}},
		{"missing", filepath.Join(dir, "nope.json"), []string{"E-201 in:", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := withKeysOf(t, src)
			code, _, errOut := dst.run("", "restore", "--in", tt.file)
			if code != 1 {
				t.Errorf("exit %d, want 1 (stderr %q)", code, errOut)
			}
			for _, s := range tt.want {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q: %s", s, errOut)
				}
			}
			if got := records(t, dst.dbPath()); len(got) != 0 {
				t.Errorf("a refused restore wrote %v", storagetest.Count(got))
			}
		})
	}

	t.Run("another master key", func(t *testing.T) {
		dst := newCLI(t) // generates its own master key
		code, _, errOut := dst.run("", "restore", "--in", good)
		srcID := seal.KeyID(readB64(t, filepath.Join(src.dataDir(), "master.key")))
		if code != 1 || !strings.Contains(errOut, "E-201 master_key:") || !strings.Contains(errOut, srcID) {
			t.Errorf("exit %d, stderr %q; want E-201 master_key naming %s", code, errOut, srcID)
		}
		if got := records(t, dst.dbPath()); len(got) != 0 {
			t.Errorf("a refused restore wrote %v", storagetest.Count(got))
		}
		code, _, errOut = dst.run("", "restore", "--check", "--in", good)
		if code != 1 || !strings.Contains(errOut, "E-201 master_key:") {
			t.Errorf("restore --check with another master key: exit %d, stderr %q", code, errOut)
		}
		// The master-key check skipped, the file still cannot be
		// authenticated without its master key: refused all the same.
		code, _, errOut = dst.run("", "restore", "--in", good, "--ignore-master-key-mismatch")
		if code != 1 || !strings.Contains(errOut, "WARNING: master-key check skipped") || !strings.Contains(errOut, "E-201 master_key: hmac_sha256") {
			t.Errorf("--ignore-master-key-mismatch alone: exit %d, stderr %q; want the MAC refusal", code, errOut)
		}
		if got := records(t, dst.dbPath()); len(got) != 0 {
			t.Errorf("a restore refused for its MAC wrote %v", storagetest.Count(got))
		}
		_, _, errOut = dst.run("", "restore", "--in", good, "--ignore-master-key-mismatch", "--ignore-integrity")
		if !strings.Contains(errOut, "WARNING: master-key check skipped") || !strings.Contains(errOut, "WARNING: integrity check skipped") {
			t.Errorf("--ignore-master-key-mismatch --ignore-integrity: stderr %q", errOut)
		}
		if got := records(t, dst.dbPath()); len(got) == 0 {
			t.Error("--ignore-master-key-mismatch restored nothing")
		}
	})
}

func TestBackupUsage(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"backup", "--help"}, 0, "-out file"},
		{[]string{"restore", "--help"}, 0, "-ignore-master-key-mismatch"},
		{[]string{"migrate-store", "--help"}, 0, "sqlite:PATH or postgres:DSN"},
		{[]string{"backup"}, 2, "missing required flag --out"},
		{[]string{"restore"}, 2, "missing required flag --in"},
		{[]string{"migrate-store", "--from", "sqlite:a.db"}, 2, "missing required flag --to"},
		{[]string{"migrate-store", "--from", "mysql:x", "--to", "sqlite:b.db"}, 1, "E-201 from: must be sqlite:PATH or postgres:DSN"},
		{[]string{"migrate-store", "--from", "sqlite:a.db", "--to", "sqlite:./a.db"}, 1, "E-201 to: the target is the source store"},
		{[]string{"backup", "--out", "/nonexistent-dir/b.json"}, 1, "E-201 out:"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := c.run("", tt.args...)
			if code != tt.wantCode || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, out+errOut, tt.wantCode, tt.want)
			}
		})
	}
}

func TestMigrateStoreSQLite(t *testing.T) {
	src := newCLI(t)
	seedForBackup(t, src)
	target := filepath.Join(t.TempDir(), "new", "gongpai.db")
	out := src.ok("", "migrate-store", "--from", "sqlite:"+src.dbPath(), "--to", "sqlite:"+target)
	if !strings.Contains(out, "verified: the target reads back the same") {
		t.Errorf("migrate-store output:\n%s", out)
	}
	storagetest.WantSameRecords(t, "target", records(t, target), records(t, src.dbPath()))
	code, _, errOut := src.run("", "migrate-store", "--from", "sqlite:"+src.dbPath(), "--to", "sqlite:"+target)
	if code != 1 || !strings.Contains(errOut, "E-205") {
		t.Errorf("migrate-store into a non-empty target: exit %d, stderr %q", code, errOut)
	}
}

// TestMigrateStoreToPostgres moves an embedded install to PostgreSQL and
// checks that the target serves sign-in with the same master key: the
// employee is found by employee ID, the password and TOTP check pass, the
// signing keys unseal and sign. Then it backs the PostgreSQL store up and
// restores that into a new sqlite file: the same records come back.
func TestMigrateStoreToPostgres(t *testing.T) {
	src := newCLI(t)
	seedForBackup(t, src)
	want := records(t, src.dbPath())

	// The throwaway server trusts loopback connections, so a password in
	// the DSN is never checked: it is there to prove it is never shown.
	u, err := url.Parse(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "pw-Never-Printed")
	dsn := u.String()

	code, out, errOut := src.run("", "migrate-store", "--from", "sqlite:"+src.dbPath(), "--to", "postgres:"+dsn)
	if code != 0 {
		t.Fatalf("migrate-store: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "pw-Never-Printed") || !strings.Contains(out, "postgres:xxxxx@") {
		t.Errorf("migrate-store output must show the DSN without its password:\n%s%s", out, errOut)
	}

	ctx := t.Context()
	pg, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	storagetest.WantSameRecords(t, "postgres target", storagetest.Collect(t, pg), want)

	masterKey := readB64(t, filepath.Join(src.dataDir(), "master.key"))
	sealer, err := seal.New(masterKey)
	if err != nil {
		t.Fatal(err)
	}
	// The CLI's argon2 cost (newCLI), so a sign-in does not rehash and
	// the store stays as migrated.
	dir := directory.New(pg, sealer, directory.Options{Argon2: directory.Argon2Params{Time: 1, MemoryKiB: 8192, Threads: 1}})
	e, err := dir.CheckPassword(ctx, "hr012023001", passwordA)
	if err != nil || e.EmployeeID != "HR012023001" {
		t.Fatalf("CheckPassword on the target: %v, %v", e, err)
	}
	if _, err := dir.CheckPassword(ctx, "HR012023001", "wrong password"); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("a wrong password on the target: got %v", err)
	}
	code6, err := totp.GenerateCodeCustom(seedA, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.VerifyTOTP(ctx, e.Subject, code6); err != nil {
		t.Errorf("VerifyTOTP on the target (the sealed seed must open under the same master key): %v", err)
	}
	km := keys.NewManager(pg, sealer, keys.Options{})
	if err := km.Refresh(ctx); err != nil {
		t.Fatalf("signing keys on the target: %v", err)
	}
	kid, _, signer := km.Active()
	if kid == "" || signer == nil {
		t.Fatal("no active signing key on the target")
	}
	digest := sha256.Sum256([]byte("payload"))
	if _, err := signer.Sign(nil, digest[:], crypto.SHA256); err != nil {
		t.Errorf("the active key %s does not sign: %v", kid, err)
	}

	// The CLI itself runs on the target, and backs it up.
	onPG := &cli{t: t, env: append(src.env[:len(src.env):len(src.env)],
		"GONGPAI_STORE_DRIVER=postgres", "GONGPAI_STORE_DSN="+dsn, "GONGPAI_ISSUER=https://sso.acme.example",
		"GONGPAI_MASTER_KEY="+base64.StdEncoding.EncodeToString(masterKey),
		"GONGPAI_CRYPTO_KEY="+base64.StdEncoding.EncodeToString(readB64(t, filepath.Join(src.dataDir(), "crypto.key"))))}
	if list := onPG.ok("", "employee", "list"); !strings.Contains(list, "HR012023001") || !strings.Contains(list, "B0001") {
		t.Errorf("employee list on the target:\n%s", list)
	}
	file := filepath.Join(t.TempDir(), "pg.json.gz")
	if out := onPG.ok("", "backup", "--out", file); strings.Contains(out, "pw-Never-Printed") || !strings.Contains(out, "backed up postgres") {
		t.Errorf("backup of the postgres store:\n%s", out)
	}
	back := withKeysOf(t, src)
	back.ok("", "restore", "--in", file)
	storagetest.WantSameRecords(t, "sqlite restored from the postgres backup", records(t, back.dbPath()), want)
}
