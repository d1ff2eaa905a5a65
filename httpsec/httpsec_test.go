package httpsec_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gongpai/gongpai/httpsec"
)

func TestClientIP(t *testing.T) {
	tests := []struct {
		name   string
		trust  bool
		remote string
		xff    []string
		want   string
	}{
		{"remote addr", false, "192.0.2.7:5555", nil, "192.0.2.7"},
		{"xff ignored unless trusted", false, "10.0.0.1:5555", []string{"203.0.113.9"}, "10.0.0.1"},
		{"last xff entry when trusted", true, "10.0.0.1:5555", []string{"203.0.113.9, 198.51.100.2"}, "198.51.100.2"},
		{"last xff header when trusted", true, "10.0.0.1:5555", []string{"203.0.113.9", "198.51.100.2"}, "198.51.100.2"},
		{"garbage xff falls back", true, "10.0.0.1:5555", []string{"nonsense"}, "10.0.0.1"},
		{"ipv6", false, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"ipv4-mapped", false, "[::ffff:192.0.2.1]:443", nil, "192.0.2.1"},
		{"no port", false, "192.0.2.8", nil, "192.0.2.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := httpsec.ClientIP(r, tt.trust); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRateKey(t *testing.T) {
	for ip, want := range map[string]string{
		"2001:db8:1:2:3:4:5:6": "login:ip:2001:db8:1:2::/64",
		"192.0.2.1":            "login:ip:192.0.2.1",
		"not an ip":            "login:ip:not an ip",
	} {
		if got := httpsec.RateKey("login:ip:", ip); got != want {
			t.Errorf("RateKey(%q) = %q, want %q", ip, got, want)
		}
	}
}

func TestStrictTransport(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, secure := range []bool{true, false} {
		rec := httptest.NewRecorder()
		httpsec.StrictTransport(ok, secure).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if got := rec.Header().Get("Strict-Transport-Security"); (got == httpsec.HSTS) != secure {
			t.Errorf("secure=%v: Strict-Transport-Security %q", secure, got)
		}
	}
}
