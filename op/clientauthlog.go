package op

import (
	"context"
	"net/http"
	"slices"
)

// Failed client authentication at the token, introspection and revocation
// endpoints is logged at warn with the client_id, the endpoint and the
// caller's IP (never the secret), so that secret guessing shows in the
// logs and can be alerted on. zitadel hands the storage only a context, so
// the request's details travel in it.

type requestInfoKey struct{}

type requestInfo struct {
	remoteIP, path string
}

// clientAuthPaths are the endpoints where clients authenticate.
var clientAuthPaths = []string{pathToken, pathIntrospect, pathRevoke}

// requestInfo records the caller's IP (by the same rule as /authorize's
// budget, X-Forwarded-For only when trusted) and the endpoint in the
// context of a client-authenticated request.
func (p *Provider) requestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(clientAuthPaths, r.URL.Path) {
			ri := &requestInfo{remoteIP: clientIP(r, p.cfg.TrustProxyHeaders), path: r.URL.Path}
			r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
		}
		next.ServeHTTP(w, r)
	})
}

// logClientAuthFailure records one refused client authentication.
func (p *Provider) logClientAuthFailure(ctx context.Context, clientID, reason string) {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	if ri == nil {
		ri = &requestInfo{}
	}
	if len(clientID) > 128 {
		clientID = clientID[:128] + "…" // a client_id is attacker input: bound what reaches the log
	}
	p.log.WarnContext(ctx, "client authentication failed",
		"client_id", clientID, "remote_ip", ri.remoteIP, "endpoint", ri.path, "reason", reason)
}
