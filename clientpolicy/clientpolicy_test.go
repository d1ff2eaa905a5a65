package clientpolicy_test

import (
	"slices"
	"testing"

	"github.com/gongpai/gongpai/clientpolicy"
	"github.com/gongpai/gongpai/storage"
)

func TestAdmits(t *testing.T) {
	hr := &storage.Identity{DepartmentIDs: []string{"hq", "hr", "hr-payroll"}, Roles: []string{"employee", "hr"}}
	fin := &storage.Identity{DepartmentIDs: []string{"hq", "fin"}, Roles: []string{"employee"}}
	for _, tt := range []struct {
		name      string
		c         storage.Client
		hr, fin   bool
		restricts bool
	}{
		{"open", storage.Client{}, true, true, false},
		{"department subtree", storage.Client{AllowedDepartments: []string{"hr"}}, true, false, true},
		{"root department", storage.Client{AllowedDepartments: []string{"hq"}}, true, true, true},
		{"role", storage.Client{AllowedRoles: []string{"hr", "admin"}}, true, false, true},
		{"both must match", storage.Client{AllowedDepartments: []string{"fin"}, AllowedRoles: []string{"hr"}}, false, false, true},
	} {
		if got := clientpolicy.Admits(&tt.c, hr); got != tt.hr {
			t.Errorf("%s: Admits(hr) = %v", tt.name, got)
		}
		if got := clientpolicy.Admits(&tt.c, fin); got != tt.fin {
			t.Errorf("%s: Admits(fin) = %v", tt.name, got)
		}
		if got := clientpolicy.Restricted(&tt.c); got != tt.restricts {
			t.Errorf("%s: Restricted = %v", tt.name, got)
		}
	}
}

func TestMFASatisfied(t *testing.T) {
	mfa := &storage.Client{RequireMFA: true}
	if clientpolicy.MFASatisfied(mfa, []string{"pwd"}) || !clientpolicy.MFASatisfied(mfa, []string{"pwd", "otp", "mfa"}) {
		t.Error("RequireMFA client")
	}
	if !clientpolicy.MFASatisfied(&storage.Client{}, nil) {
		t.Error("client without RequireMFA")
	}
}

func TestVisibleRoles(t *testing.T) {
	roles := []string{"admin", "crm:admin", "employee", "erp:approver", "erpx:clerk", "hr"}
	for _, tt := range []struct {
		visible []string
		want    []string
	}{
		{nil, []string{"employee", "erp:approver"}}, // default for client erp
		{[]string{"hr"}, []string{"hr"}},
		{[]string{"crm:*", "employee"}, []string{"crm:admin", "employee"}},
		{[]string{"*"}, roles},
		{[]string{"nothing-held"}, []string{}},
	} {
		got := clientpolicy.VisibleRoles(&storage.Client{ID: "erp", VisibleRoles: tt.visible}, roles)
		if !slices.Equal(got, tt.want) || got == nil {
			t.Errorf("VisibleRoles %q = %#v, want %q", tt.visible, got, tt.want)
		}
	}
}

func TestCheckVisibleRoles(t *testing.T) {
	for _, ok := range [][]string{nil, {"employee"}, {"erp:*"}, {"a:b:*"}, {"*"}, {"erp:approver", "hr"}} {
		if _, err := clientpolicy.CheckVisibleRoles(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"erp*", "*erp", "Erp", ":*", "erp:**", "1x", "a b", "e*p:"} {
		if _, err := clientpolicy.CheckVisibleRoles([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
