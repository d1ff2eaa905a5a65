package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gongpai/gongpai/storage"
)

// The directory-administration part of the store (storage.DirectoryAdmin,
// which is part of storage.Durable).
var (
	_ storage.DirectoryAdmin = (*Store)(nil)
	_ storage.Durable        = (*Store)(nil)
)

// UpdateDepartment writes d's code, name and parent in one transaction.
// It first locks d's entity row, so moves within one entity queue; the
// walk up from the new parent then reads the committed tree (each READ
// COMMITTED statement takes a fresh snapshot) and meeting d on the way is
// a cycle (ErrConflict). Two moves that are each fine alone but together
// close a loop cannot both pass.
func (s *Store) UpdateDepartment(ctx context.Context, d *storage.Department) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var entity string
		if err := tx.QueryRow(ctx, `SELECT entity FROM departments WHERE id = $1`, d.ID).Scan(&entity); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM entities WHERE code = $1 FOR NO KEY UPDATE`, entity); err != nil {
			return err
		}
		if d.ParentID != "" {
			var cycle, found bool
			var parentEntity string
			err := tx.QueryRow(ctx, `WITH RECURSIVE up (id, parent_id, depth) AS (
					SELECT id, parent_id, 0 FROM departments WHERE id = $1
					UNION ALL
					SELECT d.id, d.parent_id, up.depth + 1 FROM departments d JOIN up ON d.id = up.parent_id WHERE up.depth < 1000
				)
				SELECT EXISTS (SELECT 1 FROM up WHERE id = $2), EXISTS (SELECT 1 FROM up),
					COALESCE((SELECT entity FROM departments WHERE id = $1), '')`,
				d.ParentID, d.ID).Scan(&cycle, &found, &parentEntity)
			if err != nil {
				return err
			}
			switch {
			case !found:
				return fmt.Errorf("parent department does not exist: %w", storage.ErrConflict)
			case cycle:
				return fmt.Errorf("department would become its own ancestor: %w", storage.ErrConflict)
			case parentEntity != entity:
				return fmt.Errorf("parent department is in entity %s, not %s: %w", parentEntity, entity, storage.ErrConflict)
			}
		}
		_, err := tx.Exec(ctx, `UPDATE departments SET code = $2, name = $3, parent_id = $4 WHERE id = $1`,
			d.ID, storage.CanonicalCode(d.Code), d.Name, nullable(d.ParentID))
		return err
	})
	return s.wrap(ctx, "update department", err)
}

// DeleteDepartment removes an empty department; the foreign keys from
// child departments and employees make a non-empty one ErrConflict.
func (s *Store) DeleteDepartment(ctx context.Context, id string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// role_grants.department_id has no foreign key (a grant's scope
		// is "" for the whole directory): the check is here, with the
		// department row locked for the rest of the transaction.
		var code string
		if err := tx.QueryRow(ctx, `SELECT code FROM departments WHERE id = $1 FOR UPDATE`, id).Scan(&code); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT g.role, COALESCE(e.employee_id, g.subject) FROM role_grants g
			LEFT JOIN employees e ON e.subject = g.subject WHERE g.department_id = $1 ORDER BY COALESCE(e.employee_id, g.subject) COLLATE "C", g.role COLLATE "C"`, id)
		refs, err := collect(rows, err, func(r pgx.Row, g *storage.GrantRef) error { return r.Scan(&g.Role, &g.Holder) })
		if err != nil {
			return err
		}
		if len(refs) > 0 {
			return storage.DepartmentGrantsError(code, len(refs), refs[:min(len(refs), 5)])
		}
		tag, err := tx.Exec(ctx, `DELETE FROM departments WHERE id = $1`, id)
		if err == nil && tag.RowsAffected() == 0 {
			err = storage.ErrNotFound
		}
		return err
	})
	return s.wrap(ctx, "delete department", err)
}

// EmployeeByExternalID looks an employee up by the HR system's key.
func (s *Store) EmployeeByExternalID(ctx context.Context, externalID string) (*storage.Employee, error) {
	if externalID == "" {
		return nil, s.wrap(ctx, "employee by external ID", storage.ErrNotFound)
	}
	var e storage.Employee
	err := scanEmployee(s.pool.QueryRow(ctx, `SELECT `+employeeCols+` FROM employees WHERE external_id = $1`, externalID), &e)
	if err != nil {
		return nil, s.wrap(ctx, "employee by external ID", err)
	}
	return &e, nil
}

// likeEscape escapes LIKE's wildcards with '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// SearchEmployees filters, counts and pages employees by employee ID.
// Only the filters are built up; every value is a parameter.
func (s *Store) SearchEmployees(ctx context.Context, q storage.EmployeeQuery) (*storage.EmployeePage, error) {
	var where []string
	var args []any
	add := func(cond string, a any) {
		args = append(args, a)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if q.Entity != "" {
		add(`entity = $?`, storage.CanonicalCode(q.Entity))
	}
	if q.EmployeeID != "" {
		add(`employee_id = $?`, storage.CanonicalCode(q.EmployeeID))
	}
	if p := storage.CanonicalCode(q.IDPrefix); p != "" {
		add(`employee_id LIKE $?`, likeEscape(p)+"%")
	}
	if q.ExternalID != "" {
		add(`external_id = $?`, q.ExternalID)
	}
	if q.Email != "" {
		add(`lower(email) = lower($?)`, q.Email) // the employees_email index
	}
	if q.NotDeparted {
		where = append(where, `status <> 'departed'`)
	}
	if n := strings.TrimSpace(q.Name); n != "" {
		add(`name ILIKE $?`, "%"+likeEscape(n)+"%")
	}
	if q.DepartmentIDs != nil {
		if len(q.DepartmentIDs) == 0 {
			return &storage.EmployeePage{}, nil
		}
		add(`department_id = ANY ($?)`, q.DepartmentIDs)
	}
	if q.Status != "" {
		add(`status = $?`, string(q.Status))
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	page := &storage.EmployeePage{}
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM employees`+cond, args...).Scan(&page.Total); err != nil {
		return nil, s.wrap(ctx, "search employees", err)
	}
	if q.After != "" {
		add(`employee_id > $?`, storage.CanonicalCode(q.After))
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	query := `SELECT ` + employeeCols + ` FROM employees` + cond + ` ORDER BY employee_id`
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += ` LIMIT $` + strconv.Itoa(len(args))
	}
	if q.Offset > 0 {
		args = append(args, q.Offset)
		query += ` OFFSET $` + strconv.Itoa(len(args))
	}
	rows, err := s.pool.Query(ctx, query, args...)
	out, err := collect(rows, err, scanEmployee)
	if err != nil {
		return nil, s.wrap(ctx, "search employees", err)
	}
	page.Employees = out
	return page, nil
}

// WriteEmployees applies ws in one transaction; see storage.DirectoryAdmin.
func (s *Store) WriteEmployees(ctx context.Context, ws []storage.EmployeeWrite) error {
	ids := make([]string, len(ws))
	err := s.tx(ctx, func(tx pgx.Tx) error {
		for i, w := range ws {
			if err := writeEmployee(ctx, tx, w, &ids[i]); err != nil {
				return fmt.Errorf("write %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap(ctx, "write employees", err)
	}
	for i, w := range ws {
		if w.Create {
			if w.Employee.EmployeeID == "" {
				w.Employee.EmployeeID = ids[i]
			}
			continue
		}
		w.Employee.EmployeeID = ids[i]
		w.Employee.Version++
	}
	return nil
}

// writeEmployee applies one write inside tx and stores the employee's
// final ID in id.
func writeEmployee(ctx context.Context, tx pgx.Tx, w storage.EmployeeWrite, id *string) error {
	e := w.Employee
	if e == nil {
		return errors.New("no employee")
	}
	if w.Create {
		var err error
		if *id, err = insertEmployee(ctx, tx, e, w.SeqKey, w.MakeID); err != nil {
			return err
		}
		for _, g := range w.Grants {
			if _, err := tx.Exec(ctx, `INSERT INTO role_grants (subject, role, department_id, created_at)
				VALUES ($1, $2, $3, $4) ON CONFLICT (subject, role, department_id) DO NOTHING`,
				e.Subject, g.Role, g.DepartmentID, ts(g.CreatedAt)); err != nil {
				return fmt.Errorf("grant %s: %w", g.Role, err)
			}
		}
	} else {
		next := *e
		if w.ReissueID {
			var old, entity string
			// FOR UPDATE: a concurrent reissue of the same employee waits
			// here and then retires the ID this one issues.
			if err := tx.QueryRow(ctx, `SELECT employee_id, entity FROM employees WHERE subject = $1 FOR UPDATE`,
				e.Subject).Scan(&old, &entity); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO employee_id_history (employee_id, subject, entity, retired_at, reason)
				VALUES ($1, $2, $3, $4, $5)`, old, e.Subject, entity, ts(e.UpdatedAt), w.RetireReason); err != nil {
				return fmt.Errorf("retire %s: %w", old, err)
			}
			next.EmployeeID = storage.CanonicalCode(next.EmployeeID)
			if next.EmployeeID == "" || next.EmployeeID == old {
				id, err := allocateID(ctx, tx, w.SeqKey, w.MakeID)
				if err != nil {
					return err
				}
				next.EmployeeID = id
			}
		}
		if err := updateEmployee(ctx, tx, &next); err != nil {
			return err
		}
		*id = storage.CanonicalCode(next.EmployeeID)
		if w.RevokeScopedGrants {
			if err := revokeScopedGrants(ctx, tx, w, *id); err != nil {
				return err
			}
		}
	}
	if w.Audit != nil {
		ev := *w.Audit
		if ev.Target == "" {
			ev.Target = *id
		}
		if err := insertAudit(ctx, tx, &ev); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

// EmployeeIDHistory lists subject's retired IDs, oldest first.
func (s *Store) EmployeeIDHistory(ctx context.Context, subject string) ([]storage.EmployeeIDRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT employee_id, subject, entity, retired_at, reason FROM employee_id_history
		WHERE subject = $1 ORDER BY retired_at, employee_id`, subject)
	out, err := collect(rows, err, func(r pgx.Row, h *storage.EmployeeIDRecord) error {
		return r.Scan(&h.EmployeeID, &h.Subject, &h.Entity, timeCol{&h.RetiredAt}, &h.Reason)
	})
	return out, s.wrap(ctx, "employee ID history", err)
}

// RevokeRoleGrant removes one grant; removing a missing one is no error.
func (s *Store) RevokeRoleGrant(ctx context.Context, subject, role, departmentID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM role_grants WHERE subject = $1 AND role = $2 AND department_id = $3`,
		subject, role, departmentID)
	return s.wrap(ctx, "revoke role grant", err)
}

// UpdateClient writes every field of c but ID and CreatedAt; ErrNotFound
// when absent.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET name = $2, secret_hash = $3, public = $4, redirect_uris = $5,
		post_logout_redirect_uris = $6, grant_types = $7, scopes = $8, access_token_format = $9, require_mfa = $10,
		allowed_departments = $11, allowed_roles = $12, backchannel_logout_uri = $13, service_roles = $14,
		access_token_ttl = $15, id_token_ttl = $16, refresh_token_ttl = $17, id_token_signed_response_alg = $18,
		visible_roles = $19 WHERE id = $1`,
		c.ID, c.Name, c.SecretHash, c.Public, c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes,
		string(c.AccessTokenFormat), c.RequireMFA, c.AllowedDepartments, c.AllowedRoles, c.BackchannelLogoutURI,
		c.ServiceRoles, int64(c.AccessTokenTTL), int64(c.IDTokenTTL), int64(c.RefreshTokenTTL), c.IDTokenSignedResponseAlg,
		c.VisibleRoles)
	if err == nil && tag.RowsAffected() == 0 {
		err = storage.ErrNotFound
	}
	return s.wrap(ctx, "update client", err)
}

// DeleteClient removes a client; removing a missing one is no error.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	return s.wrap(ctx, "delete client", err)
}

// AppendAudit records ev; ErrConflict on a duplicate ID.
func (s *Store) AppendAudit(ctx context.Context, ev *storage.AuditEvent) error {
	return s.wrap(ctx, "append audit", insertAudit(ctx, s.pool, ev))
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// revokeScopedGrants deletes the department-scoped grants of w's employee
// and audits each through w.RevokeAudit (Target defaulting to id).
func revokeScopedGrants(ctx context.Context, tx pgx.Tx, w storage.EmployeeWrite, id string) error {
	rows, err := tx.Query(ctx, `DELETE FROM role_grants WHERE subject = $1 AND department_id <> ''
		RETURNING subject, role, department_id, created_at`, w.Employee.Subject)
	gs, err := collect(rows, err, func(r pgx.Row, g *storage.RoleGrant) error {
		return r.Scan(&g.Subject, &g.Role, &g.DepartmentID, timeCol{&g.CreatedAt})
	})
	if err != nil {
		return fmt.Errorf("revoke scoped grants: %w", err)
	}
	for _, ev := range w.RevokeAuditEvents(gs, id) {
		if err := insertAudit(ctx, tx, ev); err != nil {
			return fmt.Errorf("revoke audit: %w", err)
		}
	}
	return nil
}

func insertAudit(ctx context.Context, db execer, ev *storage.AuditEvent) error {
	if ev.ID == "" {
		return errors.New("audit event without ID")
	}
	_, err := db.Exec(ctx, `INSERT INTO audit_events (id, at, actor, action, target, reason, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, ev.ID, ts(ev.At), ev.Actor, ev.Action, ev.Target, ev.Reason, ev.Detail)
	return err
}

// ListAudit returns events newest first, keyset-paged by event ID.
func (s *Store) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT id, at, actor, action, target, reason, detail FROM audit_events WHERE true`
	args := []any{}
	if q.Target != "" {
		args = append(args, q.Target)
		query += ` AND target = $` + strconv.Itoa(len(args))
	}
	if q.Before != "" {
		args = append(args, q.Before)
		query += ` AND seq < (SELECT seq FROM audit_events WHERE id = $` + strconv.Itoa(len(args)) + `)`
	}
	args = append(args, limit)
	query += ` ORDER BY seq DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, query, args...)
	out, err := collect(rows, err, func(r pgx.Row, ev *storage.AuditEvent) error {
		return r.Scan(&ev.ID, timeCol{&ev.At}, &ev.Actor, &ev.Action, &ev.Target, &ev.Reason, &ev.Detail)
	})
	return out, s.wrap(ctx, "list audit", err)
}
