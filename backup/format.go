package backup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gongpai/gongpai/storage"
)

// The file's record shapes. They are the format, so they are spelled out
// here with their JSON names rather than borrowed from the storage types:
// renaming a Go field must not change the file. Every storage field has a
// counterpart (TestRecordShapesCoverEveryField). Times are RFC 3339 UTC,
// durations integer nanoseconds, bytes base64; a time that is not set is
// left out; lists keep null (not set) apart from [] (set, empty).

type entityJSON struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	IDRule    string    `json:"id_rule"`
	CreatedAt time.Time `json:"created_at"`
}

type departmentJSON struct {
	ID        string    `json:"id"`
	Entity    string    `json:"entity"`
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	ParentID  string    `json:"parent_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

type employeeJSON struct {
	Subject      string    `json:"subject"`
	EmployeeID   string    `json:"employee_id"`
	ExternalID   string    `json:"external_id,omitempty"`
	Entity       string    `json:"entity"`
	DepartmentID string    `json:"department_id,omitempty"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	Title        string    `json:"title"`
	Status       string    `json:"status"`
	PasswordHash string    `json:"password_hash"`
	TOTPSecret   []byte    `json:"totp_secret_sealed,omitempty"`
	Version      int64     `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// PasswordChangeRequired is omitted when false, so files written
	// before the flag existed read back unchanged.
	PasswordChangeRequired bool `json:"password_change_required,omitempty"`
}

type retiredIDJSON struct {
	EmployeeID string    `json:"employee_id"`
	Subject    string    `json:"subject"`
	Entity     string    `json:"entity"`
	RetiredAt  time.Time `json:"retired_at"`
	Reason     string    `json:"reason"`
}

type roleGrantJSON struct {
	Subject      string    `json:"subject"`
	Role         string    `json:"role"`
	DepartmentID string    `json:"department_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

type sequenceJSON struct {
	Key   string `json:"key"`
	Value int64  `json:"value"`
}

type clientJSON struct {
	ID                       string    `json:"id"`
	Name                     string    `json:"name"`
	SecretHash               []byte    `json:"secret_sha256,omitempty"`
	Public                   bool      `json:"public"`
	RedirectURIs             []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string  `json:"post_logout_redirect_uris"`
	GrantTypes               []string  `json:"grant_types"`
	Scopes                   []string  `json:"scopes"`
	AccessTokenFormat        string    `json:"access_token_format"`
	RequireMFA               bool      `json:"require_mfa"`
	AllowedDepartments       []string  `json:"allowed_departments"`
	AllowedRoles             []string  `json:"allowed_roles"`
	BackchannelLogoutURI     string    `json:"backchannel_logout_uri,omitempty"`
	ServiceRoles             []string  `json:"service_roles"`
	AccessTokenTTL           int64     `json:"access_token_ttl_ns"`
	IDTokenTTL               int64     `json:"id_token_ttl_ns"`
	RefreshTokenTTL          int64     `json:"refresh_token_ttl_ns"`
	CreatedAt                time.Time `json:"created_at"`
	IDTokenSignedResponseAlg string    `json:"id_token_signed_response_alg,omitempty"`
	VisibleRoles             []string  `json:"visible_roles"`
}

type signingKeyJSON struct {
	ID          string    `json:"kid"`
	Algorithm   string    `json:"alg"`
	State       string    `json:"state"`
	PrivateKey  []byte    `json:"private_key_sealed,omitempty"`
	PublicKey   []byte    `json:"public_key,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	ActivatesAt time.Time `json:"activates_at,omitzero"`
	RetiresAt   time.Time `json:"retires_at,omitzero"`
	Version     int64     `json:"version"`
}

type keyEventJSON struct {
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
	KID    string    `json:"kid"`
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
}

type auditEventJSON struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

type refreshTokenJSON struct {
	ID        string    `json:"id_sha256"`
	FamilyID  string    `json:"family_id"`
	ClientID  string    `json:"client_id"`
	Subject   string    `json:"subject"`
	Scopes    []string  `json:"scopes"`
	Audience  []string  `json:"audience"`
	AuthTime  time.Time `json:"auth_time,omitzero"`
	AMR       []string  `json:"amr"`
	ACR       string    `json:"acr,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Spent     bool      `json:"spent"`
	Revoked   bool      `json:"revoked"`
}

type settingJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// encodeRecord renders rec in its file shape.
func encodeRecord(rec storage.Record) ([]byte, error) {
	var v any
	switch r := rec.(type) {
	case *storage.LegalEntity:
		v = entityJSON{r.Code, r.Name, r.IDRule, r.CreatedAt}
	case *storage.Department:
		v = departmentJSON{r.ID, r.Entity, r.Code, r.Name, r.ParentID, r.CreatedAt}
	case *storage.Employee:
		v = employeeJSON{r.Subject, r.EmployeeID, r.ExternalID, r.Entity, r.DepartmentID, r.Name, r.Email, r.Title,
			string(r.Status), r.PasswordHash, r.TOTPSecret, r.Version, r.CreatedAt, r.UpdatedAt, r.PasswordChangeRequired}
	case *storage.EmployeeIDRecord:
		v = retiredIDJSON{r.EmployeeID, r.Subject, r.Entity, r.RetiredAt, r.Reason}
	case *storage.RoleGrant:
		v = roleGrantJSON{r.Subject, r.Role, r.DepartmentID, r.CreatedAt}
	case *storage.Sequence:
		v = sequenceJSON{r.Key, r.Value}
	case *storage.Client:
		v = clientJSON{r.ID, r.Name, r.SecretHash, r.Public, r.RedirectURIs, r.PostLogoutRedirectURIs, r.GrantTypes,
			r.Scopes, string(r.AccessTokenFormat), r.RequireMFA, r.AllowedDepartments, r.AllowedRoles,
			r.BackchannelLogoutURI, r.ServiceRoles, int64(r.AccessTokenTTL), int64(r.IDTokenTTL),
			int64(r.RefreshTokenTTL), r.CreatedAt, r.IDTokenSignedResponseAlg, r.VisibleRoles}
	case *storage.SigningKey:
		v = signingKeyJSON{r.ID, r.Algorithm, string(r.State), r.PrivateKey, r.PublicKey, r.CreatedAt, r.ActivatesAt,
			r.RetiresAt, r.Version}
	case *storage.KeyEvent:
		v = keyEventJSON{r.Seq, r.At, r.KID, r.Action, r.Actor, r.Reason}
	case *storage.AuditEvent:
		v = auditEventJSON{r.ID, r.At, r.Actor, r.Action, r.Target, r.Reason, r.Detail}
	case *storage.RefreshToken:
		v = refreshTokenJSON{r.ID, r.FamilyID, r.ClientID, r.Subject, r.Scopes, r.Audience, r.AuthTime, r.AMR, r.ACR,
			r.SessionID, r.CreatedAt, r.ExpiresAt, r.Spent, r.Revoked}
	case *storage.Setting:
		v = settingJSON{r.Key, r.Value}
	default:
		return nil, fmt.Errorf("backup: no file shape for %T", rec)
	}
	return json.Marshal(v)
}

// decodeRecord parses one record of kind from its file shape. Unknown
// fields are refused: they would be data this binary silently drops.
func decodeRecord(kind storage.Kind, b []byte) (storage.Record, error) {
	switch kind {
	case storage.KindEntity:
		return decodeAs(b, func(j *entityJSON) storage.Record {
			return &storage.LegalEntity{Code: j.Code, Name: j.Name, IDRule: j.IDRule, CreatedAt: j.CreatedAt}
		})
	case storage.KindDepartment:
		return decodeAs(b, func(j *departmentJSON) storage.Record {
			return &storage.Department{ID: j.ID, Entity: j.Entity, Code: j.Code, Name: j.Name, ParentID: j.ParentID,
				CreatedAt: j.CreatedAt}
		})
	case storage.KindEmployee:
		return decodeAs(b, func(j *employeeJSON) storage.Record {
			return &storage.Employee{Subject: j.Subject, EmployeeID: j.EmployeeID, ExternalID: j.ExternalID, Entity: j.Entity,
				DepartmentID: j.DepartmentID, Name: j.Name, Email: j.Email, Title: j.Title,
				Status: storage.EmployeeStatus(j.Status), PasswordHash: j.PasswordHash, TOTPSecret: j.TOTPSecret,
				Version: j.Version, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, PasswordChangeRequired: j.PasswordChangeRequired}
		})
	case storage.KindRetiredID:
		return decodeAs(b, func(j *retiredIDJSON) storage.Record {
			return &storage.EmployeeIDRecord{EmployeeID: j.EmployeeID, Subject: j.Subject, Entity: j.Entity,
				RetiredAt: j.RetiredAt, Reason: j.Reason}
		})
	case storage.KindRoleGrant:
		return decodeAs(b, func(j *roleGrantJSON) storage.Record {
			return &storage.RoleGrant{Subject: j.Subject, Role: j.Role, DepartmentID: j.DepartmentID, CreatedAt: j.CreatedAt}
		})
	case storage.KindSequence:
		return decodeAs(b, func(j *sequenceJSON) storage.Record { return &storage.Sequence{Key: j.Key, Value: j.Value} })
	case storage.KindClient:
		return decodeAs(b, func(j *clientJSON) storage.Record {
			return &storage.Client{ID: j.ID, Name: j.Name, SecretHash: j.SecretHash, Public: j.Public,
				RedirectURIs: j.RedirectURIs, PostLogoutRedirectURIs: j.PostLogoutRedirectURIs, GrantTypes: j.GrantTypes,
				Scopes: j.Scopes, AccessTokenFormat: storage.AccessTokenFormat(j.AccessTokenFormat), RequireMFA: j.RequireMFA,
				AllowedDepartments: j.AllowedDepartments, AllowedRoles: j.AllowedRoles,
				BackchannelLogoutURI: j.BackchannelLogoutURI, ServiceRoles: j.ServiceRoles,
				AccessTokenTTL: time.Duration(j.AccessTokenTTL), IDTokenTTL: time.Duration(j.IDTokenTTL),
				RefreshTokenTTL: time.Duration(j.RefreshTokenTTL), CreatedAt: j.CreatedAt,
				IDTokenSignedResponseAlg: j.IDTokenSignedResponseAlg, VisibleRoles: j.VisibleRoles}
		})
	case storage.KindSigningKey:
		return decodeAs(b, func(j *signingKeyJSON) storage.Record {
			return &storage.SigningKey{ID: j.ID, Algorithm: j.Algorithm, State: storage.KeyState(j.State),
				PrivateKey: j.PrivateKey, PublicKey: j.PublicKey, CreatedAt: j.CreatedAt, ActivatesAt: j.ActivatesAt,
				RetiresAt: j.RetiresAt, Version: j.Version}
		})
	case storage.KindKeyEvent:
		return decodeAs(b, func(j *keyEventJSON) storage.Record {
			return &storage.KeyEvent{Seq: j.Seq, At: j.At, KID: j.KID, Action: j.Action, Actor: j.Actor, Reason: j.Reason}
		})
	case storage.KindAuditEvent:
		return decodeAs(b, func(j *auditEventJSON) storage.Record {
			return &storage.AuditEvent{ID: j.ID, At: j.At, Actor: j.Actor, Action: j.Action, Target: j.Target,
				Reason: j.Reason, Detail: j.Detail}
		})
	case storage.KindRefreshToken:
		return decodeAs(b, func(j *refreshTokenJSON) storage.Record {
			return &storage.RefreshToken{ID: j.ID, FamilyID: j.FamilyID, ClientID: j.ClientID, Subject: j.Subject,
				Scopes: j.Scopes, Audience: j.Audience, AuthTime: j.AuthTime, AMR: j.AMR, ACR: j.ACR,
				SessionID: j.SessionID, CreatedAt: j.CreatedAt, ExpiresAt: j.ExpiresAt, Spent: j.Spent, Revoked: j.Revoked}
		})
	case storage.KindSetting:
		return decodeAs(b, func(j *settingJSON) storage.Record { return &storage.Setting{Key: j.Key, Value: j.Value} })
	}
	return nil, fmt.Errorf("no file shape for records of kind %s", kind)
}

// decodeAs unmarshals b into a J, refusing unknown fields, and converts it.
func decodeAs[J any](b []byte, conv func(*J) storage.Record) (storage.Record, error) {
	var j J
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, err
	}
	return conv(&j), nil
}
