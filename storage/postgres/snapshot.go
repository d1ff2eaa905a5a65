package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/jackc/pgx/v5"

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
	kind  storage.Kind
	cols  []string // every column written on restore, in args order
	query string   // reads the table in snapshot order, scan's columns
	// count, when set, counts every row of the table: a query that
	// selects rows by a rule (departments, walked down from the roots)
	// must read them all, or the snapshot fails rather than silently
	// leave some out.
	count string
	scan  func(pgx.Row) (storage.Record, error)
	args  func(storage.Record) []any
}

// table builds a snapshotTable for the record type P from typed scan and
// args functions. sel is what the query selects (scan's columns), cols
// what restore writes (args' columns).
func table[T any, P interface {
	*T
	storage.Record
}](sel, order, cols string, scan func(pgx.Row, P) error, args func(P) []any) snapshotTable {
	kind := P(new(T)).RecordKind()
	var names []string
	for _, c := range strings.Split(cols, ",") {
		names = append(names, strings.TrimSpace(c))
	}
	return snapshotTable{
		kind:  kind,
		cols:  names,
		query: `SELECT ` + sel + ` FROM ` + string(kind) + ` ORDER BY ` + order,
		scan: func(r pgx.Row) (storage.Record, error) {
			p := P(new(T))
			return p, scan(r, p)
		},
		args: func(rec storage.Record) []any { return args(rec.(P)) },
	}
}

// snapshotTables lists every durable table in storage.RecordKinds order.
// Text keys order byte-wise (COLLATE "C"), as in SQLite, whatever the
// database's locale, so both backends list records alike.
var snapshotTables = func() []snapshotTable {
	departments := table(departmentCols, "", `id, entity, code, name, parent_id, created_at`, scanDepartment,
		func(d *storage.Department) []any {
			return []any{d.ID, d.Entity, d.Code, d.Name, nullable(d.ParentID), ts(d.CreatedAt)}
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
		SELECT ` + departmentCols + ` FROM departments JOIN tree USING (id) ORDER BY tree.depth, id COLLATE "C"`

	departments.count = `SELECT count(*) FROM departments`

	return []snapshotTable{
		table(entityCols, `code COLLATE "C"`, entityCols, scanEntity, func(e *storage.LegalEntity) []any {
			return []any{e.Code, e.Name, e.IDRule, ts(e.CreatedAt)}
		}),
		departments,
		table(employeeCols, `subject COLLATE "C"`, `subject, employee_id, external_id, entity, department_id, name, email,
			title, status, password_hash, totp_secret, version, created_at, updated_at, password_change_required`, scanEmployee,
			func(e *storage.Employee) []any {
				return []any{e.Subject, e.EmployeeID, nullable(e.ExternalID), e.Entity, nullable(e.DepartmentID), e.Name,
					e.Email, e.Title, string(e.Status), e.PasswordHash, e.TOTPSecret, e.Version, ts(e.CreatedAt), ts(e.UpdatedAt),
					e.PasswordChangeRequired}
			}),
		table(`employee_id, subject, entity, retired_at, reason`, `employee_id COLLATE "C"`,
			`employee_id, subject, entity, retired_at, reason`,
			func(r pgx.Row, h *storage.EmployeeIDRecord) error {
				return r.Scan(&h.EmployeeID, &h.Subject, &h.Entity, timeCol{&h.RetiredAt}, &h.Reason)
			},
			func(h *storage.EmployeeIDRecord) []any {
				return []any{h.EmployeeID, h.Subject, h.Entity, ts(h.RetiredAt), h.Reason}
			}),
		table(`subject, role, department_id, created_at`,
			`subject COLLATE "C", role COLLATE "C", department_id COLLATE "C"`, `subject, role, department_id, created_at`,
			func(r pgx.Row, g *storage.RoleGrant) error {
				return r.Scan(&g.Subject, &g.Role, &g.DepartmentID, timeCol{&g.CreatedAt})
			},
			func(g *storage.RoleGrant) []any { return []any{g.Subject, g.Role, g.DepartmentID, ts(g.CreatedAt)} }),
		table(`key, value`, `key COLLATE "C"`, `key, value`,
			func(r pgx.Row, q *storage.Sequence) error { return r.Scan(&q.Key, &q.Value) },
			func(q *storage.Sequence) []any { return []any{q.Key, q.Value} }),
		table(clientCols, `id COLLATE "C"`, clientCols, scanClient, func(c *storage.Client) []any {
			return []any{c.ID, c.Name, c.SecretHash, c.Public, c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes,
				c.Scopes, string(c.AccessTokenFormat), c.RequireMFA, c.AllowedDepartments, c.AllowedRoles,
				c.BackchannelLogoutURI, c.ServiceRoles, int64(c.AccessTokenTTL), int64(c.IDTokenTTL),
				int64(c.RefreshTokenTTL), ts(c.CreatedAt), c.IDTokenSignedResponseAlg, c.VisibleRoles}
		}),
		table(`id, algorithm, state, private_key, public_key, created_at, activates_at, retires_at, version`,
			`id COLLATE "C"`, `id, algorithm, state, private_key, public_key, created_at, activates_at, retires_at, version`,
			func(r pgx.Row, k *storage.SigningKey) error {
				var state string
				err := r.Scan(&k.ID, &k.Algorithm, &state, &k.PrivateKey, &k.PublicKey, timeCol{&k.CreatedAt},
					timeCol{&k.ActivatesAt}, timeCol{&k.RetiresAt}, &k.Version)
				k.State = storage.KeyState(state)
				return err
			},
			func(k *storage.SigningKey) []any {
				return []any{k.ID, k.Algorithm, string(k.State), k.PrivateKey, k.PublicKey, ts(k.CreatedAt),
					optTS(k.ActivatesAt), optTS(k.RetiresAt), k.Version}
			}),
		// seq is written as it was (KeyEvent.Seq is visible): COPY writes
		// identity columns as given, and Restore then moves the identity
		// past the largest.
		table(`seq, at, kid, action, actor, reason`, "seq", `seq, at, kid, action, actor, reason`,
			func(r pgx.Row, ev *storage.KeyEvent) error {
				return r.Scan(&ev.Seq, timeCol{&ev.At}, &ev.KID, &ev.Action, &ev.Actor, &ev.Reason)
			},
			func(ev *storage.KeyEvent) []any {
				return []any{ev.Seq, ts(ev.At), ev.KID, ev.Action, ev.Actor, ev.Reason}
			}),
		// Audit events keep their order, not their seq: seq is internal
		// (ListAudit pages by ID) and the identity renumbers on restore.
		table(`id, at, actor, action, target, reason, detail`, "seq", `id, at, actor, action, target, reason, detail`,
			func(r pgx.Row, ev *storage.AuditEvent) error {
				return r.Scan(&ev.ID, timeCol{&ev.At}, &ev.Actor, &ev.Action, &ev.Target, &ev.Reason, &ev.Detail)
			},
			func(ev *storage.AuditEvent) []any {
				return []any{ev.ID, ts(ev.At), ev.Actor, ev.Action, ev.Target, ev.Reason, ev.Detail}
			}),
		table(`id, family_id, client_id, subject, scopes, audience, auth_time, amr, acr, session_id, created_at,
			expires_at, spent, revoked`, `id COLLATE "C"`, `id, family_id, client_id, subject, scopes, audience, auth_time,
			amr, acr, session_id, created_at, expires_at, spent, revoked`,
			func(r pgx.Row, t *storage.RefreshToken) error {
				return r.Scan(&t.ID, &t.FamilyID, &t.ClientID, &t.Subject, &t.Scopes, &t.Audience, timeCol{&t.AuthTime},
					&t.AMR, &t.ACR, &t.SessionID, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, &t.Spent, &t.Revoked)
			},
			refreshTokenArgs),
		table(`key, value`, `key COLLATE "C"`, `key, value`,
			func(r pgx.Row, s *storage.Setting) error { return r.Scan(&s.Key, &s.Value) },
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

// Snapshot reads every durable table inside one REPEATABLE READ, READ
// ONLY transaction: every query sees the database as of the first one,
// whatever commits meanwhile, and writers are never blocked. Rows stream
// from the server; nothing is buffered beyond the record being emitted.
func (s *Store) Snapshot(ctx context.Context, emit func(storage.Record) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return s.wrap(ctx, "snapshot", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read-only: nothing to commit
	for i := range snapshotTables {
		if err := snapshotTables[i].read(ctx, tx, emit); err != nil {
			return s.wrapSnapshot(ctx, "snapshot "+string(snapshotTables[i].kind), err)
		}
	}
	return nil
}

func (st *snapshotTable) read(ctx context.Context, tx pgx.Tx, emit func(storage.Record) error) error {
	rows, err := tx.Query(ctx, st.query)
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
			return passThrough{err}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if st.count != "" {
		var total int64
		if err := tx.QueryRow(ctx, st.count).Scan(&total); err != nil {
			return err
		}
		if total != n {
			return passThrough{storage.IncompleteSnapshotError(st.kind, n, total)}
		}
	}
	return nil
}

// Restore writes records into an empty store in one transaction; see
// storage.Restorer. It first locks every durable table against writers
// (SHARE ROW EXCLUSIVE: readers carry on, a second restore queues), so the
// emptiness check stays true until the commit. Each kind's records go in
// with one COPY, streamed from records as they come.
func (s *Store) Restore(ctx context.Context, records iter.Seq2[storage.Record, error]) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tables := make([]string, len(snapshotTables))
		for i, st := range snapshotTables {
			tables[i] = string(st.kind)
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(tables, ", ")+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		if err := requireEmpty(ctx, tx); err != nil {
			return err
		}
		next, stop := iter.Pull2(records)
		defer stop()
		src := &copySource{next: next}
		src.advance()
		for src.ok {
			if src.err != nil {
				return passThrough{src.err}
			}
			st, ok := snapshotTableOf[src.rec.RecordKind()]
			if !ok {
				return fmt.Errorf("no table for records of kind %s", src.rec.RecordKind())
			}
			src.st, src.started = st, false
			_, err := tx.CopyFrom(ctx, pgx.Identifier{string(st.kind)}, st.cols, src)
			if src.err != nil {
				return passThrough{src.err}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", st.kind, err)
			}
		}
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('key_events', 'seq'), max(seq)) FROM key_events`)
		return err
	})
	return s.wrapSnapshot(ctx, "restore", err)
}

// copySource feeds one COPY with the run of records of kind st.kind at
// the head of a pulled record stream, and stops at the first record of
// another kind, which stays current for the next COPY.
type copySource struct {
	next    func() (storage.Record, error, bool)
	st      *snapshotTable
	rec     storage.Record // the current record
	err     error          // the stream's error, which ends it
	ok      bool           // rec or err is current; false at the end of the stream
	started bool           // Next has been called for this COPY
}

func (c *copySource) advance() { c.rec, c.err, c.ok = c.next() }

func (c *copySource) Next() bool {
	if c.started {
		c.advance()
	}
	c.started = true
	return c.ok && c.err == nil && c.rec.RecordKind() == c.st.kind
}

func (c *copySource) Values() ([]any, error) { return c.st.args(c.rec), nil }

func (c *copySource) Err() error { return c.err }

// requireEmpty is storage.ErrNotEmpty, naming the tables that hold rows,
// when any durable table does.
func requireEmpty(ctx context.Context, tx pgx.Tx) error {
	var full []string
	for _, st := range snapshotTables {
		var found bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+string(st.kind)+`)`).Scan(&found); err != nil {
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

// passThrough carries an error of the caller's (emit's, or the records
// iterator's) through the store's code untouched: wrap must not read, say,
// a truncated backup file's io.ErrUnexpectedEOF as a lost connection.
type passThrough struct{ err error }

func (p passThrough) Error() string { return p.err.Error() }
func (p passThrough) Unwrap() error { return p.err }

// wrapSnapshot is s.wrap for errors of the store's own, and the caller's
// error as it was for a passThrough.
func (s *Store) wrapSnapshot(ctx context.Context, op string, err error) error {
	if p, ok := errors.AsType[passThrough](err); ok {
		return fmt.Errorf("postgres: %s: %w", op, p.err)
	}
	return s.wrap(ctx, op, err)
}
