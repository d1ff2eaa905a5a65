package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cli runs the command in-process against a data directory of its own.
type cli struct {
	t   *testing.T
	env []string
}

func newCLI(t *testing.T) *cli {
	dir := t.TempDir()
	return &cli{t: t, env: []string{
		"GONGPAI_DATA_DIR=" + dir,
		"GONGPAI_STORE_DSN=" + filepath.Join(dir, "gongpai.db"),
		"GONGPAI_PASSWORD_MEMORY_KIB=8192", "GONGPAI_PASSWORD_TIME=1",
	}}
}

func (c *cli) run(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, stdio{in: strings.NewReader(stdin), out: &out, err: &errOut}, c.env)
	return code, out.String(), errOut.String()
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("gongpai %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestUsageAndHelp(t *testing.T) {
	c := newCLI(t)
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string // in stdout or stderr
	}{
		{nil, 0, "Commands:"},
		{[]string{"--help"}, 0, "employee add"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"employee", "add", "--help"}, 0, "-totp-seed"},
		{[]string{"client", "add", "--help"}, 0, "-redirect-uri"},
		{[]string{"entity", "add"}, 2, "missing required flag --code"},
		{[]string{"dept", "add", "--entity", "ACME"}, 2, "missing required flag --code"},
		{[]string{"serve", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"serve", "stray"}, 2, `unexpected argument "stray"`},
		{[]string{"version"}, 0, "gongpai dev"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := c.run("", tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if !strings.Contains(out+errOut, tt.wantOut) {
				t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", tt.wantOut, out, errOut)
			}
		})
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	c := newCLI(t)
	c.env = append(c.env, "GONGPAI_TOKENS_CODE_TTL=1h", "GONGPAI_ISSUER=http://sso.acme.example")
	code, _, errOut := c.run("", "migrate")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{"E-201 invalid configuration", "tokens.code_ttl", "issuer"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q: %s", want, errOut)
		}
	}
}

func TestDirectoryCommands(t *testing.T) {
	c := newCLI(t)
	c.ok("", "entity", "add", "--code", "acme", "--name", "ACME Group", "--id-rule", "{dept}{yyyy}{seq:3}")
	c.ok("", "dept", "add", "--entity", "ACME", "--code", "HR01", "--name", "Human Resources")

	out := c.ok("a long enough password\n", "employee", "add", "--entity", "ACME", "--dept", "hr01", "--name", "Zhang Wei", "--hired", "2023-03-01")
	if !strings.Contains(out, "HR012023001") {
		t.Errorf("first onboarding got %q, want the generated ID HR012023001", out)
	}
	if !strings.Contains(out, "first sign-in only") || !strings.Contains(out, "must choose a new one") {
		t.Errorf("onboarding does not say the initial password must be changed at first sign-in: %q", out)
	}
	out = c.ok("another long password\n", "employee", "add", "--entity", "ACME", "--dept", "HR01", "--name", "Li Na", "--hired", "2023-06-01")
	if !strings.Contains(out, "HR012023002") {
		t.Errorf("second onboarding got %q, want HR012023002", out)
	}

	t.Run("errors carry stable codes", func(t *testing.T) {
		tests := []struct {
			name  string
			stdin string
			args  []string
			want  string
		}{
			{"duplicate ID", "a long enough password\n", []string{"employee", "add", "--entity", "ACME", "--dept", "HR01", "--name", "X", "--id", "HR012023001", "--hired", "2023-01-01"}, "E-205"},
			{"no password on stdin", "", []string{"employee", "add", "--entity", "ACME", "--dept", "HR01", "--name", "X"}, "E-201 password"},
			{"bad hire date", "pw\n", []string{"employee", "add", "--entity", "ACME", "--dept", "HR01", "--name", "X", "--hired", "March"}, "E-201 hired"},
			{"bad ID rule", "", []string{"entity", "add", "--code", "BETA", "--name", "Beta", "--id-rule", "{dept}{nope}"}, "E-201"},
			{"unknown department", "a long enough password\n", []string{"employee", "add", "--entity", "ACME", "--dept", "NOPE", "--name", "X"}, "E-201"},
			{"bad TOTP seed", "a long enough password\n", []string{"employee", "add", "--entity", "ACME", "--dept", "HR01", "--name", "X", "--totp-seed", "not base32!"}, "E-201"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, _, errOut := c.run(tt.stdin, tt.args...)
				if code != 1 || !strings.Contains(errOut, tt.want) {
					t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, tt.want)
				}
			})
		}
	})

	c.ok("", "role", "grant", "--employee", "hr012023001", "--role", "hr")
	list := c.ok("", "employee", "list")
	if !strings.Contains(list, "HR012023002") || !strings.Contains(list, "Li Na") {
		t.Errorf("employee list lacks the onboarded employees:\n%s", list)
	}
	if !regexp.MustCompile(`HR012023001\s+Zhang Wei\s+ACME\s+active\s+no\s+initial\s`).MatchString(list) {
		t.Errorf("employee list does not show the initial password waiting to be changed:\n%s", list)
	}
	out = c.ok("", "employee", "reset-password", "--employee", "HR012023002", "--reason", "forgot it", "--generate")
	if !strings.Contains(out, "new password: ") || !strings.Contains(out, "must be chosen at the next sign-in") {
		t.Errorf("reset-password --generate printed %q: want the password and that it must be changed", out)
	}
}

func TestClientAddPrintsTheSecretOnce(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "client", "add", "--id", "erp", "--name", "ERP", "--redirect-uri", "https://erp.acme.example/cb")
	m := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(out)
	if m == nil || len(m[1]) < 43 {
		t.Fatalf("client add printed no 256-bit secret:\n%s", out)
	}
	if list := c.ok("", "client", "list"); strings.Contains(list, m[1]) || !strings.Contains(list, "https://erp.acme.example/cb") {
		t.Errorf("client list must show the client but never its secret:\n%s", list)
	}
	code, _, errOut := c.run("", "client", "add", "--id", "erp", "--redirect-uri", "https://erp.acme.example/cb")
	if code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate client: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = c.run("", "client", "add", "--id", "bad", "--redirect-uri", "https://erp.acme.example/cb#frag")
	if code != 1 || !strings.Contains(errOut, "E-201") {
		t.Errorf("redirect URI with a fragment: exit %d, stderr %q; want E-201", code, errOut)
	}
}

func TestDemoSeedsOnce(t *testing.T) {
	c := newCLI(t)
	a, err := openApp(context.Background(), "", stdio{err: &bytes.Buffer{}}, c.env)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var first, second bytes.Buffer
	if err := seedDemo(context.Background(), a, &first); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HR012023001", "FIN012023001", "IT012023001", "client_id demo-oa", "client_secret", DemoRedirectURI} {
		if !strings.Contains(first.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, first.String())
		}
	}
	if err := seedDemo(context.Background(), a, &second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(second.String(), "already seeded") || strings.Contains(second.String(), "client_secret") {
		t.Errorf("second seeding: %q", second.String())
	}
	ids, err := a.store.ListEmployees(context.Background())
	if err != nil || len(ids) != 3 {
		t.Errorf("after seeding twice: %d employees (err %v), want 3", len(ids), err)
	}
}
