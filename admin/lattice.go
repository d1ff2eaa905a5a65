package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gongpai/gongpai/storage"
)

// The rights lattice (docs/directory.md, "Who may act on whom").
//
// Roles are ordered
//
//	admin  >  hr, auditor, scim  >  ordinary roles (employee, erp:approver …)
//
// and a grant holds over a scope: a department subtree, or the whole
// directory ("" — wider than every subtree). hr, auditor and scim are
// incomparable with each other; admin holds every right each of them
// gives. The first four are the privileged roles: they give rights in
// gongpai itself.
//
// Two rules follow, and the admin API and SCIM apply both:
//
//   - Acting on a person. Writing to an employee — edit, transfer, freeze,
//     unfreeze, leave, password and TOTP resets, role grants and revokes,
//     an import row that changes them, a SCIM write — needs, besides the
//     capability over their department, that the caller dominates every
//     privileged grant the employee holds: the caller holds admin over a
//     scope covering that grant's scope. So hr (scoped or not), a service
//     account with hr or scim, and an admin of a smaller subtree cannot
//     touch an administrator, an auditor or an hr officer: taking over an
//     account must never give the caller rights it did not have.
//   - Granting a role. A privileged role needs capGrantRoles (admin) over
//     the grant's scope: nobody hands out a right they do not hold there.
//     An ordinary role needs capGrantAppRoles (hr or admin) over it.

// privileged reports whether role gives rights in gongpai itself.
func privileged(role string) bool { return slices.Contains(ServiceRoles, role) }

// grantCapability is what granting or revoking role needs.
func grantCapability(role string) capability {
	if privileged(role) {
		return capGrantRoles
	}
	return capGrantAppRoles
}

// dominates reports whether p holds admin over a scope covering a grant
// scoped to departmentID ("" = the whole directory, covered only by a
// whole-directory admin). A grant on a department that no longer exists
// is treated as whole-directory: refusing is the safe side.
func (a *api) dominates(ctx context.Context, p *principal, departmentID string) (bool, error) {
	s := p.scopeOf(capGrantRoles)
	switch {
	case s.global:
		return true, nil
	case departmentID == "" || !s.any():
		return false, nil
	}
	path, err := a.m.Ancestors(ctx, departmentID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.covers(path), nil
}

// guardTarget refuses (403 E-102) when e holds a privileged grant p does
// not dominate. Every write to an existing employee goes through it
// (employeeFor with a write capability, imports, SCIM).
func (a *api) guardTarget(ctx context.Context, p *principal, e *storage.Employee, what string) error {
	gs, err := a.st.RoleGrants(ctx, e.Subject)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if !privileged(g.Role) {
			continue
		}
		ok, err := a.dominates(ctx, p, g.DepartmentID)
		if err != nil {
			return err
		}
		if !ok {
			where := "over the whole directory"
			if g.DepartmentID != "" {
				where = "over a department subtree"
				if d, err := a.st.Department(ctx, g.DepartmentID); err == nil {
					where = "over " + d.Code
				}
			}
			return denied(fmt.Sprintf("%s %s: they hold %s %s, so only an admin over that scope may act on them", what, e.EmployeeID, g.Role, where))
		}
	}
	return nil
}
