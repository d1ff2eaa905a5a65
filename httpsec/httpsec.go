// Package httpsec holds the small HTTP rules the provider (op) and the
// sign-in pages (login-ui) must apply identically: which address a
// request comes from, how addresses are grouped for rate limits, and the
// HSTS header. One copy, so the two cannot drift apart.
package httpsec

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP is the address a request is attributed to (rate limits, logs).
// X-Forwarded-For is honoured only when trustProxy is set (the
// trust_proxy_headers setting), and then only its last entry: the one our
// own proxy appended; earlier ones are whatever the client sent. A last
// entry that is not an address falls back to the connection's address.
// IPv4-mapped IPv6 addresses are returned as IPv4.
func ClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				return a.Unmap().String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// RateKey is the rate-limit counter key for ip under prefix (such as
// "login:ip:"). IPv6 clients are grouped by /64: one host usually owns a
// whole /64, so counting single addresses would be trivially evaded.
func RateKey(prefix, ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
		if p, err := a.Prefix(64); err == nil {
			return prefix + p.String()
		}
	}
	return prefix + ip
}

// HSTS is the Strict-Transport-Security value of an https deployment. No
// includeSubDomains: the issuer's host may be the apex of names that are
// not ours to force onto https.
const HSTS = "max-age=31536000"

// StrictTransport sends HSTS on every response when secure (an https
// issuer); otherwise it returns next unchanged.
func StrictTransport(next http.Handler, secure bool) http.Handler {
	if !secure {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", HSTS)
		next.ServeHTTP(w, r)
	})
}
