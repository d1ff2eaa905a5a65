package loginui

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gongpai/gongpai/errcode"
)

//go:embed templates/*.html static/*
var assets embed.FS

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"password", "totp", "enrol", "newpassword", "error", "logout", "loggedout"}

func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// page is the data every template gets. Templates call {{.T "key"}} for
// text, so every string goes through the catalogue.
type page struct {
	Lang  string
	Title string

	CSRF          string
	AuthRequestID string
	ClientName    string
	Error         string // shown in the role="alert" element
	ErrorCode     string // E-103 …, shown beside Error
	EmployeeID    string // prefill
	FocusPassword bool   // the ID is prefilled, so start at the password

	// enrolment
	QR         template.URL // data:image/png;base64,…
	SetupKey   string       // base32 in groups of four
	OTPAuthURL template.URL

	// password change
	MinPasswordLength int
	MaxPasswordBytes  int
	InvalidField      string // the input Error is about

	// logout
	LR string

	// ContinueURL is where an error page sends the browser on (the app's
	// redirect URI carrying an OAuth error), by link and after a pause.
	ContinueURL string

	// formTargets are the URLs a form's redirect chain may end at; their
	// origins join form-action.
	formTargets []string
}

// T translates key into the page language.
func (p *page) T(key string, args ...any) string { return translate(p.Lang, key, args...) }

// render writes a full page with status. It renders into a buffer first
// so a template error becomes a clean 500, not half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.ErrorContext(r.Context(), "login-ui: render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if len(p.formTargets) > 0 {
		w.Header().Set("Content-Security-Policy", formActionCSP(p.formTargets))
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows a page with one message and, when code is set, the
// stable error code (ARCHITECTURE §7). Detail stays in the log.
func (h *handler) renderError(w http.ResponseWriter, r *http.Request, lang string, status int, key, code string) {
	title := "err_title"
	switch key {
	case "err_expired":
		title = "err_expired_title"
	case "err_logout":
		title = "err_logout_title"
	case "err_csrf":
		title = "err_csrf_title"
	case "err_password_stale":
		title = "err_password_stale_title"
	case "err_credentials_changed":
		title = "err_credentials_changed_title"
	case "err_not_found":
		title = "err_not_found_title"
	}
	p := &page{Lang: lang, ErrorCode: code}
	p.Title = p.T(title)
	p.Error = p.T(key)
	h.render(w, r, status, "error", p)
}

// internalError logs err once, at the boundary, and shows a generic page:
// 503 when the store is unreachable, 500 otherwise.
func (h *handler) internalError(w http.ResponseWriter, r *http.Request, lang, what string, err error) {
	h.log.ErrorContext(r.Context(), "login-ui: "+what, "err", err)
	e := errcode.From(err)
	if e.Status == http.StatusServiceUnavailable {
		h.renderError(w, r, lang, http.StatusServiceUnavailable, "err_unavailable", errcode.Unavailable)
		return
	}
	h.renderError(w, r, lang, http.StatusInternalServerError, "err_internal", errcode.Internal)
}

// formActionCSP widens form-action to the origins a form submission may be
// redirected to. Browsers (Chrome in particular) check form-action on
// every redirect that follows a form POST, and our POSTs end, through the
// same-origin provider callback, at the app's redirect URI.
func formActionCSP(targets []string) string {
	sources := []string{"'self'"}
	for _, t := range targets {
		if s, ok := cspSource(t); ok {
			sources = append(sources, s)
		}
	}
	return strings.Replace(baseCSP, "form-action 'self'", "form-action "+strings.Join(sources, " "), 1)
}

// cspSource turns a redirect URI into a CSP source expression: the origin
// for http(s), the scheme for a native app's custom scheme. Anything that
// could break out of the header value is refused.
func cspSource(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	for i, c := range scheme {
		ok := c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
		if !ok {
			return "", false
		}
	}
	if scheme != "http" && scheme != "https" {
		return scheme + ":", true
	}
	if u.Host == "" {
		return "", false
	}
	for _, c := range u.Host {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'
		if !ok {
			return "", false
		}
	}
	return scheme + "://" + u.Host, true
}
