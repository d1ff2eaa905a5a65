package directory_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
	"github.com/gongpai/gongpai/storage/sqlite"
)

var _ directory.Store = (*sqlite.Store)(nil)

// The same directory over the real sqlite store: what the fake cannot
// show (transactional sequences under concurrency, the store skipping
// numbers HR took by hand, the real TOTP-step record).
func TestWithSQLite(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2023, 3, 15, 12, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"), sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := seal.New(bytes.Repeat([]byte{9}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	d := directory.New(st, sealer, directory.Options{Argon2: cheapArgon2, TOTPSkew: 1, Now: clock.Now})
	if _, err := d.CreateEntity(ctx, "ACME", "ACME Ltd", "{dept}{yyyy}{seq:3}"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateEntity(ctx, "ACME", "again", "{seq:3}"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("duplicate entity = %v, want ErrConflict", err)
	}
	if _, err := d.CreateDepartment(ctx, "ACME", "CORP", "Head office", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateDepartment(ctx, "ACME", "HR01", "People", "CORP"); err != nil {
		t.Fatal(err)
	}
	in := directory.Onboarding{Entity: "ACME", Department: "HR01", Name: "Li Lei", Password: goodPassword}

	var ids []string
	for range 2 {
		e, err := d.Onboard(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.EmployeeID)
	}
	if !slices.Equal(ids, []string{"HR012023001", "HR012023002"}) {
		t.Errorf("generated %v, want HR012023001, HR012023002", ids)
	}

	// HR hands out 003 by hand; the next generated ID steps over it.
	given := in
	given.EmployeeID = "HR012023003"
	if _, err := d.Onboard(ctx, given); err != nil {
		t.Fatal(err)
	}
	if e, err := d.Onboard(ctx, in); err != nil || e.EmployeeID != "HR012023004" {
		t.Errorf("after a hand-given 003, generated %v, %v; want HR012023004", e, err)
	}

	// Concurrent onboardings get distinct numbers.
	var mu sync.Mutex
	var wg sync.WaitGroup
	got := map[string]bool{}
	for range 8 {
		wg.Go(func() {
			e, err := d.Onboard(ctx, in)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[e.EmployeeID] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(got) != 8 {
		t.Errorf("8 concurrent onboardings got %d distinct IDs: %v", len(got), got)
	}

	// Password, TOTP enrolment, replay, identity.
	e, err := d.CheckPassword(ctx, "hr012023001", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CheckPassword(ctx, "HR019999999", goodPassword); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("unknown ID = %v", err)
	}
	if err := d.VerifyTOTP(ctx, e.Subject, "123456"); !errors.Is(err, directory.ErrTOTPNotEnrolled) {
		t.Errorf("VerifyTOTP before enrolment = %v", err)
	}
	k, err := d.NewTOTPKey(ctx, e.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.EnrolTOTP(ctx, e.Subject, k.Secret, code(t, k.Secret, clock.Now())); err != nil {
		t.Fatal(err)
	}
	clock.Add(30 * time.Second)
	c := code(t, k.Secret, clock.Now())
	if err := d.VerifyTOTP(ctx, e.Subject, c); err != nil {
		t.Errorf("VerifyTOTP = %v", err)
	}
	if err := d.VerifyTOTP(ctx, e.Subject, c); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("replayed code = %v, want ErrBadCredentials", err)
	}
	if err := d.GrantRole(ctx, e.EmployeeID, "hr", "HR01"); err != nil {
		t.Fatal(err)
	}
	id, err := d.Identity(ctx, e.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if id.EmployeeID != "HR012023001" || id.Entity != "ACME" || id.Department != "HR01" || id.DepartmentName != "People" ||
		!slices.Equal(id.DepartmentPath, []string{"CORP", "HR01"}) || len(id.DepartmentIDs) != 2 ||
		!slices.Equal(id.Roles, []string{"employee", "hr"}) {
		t.Errorf("Identity = %+v", id)
	}
}
