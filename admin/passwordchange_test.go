package admin_test

import (
	"net/http"
	"testing"
)

// TestPasswordChangeRequiredShown: the admin API says which employees
// still hold a password HR set — onboarded with one, or reset — and so
// must choose their own at the next sign-in.
func TestPasswordChangeRequiredShown(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		create   map[string]string
		wantFlag bool
	}{
		{"with an initial password", map[string]string{"entity": "ACME", "department": "HR02", "name": "New Hire", "password": "an initial passphrase"}, true},
		{"without a password", map[string]string{"entity": "ACME", "department": "HR02", "name": "No Password Yet"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := f.do("hrGlobal", "POST", "/admin/api/v1/employees", tt.create)
			if st != http.StatusCreated || body["password_change_required"] != tt.wantFlag {
				t.Fatalf("onboarding: %d %v, want 201 with password_change_required %v", st, body, tt.wantFlag)
			}
			emp := "/admin/api/v1/employees/" + body["sub"].(string)
			if st, body := f.do("hrGlobal", "POST", emp+"/reset-password", map[string]string{"reason": "handing over"}); st != http.StatusOK || body["password"] == nil {
				t.Fatalf("reset: %d %v", st, body)
			}
			if st, body := f.do("hrGlobal", "GET", emp, nil); st != http.StatusOK || body["password_change_required"] != true {
				t.Errorf("after a reset: %d %v, want password_change_required true", st, body)
			}
		})
	}
}
