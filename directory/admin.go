package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gongpai/gongpai/storage"
)

var (
	codeRE = regexp.MustCompile(`^[A-Z0-9]{2,16}$`)
	roleRE = regexp.MustCompile(`^[a-z][a-z0-9:_-]{0,63}$`)
)

// RoleEmployee is granted to everyone at onboarding.
const RoleEmployee = "employee"

const maxNameLen = 200 // bytes, for display names and titles

func checkCode(field, code string) error {
	if !codeRE.MatchString(code) {
		return &FieldError{Field: field, Message: fmt.Sprintf("%q must be 2–16 characters A-Z, 0-9", code)}
	}
	return nil
}

func checkName(field, name string, required bool) error {
	switch {
	case required && name == "":
		return &FieldError{Field: field, Message: "is required"}
	case len(name) > maxNameLen:
		return &FieldError{Field: field, Message: fmt.Sprintf("must be at most %d bytes", maxNameLen)}
	}
	return nil
}

// notFoundAs turns storage.ErrNotFound for a referenced record into a
// FieldError on the field that named it; other errors pass through.
func notFoundAs(err error, field, message string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return &FieldError{Field: field, Message: message}
	}
	return err
}

// CreateEntity adds a legal entity with its employee-ID rule. Invalid
// input is one or more *FieldError; a duplicate code wraps
// storage.ErrConflict.
func (d *Directory) CreateEntity(ctx context.Context, code, name, idRule string) (*storage.LegalEntity, error) {
	code, name, idRule = storage.CanonicalCode(code), strings.TrimSpace(name), strings.TrimSpace(idRule)
	errs := []error{checkCode("code", code), checkName("name", name, true)}
	if _, err := ParseRule(idRule); err != nil {
		errs = append(errs, &FieldError{Field: "id_rule", Message: err.Error()})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e := &storage.LegalEntity{Code: code, Name: name, IDRule: idRule, CreatedAt: d.now().UTC()}
	if err := d.store.CreateEntity(ctx, e); err != nil {
		return nil, fmt.Errorf("directory: creating entity %s: %w", code, err)
	}
	return e, nil
}

// CreateDepartment adds a department to an entity's tree, under
// parentCode ("" for a root). The parent must be in the same entity.
func (d *Directory) CreateDepartment(ctx context.Context, entity, code, name, parentCode string) (*storage.Department, error) {
	entity, code, parentCode = storage.CanonicalCode(entity), storage.CanonicalCode(code), storage.CanonicalCode(parentCode)
	name = strings.TrimSpace(name)
	if err := errors.Join(checkCode("code", code), checkName("name", name, true)); err != nil {
		return nil, err
	}
	if _, err := d.store.Entity(ctx, entity); err != nil {
		return nil, notFoundAs(err, "entity", fmt.Sprintf("no legal entity %q", entity))
	}
	dep := &storage.Department{ID: uuid.NewString(), Entity: entity, Code: code, Name: name, CreatedAt: d.now().UTC()}
	if parentCode != "" {
		parent, err := d.store.DepartmentByCode(ctx, entity, parentCode)
		if err != nil {
			return nil, notFoundAs(err, "parent", fmt.Sprintf("no department %q in entity %s", parentCode, entity))
		}
		dep.ParentID = parent.ID
	}
	if err := d.store.CreateDepartment(ctx, dep); err != nil {
		return nil, fmt.Errorf("directory: creating department %s/%s: %w", entity, code, err)
	}
	return dep, nil
}

// Onboarding is what HR gives to add an employee.
type Onboarding struct {
	Entity, Department string // codes
	EmployeeID         string // "" = generate from the entity's rule
	ExternalID         string // the HR system's key for the person; "" = none
	Name, Email, Title string
	Password           string
	TOTPSeed           string    // base32 seed of a hardware token: enrolled at once; "" = enrol at first sign-in
	HireDate           time.Time // zero = today; its year and month feed the ID rule
}

// Onboard adds an active employee with a new subject, the employee ID
// generated from the entity's rule (or the given one validated against
// it), and the "employee" role. The password is an initial one: the
// employee must change it at their first sign-in. Invalid input is one or more *FieldError;
// a duplicate employee ID wraps storage.ErrConflict.
func (d *Directory) Onboard(ctx context.Context, in Onboarding) (*storage.Employee, error) {
	p, err := d.prepareOnboard(ctx, in, true)
	if err != nil {
		return nil, err
	}
	e := p.employee
	if err := d.store.CreateEmployee(ctx, e, p.seqKey, p.makeID); err != nil {
		return nil, onboardErr(err, e, p.seqKey)
	}
	if err := d.store.GrantRole(ctx, &storage.RoleGrant{Subject: e.Subject, Role: RoleEmployee, CreatedAt: e.CreatedAt}); err != nil {
		return e, fmt.Errorf("directory: %s onboarded but granting role %s failed: %w", e.EmployeeID, RoleEmployee, err)
	}
	return e, nil
}

func onboardErr(err error, e *storage.Employee, seqKey string) error {
	if fe := (*FieldError)(nil); errors.As(err, &fe) {
		return fe
	}
	return fmt.Errorf("directory: onboarding %s: %w", cmp.Or(e.EmployeeID, seqKey), err)
}

// prepared is a validated onboarding, ready to be written: the employee
// (employee ID empty when it is to be generated) and the sequence to
// generate it from.
type prepared struct {
	employee *storage.Employee
	seqKey   string
	makeID   func(n int64) (string, error)
}

// prepareOnboard validates in and builds the employee to insert. With
// needPassword false an empty password is allowed and leaves the employee
// without one (batch import, SCIM): they cannot sign in until an
// administrator resets it.
func (d *Directory) prepareOnboard(ctx context.Context, in Onboarding, needPassword bool) (*prepared, error) {
	in.Entity, in.Department = storage.CanonicalCode(in.Entity), storage.CanonicalCode(in.Department)
	in.EmployeeID = storage.CanonicalCode(in.EmployeeID)
	in.ExternalID = strings.TrimSpace(in.ExternalID)
	in.Name, in.Email, in.Title = strings.TrimSpace(in.Name), strings.TrimSpace(in.Email), strings.TrimSpace(in.Title)
	if in.HireDate.IsZero() {
		in.HireDate = d.now()
	}

	// Input checks that need no lookup, all reported together.
	var errs []error
	if in.Entity == "" {
		errs = append(errs, &FieldError{Field: "entity", Message: "is required"})
	}
	if in.Department == "" {
		errs = append(errs, &FieldError{Field: "department", Message: "is required"})
	}
	errs = append(errs, checkName("name", in.Name, true), checkName("title", in.Title, false), checkEmail(in.Email),
		checkExternalID(in.ExternalID))
	if needPassword || in.Password != "" {
		errs = append(errs, checkPasswordPolicy(in.Password, in.EmployeeID))
	}
	var seed string
	if in.TOTPSeed != "" {
		var err error
		if seed, err = normaliseSeed(in.TOTPSeed); err != nil {
			errs = append(errs, &FieldError{Field: "totp_seed", Message: err.Error()})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	ent, err := d.store.Entity(ctx, in.Entity)
	if err != nil {
		return nil, notFoundAs(err, "entity", fmt.Sprintf("no legal entity %q", in.Entity))
	}
	dept, err := d.store.DepartmentByCode(ctx, ent.Code, in.Department)
	if err != nil {
		return nil, notFoundAs(err, "department", fmt.Sprintf("no department %q in entity %s", in.Department, ent.Code))
	}
	p := &prepared{}
	if err := d.assignID(ent, dept, in.EmployeeID, in.HireDate, in.Password, p); err != nil {
		return nil, err
	}

	var hash string
	if in.Password != "" {
		if hash, err = d.hasher.hash(ctx, in.Password); err != nil {
			return nil, err
		}
	}
	now := d.now().UTC()
	e := &storage.Employee{
		Subject:      uuid.NewString(),
		EmployeeID:   in.EmployeeID,
		ExternalID:   in.ExternalID,
		Entity:       ent.Code,
		DepartmentID: dept.ID,
		Name:         in.Name,
		Email:        in.Email,
		Title:        in.Title,
		Status:       storage.StatusActive,
		PasswordHash: hash,
		// Someone other than the employee chose this password (HR, the
		// CLI, a provisioner): it works once, to choose their own.
		PasswordChangeRequired: hash != "",
		Version:                1,
		CreatedAt:              now,
		UpdatedAt:              now,
	}
	if seed != "" {
		// The subject exists before the insert, so the seed can be sealed
		// to it and stored in the same write.
		if e.TOTPSecret, err = d.sealer.Seal([]byte(seed), totpAAD(e.Subject)); err != nil {
			return nil, err
		}
	}
	p.employee = e
	return p, nil
}

// assignID checks a given employee ID against the entity's rule, or, when
// id is empty, sets p's sequence and ID maker from the rule. date feeds
// {yyyy}, {yy} and {mm}; a non-empty password is checked against each
// generated ID (the policy refuses a password equal to the ID).
func (d *Directory) assignID(ent *storage.LegalEntity, dept *storage.Department, id string, date time.Time, password string, p *prepared) error {
	rule, err := ParseRule(ent.IDRule)
	if err != nil {
		return fmt.Errorf("directory: entity %s has a bad ID rule: %w", ent.Code, err)
	}
	vars := RuleVars{Entity: ent.Code, Dept: dept.Code, Date: date}
	if id != "" {
		if err := rule.Match(id, vars); err != nil {
			return &FieldError{Field: "employee_id", Message: err.Error()}
		}
		return nil
	}
	seqKey := rule.SequenceKey(vars)
	p.seqKey = seqKey
	p.makeID = func(n int64) (string, error) {
		if n < 1 || n > rule.MaxSeq() {
			return "", fmt.Errorf("directory: sequence %s is exhausted: number %d does not fit %s", seqKey, n, rule)
		}
		id := rule.Format(vars, n)
		if password != "" {
			// The policy check could not see a generated ID.
			if err := checkPasswordPolicy(password, id); err != nil {
				return "", err
			}
		}
		return id, nil
	}
	return nil
}

func checkEmail(email string) error {
	if email == "" {
		return nil
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return &FieldError{Field: "email", Message: fmt.Sprintf("%q is not a plain e-mail address", email)}
	}
	return nil
}

const maxExternalIDLen = 128

func checkExternalID(id string) error {
	if len(id) > maxExternalIDLen {
		return &FieldError{Field: "external_id", Message: fmt.Sprintf("must be at most %d bytes", maxExternalIDLen)}
	}
	return nil
}

// GrantRole gives the employee a role, scoped to the subtree of
// departmentCode in the employee's entity ("" = the whole directory).
// Granting a role twice is harmless.
func (d *Directory) GrantRole(ctx context.Context, employeeID, role, departmentCode string) error {
	employeeID, departmentCode, role = storage.CanonicalCode(employeeID), storage.CanonicalCode(departmentCode), strings.TrimSpace(role)
	if !roleRE.MatchString(role) {
		return &FieldError{Field: "role", Message: fmt.Sprintf("%q must be a lower-case letter then up to 63 of a-z, 0-9, ':', '_', '-'", role)}
	}
	e, err := d.store.EmployeeByEmployeeID(ctx, employeeID)
	if err != nil {
		return notFoundAs(err, "employee_id", fmt.Sprintf("no employee %q", employeeID))
	}
	g := &storage.RoleGrant{Subject: e.Subject, Role: role, CreatedAt: d.now().UTC()}
	if departmentCode != "" {
		dep, err := d.store.DepartmentByCode(ctx, e.Entity, departmentCode)
		if err != nil {
			return notFoundAs(err, "department", fmt.Sprintf("no department %q in entity %s", departmentCode, e.Entity))
		}
		g.DepartmentID = dep.ID
	}
	if err := d.store.GrantRole(ctx, g); err != nil {
		return fmt.Errorf("directory: granting %s to %s: %w", role, employeeID, err)
	}
	return nil
}
