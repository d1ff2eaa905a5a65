package storagetest

import (
	"slices"
	"testing"

	"github.com/gongpai/gongpai/storage"
)

// testSearchEmployeesByEmail: Email matches the whole address without
// regard to case, NotDeparted leaves departed employees out, and both
// combine with paging (SCIM pushes its simple filters and startIndex/count
// down here).
func testSearchEmployeesByEmail(t *testing.T, s adminStore, c *clock) {
	ctx := t.Context()
	seedTree(t, s, c)
	mk := func(sub, id, email string, st storage.EmployeeStatus) {
		e := employee(c, sub, id)
		e.DepartmentID, e.Email, e.Status = deptHR, email, st
		must(t, s.CreateEmployee(ctx, e, "", nil), "CreateEmployee "+id)
	}
	mk("s1", "HR012023001", "zhang.wei@acme.example", storage.StatusActive)
	mk("s2", "HR012023002", "Zhang.Wei@ACME.example", storage.StatusFrozen)
	mk("s3", "HR012023003", "zhang.wei@acme.example", storage.StatusDeparted)
	mk("s4", "HR012023004", "li.na@acme.example", storage.StatusActive)
	mk("s5", "HR012023005", "", storage.StatusActive)
	mk("s6", "HR012023006", "zhang.wei@acme.example.cn", storage.StatusActive)

	ids := func(p *storage.EmployeePage) []string {
		var out []string
		for _, e := range p.Employees {
			out = append(out, e.EmployeeID)
		}
		return out
	}
	tests := []struct {
		name      string
		q         storage.EmployeeQuery
		want      []string
		wantTotal int
	}{
		{"email, any case, whole address", storage.EmployeeQuery{Email: "ZHANG.WEI@acme.example"}, []string{"HR012023001", "HR012023002", "HR012023003"}, 3},
		{"email, not departed", storage.EmployeeQuery{Email: "zhang.wei@acme.example", NotDeparted: true}, []string{"HR012023001", "HR012023002"}, 2},
		{"email, active", storage.EmployeeQuery{Email: "zhang.wei@acme.example", Status: storage.StatusActive}, []string{"HR012023001"}, 1},
		{"email, no match", storage.EmployeeQuery{Email: "nobody@acme.example"}, nil, 0},
		{"email is not a pattern", storage.EmployeeQuery{Email: "%@acme.example"}, nil, 0},
		{"not departed, paged", storage.EmployeeQuery{NotDeparted: true, Offset: 1, Limit: 2}, []string{"HR012023002", "HR012023004"}, 5},
		{"not departed, past the end", storage.EmployeeQuery{NotDeparted: true, Offset: 10, Limit: 2}, nil, 5},
	}
	for _, tt := range tests {
		got, err := s.SearchEmployees(ctx, tt.q)
		must(t, err, tt.name)
		if !slices.Equal(ids(got), tt.want) || got.Total != tt.wantTotal {
			t.Errorf("%s: got %v (total %d), want %v (total %d)", tt.name, ids(got), got.Total, tt.want, tt.wantTotal)
		}
	}
}
