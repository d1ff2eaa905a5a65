// Package storage holds the domain types every gongpai package shares, the
// sentinel errors backends return, and the contracts backends must meet.
//
// Contracts that hold for every method of every backend:
//   - ctx is honoured: a cancelled context aborts the call with ctx.Err().
//   - All times are stored and returned in UTC, truncated to the microsecond.
//   - Employee IDs, department codes and entity codes are compared in one
//     canonical form: upper case, surrounding space trimmed (CanonicalCode).
//   - A missing or expired record is ErrNotFound; a uniqueness or version
//     clash is ErrConflict. Callers compare with errors.Is.
//   - Methods documented "atomic" are linearizable: of two concurrent
//     callers exactly one wins.
//   - Delete, Revoke and Reset methods are idempotent: removing what is
//     already gone is not an error.
//
// The conformance suite in storage/storagetest pins all of this.
package storage

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

var (
	// ErrNotFound means the record does not exist, has expired, or was
	// already consumed.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict means a uniqueness constraint or an optimistic version
	// check failed, or an atomic take lost its race.
	ErrConflict = errors.New("storage: conflict")
	// ErrUnavailable means the backend could not be reached. HTTP layers
	// answer 503.
	ErrUnavailable = errors.New("storage: backend unavailable")
)

// CanonicalCode is the one normal form for employee IDs and codes.
func CanonicalCode(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// LegalEntity is a company in the group; employee IDs are unique within it.
type LegalEntity struct {
	Code      string // canonical, e.g. "ACME"; the primary key
	Name      string
	IDRule    string // employee-ID rule such as "{dept}{yyyy}{seq:3}"
	CreatedAt time.Time
}

// Department is a node of an entity's department tree.
type Department struct {
	ID        string // UUID
	Entity    string // LegalEntity.Code
	Code      string // canonical, unique per entity, e.g. "HR01"
	Name      string
	ParentID  string // "" for a root
	CreatedAt time.Time
}

// EmployeeStatus is the lifecycle state of an employee.
type EmployeeStatus string

const (
	StatusActive   EmployeeStatus = "active"
	StatusFrozen   EmployeeStatus = "frozen"
	StatusDeparted EmployeeStatus = "departed"
)

// Employee is a person who signs in. Subject never changes; EmployeeID may
// (a cross-entity transfer issues a new one).
type Employee struct {
	Subject      string // immutable UUID, the OIDC sub
	EmployeeID   string // canonical, unique across the whole directory (the sign-in form has one ID field)
	ExternalID   string // the HR system's key for the person, unique when set ("" = none); import and SCIM match on it
	Entity       string
	DepartmentID string
	Name         string
	Email        string
	Title        string
	Status       EmployeeStatus
	PasswordHash string // PHC-formatted argon2id
	// TOTPSecret is the base32 TOTP seed sealed by package seal; nil means
	// not enrolled.
	TOTPSecret []byte
	// PasswordChangeRequired is set when someone other than the employee
	// chose the password (onboarding with an initial password, an HR or
	// admin reset): the next sign-in asks for a new password before it
	// completes. Changing the password clears it.
	PasswordChangeRequired bool
	Version                int64 // optimistic-concurrency counter, bumped by every update
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// RoleGrant gives an employee a role, optionally scoped to a department
// subtree (DepartmentID "" means the whole directory).
type RoleGrant struct {
	Subject      string
	Role         string
	DepartmentID string
	CreatedAt    time.Time
}

// AccessTokenFormat is how a client's access tokens are minted.
type AccessTokenFormat string

const (
	AccessTokenOpaque AccessTokenFormat = "opaque"
	AccessTokenJWT    AccessTokenFormat = "jwt" // RFC 9068
)

// Client is a relying party.
type Client struct {
	ID                     string
	Name                   string
	SecretHash             []byte // SHA-256 of the secret; empty for public clients
	Public                 bool   // no secret; PKCE required
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string // authorization_code, refresh_token, client_credentials
	Scopes                 []string // scopes the client may ask for
	AccessTokenFormat      AccessTokenFormat
	RequireMFA             bool
	AllowedDepartments     []string // department IDs whose subtrees may sign in; empty = all
	AllowedRoles           []string // any of these roles may sign in; empty = all
	BackchannelLogoutURI   string
	ServiceRoles           []string      // directory roles (hr, admin, auditor, scim) a client_credentials token of this client holds, whole-directory scope
	AccessTokenTTL         time.Duration // 0 = server default
	IDTokenTTL             time.Duration
	RefreshTokenTTL        time.Duration
	CreatedAt              time.Time

	// IDTokenSignedResponseAlg is the algorithm the client wants its ID
	// tokens signed with (RS256, ES256, EdDSA); "" = the default. Honoured
	// while the deployment has an active key of that algorithm.
	IDTokenSignedResponseAlg string

	// VisibleRoles are the roles the client sees in the roles claim:
	// exact names, "prefix:*" patterns or "*"; empty = the default,
	// employee and "<client ID>:*" (clientpolicy.DefaultVisibleRoles).
	VisibleRoles []string
}

// KeyState is where a signing key is in its lifecycle.
type KeyState string

const (
	KeyNext    KeyState = "next"
	KeyActive  KeyState = "active"
	KeyRetired KeyState = "retired"
	KeyRevoked KeyState = "revoked"
	// KeyRemoved: retired and past its retention, or a next key that
	// was never used. The row stays (the kid is never reused, its public
	// half still checks old id_token_hints) but its private half is wiped.
	KeyRemoved KeyState = "removed"
)

// SigningKey is a token-signing key pair with its private half sealed.
type SigningKey struct {
	ID          string // kid
	Algorithm   string // RS256, ES256, EdDSA
	State       KeyState
	PrivateKey  []byte // sealed PKCS#8 DER
	PublicKey   []byte // PKIX DER
	CreatedAt   time.Time
	ActivatesAt time.Time
	RetiresAt   time.Time // zero until retired
	Version     int64
}

// RefreshToken is one link of a refresh-token family. Only a hash of the
// token is ever stored.
type RefreshToken struct {
	ID        string // SHA-256 hex of the token
	FamilyID  string
	ClientID  string
	Subject   string
	Scopes    []string
	Audience  []string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	SessionID string
	CreatedAt time.Time
	ExpiresAt time.Time
	Spent     bool // rotated: presenting it again is reuse
	Revoked   bool // its family was revoked
}

// AuthRequest is a pending /authorize request. It is ephemeral.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	State               string
	Nonce               string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	MaxAge              *time.Duration
	UILocales           []string
	LoginHint           string
	ACRValues           []string
	HintSubject         string // sub of a verified id_token_hint
	// BrowserBinding is the hex SHA-256 of the random value the provider
	// put in a cookie on the browser that sent /authorize. Only a browser
	// presenting that cookie may complete the request or collect its
	// code; "" binds it to no browser, so none may.
	BrowserBinding string
	CreatedAt      time.Time
	ExpiresAt      time.Time

	// Set once the employee is authenticated.
	Done      bool
	Subject   string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	SessionID string
}

// AuthResult is what sign-in writes onto an auth request.
type AuthResult struct {
	Subject   string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	SessionID string
}

// Session is a server-side SSO session. ID is a hash of the cookie value.
type Session struct {
	ID        string
	Subject   string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	ClientIDs []string // relying parties that got tokens in this session
	UserAgent string
	RemoteIP  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AccessToken records an issued access token (opaque or JWT) so userinfo,
// introspection and revocation can check it.
type AccessToken struct {
	ID            string
	ClientID      string
	Subject       string // employee sub, or the client ID for client_credentials
	Scopes        []string
	Audience      []string
	RefreshFamily string // "" when not issued from a refresh family
	SessionID     string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// Durable is everything kept for good. Every backend's durable part
// implements it; packages above declare the narrow slices they need.
type Durable interface {
	CreateEntity(ctx context.Context, e *LegalEntity) error // ErrConflict on duplicate code
	Entity(ctx context.Context, code string) (*LegalEntity, error)
	ListEntities(ctx context.Context) ([]LegalEntity, error)

	CreateDepartment(ctx context.Context, d *Department) error // ErrConflict on duplicate (entity, code)
	Department(ctx context.Context, id string) (*Department, error)
	DepartmentByCode(ctx context.Context, entity, code string) (*Department, error)
	ListDepartments(ctx context.Context, entity string) ([]Department, error)

	// CreateEmployee inserts e. When e.EmployeeID is empty, it allocates the
	// next number of the sequence seqKey and sets e.EmployeeID = makeID(n),
	// all inside one transaction: concurrent calls get distinct, gap-free
	// numbers, and a failed makeID or insert uses up no number. A generated
	// ID that an explicitly chosen one already holds is skipped (the next
	// number is tried) so the sequence cannot jam. ErrConflict on a
	// duplicate employee ID or subject.
	CreateEmployee(ctx context.Context, e *Employee, seqKey string, makeID func(n int64) (string, error)) error
	Employee(ctx context.Context, subject string) (*Employee, error)
	EmployeeByEmployeeID(ctx context.Context, employeeID string) (*Employee, error)
	ListEmployees(ctx context.Context) ([]Employee, error)
	// UpdateEmployee writes e when the stored version equals e.Version, and
	// bumps e.Version; ErrConflict on a stale version or a taken employee
	// ID, ErrNotFound when the subject does not exist.
	UpdateEmployee(ctx context.Context, e *Employee) error

	GrantRole(ctx context.Context, g *RoleGrant) error // idempotent
	RevokeRole(ctx context.Context, subject, role string) error
	RoleGrants(ctx context.Context, subject string) ([]RoleGrant, error)

	CreateClient(ctx context.Context, c *Client) error // ErrConflict on duplicate ID
	Client(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]Client, error)

	CreateSigningKey(ctx context.Context, k *SigningKey) error
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateSigningKey is a compare-and-swap on k.Version; ErrConflict when
	// another writer got there first, ErrNotFound when the key is absent.
	UpdateSigningKey(ctx context.Context, k *SigningKey) error

	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	RefreshToken(ctx context.Context, id string) (*RefreshToken, error) // spent and revoked ones too; ErrNotFound only if absent or expired
	// RotateRefreshToken atomically marks oldID spent, only if it is
	// neither spent nor revoked, and inserts next in the same family.
	// ErrConflict when oldID was already spent or revoked; ErrNotFound when
	// it is absent or expired.
	RotateRefreshToken(ctx context.Context, oldID string, next *RefreshToken) error
	RevokeRefreshFamily(ctx context.Context, familyID string) error
	RevokeRefreshTokensOfSubject(ctx context.Context, subject string) error
	// RevokeRefreshTokensOfClient marks every token issued to clientID
	// revoked (deleting a client) and returns the refresh families it
	// revoked, whose recorded access tokens the caller deletes.
	RevokeRefreshTokensOfClient(ctx context.Context, clientID string) (families []string, err error)

	// Settings is a small key/value table for install-wide facts such as
	// the demo-seeded marker.
	Setting(ctx context.Context, key string) (string, error)
	PutSetting(ctx context.Context, key, value string) error

	// --- Signing-key events (issue 4) ---------------------------------
	// Every key operation is recorded with its actor, time and reason. The
	// audit log will take these over.

	// RecordKeyEvent appends ev; ev.Seq is set to its position in the
	// log (increasing, never reused).
	RecordKeyEvent(ctx context.Context, ev *KeyEvent) error
	// ListKeyEvents returns the events of kid, or of every key when kid is
	// "", oldest first.
	ListKeyEvents(ctx context.Context, kid string) ([]KeyEvent, error)

	// Directory administration: lifecycle writes, search, employee-ID
	// history, audit (see DirectoryAdmin below).
	DirectoryAdmin

	Ping(ctx context.Context) error
	Close() error
}

// KeyEvent is one signing-key operation: created (as next or active),
// activated, retired, removed, revoked, rewrapped.
type KeyEvent struct {
	Seq    int64 // set by RecordKeyEvent
	At     time.Time
	KID    string
	Action string
	Actor  string // "system:rotation", "cli:<OS user>" or --actor
	Reason string
}

// Ephemeral is the short-lived, TTL'd state. Every record expires on its
// own; an expired record is ErrNotFound.
type Ephemeral interface {
	CreateAuthRequest(ctx context.Context, r *AuthRequest) error
	AuthRequest(ctx context.Context, id string) (*AuthRequest, error)
	// CompleteAuthRequest marks the request done with res. ErrNotFound when
	// missing or expired.
	CompleteAuthRequest(ctx context.Context, id string, res AuthResult) error
	DeleteAuthRequest(ctx context.Context, id string) error
	// SaveAuthCode binds code to the auth request for ttl. A request gets at
	// most one code: a second call is ErrConflict, as is a code already
	// bound to another request. ErrNotFound when the request is missing or
	// expired.
	SaveAuthCode(ctx context.Context, authRequestID, code string, ttl time.Duration) error
	// TakeAuthCode atomically consumes code and returns its auth request.
	// Of concurrent takers exactly one wins; the others, and every later
	// caller, get ErrNotFound.
	TakeAuthCode(ctx context.Context, code string) (*AuthRequest, error)

	CreateSession(ctx context.Context, s *Session) error
	Session(ctx context.Context, id string) (*Session, error)
	AddSessionClient(ctx context.Context, id, clientID string) error // idempotent
	DeleteSession(ctx context.Context, id string) error
	// DeleteSessionsOfSubject ends every session of one employee and
	// returns what was deleted (for back-channel logout).
	DeleteSessionsOfSubject(ctx context.Context, subject string) ([]Session, error)
	SessionsOfSubject(ctx context.Context, subject string) ([]Session, error)

	CreateAccessToken(ctx context.Context, t *AccessToken) error
	AccessToken(ctx context.Context, id string) (*AccessToken, error)
	DeleteAccessToken(ctx context.Context, id string) error
	DeleteAccessTokensOfFamily(ctx context.Context, familyID string) error
	DeleteAccessTokensOfSubject(ctx context.Context, subject string) error

	// Hit counts one event for key in a fixed window and returns the count
	// so far in the window (atomic increment).
	Hit(ctx context.Context, key string, window time.Duration) (int64, error)
	ResetHits(ctx context.Context, key string) error

	// UseTOTPStep atomically records that subject used the TOTP time step.
	// ErrConflict when step is not greater than the last step used, so a
	// code is accepted once per time step.
	UseTOTPStep(ctx context.Context, subject string, step int64, ttl time.Duration) error

	Ping(ctx context.Context) error
	Close() error
}

// Store is both halves; cmd/gongpai wires one, and storagetest exercises
// it. Packages above never depend on it.
type Store interface {
	Durable
	Ephemeral
}

// Identity is an employee as relying parties see them: what the claims
// mapper turns into ID-token, userinfo and introspection claims.
type Identity struct {
	Subject    string
	EmployeeID string
	Name       string
	Email      string
	// EmailVerified: Email is set and no other employee who has not left
	// has the same address (ignoring case); only then may the
	// email_verified claim be true.
	EmailVerified  bool
	Title          string
	Status         EmployeeStatus
	Entity         string   // legal entity code
	Department     string   // department code
	DepartmentName string   // department display name
	DepartmentPath []string // codes from the root down to Department
	DepartmentIDs  []string // IDs from the root down, for subtree policy checks
	Roles          []string // sorted, distinct role names
}

// ---------------------------------------------------------------------------
// Directory administration (issue 5): lifecycle writes, search, employee-ID
// history, audit. Part of Durable: every durable backend (sqlite,
// postgres) implements it, and storagetest covers it ("DirectoryAdmin"
// subtests). It is a separate interface only so that packages can name
// the slice they need. Same contracts as the rest of this file (UTC,
// canonical codes, sentinels). CreateEmployee and UpdateEmployee treat
// retired employee IDs (EmployeeIDRecord) as taken: an explicit one is
// ErrConflict, a generated one is stepped over.
// ---------------------------------------------------------------------------

// EmployeeIDRecord is an employee ID that was retired (a cross-entity
// transfer issued a new one). A retired ID is never issued again, to
// anyone, and never signs in.
type EmployeeIDRecord struct {
	EmployeeID string // canonical; unique across the directory, with the live IDs
	Subject    string // whose it was
	Entity     string // the entity that issued it
	RetiredAt  time.Time
	Reason     string
}

// EmployeeQuery selects employees. Empty fields do not filter. Results are
// ordered by employee ID.
type EmployeeQuery struct {
	Entity        string         // entity code
	EmployeeID    string         // exact employee ID
	IDPrefix      string         // employee IDs starting with this (canonical)
	ExternalID    string         // exact external ID
	Email         string         // exact e-mail address, without regard to case (indexed on lower(email))
	NotDeparted   bool           // leave departed employees out (SCIM; e-mail uniqueness)
	Name          string         // case-insensitive substring of the name (ASCII folding)
	DepartmentIDs []string       // in any of these departments; callers expand subtrees. Non-nil and empty matches nothing.
	Status        EmployeeStatus // one status
	After         string         // keyset pagination: employee IDs greater than this
	Offset        int            // skip this many (SCIM startIndex-1)
	Limit         int            // at most this many; 0 = no limit
}

// EmployeePage is one page of a search. Total counts every match, ignoring
// After, Offset and Limit.
type EmployeePage struct {
	Employees []Employee
	Total     int
}

// EmployeeWrite is one change in an atomic batch (WriteEmployees).
//
// Create inserts Employee with its role Grants (their Subject is taken from
// Employee); an empty Employee.EmployeeID is generated as CreateEmployee
// does, from SeqKey and MakeID. Otherwise Employee replaces the stored row
// under UpdateEmployee's compare-and-swap on Version; with ReissueID the
// stored employee ID is first retired into the history (RetireReason) and
// the employee gets Employee.EmployeeID, or a generated one when that is
// empty or equal to the retired ID. RevokeScopedGrants (updates only)
// removes every department-scoped role grant of the employee (whole-
// directory grants stay) and appends RevokeAudit's event, when that is
// set, for each one removed. Audit, when set, is appended in the same
// transaction. Both audits' Target is filled with the final employee ID
// when empty.
type EmployeeWrite struct {
	Employee           *Employee
	Create             bool
	ReissueID          bool
	SeqKey             string
	MakeID             func(n int64) (string, error)
	RetireReason       string
	Grants             []RoleGrant
	RevokeScopedGrants bool
	RevokeAudit        func(g RoleGrant) *AuditEvent
	Audit              *AuditEvent
}

// RevokeAuditEvents are the audit events for the scoped grants a write
// removed, in one order on every backend (department, then role), each
// Target filled with id, the employee's final ID, when empty.
func (w EmployeeWrite) RevokeAuditEvents(removed []RoleGrant, id string) []*AuditEvent {
	if w.RevokeAudit == nil {
		return nil
	}
	removed = slices.Clone(removed)
	slices.SortFunc(removed, func(a, b RoleGrant) int {
		return cmp.Or(strings.Compare(a.DepartmentID, b.DepartmentID), strings.Compare(a.Role, b.Role))
	})
	var evs []*AuditEvent
	for _, g := range removed {
		if ev := w.RevokeAudit(g); ev != nil {
			if ev.Target == "" {
				ev.Target = id
			}
			evs = append(evs, ev)
		}
	}
	return evs
}

// AuditEvent records an administrative action and why it was taken.
type AuditEvent struct {
	ID     string // UUID
	At     time.Time
	Actor  string // "employee:<employee ID>" or "client:<client ID>" or "cli"
	Action string // e.g. employee.freeze
	Target string // the employee ID, department code, client ID … acted on
	Reason string
	Detail string // JSON or free text
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	Target string // "" = any
	Before string // ID of the last event of the previous page; "" = newest
	Limit  int    // 0 = 100
}

// DirectoryAdmin is what the directory's administrative side (package
// directory's Manager, the admin API, import and SCIM) needs beyond
// Durable.
type DirectoryAdmin interface {
	// UpdateDepartment writes d's code, name and parent. ErrNotFound when
	// d.ID does not exist; ErrConflict on a duplicate (entity, code), a
	// parent in another entity, or a parent that is d itself or one of its
	// descendants (a cycle) — checked inside the write, so two concurrent
	// moves cannot build a cycle together.
	UpdateDepartment(ctx context.Context, d *Department) error
	// DeleteDepartment removes an empty department. ErrConflict when it
	// still has child departments or employees (departed ones included),
	// ErrNotFound when absent.
	DeleteDepartment(ctx context.Context, id string) error

	EmployeeByExternalID(ctx context.Context, externalID string) (*Employee, error)
	SearchEmployees(ctx context.Context, q EmployeeQuery) (*EmployeePage, error)
	// WriteEmployees applies every write or none, in order, in one
	// transaction. On success generated IDs are set on the Employees and
	// updated Versions bumped; on failure they are untouched. ErrConflict
	// on a duplicate or retired employee ID, a duplicate external ID or a
	// stale version; ErrNotFound when an updated subject does not exist.
	WriteEmployees(ctx context.Context, ws []EmployeeWrite) error
	// EmployeeIDHistory lists the retired IDs of subject, oldest first.
	EmployeeIDHistory(ctx context.Context, subject string) ([]EmployeeIDRecord, error)

	// RevokeRoleGrant removes one grant (subject, role, department scope).
	RevokeRoleGrant(ctx context.Context, subject, role, departmentID string) error

	// UpdateClient writes every field of c but ID and CreatedAt.
	// ErrNotFound when absent.
	UpdateClient(ctx context.Context, c *Client) error
	DeleteClient(ctx context.Context, id string) error

	AppendAudit(ctx context.Context, ev *AuditEvent) error
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}
