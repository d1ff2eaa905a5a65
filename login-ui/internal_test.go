package loginui

import (
	"net/http/httptest"
	"testing"
)

func TestCSPSource(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://wiki.example.com/callback?x=1", "https://wiki.example.com", true},
		{"http://127.0.0.1:8080/cb", "http://127.0.0.1:8080", true},
		{"HTTPS://App.Example/cb", "https://App.Example", true},
		{"com.example.app:/oauth2redirect", "com.example.app:", true},
		{"https://evil.example;script-src/x", "", false},
		{"/relative", "", false},
		{"https:///nohost", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := cspSource(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cspSource(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestGroupKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"ABC", "ABC"},
		{"ABCD", "ABCD"},
		{"ABCDEFGHIJ", "ABCD EFGH IJ"},
	}
	for _, tt := range tests {
		if got := groupKey(tt.in); got != tt.want {
			t.Errorf("groupKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name   string
		trust  bool
		remote string
		xff    []string
		want   string
	}{
		{"remote addr", false, "192.0.2.7:5555", nil, "192.0.2.7"},
		{"xff ignored by default", false, "192.0.2.7:5555", []string{"198.51.100.1"}, "192.0.2.7"},
		{"xff last entry when trusted", true, "10.0.0.1:5555", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1"},
		{"last xff header when trusted", true, "10.0.0.1:5555", []string{"203.0.113.9", "198.51.100.2"}, "198.51.100.2"},
		{"garbage xff falls back", true, "10.0.0.1:5555", []string{"nonsense"}, "10.0.0.1"},
		{"ipv6", false, "[2001:db8::1]:443", nil, "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &handler{o: Options{TrustProxyHeaders: tt.trust}}
			r := httptest.NewRequest("GET", "/login", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := h.clientIP(r); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRateKeyIP(t *testing.T) {
	if got, want := rateKeyIP("2001:db8:1:2:3:4:5:6"), "login:ip:2001:db8:1:2::/64"; got != want {
		t.Errorf("rateKeyIP v6 = %q, want %q", got, want)
	}
	if got, want := rateKeyIP("192.0.2.1"), "login:ip:192.0.2.1"; got != want {
		t.Errorf("rateKeyIP v4 = %q, want %q", got, want)
	}
}

func TestCatalogueComplete(t *testing.T) {
	for key := range catalogue["en"] {
		for _, lang := range langCodes {
			if _, ok := catalogue[lang][key]; !ok {
				t.Errorf("%s lacks %q", lang, key)
			}
		}
	}
	for _, lang := range langCodes {
		if len(catalogue[lang]) != len(catalogue["en"]) {
			t.Errorf("%s has %d strings, en has %d", lang, len(catalogue[lang]), len(catalogue["en"]))
		}
	}
}
