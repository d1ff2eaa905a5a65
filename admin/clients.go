package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

type clientJSON struct {
	ID                     string    `json:"id"`
	Name                   string    `json:"name"`
	Public                 bool      `json:"public"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	GrantTypes             []string  `json:"grant_types"`
	Scopes                 []string  `json:"scopes"`
	AccessTokenFormat      string    `json:"access_token_format"`
	RequireMFA             bool      `json:"require_mfa"`
	AllowedDepartments     []string  `json:"allowed_departments"`
	AllowedRoles           []string  `json:"allowed_roles"`
	ServiceRoles           []string  `json:"service_roles"`
	BackchannelLogoutURI   string    `json:"backchannel_logout_uri,omitempty"`
	CreatedAt              time.Time `json:"created_at"`
	// VisibleRoles as registered; [] = the default (employee, <id>:*).
	VisibleRoles []string `json:"visible_roles"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func clientOut(c *storage.Client) clientJSON {
	return clientJSON{
		ID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), AccessTokenFormat: string(c.AccessTokenFormat), RequireMFA: c.RequireMFA,
		AllowedDepartments: nonNil(c.AllowedDepartments), AllowedRoles: nonNil(c.AllowedRoles), ServiceRoles: nonNil(c.ServiceRoles),
		BackchannelLogoutURI: c.BackchannelLogoutURI, CreatedAt: c.CreatedAt, VisibleRoles: nonNil(c.VisibleRoles),
	}
}

// checkServiceRoles refuses roles a service account cannot hold.
func checkServiceRoles(roles []string) error {
	for _, r := range roles {
		if !slices.Contains(ServiceRoles, r) {
			return &directory.FieldError{Field: "service_roles", Message: fmt.Sprintf("unknown role %q (want %v)", r, ServiceRoles)}
		}
	}
	return nil
}

func (a *api) listClients(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.needGlobal(capReadClients, "reading clients"); err != nil {
		return err
	}
	cs, err := a.st.ListClients(r.Context())
	if err != nil {
		return err
	}
	items := []clientJSON{}
	for i := range cs {
		items = append(items, clientOut(&cs[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (a *api) getClient(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.needGlobal(capReadClients, "reading clients"); err != nil {
		return err
	}
	c, err := a.st.Client(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, clientOut(c))
	return nil
}

type clientFields struct {
	Name                   *string   `json:"name"`
	RedirectURIs           *[]string `json:"redirect_uris"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris"`
	Scopes                 *[]string `json:"scopes"`
	RequireMFA             *bool     `json:"require_mfa"`
	AllowedDepartments     *[]string `json:"allowed_departments"`
	AllowedRoles           *[]string `json:"allowed_roles"`
	ServiceRoles           *[]string `json:"service_roles"`
	BackchannelLogoutURI   *string   `json:"backchannel_logout_uri"`
	VisibleRoles           *[]string `json:"visible_roles"`
}

// apply merges f into c, validating through op.NewClient so the rules
// for redirect URIs, scopes and grants are the ones registration uses.
func (a *api) applyClient(r *http.Request, c *storage.Client, f clientFields) error {
	set := func(dst *[]string, v *[]string) {
		if v != nil {
			*dst = *v
		}
	}
	if f.Name != nil {
		c.Name = *f.Name
	}
	set(&c.RedirectURIs, f.RedirectURIs)
	set(&c.PostLogoutRedirectURIs, f.PostLogoutRedirectURIs)
	set(&c.Scopes, f.Scopes)
	set(&c.AllowedDepartments, f.AllowedDepartments)
	set(&c.AllowedRoles, f.AllowedRoles)
	set(&c.ServiceRoles, f.ServiceRoles)
	set(&c.VisibleRoles, f.VisibleRoles)
	if f.RequireMFA != nil {
		c.RequireMFA = *f.RequireMFA
	}
	if f.BackchannelLogoutURI != nil {
		c.BackchannelLogoutURI = *f.BackchannelLogoutURI
	}
	checked, _, err := op.NewClient(op.ClientSpec{
		ID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, Scopes: c.Scopes, AccessTokenFormat: c.AccessTokenFormat, RequireMFA: c.RequireMFA,
		BackchannelLogoutURI: c.BackchannelLogoutURI, VisibleRoles: c.VisibleRoles,
	}, c.CreatedAt)
	if err != nil {
		return err
	}
	c.Name, c.RedirectURIs, c.PostLogoutRedirectURIs, c.Scopes = checked.Name, checked.RedirectURIs, checked.PostLogoutRedirectURIs, checked.Scopes
	c.BackchannelLogoutURI = checked.BackchannelLogoutURI
	c.VisibleRoles = checked.VisibleRoles
	if err := checkServiceRoles(c.ServiceRoles); err != nil {
		return err
	}
	if len(c.ServiceRoles) > 0 && !slices.Contains(c.GrantTypes, op.GrantClientCredentials) {
		return &directory.FieldError{Field: "service_roles", Message: "only a client_credentials client (a service account) holds service roles"}
	}
	for _, id := range c.AllowedDepartments {
		if _, err := a.st.Department(r.Context(), id); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return &directory.FieldError{Field: "allowed_departments", Message: fmt.Sprintf("no department with ID %q", id)}
			}
			return err
		}
	}
	return nil
}

func (a *api) createClient(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.needGlobal(capWriteClients, "registering clients"); err != nil {
		return err
	}
	var in struct {
		ID                string   `json:"id"`
		Public            bool     `json:"public"`
		GrantTypes        []string `json:"grant_types"`
		AccessTokenFormat string   `json:"access_token_format"`
		clientFields
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	spec := op.ClientSpec{ID: in.ID, Public: in.Public, GrantTypes: in.GrantTypes, AccessTokenFormat: storage.AccessTokenFormat(in.AccessTokenFormat)}
	if in.Name != nil {
		spec.Name = *in.Name
	}
	if in.RedirectURIs != nil {
		spec.RedirectURIs = *in.RedirectURIs
	}
	c, secret, err := op.NewClient(spec, a.now())
	if err != nil {
		return err
	}
	if err := a.applyClient(r, c, in.clientFields); err != nil {
		return err
	}
	if err := a.st.CreateClient(r.Context(), c); err != nil {
		return err
	}
	if err := a.st.AppendAudit(r.Context(), a.auditEvent(p, "client.create", c.ID, "")); err != nil {
		return err
	}
	out := struct {
		clientJSON
		Secret string `json:"client_secret,omitempty"`
	}{clientOut(c), secret}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *api) updateClient(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.needGlobal(capWriteClients, "changing clients"); err != nil {
		return err
	}
	var in clientFields
	if err := decode(w, r, &in); err != nil {
		return err
	}
	c, err := a.st.Client(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	before := *c
	before.Scopes, before.GrantTypes = slices.Clone(c.Scopes), slices.Clone(c.GrantTypes)
	if err := a.applyClient(r, c, in); err != nil {
		return err
	}
	if err := a.st.UpdateClient(r.Context(), c); err != nil {
		return err
	}
	a.forgetClient(c.ID)
	// A scope or grant type taken away is taken from the tokens the
	// client holds too: its refresh families end (the employees sign in
	// again and get only what the client is allowed now), and what is
	// left is refused at use (op.Provider.VerifyAccessToken, principalOf).
	narrowed := op.Narrows(&before, c)
	if narrowed {
		if err := a.revokeClientTokens(r.Context(), c); err != nil {
			return err
		}
	}
	detail := ""
	if narrowed {
		detail = "scopes or grant types removed; the client's refresh tokens were revoked"
	}
	ev := a.auditEvent(p, "client.update", c.ID, "")
	ev.Detail = detail
	if err := a.st.AppendAudit(r.Context(), ev); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, clientOut(c))
	return nil
}

func (a *api) deleteClient(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.needGlobal(capWriteClients, "deleting clients"); err != nil {
		return err
	}
	reason := reasonOf(r, "")
	if err := requireField("reason", reason); err != nil {
		return err
	}
	c, err := a.st.Client(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := a.st.DeleteClient(r.Context(), c.ID); err != nil {
		return err
	}
	a.forgetClient(c.ID)
	if err := a.revokeClientTokens(r.Context(), c); err != nil {
		return err
	}
	if err := a.st.AppendAudit(r.Context(), a.auditEvent(p, "client.delete", c.ID, reason)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) auditEvent(p *principal, action, target, reason string) *storage.AuditEvent {
	return &storage.AuditEvent{ID: newID(), At: a.now().UTC(), Actor: p.actor, Action: action, Target: target, Reason: reason}
}

func newID() string { return uuid.NewString() }
