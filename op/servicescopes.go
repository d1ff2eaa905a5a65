package op

import "slices"

// serviceScopes are the only scopes a client_credentials token may carry.
// A service account is not an employee: openid, profile, email, employee,
// roles and offline_access describe or keep a person's session, so a
// service token never holds them (its rights in gongpai come from the
// client's service roles, not from scopes). gongpai:admin carries no
// claims and is harmless on a service token, so a client allowed it keeps
// it.
var serviceScopes = []string{ScopeAdmin}

func isServiceScope(s string) bool { return slices.Contains(serviceScopes, s) }
