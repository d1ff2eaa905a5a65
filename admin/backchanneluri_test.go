package admin_test

import (
	"net/http"
	"testing"
)

// backchannel_logout_uri is validated as op.NewClient validates it, on
// create and on change: absolute https (http only to a loopback host),
// no fragment.
func TestBackchannelLogoutURIValidated(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		uri  string
		want int
	}{
		{"javascript:alert(1)", http.StatusBadRequest},
		{"data:text/html,<script>alert(1)</script>", http.StatusBadRequest},
		{"http://erp.acme.example/bc", http.StatusBadRequest},
		{"https://erp.acme.example/bc#frag", http.StatusBadRequest},
		{"/relative/bc", http.StatusBadRequest},
		{"https:///nohost", http.StatusBadRequest},
		{"https://erp.acme.example/oidc/backchannel?tenant=1", http.StatusOK},
		{"http://127.0.0.1:9000/bc", http.StatusOK},
		{"http://[::1]:9000/bc", http.StatusOK},
	} {
		st, body := f.do("adminGlobal", "PATCH", "/admin/api/v1/clients/demo", map[string]any{"backchannel_logout_uri": tt.uri})
		if st != tt.want {
			t.Errorf("PATCH %q: %d %v, want %d", tt.uri, st, body, tt.want)
		}
		if tt.want == http.StatusBadRequest && (body["code"] != "E-201" || body["field"] != "backchannel_logout_uri") {
			t.Errorf("PATCH %q: %v, want E-201 naming backchannel_logout_uri", tt.uri, body)
		}
		if tt.want == http.StatusOK && body["backchannel_logout_uri"] != tt.uri {
			t.Errorf("PATCH %q: stored %v", tt.uri, body["backchannel_logout_uri"])
		}
		create := map[string]any{"id": "bc-test", "redirect_uris": []string{"https://erp.acme.example/cb"}, "backchannel_logout_uri": tt.uri}
		st, body = f.do("adminGlobal", "POST", "/admin/api/v1/clients", create)
		want := tt.want
		if want == http.StatusOK {
			want = http.StatusCreated
		}
		if st != want {
			t.Errorf("POST with %q: %d %v, want %d", tt.uri, st, body, want)
		}
		if st == http.StatusCreated {
			f.do("adminGlobal", "DELETE", "/admin/api/v1/clients/bc-test?reason=test", nil)
		}
	}
	// The refused values were never stored.
	if _, body := f.do("adminGlobal", "GET", "/admin/api/v1/clients/demo", nil); body["backchannel_logout_uri"] != "http://[::1]:9000/bc" {
		t.Errorf("stored URI: %v", body["backchannel_logout_uri"])
	}
}
