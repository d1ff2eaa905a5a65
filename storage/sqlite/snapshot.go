package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"strings"

	"github.com/gongpai/gongpai/storage"
)

// Snapshots (storage.Snapshotter, storage.Restorer): one table spec per
// durable table, used both to read it and to write it back, so the two
// cannot drift apart. TestSnapshotCoversSchema compares the specs with the
// schema: a durable table or column added by a migration and not listed
// here fails it.

var (
	_ storage.Snapshotter = (*Store)(nil)
	_ storage.Restorer    = (*Store)(nil)
)

// snapshotTable is how one kind of record is read from and written to its
// table.
type snapshotTable struct {
	kind   storage.Kind
	cols   []string // every column written on restore, in args order
	query  string   // reads the table in snapshot order, scan's columns
	insert string   // writes one record: cols from args
	scan   func(rowScanner) (storage.Record, error)
	args   func(storage.Record) []any
	// count, when set, counts every row of the table: a query that
	// selects rows by a rule (departments, walked down from the roots)
	// must read them all, or the snapshot fails rather than silently
	// leave some out.
	count string
}

// table builds a snapshotTable for the record type P from typed scan and
// args functions. The query selects cols from the kind's table in order.
func table[T any, P interface {
	*T
	storage.Record
}](cols, order string, scan func(rowScanner, P) error, args func(P) []any) snapshotTable {
	kind := P(new(T)).RecordKind()
	var names []string
	for _, c := range strings.Split(cols, ",") {
		names = append(names, strings.TrimSpace(c))
	}
	return snapshotTable{
		kind:  kind,
		cols:  names,
		query: `SELECT ` + cols + ` FROM ` + string(kind) + ` ORDER BY ` + order,
		insert: `INSERT INTO ` + string(kind) + ` (` + strings.Join(names, ", ") + `) VALUES (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + `)`,
		scan: func(r rowScanner) (storage.Record, error) {
			p := P(new(T))
			return p, scan(r, p)
		},
		args: func(rec storage.Record) []any { return args(rec.(P)) },
	}
}

// snapshotTables lists every durable table in storage.RecordKinds order.
// Text keys order byte-wise (SQLite's BINARY collation), as PostgreSQL's
// snapshot does with COLLATE "C", so both backends list records alike.
var snapshotTables = func() []snapshotTable {
	departments := table(departmentCols, "", scanDepartment, func(d *storage.Department) []any {
		return []any{d.ID, d.Entity, d.Code, d.Name, nullable(d.ParentID), micros(d.CreatedAt)}
	})
	// Parents before children, so the parent_id foreign key holds at
	// every insert of a restore. The depth bound only guards against a
	// cycle, which UpdateDepartment prevents; should one exist anyway, or
	// a tree deeper than the bound, its departments are unreachable from
	// a root, and count makes the snapshot fail instead of dropping them.
	departments.query = `WITH RECURSIVE tree (id, depth) AS (
			SELECT id, 0 FROM departments WHERE parent_id IS NULL
			UNION ALL
			SELECT d.id, tree.depth + 1 FROM departments d JOIN tree ON d.parent_id = tree.id WHERE tree.depth < 1000
		)
		SELECT ` + departmentCols + ` FROM departments JOIN tree USING (id) ORDER BY tree.depth, id`

	departments.count = `SELECT count(*) FROM departments`

	return []snapshotTable{
		table(entityCols, "code", scanEntity, func(e *storage.LegalEntity) []any {
			return []any{e.Code, e.Name, e.IDRule, micros(e.CreatedAt)}
		}),
		departments,
		table(employeeCols, "subject", scanEmployee, func(e *storage.Employee) []any {
			return []any{e.Subject, e.EmployeeID, nullable(e.ExternalID), e.Entity, nullable(e.DepartmentID), e.Name, e.Email,
				e.Title, string(e.Status), e.PasswordHash, e.TOTPSecret, e.Version, micros(e.CreatedAt), micros(e.UpdatedAt),
				e.PasswordChangeRequired}
		}),
		table(`employee_id, subject, entity, retired_at, reason`, "employee_id",
			func(r rowScanner, h *storage.EmployeeIDRecord) error {
				return r.Scan(&h.EmployeeID, &h.Subject, &h.Entity, timeCol{&h.RetiredAt}, &h.Reason)
			},
			func(h *storage.EmployeeIDRecord) []any {
				return []any{h.EmployeeID, h.Subject, h.Entity, micros(h.RetiredAt), h.Reason}
			}),
		table(`subject, role, department_id, created_at`, "subject, role, department_id",
			func(r rowScanner, g *storage.RoleGrant) error {
				return r.Scan(&g.Subject, &g.Role, &g.DepartmentID, timeCol{&g.CreatedAt})
			},
			func(g *storage.RoleGrant) []any { return []any{g.Subject, g.Role, g.DepartmentID, micros(g.CreatedAt)} }),
		table(`key, value`, "key",
			func(r rowScanner, q *storage.Sequence) error { return r.Scan(&q.Key, &q.Value) },
			func(q *storage.Sequence) []any { return []any{q.Key, q.Value} }),
		table(clientCols, "id", scanClient, func(c *storage.Client) []any {
			return []any{c.ID, c.Name, c.SecretHash, c.Public, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
				list(c.GrantTypes), list(c.Scopes), string(c.AccessTokenFormat), c.RequireMFA, list(c.AllowedDepartments),
				list(c.AllowedRoles), c.BackchannelLogoutURI, list(c.ServiceRoles), int64(c.AccessTokenTTL),
				int64(c.IDTokenTTL), int64(c.RefreshTokenTTL), micros(c.CreatedAt), c.IDTokenSignedResponseAlg,
				list(c.VisibleRoles)}
		}),
		table(`id, algorithm, state, private_key, public_key, created_at, activates_at, retires_at, version`, "id",
			func(r rowScanner, k *storage.SigningKey) error {
				var state string
				err := r.Scan(&k.ID, &k.Algorithm, &state, &k.PrivateKey, &k.PublicKey, timeCol{&k.CreatedAt},
					timeCol{&k.ActivatesAt}, timeCol{&k.RetiresAt}, &k.Version)
				k.State = storage.KeyState(state)
				return err
			},
			func(k *storage.SigningKey) []any {
				return []any{k.ID, k.Algorithm, string(k.State), k.PrivateKey, k.PublicKey, micros(k.CreatedAt),
					micros(k.ActivatesAt), micros(k.RetiresAt), k.Version}
			}),
		// seq is written as it was (KeyEvent.Seq is visible); SQLite then
		// continues AUTOINCREMENT after the largest.
		table(`seq, at, kid, action, actor, reason`, "seq",
			func(r rowScanner, ev *storage.KeyEvent) error {
				return r.Scan(&ev.Seq, timeCol{&ev.At}, &ev.KID, &ev.Action, &ev.Actor, &ev.Reason)
			},
			func(ev *storage.KeyEvent) []any {
				return []any{ev.Seq, micros(ev.At), ev.KID, ev.Action, ev.Actor, ev.Reason}
			}),
		// Audit events keep their order, not their seq: seq is internal
		// (ListAudit pages by ID) and is renumbered on restore.
		table(`id, at, actor, action, target, reason, detail`, "seq",
			func(r rowScanner, ev *storage.AuditEvent) error {
				return r.Scan(&ev.ID, timeCol{&ev.At}, &ev.Actor, &ev.Action, &ev.Target, &ev.Reason, &ev.Detail)
			},
			func(ev *storage.AuditEvent) []any {
				return []any{ev.ID, micros(ev.At), ev.Actor, ev.Action, ev.Target, ev.Reason, ev.Detail}
			}),
		table(`id, family_id, client_id, subject, scopes, audience, auth_time, amr, acr, session_id, created_at,
			expires_at, spent, revoked`, "id",
			func(r rowScanner, t *storage.RefreshToken) error {
				return r.Scan(&t.ID, &t.FamilyID, &t.ClientID, &t.Subject, listCol{&t.Scopes}, listCol{&t.Audience},
					timeCol{&t.AuthTime}, listCol{&t.AMR}, &t.ACR, &t.SessionID, timeCol{&t.CreatedAt},
					timeCol{&t.ExpiresAt}, &t.Spent, &t.Revoked)
			},
			func(t *storage.RefreshToken) []any {
				return []any{t.ID, t.FamilyID, t.ClientID, t.Subject, list(t.Scopes), list(t.Audience), micros(t.AuthTime),
					list(t.AMR), t.ACR, t.SessionID, micros(t.CreatedAt), micros(t.ExpiresAt), t.Spent, t.Revoked}
			}),
		table(`key, value`, "key",
			func(r rowScanner, s *storage.Setting) error { return r.Scan(&s.Key, &s.Value) },
			func(s *storage.Setting) []any { return []any{s.Key, s.Value} }),
	}
}()

// snapshotTableOf maps a kind to its spec.
var snapshotTableOf = func() map[storage.Kind]*snapshotTable {
	m := map[storage.Kind]*snapshotTable{}
	for i := range snapshotTables {
		m[snapshotTables[i].kind] = &snapshotTables[i]
	}
	return m
}()

// Snapshot reads every durable table inside one read transaction on the
// reader pool. In WAL mode that transaction sees the database as of its
// first read, whatever commits meanwhile, and never blocks the writer.
func (s *Store) Snapshot(ctx context.Context, emit func(storage.Record) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return wrap(ctx, "snapshot", err)
	}
	defer tx.Rollback() // read-only: nothing to commit
	for i := range snapshotTables {
		if err := snapshotTables[i].read(ctx, tx, emit); err != nil {
			return wrap(ctx, "snapshot "+string(snapshotTables[i].kind), err)
		}
	}
	return nil
}

func (st *snapshotTable) read(ctx context.Context, tx *sql.Tx, emit func(storage.Record) error) error {
	rows, err := tx.QueryContext(ctx, st.query)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := int64(0)
	for rows.Next() {
		rec, err := st.scan(rows)
		if err != nil {
			return err
		}
		if err := emit(rec); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if st.count != "" {
		var total int64
		if err := tx.QueryRowContext(ctx, st.count).Scan(&total); err != nil {
			return err
		}
		if total != n {
			return storage.IncompleteSnapshotError(st.kind, n, total)
		}
	}
	return nil
}

// Restore writes records into an empty store in one IMMEDIATE
// transaction on the writer connection; see storage.Restorer.
func (s *Store) Restore(ctx context.Context, records iter.Seq2[storage.Record, error]) error {
	err := s.write(ctx, func(sqlTx *sql.Tx) error {
		if err := requireEmpty(ctx, sqlTx); err != nil {
			return err
		}
		tx := newStmtCache(sqlTx)
		defer tx.close()
		for rec, err := range records {
			if err != nil {
				return err
			}
			st, ok := snapshotTableOf[rec.RecordKind()]
			if !ok {
				return fmt.Errorf("no table for records of kind %s", rec.RecordKind())
			}
			if _, err := tx.ExecContext(ctx, st.insert, st.args(rec)...); err != nil {
				return fmt.Errorf("%s: %w", st.kind, err)
			}
		}
		return nil
	})
	return wrap(ctx, "restore", err)
}

// requireEmpty is storage.ErrNotEmpty, naming the tables that hold rows,
// when any durable table does.
func requireEmpty(ctx context.Context, tx *sql.Tx) error {
	var full []string
	for _, st := range snapshotTables {
		var found bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+string(st.kind)+`)`).Scan(&found); err != nil {
			return err
		}
		if found {
			full = append(full, string(st.kind))
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w: it holds %s", storage.ErrNotEmpty, strings.Join(full, ", "))
	}
	return nil
}
