package directory_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/seal"
	"github.com/gongpai/gongpai/storage"
)

// cheapArgon2 keeps tests fast; the cost does not change the behaviour.
var cheapArgon2 = directory.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

const goodPassword = "correct horse battery"

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	dir    *directory.Directory
	store  *fakeStore
	clock  *fakeClock
	sealer *seal.Sealer
	log    *bytes.Buffer
}

// newFixture returns a directory over a fresh fake store, with entity
// ACME (rule {dept}{yyyy}{seq:3}) and departments CORP > HR01 > HR01A
// and CORP > IT01. The clock reads 2023-03-15 12:00:00 UTC.
func newFixture(t *testing.T, mod ...func(*directory.Options)) *fixture {
	t.Helper()
	f := &fixture{clock: &fakeClock{t: time.Date(2023, 3, 15, 12, 0, 0, 0, time.UTC)}, log: &bytes.Buffer{}}
	f.store = newFakeStore(f.clock.Now)
	var err error
	if f.sealer, err = seal.New(bytes.Repeat([]byte{7}, seal.KeySize)); err != nil {
		t.Fatal(err)
	}
	o := directory.Options{
		Argon2:   cheapArgon2,
		TOTPSkew: 1,
		Now:      f.clock.Now,
		Logger:   slog.New(slog.NewTextHandler(f.log, nil)),
	}
	for _, m := range mod {
		m(&o)
	}
	f.dir = directory.New(f.store, f.sealer, o)
	ctx := context.Background()
	if _, err := f.dir.CreateEntity(ctx, "acme", "ACME Ltd", "{dept}{yyyy}{seq:3}"); err != nil {
		t.Fatal(err)
	}
	for _, d := range [][3]string{{"CORP", "Head office", ""}, {"HR01", "People", "CORP"}, {"HR01A", "Hiring", "HR01"}, {"IT01", "IT", "CORP"}} {
		if _, err := f.dir.CreateDepartment(ctx, "ACME", d[0], d[1], d[2]); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) onboard(t *testing.T, in directory.Onboarding) *storage.Employee {
	t.Helper()
	if in.Entity == "" {
		in.Entity = "ACME"
	}
	if in.Department == "" {
		in.Department = "HR01"
	}
	if in.Name == "" {
		in.Name = "Li Lei"
	}
	if in.Password == "" {
		in.Password = goodPassword
	}
	e, err := f.dir.Onboard(context.Background(), in)
	if err != nil {
		t.Fatalf("Onboard(%+v) = %v", in, err)
	}
	return e
}

// fieldErrors lists "field: message" for every FieldError in err.
func fieldErrors(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		var fe *directory.FieldError
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		} else if errors.As(err, &fe) {
			out = append(out, fe.Error())
		}
	}
	walk(err)
	return out
}

func TestCreateEntity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name, code, entName, rule string
		want                      []string // field errors; nil = created
		wantConflict              bool
	}{
		{name: "ok", code: " beta ", entName: "Beta Co", rule: "{entity}{seq:4}"},
		{name: "duplicate", code: "ACME", entName: "Again", rule: "{seq:3}", wantConflict: true},
		{name: "short code", code: "A", entName: "x", rule: "{seq:3}", want: []string{`code: "A" must be 2–16 characters A-Z, 0-9`}},
		{name: "bad code", code: "AC_ME", entName: "x", rule: "{seq:3}", want: []string{`code: "AC_ME" must be 2–16 characters A-Z, 0-9`}},
		{name: "long code", code: strings.Repeat("A", 17), entName: "x", rule: "{seq:3}", want: []string{`code: "AAAAAAAAAAAAAAAAA" must be 2–16 characters A-Z, 0-9`}},
		{
			name: "everything wrong", code: "", entName: "  ", rule: "{dept}",
			want: []string{
				`code: "" must be 2–16 characters A-Z, 0-9`,
				"name: is required",
				"id_rule: no {seq:N} token: a rule needs exactly one so that IDs differ",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := f.dir.CreateEntity(ctx, tt.code, tt.entName, tt.rule)
			switch {
			case tt.wantConflict:
				if !errors.Is(err, storage.ErrConflict) {
					t.Errorf("CreateEntity = %v, want ErrConflict", err)
				}
			case tt.want != nil:
				if got := fieldErrors(err); !slices.Equal(got, tt.want) {
					t.Errorf("field errors\n got %q\nwant %q", got, tt.want)
				}
			case err != nil:
				t.Errorf("CreateEntity = %v", err)
			case e.Code != storage.CanonicalCode(tt.code):
				t.Errorf("Code = %q, want canonical %q", e.Code, storage.CanonicalCode(tt.code))
			}
		})
	}
}

func TestCreateDepartment(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.dir.CreateEntity(ctx, "BETA", "Beta", "{seq:3}"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, entity, code, deptName, parent string
		want                                 string // "" = ok; "conflict"; else the FieldError text
	}{
		{"root", "ACME", "FIN", "Finance", "", ""},
		{"child, lower case", "acme", "fin01", "Accounts", "fin", ""},
		{"same code other entity", "BETA", "HR01", "People", "", ""},
		{"duplicate", "ACME", "HR01", "Again", "", "conflict"},
		{"parent in other entity", "BETA", "X1", "x", "IT01", `parent: no department "IT01" in entity BETA`},
		{"missing parent", "ACME", "X2", "x", "NOPE", `parent: no department "NOPE" in entity ACME`},
		{"missing entity", "GAMMA", "X3", "x", "", `entity: no legal entity "GAMMA"`},
		{"bad code", "ACME", "X-1", "x", "", `code: "X-1" must be 2–16 characters A-Z, 0-9`},
		{"no name", "ACME", "X4", "", "", "name: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := f.dir.CreateDepartment(ctx, tt.entity, tt.code, tt.deptName, tt.parent)
			switch tt.want {
			case "":
				if err != nil {
					t.Fatalf("CreateDepartment = %v", err)
				}
				if d.ID == "" || d.Code != storage.CanonicalCode(tt.code) || d.Entity != storage.CanonicalCode(tt.entity) {
					t.Errorf("department = %+v", d)
				}
			case "conflict":
				if !errors.Is(err, storage.ErrConflict) {
					t.Errorf("CreateDepartment = %v, want ErrConflict", err)
				}
			default:
				var fe *directory.FieldError
				if !errors.As(err, &fe) || err.Error() != tt.want {
					t.Errorf("CreateDepartment = %v, want FieldError %q", err, tt.want)
				}
			}
		})
	}
}

func TestOnboardGeneratesIDs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hired2023 := time.Date(2023, 1, 9, 0, 0, 0, 0, time.UTC)
	var got []string
	for _, in := range []directory.Onboarding{
		{Department: "HR01", HireDate: hired2023},
		{Department: "hr01", HireDate: hired2023},
		{Department: "HR01"}, // zero hire date: the clock's 2023
		{Department: "IT01", HireDate: hired2023},
		{Department: "HR01", HireDate: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)},
	} {
		got = append(got, f.onboard(t, in).EmployeeID)
	}
	want := []string{"HR012023001", "HR012023002", "HR012023003", "IT012023001", "HR012024001"}
	if !slices.Equal(got, want) {
		t.Errorf("generated IDs\n got %v\nwant %v", got, want)
	}

	e, err := f.dir.Employee(ctx, f.mustByID(t, "HR012023001").Subject)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != storage.StatusActive || e.Entity != "ACME" || e.Version == 0 || len(e.TOTPSecret) != 0 {
		t.Errorf("onboarded employee = %+v", e)
	}
	if !strings.HasPrefix(e.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("PasswordHash = %q", e.PasswordHash)
	}
	if len(e.Subject) != 36 {
		t.Errorf("Subject = %q, want a UUID", e.Subject)
	}
	grants, _ := f.store.RoleGrants(ctx, e.Subject)
	if len(grants) != 1 || grants[0].Role != "employee" || grants[0].DepartmentID != "" {
		t.Errorf("grants = %+v, want the employee role", grants)
	}
}

func (f *fixture) mustByID(t *testing.T, id string) *storage.Employee {
	t.Helper()
	e, err := f.store.EmployeeByEmployeeID(context.Background(), id)
	if err != nil {
		t.Fatalf("employee %s: %v", id, err)
	}
	return e
}

func TestOnboardGivenID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hired := time.Date(2023, 1, 9, 0, 0, 0, 0, time.UTC)
	e := f.onboard(t, directory.Onboarding{EmployeeID: " hr012023500 ", HireDate: hired})
	if e.EmployeeID != "HR012023500" {
		t.Errorf("EmployeeID = %q, want canonical HR012023500", e.EmployeeID)
	}
	// A given ID does not advance the sequence.
	if got := f.onboard(t, directory.Onboarding{HireDate: hired}).EmployeeID; got != "HR012023001" {
		t.Errorf("next generated = %q, want HR012023001", got)
	}
	_, err := f.dir.Onboard(ctx, directory.Onboarding{Entity: "ACME", Department: "HR01", EmployeeID: "HR012023500", Name: "Dup", Password: goodPassword, HireDate: hired})
	if !errors.Is(err, storage.ErrConflict) {
		t.Errorf("duplicate given ID = %v, want ErrConflict", err)
	}
}

func TestOnboardInvalid(t *testing.T) {
	hired := time.Date(2023, 1, 9, 0, 0, 0, 0, time.UTC)
	valid := directory.Onboarding{Entity: "ACME", Department: "HR01", Name: "Han Meimei", Password: goodPassword, HireDate: hired}
	tests := []struct {
		name string
		mod  func(*directory.Onboarding)
		want []string
	}{
		{"everything missing", func(o *directory.Onboarding) { *o = directory.Onboarding{} }, []string{
			"entity: is required", "department: is required", "name: is required", "password: must be at least 10 characters",
		}},
		{"bad email", func(o *directory.Onboarding) { o.Email = "Han <han@example.com>" }, []string{
			`email: "Han <han@example.com>" is not a plain e-mail address`,
		}},
		{"short password", func(o *directory.Onboarding) { o.Password = "short" }, []string{"password: must be at least 10 characters"}},
		{"password is the given ID", func(o *directory.Onboarding) { o.EmployeeID, o.Password = "HR012023009", "hr012023009" }, []string{
			"password: must not be the employee ID",
		}},
		// The generated ID is known only inside the insert; the policy is
		// checked there too.
		{"password is the generated ID", func(o *directory.Onboarding) { o.Password = "HR012023001" }, []string{
			"password: must not be the employee ID",
		}},
		{"bad seed", func(o *directory.Onboarding) { o.TOTPSeed = "not base32!" }, []string{"totp_seed: is not valid base32"}},
		{"80-bit seed accepted", func(o *directory.Onboarding) { o.TOTPSeed = "jbsw y3dp ehpk 3pxp" }, nil},
		{"too short seed", func(o *directory.Onboarding) { o.TOTPSeed = "JBSWY3DPEE" }, []string{"totp_seed: is 6 bytes, at least 10 required"}},
		{"unknown entity", func(o *directory.Onboarding) { o.Entity = "NOPE" }, []string{`entity: no legal entity "NOPE"`}},
		{"unknown department", func(o *directory.Onboarding) { o.Department = "NOPE" }, []string{`department: no department "NOPE" in entity ACME`}},
		{"ID against the rule", func(o *directory.Onboarding) { o.EmployeeID = "HR012024001" }, []string{
			`employee_id: "HR012024001" does not match rule {dept}{yyyy}{seq:3}: want HR012023###, # being a digit`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			in := valid
			tt.mod(&in)
			_, err := f.dir.Onboard(context.Background(), in)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Onboard = %v, want success", err)
				}
				return
			}
			if got := fieldErrors(err); !slices.Equal(got, tt.want) {
				t.Errorf("Onboard = %v\nfield errors\n got %q\nwant %q", err, got, tt.want)
			}
		})
	}
}

func TestOnboardSequenceExhausted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.dir.CreateEntity(ctx, "TINY", "Tiny", "T{seq:1}"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.CreateDepartment(ctx, "TINY", "ALL", "All", ""); err != nil {
		t.Fatal(err)
	}
	in := directory.Onboarding{Entity: "TINY", Department: "ALL", Name: "x", Password: goodPassword}
	for i := 1; i <= 9; i++ {
		if _, err := f.dir.Onboard(ctx, in); err != nil {
			t.Fatalf("onboarding #%d: %v", i, err)
		}
	}
	_, err := f.dir.Onboard(ctx, in)
	if err == nil || !strings.Contains(err.Error(), "sequence TINY/T is exhausted: number 10 does not fit T{seq:1}") {
		t.Errorf("tenth onboarding = %v, want the sequence exhausted", err)
	}
}

func TestCheckPassword(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	active := f.onboard(t, directory.Onboarding{})
	frozen := f.onboard(t, directory.Onboarding{})
	departed := f.onboard(t, directory.Onboarding{})
	f.store.setStatus(frozen.Subject, storage.StatusFrozen)
	f.store.setStatus(departed.Subject, storage.StatusDeparted)

	tests := []struct {
		name, id, password string
		wantErr            error
	}{
		{"ok", active.EmployeeID, goodPassword, nil},
		{"ok, ID in lower case with spaces", " " + strings.ToLower(active.EmployeeID) + " ", goodPassword, nil},
		{"wrong password", active.EmployeeID, goodPassword + "x", directory.ErrBadCredentials},
		{"empty password", active.EmployeeID, "", directory.ErrBadCredentials},
		{"unknown ID", "HR019999999", goodPassword, directory.ErrBadCredentials},
		{"empty ID", "", goodPassword, directory.ErrBadCredentials},
		{"frozen, right password", frozen.EmployeeID, goodPassword, directory.ErrFrozen},
		{"frozen, wrong password", frozen.EmployeeID, "nope nope nope", directory.ErrBadCredentials},
		{"departed, right password", departed.EmployeeID, goodPassword, directory.ErrDeparted},
		{"departed, wrong password", departed.EmployeeID, "nope nope nope", directory.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := f.dir.CheckPassword(ctx, tt.id, tt.password)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("CheckPassword = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && e.Subject != active.Subject {
				t.Errorf("subject = %q, want %q", e.Subject, active.Subject)
			}
			if tt.wantErr != nil && e != nil {
				t.Errorf("employee %+v returned with error %v", e, err)
			}
		})
	}
}

func TestCheckPasswordUpgradesHash(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{})
	stronger := directory.New(f.store, f.sealer, directory.Options{
		Argon2: directory.Argon2Params{Time: 2, MemoryKiB: 128, Threads: 1},
		Now:    f.clock.Now,
	})
	if _, err := stronger.CheckPassword(ctx, e.EmployeeID, goodPassword); err != nil {
		t.Fatal(err)
	}
	got := f.mustByID(t, e.EmployeeID)
	if !strings.HasPrefix(got.PasswordHash, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Errorf("after sign-in under new params, hash = %q, want it upgraded", got.PasswordHash)
	}
	// Both old and new directories still accept the password.
	for _, d := range []*directory.Directory{f.dir, stronger} {
		if _, err := d.CheckPassword(ctx, e.EmployeeID, goodPassword); err != nil {
			t.Errorf("CheckPassword after upgrade = %v", err)
		}
	}
}

func TestSetPassword(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{})
	if err := f.dir.SetPassword(ctx, e.Subject, "short"); err == nil || err.Error() != "password: must be at least 10 characters" {
		t.Errorf("SetPassword(short) = %v", err)
	}
	if err := f.dir.SetPassword(ctx, e.Subject, "a brand new passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, goodPassword); !errors.Is(err, directory.ErrBadCredentials) {
		t.Errorf("old password = %v, want ErrBadCredentials", err)
	}
	if _, err := f.dir.CheckPassword(ctx, e.EmployeeID, "a brand new passphrase"); err != nil {
		t.Errorf("new password = %v", err)
	}
}

func TestIdentity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{Department: "HR01A", Name: "Han Meimei", Email: "han@example.com", Title: "Recruiter"})
	for _, g := range [][2]string{{"hr", "HR01"}, {"erp:approver", ""}, {"hr", ""}, {"hr", "HR01"}} {
		if err := f.dir.GrantRole(ctx, e.EmployeeID, g[0], g[1]); err != nil {
			t.Fatalf("GrantRole(%v) = %v", g, err)
		}
	}
	id, err := f.dir.Identity(ctx, e.Subject)
	if err != nil {
		t.Fatal(err)
	}
	corp, _ := f.store.DepartmentByCode(ctx, "ACME", "CORP")
	hr, _ := f.store.DepartmentByCode(ctx, "ACME", "HR01")
	hra, _ := f.store.DepartmentByCode(ctx, "ACME", "HR01A")
	want := &storage.Identity{
		Subject:        e.Subject,
		EmployeeID:     "HR01A2023001",
		Name:           "Han Meimei",
		Email:          "han@example.com",
		Title:          "Recruiter",
		Status:         storage.StatusActive,
		Entity:         "ACME",
		Department:     "HR01A",
		DepartmentName: "Hiring",
		DepartmentPath: []string{"CORP", "HR01", "HR01A"},
		DepartmentIDs:  []string{corp.ID, hr.ID, hra.ID},
		Roles:          []string{"employee", "erp:approver", "hr"},
	}
	if got := *id; !identityEqual(&got, want) {
		t.Errorf("Identity\n got %+v\nwant %+v", got, *want)
	}
	if _, err := f.dir.Identity(ctx, "no-such-subject"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Identity(unknown) = %v, want ErrNotFound", err)
	}
}

func identityEqual(a, b *storage.Identity) bool {
	return a.Subject == b.Subject && a.EmployeeID == b.EmployeeID && a.Name == b.Name &&
		a.Email == b.Email && a.Title == b.Title && a.Status == b.Status && a.Entity == b.Entity &&
		a.Department == b.Department && a.DepartmentName == b.DepartmentName &&
		slices.Equal(a.DepartmentPath, b.DepartmentPath) && slices.Equal(a.DepartmentIDs, b.DepartmentIDs) &&
		slices.Equal(a.Roles, b.Roles)
}

func TestIdentityDepartmentCycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{Department: "HR01"})
	// Corrupt the tree: CORP's parent becomes HR01.
	hr, _ := f.store.DepartmentByCode(ctx, "ACME", "HR01")
	corp, _ := f.store.DepartmentByCode(ctx, "ACME", "CORP")
	f.store.mu.Lock()
	c := f.store.depts[corp.ID]
	c.ParentID = hr.ID
	f.store.depts[corp.ID] = c
	f.store.mu.Unlock()
	if _, err := f.dir.Identity(ctx, e.Subject); err == nil || !strings.Contains(err.Error(), "more than 64 levels deep") {
		t.Errorf("Identity with a parent cycle = %v, want the depth error", err)
	}
}

func TestGrantRole(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.onboard(t, directory.Onboarding{})
	tests := []struct {
		name, id, role, dept, want string
	}{
		{"plain", e.EmployeeID, "admin", "", ""},
		{"scoped", strings.ToLower(e.EmployeeID), "hr", "it01", ""},
		{"app role", e.EmployeeID, "erp:approver_2-x", "", ""},
		{"upper case", e.EmployeeID, "Admin", "", `role: "Admin" must be a lower-case letter then up to 63 of a-z, 0-9, ':', '_', '-'`},
		{"leading digit", e.EmployeeID, "1x", "", `role: "1x" must be a lower-case letter then up to 63 of a-z, 0-9, ':', '_', '-'`},
		{"empty", e.EmployeeID, "", "", `role: "" must be a lower-case letter then up to 63 of a-z, 0-9, ':', '_', '-'`},
		{"too long", e.EmployeeID, "a" + strings.Repeat("b", 64), "", `role: "a` + strings.Repeat("b", 64) + `" must be a lower-case letter then up to 63 of a-z, 0-9, ':', '_', '-'`},
		{"unknown employee", "HR019999999", "admin", "", `employee_id: no employee "HR019999999"`},
		{"unknown department", e.EmployeeID, "admin", "NOPE", `department: no department "NOPE" in entity ACME`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.dir.GrantRole(ctx, tt.id, tt.role, tt.dept)
			if tt.want == "" {
				if err != nil {
					t.Errorf("GrantRole = %v", err)
				}
				return
			}
			var fe *directory.FieldError
			if !errors.As(err, &fe) || err.Error() != tt.want {
				t.Errorf("GrantRole\n got %v\nwant FieldError %q", err, tt.want)
			}
		})
	}
	it, _ := f.store.DepartmentByCode(ctx, "ACME", "IT01")
	grants, _ := f.store.RoleGrants(ctx, e.Subject)
	if !slices.ContainsFunc(grants, func(g storage.RoleGrant) bool { return g.Role == "hr" && g.DepartmentID == it.ID }) {
		t.Errorf("grants %+v lack hr scoped to IT01", grants)
	}
}

// Many concurrent sign-ins with a one-slot semaphore all complete (the
// semaphore queues, it does not drop), and the race detector sees the
// shared dummy hash made once.
func TestCheckPasswordConcurrent(t *testing.T) {
	f := newFixture(t, func(o *directory.Options) { o.MaxConcurrentHashes = 1 })
	e := f.onboard(t, directory.Onboarding{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			id, pw := e.EmployeeID, goodPassword
			if i%2 == 1 {
				id = "HR019999999"
			}
			_, err := f.dir.CheckPassword(context.Background(), id, pw)
			if i%2 == 1 && errors.Is(err, directory.ErrBadCredentials) {
				err = nil
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
