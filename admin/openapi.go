package admin

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// The OpenAPI 3.1 document is built from the route table (paths, methods,
// parameters, bodies, statuses, rights) and the schemas below, so every
// served endpoint is documented and nothing undocumented is served.

type obj = map[string]any

func str(desc string) obj { return obj{"type": "string", "description": desc} }
func strs(desc string) obj {
	return obj{"type": "array", "items": obj{"type": "string"}, "description": desc}
}
func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }
func list(item string) obj {
	return obj{"type": "object", "required": []string{"items"}, "properties": obj{"items": obj{"type": "array", "items": ref(item)}}}
}
func object(required []string, props obj) obj {
	o := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var timeProp = obj{"type": "string", "format": "date-time"}

var schemas = obj{
	"Error": object([]string{"code", "message"}, obj{
		"code":  obj{"type": "string", "enum": []string{"E-101", "E-102", "E-103", "E-104", "E-201", "E-204", "E-205", "E-301", "E-500", "E-503"}, "description": "stable code, see docs/errors.md"},
		"field": str("the input field at fault (E-201)"), "message": str("what went wrong"),
	}),
	"Me": object([]string{"actor", "roles"}, obj{
		"actor": str("employee:<employee ID> or client:<client ID>"), "roles": strs("directory roles held"),
		"grants":   obj{"type": "array", "items": object(nil, obj{"role": str(""), "department_id": str("\"\" = whole directory")})},
		"employee": ref("Employee"),
	}),
	"Entity":       object([]string{"code", "name", "id_rule"}, obj{"code": str("e.g. ACME"), "name": str(""), "id_rule": str("e.g. {dept}{yyyy}{seq:3}"), "created_at": timeProp}),
	"EntityCreate": object([]string{"code", "name", "id_rule"}, obj{"code": str("2–16 of A-Z 0-9"), "name": str(""), "id_rule": str("tokens {entity} {dept} {yyyy} {yy} {mm} {seq:N}, literal A-Z 0-9 -")}),
	"EntityList":   list("Entity"),
	"Department": object([]string{"id", "entity", "code", "name", "depth"}, obj{
		"id": str("UUID"), "entity": str(""), "code": str(""), "name": str(""), "parent_id": str(""), "parent_code": str(""),
		"depth": obj{"type": "integer", "description": "0 for a root"}, "created_at": timeProp,
	}),
	"DepartmentCreate": object([]string{"entity", "code", "name"}, obj{"entity": str(""), "code": str(""), "name": str(""), "parent": str("parent department code; empty = a root")}),
	"DepartmentChange": object(nil, obj{"code": str("new code"), "name": str("new name"), "parent": str("new parent code; \"\" = make a root; cycles refused (E-201 parent)")}),
	"DepartmentList":   list("Department"),
	"Employee": object([]string{"sub", "employee_id", "entity", "name", "status", "version"}, obj{
		"sub": str("immutable UUID (the OIDC sub)"), "employee_id": str("current employee ID"), "external_id": str("HR system key"),
		"entity": str(""), "department": object(nil, obj{"id": str(""), "code": str(""), "name": str("")}),
		"name": str(""), "email": str(""), "title": str(""),
		"status":       obj{"type": "string", "enum": []string{"active", "frozen", "departed"}},
		"password_set": obj{"type": "boolean"}, "totp_enrolled": obj{"type": "boolean"},
		"password_change_required": obj{"type": "boolean", "description": "the password was set by HR or an administrator (onboarding, reset): the next sign-in asks for a new one before it completes"},
		"version":                  obj{"type": "integer", "description": "also the ETag; send it back as If-Match or version"}, "created_at": timeProp, "updated_at": timeProp,
	}),
	"EmployeeList": object([]string{"items", "total"}, obj{
		"items": obj{"type": "array", "items": ref("Employee")}, "total": obj{"type": "integer"},
		"next_cursor": str("pass as cursor for the next page; absent on the last page"),
	}),
	"EmployeeCreate": object([]string{"entity", "department", "name"}, obj{
		"entity": str(""), "department": str("department code"), "employee_id": str("empty = generated from the entity's rule"),
		"external_id": str(""), "name": str(""), "email": str(""), "title": str(""),
		"password": str("initial password (≥10 characters), to be changed by the employee at the first sign-in; empty = none until a reset"), "hire_date": str("YYYY-MM-DD; feeds {yyyy} {yy} {mm}"),
	}),
	"EmployeeChange": object(nil, obj{"name": str(""), "email": str(""), "title": str(""), "external_id": str(""), "version": obj{"type": "integer", "description": "required unless If-Match is sent"}}),
	"Transfer": object([]string{"department"}, obj{
		"entity": str("target entity; empty = the same (another entity issues a new employee ID)"), "department": str("target department code"),
		"reason": str(""), "version": obj{"type": "integer", "description": "optional optimistic check (or If-Match)"},
	}),
	"Reason":              object(nil, obj{"reason": str("why; required for freeze, leave and resets (E-201 reason)")}),
	"PasswordReset":       object([]string{"reason"}, obj{"reason": str(""), "password": str("new password, to be changed by the employee at the next sign-in; empty = generate one")}),
	"PasswordResetResult": object([]string{"employee_id"}, obj{"employee_id": str(""), "password": str("the generated password, shown once")}),
	"IDHistory": object([]string{"current", "items"}, obj{"current": str(""), "items": obj{"type": "array", "items": object(nil, obj{
		"employee_id": str(""), "entity": str(""), "retired_at": timeProp, "reason": str(""),
	})}}),
	"RoleGrant":     object([]string{"role"}, obj{"role": str("hr, admin, auditor or an app role such as erp:approver"), "department": str("scope: department code (its subtree); empty = whole directory")}),
	"RoleGrantList": object([]string{"items"}, obj{"items": obj{"type": "array", "items": object(nil, obj{"role": str(""), "department_id": str(""), "department": str("")})}}),
	"Client": object([]string{"id", "name"}, obj{
		"id": str(""), "name": str(""), "public": obj{"type": "boolean"}, "redirect_uris": strs(""), "post_logout_redirect_uris": strs(""),
		"grant_types": strs(""), "scopes": strs(""), "access_token_format": obj{"type": "string", "enum": []string{"opaque", "jwt"}},
		"require_mfa": obj{"type": "boolean"}, "allowed_departments": strs("department IDs whose subtrees may sign in; empty = all"),
		"allowed_roles": strs("roles of which one is needed to sign in; empty = all"), "service_roles": strs("hr, admin, auditor, scim: a service account's rights"),
		"backchannel_logout_uri": str(""), "created_at": timeProp,
		"visible_roles": strs("roles the app sees in the roles claim: names, prefix:* patterns or *; empty = employee and <id>:*"),
	}),
	"ClientCreated": obj{"allOf": []any{ref("Client"), object(nil, obj{"client_secret": str("shown once")})}},
	"ClientCreate": object([]string{"id"}, obj{
		"id": str("a-z 0-9 - _"), "name": str(""), "public": obj{"type": "boolean"}, "grant_types": strs("default authorization_code, refresh_token"),
		"access_token_format": str("opaque (default) or jwt"), "redirect_uris": strs(""), "post_logout_redirect_uris": strs(""), "scopes": strs(""),
		"require_mfa": obj{"type": "boolean"}, "allowed_departments": strs(""), "allowed_roles": strs(""), "service_roles": strs(""), "backchannel_logout_uri": str(""),
		"visible_roles": strs(""),
	}),
	"ClientChange": object(nil, obj{
		"name": str(""), "redirect_uris": strs(""), "post_logout_redirect_uris": strs(""), "scopes": strs(""), "require_mfa": obj{"type": "boolean"},
		"allowed_departments": strs(""), "allowed_roles": strs(""), "service_roles": strs(""), "backchannel_logout_uri": str(""),
		"visible_roles": strs(""),
	}),
	"ClientList": list("Client"),
	"ImportReport": object([]string{"rows", "created", "updated", "unchanged", "applied", "changes", "errors"}, obj{
		"rows": obj{"type": "integer"}, "created": obj{"type": "integer"}, "updated": obj{"type": "integer"}, "unchanged": obj{"type": "integer"},
		"applied": obj{"type": "boolean"}, "dry_run": obj{"type": "boolean"},
		"changes": obj{"type": "array", "items": object(nil, obj{
			"row": obj{"type": "integer"}, "ops": strs("create, update, transfer, freeze, unfreeze, leave"), "employee_id": str(""), "external_id": str(""), "name": str(""),
			"fields": obj{"type": "object", "additionalProperties": object(nil, obj{"old": str(""), "new": str("")})},
		})},
		"errors": obj{"type": "array", "items": object([]string{"row", "code", "message"}, obj{"row": obj{"type": "integer", "description": "the header is row 1"}, "field": str(""), "code": str(""), "message": str("")})},
	}),
	"AuditList": object([]string{"items"}, obj{"items": obj{"type": "array", "items": object(nil, obj{
		"id": str(""), "at": timeProp, "actor": str(""), "action": str(""), "target": str(""), "reason": str(""), "detail": str(""),
	})}}),
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func errResp(desc string) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": ref("Error")}}}
}

// document builds the OpenAPI document from the route table.
func (a *api) document() obj {
	paths := obj{}
	for _, rt := range a.routes {
		item, _ := paths[rt.path].(obj)
		if item == nil {
			item = obj{}
			paths[rt.path] = item
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			desc := ""
			if m[1] == "id" && strings.HasPrefix(rt.path, "/employees/") {
				desc = "the employee's sub (UUID) or employee ID"
			}
			params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}, "description": desc})
		}
		for _, q := range rt.query {
			params = append(params, obj{"name": q.name, "in": "query", "schema": obj{"type": q.typ}, "description": q.doc})
		}
		if rt.etag && (rt.method == "PATCH" || rt.method == "POST") {
			params = append(params, obj{"name": "If-Match", "in": "header", "schema": obj{"type": "string"}, "description": "ETag (version) the change applies to; stale → 409 E-205"})
		}
		op := obj{
			"summary": rt.summary, "description": "Rights: " + rt.rights + ".", "tags": []string{rt.tag},
			"operationId": strings.ToLower(rt.method) + strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_").Replace(rt.path),
			"responses": obj{
				"400": errResp("E-201 invalid input (names the field)"),
				"401": errResp("E-101 missing or invalid access token"),
				"403": errResp("E-102 permission denied, or an employee token issued without the gongpai:admin scope"),
				"404": errResp("E-204 not found"),
				"409": errResp("E-205 conflict: duplicate, stale version, or a transition the employee's state refuses"),
			},
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		switch rt.body {
		case "":
		case "csv":
			op["requestBody"] = obj{"required": true, "content": obj{"text/csv": obj{"schema": obj{"type": "string"}}}}
		default:
			op["requestBody"] = obj{"required": rt.method != "POST" || !strings.HasSuffix(rt.body, "Reason"), "content": obj{"application/json": obj{"schema": ref(rt.body)}}}
		}
		ok := obj{"description": "success"}
		if rt.resp != "" {
			ok["content"] = obj{"application/json": obj{"schema": ref(rt.resp)}}
		}
		if rt.etag {
			ok["headers"] = obj{"ETag": obj{"schema": obj{"type": "string"}, "description": "the employee's version"}}
		}
		op["responses"].(obj)[strconv.Itoa(rt.status)] = ok
		if rt.body == "csv" {
			op["responses"].(obj)["422"] = obj{"description": "rows failed; nothing was written", "content": obj{"application/json": obj{"schema": ref("ImportReport")}}}
		}
		item[strings.ToLower(rt.method)] = op
	}
	servers := []any{obj{"url": APIPrefix}}
	if a.issuer != "" {
		servers = []any{obj{"url": a.issuer + APIPrefix}}
	}
	return obj{
		"openapi": "3.1.0",
		"info": obj{"title": "gongpai admin API", "version": "1",
			"description": "Directory administration: entities, departments, employees and their lifecycle, roles, clients, batch import, audit. " +
				"Authenticate with a gongpai access token (Authorization: Bearer): an employee's, requested with the gongpai:admin scope " +
				"through a client allowed it, or a service account's (client_credentials). Errors carry stable codes (docs/errors.md)."},
		"servers":    servers,
		"security":   []any{obj{"bearer": []string{}}},
		"paths":      paths,
		"components": obj{"schemas": schemas, "securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer", "description": "a gongpai access token: an employee's issued with the gongpai:admin scope, or a client_credentials token of a service account"}}},
	}
}

// openAPI serves the document; it is public (it describes, it grants
// nothing).
func (a *api) openAPI(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.document())
}
