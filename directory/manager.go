package directory

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/gongpai/gongpai/storage"
)

// ManagerStore is the durable side the Manager writes: the directory's
// Store, the administrative additions, and refresh-token revocation.
// Every storage.Store satisfies it.
type ManagerStore interface {
	Store
	storage.DirectoryAdmin
	ListEntities(ctx context.Context) ([]storage.LegalEntity, error)
	ListDepartments(ctx context.Context, entity string) ([]storage.Department, error)
	RevokeRole(ctx context.Context, subject, role string) error
	RevokeRefreshTokensOfSubject(ctx context.Context, subject string) error
}

var _ ManagerStore = storage.Store(nil)

// AccessStore is the ephemeral side a cut-off clears: SSO sessions and
// recorded access tokens (opaque and JWT alike: introspection and userinfo
// look the record up).
type AccessStore interface {
	DeleteSessionsOfSubject(ctx context.Context, subject string) ([]storage.Session, error)
	DeleteAccessTokensOfSubject(ctx context.Context, subject string) error
}

// SessionEnder hears about the SSO sessions a freeze, departure or reset
// has just ended. It is where OIDC Back-Channel Logout plugs in: each
// session's ClientIDs are the apps to send a logout token to (for the
// session's sid and the employee's sub). It is called after access is
// already cut, must not block for long, and cannot undo the cut-off.
type SessionEnder interface {
	SessionsEnded(ctx context.Context, subject string, sessions []storage.Session)
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// Sessions is told about ended sessions; nil logs them only.
	Sessions SessionEnder
	Logger   *slog.Logger
}

// Manager is the administrative side of the directory: every lifecycle
// transition, department-tree edit and role change, each recorded in the
// audit trail with its actor and reason. It is safe for concurrent use.
type Manager struct {
	dir    *Directory
	st     ManagerStore
	access AccessStore
	ender  SessionEnder
	log    *slog.Logger
}

// NewManager returns a Manager over dir (credentials, ID rules), st and
// access.
func NewManager(dir *Directory, st ManagerStore, access AccessStore, o ManagerOptions) *Manager {
	m := &Manager{dir: dir, st: st, access: access, ender: o.Sessions, log: o.Logger}
	if m.log == nil {
		m.log = dir.log
	}
	return m
}

// Directory returns the directory the manager administers.
func (m *Manager) Directory() *Directory { return m.dir }

// Store returns the store the manager writes (for read-only lookups by
// the admin API and SCIM).
func (m *Manager) Store() ManagerStore { return m.st }

func (m *Manager) audit(actor, action, target, reason string, detail any) *storage.AuditEvent {
	ev := &storage.AuditEvent{ID: uuid.NewString(), At: m.dir.now().UTC(), Actor: actor, Action: action, Target: target, Reason: reason}
	if detail != nil {
		b, _ := json.Marshal(detail) // maps and structs of strings cannot fail
		ev.Detail = string(b)
	}
	return ev
}

func requireReason(a Action, reason string) error {
	if a.NeedsReason() && strings.TrimSpace(reason) == "" {
		return &FieldError{Field: "reason", Message: fmt.Sprintf("is required to %s an employee (it is kept in the audit trail)", strings.ReplaceAll(string(a), "_", " "))}
	}
	return nil
}

// Onboard adds an employee (Directory.Onboard's rules) and the employee
// role and an audit event, in one write. in.Password may be empty only
// when allowNoPassword is set (SCIM): the employee then cannot sign in
// until an administrator resets the password.
func (m *Manager) Onboard(ctx context.Context, actor string, in Onboarding, allowNoPassword bool) (*storage.Employee, error) {
	p, err := m.dir.prepareOnboard(ctx, in, !allowNoPassword)
	if err != nil {
		return nil, err
	}
	e := p.employee
	w := storage.EmployeeWrite{
		Employee: e, Create: true, SeqKey: p.seqKey, MakeID: p.makeID,
		Grants: []storage.RoleGrant{{Role: RoleEmployee, CreatedAt: e.CreatedAt}},
		Audit:  m.audit(actor, "employee.onboard", e.EmployeeID, "", map[string]string{"sub": e.Subject}),
	}
	if err := m.st.WriteEmployees(ctx, []storage.EmployeeWrite{w}); err != nil {
		return nil, onboardErr(err, e, p.seqKey)
	}
	return e, nil
}

// EmployeeChange is an update of an employee's own fields; nil leaves a
// field as it is.
type EmployeeChange struct {
	Name, Email, Title, ExternalID *string
}

// Update changes an employee's fields when version is the stored version
// (optimistic concurrency; the admin API's ETag). A stale version wraps
// storage.ErrConflict (E-205).
func (m *Manager) Update(ctx context.Context, actor, subject string, version int64, ch EmployeeChange) (*storage.Employee, error) {
	e, err := m.st.Employee(ctx, subject)
	if err != nil {
		return nil, err
	}
	if e.Version != version {
		return nil, fmt.Errorf("directory: %s is at version %d, not %d: %w", e.EmployeeID, e.Version, version, storage.ErrConflict)
	}
	if _, err := Transition(e.Status, ActionUpdate); err != nil {
		return nil, err
	}
	changed := map[string]string{}
	set := func(field string, dst *string, v *string, check func(string) error) error {
		if v == nil {
			return nil
		}
		nv := strings.TrimSpace(*v)
		if err := check(nv); err != nil {
			return err
		}
		if nv != *dst {
			*dst = nv
			changed[field] = nv
		}
		return nil
	}
	if err := errors.Join(
		set("name", &e.Name, ch.Name, func(s string) error { return checkName("name", s, true) }),
		set("email", &e.Email, ch.Email, checkEmail),
		set("title", &e.Title, ch.Title, func(s string) error { return checkName("title", s, false) }),
		set("external_id", &e.ExternalID, ch.ExternalID, checkExternalID),
	); err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		return e, nil
	}
	e.UpdatedAt = m.dir.now().UTC()
	w := storage.EmployeeWrite{Employee: e, Audit: m.audit(actor, "employee.update", e.EmployeeID, "", changed)}
	if err := m.st.WriteEmployees(ctx, []storage.EmployeeWrite{w}); err != nil {
		return nil, fmt.Errorf("directory: updating %s: %w", e.EmployeeID, err)
	}
	return e, nil
}

// maxRetries bounds the re-reads of a lifecycle action that lost a version
// race to a concurrent write (an action, unlike an edit, should win).
const maxRetries = 5

// apply runs one lifecycle action: load, check the transition, let mutate
// change the employee, write it with its audit event (retrying a lost
// version race on fresh data), then cut access when the action demands it.
// mutate may return an EmployeeWrite template (ReissueID and friends).
func (m *Manager) apply(ctx context.Context, actor, subject string, a Action, reason string, detail map[string]string,
	mutate func(e *storage.Employee, w *storage.EmployeeWrite) error) (*storage.Employee, error) {
	if err := requireReason(a, reason); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		e, err := m.st.Employee(ctx, subject)
		if err != nil {
			return nil, err
		}
		to, err := Transition(e.Status, a)
		if err != nil {
			return nil, err
		}
		oldID := e.EmployeeID
		e.Status = to
		e.UpdatedAt = m.dir.now().UTC()
		w := storage.EmployeeWrite{Employee: e}
		if mutate != nil {
			if err := mutate(e, &w); err != nil {
				return nil, err
			}
		}
		w.Audit = m.audit(actor, "employee."+string(a), oldID, strings.TrimSpace(reason), detail)
		err = m.st.WriteEmployees(ctx, []storage.EmployeeWrite{w})
		if errors.Is(err, storage.ErrConflict) && attempt < maxRetries {
			// Either a lost version race (re-read and retry) or a real
			// conflict such as a taken ID, which the retry meets again.
			if cur, gerr := m.st.Employee(ctx, subject); gerr == nil && cur.Version != e.Version {
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("directory: %s of %s: %w", a, oldID, err)
		}
		if a.CutsAccess() {
			if err := m.CutAccess(ctx, subject); err != nil {
				return e, err
			}
		}
		return e, nil
	}
}

// CutAccess ends every SSO session of subject, revokes their refresh
// tokens and deletes their access tokens, then tells the SessionEnder.
// Each step is idempotent; on an error the caller retries (the employee's
// state already refuses every token at use).
func (m *Manager) CutAccess(ctx context.Context, subject string) error {
	sessions, err := m.access.DeleteSessionsOfSubject(ctx, subject)
	if err != nil {
		return fmt.Errorf("directory: ending sessions: %w", err)
	}
	if err := m.st.RevokeRefreshTokensOfSubject(ctx, subject); err != nil {
		return fmt.Errorf("directory: revoking refresh tokens: %w", err)
	}
	if err := m.access.DeleteAccessTokensOfSubject(ctx, subject); err != nil {
		return fmt.Errorf("directory: deleting access tokens: %w", err)
	}
	if len(sessions) > 0 {
		if m.ender != nil {
			m.ender.SessionsEnded(ctx, subject, sessions)
		} else {
			m.log.InfoContext(ctx, "sessions ended; back-channel logout not configured", "sub", subject, "sessions", len(sessions))
		}
	}
	return nil
}

// Freeze suspends an employee: sign-in is refused with E-103 and every
// session and token they hold is dead before Freeze returns.
func (m *Manager) Freeze(ctx context.Context, actor, subject, reason string) (*storage.Employee, error) {
	return m.apply(ctx, actor, subject, ActionFreeze, reason, nil, nil)
}

// Unfreeze lets a frozen employee sign in again.
func (m *Manager) Unfreeze(ctx context.Context, actor, subject, reason string) (*storage.Employee, error) {
	return m.apply(ctx, actor, subject, ActionUnfreeze, reason, nil, nil)
}

// Leave marks an employee departed, for good: data and ID are kept (the
// ID is never issued again) and access is cut as by Freeze.
func (m *Manager) Leave(ctx context.Context, actor, subject, reason string) (*storage.Employee, error) {
	return m.apply(ctx, actor, subject, ActionLeave, reason, nil, nil)
}

// ResetPassword sets a new password (generated when password is empty;
// the generated one is returned, to be handed over once) and cuts access.
// Whoever reset it knows it, so it works for one sign-in only: the
// employee must choose a new password before that sign-in completes.
func (m *Manager) ResetPassword(ctx context.Context, actor, subject, password, reason string) (string, error) {
	if err := requireReason(ActionResetPassword, reason); err != nil {
		return "", err
	}
	generated := ""
	if password == "" {
		generated = rand.Text()[:20] // 100 bits, base32: easy to read out and type
		password = generated
	}
	e, err := m.st.Employee(ctx, subject)
	if err != nil {
		return "", err
	}
	if err := checkPasswordPolicy(password, e.EmployeeID); err != nil {
		return "", err
	}
	hash, err := m.dir.hasher.hash(ctx, password)
	if err != nil {
		return "", err
	}
	_, err = m.apply(ctx, actor, subject, ActionResetPassword, reason, nil, func(e *storage.Employee, _ *storage.EmployeeWrite) error {
		e.PasswordHash = hash
		e.PasswordChangeRequired = true
		return nil
	})
	if err != nil {
		return "", err
	}
	return generated, nil
}

// ResetTOTP removes the employee's TOTP seed, so they enrol again at the
// next sign-in, and cuts access.
func (m *Manager) ResetTOTP(ctx context.Context, actor, subject, reason string) (*storage.Employee, error) {
	return m.apply(ctx, actor, subject, ActionResetTOTP, reason, nil, func(e *storage.Employee, _ *storage.EmployeeWrite) error {
		e.TOTPSecret = nil
		return nil
	})
}

// Transfer moves an employee to department deptCode of entity (""
// = the employee's own entity). Within an entity only the department
// changes. To another entity, the employee gets a new ID from the target
// entity's rule (dated today); the old ID goes into the history, is never
// issued again and no longer signs in; sub stays; department-scoped role
// grants (old-entity departments) are revoked, whole-directory ones stay.
// version 0 skips the optimistic check.
func (m *Manager) Transfer(ctx context.Context, actor, subject string, version int64, entity, deptCode, reason string) (*storage.Employee, error) {
	deptCode = storage.CanonicalCode(deptCode)
	if deptCode == "" {
		return nil, &FieldError{Field: "department", Message: "is required"}
	}
	cur, err := m.st.Employee(ctx, subject)
	if err != nil {
		return nil, err
	}
	if version != 0 && cur.Version != version {
		return nil, fmt.Errorf("directory: %s is at version %d, not %d: %w", cur.EmployeeID, cur.Version, version, storage.ErrConflict)
	}
	entity = storage.CanonicalCode(entity)
	if entity == "" {
		entity = cur.Entity
	}
	ent, err := m.st.Entity(ctx, entity)
	if err != nil {
		return nil, notFoundAs(err, "entity", fmt.Sprintf("no legal entity %q", entity))
	}
	dept, err := m.st.DepartmentByCode(ctx, ent.Code, deptCode)
	if err != nil {
		return nil, notFoundAs(err, "department", fmt.Sprintf("no department %q in entity %s", deptCode, ent.Code))
	}
	detail := map[string]string{"to_entity": ent.Code, "to_department": dept.Code}
	return m.apply(ctx, actor, subject, ActionTransfer, reason, detail, func(e *storage.Employee, w *storage.EmployeeWrite) error {
		e.DepartmentID = dept.ID
		if e.Entity == ent.Code {
			return nil
		}
		var p prepared
		if err := m.dir.assignID(ent, dept, "", m.dir.now(), "", &p); err != nil {
			return err
		}
		oldID := e.EmployeeID
		e.Entity = ent.Code
		e.EmployeeID = ""
		w.ReissueID, w.SeqKey, w.MakeID = true, p.seqKey, p.makeID
		w.RetireReason = fmt.Sprintf("transfer to %s", ent.Code)
		// Department-scoped grants point at the old entity's departments.
		w.RevokeScopedGrants, w.RevokeAudit = true, m.scopedRevokeAudit(actor, oldID, w.RetireReason)
		return nil
	})
}

// GrantRole gives subject a role, scoped to departmentID's subtree (""
// = the whole directory).
func (m *Manager) GrantRole(ctx context.Context, actor, subject, role, departmentID string) error {
	role = strings.TrimSpace(role)
	if !roleRE.MatchString(role) {
		return &FieldError{Field: "role", Message: fmt.Sprintf("%q must be a lower-case letter then up to 63 of a-z, 0-9, ':', '_', '-'", role)}
	}
	e, err := m.st.Employee(ctx, subject)
	if err != nil {
		return err
	}
	if departmentID != "" {
		d, err := m.st.Department(ctx, departmentID)
		if err != nil {
			return notFoundAs(err, "department", "no such department")
		}
		if d.Entity != e.Entity {
			return &FieldError{Field: "department", Message: fmt.Sprintf("department %s is in entity %s, the employee in %s", d.Code, d.Entity, e.Entity)}
		}
	}
	if err := m.st.GrantRole(ctx, &storage.RoleGrant{Subject: subject, Role: role, DepartmentID: departmentID, CreatedAt: m.dir.now().UTC()}); err != nil {
		return err
	}
	return m.st.AppendAudit(ctx, m.audit(actor, "role.grant", e.EmployeeID, "", map[string]string{"role": role, "department_id": departmentID}))
}

// RevokeRole removes one grant. A reason is required.
func (m *Manager) RevokeRole(ctx context.Context, actor, subject, role, departmentID, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return &FieldError{Field: "reason", Message: "is required to revoke a role"}
	}
	e, err := m.st.Employee(ctx, subject)
	if err != nil {
		return err
	}
	if err := m.st.RevokeRoleGrant(ctx, subject, role, departmentID); err != nil {
		return err
	}
	return m.st.AppendAudit(ctx, m.audit(actor, "role.revoke", e.EmployeeID, reason, map[string]string{"role": role, "department_id": departmentID}))
}

// scopedRevokeAudit makes the role.revoke events of the department-scoped
// grants a cross-entity transfer drops (storage.EmployeeWrite.RevokeAudit).
func (m *Manager) scopedRevokeAudit(actor, employeeID, reason string) func(storage.RoleGrant) *storage.AuditEvent {
	return func(g storage.RoleGrant) *storage.AuditEvent {
		return m.audit(actor, "role.revoke", employeeID, reason, map[string]string{"role": g.Role, "department_id": g.DepartmentID})
	}
}

// CreateEntity adds a legal entity (Directory.CreateEntity) and audits it.
func (m *Manager) CreateEntity(ctx context.Context, actor, code, name, idRule string) (*storage.LegalEntity, error) {
	e, err := m.dir.CreateEntity(ctx, code, name, idRule)
	if err != nil {
		return nil, err
	}
	return e, m.st.AppendAudit(ctx, m.audit(actor, "entity.create", e.Code, "", map[string]string{"id_rule": e.IDRule}))
}

// CreateDepartment adds a department (Directory.CreateDepartment) and
// audits it.
func (m *Manager) CreateDepartment(ctx context.Context, actor, entity, code, name, parentCode string) (*storage.Department, error) {
	d, err := m.dir.CreateDepartment(ctx, entity, code, name, parentCode)
	if err != nil {
		return nil, err
	}
	return d, m.st.AppendAudit(ctx, m.audit(actor, "department.create", d.Entity+"/"+d.Code, "", map[string]string{"parent_id": d.ParentID}))
}

// DepartmentChange edits a department; nil leaves a field as it is. A
// ParentCode of "" makes the department a root.
type DepartmentChange struct {
	Code, Name, ParentCode *string
}

// UpdateDepartment renames or moves a department with its whole subtree.
// Moving a department under itself or one of its descendants is refused
// (a *FieldError on parent; a concurrent move that would close a cycle is
// refused by the store with storage.ErrConflict).
func (m *Manager) UpdateDepartment(ctx context.Context, actor, id string, ch DepartmentChange) (*storage.Department, error) {
	d, err := m.st.Department(ctx, id)
	if err != nil {
		return nil, err
	}
	detail := map[string]string{}
	if ch.Code != nil {
		code := storage.CanonicalCode(*ch.Code)
		if err := checkCode("code", code); err != nil {
			return nil, err
		}
		d.Code, detail["code"] = code, code
	}
	if ch.Name != nil {
		name := strings.TrimSpace(*ch.Name)
		if err := checkName("name", name, true); err != nil {
			return nil, err
		}
		d.Name, detail["name"] = name, name
	}
	if ch.ParentCode != nil {
		pc := storage.CanonicalCode(*ch.ParentCode)
		d.ParentID = ""
		if pc != "" {
			parent, err := m.st.DepartmentByCode(ctx, d.Entity, pc)
			if err != nil {
				return nil, notFoundAs(err, "parent", fmt.Sprintf("no department %q in entity %s", pc, d.Entity))
			}
			ancestors, err := m.Ancestors(ctx, parent.ID)
			if err != nil {
				return nil, err
			}
			if slices.Contains(ancestors, d.ID) {
				return nil, &FieldError{Field: "parent", Message: fmt.Sprintf("%s is inside %s's subtree: a department cannot move under itself", pc, d.Code)}
			}
			d.ParentID = parent.ID
		}
		detail["parent"] = pc
	}
	if err := m.st.UpdateDepartment(ctx, d); err != nil {
		return nil, fmt.Errorf("directory: updating department %s: %w", d.Code, err)
	}
	return d, m.st.AppendAudit(ctx, m.audit(actor, "department.update", d.Entity+"/"+d.Code, "", detail))
}

// DeleteDepartment removes an empty department. A reason is required.
func (m *Manager) DeleteDepartment(ctx context.Context, actor, id, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return &FieldError{Field: "reason", Message: "is required to delete a department"}
	}
	d, err := m.st.Department(ctx, id)
	if err != nil {
		return err
	}
	if err := m.st.DeleteDepartment(ctx, id); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("directory: department %s still has sub-departments or employees: %w", d.Code, err)
		}
		return err
	}
	return m.st.AppendAudit(ctx, m.audit(actor, "department.delete", d.Entity+"/"+d.Code, reason, nil))
}

// Ancestors returns the IDs from the root down to id (id included).
func (m *Manager) Ancestors(ctx context.Context, id string) ([]string, error) {
	var out []string
	for cur := id; cur != ""; {
		if len(out) >= maxDepartmentDepth {
			return nil, fmt.Errorf("directory: department %s is more than %d levels deep (a parent cycle?)", id, maxDepartmentDepth)
		}
		d, err := m.st.Department(ctx, cur)
		if err != nil {
			return nil, err
		}
		out = append(out, d.ID)
		cur = d.ParentID
	}
	slices.Reverse(out)
	return out, nil
}

// Subtree returns id and every department below it, from the entity's
// department list.
func Subtree(depts []storage.Department, id string) []string {
	children := map[string][]string{}
	for _, d := range depts {
		children[d.ParentID] = append(children[d.ParentID], d.ID)
	}
	out := []string{id}
	for i := 0; i < len(out) && i < len(depts)+1; i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}
