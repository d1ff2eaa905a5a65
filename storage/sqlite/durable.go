package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/gongpai/gongpai/storage"
)

// Lists are returned in a stable order (by primary key or creation time)
// so callers and tests see deterministic output.

// CreateEntity stores e under its canonical code; ErrConflict on a
// duplicate.
func (s *Store) CreateEntity(ctx context.Context, e *storage.LegalEntity) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO entities (code, name, id_rule, created_at) VALUES (?, ?, ?, ?)`,
		storage.CanonicalCode(e.Code), e.Name, e.IDRule, micros(e.CreatedAt))
	return wrap(ctx, "create entity", err)
}

const entityCols = `code, name, id_rule, created_at`

func scanEntity(r rowScanner, e *storage.LegalEntity) error {
	return r.Scan(&e.Code, &e.Name, &e.IDRule, timeCol{&e.CreatedAt})
}

// Entity looks an entity up by code, in canonical form.
func (s *Store) Entity(ctx context.Context, code string) (*storage.LegalEntity, error) {
	var e storage.LegalEntity
	err := scanEntity(s.r.QueryRowContext(ctx, `SELECT `+entityCols+` FROM entities WHERE code = ?`, storage.CanonicalCode(code)), &e)
	if err != nil {
		return nil, wrap(ctx, "entity", err)
	}
	return &e, nil
}

// ListEntities returns every entity ordered by code.
func (s *Store) ListEntities(ctx context.Context) ([]storage.LegalEntity, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+entityCols+` FROM entities ORDER BY code`)
	out, err := collect(rows, err, scanEntity)
	return out, wrap(ctx, "list entities", err)
}

// CreateDepartment stores d; ErrConflict on a duplicate ID or (entity,
// code), or when the entity or parent does not exist.
func (s *Store) CreateDepartment(ctx context.Context, d *storage.Department) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO departments (id, entity, code, name, parent_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		d.ID, storage.CanonicalCode(d.Entity), storage.CanonicalCode(d.Code), d.Name, nullable(d.ParentID), micros(d.CreatedAt))
	return wrap(ctx, "create department", err)
}

const departmentCols = `id, entity, code, name, parent_id, created_at`

func scanDepartment(r rowScanner, d *storage.Department) error {
	return r.Scan(&d.ID, &d.Entity, &d.Code, &d.Name, strCol{&d.ParentID}, timeCol{&d.CreatedAt})
}

// Department looks a department up by ID.
func (s *Store) Department(ctx context.Context, id string) (*storage.Department, error) {
	var d storage.Department
	if err := scanDepartment(s.r.QueryRowContext(ctx, `SELECT `+departmentCols+` FROM departments WHERE id = ?`, id), &d); err != nil {
		return nil, wrap(ctx, "department", err)
	}
	return &d, nil
}

// DepartmentByCode looks a department up by entity and code, both in
// canonical form.
func (s *Store) DepartmentByCode(ctx context.Context, entity, code string) (*storage.Department, error) {
	var d storage.Department
	err := scanDepartment(s.r.QueryRowContext(ctx, `SELECT `+departmentCols+` FROM departments WHERE entity = ? AND code = ?`,
		storage.CanonicalCode(entity), storage.CanonicalCode(code)), &d)
	if err != nil {
		return nil, wrap(ctx, "department by code", err)
	}
	return &d, nil
}

// ListDepartments returns the departments of one entity ordered by code.
func (s *Store) ListDepartments(ctx context.Context, entity string) ([]storage.Department, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+departmentCols+` FROM departments WHERE entity = ? ORDER BY code`, storage.CanonicalCode(entity))
	out, err := collect(rows, err, scanDepartment)
	return out, wrap(ctx, "list departments", err)
}

// maxIDSkips bounds how many already-taken generated IDs CreateEmployee
// steps over before giving up with ErrConflict.
const maxIDSkips = 1000

// CreateEmployee inserts e, generating its employee ID from sequence
// seqKey when e.EmployeeID is empty. The sequence row is read and bumped in
// the same transaction as the insert, so a failed makeID or insert leaves
// no gap. A generated ID that an explicitly chosen ID (or a retired one)
// already holds is stepped over rather than failing every later onboarding.
func (s *Store) CreateEmployee(ctx context.Context, e *storage.Employee, seqKey string, makeID func(n int64) (string, error)) error {
	var id string
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = insertEmployee(ctx, tx, e, seqKey, makeID)
		return err
	})
	if err != nil {
		return wrap(ctx, "create employee", err)
	}
	if e.EmployeeID == "" {
		e.EmployeeID = id
	}
	return nil
}

// allocateID takes the next free number of sequence seqKey and returns the
// ID makeID renders for it, stepping over IDs already taken (live or
// retired). The sequence row is bumped inside tx.
func allocateID(ctx context.Context, tx txer, seqKey string, makeID func(n int64) (string, error)) (string, error) {
	if makeID == nil {
		return "", errors.New("no employee ID and no makeID")
	}
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT value FROM sequences WHERE key = ?`, seqKey).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
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
		id := storage.CanonicalCode(raw)
		taken, err := idTaken(ctx, tx, id)
		if err != nil {
			return "", err
		}
		if taken {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sequences (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, seqKey, n); err != nil {
			return "", err
		}
		return id, nil
	}
}

// idTaken reports whether id is a live or a retired employee ID.
func idTaken(ctx context.Context, tx txer, id string) (bool, error) {
	var taken bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM employees WHERE employee_id = ?)
		OR EXISTS (SELECT 1 FROM employee_id_history WHERE employee_id = ?)`, id, id).Scan(&taken)
	return taken, err
}

// retiredID refuses an explicitly chosen ID that was retired.
func retiredID(ctx context.Context, tx txer, id string) error {
	var retired bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM employee_id_history WHERE employee_id = ?)`, id).Scan(&retired); err != nil {
		return err
	}
	if retired {
		return fmt.Errorf("employee ID %s was retired: %w", id, storage.ErrConflict)
	}
	return nil
}

// insertEmployee inserts e inside tx and returns its (possibly generated)
// canonical employee ID; e itself is not modified.
func insertEmployee(ctx context.Context, tx txer, e *storage.Employee, seqKey string, makeID func(n int64) (string, error)) (string, error) {
	id := storage.CanonicalCode(e.EmployeeID)
	var err error
	if id == "" {
		if id, err = allocateID(ctx, tx, seqKey, makeID); err != nil {
			return "", err
		}
	} else if err := retiredID(ctx, tx, id); err != nil {
		return "", err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO employees (subject, employee_id, external_id, entity, department_id, name, email,
		title, status, password_hash, totp_secret, version, created_at, updated_at, password_change_required)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Subject, id, nullable(e.ExternalID), storage.CanonicalCode(e.Entity), nullable(e.DepartmentID), e.Name, e.Email, e.Title,
		string(e.Status), e.PasswordHash, e.TOTPSecret, e.Version, micros(e.CreatedAt), micros(e.UpdatedAt), e.PasswordChangeRequired)
	return id, err
}

const employeeCols = `subject, employee_id, external_id, entity, department_id, name, email, title, status, password_hash,
	totp_secret, version, created_at, updated_at, password_change_required`

func scanEmployee(r rowScanner, e *storage.Employee) error {
	var status string
	err := r.Scan(&e.Subject, &e.EmployeeID, strCol{&e.ExternalID}, &e.Entity, strCol{&e.DepartmentID}, &e.Name, &e.Email, &e.Title, &status,
		&e.PasswordHash, &e.TOTPSecret, &e.Version, timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt}, &e.PasswordChangeRequired)
	e.Status = storage.EmployeeStatus(status)
	return err
}

// Employee looks an employee up by subject.
func (s *Store) Employee(ctx context.Context, subject string) (*storage.Employee, error) {
	var e storage.Employee
	if err := scanEmployee(s.r.QueryRowContext(ctx, `SELECT `+employeeCols+` FROM employees WHERE subject = ?`, subject), &e); err != nil {
		return nil, wrap(ctx, "employee", err)
	}
	return &e, nil
}

// EmployeeByEmployeeID looks an employee up by employee ID in canonical
// form, so "hr012023001" finds "HR012023001".
func (s *Store) EmployeeByEmployeeID(ctx context.Context, employeeID string) (*storage.Employee, error) {
	var e storage.Employee
	err := scanEmployee(s.r.QueryRowContext(ctx, `SELECT `+employeeCols+` FROM employees WHERE employee_id = ?`,
		storage.CanonicalCode(employeeID)), &e)
	if err != nil {
		return nil, wrap(ctx, "employee by employee ID", err)
	}
	return &e, nil
}

// ListEmployees returns every employee ordered by employee ID.
func (s *Store) ListEmployees(ctx context.Context) ([]storage.Employee, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+employeeCols+` FROM employees ORDER BY employee_id`)
	out, err := collect(rows, err, scanEmployee)
	return out, wrap(ctx, "list employees", err)
}

// UpdateEmployee writes every field but Subject and CreatedAt when the
// stored version equals e.Version, then bumps e.Version. ErrNotFound when
// the subject does not exist, ErrConflict on a stale version or a taken
// employee ID.
func (s *Store) UpdateEmployee(ctx context.Context, e *storage.Employee) error {
	err := s.write(ctx, func(tx *sql.Tx) error { return updateEmployee(ctx, tx, e) })
	if err != nil {
		return wrap(ctx, "update employee", err)
	}
	e.Version++
	return nil
}

// updateEmployee is UpdateEmployee's compare-and-swap inside tx; it does
// not bump e.Version (the caller does once the transaction commits).
func updateEmployee(ctx context.Context, tx txer, e *storage.Employee) error {
	id := storage.CanonicalCode(e.EmployeeID)
	if err := retiredID(ctx, tx, id); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE employees SET employee_id = ?, external_id = ?, entity = ?, department_id = ?,
		name = ?, email = ?, title = ?, status = ?, password_hash = ?, totp_secret = ?, updated_at = ?,
		password_change_required = ?, version = version + 1
		WHERE subject = ? AND version = ?`,
		id, nullable(e.ExternalID), storage.CanonicalCode(e.Entity), nullable(e.DepartmentID), e.Name,
		e.Email, e.Title, string(e.Status), e.PasswordHash, e.TOTPSecret, micros(e.UpdatedAt), e.PasswordChangeRequired,
		e.Subject, e.Version)
	if err != nil {
		return err
	}
	return versionCheck(ctx, tx, res, `SELECT EXISTS (SELECT 1 FROM employees WHERE subject = ?)`, e.Subject)
}

// versionCheck turns a compare-and-swap UPDATE that changed nothing into
// ErrConflict when the row exists (stale version) or ErrNotFound.
func versionCheck(ctx context.Context, tx txer, res sql.Result, exists string, key string) error {
	ok, err := affected(res)
	if err != nil || ok {
		return err
	}
	var found bool
	if err := tx.QueryRowContext(ctx, exists, key).Scan(&found); err != nil {
		return err
	}
	if found {
		return fmt.Errorf("stale version: %w", storage.ErrConflict)
	}
	return storage.ErrNotFound
}

// GrantRole records g; granting the same (subject, role, department) again
// changes nothing.
func (s *Store) GrantRole(ctx context.Context, g *storage.RoleGrant) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO role_grants (subject, role, department_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (subject, role, department_id) DO NOTHING`, g.Subject, g.Role, g.DepartmentID, micros(g.CreatedAt))
	return wrap(ctx, "grant role", err)
}

// RevokeRole removes every grant of role to subject, whatever its
// department scope. Revoking what was never granted is not an error.
func (s *Store) RevokeRole(ctx context.Context, subject, role string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM role_grants WHERE subject = ? AND role = ?`, subject, role)
	return wrap(ctx, "revoke role", err)
}

// RoleGrants returns the grants of subject ordered by role and department.
func (s *Store) RoleGrants(ctx context.Context, subject string) ([]storage.RoleGrant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT subject, role, department_id, created_at FROM role_grants
		WHERE subject = ? ORDER BY role, department_id`, subject)
	out, err := collect(rows, err, func(r rowScanner, g *storage.RoleGrant) error {
		return r.Scan(&g.Subject, &g.Role, &g.DepartmentID, timeCol{&g.CreatedAt})
	})
	return out, wrap(ctx, "role grants", err)
}

// CreateClient stores c; ErrConflict on a duplicate ID.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO clients (id, name, secret_hash, public, redirect_uris,
		post_logout_redirect_uris, grant_types, scopes, access_token_format, require_mfa, allowed_departments,
		allowed_roles, backchannel_logout_uri, service_roles, access_token_ttl, id_token_ttl, refresh_token_ttl, created_at,
		id_token_signed_response_alg, visible_roles)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.SecretHash, c.Public, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), list(c.GrantTypes),
		list(c.Scopes), string(c.AccessTokenFormat), c.RequireMFA, list(c.AllowedDepartments), list(c.AllowedRoles),
		c.BackchannelLogoutURI, list(c.ServiceRoles), int64(c.AccessTokenTTL), int64(c.IDTokenTTL), int64(c.RefreshTokenTTL), micros(c.CreatedAt),
		c.IDTokenSignedResponseAlg, list(c.VisibleRoles))
	return wrap(ctx, "create client", err)
}

const clientCols = `id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, grant_types, scopes,
	access_token_format, require_mfa, allowed_departments, allowed_roles, backchannel_logout_uri, service_roles,
	access_token_ttl, id_token_ttl, refresh_token_ttl, created_at, id_token_signed_response_alg, visible_roles`

func scanClient(r rowScanner, c *storage.Client) error {
	var format string
	err := r.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, listCol{&c.RedirectURIs}, listCol{&c.PostLogoutRedirectURIs},
		listCol{&c.GrantTypes}, listCol{&c.Scopes}, &format, &c.RequireMFA, listCol{&c.AllowedDepartments},
		listCol{&c.AllowedRoles}, &c.BackchannelLogoutURI, listCol{&c.ServiceRoles}, &c.AccessTokenTTL, &c.IDTokenTTL, &c.RefreshTokenTTL,
		timeCol{&c.CreatedAt}, &c.IDTokenSignedResponseAlg, listCol{&c.VisibleRoles})
	c.AccessTokenFormat = storage.AccessTokenFormat(format)
	return err
}

// Client looks a client up by ID.
func (s *Store) Client(ctx context.Context, id string) (*storage.Client, error) {
	var c storage.Client
	if err := scanClient(s.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id), &c); err != nil {
		return nil, wrap(ctx, "client", err)
	}
	return &c, nil
}

// ListClients returns every client ordered by ID.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	out, err := collect(rows, err, scanClient)
	return out, wrap(ctx, "list clients", err)
}

// CreateSigningKey stores k; ErrConflict on a duplicate kid.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, state, private_key, public_key, created_at,
		activates_at, retires_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, string(k.State), k.PrivateKey, k.PublicKey, micros(k.CreatedAt), micros(k.ActivatesAt),
		micros(k.RetiresAt), k.Version)
	return wrap(ctx, "create signing key", err)
}

// ListSigningKeys returns every key, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, algorithm, state, private_key, public_key, created_at, activates_at,
		retires_at, version FROM signing_keys ORDER BY created_at, id`)
	out, err := collect(rows, err, func(r rowScanner, k *storage.SigningKey) error {
		var state string
		err := r.Scan(&k.ID, &k.Algorithm, &state, &k.PrivateKey, &k.PublicKey, timeCol{&k.CreatedAt},
			timeCol{&k.ActivatesAt}, timeCol{&k.RetiresAt}, &k.Version)
		k.State = storage.KeyState(state)
		return err
	})
	return out, wrap(ctx, "list signing keys", err)
}

// UpdateSigningKey writes every field but ID and CreatedAt when the stored
// version equals k.Version, then bumps k.Version. ErrConflict when another
// writer got there first, ErrNotFound when the key does not exist.
func (s *Store) UpdateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET algorithm = ?, state = ?, private_key = ?, public_key = ?,
			activates_at = ?, retires_at = ?, version = version + 1 WHERE id = ? AND version = ?`,
			k.Algorithm, string(k.State), k.PrivateKey, k.PublicKey, micros(k.ActivatesAt), micros(k.RetiresAt), k.ID, k.Version)
		if err != nil {
			return err
		}
		return versionCheck(ctx, tx, res, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE id = ?)`, k.ID)
	})
	if err != nil {
		return wrap(ctx, "update signing key", err)
	}
	k.Version++
	return nil
}

// CreateRefreshToken stores t; ErrConflict on a duplicate ID.
func (s *Store) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	_, err := insertRefreshToken(ctx, s.w, t)
	return wrap(ctx, "create refresh token", err)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertRefreshToken(ctx context.Context, db execer, t *storage.RefreshToken) (sql.Result, error) {
	return db.ExecContext(ctx, `INSERT INTO refresh_tokens (id, family_id, client_id, subject, scopes, audience, auth_time,
		amr, acr, session_id, created_at, expires_at, spent, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.FamilyID, t.ClientID, t.Subject, list(t.Scopes), list(t.Audience), micros(t.AuthTime), list(t.AMR), t.ACR,
		t.SessionID, micros(t.CreatedAt), micros(t.ExpiresAt), t.Spent, t.Revoked)
}

// RefreshToken returns the token with ID id, spent and revoked ones
// included (the caller detects reuse); ErrNotFound when absent or expired.
func (s *Store) RefreshToken(ctx context.Context, id string) (*storage.RefreshToken, error) {
	var t storage.RefreshToken
	err := s.r.QueryRowContext(ctx, `SELECT id, family_id, client_id, subject, scopes, audience, auth_time, amr, acr,
		session_id, created_at, expires_at, spent, revoked FROM refresh_tokens WHERE id = ? AND expires_at > ?`,
		id, s.nowMicros()).Scan(&t.ID, &t.FamilyID, &t.ClientID, &t.Subject, listCol{&t.Scopes}, listCol{&t.Audience},
		timeCol{&t.AuthTime}, listCol{&t.AMR}, &t.ACR, &t.SessionID, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt},
		&t.Spent, &t.Revoked)
	if err != nil {
		return nil, wrap(ctx, "refresh token", err)
	}
	return &t, nil
}

// RotateRefreshToken marks oldID spent with one conditional UPDATE and
// inserts next, in one transaction. next joins oldID's family whatever
// next.FamilyID said (next.FamilyID is set to it). ErrConflict when oldID
// is spent or revoked, ErrNotFound when it is absent or expired.
func (s *Store) RotateRefreshToken(ctx context.Context, oldID string, next *storage.RefreshToken) error {
	var family string
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := s.nowMicros()
		err := tx.QueryRowContext(ctx, `UPDATE refresh_tokens SET spent = 1
			WHERE id = ? AND spent = 0 AND revoked = 0 AND expires_at > ? RETURNING family_id`, oldID, now).Scan(&family)
		if errors.Is(err, sql.ErrNoRows) {
			var found bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE id = ? AND expires_at > ?)`,
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
		_, err = insertRefreshToken(ctx, tx, &n)
		return err
	})
	if err != nil {
		return wrap(ctx, "rotate refresh token", err)
	}
	next.FamilyID = family
	return nil
}

// RevokeRefreshFamily marks every token of the family revoked, keeping the
// rows so a later presentation is still recognised.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ? AND revoked = 0`, familyID)
	return wrap(ctx, "revoke refresh family", err)
}

// RevokeRefreshTokensOfSubject marks every token of subject revoked.
func (s *Store) RevokeRefreshTokensOfSubject(ctx context.Context, subject string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE subject = ? AND revoked = 0`, subject)
	return wrap(ctx, "revoke refresh tokens of subject", err)
}

// RevokeRefreshTokensOfClient marks every token of clientID revoked and
// returns the families it touched (a scan: deleting a client is rare).
func (s *Store) RevokeRefreshTokensOfClient(ctx context.Context, clientID string) ([]string, error) {
	var families []string
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE client_id = ? AND revoked = 0 RETURNING family_id`, clientID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var f string
			if err := rows.Scan(&f); err != nil {
				return err
			}
			if !slices.Contains(families, f) {
				families = append(families, f)
			}
		}
		return rows.Err()
	})
	return families, wrap(ctx, "revoke refresh tokens of client", err)
}

// Setting returns the value stored under key; ErrNotFound when unset.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v); err != nil {
		return "", wrap(ctx, "setting", err)
	}
	return v, nil
}

// PutSetting stores value under key, replacing any earlier value.
func (s *Store) PutSetting(ctx context.Context, key, value string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return wrap(ctx, "put setting", err)
}
