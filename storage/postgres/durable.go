package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/gongpai/gongpai/storage"
)

// Lists are returned in a stable order (by primary key or creation time)
// so callers and tests see deterministic output.

// CreateEntity stores e under its canonical code; ErrConflict on a
// duplicate.
func (s *Store) CreateEntity(ctx context.Context, e *storage.LegalEntity) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO entities (code, name, id_rule, created_at) VALUES ($1, $2, $3, $4)`,
		storage.CanonicalCode(e.Code), e.Name, e.IDRule, ts(e.CreatedAt))
	return s.wrap(ctx, "create entity", err)
}

const entityCols = `code, name, id_rule, created_at`

func scanEntity(r pgx.Row, e *storage.LegalEntity) error {
	return r.Scan(&e.Code, &e.Name, &e.IDRule, timeCol{&e.CreatedAt})
}

// Entity looks an entity up by code, in canonical form.
func (s *Store) Entity(ctx context.Context, code string) (*storage.LegalEntity, error) {
	var e storage.LegalEntity
	err := scanEntity(s.pool.QueryRow(ctx, `SELECT `+entityCols+` FROM entities WHERE code = $1`, storage.CanonicalCode(code)), &e)
	if err != nil {
		return nil, s.wrap(ctx, "entity", err)
	}
	return &e, nil
}

// ListEntities returns every entity ordered by code.
func (s *Store) ListEntities(ctx context.Context) ([]storage.LegalEntity, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+entityCols+` FROM entities ORDER BY code`)
	out, err := collect(rows, err, scanEntity)
	return out, s.wrap(ctx, "list entities", err)
}

// CreateDepartment stores d; ErrConflict on a duplicate ID or (entity,
// code), or when the entity or parent does not exist.
func (s *Store) CreateDepartment(ctx context.Context, d *storage.Department) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO departments (id, entity, code, name, parent_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		d.ID, storage.CanonicalCode(d.Entity), storage.CanonicalCode(d.Code), d.Name, nullable(d.ParentID), ts(d.CreatedAt))
	return s.wrap(ctx, "create department", err)
}

const departmentCols = `id, entity, code, name, COALESCE(parent_id, ''), created_at`

func scanDepartment(r pgx.Row, d *storage.Department) error {
	return r.Scan(&d.ID, &d.Entity, &d.Code, &d.Name, &d.ParentID, timeCol{&d.CreatedAt})
}

// Department looks a department up by ID.
func (s *Store) Department(ctx context.Context, id string) (*storage.Department, error) {
	var d storage.Department
	if err := scanDepartment(s.pool.QueryRow(ctx, `SELECT `+departmentCols+` FROM departments WHERE id = $1`, id), &d); err != nil {
		return nil, s.wrap(ctx, "department", err)
	}
	return &d, nil
}

// DepartmentByCode looks a department up by entity and code, both in
// canonical form.
func (s *Store) DepartmentByCode(ctx context.Context, entity, code string) (*storage.Department, error) {
	var d storage.Department
	err := scanDepartment(s.pool.QueryRow(ctx, `SELECT `+departmentCols+` FROM departments WHERE entity = $1 AND code = $2`,
		storage.CanonicalCode(entity), storage.CanonicalCode(code)), &d)
	if err != nil {
		return nil, s.wrap(ctx, "department by code", err)
	}
	return &d, nil
}

// ListDepartments returns the departments of one entity ordered by code.
func (s *Store) ListDepartments(ctx context.Context, entity string) ([]storage.Department, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+departmentCols+` FROM departments WHERE entity = $1 ORDER BY code`,
		storage.CanonicalCode(entity))
	out, err := collect(rows, err, scanDepartment)
	return out, s.wrap(ctx, "list departments", err)
}

// maxIDSkips bounds how many already-taken generated IDs CreateEmployee
// steps over before giving up with ErrConflict.
const maxIDSkips = 1000

const (
	employeeInsertCols = `INSERT INTO employees (subject, employee_id, entity, department_id, name, email, title,
		status, password_hash, totp_secret, version, created_at, updated_at, external_id, password_change_required)`
	insertEmployeeSQL = employeeInsertCols + `
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	// insertFreeEmployeeSQL inserts nothing when the ID is taken, live or
	// retired.
	insertFreeEmployeeSQL = employeeInsertCols + `
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
		WHERE NOT EXISTS (SELECT 1 FROM employee_id_history WHERE employee_id = $2)
		ON CONFLICT ON CONSTRAINT employees_employee_id_key DO NOTHING`
)

func employeeArgs(e *storage.Employee, id string) []any {
	return []any{e.Subject, id, storage.CanonicalCode(e.Entity), nullable(e.DepartmentID), e.Name, e.Email, e.Title,
		string(e.Status), e.PasswordHash, e.TOTPSecret, e.Version, ts(e.CreatedAt), ts(e.UpdatedAt), nullable(e.ExternalID),
		e.PasswordChangeRequired}
}

// CreateEmployee inserts e, generating its employee ID from sequence
// seqKey when e.EmployeeID is empty; see insertEmployee.
func (s *Store) CreateEmployee(ctx context.Context, e *storage.Employee, seqKey string, makeID func(n int64) (string, error)) error {
	var id string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		id, err = insertEmployee(ctx, tx, e, seqKey, makeID)
		return err
	})
	if err != nil {
		return s.wrap(ctx, "create employee", err)
	}
	if e.EmployeeID == "" {
		e.EmployeeID = id
	}
	return nil
}

// insertEmployee inserts e inside tx and returns its canonical, possibly
// generated, employee ID; e itself is not modified.
//
// Generation: an upsert locks the sequence row (creating it at 0 the
// first time), so concurrent onboardings into one sequence queue there and
// each reads the number its predecessor committed. The insert steps over a
// number whose ID is retired (NOT EXISTS in the history) or live (ON
// CONFLICT on the employee-ID constraint only — so it also waits for, and
// steps over, an explicit insert still in flight, while a duplicate
// subject or external ID still fails). The row is then bumped to the
// number used; a failed makeID or insert rolls it back: no gaps.
//
// Every inserted ID is checked against the history once more, in a later
// statement: its fresh snapshot sees a retirement that committed while the
// insert waited on the unique index, which the insert's own snapshot could
// not.
func insertEmployee(ctx context.Context, tx pgx.Tx, e *storage.Employee, seqKey string, makeID func(n int64) (string, error)) (string, error) {
	id := storage.CanonicalCode(e.EmployeeID)
	if id != "" {
		if _, err := tx.Exec(ctx, insertEmployeeSQL, employeeArgs(e, id)...); err != nil {
			return "", err
		}
		return id, notRetired(ctx, tx, id)
	}
	if makeID == nil {
		return "", errors.New("no employee ID and no makeID")
	}
	var last int64
	if err := tx.QueryRow(ctx, `INSERT INTO sequences (key, value) VALUES ($1, 0)
		ON CONFLICT (key) DO UPDATE SET value = sequences.value RETURNING value`, seqKey).Scan(&last); err != nil {
		return "", err
	}
	for n := last + 1; ; n++ {
		if n > last+maxIDSkips {
			return "", fmt.Errorf("%d generated employee IDs in a row already taken: %w", maxIDSkips, storage.ErrConflict)
		}
		raw, err := makeID(n)
		if err != nil {
			return "", fmt.Errorf("make employee ID: %w", err)
		}
		id = storage.CanonicalCode(raw)
		tag, err := tx.Exec(ctx, insertFreeEmployeeSQL, employeeArgs(e, id)...)
		if err != nil {
			return "", err
		}
		if tag.RowsAffected() == 1 {
			if _, err := tx.Exec(ctx, `UPDATE sequences SET value = $2 WHERE key = $1`, seqKey, n); err != nil {
				return "", err
			}
			return id, notRetired(ctx, tx, id)
		}
	}
}

// allocateID takes the next free number of sequence seqKey for an ID that
// an existing employee is about to be given (a reissue), stepping over IDs
// live or retired, and bumps the sequence row inside tx.
func allocateID(ctx context.Context, tx pgx.Tx, seqKey string, makeID func(n int64) (string, error)) (string, error) {
	if makeID == nil {
		return "", errors.New("no employee ID and no makeID")
	}
	var last int64
	if err := tx.QueryRow(ctx, `INSERT INTO sequences (key, value) VALUES ($1, 0)
		ON CONFLICT (key) DO UPDATE SET value = sequences.value RETURNING value`, seqKey).Scan(&last); err != nil {
		return "", err
	}
	for n := last + 1; n <= last+maxIDSkips; n++ {
		raw, err := makeID(n)
		if err != nil {
			return "", fmt.Errorf("make employee ID: %w", err)
		}
		id := storage.CanonicalCode(raw)
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM employees WHERE employee_id = $1)
			OR EXISTS (SELECT 1 FROM employee_id_history WHERE employee_id = $1)`, id).Scan(&taken); err != nil {
			return "", err
		}
		if !taken {
			_, err := tx.Exec(ctx, `UPDATE sequences SET value = $2 WHERE key = $1`, seqKey, n)
			return id, err
		}
	}
	return "", fmt.Errorf("%d generated employee IDs in a row already taken: %w", maxIDSkips, storage.ErrConflict)
}

// notRetired is ErrConflict when id was retired.
func notRetired(ctx context.Context, tx pgx.Tx, id string) error {
	var retired bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM employee_id_history WHERE employee_id = $1)`, id).Scan(&retired); err != nil {
		return err
	}
	if retired {
		return fmt.Errorf("employee ID %s was retired: %w", id, storage.ErrConflict)
	}
	return nil
}

const employeeCols = `subject, employee_id, COALESCE(external_id, ''), entity, COALESCE(department_id, ''), name,
	email, title, status, password_hash, totp_secret, version, created_at, updated_at, password_change_required`

func scanEmployee(r pgx.Row, e *storage.Employee) error {
	var status string
	err := r.Scan(&e.Subject, &e.EmployeeID, &e.ExternalID, &e.Entity, &e.DepartmentID, &e.Name, &e.Email, &e.Title, &status,
		&e.PasswordHash, &e.TOTPSecret, &e.Version, timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt}, &e.PasswordChangeRequired)
	e.Status = storage.EmployeeStatus(status)
	return err
}

// Employee looks an employee up by subject.
func (s *Store) Employee(ctx context.Context, subject string) (*storage.Employee, error) {
	var e storage.Employee
	if err := scanEmployee(s.pool.QueryRow(ctx, `SELECT `+employeeCols+` FROM employees WHERE subject = $1`, subject), &e); err != nil {
		return nil, s.wrap(ctx, "employee", err)
	}
	return &e, nil
}

// EmployeeByEmployeeID looks an employee up by employee ID in canonical
// form, so "hr012023001" finds "HR012023001".
func (s *Store) EmployeeByEmployeeID(ctx context.Context, employeeID string) (*storage.Employee, error) {
	var e storage.Employee
	err := scanEmployee(s.pool.QueryRow(ctx, `SELECT `+employeeCols+` FROM employees WHERE employee_id = $1`,
		storage.CanonicalCode(employeeID)), &e)
	if err != nil {
		return nil, s.wrap(ctx, "employee by employee ID", err)
	}
	return &e, nil
}

// ListEmployees returns every employee ordered by employee ID.
func (s *Store) ListEmployees(ctx context.Context) ([]storage.Employee, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+employeeCols+` FROM employees ORDER BY employee_id`)
	out, err := collect(rows, err, scanEmployee)
	return out, s.wrap(ctx, "list employees", err)
}

// UpdateEmployee writes every field but Subject and CreatedAt when the
// stored version equals e.Version, then bumps e.Version; see
// updateEmployee. ErrNotFound when the subject does not exist; ErrConflict
// on a stale version, or when the new employee ID is taken or retired or
// the external ID taken.
func (s *Store) UpdateEmployee(ctx context.Context, e *storage.Employee) error {
	err := s.tx(ctx, func(tx pgx.Tx) error { return updateEmployee(ctx, tx, e) })
	if err != nil {
		return s.wrap(ctx, "update employee", err)
	}
	e.Version++
	return nil
}

// updateEmployee is UpdateEmployee inside tx, without bumping e.Version.
// The UPDATE is the compare-and-swap (a concurrent writer holding the row
// makes it wait, then re-check the version), and the second EXISTS tells a
// stale version from a missing subject. The retired-ID check comes after,
// in its own statement, for the reason given at insertEmployee.
func updateEmployee(ctx context.Context, tx pgx.Tx, e *storage.Employee) error {
	id := storage.CanonicalCode(e.EmployeeID)
	var updated, found bool
	err := tx.QueryRow(ctx, `WITH u AS (
			UPDATE employees SET employee_id = $3, entity = $4, department_id = $5, name = $6, email = $7, title = $8,
				status = $9, password_hash = $10, totp_secret = $11, updated_at = $12, external_id = $13,
				password_change_required = $14, version = version + 1
			WHERE subject = $1 AND version = $2
			RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM employees WHERE subject = $1)`,
		e.Subject, e.Version, id, storage.CanonicalCode(e.Entity),
		nullable(e.DepartmentID), e.Name, e.Email, e.Title, string(e.Status), e.PasswordHash, e.TOTPSecret,
		ts(e.UpdatedAt), nullable(e.ExternalID), e.PasswordChangeRequired).Scan(&updated, &found)
	if err != nil {
		return err
	}
	if err := casResult(updated, found); err != nil {
		return err
	}
	return notRetired(ctx, tx, id)
}

// casResult turns a compare-and-swap outcome into nil, ErrConflict (the
// row exists at another version) or ErrNotFound.
func casResult(updated, found bool) error {
	switch {
	case updated:
		return nil
	case found:
		return fmt.Errorf("stale version: %w", storage.ErrConflict)
	default:
		return storage.ErrNotFound
	}
}

// GrantRole records g; granting the same (subject, role, department) again
// changes nothing.
func (s *Store) GrantRole(ctx context.Context, g *storage.RoleGrant) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO role_grants (subject, role, department_id, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subject, role, department_id) DO NOTHING`, g.Subject, g.Role, g.DepartmentID, ts(g.CreatedAt))
	return s.wrap(ctx, "grant role", err)
}

// RevokeRole removes every grant of role to subject, whatever its
// department scope. Revoking what was never granted is not an error.
func (s *Store) RevokeRole(ctx context.Context, subject, role string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM role_grants WHERE subject = $1 AND role = $2`, subject, role)
	return s.wrap(ctx, "revoke role", err)
}

// RoleGrants returns the grants of subject ordered by role and department.
func (s *Store) RoleGrants(ctx context.Context, subject string) ([]storage.RoleGrant, error) {
	rows, err := s.pool.Query(ctx, `SELECT subject, role, department_id, created_at FROM role_grants
		WHERE subject = $1 ORDER BY role, department_id`, subject)
	out, err := collect(rows, err, func(r pgx.Row, g *storage.RoleGrant) error {
		return r.Scan(&g.Subject, &g.Role, &g.DepartmentID, timeCol{&g.CreatedAt})
	})
	return out, s.wrap(ctx, "role grants", err)
}

// CreateClient stores c; ErrConflict on a duplicate ID.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO clients (id, name, secret_hash, public, redirect_uris,
		post_logout_redirect_uris, grant_types, scopes, access_token_format, require_mfa, allowed_departments,
		allowed_roles, backchannel_logout_uri, service_roles, access_token_ttl, id_token_ttl, refresh_token_ttl,
		created_at, id_token_signed_response_alg, visible_roles)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		c.ID, c.Name, c.SecretHash, c.Public, c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes,
		string(c.AccessTokenFormat), c.RequireMFA, c.AllowedDepartments, c.AllowedRoles, c.BackchannelLogoutURI,
		c.ServiceRoles, int64(c.AccessTokenTTL), int64(c.IDTokenTTL), int64(c.RefreshTokenTTL), ts(c.CreatedAt),
		c.IDTokenSignedResponseAlg, c.VisibleRoles)
	return s.wrap(ctx, "create client", err)
}

const clientCols = `id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, grant_types, scopes,
	access_token_format, require_mfa, allowed_departments, allowed_roles, backchannel_logout_uri, service_roles,
	access_token_ttl, id_token_ttl, refresh_token_ttl, created_at, id_token_signed_response_alg, visible_roles`

func scanClient(r pgx.Row, c *storage.Client) error {
	var format string
	err := r.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, &c.RedirectURIs, &c.PostLogoutRedirectURIs,
		&c.GrantTypes, &c.Scopes, &format, &c.RequireMFA, &c.AllowedDepartments, &c.AllowedRoles,
		&c.BackchannelLogoutURI, &c.ServiceRoles, &c.AccessTokenTTL, &c.IDTokenTTL, &c.RefreshTokenTTL,
		timeCol{&c.CreatedAt}, &c.IDTokenSignedResponseAlg, &c.VisibleRoles)
	c.AccessTokenFormat = storage.AccessTokenFormat(format)
	return err
}

// Client looks a client up by ID.
func (s *Store) Client(ctx context.Context, id string) (*storage.Client, error) {
	var c storage.Client
	if err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id), &c); err != nil {
		return nil, s.wrap(ctx, "client", err)
	}
	return &c, nil
}

// ListClients returns every client ordered by ID.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	out, err := collect(rows, err, scanClient)
	return out, s.wrap(ctx, "list clients", err)
}

// CreateSigningKey stores k; ErrConflict on a duplicate kid.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, state, private_key, public_key, created_at,
		activates_at, retires_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.Algorithm, string(k.State), k.PrivateKey, k.PublicKey, ts(k.CreatedAt), optTS(k.ActivatesAt),
		optTS(k.RetiresAt), k.Version)
	return s.wrap(ctx, "create signing key", err)
}

// ListSigningKeys returns every key, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, algorithm, state, private_key, public_key, created_at, activates_at,
		retires_at, version FROM signing_keys ORDER BY created_at, id`)
	out, err := collect(rows, err, func(r pgx.Row, k *storage.SigningKey) error {
		var state string
		err := r.Scan(&k.ID, &k.Algorithm, &state, &k.PrivateKey, &k.PublicKey, timeCol{&k.CreatedAt},
			timeCol{&k.ActivatesAt}, timeCol{&k.RetiresAt}, &k.Version)
		k.State = storage.KeyState(state)
		return err
	})
	return out, s.wrap(ctx, "list signing keys", err)
}

// UpdateSigningKey writes every field but ID and CreatedAt when the stored
// version equals k.Version, then bumps k.Version: one compare-and-swap
// statement, as in UpdateEmployee. ErrConflict when another writer got
// there first, ErrNotFound when the key does not exist.
func (s *Store) UpdateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	var updated, found bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE signing_keys SET algorithm = $3, state = $4, private_key = $5, public_key = $6, activates_at = $7,
				retires_at = $8, version = version + 1
			WHERE id = $1 AND version = $2
			RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM signing_keys WHERE id = $1)`,
		k.ID, k.Version, k.Algorithm, string(k.State), k.PrivateKey, k.PublicKey, optTS(k.ActivatesAt),
		optTS(k.RetiresAt)).Scan(&updated, &found)
	if err == nil {
		err = casResult(updated, found)
	}
	if err != nil {
		return s.wrap(ctx, "update signing key", err)
	}
	k.Version++
	return nil
}

const insertRefreshToken = `INSERT INTO refresh_tokens (id, family_id, client_id, subject, scopes, audience,
	auth_time, amr, acr, session_id, created_at, expires_at, spent, revoked)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`

func refreshTokenArgs(t *storage.RefreshToken) []any {
	return []any{t.ID, t.FamilyID, t.ClientID, t.Subject, t.Scopes, t.Audience, optTS(t.AuthTime), t.AMR, t.ACR,
		t.SessionID, ts(t.CreatedAt), ts(t.ExpiresAt), t.Spent, t.Revoked}
}

// CreateRefreshToken stores t; ErrConflict on a duplicate ID.
func (s *Store) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	_, err := s.pool.Exec(ctx, insertRefreshToken, refreshTokenArgs(t)...)
	return s.wrap(ctx, "create refresh token", err)
}

// RefreshToken returns the token with ID id, spent and revoked ones
// included (the caller detects reuse); ErrNotFound when absent or expired.
func (s *Store) RefreshToken(ctx context.Context, id string) (*storage.RefreshToken, error) {
	var t storage.RefreshToken
	err := s.pool.QueryRow(ctx, `SELECT id, family_id, client_id, subject, scopes, audience, auth_time, amr, acr,
		session_id, created_at, expires_at, spent, revoked FROM refresh_tokens WHERE id = $1 AND expires_at > $2`,
		id, s.nowTS()).Scan(&t.ID, &t.FamilyID, &t.ClientID, &t.Subject, &t.Scopes, &t.Audience, timeCol{&t.AuthTime},
		&t.AMR, &t.ACR, &t.SessionID, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, &t.Spent, &t.Revoked)
	if err != nil {
		return nil, s.wrap(ctx, "refresh token", err)
	}
	return &t, nil
}

// RotateRefreshToken marks oldID spent with one conditional UPDATE and
// inserts next, in one transaction. Concurrent rotations of one token
// queue on its row lock; the losers re-check "not spent" against the
// winner's committed row and get ErrConflict. next joins oldID's family
// whatever next.FamilyID said (next.FamilyID is set to it). ErrConflict
// when oldID is spent or revoked, or next's ID exists (the old token then
// stays unspent); ErrNotFound when oldID is absent or expired.
func (s *Store) RotateRefreshToken(ctx context.Context, oldID string, next *storage.RefreshToken) error {
	var family string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		now := s.nowTS()
		err := tx.QueryRow(ctx, `UPDATE refresh_tokens SET spent = true
			WHERE id = $1 AND NOT spent AND NOT revoked AND expires_at > $2 RETURNING family_id`, oldID, now).Scan(&family)
		if errors.Is(err, pgx.ErrNoRows) {
			var found bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE id = $1 AND expires_at > $2)`,
				oldID, now).Scan(&found); err != nil {
				return err
			}
			if found {
				return fmt.Errorf("already spent or revoked: %w", storage.ErrConflict)
			}
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		n := *next
		n.FamilyID = family
		_, err = tx.Exec(ctx, insertRefreshToken, refreshTokenArgs(&n)...)
		return err
	})
	if err != nil {
		return s.wrap(ctx, "rotate refresh token", err)
	}
	next.FamilyID = family
	return nil
}

// RevokeRefreshFamily marks every token of the family revoked, keeping the
// rows so a later presentation is still recognised.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked`, familyID)
	return s.wrap(ctx, "revoke refresh family", err)
}

// RevokeRefreshTokensOfSubject marks every token of subject revoked.
func (s *Store) RevokeRefreshTokensOfSubject(ctx context.Context, subject string) error {
	_, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked = true WHERE subject = $1 AND NOT revoked`, subject)
	return s.wrap(ctx, "revoke refresh tokens of subject", err)
}

// RevokeRefreshTokensOfClient marks every token of clientID revoked and
// returns the families it touched (a scan: deleting a client is rare).
func (s *Store) RevokeRefreshTokensOfClient(ctx context.Context, clientID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `UPDATE refresh_tokens SET revoked = true WHERE client_id = $1 AND NOT revoked RETURNING family_id`, clientID)
	if err != nil {
		return nil, s.wrap(ctx, "revoke refresh tokens of client", err)
	}
	defer rows.Close()
	var families []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, s.wrap(ctx, "revoke refresh tokens of client", err)
		}
		if !slices.Contains(families, f) {
			families = append(families, f)
		}
	}
	return families, s.wrap(ctx, "revoke refresh tokens of client", rows.Err())
}

// Setting returns the value stored under key; ErrNotFound when unset.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	if err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v); err != nil {
		return "", s.wrap(ctx, "setting", err)
	}
	return v, nil
}

// PutSetting stores value under key, replacing any earlier value.
func (s *Store) PutSetting(ctx context.Context, key, value string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return s.wrap(ctx, "put setting", err)
}
