package op

import (
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gongpai/gongpai/clientpolicy"
	"github.com/gongpai/gongpai/storage"
)

// Scopes gongpai knows. employee, roles and gongpai:admin are ours; the
// rest are OIDC's.
const (
	ScopeOpenID        = oidc.ScopeOpenID
	ScopeProfile       = oidc.ScopeProfile
	ScopeEmail         = oidc.ScopeEmail
	ScopeEmployee      = "employee"
	ScopeRoles         = "roles"
	ScopeOfflineAccess = oidc.ScopeOfflineAccess
	// ScopeAdmin marks an employee's access token as meant for gongpai's
	// admin API and SCIM, which refuse employee tokens without it (the
	// employee's roles then decide what the token may do). It carries no
	// claims. Only a client registered with it (client add --scope
	// gongpai:admin: an admin console) can obtain it; it is never among a
	// client's default scopes, so a token an ordinary app received cannot
	// be replayed against the admin API.
	ScopeAdmin = "gongpai:admin"
)

var knownScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeEmployee, ScopeRoles, ScopeOfflineAccess, ScopeAdmin}

// SupportedScopes lists every scope a client may be allowed to request.
func SupportedScopes() []string { return slices.Clone(knownScopes) }

// DefaultScopes are the scopes of a client registered without a list:
// every known scope but ScopeAdmin, which must be asked for by name.
func DefaultScopes() []string {
	return slices.DeleteFunc(SupportedScopes(), func(s string) bool { return s == ScopeAdmin })
}

func isKnownScope(s string) bool { return slices.Contains(knownScopes, s) }

func supportedClaims() []string {
	return []string{
		"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash", "c_hash",
		"name", "preferred_username", "email", "email_verified",
		"employee_id", "entity", "department", "department_name", "department_path", "title",
		"roles",
	}
}

// authContext is how the employee authenticated: it comes from the auth
// request or the refresh-token record and feeds the openid-scope claims.
type authContext struct {
	SessionID string
	AuthTime  time.Time
	AMR       []string
	ACR       string
}

// setClaims is the one mapping from an identity and granted scopes to
// claims; ID tokens, userinfo and introspection all go through it, so they
// cannot drift (ARCHITECTURE §4). Subject is always set: zitadel copies it
// over the ID token's sub, and userinfo must carry it. c is the client the
// claims are for: roles are filtered to what it may see
// (clientpolicy.VisibleRoles). JWT access tokens carry no employee claims
// (jwtaccess.go), so there is nothing to filter in them.
func setClaims(info *oidc.UserInfo, id *storage.Identity, c *storage.Client, scopes []string, ac authContext) {
	info.Subject = id.Subject
	for _, scope := range scopes {
		switch scope {
		case ScopeOpenID:
			// zitadel sets auth_time, amr and (for code exchanges) acr as
			// registered ID-token claims; these copies fill the gaps (acr
			// and sid on refreshed ID tokens) and are overridden by the
			// registered ones where both exist.
			if ac.SessionID != "" {
				info.AppendClaims("sid", ac.SessionID)
			}
			if !ac.AuthTime.IsZero() {
				info.AppendClaims("auth_time", ac.AuthTime.Unix())
			}
			if len(ac.AMR) > 0 {
				info.AppendClaims("amr", ac.AMR)
			}
			if ac.ACR != "" {
				info.AppendClaims("acr", ac.ACR)
			}
		case ScopeProfile:
			info.Name = id.Name
			info.PreferredUsername = id.EmployeeID
		case ScopeEmail:
			if id.Email != "" {
				info.Email = id.Email
				// Company addresses are assigned by HR, not self-declared,
				// but not unique: verified only when no other employee
				// has it (directory.Identity); otherwise the claim is left
				// out, which apps read as unverified.
				info.EmailVerified = oidc.Bool(id.EmailVerified)
			}
		case ScopeEmployee:
			info.AppendClaims("employee_id", id.EmployeeID)
			info.AppendClaims("entity", id.Entity)
			info.AppendClaims("department", id.Department)
			info.AppendClaims("department_name", id.DepartmentName)
			info.AppendClaims("department_path", nonNil(id.DepartmentPath))
			if id.Title != "" {
				info.AppendClaims("title", id.Title)
			}
		case ScopeRoles:
			info.AppendClaims("roles", clientpolicy.VisibleRoles(c, id.Roles))
		}
	}
}

// nonNil makes an empty list marshal as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
