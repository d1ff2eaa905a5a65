package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gongpai/gongpai/storage/sqlite"
)

func TestClientAddBackchannelLogoutURI(t *testing.T) {
	c := newCLI(t)
	const uri = "https://erp.acme.example/oidc/backchannel?tenant=acme"
	c.ok("", "client", "add", "--id", "erp", "--redirect-uri", "https://erp.acme.example/cb", "--backchannel-logout-uri", uri)

	tests := []struct{ uri, why string }{
		{"http://erp.acme.example/bcl", "plain http off loopback"},
		{"https://erp.acme.example/bcl#x", "a fragment"},
		{"erp.acme.example/bcl", "not absolute"},
	}
	for i, tt := range tests {
		code, _, errOut := c.run("", "client", "add", "--id", "bad"+string(rune('a'+i)), "--redirect-uri", "https://erp.acme.example/cb", "--backchannel-logout-uri", tt.uri)
		if code != 1 || !strings.Contains(errOut, "E-201 backchannel_logout_uri") {
			t.Errorf("%s (%q): exit %d, %q; want E-201 backchannel_logout_uri", tt.why, tt.uri, code, errOut)
		}
	}

	var dsn string
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "GONGPAI_STORE_DSN="); ok {
			dsn = v
		}
	}
	st, err := sqlite.Open(context.Background(), filepath.Clean(dsn), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cl, err := st.Client(context.Background(), "erp")
	if err != nil || cl.BackchannelLogoutURI != uri {
		t.Errorf("stored client %+v, %v; want backchannel_logout_uri %s", cl, err, uri)
	}
}
