package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/storage"
)

// apiRoutes is the admin API: one table for the mux and the document.
func (a *api) apiRoutes() []route {
	idParam := "{id}"
	emp := "/employees/" + idParam
	reasonRights := func(s string) string { return s + "; `reason` is required" }
	// onPerson: every write to an existing employee also needs the caller
	// to dominate the employee's privileged grants (lattice.go).
	onPerson := func(s string) string {
		return s + "; an employee holding hr, admin, auditor or scim only by an admin over a scope covering those grants"
	}
	return []route{
		{method: "GET", path: "/me", tag: "session", summary: "The caller: actor, roles and the employee record (if an employee)", rights: "any valid token", resp: "Me", status: 200, h: a.me},

		{method: "GET", path: "/entities", tag: "organisation", summary: "List legal entities", rights: "hr, admin, auditor, scim", resp: "EntityList", status: 200, h: a.listEntities},
		{method: "POST", path: "/entities", tag: "organisation", summary: "Add a legal entity with its employee-ID rule", rights: "admin over the whole directory", body: "EntityCreate", resp: "Entity", status: 201, h: a.createEntity},
		{method: "GET", path: "/entities/{code}", tag: "organisation", summary: "One legal entity", rights: "hr, admin, auditor, scim", resp: "Entity", status: 200, h: a.getEntity},
		{method: "GET", path: "/entities/{code}/departments", tag: "organisation", summary: "The entity's department tree (flat, parents first, with depth)", rights: "hr, admin, auditor, scim", resp: "DepartmentList", status: 200, h: a.listDepartments},
		{method: "POST", path: "/departments", tag: "organisation", summary: "Add a department", rights: "admin over the parent (the whole directory for a root)", body: "DepartmentCreate", resp: "Department", status: 201, h: a.createDepartment},
		{method: "GET", path: "/departments/{id}", tag: "organisation", summary: "One department", rights: "hr, admin, auditor, scim", resp: "Department", status: 200, h: a.getDepartment},
		{method: "PATCH", path: "/departments/{id}", tag: "organisation", summary: "Rename or move a department with its subtree (cycles refused)", rights: "admin over the department and the new parent", body: "DepartmentChange", resp: "Department", status: 200, h: a.updateDepartment},
		{method: "DELETE", path: "/departments/{id}", tag: "organisation", summary: "Delete an empty department", rights: reasonRights("admin over the department"), query: []param{{"reason", "string", "why (audit trail)"}}, resp: "", status: 204, h: a.deleteDepartment},

		{method: "GET", path: "/employees", tag: "employees", summary: "Search employees (within the caller's scope), paginated by cursor", rights: "hr, admin, auditor (results limited to their scope)",
			query: []param{{"id_prefix", "string", "employee IDs starting with"}, {"name", "string", "name contains (case-insensitive)"}, {"department", "string", "department code (with its subtree); needs entity"},
				{"entity", "string", "entity code"}, {"status", "string", "active, frozen or departed"}, {"limit", "integer", "page size, 1–500 (default 50)"}, {"cursor", "string", "next_cursor of the previous page"}},
			resp: "EmployeeList", status: 200, h: a.searchEmployees},
		{method: "POST", path: "/employees", tag: "employees", summary: "Onboard an employee (ID generated from the entity's rule unless given)", rights: "hr or admin over the department", body: "EmployeeCreate", resp: "Employee", status: 201, etag: true, h: a.createEmployee},
		{method: "GET", path: emp, tag: "employees", summary: "One employee, by sub or employee ID", rights: "the employee themself; hr, admin, auditor over their department", resp: "Employee", status: 200, etag: true, h: a.getEmployee},
		{method: "PATCH", path: emp, tag: "employees", summary: "Edit name, email, title, external ID (If-Match or version required; stale → E-205)", rights: onPerson("hr or admin over the department"), body: "EmployeeChange", resp: "Employee", status: 200, etag: true, h: a.updateEmployee},
		{method: "POST", path: emp + "/transfer", tag: "lifecycle", summary: "Transfer to another department; to another entity issues a new employee ID (the old one is kept in history), sub unchanged", rights: onPerson("hr or admin over the current and the target department"), body: "Transfer", resp: "Employee", status: 200, etag: true, h: a.transfer},
		{method: "POST", path: emp + "/freeze", tag: "lifecycle", summary: "Freeze: sign-in refused (E-103); sessions, refresh and access tokens dead before the answer", rights: onPerson(reasonRights("hr or admin over the department")), body: "Reason", resp: "Employee", status: 200, etag: true, h: a.lifecycle(directory.ActionFreeze)},
		{method: "POST", path: emp + "/unfreeze", tag: "lifecycle", summary: "Unfreeze", rights: onPerson("hr or admin over the department"), body: "Reason", resp: "Employee", status: 200, etag: true, h: a.lifecycle(directory.ActionUnfreeze)},
		{method: "POST", path: emp + "/leave", tag: "lifecycle", summary: "Mark departed (final; the ID is never reused); access cut as by freeze", rights: onPerson(reasonRights("hr or admin over the department")), body: "Reason", resp: "Employee", status: 200, etag: true, h: a.lifecycle(directory.ActionLeave)},
		{method: "POST", path: emp + "/reset-password", tag: "lifecycle", summary: "Set a new password (generated and returned once when none is given), to be changed by the employee at the next sign-in; access cut", rights: onPerson(reasonRights("hr or admin over the department")), body: "PasswordReset", resp: "PasswordResetResult", status: 200, h: a.resetPassword},
		{method: "POST", path: emp + "/reset-totp", tag: "lifecycle", summary: "Remove the TOTP key: the employee enrols again at the next sign-in; access cut", rights: onPerson(reasonRights("hr or admin over the department")), body: "Reason", resp: "Employee", status: 200, etag: true, h: a.lifecycle(directory.ActionResetTOTP)},
		{method: "GET", path: emp + "/history", tag: "employees", summary: "Retired employee IDs (cross-entity transfers)", rights: "the employee themself; hr, admin, auditor over their department", resp: "IDHistory", status: 200, h: a.history},
		{method: "GET", path: emp + "/roles", tag: "roles", summary: "The employee's role grants", rights: "the employee themself; hr, admin, auditor over their department", resp: "RoleGrantList", status: 200, h: a.listRoles},
		{method: "POST", path: emp + "/roles", tag: "roles", summary: "Grant a role, optionally scoped to a department subtree (a sub-administrator)", rights: onPerson("hr or admin over the employee and the grant's scope for an ordinary role (employee, app roles); admin for hr, admin, auditor, scim"), body: "RoleGrant", resp: "RoleGrantList", status: 200, h: a.grantRole},
		{method: "DELETE", path: emp + "/roles/{role}", tag: "roles", summary: "Revoke a role grant", rights: onPerson(reasonRights("as for granting")),
			query: []param{{"department", "string", "department code of a scoped grant, in the employee's entity, or the department ID the grant records (empty: the whole-directory grant)"},
				{"department_id", "string", "the exact department ID a grant records (RoleGrantList's department_id): revokes a grant scoped to a department of another entity or one that no longer exists"},
				{"reason", "string", "why (audit trail)"}}, resp: "", status: 204, h: a.revokeRole},

		{method: "GET", path: "/clients", tag: "clients", summary: "List relying parties and service accounts", rights: "admin, auditor", resp: "ClientList", status: 200, h: a.listClients},
		{method: "POST", path: "/clients", tag: "clients", summary: "Register a client (the secret is returned once)", rights: "admin over the whole directory", body: "ClientCreate", resp: "ClientCreated", status: 201, h: a.createClient},
		{method: "GET", path: "/clients/{id}", tag: "clients", summary: "One client", rights: "admin, auditor", resp: "Client", status: 200, h: a.getClient},
		{method: "PATCH", path: "/clients/{id}", tag: "clients", summary: "Change a client: redirect URIs, scopes, access policy, service roles …", rights: "admin over the whole directory", body: "ClientChange", resp: "Client", status: 200, h: a.updateClient},
		{method: "DELETE", path: "/clients/{id}", tag: "clients", summary: "Delete a client", rights: reasonRights("admin over the whole directory"), query: []param{{"reason", "string", "why (audit trail)"}}, resp: "", status: 204, h: a.deleteClient},

		{method: "POST", path: "/imports", tag: "import", summary: "Batch import of a UTF-8 CSV (see docs/directory.md): every row validated; nothing written if any row fails unless partial=true",
			rights: "hr or admin; each row must fall in the caller's scope",
			query:  []param{{"dry_run", "boolean", "validate and return the diff only"}, {"partial", "boolean", "apply the good rows even if some fail"}, {"reason", "string", "recorded in the audit trail (default: batch import)"}},
			body:   "csv", resp: "ImportReport", status: 200, h: a.importCSV},

		{method: "GET", path: "/audit", tag: "audit", summary: "The audit trail, newest first", rights: "admin, auditor",
			query: []param{{"target", "string", "employee ID, client ID or ENTITY/DEPT"}, {"before", "string", "id of the last event of the previous page"}, {"limit", "integer", "1–500 (default 100)"}},
			resp:  "AuditList", status: 200, h: a.listAudit},
	}
}

// ---- representations ----

type departmentRef struct {
	ID   string `json:"id"`
	Code string `json:"code"`
	Name string `json:"name"`
}

type employeeJSON struct {
	Subject     string         `json:"sub"`
	EmployeeID  string         `json:"employee_id"`
	ExternalID  string         `json:"external_id,omitempty"`
	Entity      string         `json:"entity"`
	Department  *departmentRef `json:"department,omitempty"`
	Name        string         `json:"name"`
	Email       string         `json:"email,omitempty"`
	Title       string         `json:"title,omitempty"`
	Status      string         `json:"status"`
	PasswordSet bool           `json:"password_set"`
	// PasswordChangeRequired: the password was set by HR or an
	// administrator and must be changed at the next sign-in.
	PasswordChangeRequired bool      `json:"password_change_required"`
	TOTPEnrolled           bool      `json:"totp_enrolled"`
	Version                int64     `json:"version"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`
}

func (a *api) employeeOut(ctx context.Context, e *storage.Employee, depts map[string]*storage.Department) (*employeeJSON, error) {
	out := &employeeJSON{
		Subject: e.Subject, EmployeeID: e.EmployeeID, ExternalID: e.ExternalID, Entity: e.Entity, Name: e.Name,
		Email: e.Email, Title: e.Title, Status: string(e.Status), PasswordSet: e.PasswordHash != "",
		PasswordChangeRequired: e.PasswordChangeRequired,
		TOTPEnrolled:           len(e.TOTPSecret) > 0, Version: e.Version, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
	}
	if e.DepartmentID != "" {
		d := depts[e.DepartmentID]
		if d == nil {
			var err error
			if d, err = a.st.Department(ctx, e.DepartmentID); err != nil {
				return nil, err
			}
			if depts != nil {
				depts[d.ID] = d
			}
		}
		out.Department = &departmentRef{ID: d.ID, Code: d.Code, Name: d.Name}
	}
	return out, nil
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

func (a *api) writeEmployee(w http.ResponseWriter, r *http.Request, status int, e *storage.Employee) error {
	out, err := a.employeeOut(r.Context(), e, nil)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(e.Version))
	writeJSON(w, status, out)
	return nil
}

// ---- /me ----

func (a *api) me(w http.ResponseWriter, r *http.Request, p *principal) error {
	out := map[string]any{"actor": p.actor, "roles": p.roles()}
	var grants []map[string]string
	for _, g := range p.grants {
		grants = append(grants, map[string]string{"role": g.role, "department_id": g.departmentID})
	}
	out["grants"] = grants
	if p.subject != "" {
		e, err := a.st.Employee(r.Context(), p.subject)
		if err != nil {
			return err
		}
		eo, err := a.employeeOut(r.Context(), e, nil)
		if err != nil {
			return err
		}
		out["employee"] = eo
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ---- entities and departments ----

type entityJSON struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	IDRule    string    `json:"id_rule"`
	CreatedAt time.Time `json:"created_at"`
}

func entityOut(e *storage.LegalEntity) entityJSON {
	return entityJSON{Code: e.Code, Name: e.Name, IDRule: e.IDRule, CreatedAt: e.CreatedAt}
}

func (a *api) listEntities(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.need(capReadOrg, "reading the organisation"); err != nil {
		return err
	}
	es, err := a.st.ListEntities(r.Context())
	if err != nil {
		return err
	}
	items := []entityJSON{}
	for i := range es {
		items = append(items, entityOut(&es[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (a *api) createEntity(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.needGlobal(capWriteOrg, "adding a legal entity"); err != nil {
		return err
	}
	var in struct {
		Code   string `json:"code"`
		Name   string `json:"name"`
		IDRule string `json:"id_rule"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	e, err := a.m.CreateEntity(r.Context(), p.actor, in.Code, in.Name, in.IDRule)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, entityOut(e))
	return nil
}

func (a *api) getEntity(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.need(capReadOrg, "reading the organisation"); err != nil {
		return err
	}
	e, err := a.st.Entity(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, entityOut(e))
	return nil
}

type departmentJSON struct {
	ID         string    `json:"id"`
	Entity     string    `json:"entity"`
	Code       string    `json:"code"`
	Name       string    `json:"name"`
	ParentID   string    `json:"parent_id,omitempty"`
	ParentCode string    `json:"parent_code,omitempty"`
	Depth      int       `json:"depth"`
	CreatedAt  time.Time `json:"created_at"`
}

func (a *api) departmentOut(ctx context.Context, d *storage.Department) (departmentJSON, error) {
	out := departmentJSON{ID: d.ID, Entity: d.Entity, Code: d.Code, Name: d.Name, ParentID: d.ParentID, CreatedAt: d.CreatedAt}
	path, err := a.m.Ancestors(ctx, d.ID)
	if err != nil {
		return out, err
	}
	out.Depth = len(path) - 1
	if d.ParentID != "" {
		parent, err := a.st.Department(ctx, d.ParentID)
		if err != nil {
			return out, err
		}
		out.ParentCode = parent.Code
	}
	return out, nil
}

func (a *api) listDepartments(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.need(capReadOrg, "reading the organisation"); err != nil {
		return err
	}
	ctx := r.Context()
	ent, err := a.st.Entity(ctx, r.PathValue("code"))
	if err != nil {
		return err
	}
	ds, err := a.st.ListDepartments(ctx, ent.Code)
	if err != nil {
		return err
	}
	// Parents first, depth-first, children by code.
	byID := map[string]storage.Department{}
	children := map[string][]string{}
	for _, d := range ds {
		byID[d.ID] = d
		children[d.ParentID] = append(children[d.ParentID], d.ID)
	}
	items := []departmentJSON{}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, id := range children[parent] {
			d := byID[id]
			item := departmentJSON{ID: d.ID, Entity: d.Entity, Code: d.Code, Name: d.Name, ParentID: d.ParentID, Depth: depth, CreatedAt: d.CreatedAt}
			if d.ParentID != "" {
				item.ParentCode = byID[d.ParentID].Code
			}
			items = append(items, item)
			if depth < 64 {
				walk(id, depth+1)
			}
		}
	}
	walk("", 0)
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (a *api) createDepartment(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Entity string `json:"entity"`
		Code   string `json:"code"`
		Name   string `json:"name"`
		Parent string `json:"parent"` // parent code
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	if in.Parent == "" {
		if err := p.needGlobal(capWriteOrg, "adding a root department"); err != nil {
			return err
		}
	} else {
		parent, err := a.st.DepartmentByCode(ctx, in.Entity, in.Parent)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				if err := p.need(capWriteOrg, "adding a department"); err != nil {
					return err
				}
				return &directory.FieldError{Field: "parent", Message: fmt.Sprintf("no department %q in entity %q", in.Parent, in.Entity)}
			}
			return err
		}
		path, err := a.m.Ancestors(ctx, parent.ID)
		if err != nil {
			return err
		}
		if err := p.needAt(capWriteOrg, path, "adding a department under "+parent.Code); err != nil {
			return err
		}
	}
	d, err := a.m.CreateDepartment(ctx, p.actor, in.Entity, in.Code, in.Name, in.Parent)
	if err != nil {
		return err
	}
	out, err := a.departmentOut(ctx, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *api) getDepartment(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.need(capReadOrg, "reading the organisation"); err != nil {
		return err
	}
	d, err := a.st.Department(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out, err := a.departmentOut(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) updateDepartment(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	var in struct {
		Code   *string `json:"code"`
		Name   *string `json:"name"`
		Parent *string `json:"parent"` // parent code; "" = make a root
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	d, err := a.st.Department(ctx, r.PathValue("id"))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			if err := p.need(capWriteOrg, "changing a department"); err != nil {
				return err
			}
		}
		return err
	}
	path, err := a.m.Ancestors(ctx, d.ID)
	if err != nil {
		return err
	}
	if err := p.needAt(capWriteOrg, path, "changing department "+d.Code); err != nil {
		return err
	}
	if in.Parent != nil {
		if *in.Parent == "" {
			if err := p.needGlobal(capWriteOrg, "making "+d.Code+" a root department"); err != nil {
				return err
			}
		} else if parent, err := a.st.DepartmentByCode(ctx, d.Entity, *in.Parent); err == nil {
			ppath, err := a.m.Ancestors(ctx, parent.ID)
			if err != nil {
				return err
			}
			if err := p.needAt(capWriteOrg, ppath, "moving "+d.Code+" under "+parent.Code); err != nil {
				return err
			}
		}
	}
	d, err = a.m.UpdateDepartment(ctx, p.actor, d.ID, directory.DepartmentChange{Code: in.Code, Name: in.Name, ParentCode: in.Parent})
	if err != nil {
		return err
	}
	out, err := a.departmentOut(ctx, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) deleteDepartment(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	d, err := a.st.Department(ctx, r.PathValue("id"))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			if err := p.need(capWriteOrg, "deleting a department"); err != nil {
				return err
			}
		}
		return err
	}
	path, err := a.m.Ancestors(ctx, d.ID)
	if err != nil {
		return err
	}
	if err := p.needAt(capWriteOrg, path, "deleting department "+d.Code); err != nil {
		return err
	}
	if err := a.m.DeleteDepartment(ctx, p.actor, d.ID, reasonOf(r, "")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- employees ----

// loadEmployee finds an employee by sub (a UUID) or employee ID.
func (a *api) loadEmployee(ctx context.Context, key string) (*storage.Employee, error) {
	if _, err := uuid.Parse(key); err == nil {
		return a.st.Employee(ctx, key)
	}
	return a.st.EmployeeByEmployeeID(ctx, key)
}

// employeeFor loads the employee of the {id} path value and checks that
// the caller holds c over their department (or, with self, is them).
// A missing employee is 404 only for callers who could see one at all,
// so the answer does not reveal who exists to those who may not look.
func (a *api) employeeFor(r *http.Request, p *principal, c capability, self bool, what string) (*storage.Employee, error) {
	ctx := r.Context()
	e, err := a.loadEmployee(ctx, r.PathValue("id"))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			if derr := p.need(c, what); derr != nil {
				return nil, derr
			}
		}
		return nil, err
	}
	if self && p.subject != "" && p.subject == e.Subject {
		return e, nil
	}
	path, err := a.m.Ancestors(ctx, e.DepartmentID)
	if err != nil {
		return nil, err
	}
	if err := p.needAt(c, path, what+" "+e.EmployeeID); err != nil {
		return nil, err
	}
	if c != capReadPeople {
		// A write: the caller must also dominate the employee's own
		// privileged grants (lattice.go).
		if err := a.guardTarget(ctx, p, e, what); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (a *api) getEmployee(w http.ResponseWriter, r *http.Request, p *principal) error {
	e, err := a.employeeFor(r, p, capReadPeople, true, "reading employee")
	if err != nil {
		return err
	}
	return a.writeEmployee(w, r, http.StatusOK, e)
}

const (
	defaultPage = 50
	maxPage     = 500
)

func pageSize(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPage {
		return 0, &directory.FieldError{Field: "limit", Message: fmt.Sprintf("must be a number from 1 to %d", maxPage)}
	}
	return n, nil
}

// scopeDepartments expands a scope's roots into every department ID
// below them (nil for a global scope: no filter).
func (a *api) scopeDepartments(ctx context.Context, s scope) ([]string, error) {
	if s.global {
		return nil, nil
	}
	out := []string{}
	for _, root := range s.roots {
		d, err := a.st.Department(ctx, root)
		if errors.Is(err, storage.ErrNotFound) {
			continue // a grant on a deleted department gives nothing
		}
		if err != nil {
			return nil, err
		}
		all, err := a.st.ListDepartments(ctx, d.Entity)
		if err != nil {
			return nil, err
		}
		for _, id := range directory.Subtree(all, root) {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

func (a *api) searchEmployees(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.need(capReadPeople, "searching employees"); err != nil {
		return err
	}
	ctx := r.Context()
	qv := r.URL.Query()
	limit, err := pageSize(r, defaultPage)
	if err != nil {
		return err
	}
	q := storage.EmployeeQuery{Entity: qv.Get("entity"), IDPrefix: qv.Get("id_prefix"), Name: qv.Get("name"), After: qv.Get("cursor"), Limit: limit}
	if st := qv.Get("status"); st != "" {
		switch storage.EmployeeStatus(st) {
		case storage.StatusActive, storage.StatusFrozen, storage.StatusDeparted:
			q.Status = storage.EmployeeStatus(st)
		default:
			return &directory.FieldError{Field: "status", Message: "must be active, frozen or departed"}
		}
	}
	if q.DepartmentIDs, err = a.scopeDepartments(ctx, p.scopeOf(capReadPeople)); err != nil {
		return err
	}
	if code := qv.Get("department"); code != "" {
		if q.Entity == "" {
			return &directory.FieldError{Field: "entity", Message: "is required with department (codes are per entity)"}
		}
		d, err := a.st.DepartmentByCode(ctx, q.Entity, code)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return &directory.FieldError{Field: "department", Message: fmt.Sprintf("no department %q in entity %q", code, q.Entity)}
			}
			return err
		}
		all, err := a.st.ListDepartments(ctx, d.Entity)
		if err != nil {
			return err
		}
		sub := directory.Subtree(all, d.ID)
		if q.DepartmentIDs == nil {
			q.DepartmentIDs = sub
		} else {
			q.DepartmentIDs = slices.DeleteFunc(q.DepartmentIDs, func(id string) bool { return !slices.Contains(sub, id) })
		}
	}
	page, err := a.st.SearchEmployees(ctx, q)
	if err != nil {
		return err
	}
	depts := map[string]*storage.Department{}
	items := []*employeeJSON{}
	for i := range page.Employees {
		eo, err := a.employeeOut(ctx, &page.Employees[i], depts)
		if err != nil {
			return err
		}
		items = append(items, eo)
	}
	out := map[string]any{"items": items, "total": page.Total}
	if len(page.Employees) == limit {
		out["next_cursor"] = page.Employees[len(page.Employees)-1].EmployeeID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) createEmployee(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Entity     string `json:"entity"`
		Department string `json:"department"`
		EmployeeID string `json:"employee_id"`
		ExternalID string `json:"external_id"`
		Name       string `json:"name"`
		Email      string `json:"email"`
		Title      string `json:"title"`
		Password   string `json:"password"`
		HireDate   string `json:"hire_date"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	if err := p.need(capWritePeople, "onboarding"); err != nil {
		return err
	}
	if err := errors.Join(requireField("entity", in.Entity), requireField("department", in.Department)); err != nil {
		return err
	}
	d, err := a.st.DepartmentByCode(ctx, in.Entity, in.Department)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return &directory.FieldError{Field: "department", Message: fmt.Sprintf("no department %q in entity %q", in.Department, in.Entity)}
		}
		return err
	}
	path, err := a.m.Ancestors(ctx, d.ID)
	if err != nil {
		return err
	}
	if err := p.needAt(capWritePeople, path, "onboarding into "+d.Code); err != nil {
		return err
	}
	var hire time.Time
	if in.HireDate != "" {
		if hire, err = time.Parse(time.DateOnly, in.HireDate); err != nil {
			return &directory.FieldError{Field: "hire_date", Message: "must be a date like 2023-03-01"}
		}
	}
	e, err := a.m.Onboard(ctx, p.actor, directory.Onboarding{
		Entity: in.Entity, Department: in.Department, EmployeeID: in.EmployeeID, ExternalID: in.ExternalID,
		Name: in.Name, Email: in.Email, Title: in.Title, Password: in.Password, HireDate: hire,
	}, true)
	if err != nil {
		return err
	}
	w.Header().Set("Location", APIPrefix+"/employees/"+e.Subject)
	return a.writeEmployee(w, r, http.StatusCreated, e)
}

// versionOf takes the expected version from If-Match or the body.
func versionOf(r *http.Request, body *int64) (int64, error) {
	if im := strings.TrimSpace(r.Header.Get("If-Match")); im != "" {
		v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(im, "W/"), `"`), 10, 64)
		if err != nil {
			return 0, &directory.FieldError{Field: "If-Match", Message: "must be the ETag of the employee, e.g. \"3\""}
		}
		return v, nil
	}
	if body != nil {
		return *body, nil
	}
	return 0, &directory.FieldError{Field: "version", Message: "is required (or send If-Match with the ETag): edits are refused on a stale version"}
}

func (a *api) updateEmployee(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Name       *string `json:"name"`
		Email      *string `json:"email"`
		Title      *string `json:"title"`
		ExternalID *string `json:"external_id"`
		Version    *int64  `json:"version"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	e, err := a.employeeFor(r, p, capWritePeople, false, "editing employee")
	if err != nil {
		return err
	}
	v, err := versionOf(r, in.Version)
	if err != nil {
		return err
	}
	e, err = a.m.Update(r.Context(), p.actor, e.Subject, v, directory.EmployeeChange{Name: in.Name, Email: in.Email, Title: in.Title, ExternalID: in.ExternalID})
	if err != nil {
		return err
	}
	return a.writeEmployee(w, r, http.StatusOK, e)
}

func (a *api) transfer(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Entity     string `json:"entity"`
		Department string `json:"department"`
		Reason     string `json:"reason"`
		Version    *int64 `json:"version"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	e, err := a.employeeFor(r, p, capWritePeople, false, "transferring employee")
	if err != nil {
		return err
	}
	if err := requireField("department", in.Department); err != nil {
		return err
	}
	entity := in.Entity
	if entity == "" {
		entity = e.Entity
	}
	target, err := a.st.DepartmentByCode(ctx, entity, in.Department)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return &directory.FieldError{Field: "department", Message: fmt.Sprintf("no department %q in entity %q", in.Department, entity)}
		}
		return err
	}
	path, err := a.m.Ancestors(ctx, target.ID)
	if err != nil {
		return err
	}
	if err := p.needAt(capWritePeople, path, "transferring into "+target.Code); err != nil {
		return err
	}
	var version int64
	if r.Header.Get("If-Match") != "" || in.Version != nil {
		if version, err = versionOf(r, in.Version); err != nil {
			return err
		}
	}
	e, err = a.m.Transfer(ctx, p.actor, e.Subject, version, entity, in.Department, in.Reason)
	if err != nil {
		return err
	}
	return a.writeEmployee(w, r, http.StatusOK, e)
}

func (a *api) lifecycle(act directory.Action) func(w http.ResponseWriter, r *http.Request, p *principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		var in struct {
			Reason string `json:"reason"`
		}
		if r.ContentLength != 0 {
			if err := decode(w, r, &in); err != nil {
				return err
			}
		}
		e, err := a.employeeFor(r, p, capWritePeople, false, strings.ReplaceAll(string(act), "_", " ")+" of employee")
		if err != nil {
			return err
		}
		ctx := r.Context()
		reason := reasonOf(r, in.Reason)
		switch act {
		case directory.ActionFreeze:
			e, err = a.m.Freeze(ctx, p.actor, e.Subject, reason)
		case directory.ActionUnfreeze:
			e, err = a.m.Unfreeze(ctx, p.actor, e.Subject, reason)
		case directory.ActionLeave:
			e, err = a.m.Leave(ctx, p.actor, e.Subject, reason)
		case directory.ActionResetTOTP:
			e, err = a.m.ResetTOTP(ctx, p.actor, e.Subject, reason)
		default:
			return fmt.Errorf("admin: no handler for %s", act)
		}
		if err != nil {
			return err
		}
		return a.writeEmployee(w, r, http.StatusOK, e)
	}
}

func (a *api) resetPassword(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Reason   string `json:"reason"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	e, err := a.employeeFor(r, p, capWritePeople, false, "resetting the password of employee")
	if err != nil {
		return err
	}
	generated, err := a.m.ResetPassword(r.Context(), p.actor, e.Subject, in.Password, in.Reason)
	if err != nil {
		return err
	}
	out := map[string]any{"employee_id": e.EmployeeID}
	if generated != "" {
		out["password"] = generated
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) history(w http.ResponseWriter, r *http.Request, p *principal) error {
	e, err := a.employeeFor(r, p, capReadPeople, true, "reading employee")
	if err != nil {
		return err
	}
	hs, err := a.st.EmployeeIDHistory(r.Context(), e.Subject)
	if err != nil {
		return err
	}
	items := []map[string]any{}
	for _, h := range hs {
		items = append(items, map[string]any{"employee_id": h.EmployeeID, "entity": h.Entity, "retired_at": h.RetiredAt, "reason": h.Reason})
	}
	writeJSON(w, http.StatusOK, map[string]any{"current": e.EmployeeID, "items": items})
	return nil
}

// ---- roles ----

func (a *api) writeRoles(w http.ResponseWriter, r *http.Request, subject string) error {
	ctx := r.Context()
	gs, err := a.st.RoleGrants(ctx, subject)
	if err != nil {
		return err
	}
	items := []map[string]string{}
	for _, g := range gs {
		item := map[string]string{"role": g.Role}
		if g.DepartmentID != "" {
			item["department_id"] = g.DepartmentID
			if d, err := a.st.Department(ctx, g.DepartmentID); err == nil {
				item["department"] = d.Code
			}
		}
		items = append(items, item)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (a *api) listRoles(w http.ResponseWriter, r *http.Request, p *principal) error {
	e, err := a.employeeFor(r, p, capReadPeople, true, "reading the roles of employee")
	if err != nil {
		return err
	}
	return a.writeRoles(w, r, e.Subject)
}

// grantScope resolves a grant's department code (in the employee's
// entity) and checks the caller may grant role over it: a privileged role
// needs admin there, an ordinary one hr or admin (lattice.go).
func (a *api) grantScope(ctx context.Context, p *principal, e *storage.Employee, role, deptCode, what string) (string, error) {
	c := grantCapability(role)
	if deptCode == "" {
		return "", p.needGlobal(c, what+" over the whole directory")
	}
	d, err := a.st.DepartmentByCode(ctx, e.Entity, deptCode)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return "", &directory.FieldError{Field: "department", Message: fmt.Sprintf("no department %q in entity %s", deptCode, e.Entity)}
		}
		return "", err
	}
	path, err := a.m.Ancestors(ctx, d.ID)
	if err != nil {
		return "", err
	}
	return d.ID, p.needAt(c, path, what+" over "+d.Code)
}

func (a *api) grantRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Role       string `json:"role"`
		Department string `json:"department"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	in.Role = strings.TrimSpace(in.Role)
	e, err := a.employeeFor(r, p, capGrantAppRoles, false, "granting roles to employee")
	if err != nil {
		return err
	}
	deptID, err := a.grantScope(r.Context(), p, e, in.Role, in.Department, "granting "+in.Role)
	if err != nil {
		return err
	}
	if err := a.m.GrantRole(r.Context(), p.actor, e.Subject, in.Role, deptID); err != nil {
		return err
	}
	return a.writeRoles(w, r, e.Subject)
}

func (a *api) revokeRole(w http.ResponseWriter, r *http.Request, p *principal) error {
	e, err := a.employeeFor(r, p, capGrantAppRoles, false, "revoking roles of employee")
	if err != nil {
		return err
	}
	role := r.PathValue("role")
	deptID, err := a.revokeScope(r.Context(), p, e, role, r.URL.Query())
	if err != nil {
		return err
	}
	if err := a.m.RevokeRole(r.Context(), p.actor, e.Subject, role, deptID, reasonOf(r, "")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- audit ----

func (a *api) listAudit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.needGlobal(capReadAudit, "reading the audit trail"); err != nil {
		return err
	}
	limit, err := pageSize(r, 100)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	evs, err := a.st.ListAudit(r.Context(), storage.AuditQuery{Target: q.Get("target"), Before: q.Get("before"), Limit: limit})
	if err != nil {
		return err
	}
	items := []map[string]any{}
	for _, ev := range evs {
		items = append(items, map[string]any{"id": ev.ID, "at": ev.At, "actor": ev.Actor, "action": ev.Action, "target": ev.Target, "reason": ev.Reason, "detail": ev.Detail})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}
