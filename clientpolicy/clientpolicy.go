// Package clientpolicy holds the per-client rules that more than one
// package applies to an employee: the access policy (which departments and
// roles may use a client, whether it needs a second factor) and which of
// the employee's roles a client may see in the roles claim.
//
// login-ui applies Admits when a sign-in completes; op applies it again
// at every refresh, userinfo and introspection call, so an employee moved
// out of an allowed department (or stripped of an allowed role) loses the
// app at once rather than when their refresh token runs out. Keeping the
// predicate here is what keeps the two from drifting.
package clientpolicy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gongpai/gongpai/storage"
)

// AMRMFA is the authentication method reference login-ui records when a
// second factor was used.
const AMRMFA = "mfa"

// Restricted reports whether c limits who may sign in by department or
// role, i.e. whether Admits needs the employee's identity at all.
func Restricted(c *storage.Client) bool {
	return len(c.AllowedDepartments) > 0 || len(c.AllowedRoles) > 0
}

// Admits applies c's access policy to id: each non-empty list must match.
// AllowedDepartments match by subtree (id.DepartmentIDs runs from the root
// down to the employee's department); AllowedRoles match when the employee
// holds any of them. The employee's status is not looked at: callers
// refuse inactive employees first.
func Admits(c *storage.Client, id *storage.Identity) bool {
	if len(c.AllowedDepartments) > 0 && !slices.ContainsFunc(id.DepartmentIDs, func(d string) bool {
		return slices.Contains(c.AllowedDepartments, d)
	}) {
		return false
	}
	if len(c.AllowedRoles) > 0 && !slices.ContainsFunc(id.Roles, func(r string) bool {
		return slices.Contains(c.AllowedRoles, r)
	}) {
		return false
	}
	return true
}

// MFASatisfied reports whether an authentication with methods amr meets
// c's RequireMFA.
func MFASatisfied(c *storage.Client, amr []string) bool {
	return !c.RequireMFA || slices.Contains(amr, AMRMFA)
}

// RoleEmployee is the generic role every employee holds.
const RoleEmployee = "employee"

// DefaultVisibleRoles is what a client registered without a VisibleRoles
// list sees: the generic employee role and the roles named after the
// client ("erp:*" for client erp, so erp:approver but not crm:admin). The
// directory roles (admin, hr, auditor …) and other apps' roles stay out
// of its tokens unless they are listed.
func DefaultVisibleRoles(clientID string) []string {
	return []string{RoleEmployee, clientID + ":*"}
}

// EffectiveVisibleRoles is c's VisibleRoles, or the default for c.
func EffectiveVisibleRoles(c *storage.Client) []string {
	if len(c.VisibleRoles) > 0 {
		return c.VisibleRoles
	}
	return DefaultVisibleRoles(c.ID)
}

// VisibleRoles filters roles (sorted, distinct, as storage.Identity has
// them) to those c may see. It never returns nil.
func VisibleRoles(c *storage.Client, roles []string) []string {
	patterns := EffectiveVisibleRoles(c)
	out := []string{}
	for _, r := range roles {
		if slices.ContainsFunc(patterns, func(p string) bool { return roleMatches(p, r) }) {
			out = append(out, r)
		}
	}
	return out
}

// roleMatches: "*" matches every role, "prefix:*" every role that starts
// with "prefix:", anything else only itself.
func roleMatches(pattern, role string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(role, prefix)
	}
	return pattern == role
}

var (
	// roleName is directory's rule for role names.
	roleName = regexp.MustCompile(`^[a-z][a-z0-9:_-]{0,63}$`)
	// rolePrefix is a role-name prefix ending in ':' (before the '*').
	rolePrefix = regexp.MustCompile(`^[a-z][a-z0-9:_-]{0,62}:$`)
)

// CheckVisibleRoles validates a VisibleRoles list: exact role names,
// "prefix:*" patterns, or "*" (every role: an HR portal or admin console
// that shows an employee's directory roles). It returns the list trimmed
// and without duplicates; an empty list means the default.
func CheckVisibleRoles(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" || slices.Contains(out, p) {
			continue
		}
		ok := p == "*" || roleName.MatchString(p)
		if prefix, wild := strings.CutSuffix(p, "*"); wild && p != "*" {
			ok = rolePrefix.MatchString(prefix)
		}
		if !ok {
			return nil, fmt.Errorf("%q is neither a role name (a lower-case letter then up to 63 of a-z, 0-9, ':', '_', '-'), "+
				"a \"prefix:*\" pattern nor \"*\"", p)
		}
		out = append(out, p)
	}
	return out, nil
}
