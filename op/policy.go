package op

import (
	"context"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gongpai/gongpai/clientpolicy"
	"github.com/gongpai/gongpai/storage"
)

// authMethods is how the employee behind a token authenticated, when that
// is known: refresh tokens and auth requests record it, access-token
// records do not (so userinfo and introspection cannot re-check
// RequireMFA; an access token lives minutes, and the refresh that would
// extend the grant does re-check it).
type authMethods struct {
	amr   []string
	known bool
}

func amrOf(amr []string) authMethods { return authMethods{amr: amr, known: true} }

// employeeFor loads the employee behind a token issued to clientID and
// refuses, with refuse(), one who is no longer active, or whom the client's
// access policy no longer admits (clientpolicy.Admits: departments and
// roles, the same predicate login-ui applies at sign-in; and RequireMFA
// when am is known). An employee transferred out of an allowed department
// thus loses the app at the next refresh, userinfo or introspection call,
// not when the refresh family expires. The client is returned for the
// claims mapping (role visibility). A client that no longer exists
// refuses too.
func (p *Provider) employeeFor(ctx context.Context, subject, clientID string, am authMethods, refuse func() *oidc.Error) (*storage.Identity, *storage.Client, error) {
	c, err := p.clients.get(ctx, clientID)
	if err != nil {
		return nil, nil, p.protocolErr(ctx, "client", err, func() *oidc.Error { return refuse().WithDescription("unknown client") })
	}
	id, err := p.activeIdentity(ctx, subject, refuse)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case !clientpolicy.Admits(c, id):
		p.log.InfoContext(ctx, "client access policy no longer admits the employee; token refused",
			"client_id", c.ID, "sub", subject)
		return nil, nil, refuse().WithDescription("the employee may no longer use this client")
	case am.known && !clientpolicy.MFASatisfied(c, am.amr):
		p.log.InfoContext(ctx, "client requires MFA and the grant was obtained without it; token refused",
			"client_id", c.ID, "sub", subject)
		return nil, nil, refuse().WithDescription("this client requires multi-factor authentication; sign in again")
	}
	return id, c, nil
}
