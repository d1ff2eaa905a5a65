package e2e

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestReadmeQuickStart follows the README: `serve --demo`, then the example
// relying party with the printed client secret, then a demo employee signs
// in through a browser, enrolling an authenticator app on the way.
func TestReadmeQuickStart(t *testing.T) {
	// The demo client's redirect URI is fixed at 127.0.0.1:9000.
	if ln, err := net.Listen("tcp", "127.0.0.1:9000"); err != nil {
		t.Fatalf("port 9000, where the demo client returns, is taken: %v", err)
	} else {
		ln.Close()
	}
	b := newBrowser(t) // skips loudly without chromium, before anything starts
	s := startServerArgs(t, "", []string{"--demo"})
	out := s.logs.String()
	emp := regexp.MustCompile(`(?m)^\s+(HR012023001)\s+(\S+)\s`).FindStringSubmatch(out)
	secret := regexp.MustCompile(`client_secret (\S+)`).FindStringSubmatch(out)
	if emp == nil || secret == nil {
		t.Fatalf("serve --demo did not print the employee and client secret:\n%s", out)
	}

	rpBin := filepath.Join(t.TempDir(), "rp")
	if out, err := exec.Command("go", "build", "-o", rpBin, "../examples/rp").CombinedOutput(); err != nil {
		t.Fatalf("building examples/rp: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rp := exec.CommandContext(ctx, rpBin, "-issuer", s.Issuer, "-client-id", "demo-oa", "-client-secret", secret[1])
	rpLogs := &syncBuffer{}
	rp.Stdout, rp.Stderr = rpLogs, rpLogs
	if err := rp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = rp.Wait()
		if t.Failed() {
			t.Logf("examples/rp output:\n%s", rpLogs.String())
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := http.Get("http://127.0.0.1:9000/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("examples/rp did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	b.run(t, chromedp.Navigate("http://127.0.0.1:9000/"), chromedp.Click(chromedp.CSS(`a[href="/login"]`)),
		submitPassword(emp[1], emp[2]))
	key := strings.ReplaceAll(b.text(t, selTOTPSecret), " ", "")
	b.run(t, submitCode(totpCode(t, key, time.Now())), visible("pre"))
	claims := b.text(t, "pre")
	for _, want := range []string{`"employee_id": "HR012023001"`, `"department": "HR01"`, `"hr"`, `"mfa"`} {
		if !strings.Contains(claims, want) {
			t.Errorf("the example app's claims lack %s:\n%s", want, claims)
		}
	}
}
