package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/gongpai/gongpai/storage"
)

// The directory-administration part of the store (storage.DirectoryAdmin,
// which is part of storage.Durable).
var (
	_ storage.DirectoryAdmin = (*Store)(nil)
	_ storage.Durable        = (*Store)(nil)
)

// UpdateDepartment writes d's code, name and parent in one transaction
// that first walks up from the new parent: meeting d on the way is a cycle
// (ErrConflict), and since the walk and the write share the writer's
// transaction no concurrent move can slip in between.
func (s *Store) UpdateDepartment(ctx context.Context, d *storage.Department) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var entity string
		if err := tx.QueryRowContext(ctx, `SELECT entity FROM departments WHERE id = ?`, d.ID).Scan(&entity); err != nil {
			return err
		}
		if d.ParentID != "" {
			var cycle, found bool
			var parentEntity string
			err := tx.QueryRowContext(ctx, `WITH RECURSIVE up(id, parent_id, depth) AS (
					SELECT id, parent_id, 0 FROM departments WHERE id = ?
					UNION ALL
					SELECT d.id, d.parent_id, up.depth + 1 FROM departments d JOIN up ON d.id = up.parent_id WHERE up.depth < 1000
				)
				SELECT EXISTS (SELECT 1 FROM up WHERE id = ?), EXISTS (SELECT 1 FROM up),
					COALESCE((SELECT entity FROM departments WHERE id = ?), '')`,
				d.ParentID, d.ID, d.ParentID).Scan(&cycle, &found, &parentEntity)
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
		_, err := tx.ExecContext(ctx, `UPDATE departments SET code = ?, name = ?, parent_id = ? WHERE id = ?`,
			storage.CanonicalCode(d.Code), d.Name, nullable(d.ParentID), d.ID)
		return err
	})
	return wrap(ctx, "update department", err)
}

// DeleteDepartment removes an empty department; the foreign keys from
// child departments and employees make a non-empty one ErrConflict.
func (s *Store) DeleteDepartment(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		// role_grants.department_id has no foreign key (a grant's scope
		// is "" for the whole directory): the check is here, in the
		// deleting transaction, which no grant can interleave with (one
		// writer).
		var code string
		if err := tx.QueryRowContext(ctx, `SELECT code FROM departments WHERE id = ?`, id).Scan(&code); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT g.role, COALESCE(e.employee_id, g.subject) FROM role_grants g
			LEFT JOIN employees e ON e.subject = g.subject WHERE g.department_id = ? ORDER BY 2, 1`, id)
		refs, err := collect(rows, err, func(r rowScanner, g *storage.GrantRef) error { return r.Scan(&g.Role, &g.Holder) })
		if err != nil {
			return err
		}
		if len(refs) > 0 {
			return storage.DepartmentGrantsError(code, len(refs), refs[:min(len(refs), 5)])
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM departments WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if ok, err := affected(res); err != nil || !ok {
			return cmpErr(err, storage.ErrNotFound)
		}
		return nil
	})
	return wrap(ctx, "delete department", err)
}

// cmpErr returns err when set, else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// EmployeeByExternalID looks an employee up by the HR system's key.
func (s *Store) EmployeeByExternalID(ctx context.Context, externalID string) (*storage.Employee, error) {
	if externalID == "" {
		return nil, wrap(ctx, "employee by external ID", storage.ErrNotFound)
	}
	var e storage.Employee
	err := scanEmployee(s.r.QueryRowContext(ctx, `SELECT `+employeeCols+` FROM employees WHERE external_id = ?`, externalID), &e)
	if err != nil {
		return nil, wrap(ctx, "employee by external ID", err)
	}
	return &e, nil
}

// likeEscape escapes LIKE's wildcards with '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// SearchEmployees filters, counts and pages employees by employee ID.
func (s *Store) SearchEmployees(ctx context.Context, q storage.EmployeeQuery) (*storage.EmployeePage, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if q.Entity != "" {
		add(`entity = ?`, storage.CanonicalCode(q.Entity))
	}
	if q.EmployeeID != "" {
		add(`employee_id = ?`, storage.CanonicalCode(q.EmployeeID))
	}
	if p := storage.CanonicalCode(q.IDPrefix); p != "" {
		add(`employee_id >= ? AND employee_id < ?`, p, p+"\U0010FFFF")
	}
	if q.ExternalID != "" {
		add(`external_id = ?`, q.ExternalID)
	}
	if q.Email != "" {
		add(`lower(email) = lower(?)`, q.Email) // the employees_email index
	}
	if q.NotDeparted {
		add(`status <> 'departed'`)
	}
	if n := strings.TrimSpace(q.Name); n != "" {
		add(`name LIKE ? ESCAPE '\'`, "%"+likeEscape(n)+"%")
	}
	if q.DepartmentIDs != nil {
		if len(q.DepartmentIDs) == 0 {
			return &storage.EmployeePage{}, nil
		}
		ph := strings.TrimSuffix(strings.Repeat("?,", len(q.DepartmentIDs)), ",")
		ids := make([]any, len(q.DepartmentIDs))
		for i, id := range q.DepartmentIDs {
			ids[i] = id
		}
		add(`department_id IN (`+ph+`)`, ids...)
	}
	if q.Status != "" {
		add(`status = ?`, string(q.Status))
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	page := &storage.EmployeePage{}
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM employees`+cond, args...).Scan(&page.Total); err != nil {
		return nil, wrap(ctx, "search employees", err)
	}
	if q.After != "" {
		if cond == "" {
			cond = ` WHERE employee_id > ?`
		} else {
			cond += ` AND employee_id > ?`
		}
		args = append(args, storage.CanonicalCode(q.After))
	}
	query := `SELECT ` + employeeCols + ` FROM employees` + cond + ` ORDER BY employee_id`
	if q.Limit > 0 || q.Offset > 0 {
		limit := q.Limit
		if limit <= 0 {
			limit = -1
		}
		query += ` LIMIT ? OFFSET ?`
		args = append(args, limit, max(q.Offset, 0))
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	out, err := collect(rows, err, scanEmployee)
	if err != nil {
		return nil, wrap(ctx, "search employees", err)
	}
	page.Employees = out
	return page, nil
}

// WriteEmployees applies ws in one transaction; see storage.DirectoryAdmin.
func (s *Store) WriteEmployees(ctx context.Context, ws []storage.EmployeeWrite) error {
	ids := make([]string, len(ws))
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		// A batch runs the same few statements per employee: prepare
		// each once (preparing dominates otherwise).
		tx := newStmtCache(sqlTx)
		defer tx.close()
		for i, w := range ws {
			if w.Employee == nil {
				return fmt.Errorf("write %d: no employee", i)
			}
			e := w.Employee
			if w.Create {
				id, err := insertEmployee(ctx, tx, e, w.SeqKey, w.MakeID)
				if err != nil {
					return fmt.Errorf("write %d: %w", i, err)
				}
				ids[i] = id
				for _, g := range w.Grants {
					if _, err := tx.ExecContext(ctx, `INSERT INTO role_grants (subject, role, department_id, created_at)
						VALUES (?, ?, ?, ?) ON CONFLICT (subject, role, department_id) DO NOTHING`,
						e.Subject, g.Role, g.DepartmentID, micros(g.CreatedAt)); err != nil {
						return fmt.Errorf("write %d: grant %s: %w", i, g.Role, err)
					}
				}
			} else {
				next := *e
				if w.ReissueID {
					var old, entity string
					if err := tx.QueryRowContext(ctx, `SELECT employee_id, entity FROM employees WHERE subject = ?`, e.Subject).Scan(&old, &entity); err != nil {
						return fmt.Errorf("write %d: %w", i, err)
					}
					if _, err := tx.ExecContext(ctx, `INSERT INTO employee_id_history (employee_id, subject, entity, retired_at, reason)
						VALUES (?, ?, ?, ?, ?)`, old, e.Subject, entity, micros(e.UpdatedAt), w.RetireReason); err != nil {
						return fmt.Errorf("write %d: retire %s: %w", i, old, err)
					}
					next.EmployeeID = storage.CanonicalCode(next.EmployeeID)
					if next.EmployeeID == "" || next.EmployeeID == old {
						id, err := allocateID(ctx, tx, w.SeqKey, w.MakeID)
						if err != nil {
							return fmt.Errorf("write %d: %w", i, err)
						}
						next.EmployeeID = id
					}
				}
				if err := updateEmployee(ctx, tx, &next); err != nil {
					return fmt.Errorf("write %d: %w", i, err)
				}
				ids[i] = storage.CanonicalCode(next.EmployeeID)
				if w.RevokeScopedGrants {
					if err := revokeScopedGrants(ctx, sqlTx, w, ids[i]); err != nil {
						return fmt.Errorf("write %d: %w", i, err)
					}
				}
			}
			if w.Audit != nil {
				ev := *w.Audit
				if ev.Target == "" {
					ev.Target = ids[i]
				}
				if err := insertAudit(ctx, tx, &ev); err != nil {
					return fmt.Errorf("write %d: audit: %w", i, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, "write employees", err)
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

// revokeScopedGrants deletes the department-scoped grants of w's employee
// and audits each through w.RevokeAudit (Target defaulting to id).
func revokeScopedGrants(ctx context.Context, tx *sql.Tx, w storage.EmployeeWrite, id string) error {
	rows, err := tx.QueryContext(ctx, `DELETE FROM role_grants WHERE subject = ? AND department_id <> ''
		RETURNING role, department_id, created_at`, w.Employee.Subject)
	gs, err := collect(rows, err, func(r rowScanner, g *storage.RoleGrant) error {
		g.Subject = w.Employee.Subject
		return r.Scan(&g.Role, &g.DepartmentID, timeCol{&g.CreatedAt})
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

// EmployeeIDHistory lists subject's retired IDs, oldest first.
func (s *Store) EmployeeIDHistory(ctx context.Context, subject string) ([]storage.EmployeeIDRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT employee_id, subject, entity, retired_at, reason FROM employee_id_history
		WHERE subject = ? ORDER BY retired_at, employee_id`, subject)
	out, err := collect(rows, err, func(r rowScanner, h *storage.EmployeeIDRecord) error {
		return r.Scan(&h.EmployeeID, &h.Subject, &h.Entity, timeCol{&h.RetiredAt}, &h.Reason)
	})
	return out, wrap(ctx, "employee ID history", err)
}

// RevokeRoleGrant removes one grant; removing a missing one is no error.
func (s *Store) RevokeRoleGrant(ctx context.Context, subject, role, departmentID string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM role_grants WHERE subject = ? AND role = ? AND department_id = ?`,
		subject, role, departmentID)
	return wrap(ctx, "revoke role grant", err)
}

// UpdateClient writes every field of c but ID and CreatedAt.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	res, err := s.w.ExecContext(ctx, `UPDATE clients SET name = ?, secret_hash = ?, public = ?, redirect_uris = ?,
		post_logout_redirect_uris = ?, grant_types = ?, scopes = ?, access_token_format = ?, require_mfa = ?,
		allowed_departments = ?, allowed_roles = ?, backchannel_logout_uri = ?, service_roles = ?, access_token_ttl = ?,
		id_token_ttl = ?, refresh_token_ttl = ?, id_token_signed_response_alg = ?, visible_roles = ? WHERE id = ?`,
		c.Name, c.SecretHash, c.Public, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), list(c.GrantTypes),
		list(c.Scopes), string(c.AccessTokenFormat), c.RequireMFA, list(c.AllowedDepartments), list(c.AllowedRoles),
		c.BackchannelLogoutURI, list(c.ServiceRoles), int64(c.AccessTokenTTL), int64(c.IDTokenTTL), int64(c.RefreshTokenTTL),
		c.IDTokenSignedResponseAlg, list(c.VisibleRoles), c.ID)
	if err == nil {
		var ok bool
		if ok, err = affected(res); err == nil && !ok {
			err = storage.ErrNotFound
		}
	}
	return wrap(ctx, "update client", err)
}

// DeleteClient removes a client; removing a missing one is no error.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
	return wrap(ctx, "delete client", err)
}

// AppendAudit records ev.
func (s *Store) AppendAudit(ctx context.Context, ev *storage.AuditEvent) error {
	err := s.write(ctx, func(tx *sql.Tx) error { return insertAudit(ctx, tx, ev) })
	return wrap(ctx, "append audit", err)
}

func insertAudit(ctx context.Context, tx txer, ev *storage.AuditEvent) error {
	if ev.ID == "" {
		return errors.New("audit event without ID")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_events (id, at, actor, action, target, reason, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ev.ID, micros(ev.At), ev.Actor, ev.Action, ev.Target, ev.Reason, ev.Detail)
	return err
}

// ListAudit returns events newest first.
func (s *Store) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT id, at, actor, action, target, reason, detail FROM audit_events WHERE 1 = 1`
	var args []any
	if q.Target != "" {
		query += ` AND target = ?`
		args = append(args, q.Target)
	}
	if q.Before != "" {
		query += ` AND seq < (SELECT seq FROM audit_events WHERE id = ?)`
		args = append(args, q.Before)
	}
	query += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	out, err := collect(rows, err, func(r rowScanner, ev *storage.AuditEvent) error {
		return r.Scan(&ev.ID, timeCol{&ev.At}, &ev.Actor, &ev.Action, &ev.Target, &ev.Reason, &ev.Detail)
	})
	return out, wrap(ctx, "list audit", err)
}

// txer is what the write helpers need of a transaction: *sql.Tx, or a
// stmtCache over one.
type txer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stmtCache prepares each distinct query once per transaction.
type stmtCache struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func newStmtCache(tx *sql.Tx) *stmtCache { return &stmtCache{tx: tx, stmts: map[string]*sql.Stmt{}} }

func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryRowContext falls back to the transaction when preparing fails, so
// the error surfaces from Scan as it would without the cache.
func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return c.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (c *stmtCache) close() {
	for _, st := range c.stmts {
		st.Close()
	}
}
