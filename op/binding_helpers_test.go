package op_test

import (
	"net/http"
	"net/http/cookiejar"
	"testing"
)

// newBrowserClient is one browser: its own cookie jar (the browser-binding
// cookie /authorize sets must come back at the callback), and redirects
// are not followed, so tests see every hop.
func newBrowserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
