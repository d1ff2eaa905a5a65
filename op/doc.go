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
//     revokes a whole family when a spent token comes back;
//   - records every access token, so userinfo, introspection and revocation
//     can check existence, expiry and the employee's status;
//   - overrides the token endpoint so PKCE binds every client type (the
//     zitadel LegacyServer skips it for confidential clients), refuses PKCE
//     "plain", trims discovery to what is really supported, and adds the
//     caching headers the spec requires.
//
// No SQL and no HTML live here.
package op
