// Package op is gongpai's OpenID Provider: it adapts
// github.com/zitadel/oidc/v3/pkg/op onto gongpai's storage, signing keys and
// directory, maps employees to claims, and exposes the few methods the
// login pages call (AuthRequest, Complete, ErrorRedirect, OpenLogoutRequest).
//
// zitadel's op parses, validates and routes the protocol; it enforces none of
// single use, expiry, rotation or revocation, and it answers every plain
// storage error with a 500. This package therefore:
//   - returns *oidc.Error for every failure a client should see as a
//     protocol error (invalid_grant, invalid_request, …) and a logged
//     server_error only for backend faults;
//   - takes codes atomically, rotates refresh tokens by compare-and-swap and
//     revokes a whole family when a spent token comes back, and everything
//     a code gave when the code comes back (codereplay.go);
//   - applies the client's access policy (clientpolicy) again at every
//     refresh, userinfo and introspection call, and shows each client only
//     the roles it may see;
//   - records every access token, so userinfo, introspection and revocation
//     can check existence, expiry and the employee's status;
//   - overrides the token endpoint so PKCE binds every client type (the
//     zitadel LegacyServer skips it for confidential clients), refuses PKCE
//     "plain", trims discovery to what is really supported, and adds the
//     caching headers the spec requires;
//   - mints JWT access tokens itself, per RFC 9068 (typ at+jwt, scope and
//     the authentication context), which zitadel does not (jwtaccess.go);
//   - sends OIDC Back-Channel Logout tokens when sessions end
//     (LogoutSender, backchannel.go), which zitadel only advertises;
//   - binds every auth request to the browser that sent /authorize (a
//     cookie whose hash the request keeps; binding.go), checked by login-ui
//     before it completes a request and by the callback before a code goes
//     out;
//   - bounds what unauthenticated callers can store (body size, field
//     lengths, auth requests per client IP) and answers with RFC 6750 and
//     RFC 6749 §5.2 challenges (guard.go).
//
// No SQL and no HTML live here.
package op
