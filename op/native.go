package op

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gongpai/gongpai/storage"
)

// Native apps (RFC 8252). Redirect URIs match exactly, with one exception
// and one extra kind of URI, both for public clients only:
//
//   - §7.3: a loopback IP redirect (http://127.0.0.1:PORT/…,
//     http://[::1]:PORT/…) matches whatever port the request names, since
//     a native app listens on an ephemeral port the OS hands it. Scheme,
//     host (the same IP literal: 127.0.0.1 never stands in for [::1] or
//     localhost), path and query must still match exactly. "localhost" is
//     not a loopback IP literal (§8.3) and keeps exact matching.
//   - §7.1: a private-use URI scheme in reverse-DNS form
//     (com.example.app:/oauth2redirect) may be registered. As §7.1 requires
//     there is no authority: one slash follows the scheme.
//
// Confidential clients, and every other URI, match exactly: a confidential
// client is a server with a fixed address, and a port-agnostic rule would
// only widen where its codes may go.

// redirectRegistered reports whether uri is a redirect URI c may use.
func redirectRegistered(c *storage.Client, uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if !c.Public {
		return false
	}
	req, ok := loopbackIPRedirect(uri)
	if !ok {
		return false
	}
	for _, raw := range c.RedirectURIs {
		reg, ok := loopbackIPRedirect(raw)
		if ok && reg.Hostname() == req.Hostname() && reg.EscapedPath() == req.EscapedPath() &&
			reg.RawQuery == req.RawQuery && reg.ForceQuery == req.ForceQuery {
			return true
		}
	}
	return false
}

// loopbackIPRedirect parses raw when it is an RFC 8252 §7.3 loopback
// redirect: http, a loopback IP literal as host, a valid or no port, and
// neither credentials nor fragment.
func loopbackIPRedirect(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") || u.Opaque != "" {
		return nil, false
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil || !ip.IsLoopback() || ip.Zone() != "" {
		return nil, false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return nil, false
		}
	}
	return u, true
}

// reverseDNSScheme is a private-use scheme named after a domain the app's
// publisher controls, in reverse order (RFC 8252 §7.1, RFC 7595 §3.8): at
// least two dot-separated labels. url.Parse has already lower-cased it.
var reverseDNSScheme = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

// privateUseRedirect checks raw as an RFC 8252 §7.1 private-use URI
// scheme redirect. isPrivate is false when raw is not one at all (so the
// caller's ordinary rules apply); problem says why one is not acceptable.
func privateUseRedirect(raw string) (isPrivate bool, problem string) {
	scheme, rest, found := strings.Cut(raw, ":")
	if !found || scheme == "" || !strings.Contains(scheme, ".") {
		return false, ""
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
		return false, ""
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return false, ""
	case !reverseDNSScheme.MatchString(u.Scheme):
		return true, "a private-use scheme must be a domain name in reverse order, such as com.example.app"
	case strings.HasPrefix(rest, "//"):
		return true, "a private-use scheme is followed by a single slash (com.example.app:/callback), not \"//\""
	case !strings.HasPrefix(rest, "/") || u.Opaque != "":
		return true, "a private-use scheme redirect needs a path (com.example.app:/callback)"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return true, "has a fragment"
	}
	return true, ""
}

// validClientRedirects is validRedirects for a client's redirect and
// post-logout redirect URIs: a public client may also register
// private-use scheme URIs (RFC 8252 §7.1).
func validClientRedirects(field string, uris []string, public bool) ([]string, error) {
	var web []string
	out := make([]string, 0, len(uris))
	for _, raw := range uris {
		isPrivate, problem := privateUseRedirect(raw)
		switch {
		case !isPrivate:
			web = append(web, raw)
			out = append(out, raw)
		case !public:
			return nil, &FieldError{field, fmt.Sprintf("%q: private-use URI schemes are for native apps, which register as public clients; "+
				"a confidential client's scheme must be https (or http on loopback)", raw)}
		case problem != "":
			return nil, &FieldError{field, fmt.Sprintf("%q: %s", raw, problem)}
		default:
			out = append(out, raw)
		}
	}
	if _, err := validRedirects(field, web); err != nil {
		return nil, err
	}
	return dedupeExact(out), nil
}

// dedupeExact drops repeated entries, keeping the first of each.
func dedupeExact(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
