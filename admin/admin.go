// Package admin serves gongpai's administrative HTTP interfaces: the admin
// API under /admin/api/v1 (JSON, described by an OpenAPI 3 document at
// /admin/api/v1/openapi.json) and SCIM 2.0 under /scim/v2.
//
// Callers present gongpai's own access tokens: an employee's, issued with
// the gongpai:admin scope (op.ScopeAdmin) to a client allowed it — their
// roles and department scopes decide what they may do — or a service
// account's (a client_credentials client whose ServiceRoles apply to the
// whole directory). Every error is an errcode.Error: 401 E-101 without a
// valid token, 403 E-102 for a right the caller lacks or an employee token
// without gongpai:admin (WWW-Authenticate error="insufficient_scope"),
// 400 E-201 naming the field, 404 E-204, 409 E-205 for a duplicate or a
// stale version.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// Prefixes the handler serves.
const (
	APIPrefix  = "/admin/api/v1"
	SCIMPrefix = "/scim/v2"
)

// Tokens verifies gongpai access tokens; *op.Provider satisfies it.
type Tokens interface {
	VerifyAccessToken(ctx context.Context, raw string) (*storage.AccessToken, error)
}

// Store is what the API reads and writes beyond the Manager's methods.
// Every storage.Store satisfies it (DirectoryAdmin is part of Durable).
type Store interface {
	directory.ManagerStore
	Client(ctx context.Context, id string) (*storage.Client, error)
	ListClients(ctx context.Context) ([]storage.Client, error)
	CreateClient(ctx context.Context, c *storage.Client) error
	// Deleting a client, or taking a scope or grant type from it, revokes
	// its tokens (clients.go, op.RevokeClientTokens).
	op.ClientTokenRevoker
}

// ClientCache is implemented by a Tokens (*op.Provider) that caches
// clients: the API tells it about every changed or deleted client, so the
// change takes effect on this replica at once.
type ClientCache interface {
	ForgetClient(id string)
}

var _ ClientCache = (*op.Provider)(nil)

var _ Store = storage.Store(nil)

// Options configure the handler.
type Options struct {
	Manager *directory.Manager
	Store   Store
	Tokens  Tokens
	Issuer  string // the public base URL, for the OpenAPI servers entry and SCIM locations
	Now     func() time.Time
	Logger  *slog.Logger
}

type api struct {
	m      *directory.Manager
	st     Store
	tokens Tokens
	issuer string
	now    func() time.Time
	log    *slog.Logger
	routes []route
}

// New returns the handler for /admin/api/v1/ and /scim/v2/.
func New(o Options) (http.Handler, error) {
	if o.Manager == nil || o.Store == nil || o.Tokens == nil {
		return nil, errors.New("admin: Manager, Store and Tokens are required")
	}
	a := &api{m: o.Manager, st: o.Store, tokens: o.Tokens, issuer: strings.TrimSuffix(o.Issuer, "/"), now: o.Now, log: o.Logger}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.routes = a.apiRoutes()
	mux := http.NewServeMux()
	for _, rt := range a.routes {
		mux.Handle(rt.method+" "+APIPrefix+rt.path, a.wrap(rt))
	}
	mux.HandleFunc("GET "+APIPrefix+"/openapi.json", a.openAPI)
	mux.HandleFunc(APIPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, &errcode.Error{Code: errcode.NotFound, Status: http.StatusNotFound, Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	a.scimRoutes(mux)
	return securityHeaders(mux), nil
}

// route is one admin-API endpoint: the mux pattern, its OpenAPI entry and
// its handler. The one table drives both, so the document cannot drift
// from what is served.
type route struct {
	method, path string // path below APIPrefix, with {params}
	summary      string
	rights       string // who may call it, for the document
	tag          string
	query        []param
	body         string // request schema name ("" = none; "csv" = text/csv)
	resp         string // response schema name ("" = 204)
	status       int
	etag         bool // answers with an ETag / honours If-Match
	h            func(w http.ResponseWriter, r *http.Request, p *principal) error
}

type param struct {
	name, typ, doc string
}

func (a *api) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if err := rt.h(w, r, p); err != nil {
			a.writeError(w, r, err)
		}
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// writeError answers with the errcode shape; unexpected errors are logged
// here, once, and answered generically.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := errcode.From(err)
	if e.Code == errcode.Internal || e.Code == errcode.Unavailable {
		a.log.ErrorContext(r.Context(), "admin API", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	switch {
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="gongpai admin"`)
	case e == errNotForAdmin:
		w.Header().Set("WWW-Authenticate", insufficientScopeChallenge)
	}
	if strings.HasPrefix(r.URL.Path, SCIMPrefix) {
		writeSCIMError(w, status, e)
		return
	}
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// maxJSONBody bounds a JSON request body.
const maxJSONBody = 1 << 20

// decode reads a JSON body into v, refusing unknown fields so a typo is
// an error rather than a silent no-op.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &directory.FieldError{Field: "body", Message: "a JSON object is required"}
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return &directory.FieldError{Field: ute.Field, Message: fmt.Sprintf("must be a JSON %s", ute.Type)}
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return &directory.FieldError{Field: strings.Trim(f, `"`), Message: "is not a known field"}
		}
		return &directory.FieldError{Field: "body", Message: "is not valid JSON: " + err.Error()}
	}
	return nil
}

// reasonOf takes the reason of a destructive call from the JSON body or
// the ?reason= query (DELETE requests often carry no body).
func reasonOf(r *http.Request, body string) string {
	if body != "" {
		return body
	}
	return r.URL.Query().Get("reason")
}

func requireField(name, v string) error {
	if strings.TrimSpace(v) == "" {
		return &directory.FieldError{Field: name, Message: "is required"}
	}
	return nil
}
