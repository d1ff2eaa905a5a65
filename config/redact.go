package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// redactedText replaces every secret in printed configuration.
const redactedText = "xxxxx"

// setting is one leaf of the configuration as it may be shown.
type setting struct {
	path, value string
}

// settings lists every leaf in declaration order with secrets replaced:
// fields tagged redact:"true" lose their value, redact:"dsn" their
// password.
func (c *Config) settings() []setting {
	var out []setting
	var walk func(v reflect.Value, path, redact string)
	walk = func(v reflect.Value, path, redact string) {
		if isLeaf(v.Type()) {
			out = append(out, setting{path: path, value: showLeaf(v, redact)})
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			walk(v.Field(i), join(path, yamlName(f)), f.Tag.Get("redact"))
		}
	}
	walk(reflect.ValueOf(c).Elem(), "", "")
	return out
}

func showLeaf(v reflect.Value, redact string) string {
	switch {
	case redact != "" && v.IsZero():
		return ""
	case redact == "dsn":
		return RedactDSN(v.String())
	case redact != "":
		return redactedText
	}
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	case *url.URL:
		if x == nil {
			return ""
		}
		return x.Redacted()
	case []string:
		return strings.Join(x, ",")
	case Key:
		return redactedText // also caught by the tag; never print key bytes
	default:
		return fmt.Sprint(x)
	}
}

// Redacted renders the configuration as "path: value" lines, one per
// setting, with keys and passwords replaced by xxxxx: safe to log or show.
func (c *Config) Redacted() string {
	var b strings.Builder
	for _, s := range c.settings() {
		fmt.Fprintf(&b, "%s: %s\n", s.path, s.value)
	}
	return b.String()
}

// String is Redacted, so that printing a *Config never leaks a secret.
func (c *Config) String() string { return c.Redacted() }

// LogValue logs every setting, redacted, under its YAML path.
func (c *Config) LogValue() slog.Value {
	ss := c.settings()
	attrs := make([]slog.Attr, 0, len(ss))
	for _, s := range ss {
		attrs = append(attrs, slog.String(s.path, s.value))
	}
	return slog.GroupValue(attrs...)
}

var (
	// password=secret or password = 'sec ret' in a key=value DSN.
	kvPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]+)`)
	// scheme://user:secret@ when the URL is ambiguous (a password with an
	// unescaped @ or /): everything up to the last @ goes.
	urlUserinfo = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://[^:@/]*:).*@`)
	// password=… among URL query parameters.
	queryPassword = regexp.MustCompile(`(?i)((?:^|&)password=)[^&]*`)
)

// RedactDSN replaces the password in a connection string, URL form
// (postgres://user:secret@host/db?password=…) or key=value form
// (host=db password=secret), with xxxxx. When in doubt it hides more.
func RedactDSN(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return kvPassword.ReplaceAllString(dsn, "${1}"+redactedText)
	}
	beforeQuery, query, hasQuery := strings.Cut(dsn, "?")
	u, err := url.Parse(dsn)
	if err != nil || strings.Count(beforeQuery, "@") > 1 {
		// Not parseable, or parseable only by misreading a password
		// that holds an unescaped @: redact textually.
		out := urlUserinfo.ReplaceAllString(beforeQuery, "${1}"+redactedText+"@")
		if hasQuery {
			out += "?" + queryPassword.ReplaceAllString(query, "${1}"+redactedText)
		}
		return out
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redactedText)
	}
	if q := u.Query(); len(q) > 0 {
		changed := false
		for k := range q {
			if strings.EqualFold(k, "password") {
				q.Set(k, redactedText)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}
