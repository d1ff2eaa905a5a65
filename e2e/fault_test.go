package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage/postgres/pgtest"
	"github.com/gongpai/gongpai/storage/redis/redistest"
)

// status fetches u with a bound on the wait: an outage must fail fast, and
// a request that outlives the client's timeout is a hang.
func status(t testing.TB, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v (a request during an outage must answer, not hang)", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBackendFaults stops redis, then postgres, under a running server:
// requests fail fast with 503 and a code, and the same process recovers
// when each comes back.
func TestBackendFaults(t *testing.T) {
	pg := pgtest.StartServer(t)
	rs := redistest.Start(t)
	s := startServer(t, productionEnv(pg.DSN("postgres"), rs.Addr())...)
	co := s.seedCompany(t)
	rp := newRelyingParty(t, s, "oa")
	fb := newFormBrowser(t, s.URL, rp)
	fb.c.Timeout = 10 * time.Second
	cb, err := fb.signIn(rp.StartURL(""), co.seeded.ID, co.seeded.Password, totpCode(t, co.seeded.TOTPSeed, time.Now()))
	if err != nil || cb.Get("code") == "" {
		t.Fatalf("sign-in before the faults: %v %v", err, cb)
	}
	tok, err := rp.exchange(cb.Get("code"), rp.takeFlow(cb.Get("state")).Verifier)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	refresh := func() *http.Request {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rp.conf.ClientID, rp.conf.ClientSecret)
		return req
	}
	ready := func() *http.Request { r, _ := http.NewRequest(http.MethodGet, s.URL+"/ready", nil); return r }

	t.Run("redis down", func(t *testing.T) {
		rs.Stop()
		if code, body := status(t, client, ready()); code != http.StatusServiceUnavailable {
			t.Errorf("/ready with redis down: %d %s, want 503", code, body)
		}
		// Issuing the new access token needs redis: 503, and the refresh
		// token must survive the failed attempt.
		if code, body := status(t, client, refresh()); code != http.StatusServiceUnavailable || !strings.Contains(body, "server_error") {
			t.Errorf("refresh with redis down: %d %s, want 503 server_error", code, body)
		}
		// A new sign-in cannot even start; the app hears so at once.
		_, cb, err := newFormBrowser(t, s.URL, rp).get(rp.StartURL(""))
		if err == nil && cb.Get("error") == "" {
			t.Errorf("/authorize with redis down: no error (callback %v)", cb)
		}
	})
	t.Run("redis back", func(t *testing.T) {
		rs.Restart()
		waitReady(t, client, ready)
		// This redis keeps nothing on disk: sessions are gone, so sign in
		// again (the next step's code: the last one used was forgotten too).
		fresh := newFormBrowser(t, s.URL, rp)
		cb, err := fresh.signIn(rp.StartURL(""), co.seeded.ID, co.seeded.Password, totpCode(t, co.seeded.TOTPSeed, time.Now().Add(30*time.Second)))
		if err != nil || cb.Get("code") == "" {
			t.Fatalf("sign-in after redis came back: %v %v", err, cb)
		}
	})

	t.Run("postgres down", func(t *testing.T) {
		if err := pg.Stop(); err != nil {
			t.Fatal(err)
		}
		if code, body := status(t, client, ready()); code != http.StatusServiceUnavailable {
			t.Errorf("/ready with postgres down: %d %s, want 503", code, body)
		}
		if code, body := status(t, client, refresh()); code != http.StatusServiceUnavailable {
			t.Errorf("refresh with postgres down: %d %s, want 503", code, body)
		}
		// The password step reads the directory: a 503 page with its code.
		fb := newFormBrowser(t, s.URL, rp)
		page, _, err := fb.get(rp.StartURL("prompt=login"))
		if err != nil {
			t.Fatalf("login page: %v", err)
		}
		csrf, ar := csrfField.FindStringSubmatch(page), authReqFeld.FindStringSubmatch(page)
		if csrf == nil || ar == nil {
			t.Fatalf("no login form: %.300s", page)
		}
		form := url.Values{"csrf": {csrf[1]}, "authRequestID": {ar[1]}, "employee_id": {co.seeded.ID},
			"password": {currentPassword(s.URL, co.seeded.ID, co.seeded.Password)}}
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/login/password", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := fb.c.Do(req)
		if err != nil {
			t.Fatalf("password step with postgres down: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "E-503") {
			t.Errorf("password step with postgres down: %d, want 503 with E-503; body %.300s", resp.StatusCode, body)
		}
	})
	t.Run("postgres back", func(t *testing.T) {
		if err := pg.Start(); err != nil {
			t.Fatal(err)
		}
		waitReady(t, client, ready)
		if code, body := status(t, client, refresh()); code != http.StatusOK {
			t.Errorf("refresh after postgres came back: %d %s — the outage burnt the token", code, body)
		}
	})
}

// waitReady polls /ready until the server reports its backends healthy.
func waitReady(t testing.TB, c *http.Client, ready func() *http.Request) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Do(ready())
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not recover within 30s of its backend (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
