package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// Directory roles the admin API understands. Any other role (employee,
// app roles such as erp:approver) gives no administrative right.
const (
	RoleHR      = "hr"      // edit employees in the department scope
	RoleAdmin   = "admin"   // everything in the department scope
	RoleAuditor = "auditor" // read everything in scope, change nothing
	RoleSCIM    = "scim"    // drive /scim/v2 (service accounts)
)

// ServiceRoles are the roles a client (service account) may hold.
var ServiceRoles = []string{RoleHR, RoleAdmin, RoleAuditor, RoleSCIM}

// capability is one kind of right; roles bundle them.
type capability int

const (
	capReadPeople    capability = iota // read employees, their roles and ID history
	capWritePeople                     // onboard, edit, transfer, freeze, leave, resets, import
	capReadOrg                         // read entities and departments
	capWriteOrg                        // create, move, delete departments; entities (whole directory only)
	capGrantRoles                      // grant and revoke privileged roles (hr, admin, auditor, scim); act on their holders (lattice.go)
	capGrantAppRoles                   // grant and revoke ordinary roles (employee, app roles such as erp:approver)
	capReadClients                     // read clients
	capWriteClients                    // register, change, delete clients (whole directory only)
	capReadAudit                       // read the audit trail
	capSCIM                            // use /scim/v2
)

var roleCaps = map[string][]capability{
	RoleAuditor: {capReadPeople, capReadOrg, capReadClients, capReadAudit},
	RoleHR:      {capReadPeople, capWritePeople, capReadOrg, capGrantAppRoles},
	RoleAdmin:   {capReadPeople, capWritePeople, capReadOrg, capWriteOrg, capGrantRoles, capGrantAppRoles, capReadClients, capWriteClients, capReadAudit, capSCIM},
	RoleSCIM:    {capSCIM, capReadOrg},
}

// grant is a role with its department scope ("" = the whole directory).
type grant struct {
	role, departmentID string
}

// principal is the authenticated caller.
type principal struct {
	actor   string // for the audit trail: "employee:<ID>" or "client:<ID>"
	subject string // the employee's sub; "" for a service account
	grants  []grant
}

// scope is where a right is held: global, or a set of department
// subtrees (by their root IDs).
type scope struct {
	global bool
	roots  []string
}

func (s scope) any() bool { return s.global || len(s.roots) > 0 }

// covers reports whether a department, given by its path of IDs from the
// root down, lies in the scope.
func (s scope) covers(path []string) bool {
	if s.global {
		return true
	}
	return slices.ContainsFunc(path, func(id string) bool { return slices.Contains(s.roots, id) })
}

// scopeOf gathers where the principal holds capability c.
func (p *principal) scopeOf(c capability) scope {
	var s scope
	for _, g := range p.grants {
		if !slices.Contains(roleCaps[g.role], c) {
			continue
		}
		if g.departmentID == "" {
			s.global = true
		} else if !slices.Contains(s.roots, g.departmentID) {
			s.roots = append(s.roots, g.departmentID)
		}
	}
	return s
}

func (p *principal) roles() []string {
	var out []string
	for _, g := range p.grants {
		if !slices.Contains(out, g.role) {
			out = append(out, g.role)
		}
	}
	slices.Sort(out)
	return out
}

func denied(what string) error {
	return &errcode.Error{Code: errcode.PermissionDenied, Status: http.StatusForbidden, Message: "permission denied: " + what}
}

// need refuses unless the principal holds c somewhere (any scope).
func (p *principal) need(c capability, what string) error {
	if !p.scopeOf(c).any() {
		return denied(what)
	}
	return nil
}

// needGlobal refuses unless the principal holds c for the whole directory.
func (p *principal) needGlobal(c capability, what string) error {
	if !p.scopeOf(c).global {
		return denied(what + " (needs a role over the whole directory)")
	}
	return nil
}

// needAt refuses unless c covers the department with this ID path.
func (p *principal) needAt(c capability, path []string, what string) error {
	if !p.scopeOf(c).covers(path) {
		return denied(what + " (outside your department scope)")
	}
	return nil
}

// authenticate resolves the bearer token to a principal. Missing or
// invalid: E-101.
func (a *api) authenticate(r *http.Request) (*principal, error) {
	raw, ok := bearer(r)
	if !ok {
		return nil, unauthenticated("send a gongpai access token as Authorization: Bearer <token>")
	}
	t, err := a.tokens.VerifyAccessToken(r.Context(), raw)
	if err != nil {
		if errors.Is(err, op.ErrInvalidToken) {
			return nil, unauthenticated("the access token is invalid, expired or revoked")
		}
		return nil, err
	}
	return a.principalOf(r.Context(), t)
}

func (a *api) principalOf(ctx context.Context, t *storage.AccessToken) (*principal, error) {
	if op.IsClientToken(t) {
		c, err := a.st.Client(ctx, t.ClientID)
		if err != nil {
			return nil, fmt.Errorf("admin: service account %s: %w", t.ClientID, err)
		}
		p := &principal{actor: "client:" + c.ID}
		for _, r := range c.ServiceRoles {
			p.grants = append(p.grants, grant{role: r})
		}
		return p, nil
	}
	// An employee's token from an ordinary app must not work here: the
	// app could replay it. Only tokens asked for with the admin scope,
	// which only clients allowed it can obtain, are accepted.
	if !slices.Contains(t.Scopes, op.ScopeAdmin) {
		return nil, errNotForAdmin
	}
	// The scope counts only while the client still has it: taking
	// gongpai:admin from a console (PATCH /clients/{id}) ends the admin
	// access of every token it holds, on every replica at once (the
	// client is read from the durable store, not a cache).
	if c, err := a.st.Client(ctx, t.ClientID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, unauthenticated("the access token is invalid, expired or revoked")
		}
		return nil, fmt.Errorf("admin: client of token: %w", err)
	} else if !slices.Contains(c.Scopes, op.ScopeAdmin) || t.CreatedAt.Before(c.CreatedAt) {
		return nil, errNotForAdmin
	}
	e, err := a.st.Employee(ctx, t.Subject)
	if err != nil {
		return nil, fmt.Errorf("admin: employee of token: %w", err)
	}
	gs, err := a.st.RoleGrants(ctx, t.Subject)
	if err != nil {
		return nil, err
	}
	p := &principal{actor: "employee:" + e.EmployeeID, subject: e.Subject}
	for _, g := range gs {
		p.grants = append(p.grants, grant{role: g.Role, departmentID: g.DepartmentID})
	}
	return p, nil
}

// errNotForAdmin refuses a valid employee token issued without
// op.ScopeAdmin: 403, as RFC 6750 §3.1 prescribes for insufficient_scope
// (the token is fine; it was not issued for this), with the error in
// WWW-Authenticate (writeError).
var errNotForAdmin = &errcode.Error{Code: errcode.PermissionDenied, Status: http.StatusForbidden,
	Message: "this access token was not issued for administration: sign in through a client allowed the " +
		op.ScopeAdmin + " scope, and request that scope"}

const insufficientScopeChallenge = `Bearer realm="gongpai admin", error="insufficient_scope", scope="` + op.ScopeAdmin + `"`

func unauthenticated(msg string) error {
	return &errcode.Error{Code: errcode.Unauthenticated, Status: http.StatusUnauthorized, Message: msg}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	tok := h[7:]
	return tok, tok != ""
}
