package directory_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/storage"
)

const ownPassword = "a passphrase only I know"

// wantRule checks that err is a *FieldError on field naming rule.
func wantRule(t *testing.T, err error, field, rule string) {
	t.Helper()
	var fe *directory.FieldError
	if !errors.As(err, &fe) || fe.Field != field || fe.Rule != rule {
		t.Errorf("got %v, want a FieldError on %s with rule %s", err, field, rule)
	}
}

// TestPasswordChangeRequiredIsSet: a password someone else chose —
// onboarding with one (CLI, admin API, SCIM, the demo) or a reset — must
// be changed at the next sign-in; onboarding without one (import, SCIM
// without a password) sets nothing, as there is nothing to sign in with.
func TestPasswordChangeRequiredIsSet(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	reload := func(sub string) *storage.Employee {
		t.Helper()
		e, err := f.st.Employee(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	withPassword := f.onboard(t)
	if !withPassword.PasswordChangeRequired || !reload(withPassword.Subject).PasswordChangeRequired {
		t.Error("onboarding with an initial password: change not required")
	}
	viaDirectory, err := f.dir.Onboard(ctx, directory.Onboarding{Entity: "ACME", Department: "HR01", Name: "CLI hire", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if !reload(viaDirectory.Subject).PasswordChangeRequired {
		t.Error("Directory.Onboard (CLI, demo) with a password: change not required")
	}
	none, err := f.m.Onboard(ctx, "scim", directory.Onboarding{Entity: "ACME", Department: "HR01", Name: "Provisioned"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if reload(none.Subject).PasswordChangeRequired {
		t.Error("onboarding without a password: change required for a password that does not exist")
	}

	// The employee changes it; a reset (generated or given) sets it again.
	if err := f.dir.ChangePassword(ctx, withPassword.Subject, goodPassword, ownPassword); err != nil {
		t.Fatal(err)
	}
	if reload(withPassword.Subject).PasswordChangeRequired {
		t.Fatal("still required after the change")
	}
	for _, given := range []string{"", "handed over by HR"} {
		if _, err := f.m.ResetPassword(ctx, "hr", withPassword.Subject, given, "forgot it"); err != nil {
			t.Fatal(err)
		}
		if !reload(withPassword.Subject).PasswordChangeRequired {
			t.Errorf("reset (password %q): change not required", given)
		}
	}
	if _, err := f.m.ResetPassword(ctx, "hr", none.Subject, "", "first password"); err != nil {
		t.Fatal(err)
	}
	if !reload(none.Subject).PasswordChangeRequired {
		t.Error("first password of an imported employee: change not required")
	}
	// Other lifecycle actions keep the flag as it is.
	if _, err := f.m.ResetTOTP(ctx, "hr", none.Subject, "lost phone"); err != nil {
		t.Fatal(err)
	}
	if !reload(none.Subject).PasswordChangeRequired {
		t.Error("a TOTP reset cleared the flag")
	}
}

func TestChangePassword(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{})
	if !e.PasswordChangeRequired {
		t.Fatal("onboarded with an initial password, but no change required")
	}

	tests := []struct {
		name, current, next string
		wantErr             error
		wantRule            string
	}{
		{"wrong current password", "not the password", ownPassword, directory.ErrBadCredentials, ""},
		{"too short", goodPassword, "short", nil, directory.RulePasswordMinLength},
		{"too long", goodPassword, strings.Repeat("long ", 103), nil, directory.RulePasswordMaxLength},
		{"the employee ID", goodPassword, strings.ToLower(e.EmployeeID), nil, directory.RulePasswordEmployeeID},
		{"the current password", goodPassword, goodPassword, nil, directory.RulePasswordUnchanged},
		{"not UTF-8", goodPassword, "bad \xff bytes here", nil, directory.RulePasswordText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.dir.ChangePassword(ctx, e.Subject, tt.current, tt.next)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
			if tt.wantRule != "" {
				wantRule(t, err, "new_password", tt.wantRule)
			}
			if got := f.mustByID(t, e.EmployeeID); !got.PasswordChangeRequired || got.Version != e.Version {
				t.Errorf("a refused change wrote the employee (version %d, flag %v)", got.Version, got.PasswordChangeRequired)
			}
		})
	}

	if err := f.dir.ChangePassword(ctx, e.Subject, goodPassword, ownPassword); err != nil {
		t.Fatal(err)
	}
	got := f.mustByID(t, e.EmployeeID)
	if got.PasswordChangeRequired || got.Version != e.Version+1 {
		t.Errorf("after the change: flag %v, version %d; want cleared, %d", got.PasswordChangeRequired, got.Version, e.Version+1)
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, goodPassword); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("old password after the change: %v, want ErrBadCredentials", err)
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, ownPassword); err != nil {
		t.Errorf("new password after the change: %v", err)
	}

	t.Run("frozen or departed", func(t *testing.T) {
		for st, want := range map[storage.EmployeeStatus]error{storage.StatusFrozen: directory.ErrFrozen, storage.StatusDeparted: directory.ErrDeparted} {
			f.store.setStatus(e.Subject, st)
			if err := f.dir.ChangePassword(ctx, e.Subject, ownPassword, "yet another passphrase"); !errors.Is(err, want) {
				t.Errorf("%s: got %v, want %v", st, err, want)
			}
			// A wrong password says nothing about the state.
			if err := f.dir.ChangePassword(ctx, e.Subject, "wrong wrong wrong", "yet another passphrase"); !errors.Is(err, directory.ErrBadCredentials) {
				t.Errorf("%s, wrong password: got %v, want ErrBadCredentials", st, err)
			}
		}
	})
}

func TestChangePasswordAtSignIn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{})
	signedIn, err := f.dir.CheckPassword(ctx, e.EmployeeID, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	stamp := directory.PasswordStamp(signedIn)
	if stamp == "" || strings.Contains(stamp, signedIn.PasswordHash) {
		t.Fatalf("stamp %q", stamp)
	}

	if err := f.dir.ChangePasswordAtSignIn(ctx, e.Subject, "forged stamp", ownPassword); !errors.Is(err, directory.ErrPasswordStale) {
		t.Errorf("wrong stamp: %v, want ErrPasswordStale", err)
	}
	wantRule(t, f.dir.ChangePasswordAtSignIn(ctx, e.Subject, stamp, "short"), "new_password", directory.RulePasswordMinLength)
	wantRule(t, f.dir.ChangePasswordAtSignIn(ctx, e.Subject, stamp, e.EmployeeID), "new_password", directory.RulePasswordEmployeeID)
	wantRule(t, f.dir.ChangePasswordAtSignIn(ctx, e.Subject, stamp, goodPassword), "new_password", directory.RulePasswordUnchanged)

	if err := f.dir.ChangePasswordAtSignIn(ctx, e.Subject, stamp, ownPassword); err != nil {
		t.Fatal(err)
	}
	got := f.mustByID(t, e.EmployeeID)
	if got.PasswordChangeRequired || got.Version != e.Version+1 {
		t.Errorf("after the change: flag %v, version %d", got.PasswordChangeRequired, got.Version)
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, goodPassword); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("old password: %v", err)
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, ownPassword); err != nil {
		t.Errorf("new password: %v", err)
	}
	// The stamp stood for the old password: it cannot change the new one.
	if err := f.dir.ChangePasswordAtSignIn(ctx, e.Subject, stamp, "yet another passphrase"); !errors.Is(err, directory.ErrPasswordStale) {
		t.Errorf("second change with the old stamp: %v, want ErrPasswordStale", err)
	}
	if err := f.dir.ChangePasswordAtSignIn(ctx, "no-such-subject", stamp, ownPassword); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown subject: %v", err)
	}
}

// editRacingStore loses the first UpdateEmployee to a concurrent edit that
// race makes (an HR rename, a reset …).
type editRacingStore struct {
	*fakeStore
	race func(e *storage.Employee)
}

func (s *editRacingStore) UpdateEmployee(ctx context.Context, e *storage.Employee) error {
	if s.race != nil {
		other, err := s.fakeStore.Employee(ctx, e.Subject)
		if err != nil {
			return err
		}
		s.race(other)
		s.race = nil
		if err := s.fakeStore.UpdateEmployee(ctx, other); err != nil {
			return err
		}
	}
	return s.fakeStore.UpdateEmployee(ctx, e)
}

func TestChangePasswordAtSignInRace(t *testing.T) {
	for _, tt := range []struct {
		name    string
		race    func(e *storage.Employee)
		wantErr error
	}{
		{"an edit: retried", func(e *storage.Employee) { e.Title = "Manager" }, nil},
		{"a reset: stale", func(e *storage.Employee) { e.PasswordHash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g" }, directory.ErrPasswordStale},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			e := f.onboard(t, directory.Onboarding{})
			rs := &editRacingStore{fakeStore: f.store, race: tt.race}
			d := directory.New(rs, f.sealer, directory.Options{Argon2: cheapArgon2, Now: f.clock.Now})
			err := d.ChangePasswordAtSignIn(ctx, e.Subject, directory.PasswordStamp(e), ownPassword)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			got := f.mustByID(t, e.EmployeeID)
			if tt.wantErr == nil {
				if got.Title != "Manager" || got.PasswordChangeRequired {
					t.Errorf("after a retried change: title %q, flag %v; want the edit kept and the flag cleared", got.Title, got.PasswordChangeRequired)
				}
				if _, err := d.CheckPassword(ctx, e.EmployeeID, ownPassword); err != nil {
					t.Errorf("new password: %v", err)
				}
			} else if !got.PasswordChangeRequired {
				t.Error("a stale change cleared the flag")
			}
		})
	}
}

// TestChangePasswordAudited: with a store that keeps an audit trail, the
// change is recorded with the employee as the actor.
func TestChangePasswordAudited(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	e := f.onboard(t)
	signedIn, err := f.dir.CheckPassword(ctx, e.EmployeeID, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.dir.ChangePasswordAtSignIn(ctx, e.Subject, directory.PasswordStamp(signedIn), ownPassword); err != nil {
		t.Fatal(err)
	}
	evs, err := f.st.ListAudit(ctx, storage.AuditQuery{Target: e.EmployeeID})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Action != "employee.change_password" || evs[0].Actor != "employee:"+e.EmployeeID || !strings.Contains(evs[0].Detail, e.Subject) {
		t.Errorf("newest audit event %+v, want employee.change_password by employee:%s", evs, e.EmployeeID)
	}
	if strings.Contains(evs[0].Detail, ownPassword) {
		t.Error("the audit trail holds the password")
	}
}
