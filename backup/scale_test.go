package backup_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// TestSeedScale (GONGPAI_SCALE_DB=path) fills a sqlite file with a
// 100,000-employee directory — each with a role grant, an audit event and
// a refresh token; random salts, hashes, seeds and token IDs as in real
// data — for measuring backup, restore and migrate-store by hand
// (docs/operations.md has the figures):
//
//	GONGPAI_SCALE_DB=/tmp/scale/src.db go test -run TestSeedScale ./backup/
//	GONGPAI_STORE_DSN=/tmp/scale/src.db /usr/bin/time -v gongpai backup --out /tmp/scale/b.json.gz
func TestSeedScale(t *testing.T) {
	path := os.Getenv("GONGPAI_SCALE_DB")
	if path == "" {
		t.Skip("set GONGPAI_SCALE_DB")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	s.CreateEntity(ctx, &storage.LegalEntity{Code: "ACME", Name: "ACME", IDRule: "{dept}{yyyy}{seq:5}", CreatedAt: now})
	for d := range 100 {
		s.CreateDepartment(ctx, &storage.Department{ID: fmt.Sprintf("dept-%03d", d), Entity: "ACME", Code: fmt.Sprintf("D%03d", d), Name: "部门", CreatedAt: now})
	}
	const n = 100_000
	for b := 0; b < n; b += 1000 {
		var ws []storage.EmployeeWrite
		for i := b; i < b+1000; i++ {
			sub := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
			ws = append(ws, storage.EmployeeWrite{Create: true, SeqKey: "ACME/D2025", MakeID: func(n int64) (string, error) { return fmt.Sprintf("D2025%06d", n), nil },
				Employee: &storage.Employee{Subject: sub, Entity: "ACME", DepartmentID: fmt.Sprintf("dept-%03d", i%100),
					Name: "张伟 " + sub[:8], Email: sub[:8] + "@acme.example", Title: "Engineer", Status: storage.StatusActive,
					PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$" + random(16) + "$" + random(32),
					TOTPSecret:   []byte("v1.70482a50." + random(48)),
					Version:      1, CreatedAt: now, UpdatedAt: now},
				Grants: []storage.RoleGrant{{Role: "staff", CreatedAt: now}},
				Audit:  &storage.AuditEvent{ID: "aud-" + sub, At: now, Actor: "cli", Action: "employee.create", Reason: "import"},
			})
		}
		if err := s.WriteEmployees(ctx, ws); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		s.CreateRefreshToken(ctx, &storage.RefreshToken{ID: random(32), FamilyID: random(16), ClientID: "oa",
			Subject: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), Scopes: []string{"openid", "offline_access"}, Audience: []string{"oa"},
			AuthTime: now, AMR: []string{"pwd", "otp"}, ACR: "urn:gongpai:mfa", SessionID: "s", CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour)})
	}
}

// random is n random bytes in unpadded base64.
func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}
