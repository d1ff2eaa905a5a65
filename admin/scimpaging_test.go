package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/gongpai/gongpai/admin"
	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/storage"
)

// recordingStore remembers the employee searches the API makes.
type recordingStore struct {
	admin.Store
	mu      sync.Mutex
	queries []storage.EmployeeQuery
}

func (s *recordingStore) SearchEmployees(ctx context.Context, q storage.EmployeeQuery) (*storage.EmployeePage, error) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	return s.Store.SearchEmployees(ctx, q)
}

func (s *recordingStore) last() storage.EmployeeQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[len(s.queries)-1]
}

// GET /scim/v2/Users with no filter or a simple `eq` on userName,
// externalId or emails is one paged store query (startIndex/count pushed
// down, departed employees left out in the store); other filters are
// narrowed in the store and finished in memory, with the same answers.
func TestSCIMUsersPagedInTheStore(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	rec := &recordingStore{Store: f.st}
	h, err := admin.New(admin.Options{Manager: f.m, Store: rec, Tokens: storeTokens{f.st}, Issuer: "https://sso.acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	defer f.srv.Close()

	// 30 more employees, one of whom leaves, one sharing an address.
	var subs []string
	for i := range 30 {
		e, err := f.m.Onboard(ctx, "test", directory.Onboarding{Entity: "ACME", Department: "FIN01", Name: fmt.Sprintf("Bulk %02d", i),
			Email: fmt.Sprintf("bulk%02d@acme.example", i), ExternalID: fmt.Sprintf("bulk-%02d", i)}, true)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, e.Subject)
	}
	if _, err := f.m.Leave(ctx, "test", subs[29], "gone"); err != nil {
		t.Fatal(err)
	}
	const active = 7 + 29 // the fixture's seven people, the bulk minus the leaver

	list := func(query string) map[string]any {
		t.Helper()
		st, body := f.do("svcSCIM", "GET", "/scim/v2/Users?"+query, nil)
		if st != http.StatusOK {
			t.Fatalf("GET Users?%s: %d %v", query, st, body)
		}
		return body
	}
	total := func(b map[string]any) int { return int(b["totalResults"].(float64)) }
	n := func(b map[string]any) int { rs, _ := b["Resources"].([]any); return len(rs) }

	// No filter: pages from the store.
	b := list("startIndex=11&count=10")
	if total(b) != active || n(b) != 10 || b["startIndex"].(float64) != 11 {
		t.Errorf("page 2: total %d, %d resources, %v", total(b), n(b), b["startIndex"])
	}
	if q := rec.last(); q.Limit != 10 || q.Offset != 10 || !q.NotDeparted {
		t.Errorf("store query %+v, want Offset 10 Limit 10 NotDeparted", q)
	}
	if b := list("startIndex=35&count=10"); total(b) != active || n(b) != active-34 {
		t.Errorf("last page: total %d, %d resources", total(b), n(b))
	}
	if b := list("count=0"); total(b) != active || n(b) != 0 {
		t.Errorf("count=0: total %d, %d resources", total(b), n(b))
	}

	// Simple filters: exact, pushed down.
	for _, tt := range []struct {
		filter string
		want   int
		check  func(storage.EmployeeQuery) bool
	}{
		{`emails eq "BULK07@acme.example"`, 1, func(q storage.EmployeeQuery) bool { return q.Email == "BULK07@acme.example" && q.Limit > 0 }},
		{`emails.value eq "bulk07@acme.example"`, 1, func(q storage.EmployeeQuery) bool { return q.Email != "" && q.Limit > 0 }},
		{`externalId eq "bulk-03"`, 1, func(q storage.EmployeeQuery) bool { return q.ExternalID == "bulk-03" && q.Limit > 0 }},
		{`emails eq "bulk29@acme.example"`, 0, func(q storage.EmployeeQuery) bool { return q.NotDeparted && q.Limit > 0 }}, // departed
		{`externalId eq "bulk-29"`, 0, func(q storage.EmployeeQuery) bool { return q.NotDeparted && q.Limit > 0 }},
	} {
		b := list("filter=" + url.QueryEscape(tt.filter))
		if total(b) != tt.want || n(b) != tt.want {
			t.Errorf("%s: total %d, %d resources, want %d", tt.filter, total(b), n(b), tt.want)
		}
		if q := rec.last(); !tt.check(q) {
			t.Errorf("%s: store query %+v", tt.filter, q)
		}
	}
	// userName eq, found through its employee ID.
	_, u := f.do("svcSCIM", "GET", "/scim/v2/Users/"+subs[5], nil)
	userName, _ := u["userName"].(string)
	if b := list("filter=" + url.QueryEscape(`userName eq "`+userName+`"`)); total(b) != 1 || rec.last().Limit == 0 {
		t.Errorf("userName eq: total %d, query %+v", total(b), rec.last())
	}

	// Other filters still work (in memory over the narrowed rows), paged
	// the same way.
	b = list("filter=" + url.QueryEscape(`displayName sw "Bulk"`) + "&startIndex=21&count=5")
	if total(b) != 29 || n(b) != 5 {
		t.Errorf("displayName sw: total %d, %d resources", total(b), n(b))
	}
	if q := rec.last(); q.Limit != 0 || !q.NotDeparted {
		t.Errorf("complex filter: store query %+v, want unpaged, departed left out", q)
	}
}
