package admin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/storage"
)

// revokeScope resolves the department scope of a grant to revoke. The
// scope may be named by code (department=, in the employee's current
// entity, as for granting) or by the exact department ID the grant
// records (department_id=, or an ID given as department=): a grant scoped
// to a department of another entity (the employee transferred across
// entities since) or to a department that no longer exists cannot be
// named by code, and must still be revocable. An ID must be that of one
// of the employee's grants of role. The caller needs the rights granting
// would need over that department; over a department that no longer
// exists, over the whole directory.
func (a *api) revokeScope(ctx context.Context, p *principal, e *storage.Employee, role string, q url.Values) (string, error) {
	id, byID := q.Get("department_id"), q.Has("department_id")
	if !byID && q.Get("department") != "" {
		gs, err := a.st.RoleGrants(ctx, e.Subject)
		if err != nil {
			return "", err
		}
		if slices.ContainsFunc(gs, func(g storage.RoleGrant) bool { return g.Role == role && g.DepartmentID == q.Get("department") }) {
			id, byID = q.Get("department"), true
		}
	}
	what := "revoking " + role
	if !byID {
		return a.grantScope(ctx, p, e, role, q.Get("department"), what)
	}
	c := grantCapability(role)
	if id == "" {
		return "", p.needGlobal(c, what+" over the whole directory")
	}
	gs, err := a.st.RoleGrants(ctx, e.Subject)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(gs, func(g storage.RoleGrant) bool { return g.Role == role && g.DepartmentID == id }) {
		return "", &directory.FieldError{Field: "department_id", Message: fmt.Sprintf("the employee has no %s grant scoped to department ID %q", role, id)}
	}
	d, err := a.st.Department(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return id, p.needGlobal(c, what+" scoped to a department that no longer exists")
	} else if err != nil {
		return "", err
	}
	path, err := a.m.Ancestors(ctx, d.ID)
	if err != nil {
		return "", err
	}
	return id, p.needAt(c, path, what+" over "+d.Entity+"/"+d.Code)
}
