package op_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// Every refused client authentication at the token, introspection and
// revocation endpoints is logged at warn with the client_id and the
// caller's IP, never the secret.
func TestFailedClientAuthenticationLogged(t *testing.T) {
	var logs syncBuffer
	e := newEnvWith(t, envOptions{logTo: &logs})
	const guess = "guessed-secret-0123456789"
	send := func(path, clientID, secret string, form url.Values) int {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(clientID, secret)
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		name, path, client string
		form               url.Values
		reason             string
	}{
		{"token, wrong secret", "/oauth/token", "web", refreshForm("x"), "wrong client secret"},
		{"token, unknown client", "/oauth/token", "nobody", refreshForm("x"), "unknown client"},
		{"client_credentials, wrong secret", "/oauth/token", "svc", url.Values{"grant_type": {"client_credentials"}}, "wrong client secret"},
		{"introspection, wrong secret", "/oauth/introspect", "web", url.Values{"token": {"x"}}, "wrong client secret"},
		{"introspection, unknown client", "/oauth/introspect", "nobody", url.Values{"token": {"x"}}, "unknown client"},
		{"revocation, wrong secret", "/revoke", "web", url.Values{"token": {"x"}}, "wrong client secret"},
		{"revocation, unknown client", "/revoke", "nobody", url.Values{"token": {"x"}}, "unknown client"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs.take()
			if st := send(tt.path, tt.client, guess, tt.form); st != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", st)
			}
			out := logs.take()
			line := ""
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "client authentication failed") {
					line = l
				}
			}
			for _, want := range []string{"level=WARN", "client_id=" + tt.client, "remote_ip=127.0.0.1", "endpoint=" + tt.path, `reason="` + tt.reason + `"`} {
				if !strings.Contains(line, want) {
					t.Errorf("log line %q lacks %s (whole log: %q)", line, want, out)
				}
			}
			if strings.Contains(out, guess) {
				t.Errorf("the presented secret was logged: %q", out)
			}
		})
	}
	// A successful authentication logs nothing of the kind.
	logs.take()
	if st := send("/oauth/introspect", "web", e.secrets["web"], url.Values{"token": {"x"}}); st != http.StatusOK {
		t.Fatalf("introspection with the right secret: %d", st)
	}
	if out := logs.take(); strings.Contains(out, "client authentication failed") {
		t.Errorf("successful authentication logged as failed: %q", out)
	}
}
