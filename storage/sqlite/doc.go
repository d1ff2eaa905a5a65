// Package sqlite is gongpai's embedded storage backend: one SQLite file
// (modernc.org/sqlite, pure Go) holding both the durable and the ephemeral
// state, so a single machine needs nothing else.
//
// Writes go through one connection and every write transaction begins
// IMMEDIATE, so concurrent writers queue instead of failing with
// SQLITE_BUSY; reads use a separate pool and, in WAL mode, never wait for a
// writer. That single writer is also what makes the atomic methods
// (TakeAuthCode, RotateRefreshToken, the version checks, sequence
// allocation) linearizable; each is still written as one conditional
// statement or one transaction so it stays correct if the pool grows.
//
// The schema lives in embedded, numbered migration files applied in order
// by Open. Expired ephemeral rows are invisible to reads and deleted by
// Sweep, which the server calls periodically.
package sqlite
