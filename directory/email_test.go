package directory_test

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage/sqlite"
)

// Identity.EmailVerified — the email_verified claim — is true only for an
// address no other employee who has not left shares, ignoring case.
func TestEmailVerifiedOnlyWhenUnique(t *testing.T) {
	ctx := t.Context()
	clock := &fakeClock{t: time.Date(2024, 5, 2, 9, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"), sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := seal.New(bytes.Repeat([]byte{5}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	d := directory.New(st, sealer, directory.Options{Argon2: cheapArgon2, Now: clock.Now})
	m := directory.NewManager(d, st, st, directory.ManagerOptions{})
	if _, err := d.CreateEntity(ctx, "ACME", "ACME Ltd", "{dept}{yyyy}{seq:3}"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateDepartment(ctx, "ACME", "HR01", "People", ""); err != nil {
		t.Fatal(err)
	}
	onboard := func(name, email string) string {
		t.Helper()
		e, err := m.Onboard(ctx, "test", directory.Onboarding{Entity: "ACME", Department: "HR01", Name: name, Email: email, Password: goodPassword}, false)
		if err != nil {
			t.Fatal(err)
		}
		return e.Subject
	}
	verified := func(sub string) bool {
		t.Helper()
		id, err := d.Identity(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		return id.EmailVerified
	}
	alone := onboard("Li Lei", "li.lei@acme.example")
	first := onboard("Wang Fang", "shared@acme.example")
	none := onboard("Zhao Lei", "")
	if !verified(alone) || !verified(first) || verified(none) {
		t.Fatalf("unique addresses: %v %v, none: %v", verified(alone), verified(first), verified(none))
	}
	// A second employee with the same address, in another case: neither
	// is verified any more.
	second := onboard("Wang Fang 2", "SHARED@acme.example")
	if verified(first) || verified(second) {
		t.Error("a shared address is verified")
	}
	// A frozen holder still counts; a departed one does not.
	if _, err := m.Freeze(ctx, "test", second, "case"); err != nil {
		t.Fatal(err)
	}
	if verified(first) {
		t.Error("verified while a frozen employee shares the address")
	}
	if _, err := m.Leave(ctx, "test", second, "left"); err != nil {
		t.Fatal(err)
	}
	if !verified(first) {
		t.Error("not verified once the other holder left")
	}
	if !verified(alone) {
		t.Error("an unrelated address lost its verification")
	}
}
