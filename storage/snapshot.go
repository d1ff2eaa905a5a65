package storage

import (
	"context"
	"errors"
	"iter"
)

// ---------------------------------------------------------------------------
// Snapshots: every durable record of a store at one point in time, for
// `gongpai backup`, `gongpai restore` and `gongpai migrate-store`. A
// snapshot is a stream of Records, kind by kind in RecordKinds order, so a
// directory of any size moves without being held in memory. Ephemeral
// state (auth requests, codes, sessions, access-token records, rate-limit
// counters, TOTP steps) is never part of one.
// ---------------------------------------------------------------------------

// ErrNotEmpty means a restore found durable records in the target store.
// A snapshot is only ever restored into an empty store: merging two
// directories is not a restore.
var ErrNotEmpty = errors.New("storage: store is not empty")

// Kind names a kind of durable record. Its value is the name of the table
// both SQL backends keep it in.
type Kind string

const (
	KindEntity       Kind = "entities"
	KindDepartment   Kind = "departments"
	KindEmployee     Kind = "employees"
	KindRetiredID    Kind = "employee_id_history"
	KindRoleGrant    Kind = "role_grants"
	KindSequence     Kind = "sequences"
	KindClient       Kind = "clients"
	KindSigningKey   Kind = "signing_keys"
	KindKeyEvent     Kind = "key_events"
	KindAuditEvent   Kind = "audit_events"
	KindRefreshToken Kind = "refresh_tokens"
	KindSetting      Kind = "settings"
)

// RecordKinds lists every kind of durable record in snapshot order, which
// is also an order that satisfies every foreign key on restore: entities
// before their departments, departments before their employees, employees
// before their role grants and retired IDs.
var RecordKinds = []Kind{
	KindEntity, KindDepartment, KindEmployee, KindRetiredID, KindRoleGrant, KindSequence,
	KindClient, KindSigningKey, KindKeyEvent, KindAuditEvent, KindRefreshToken, KindSetting,
}

// Record is one durable record of a snapshot: *LegalEntity, *Department,
// *Employee, *EmployeeIDRecord, *RoleGrant, *Sequence, *Client,
// *SigningKey, *KeyEvent, *AuditEvent, *RefreshToken or *Setting. The set
// is closed.
type Record interface {
	RecordKind() Kind
	record()
}

// Sequence is the last number an employee-ID sequence handed out (see
// CreateEmployee). Restoring it makes generated IDs continue where they
// stopped, gap-free.
type Sequence struct {
	Key   string
	Value int64
}

// Setting is one entry of the install-wide key/value table.
type Setting struct {
	Key   string
	Value string
}

func (*LegalEntity) RecordKind() Kind      { return KindEntity }
func (*Department) RecordKind() Kind       { return KindDepartment }
func (*Employee) RecordKind() Kind         { return KindEmployee }
func (*EmployeeIDRecord) RecordKind() Kind { return KindRetiredID }
func (*RoleGrant) RecordKind() Kind        { return KindRoleGrant }
func (*Sequence) RecordKind() Kind         { return KindSequence }
func (*Client) RecordKind() Kind           { return KindClient }
func (*SigningKey) RecordKind() Kind       { return KindSigningKey }
func (*KeyEvent) RecordKind() Kind         { return KindKeyEvent }
func (*AuditEvent) RecordKind() Kind       { return KindAuditEvent }
func (*RefreshToken) RecordKind() Kind     { return KindRefreshToken }
func (*Setting) RecordKind() Kind          { return KindSetting }

func (*LegalEntity) record()      {}
func (*Department) record()       {}
func (*Employee) record()         {}
func (*EmployeeIDRecord) record() {}
func (*RoleGrant) record()        {}
func (*Sequence) record()         {}
func (*Client) record()           {}
func (*SigningKey) record()       {}
func (*KeyEvent) record()         {}
func (*AuditEvent) record()       {}
func (*RefreshToken) record()     {}
func (*Setting) record()          {}

// Snapshotter is a durable backend that can read all of its durable
// records as of one instant. Both SQL backends implement it; callers find
// it by type assertion.
type Snapshotter interface {
	// Snapshot reads every durable record inside one read-only
	// transaction (PostgreSQL: REPEATABLE READ), so what it passes to
	// emit is one consistent state even while other writers carry on.
	// Records come kind by kind in RecordKinds order; within a kind,
	// departments come parents first, key and audit events oldest
	// first, everything else by primary key. Values are as stored: sealed
	// secrets stay sealed, times are UTC. An error from emit stops the
	// snapshot and is returned.
	Snapshot(ctx context.Context, emit func(Record) error) error
}

// Restorer is a durable backend that can load a snapshot.
type Restorer interface {
	// Restore writes records into the store inside one transaction: all
	// of them or, on any error, none. The store must hold no durable
	// record (ErrNotEmpty otherwise; ephemeral state is ignored) and must
	// not be used by anything else meanwhile. Records must come in
	// RecordKinds order; an error yielded by records aborts the restore
	// and is returned wrapped. Every field is written as given, including
	// versions, sequence values and key-event numbers; audit events keep
	// their order. A duplicate record is ErrConflict.
	Restore(ctx context.Context, records iter.Seq2[Record, error]) error
}
