// Package postgres is gongpai's production storage backend: PostgreSQL
// through github.com/jackc/pgx/v5 (pgxpool), holding the durable state and,
// unless Redis is configured, the ephemeral state too, so N stateless
// replicas can share one database.
//
// The SQL is written for PostgreSQL, not translated from another dialect.
// Every atomic method is one conditional statement (TakeAuthCode, Hit,
// UseTOTPStep, the version checks) or one short transaction
// (RotateRefreshToken, CreateEmployee's sequence allocation) at READ
// COMMITTED: a row lock makes concurrent writers queue, and the loser
// re-evaluates its WHERE clause against the winner's row, so exactly one
// wins without retry loops.
//
// Directory administration (storage.DirectoryAdmin, part of Durable):
// retired employee IDs
// live in their own table, so "never issued again" cannot be a unique
// constraint; every write that gives out an ID checks the history in a
// statement after the write, whose fresh snapshot sees a retirement that
// committed while the write waited on the employee-ID index.
//
// Replicas coordinate key rotation through the store (coord.go): TryLock
// is keys.Locker (pg_try_advisory_xact_lock in a transaction held open on
// a connection of its own, so a dead holder frees it), and
// NotifyKeysChanged and WatchKeys are keys.Notifier (NOTIFY and a LISTEN
// session that reconnects with backoff after an outage).
//
// The schema lives in embedded, numbered migration files. Open applies
// them; Migrate does so inside one transaction holding a transaction-level
// advisory lock, so replicas starting together never race and a failed
// step leaves the schema as it was.
//
// Times are timestamptz, written truncated to the microsecond and read back
// in UTC; "not set" times (a key not yet retired, a request not yet
// authenticated) are NULL. String lists are text[], where NULL keeps a nil
// slice apart from an empty one. Expiry is judged by Options.Now, passed in
// as a parameter, never by the database's now(): the store clock is the
// one the rest of gongpai (and the conformance suite) controls.
//
// Errors map onto the storage sentinels: unique and foreign-key violations
// are storage.ErrConflict; a server that cannot be reached, refuses
// connections, shuts down or times out on the driver's own deadline is
// storage.ErrUnavailable; a cancelled caller context is returned as is.
// Neither errors nor log lines ever carry the DSN.
package postgres
