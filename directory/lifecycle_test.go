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

var _ directory.ManagerStore = (*sqlite.Store)(nil)

// Every action from every state: the whole state machine in one table.
func TestTransitionTable(t *testing.T) {
	const (
		none     = storage.EmployeeStatus("")
		active   = storage.StatusActive
		frozen   = storage.StatusFrozen
		departed = storage.StatusDeparted
		refused  = storage.EmployeeStatus("refused")
	)
	tests := []struct {
		action                           directory.Action
		fromNone, fromActive, fromFrozen storage.EmployeeStatus
		fromDeparted                     storage.EmployeeStatus
	}{
		{directory.ActionOnboard, active, refused, refused, refused},
		{directory.ActionUpdate, refused, active, frozen, refused},
		{directory.ActionTransfer, refused, active, frozen, refused},
		{directory.ActionFreeze, refused, frozen, frozen, refused},
		{directory.ActionUnfreeze, refused, active, active, refused},
		{directory.ActionLeave, refused, departed, departed, refused},
		{directory.ActionResetPassword, refused, active, frozen, refused},
		{directory.ActionResetTOTP, refused, active, frozen, refused},
	}
	for _, tt := range tests {
		for from, want := range map[storage.EmployeeStatus]storage.EmployeeStatus{
			none: tt.fromNone, active: tt.fromActive, frozen: tt.fromFrozen, departed: tt.fromDeparted,
		} {
			got, err := directory.Transition(from, tt.action)
			if want == refused {
				var te *directory.TransitionError
				if !errors.As(err, &te) || !errors.Is(err, storage.ErrConflict) {
					t.Errorf("%s from %q: got (%q, %v), want a TransitionError (conflict)", tt.action, from, got, err)
				}
				continue
			}
			if err != nil || got != want {
				t.Errorf("%s from %q: got (%q, %v), want %q", tt.action, from, got, err, want)
			}
		}
	}
	cuts := []directory.Action{directory.ActionFreeze, directory.ActionLeave, directory.ActionResetPassword, directory.ActionResetTOTP}
	for _, tt := range tests {
		if got, want := tt.action.CutsAccess(), slices.Contains(cuts, tt.action); got != want {
			t.Errorf("%s.CutsAccess() = %v, want %v", tt.action, got, want)
		}
		if tt.action.NeedsReason() != tt.action.CutsAccess() {
			t.Errorf("%s: every access-cutting action needs a reason, and only those", tt.action)
		}
	}
}

// recordingEnder is the back-channel logout hook, recording its calls.
type recordingEnder struct {
	mu    sync.Mutex
	calls map[string][]storage.Session
}

func (r *recordingEnder) SessionsEnded(_ context.Context, subject string, s []storage.Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[subject] = append(r.calls[subject], s...)
}

type mgrFixture struct {
	st    *sqlite.Store
	dir   *directory.Directory
	m     *directory.Manager
	ender *recordingEnder
	clock *fakeClock
}

func newMgrFixture(t *testing.T) *mgrFixture {
	t.Helper()
	ctx := t.Context()
	clock := &fakeClock{t: time.Date(2024, 6, 3, 9, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"), sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := seal.New(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(st, sealer, directory.Options{Argon2: cheapArgon2, Now: clock.Now})
	f := &mgrFixture{st: st, dir: dir, clock: clock, ender: &recordingEnder{calls: map[string][]storage.Session{}}}
	f.m = directory.NewManager(dir, st, st, directory.ManagerOptions{Sessions: f.ender})
	for _, e := range []struct{ code, rule string }{{"ACME", "{dept}{yyyy}{seq:3}"}, {"GLOBEX", "G{yy}{seq:4}"}} {
		if _, err := f.m.CreateEntity(ctx, "test", e.code, e.code+" Ltd", e.rule); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct{ ent, code, parent string }{{"ACME", "HR01", ""}, {"ACME", "FIN01", ""}, {"ACME", "HR02", "HR01"}, {"GLOBEX", "OPS", ""}} {
		if _, err := f.m.CreateDepartment(ctx, "test", d.ent, d.code, d.code+" dept", d.parent); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *mgrFixture) onboard(t *testing.T) *storage.Employee {
	t.Helper()
	e, err := f.m.Onboard(t.Context(), "test", directory.Onboarding{Entity: "ACME", Department: "HR01", Name: "Zhang Wei", Password: goodPassword, HireDate: time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)}, false)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// signedIn gives subject an SSO session, a refresh token and an access
// token, as two apps would hold after a sign-in.
func (f *mgrFixture) signedIn(t *testing.T, subject string) {
	t.Helper()
	ctx := t.Context()
	now := f.clock.Now()
	for i, client := range []string{"oa", "erp"} {
		sid := subject + "-sess-" + client
		if err := f.st.CreateSession(ctx, &storage.Session{ID: sid, Subject: subject, AuthTime: now, ClientIDs: []string{client}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateRefreshToken(ctx, &storage.RefreshToken{ID: subject + "-rt-" + client, FamilyID: subject + "-fam-" + client, ClientID: client, Subject: subject, SessionID: sid, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateAccessToken(ctx, &storage.AccessToken{ID: subject + "-at-" + client, ClientID: client, Subject: subject, SessionID: sid, CreatedAt: now, ExpiresAt: now.Add(time.Duration(i+1) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
}

// accessLeft reports what subject still holds: live sessions, usable
// refresh tokens, recorded access tokens.
func (f *mgrFixture) accessLeft(t *testing.T, subject string) (sessions, refresh, access int) {
	t.Helper()
	ctx := t.Context()
	ss, err := f.st.SessionsOfSubject(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	for _, client := range []string{"oa", "erp"} {
		rt, err := f.st.RefreshToken(ctx, subject+"-rt-"+client)
		if err == nil && !rt.Revoked && !rt.Spent {
			refresh++
		}
		if _, err := f.st.AccessToken(ctx, subject+"-at-"+client); err == nil {
			access++
		}
	}
	return len(ss), refresh, access
}

func TestLifecycleTransitions(t *testing.T) {
	type step struct {
		name       string
		do         func(f *mgrFixture, sub string) error
		wantStatus storage.EmployeeStatus
		wantErr    error // errors.Is target; nil = success
		wantCut    bool  // access cut by the step
	}
	freeze := func(f *mgrFixture, sub string) error {
		_, err := f.m.Freeze(context.Background(), "hr", sub, "audit finding")
		return err
	}
	unfreeze := func(f *mgrFixture, sub string) error {
		_, err := f.m.Unfreeze(context.Background(), "hr", sub, "cleared")
		return err
	}
	leave := func(f *mgrFixture, sub string) error {
		_, err := f.m.Leave(context.Background(), "hr", sub, "resigned")
		return err
	}
	resetPW := func(f *mgrFixture, sub string) error {
		_, err := f.m.ResetPassword(context.Background(), "hr", sub, "", "forgot it")
		return err
	}
	resetTOTP := func(f *mgrFixture, sub string) error {
		_, err := f.m.ResetTOTP(context.Background(), "hr", sub, "lost phone")
		return err
	}
	transfer := func(f *mgrFixture, sub string) error {
		_, err := f.m.Transfer(context.Background(), "hr", sub, 0, "", "FIN01", "")
		return err
	}
	update := func(f *mgrFixture, sub string) error {
		e, err := f.st.Employee(context.Background(), sub)
		if err != nil {
			return err
		}
		n := "New Name"
		_, err = f.m.Update(context.Background(), "hr", sub, e.Version, directory.EmployeeChange{Name: &n})
		return err
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"freeze cuts access, unfreeze restores sign-in", []step{
			{"freeze", freeze, storage.StatusFrozen, nil, true},
			{"freeze again", freeze, storage.StatusFrozen, nil, true},
			{"update while frozen", update, storage.StatusFrozen, nil, false},
			{"unfreeze", unfreeze, storage.StatusActive, nil, false},
			{"unfreeze again", unfreeze, storage.StatusActive, nil, false},
		}},
		{"leave is terminal", []step{
			{"leave", leave, storage.StatusDeparted, nil, true},
			{"freeze after leave", freeze, storage.StatusDeparted, storage.ErrConflict, false},
			{"unfreeze after leave", unfreeze, storage.StatusDeparted, storage.ErrConflict, false},
			{"leave again", leave, storage.StatusDeparted, storage.ErrConflict, false},
			{"update after leave", update, storage.StatusDeparted, storage.ErrConflict, false},
			{"transfer after leave", transfer, storage.StatusDeparted, storage.ErrConflict, false},
			{"reset password after leave", resetPW, storage.StatusDeparted, storage.ErrConflict, false},
			{"reset TOTP after leave", resetTOTP, storage.StatusDeparted, storage.ErrConflict, false},
		}},
		{"frozen employee leaves", []step{
			{"freeze", freeze, storage.StatusFrozen, nil, true},
			{"leave", leave, storage.StatusDeparted, nil, true},
		}},
		{"resets keep the state and cut access", []step{
			{"reset password", resetPW, storage.StatusActive, nil, true},
			{"reset TOTP", resetTOTP, storage.StatusActive, nil, true},
			{"freeze", freeze, storage.StatusFrozen, nil, true},
			{"reset password while frozen", resetPW, storage.StatusFrozen, nil, true},
		}},
		{"transfer and update keep the state", []step{
			{"transfer", transfer, storage.StatusActive, nil, false},
			{"update", update, storage.StatusActive, nil, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newMgrFixture(t)
			e := f.onboard(t)
			for _, st := range tt.steps {
				f.signedInAs(t, e.Subject, st.name)
				err := st.do(f, e.Subject)
				if st.wantErr == nil && err != nil || st.wantErr != nil && !errors.Is(err, st.wantErr) {
					t.Fatalf("%s: got error %v, want %v", st.name, err, st.wantErr)
				}
				got, gerr := f.st.Employee(t.Context(), e.Subject)
				if gerr != nil {
					t.Fatal(gerr)
				}
				if got.Status != st.wantStatus {
					t.Errorf("%s: status %q, want %q", st.name, got.Status, st.wantStatus)
				}
				s, r, a := f.accessLeftAs(t, e.Subject, st.name)
				if st.wantCut && (s+r+a) != 0 {
					t.Errorf("%s: left %d sessions, %d refresh tokens, %d access tokens; want none", st.name, s, r, a)
				}
				if !st.wantCut && st.wantErr == nil && (s != 2 || r != 2 || a != 2) {
					t.Errorf("%s: access changed (%d sessions, %d refresh, %d access), want untouched", st.name, s, r, a)
				}
			}
		})
	}
}

// signedInAs is signedIn with token IDs tagged so that steps of one test
// do not collide.
func (f *mgrFixture) signedInAs(t *testing.T, subject, tag string) {
	t.Helper()
	ctx := t.Context()
	now := f.clock.Now()
	for _, client := range []string{"oa", "erp"} {
		sid := tag + "-sess-" + client
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(f.st.CreateSession(ctx, &storage.Session{ID: sid, Subject: subject, AuthTime: now, ClientIDs: []string{client}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		must(f.st.CreateRefreshToken(ctx, &storage.RefreshToken{ID: tag + "-rt-" + client, FamilyID: tag + "-fam-" + client, ClientID: client, Subject: subject, SessionID: sid, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		must(f.st.CreateAccessToken(ctx, &storage.AccessToken{ID: tag + "-at-" + client, ClientID: client, Subject: subject, SessionID: sid, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	}
}

func (f *mgrFixture) accessLeftAs(t *testing.T, subject, tag string) (sessions, refresh, access int) {
	t.Helper()
	ctx := t.Context()
	for _, client := range []string{"oa", "erp"} {
		if s, err := f.st.Session(ctx, tag+"-sess-"+client); err == nil && s.Subject == subject {
			sessions++
		}
		rt, err := f.st.RefreshToken(ctx, tag+"-rt-"+client)
		if err == nil && !rt.Revoked && !rt.Spent {
			refresh++
		}
		if _, err := f.st.AccessToken(ctx, tag+"-at-"+client); err == nil {
			access++
		}
	}
	return sessions, refresh, access
}

func TestFreezeCutsAccessAndRefusesSignIn(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	e := f.onboard(t)
	f.signedIn(t, e.Subject)
	other := f.onboard(t)
	f.signedIn(t, other.Subject)

	if _, err := f.m.Freeze(ctx, "hr", e.Subject, ""); !isField(err, "reason") {
		t.Fatalf("freeze without a reason: got %v, want a FieldError on reason", err)
	}
	if s, r, a := f.accessLeft(t, e.Subject); s+r+a != 6 {
		t.Fatalf("a refused freeze cut access (%d %d %d left)", s, r, a)
	}
	if _, err := f.m.Freeze(ctx, "employee:HR012023009", e.Subject, "security review"); err != nil {
		t.Fatal(err)
	}
	if s, r, a := f.accessLeft(t, e.Subject); s+r+a != 0 {
		t.Errorf("after freeze: %d sessions, %d refresh, %d access tokens left", s, r, a)
	}
	if s, r, a := f.accessLeft(t, other.Subject); s+r+a != 6 {
		t.Errorf("freezing one employee touched another's access (%d %d %d left)", s, r, a)
	}
	if got := f.ender.calls[e.Subject]; len(got) != 2 {
		t.Errorf("back-channel hook got %d sessions, want the 2 ended", len(got))
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, goodPassword); !errors.Is(err, directory.ErrFrozen) {
		t.Errorf("sign-in after freeze: got %v, want ErrFrozen", err)
	}
	ev, err := f.st.ListAudit(ctx, storage.AuditQuery{Target: e.EmployeeID})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) == 0 || ev[0].Action != "employee.freeze" || ev[0].Reason != "security review" || ev[0].Actor != "employee:HR012023009" {
		t.Errorf("audit: got %+v, want the freeze with its actor and reason first", ev)
	}
}

func isField(err error, field string) bool {
	var fe *directory.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

func TestTransferAcrossEntities(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	e := f.onboard(t)
	if e.EmployeeID != "HR012023001" {
		t.Fatalf("onboarded %s", e.EmployeeID)
	}
	// Within the entity: same ID, new department.
	got, err := f.m.Transfer(ctx, "hr", e.Subject, e.Version, "", "HR02", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.EmployeeID != "HR012023001" || got.Entity != "ACME" {
		t.Errorf("in-entity transfer changed the ID: %s/%s", got.Entity, got.EmployeeID)
	}
	// Stale version.
	if _, err := f.m.Transfer(ctx, "hr", e.Subject, e.Version, "", "FIN01", ""); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("transfer with a stale version: got %v, want conflict", err)
	}
	// To GLOBEX: a new ID from GLOBEX's rule (dated today, 2024), same sub.
	got, err = f.m.Transfer(ctx, "hr", e.Subject, 0, "globex", "ops", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.EmployeeID != "G240001" || got.Subject != e.Subject || got.Entity != "GLOBEX" {
		t.Errorf("cross-entity transfer: got %s %s %s, want G240001 in GLOBEX with the same sub", got.EmployeeID, got.Entity, got.Subject)
	}
	hist, err := f.st.EmployeeIDHistory(ctx, e.Subject)
	if err != nil || len(hist) != 1 || hist[0].EmployeeID != "HR012023001" || hist[0].Entity != "ACME" {
		t.Errorf("history: got %+v, %v", hist, err)
	}
	if _, err := f.dir.CheckPassword(ctx, "HR012023001", goodPassword); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("old ID signs in: %v", err)
	}
	if _, err := f.dir.CheckPassword(ctx, "G240001", goodPassword); err != nil {
		t.Errorf("new ID does not sign in: %v", err)
	}
	// The old ID is never issued again.
	if _, err := f.m.Onboard(ctx, "hr", directory.Onboarding{Entity: "ACME", Department: "HR01", EmployeeID: "HR012023001", Name: "X", Password: goodPassword, HireDate: time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)}, false); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("onboarding with a retired ID: got %v, want conflict", err)
	}
	next := f.onboard(t)
	if next.EmployeeID != "HR012023002" {
		t.Errorf("next generated ID: got %s, want HR012023002", next.EmployeeID)
	}
	id, err := f.dir.Identity(ctx, e.Subject)
	if err != nil || id.Department != "OPS" || id.Entity != "GLOBEX" {
		t.Errorf("identity after transfer: %+v %v", id, err)
	}
	if _, err := f.m.Transfer(ctx, "hr", e.Subject, 0, "ACME", "NOPE", ""); !isField(err, "department") {
		t.Errorf("transfer to a missing department: got %v", err)
	}
}

func TestUpdateOptimistic(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	e := f.onboard(t)
	name, email, bad := "Zhang Wei (HR)", "zw@acme.example", "not an email"
	got, err := f.m.Update(ctx, "hr", e.Subject, e.Version, directory.EmployeeChange{Name: &name, Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != name || got.Email != email || got.Version != e.Version+1 {
		t.Errorf("after update: %+v", got)
	}
	if _, err := f.m.Update(ctx, "hr", e.Subject, e.Version, directory.EmployeeChange{Name: &name}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("stale update: got %v, want conflict", err)
	}
	if _, err := f.m.Update(ctx, "hr", e.Subject, got.Version, directory.EmployeeChange{Email: &bad}); !isField(err, "email") {
		t.Errorf("bad email: got %v", err)
	}
	same, err := f.m.Update(ctx, "hr", e.Subject, got.Version, directory.EmployeeChange{Name: &name})
	if err != nil || same.Version != got.Version {
		t.Errorf("no-op update bumped the version or failed: %v", err)
	}
}

func TestResetPasswordAndTOTP(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	e, err := f.m.Onboard(ctx, "hr", directory.Onboarding{Entity: "ACME", Department: "HR01", Name: "Li", Password: goodPassword, TOTPSeed: "JBSWY3DPEHPK3PXP"}, false)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := f.m.ResetPassword(ctx, "hr", e.Subject, "", "forgot")
	if err != nil || len(pw) < 10 {
		t.Fatalf("generated password %q, %v", pw, err)
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, goodPassword); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("old password still works: %v", err)
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, pw); err != nil {
		t.Errorf("new password refused: %v", err)
	}
	if pw, err := f.m.ResetPassword(ctx, "hr", e.Subject, "short", "x"); !isField(err, "password") || pw != "" {
		t.Errorf("weak given password: got %q %v", pw, err)
	}
	if _, err := f.m.ResetTOTP(ctx, "hr", e.Subject, ""); !isField(err, "reason") {
		t.Errorf("reset TOTP without reason: %v", err)
	}
	if _, err := f.m.ResetTOTP(ctx, "hr", e.Subject, "lost phone"); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.VerifyTOTP(ctx, e.Subject, "123456"); !errors.Is(err, directory.ErrTOTPNotEnrolled) {
		t.Errorf("after TOTP reset: got %v, want ErrTOTPNotEnrolled (re-enrolment)", err)
	}
}

func TestImportedWithoutPasswordCannotSignIn(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	e, err := f.m.Onboard(ctx, "scim", directory.Onboarding{Entity: "ACME", Department: "HR01", Name: "Wang"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, ""); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("empty password against no hash: %v", err)
	}
	if _, err := f.m.Onboard(ctx, "hr", directory.Onboarding{Entity: "ACME", Department: "HR01", Name: "Wang"}, false); !isField(err, "password") {
		t.Errorf("onboarding without a password when one is required: %v", err)
	}
}

func TestDepartmentTreeEdits(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	hr01, _ := f.st.DepartmentByCode(ctx, "ACME", "HR01")
	fin, _ := f.st.DepartmentByCode(ctx, "ACME", "FIN01")
	str := func(s string) *string { return &s }
	tests := []struct {
		name      string
		id        string
		ch        directory.DepartmentChange
		wantField string
		wantErr   error
	}{
		{"move under its own child", hr01.ID, directory.DepartmentChange{ParentCode: str("HR02")}, "parent", nil},
		{"move under itself", hr01.ID, directory.DepartmentChange{ParentCode: str("hr01")}, "parent", nil},
		{"move under a missing parent", hr01.ID, directory.DepartmentChange{ParentCode: str("NOPE")}, "parent", nil},
		{"bad code", hr01.ID, directory.DepartmentChange{Code: str("h")}, "code", nil},
		{"taken code", hr01.ID, directory.DepartmentChange{Code: str("FIN01")}, "", storage.ErrConflict},
		{"move subtree under FIN01", hr01.ID, directory.DepartmentChange{ParentCode: str("FIN01")}, "", nil},
		{"back to a root", hr01.ID, directory.DepartmentChange{ParentCode: str("")}, "", nil},
	}
	for _, tt := range tests {
		_, err := f.m.UpdateDepartment(ctx, "admin", tt.id, tt.ch)
		switch {
		case tt.wantField != "":
			if !isField(err, tt.wantField) {
				t.Errorf("%s: got %v, want a FieldError on %s", tt.name, err, tt.wantField)
			}
		case tt.wantErr != nil:
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: got %v, want %v", tt.name, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	if err := f.m.DeleteDepartment(ctx, "admin", fin.ID, ""); !isField(err, "reason") {
		t.Errorf("delete without reason: %v", err)
	}
	if err := f.m.DeleteDepartment(ctx, "admin", hr01.ID, "reorg"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("delete a department with a child: %v", err)
	}
	if err := f.m.DeleteDepartment(ctx, "admin", fin.ID, "reorg"); err != nil {
		t.Errorf("delete an empty department: %v", err)
	}
}
