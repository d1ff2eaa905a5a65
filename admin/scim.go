package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/storage"
)

// SCIM 2.0 (RFC 7643, RFC 7644) over the directory: Users are employees
// (userName and the enterprise employeeNumber are the employee ID,
// organization the entity, department the department code, active false
// = frozen), Groups are departments (read-only). A departed employee is
// gone as far as SCIM is concerned (404), though the directory keeps them.

const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatch      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimContentType  = "application/scim+json"
	maxSCIMCount     = 200
)

func (a *api) scimRoutes(mux *http.ServeMux) {
	auth := func(h func(w http.ResponseWriter, r *http.Request, p *principal) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := a.authenticate(r)
			if err == nil {
				err = a.scimAllowed(p)
			}
			if err == nil {
				err = h(w, r, p)
			}
			if err != nil {
				a.writeError(w, r, err)
			}
		})
	}
	public := func(v func() any) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { writeSCIM(w, http.StatusOK, v()) }
	}
	mux.HandleFunc("GET "+SCIMPrefix+"/ServiceProviderConfig", public(a.serviceProviderConfig))
	mux.HandleFunc("GET "+SCIMPrefix+"/Schemas", public(func() any { return listResponse(scimSchemas(), len(scimSchemas()), 1) }))
	mux.HandleFunc("GET "+SCIMPrefix+"/Schemas/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, s := range scimSchemas() {
			if s["id"] == r.PathValue("id") {
				writeSCIM(w, http.StatusOK, s)
				return
			}
		}
		a.writeError(w, r, storage.ErrNotFound)
	})
	mux.HandleFunc("GET "+SCIMPrefix+"/ResourceTypes", public(func() any { return listResponse(scimResourceTypes(), 2, 1) }))
	mux.HandleFunc("GET "+SCIMPrefix+"/ResourceTypes/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, s := range scimResourceTypes() {
			if s["id"] == r.PathValue("id") {
				writeSCIM(w, http.StatusOK, s)
				return
			}
		}
		a.writeError(w, r, storage.ErrNotFound)
	})
	mux.Handle("GET "+SCIMPrefix+"/Users", auth(a.scimListUsers))
	mux.Handle("POST "+SCIMPrefix+"/Users", auth(a.scimCreateUser))
	mux.Handle("GET "+SCIMPrefix+"/Users/{id}", auth(a.scimGetUser))
	mux.Handle("PUT "+SCIMPrefix+"/Users/{id}", auth(a.scimReplaceUser))
	mux.Handle("PATCH "+SCIMPrefix+"/Users/{id}", auth(a.scimPatchUser))
	mux.Handle("DELETE "+SCIMPrefix+"/Users/{id}", auth(a.scimDeleteUser))
	mux.Handle("GET "+SCIMPrefix+"/Groups", auth(a.scimListGroups))
	mux.Handle("GET "+SCIMPrefix+"/Groups/{id}", auth(a.scimGetGroup))
	mux.HandleFunc(SCIMPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, &errcode.Error{Code: errcode.NotFound, Status: http.StatusNotFound, Message: "no such SCIM endpoint: " + r.Method + " " + r.URL.Path})
	})
}

// scimAllowed: a service account (or person) with the scim role, or hr or
// admin over the whole directory.
func (a *api) scimAllowed(p *principal) error {
	if p.scopeOf(capSCIM).global || p.scopeOf(capWritePeople).global {
		return nil
	}
	return denied("SCIM needs the scim role, or hr or admin over the whole directory")
}

func writeSCIM(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", scimContentType+"; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeSCIMError(w http.ResponseWriter, status int, e *errcode.Error) {
	body := obj{"schemas": []string{schemaError}, "status": strconv.Itoa(status), "detail": e.Error()}
	switch {
	case e.Code == errcode.Conflict && e.Field != "status":
		body["scimType"] = "uniqueness"
	case e.Code == errcode.InvalidInput && e.Field == "filter":
		body["scimType"] = "invalidFilter"
	case e.Code == errcode.InvalidInput && e.Field == "path":
		body["scimType"] = "invalidPath"
	case e.Code == errcode.InvalidInput:
		body["scimType"] = "invalidValue"
	}
	writeSCIM(w, status, body)
}

func listResponse[T any](items []T, total, start int) obj {
	if items == nil {
		items = []T{}
	}
	return obj{"schemas": []string{schemaList}, "totalResults": total, "startIndex": start, "itemsPerPage": len(items), "Resources": items}
}

// ---- users ----

// scimUser is the SCIM form of an employee.
type scimUser struct {
	Schemas     []string       `json:"schemas"`
	ID          string         `json:"id"`
	ExternalID  string         `json:"externalId,omitempty"`
	UserName    string         `json:"userName"`
	Name        *scimName      `json:"name,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
	Title       string         `json:"title,omitempty"`
	Emails      []scimEmail    `json:"emails,omitempty"`
	Active      bool           `json:"active"`
	Groups      []scimGroupRef `json:"groups,omitempty"`
	Enterprise  *scimEnt       `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,omitempty"`
	Meta        obj            `json:"meta"`
}

type scimName struct {
	Formatted string `json:"formatted,omitempty"`
}

type scimEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

type scimGroupRef struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
}

type scimEnt struct {
	EmployeeNumber string `json:"employeeNumber,omitempty"`
	Organization   string `json:"organization,omitempty"`
	Department     string `json:"department,omitempty"`
}

func (a *api) location(kind, id string) string { return a.issuer + SCIMPrefix + "/" + kind + "/" + id }

func meta(kind, loc string, created, modified time.Time, version int64) obj {
	m := obj{"resourceType": kind, "created": created, "lastModified": modified, "location": loc}
	if version > 0 {
		m["version"] = `W/"` + strconv.FormatInt(version, 10) + `"`
	}
	return m
}

func (a *api) userOut(ctx context.Context, e *storage.Employee, depts map[string]*storage.Department) (*scimUser, error) {
	u := &scimUser{
		Schemas: []string{schemaUser, schemaEnterprise}, ID: e.Subject, ExternalID: e.ExternalID, UserName: e.EmployeeID,
		DisplayName: e.Name, Title: e.Title, Active: e.Status == storage.StatusActive,
		Enterprise: &scimEnt{EmployeeNumber: e.EmployeeID, Organization: e.Entity},
		Meta:       meta("User", a.location("Users", e.Subject), e.CreatedAt, e.UpdatedAt, e.Version),
	}
	if e.Name != "" {
		u.Name = &scimName{Formatted: e.Name}
	}
	if e.Email != "" {
		u.Emails = []scimEmail{{Value: e.Email, Type: "work", Primary: true}}
	}
	if e.DepartmentID != "" {
		d := depts[e.DepartmentID]
		if d == nil {
			var err error
			if d, err = a.st.Department(ctx, e.DepartmentID); err != nil {
				return nil, err
			}
			depts[d.ID] = d
		}
		u.Enterprise.Department = d.Code
		u.Groups = []scimGroupRef{{Value: d.ID, Display: d.Name}}
	}
	return u, nil
}

// scimEmployee loads the {id} user; departed employees are not found.
func (a *api) scimEmployee(ctx context.Context, id string) (*storage.Employee, error) {
	e, err := a.st.Employee(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.Status == storage.StatusDeparted {
		return nil, storage.ErrNotFound
	}
	return e, nil
}

func (a *api) writeUser(w http.ResponseWriter, r *http.Request, status int, e *storage.Employee) error {
	u, err := a.userOut(r.Context(), e, map[string]*storage.Department{})
	if err != nil {
		return err
	}
	w.Header().Set("ETag", u.Meta["version"].(string))
	if status == http.StatusCreated {
		w.Header().Set("Location", u.Meta["location"].(string))
	}
	writeSCIM(w, status, u)
	return nil
}

func (a *api) scimGetUser(w http.ResponseWriter, r *http.Request, _ *principal) error {
	e, err := a.scimEmployee(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return a.writeUser(w, r, http.StatusOK, e)
}

func pageParams(r *http.Request) (start, count int, err error) {
	q := r.URL.Query()
	start, count = 1, 100
	if v := q.Get("startIndex"); v != "" {
		if start, err = strconv.Atoi(v); err != nil {
			return 0, 0, &directory.FieldError{Field: "startIndex", Message: "must be an integer"}
		}
		start = max(start, 1) // RFC 7644 §3.4.2.4: less than 1 is 1
	}
	if v := q.Get("count"); v != "" {
		if count, err = strconv.Atoi(v); err != nil {
			return 0, 0, &directory.FieldError{Field: "count", Message: "must be an integer"}
		}
		count = min(max(count, 0), maxSCIMCount)
	}
	return start, count, nil
}

func (a *api) scimListUsers(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	start, count, err := pageParams(r)
	if err != nil {
		return err
	}
	var expr filter.Expression
	q := storage.EmployeeQuery{NotDeparted: true} // departed employees are not SCIM users
	if f := r.URL.Query().Get("filter"); f != "" {
		if expr, err = filter.ParseFilter([]byte(f)); err != nil {
			return &directory.FieldError{Field: "filter", Message: "cannot parse: " + err.Error()}
		}
		narrow(expr, &q)
	}
	depts := map[string]*storage.Department{}
	if pushable(expr) {
		// The store query is the whole filter: it pages and counts, so a
		// large directory answers one page at a time.
		q.Offset, q.Limit = start-1, count
		if count == 0 {
			q.Limit = 1 // totalResults only (RFC 7644 §3.4.2.4)
		}
		page, err := a.st.SearchEmployees(ctx, q)
		if err != nil {
			return err
		}
		users := []*scimUser{}
		for i := range page.Employees {
			if len(users) == count {
				break
			}
			u, err := a.userOut(ctx, &page.Employees[i], depts)
			if err != nil {
				return err
			}
			users = append(users, u)
		}
		writeSCIM(w, http.StatusOK, listResponse(users, page.Total, start))
		return nil
	}
	// Any other filter: the store narrows by its indexable conjuncts, the
	// rest is evaluated here.
	page, err := a.st.SearchEmployees(ctx, q)
	if err != nil {
		return err
	}
	var matched []*scimUser
	for i := range page.Employees {
		e := &page.Employees[i]
		if e.Status == storage.StatusDeparted {
			continue
		}
		u, err := a.userOut(ctx, e, depts)
		if err != nil {
			return err
		}
		if expr != nil {
			ok, err := matches(expr, u)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		matched = append(matched, u)
	}
	total := len(matched)
	from := min(start-1, total)
	to := min(from+count, total)
	writeSCIM(w, http.StatusOK, listResponse(matched[from:to], total, start))
	return nil
}

// narrow turns the indexable conjuncts of a filter (userName,
// employeeNumber, externalId, emails eq; userName sw) into a store query.
// Unless pushable, the whole filter is still evaluated on what comes back.
func narrow(expr filter.Expression, q *storage.EmployeeQuery) {
	switch e := expr.(type) {
	case *filter.LogicalExpression:
		if e.Operator == filter.AND {
			narrow(e.Left, q)
			narrow(e.Right, q)
		}
	case *filter.AttributeExpression:
		v, ok := e.CompareValue.(string)
		if !ok {
			return
		}
		switch attr := attrKey(e.AttributePath); {
		case (attr == "username" || attr == "employeenumber") && e.Operator == filter.EQ:
			q.EmployeeID = v
		case attr == "username" && e.Operator == filter.SW:
			q.IDPrefix = v
		case attr == "externalid" && e.Operator == filter.EQ:
			q.ExternalID = v
		case (attr == "emails" || attr == "emails.value") && e.Operator == filter.EQ:
			q.Email = v
		}
	}
}

// pushable reports whether the query narrow builds is exactly the filter:
// none, or one `eq` on userName, employeeNumber, externalId or emails
// (the filters provisioners send to find a user). The store then pages.
func pushable(expr filter.Expression) bool {
	if expr == nil {
		return true
	}
	e, ok := expr.(*filter.AttributeExpression)
	if !ok || e.Operator != filter.EQ {
		return false
	}
	if _, ok := e.CompareValue.(string); !ok {
		return false
	}
	switch attrKey(e.AttributePath) {
	case "username", "employeenumber", "externalid", "emails", "emails.value":
		return true
	}
	return false
}

// attrKey is a filter attribute in lower case, without the schema URN
// (the enterprise attributes are unambiguous).
func attrKey(p filter.AttributePath) string {
	k := p.AttributeName
	if p.SubAttribute != nil {
		k += "." + *p.SubAttribute
	}
	return strings.ToLower(k)
}

// userAttrs are the filterable attributes of a user, by lower-case name.
func userAttrs(u *scimUser) map[string]any {
	m := map[string]any{
		"id": u.ID, "username": u.UserName, "externalid": u.ExternalID, "displayname": u.DisplayName,
		"title": u.Title, "active": u.Active, "employeenumber": u.Enterprise.EmployeeNumber,
		"organization": u.Enterprise.Organization, "department": u.Enterprise.Department,
	}
	if u.Name != nil {
		m["name.formatted"] = u.Name.Formatted
	}
	if len(u.Emails) > 0 {
		m["emails"] = u.Emails[0].Value
		m["emails.value"] = u.Emails[0].Value
	}
	return m
}

// matches evaluates a filter against a user. Strings compare without
// regard to case (RFC 7643 caseExact=false for every attribute here).
func matches(expr filter.Expression, u *scimUser) (bool, error) {
	switch e := expr.(type) {
	case *filter.LogicalExpression:
		l, err := matches(e.Left, u)
		if err != nil {
			return false, err
		}
		if e.Operator == filter.AND && !l {
			return false, nil
		}
		if e.Operator == filter.OR && l {
			return true, nil
		}
		return matches(e.Right, u)
	case *filter.NotExpression:
		ok, err := matches(e.Expression, u)
		return !ok, err
	case *filter.ValuePath:
		// emails[type eq "work"]: one email, so test the sub-filter on it.
		if strings.ToLower(e.AttributePath.AttributeName) != "emails" || len(u.Emails) == 0 {
			return false, nil
		}
		return matches(e.ValueFilter, &scimUser{Emails: u.Emails, Enterprise: &scimEnt{}})
	case *filter.AttributeExpression:
		key := attrKey(e.AttributePath)
		if key == "type" || key == "value" || key == "primary" { // inside emails[…]
			if len(u.Emails) == 0 {
				return false, nil
			}
			key = map[string]string{"type": "emails.type", "value": "emails.value", "primary": "emails.primary"}[key]
		}
		attrs := userAttrs(u)
		if len(u.Emails) > 0 {
			attrs["emails.type"] = u.Emails[0].Type
			attrs["emails.primary"] = u.Emails[0].Primary
		}
		got, known := attrs[key]
		if !known {
			return false, &directory.FieldError{Field: "filter", Message: fmt.Sprintf("attribute %q cannot be filtered on", e.AttributePath.String())}
		}
		return compare(got, e.Operator, e.CompareValue)
	}
	return false, &directory.FieldError{Field: "filter", Message: "unsupported filter expression"}
}

func compare(got any, op filter.CompareOperator, want any) (bool, error) {
	if op == filter.PR {
		switch g := got.(type) {
		case string:
			return g != "", nil
		default:
			return got != nil, nil
		}
	}
	switch g := got.(type) {
	case bool:
		w, ok := want.(bool)
		if !ok {
			return false, &directory.FieldError{Field: "filter", Message: "compare a boolean attribute with true or false"}
		}
		switch op {
		case filter.EQ:
			return g == w, nil
		case filter.NE:
			return g != w, nil
		}
		return false, &directory.FieldError{Field: "filter", Message: fmt.Sprintf("operator %s does not apply to a boolean", op)}
	case string:
		w, ok := want.(string)
		if !ok {
			return false, &directory.FieldError{Field: "filter", Message: "compare a string attribute with a string"}
		}
		gl, wl := strings.ToLower(g), strings.ToLower(w)
		switch op {
		case filter.EQ:
			return gl == wl, nil
		case filter.NE:
			return gl != wl, nil
		case filter.CO:
			return strings.Contains(gl, wl), nil
		case filter.SW:
			return strings.HasPrefix(gl, wl), nil
		case filter.EW:
			return strings.HasSuffix(gl, wl), nil
		case filter.GT:
			return gl > wl, nil
		case filter.GE:
			return gl >= wl, nil
		case filter.LT:
			return gl < wl, nil
		case filter.LE:
			return gl <= wl, nil
		}
	}
	return false, &directory.FieldError{Field: "filter", Message: fmt.Sprintf("unsupported operator %s", op)}
}

// userInput is a POST or PUT body.
type userInput struct {
	Schemas     []string    `json:"schemas"`
	ExternalID  string      `json:"externalId"`
	UserName    string      `json:"userName"`
	Name        *scimName   `json:"name"`
	DisplayName string      `json:"displayName"`
	Title       string      `json:"title"`
	Emails      []scimEmail `json:"emails"`
	Active      *flexBool   `json:"active"`
	Password    string      `json:"password"`
	Enterprise  *scimEnt    `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

// flexBool accepts true/false and "True"/"False" (Entra sends strings).
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(strings.ToLower(string(data)), `"`)
	switch s {
	case "true":
		*b = true
	case "false":
		*b = false
	default:
		return &directory.FieldError{Field: "active", Message: "must be true or false"}
	}
	return nil
}

func decodeSCIM(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return &directory.FieldError{Field: "body", Message: "too large or unreadable"}
	}
	if err := json.Unmarshal(b, v); err != nil {
		var fe *directory.FieldError
		if errors.As(err, &fe) {
			return fe
		}
		return &directory.FieldError{Field: "body", Message: "is not valid JSON: " + err.Error()}
	}
	return nil
}

func (u *userInput) displayName() string {
	if u.Name != nil && u.Name.Formatted != "" {
		return u.Name.Formatted
	}
	return u.DisplayName
}

func (u *userInput) email() string {
	for _, e := range u.Emails {
		if e.Primary {
			return e.Value
		}
	}
	if len(u.Emails) > 0 {
		return u.Emails[0].Value
	}
	return ""
}

// defaultEntity is the only entity, when there is only one.
func (a *api) defaultEntity(ctx context.Context) string {
	es, err := a.st.ListEntities(ctx)
	if err == nil && len(es) == 1 {
		return es[0].Code
	}
	return ""
}

func (a *api) scimCreateUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	var in userInput
	if err := decodeSCIM(w, r, &in); err != nil {
		return err
	}
	ent := scimEnt{}
	if in.Enterprise != nil {
		ent = *in.Enterprise
	}
	entity := ent.Organization
	if entity == "" {
		entity = a.defaultEntity(ctx)
	}
	id := ent.EmployeeNumber
	if id == "" {
		id = in.UserName
	}
	if ent.Department == "" {
		return &directory.FieldError{Field: "department", Message: "the enterprise extension's department (a department code) is required"}
	}
	e, err := a.m.Onboard(ctx, p.actor, directory.Onboarding{
		Entity: entity, Department: ent.Department, EmployeeID: id, ExternalID: in.ExternalID,
		Name: in.displayName(), Email: in.email(), Title: in.Title, Password: in.Password,
	}, true)
	if err != nil {
		return err
	}
	if in.Active != nil && !bool(*in.Active) {
		if e, err = a.m.Freeze(ctx, p.actor, e.Subject, "SCIM: provisioned inactive by "+p.actor); err != nil {
			return err
		}
	}
	return a.writeUser(w, r, http.StatusCreated, e)
}

// desired is the state a PUT or PATCH asks for.
type desired struct {
	name, email, title, externalID *string
	entity, department             *string
	active                         *bool
}

// applyDesired moves the employee to the desired state: field edits, a
// transfer, a freeze or unfreeze, each its own audited step.
func (a *api) applyDesired(ctx context.Context, p *principal, e *storage.Employee, d desired) (*storage.Employee, error) {
	reason := "SCIM provisioning by " + p.actor
	var err error
	if d.name != nil || d.email != nil || d.title != nil || d.externalID != nil {
		if e, err = a.m.Update(ctx, p.actor, e.Subject, e.Version, directory.EmployeeChange{Name: d.name, Email: d.email, Title: d.title, ExternalID: d.externalID}); err != nil {
			return nil, err
		}
	}
	if d.department != nil || d.entity != nil {
		entity, dept := e.Entity, ""
		if d.entity != nil && *d.entity != "" {
			entity = *d.entity
		}
		if d.department != nil {
			dept = *d.department
		} else if cur, err := a.st.Department(ctx, e.DepartmentID); err == nil {
			dept = cur.Code
		}
		target, err := a.st.DepartmentByCode(ctx, entity, dept)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		if target == nil || target.ID != e.DepartmentID || storage.CanonicalCode(entity) != e.Entity {
			if e, err = a.m.Transfer(ctx, p.actor, e.Subject, 0, entity, dept, reason); err != nil {
				return nil, err
			}
		}
	}
	if d.active != nil {
		switch {
		case !*d.active && e.Status == storage.StatusActive:
			e, err = a.m.Freeze(ctx, p.actor, e.Subject, reason)
		case *d.active && e.Status == storage.StatusFrozen:
			e, err = a.m.Unfreeze(ctx, p.actor, e.Subject, reason)
		}
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

// ifMatch refuses a stale If-Match (W/"n" or "n").
func ifMatch(r *http.Request, e *storage.Employee) error {
	im := strings.TrimSpace(r.Header.Get("If-Match"))
	if im == "" || im == "*" {
		return nil
	}
	v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(im, "W/"), `"`), 10, 64)
	if err != nil || v != e.Version {
		return &errcode.Error{Code: errcode.Conflict, Status: http.StatusPreconditionFailed, Message: "the user was changed since that version (If-Match)"}
	}
	return nil
}

func (a *api) scimReplaceUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	var in userInput
	if err := decodeSCIM(w, r, &in); err != nil {
		return err
	}
	e, err := a.scimEmployee(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := a.guardTarget(ctx, p, e, "SCIM change to"); err != nil {
		return err
	}
	if err := ifMatch(r, e); err != nil {
		return err
	}
	name, email, title, ext := in.displayName(), in.email(), in.Title, in.ExternalID
	d := desired{name: &name, email: &email, title: &title, externalID: &ext}
	if in.Enterprise != nil {
		if in.Enterprise.Department != "" {
			d.department = &in.Enterprise.Department
		}
		if in.Enterprise.Organization != "" {
			d.entity = &in.Enterprise.Organization
		}
	}
	if in.Active != nil {
		v := bool(*in.Active)
		d.active = &v
	}
	if e, err = a.applyDesired(ctx, p, e, d); err != nil {
		return err
	}
	return a.writeUser(w, r, http.StatusOK, e)
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

func (a *api) scimPatchUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	var in struct {
		Schemas    []string  `json:"schemas"`
		Operations []patchOp `json:"Operations"`
	}
	if err := decodeSCIM(w, r, &in); err != nil {
		return err
	}
	if !slices.Contains(in.Schemas, schemaPatch) {
		return &directory.FieldError{Field: "schemas", Message: "must contain " + schemaPatch}
	}
	e, err := a.scimEmployee(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := a.guardTarget(ctx, p, e, "SCIM change to"); err != nil {
		return err
	}
	if err := ifMatch(r, e); err != nil {
		return err
	}
	var d desired
	for _, op := range in.Operations {
		if err := patchInto(&d, op); err != nil {
			return err
		}
	}
	if e, err = a.applyDesired(ctx, p, e, d); err != nil {
		return err
	}
	return a.writeUser(w, r, http.StatusOK, e)
}

// patchInto folds one PATCH operation into the desired state.
func patchInto(d *desired, op patchOp) error {
	kind := strings.ToLower(op.Op)
	if kind != "add" && kind != "replace" && kind != "remove" {
		return &directory.FieldError{Field: "op", Message: fmt.Sprintf("%q is not add, replace or remove", op.Op)}
	}
	if op.Path == "" {
		if kind == "remove" {
			return &directory.FieldError{Field: "path", Message: "remove needs a path"}
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(op.Value, &m); err != nil {
			return &directory.FieldError{Field: "value", Message: "without a path, value must be an object of attributes"}
		}
		for k, v := range m {
			if k == schemaEnterprise {
				var sub map[string]json.RawMessage
				if err := json.Unmarshal(v, &sub); err != nil {
					return &directory.FieldError{Field: "value", Message: "the enterprise extension must be an object"}
				}
				for sk, sv := range sub {
					if err := setPath(d, schemaEnterprise+":"+sk, sv, false); err != nil {
						return err
					}
				}
				continue
			}
			if err := setPath(d, k, v, false); err != nil {
				return err
			}
		}
		return nil
	}
	return setPath(d, op.Path, op.Value, kind == "remove")
}

func setPath(d *desired, path string, raw json.RawMessage, remove bool) error {
	p, err := filter.ParsePath([]byte(path))
	if err != nil {
		return &directory.FieldError{Field: "path", Message: fmt.Sprintf("cannot parse %q: %v", path, err)}
	}
	key := strings.ToLower(p.AttributePath.AttributeName)
	if p.AttributePath.SubAttribute != nil {
		key += "." + strings.ToLower(*p.AttributePath.SubAttribute)
	}
	if p.SubAttribute != nil {
		key += "." + strings.ToLower(*p.SubAttribute)
	}
	str := func() (*string, error) {
		if remove {
			empty := ""
			return &empty, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, &directory.FieldError{Field: path, Message: "must be a string"}
		}
		return &s, nil
	}
	switch key {
	case "active":
		if remove {
			return &directory.FieldError{Field: "path", Message: "active cannot be removed"}
		}
		var b flexBool
		if err := json.Unmarshal(raw, &b); err != nil {
			return err
		}
		v := bool(b)
		d.active = &v
		return nil
	case "displayname", "name.formatted", "name":
		if key == "name" && !remove {
			var n scimName
			if err := json.Unmarshal(raw, &n); err != nil {
				return &directory.FieldError{Field: path, Message: "must be an object with formatted"}
			}
			d.name = &n.Formatted
			return nil
		}
		d.name, err = str()
	case "title":
		d.title, err = str()
	case "externalid":
		d.externalID, err = str()
	case "emails", "emails.value":
		if key == "emails" && !remove && p.ValueExpression == nil {
			var es []scimEmail
			if err := json.Unmarshal(raw, &es); err != nil {
				return &directory.FieldError{Field: path, Message: "must be a list of emails"}
			}
			in := userInput{Emails: es}
			v := in.email()
			d.email = &v
			return nil
		}
		d.email, err = str()
	case "department":
		d.department, err = str()
	case "organization":
		d.entity, err = str()
	case "username", "employeenumber":
		return &directory.FieldError{Field: path, Message: "the employee ID changes only by a transfer to another entity (set organization and department)"}
	default:
		return &directory.FieldError{Field: "path", Message: fmt.Sprintf("attribute %q cannot be changed here", path)}
	}
	return err
}

func (a *api) scimDeleteUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	e, err := a.scimEmployee(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := a.guardTarget(r.Context(), p, e, "SCIM DELETE of"); err != nil {
		return err
	}
	if _, err := a.m.Leave(r.Context(), p.actor, e.Subject, "SCIM DELETE by "+p.actor); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- groups (departments) ----

func (a *api) groupOut(ctx context.Context, d *storage.Department, members bool) (obj, error) {
	g := obj{
		"schemas": []string{schemaGroup}, "id": d.ID, "displayName": d.Name, "externalId": d.Entity + "/" + d.Code,
		"meta": meta("Group", a.location("Groups", d.ID), d.CreatedAt, d.CreatedAt, 0),
	}
	if members {
		page, err := a.st.SearchEmployees(ctx, storage.EmployeeQuery{DepartmentIDs: []string{d.ID}})
		if err != nil {
			return nil, err
		}
		ms := []scimGroupRef{}
		for _, e := range page.Employees {
			if e.Status != storage.StatusDeparted {
				ms = append(ms, scimGroupRef{Value: e.Subject, Display: e.Name})
			}
		}
		g["members"] = ms
	}
	return g, nil
}

func (a *api) scimListGroups(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	start, count, err := pageParams(r)
	if err != nil {
		return err
	}
	var expr filter.Expression
	if f := r.URL.Query().Get("filter"); f != "" {
		if expr, err = filter.ParseFilter([]byte(f)); err != nil {
			return &directory.FieldError{Field: "filter", Message: "cannot parse: " + err.Error()}
		}
	}
	es, err := a.st.ListEntities(ctx)
	if err != nil {
		return err
	}
	var out []obj
	for _, ent := range es {
		ds, err := a.st.ListDepartments(ctx, ent.Code)
		if err != nil {
			return err
		}
		for i := range ds {
			d := &ds[i]
			if expr != nil {
				ok, err := matchGroup(expr, d)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
			g, err := a.groupOut(ctx, d, false)
			if err != nil {
				return err
			}
			out = append(out, g)
		}
	}
	total := len(out)
	from := min(start-1, total)
	to := min(from+count, total)
	writeSCIM(w, http.StatusOK, listResponse(out[from:to], total, start))
	return nil
}

func matchGroup(expr filter.Expression, d *storage.Department) (bool, error) {
	switch e := expr.(type) {
	case *filter.LogicalExpression:
		l, err := matchGroup(e.Left, d)
		if err != nil || (e.Operator == filter.AND && !l) || (e.Operator == filter.OR && l) {
			return l, err
		}
		return matchGroup(e.Right, d)
	case *filter.NotExpression:
		ok, err := matchGroup(e.Expression, d)
		return !ok, err
	case *filter.AttributeExpression:
		attrs := map[string]any{"id": d.ID, "displayname": d.Name, "externalid": d.Entity + "/" + d.Code}
		got, ok := attrs[attrKey(e.AttributePath)]
		if !ok {
			return false, &directory.FieldError{Field: "filter", Message: fmt.Sprintf("attribute %q cannot be filtered on", e.AttributePath.String())}
		}
		return compare(got, e.Operator, e.CompareValue)
	}
	return false, &directory.FieldError{Field: "filter", Message: "unsupported filter expression"}
}

func (a *api) scimGetGroup(w http.ResponseWriter, r *http.Request, _ *principal) error {
	d, err := a.st.Department(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	g, err := a.groupOut(r.Context(), d, true)
	if err != nil {
		return err
	}
	writeSCIM(w, http.StatusOK, g)
	return nil
}

// ---- discovery (RFC 7644 §4) ----

func (a *api) serviceProviderConfig() any {
	return obj{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/gongpai/gongpai/blob/main/docs/directory.md",
		"patch":            obj{"supported": true},
		"bulk":             obj{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           obj{"supported": true, "maxResults": maxSCIMCount},
		"changePassword":   obj{"supported": false},
		"sort":             obj{"supported": false},
		"etag":             obj{"supported": true},
		"authenticationSchemes": []any{obj{
			"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
			"description": "a gongpai access token of a service account (client_credentials) holding the scim role",
		}},
		"meta": obj{"resourceType": "ServiceProviderConfig", "location": a.issuer + SCIMPrefix + "/ServiceProviderConfig"},
	}
}

func attr(name, typ string, required bool, mutability, desc string) obj {
	return obj{"name": name, "type": typ, "multiValued": false, "required": required, "caseExact": false,
		"mutability": mutability, "returned": "default", "uniqueness": "none", "description": desc}
}

func scimSchemas() []obj {
	user := obj{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
		"id":      schemaUser, "name": "User", "description": "An employee",
		"attributes": []any{
			attr("userName", "string", true, "immutable", "the employee ID; empty on create = generated from the entity's rule"),
			obj{"name": "name", "type": "complex", "multiValued": false, "required": false, "mutability": "readWrite", "returned": "default",
				"subAttributes": []any{attr("formatted", "string", false, "readWrite", "display name")}},
			attr("displayName", "string", false, "readWrite", "display name"),
			attr("title", "string", false, "readWrite", "job title"),
			attr("active", "boolean", false, "readWrite", "false = frozen: sign-in refused, sessions and tokens ended"),
			attr("externalId", "string", false, "readWrite", "the provisioning system's key"),
			obj{"name": "emails", "type": "complex", "multiValued": true, "required": false, "mutability": "readWrite", "returned": "default",
				"subAttributes": []any{attr("value", "string", false, "readWrite", ""), attr("type", "string", false, "readWrite", ""), attr("primary", "boolean", false, "readWrite", "")}},
			obj{"name": "groups", "type": "complex", "multiValued": true, "required": false, "mutability": "readOnly", "returned": "default",
				"subAttributes": []any{attr("value", "string", false, "readOnly", "department id"), attr("display", "string", false, "readOnly", "")}},
			attr("password", "string", false, "writeOnly", "initial password (create only)"),
		},
		"meta": obj{"resourceType": "Schema"},
	}
	ent := obj{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
		"id":      schemaEnterprise, "name": "EnterpriseUser", "description": "Enterprise extension",
		"attributes": []any{
			attr("employeeNumber", "string", false, "immutable", "the employee ID"),
			attr("organization", "string", false, "readWrite", "legal entity code; a change is a cross-entity transfer (new employee ID)"),
			attr("department", "string", true, "readWrite", "department code; a change is a transfer"),
		},
		"meta": obj{"resourceType": "Schema"},
	}
	group := obj{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
		"id":      schemaGroup, "name": "Group", "description": "A department (read-only)",
		"attributes": []any{
			attr("displayName", "string", true, "readOnly", "department name"),
			attr("externalId", "string", false, "readOnly", "ENTITY/CODE"),
			obj{"name": "members", "type": "complex", "multiValued": true, "required": false, "mutability": "readOnly", "returned": "request",
				"subAttributes": []any{attr("value", "string", false, "readOnly", "user id"), attr("display", "string", false, "readOnly", "")}},
		},
		"meta": obj{"resourceType": "Schema"},
	}
	return []obj{user, ent, group}
}

func scimResourceTypes() []obj {
	return []obj{
		{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}, "id": "User", "name": "User", "endpoint": "/Users",
			"schema": schemaUser, "schemaExtensions": []any{obj{"schema": schemaEnterprise, "required": true}}, "meta": obj{"resourceType": "ResourceType"}},
		{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}, "id": "Group", "name": "Group", "endpoint": "/Groups",
			"schema": schemaGroup, "meta": obj{"resourceType": "ResourceType"}},
	}
}
